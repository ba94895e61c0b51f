//! Counters for `/metrics`, kept in memory per process (Prometheus sums replicas itself).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A labelled counter family: label values → count.
#[derive(Debug, Default)]
pub struct Counter(Mutex<BTreeMap<Vec<String>, u64>>);

impl Counter {
    /// Counts one; allocates only the first time a set of labels is seen (the token API
    /// counts every request).
    pub fn add(&self, labels: &[&str]) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let seen = map
            .iter_mut()
            .find(|(known, _)| known.iter().map(String::as_str).eq(labels.iter().copied()));
        match seen {
            Some((_, count)) => *count += 1,
            None => {
                map.insert(labels.iter().map(|l| (*l).to_owned()).collect(), 1);
            }
        }
    }

    pub fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// By who asked (`validate`, `keep-alive`, `token-api`) and result (`ok`, `failing`,
    /// `transient`).
    pub refreshes: Counter,
    /// By channel and result (`sent`, `failed`).
    pub alert_deliveries: Counter,
    /// By HTTP status.
    pub token_api_requests: Counter,
    /// Renewal requests to customers by result (`requested`, `resent`, `reminded`,
    /// `unanswered`, `completed`, `cancelled`).
    pub renewal_requests: Counter,
    /// Server-rendered pages that did not start within the watchdog's time and were rendered
    /// again, by method.
    pub stalled_pages: Counter,
    /// Read-only API probes by probe and result (`ok`, `failed`, `transient`, `not_probed`).
    pub probe_results: Counter,
}
