//! A small map of values read from the database in the last moment, for the token API's hot
//! path: what another replica changes (a revoked key, a refreshed token, a deleted connection)
//! shows here once the entry is older than its time to live, and what this process changes is
//! forgotten at once by the code that changes it. While the database is away, the last value
//! read stays available to the code that knows it is still good.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries live this long: a change made by another replica is seen within it.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(1);
/// The most entries kept; past it, stale ones go, then all (a burst of new keys costs a few
/// database reads, never memory).
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct Recent<K, V> {
    entries: Mutex<Entries<K, V>>,
    ttl: Duration,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (Instant, V)>,
    /// Moves on at every [`Recent::forget_all`]: a value read before it is not kept after.
    generation: u64,
}

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            generation: 0,
        }
    }
}

impl<K: Eq + Hash, V: Clone> Default for Recent<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            ttl: TIME_TO_LIVE,
        }
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before reading a value from the database, and given to [`Recent::put`] with it.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets everything, including values being read now (a revocation elsewhere: nothing
    /// read before it may be served from memory after it).
    pub fn forget_all(&self) {
        let mut entries = self.lock();
        entries.map.clear();
        entries.generation += 1;
    }

    /// The value kept for `key`, if it was read less than the time to live ago.
    pub fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock()
            .map
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// The value kept for `key`, however old: what the token API falls back on while the
    /// database is away (a token that has not expired is still good).
    pub fn get_stale<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().map.get(key).map(|(_, value)| value.clone())
    }

    /// Keeps `value`, read from the database since [`Recent::generation`] said `read_in`;
    /// dropped if everything was forgotten meanwhile.
    pub fn put(&self, key: K, value: V, read_in: u64) {
        let mut entries = self.lock();
        if entries.generation != read_in {
            return;
        }
        let map = &mut entries.map;
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Forgets what matches `stale` (a revoked key, a changed connection).
    pub fn forget(&self, stale: impl Fn(&K, &V) -> bool) {
        self.lock().map.retain(|key, (_, value)| !stale(key, value));
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether the database failed a moment ago: the hot path then answers from memory at once
/// instead of making every caller wait for the database again, and tries it again after a
/// pause. Also the last readiness probe, which pages reuse for a second.
#[derive(Debug, Default)]
pub struct Outage {
    failed_at: Mutex<Option<Instant>>,
    probed: Mutex<Option<(Instant, bool)>>,
}

/// How long after a database failure the hot path does not ask the database again.
pub const OUTAGE_PAUSE: Duration = Duration::from_secs(2);
/// How long a readiness probe's answer is reused.
pub const PROBE_REUSE: Duration = Duration::from_secs(1);

impl Outage {
    /// A failure: the outage begins (again), and a probe that said the database was ready
    /// is no longer believed.
    pub fn note_failure(&self) {
        *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        *self.probed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The database failed less than [`OUTAGE_PAUSE`] ago.
    pub fn recent(&self) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < OUTAGE_PAUSE)
    }

    /// Remembers a readiness probe's answer: a failed one is a failure, a good one ends the
    /// outage.
    pub fn note_probe(&self, ready: bool) {
        if ready {
            *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
        } else {
            self.note_failure();
        }
        *self.probed.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), ready));
    }

    /// The answer of a readiness probe less than [`PROBE_REUSE`] old.
    pub fn lately(&self) -> Option<bool> {
        self.probed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .filter(|(at, _)| at.elapsed() < PROBE_REUSE)
            .map(|(_, ready)| ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_remembered_for_a_pause() {
        let outage = Outage::default();
        assert!(!outage.recent());
        outage.note_failure();
        assert!(outage.recent());
    }

    #[test]
    fn a_probe_is_reused_and_a_failed_one_is_an_outage() {
        let outage = Outage::default();
        assert_eq!(outage.lately(), None);
        outage.note_probe(true);
        assert_eq!(outage.lately(), Some(true));
        assert!(!outage.recent());
        outage.note_probe(false);
        assert_eq!(outage.lately(), Some(false));
        assert!(outage.recent());
        outage.note_probe(true);
        assert!(!outage.recent(), "a good probe ends the outage");
        outage.note_failure();
        assert_eq!(outage.lately(), None, "a failure outdates a good probe");
    }

    #[test]
    fn entries_expire_are_forgotten_and_stay_bounded() {
        let expired: Recent<String, u32> = Recent {
            entries: Mutex::default(),
            ttl: Duration::ZERO,
        };
        expired.put("a".into(), 1, 0);
        assert_eq!(expired.get("a"), None, "older than its time to live");
        let recent: Recent<String, u32> = Recent::default();
        recent.put("a".into(), 1, 0);
        assert_eq!(recent.get("a"), Some(1));
        recent.put("b".into(), 2, 0);
        recent.forget(|_, v| *v == 2);
        assert_eq!(recent.get("b"), None);
        assert_eq!(recent.get("a"), Some(1), "only what matched");
        let many = MAX_ENTRIES as u32 * 3;
        for i in 0..many {
            recent.put(i.to_string(), i, 0);
        }
        assert!(recent.len() <= MAX_ENTRIES);
        assert_eq!(recent.get((many - 1).to_string().as_str()), Some(many - 1));
    }

    #[test]
    fn forgetting_all_drops_values_read_before_it() {
        let recent: Recent<String, u32> = Recent::default();
        let before = recent.generation();
        recent.put("kept".into(), 1, before);
        let reading = recent.generation();
        recent.forget_all();
        assert_eq!(recent.get_stale("kept"), None);
        recent.put("late".into(), 2, reading);
        assert_eq!(
            recent.get_stale("late"),
            None,
            "read before the revocation, put after it"
        );
        recent.put("fresh".into(), 3, recent.generation());
        assert_eq!(recent.get("fresh"), Some(3));
    }
}
