//! The dashboard's counts per status and its expiry timeline, of the whole fleet or of the part
//! a filter keeps. Both come from one aggregate over many connections, so each is read at most
//! once per second of the clock, and less often where reading takes long: a reading is served
//! for ten times as long as it took to read (a second at least), so that counting never takes
//! more than a tenth of the time. A page view within that time gets the last reading; for as
//! long again after it, page views get it too while a fresh one is read in the background (so
//! a reading that lands late under load never makes them wait for a count). A write through
//! this process makes the next page view read them again first, so a change shows at once;
//! another replica's shows within two seconds (within `20 ×` the reading's time, for fleets
//! large enough that counting takes longer than a tenth of a second).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use console_model::Status;

pub use crate::store::Overview;
use crate::store::{self, FleetFilter, Pool};

struct Reading {
    now: i64,
    /// Seconds of the clock it is served for (`now` and the ones after).
    serves: i64,
    writes: u64,
    overview: Arc<Overview>,
}

/// How many times as long as a reading took it is served for.
const SERVED_FOR: f64 = 10.0;

/// The seconds of the clock a reading that took `took` is served for: a second at least.
fn served_for(took: Duration) -> i64 {
    (took.as_secs_f64() * SERVED_FOR).ceil().max(1.0) as i64
}

/// The filters whose readings are kept; past it, the stalest go.
const KEPT_FILTERS: usize = 64;

/// The aggregates of the whole fleet and of each filter recently asked for (tags, owner,
/// status), each read at most once per second.
#[derive(Default)]
pub struct OverviewCache {
    writes: AtomicU64,
    latest: RwLock<HashMap<FleetFilter, Reading>>,
    reading: tokio::sync::Mutex<()>,
    refreshing: Mutex<HashSet<FleetFilter>>,
    /// What waits outside the console, as of a second of the clock and a count of writes.
    waiting: Mutex<Option<(i64, u64, store::Waiting)>>,
}

impl OverviewCache {
    /// A connection, a hand-off link or a renewal request was written: the next page view
    /// reads the aggregates again.
    pub fn changed(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// The hand-off links and the renewal requests waiting for a customer: read at most once
    /// per second of the clock, and again after a write through this process (another
    /// replica's shows the next second).
    pub async fn waiting(&self, pool: &Pool, now: i64) -> sqlx::Result<store::Waiting> {
        let writes = self.writes.load(Ordering::Acquire);
        let last = *self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, seen, waiting)) = last
            && (at, seen) == (now, writes)
        {
            return Ok(waiting);
        }
        let waiting = store::waiting(pool, now).await?;
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, writes, waiting));
        Ok(waiting)
    }

    /// The aggregates of the connections `filter` keeps, as of `now` or of the second before.
    pub async fn get(
        self: &Arc<Self>,
        pool: &Pool,
        now: i64,
        filter: &FleetFilter,
    ) -> sqlx::Result<Arc<Overview>> {
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((at, serves, overview)) = self.latest(filter, writes) {
            if now < at + serves {
                return Ok(overview);
            }
            if now <= at + 2 * serves {
                self.refresh_in_background(pool.clone(), now, filter.clone());
                return Ok(overview);
            }
        }
        self.read(pool, now, filter).await
    }

    /// The aggregates of the connections `filter` keeps, and how many it keeps of how many, and
    /// of how many of its status: what decides how the store finds a page of them.
    pub async fn share(
        self: &Arc<Self>,
        pool: &Pool,
        now: i64,
        filter: &FleetFilter,
    ) -> sqlx::Result<(Arc<Overview>, store::Share)> {
        let overview = self.get(pool, now, filter).await?;
        let kept = overview.total();
        let all = if filter.is_empty() {
            None
        } else {
            Some(self.get(pool, now, &FleetFilter::default()).await?)
        };
        let share = store::Share {
            kept,
            fleet: all.as_ref().map_or(kept, |all| all.total()),
            of_status: filter
                .status
                .zip(all.as_ref())
                .map(|(status, all)| all.count(status)),
            needing_human: all.as_ref().filter(|_| filter.waiting).map(|all| {
                [Status::Failing, Status::Expired, Status::Critical]
                    .into_iter()
                    .map(|status| all.count(status))
                    .sum()
            }),
        };
        Ok((overview, share))
    }

    /// How many connections each of `filter`'s tags, and its owner, keep on their own: the
    /// totals of those one-condition filters' readings.
    pub async fn parts(
        self: &Arc<Self>,
        pool: &Pool,
        now: i64,
        filter: &FleetFilter,
    ) -> sqlx::Result<store::Parts> {
        let mut parts = store::Parts::default();
        for tag in &filter.tags {
            let alone = FleetFilter {
                tags: vec![tag.clone()],
                ..FleetFilter::default()
            };
            parts.tags.push(self.get(pool, now, &alone).await?.total());
        }
        if let Some(owner) = &filter.owner_id {
            let alone = FleetFilter {
                owner_id: Some(owner.clone()),
                ..FleetFilter::default()
            };
            parts.owner = Some(self.get(pool, now, &alone).await?.total());
        }
        Ok(parts)
    }

    fn latest(&self, filter: &FleetFilter, writes: u64) -> Option<(i64, i64, Arc<Overview>)> {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        latest
            .get(filter)
            .filter(|r| r.writes == writes)
            .map(|r| (r.now, r.serves, r.overview.clone()))
    }

    /// Reads the aggregates, one reader at a time: whoever waited gets the waited-for reading.
    async fn read(
        &self,
        pool: &Pool,
        now: i64,
        filter: &FleetFilter,
    ) -> sqlx::Result<Arc<Overview>> {
        let _one_reader = self.reading.lock().await;
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((at, _, overview)) = self.latest(filter, writes)
            && at >= now
        {
            return Ok(overview);
        }
        let started = Instant::now();
        let overview = Arc::new(store::overview(pool, now, filter).await?);
        let serves = served_for(started.elapsed());
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        if latest.len() >= KEPT_FILTERS && !latest.contains_key(filter) {
            let stalest = latest
                .iter()
                .filter(|(kept, _)| !kept.is_empty())
                .min_by_key(|(_, r)| r.now)
                .map(|(kept, _)| kept.clone());
            if let Some(stalest) = stalest {
                latest.remove(&stalest);
            }
        }
        latest.insert(
            filter.clone(),
            Reading {
                now,
                serves,
                writes,
                overview: overview.clone(),
            },
        );
        Ok(overview)
    }

    fn refresh_in_background(self: &Arc<Self>, pool: Pool, now: i64, filter: FleetFilter) {
        if !self
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(filter.clone())
        {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            if let Err(error) = cache.read(&pool, now, &filter).await {
                tracing::warn!(%error, "could not read the dashboard counts");
            }
            cache
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&filter);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool() -> (Pool, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cc-overview-{}", uuid::Uuid::new_v4()));
        let pool = store::connect(&format!("sqlite://{}/console.db", dir.display()))
            .await
            .expect("store");
        (pool, dir)
    }

    async fn add(pool: &Pool, id: &str, expires_at: i64) {
        store::test_connection(pool, (id, id), false, Some(expires_at), None).await;
    }

    use console_model::Status;

    fn healthy(overview: &Overview) -> i64 {
        overview.count(Status::Healthy)
    }

    #[test]
    fn a_slow_reading_is_served_ten_times_as_long_as_it_took() {
        let ms = Duration::from_millis;
        assert_eq!(served_for(ms(3)), 1, "a quick reading: each second");
        assert_eq!(served_for(ms(100)), 1);
        assert_eq!(served_for(ms(101)), 2);
        assert_eq!(
            served_for(ms(450)),
            5,
            "counting stays under a tenth of the time"
        );
        assert_eq!(served_for(Duration::from_secs(2)), 20);
    }

    #[tokio::test]
    async fn a_write_shows_at_once_and_an_outside_write_within_two_seconds() {
        let (pool, dir) = pool().await;
        let cache = Arc::new(OverviewCache::default());
        let all = FleetFilter::default();
        let now = 1_000_000;
        add(&pool, "a", now + 100 * 86_400).await;
        assert_eq!(healthy(&cache.get(&pool, now, &all).await.unwrap()), 1);

        add(&pool, "b", now + 100 * 86_400).await;
        assert_eq!(
            healthy(&cache.get(&pool, now, &all).await.unwrap()),
            1,
            "an unannounced write waits for the next second"
        );
        cache.changed();
        assert_eq!(healthy(&cache.get(&pool, now, &all).await.unwrap()), 2);

        add(&pool, "c", now + 100 * 86_400).await;
        assert_eq!(
            healthy(&cache.get(&pool, now + 2, &all).await.unwrap()),
            2,
            "past its second, a reading is served while the next is read"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while healthy(&cache.get(&pool, now + 2, &all).await.unwrap()) != 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the background reading never landed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        add(&pool, "d", now + 100 * 86_400).await;
        assert_eq!(
            healthy(&cache.get(&pool, now + 5, &all).await.unwrap()),
            4,
            "a reading older than twice its time is never served"
        );
        pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn what_waits_is_read_once_a_second_and_again_after_a_write() {
        let (pool, dir) = pool().await;
        let cache = OverviewCache::default();
        let now = 1_000_000;
        let ask = async |id: &str| {
            add(&pool, id, now + 86_400).await;
            let request = store::RenewalRow {
                id: format!("{id}-renewal"),
                connection_id: id.to_owned(),
                contact_email: "admin@customer.example".into(),
                asked_at: now,
                ..store::RenewalRow::default()
            };
            assert!(store::open_renewal(&pool, &request).await.unwrap());
        };
        let renewals = async |at: i64| cache.waiting(&pool, at).await.unwrap().renewals;
        ask("a").await;
        assert_eq!(renewals(now).await, 1);
        ask("b").await;
        assert_eq!(
            renewals(now).await,
            1,
            "an unannounced write waits for the next second"
        );
        assert_eq!(renewals(now + 1).await, 2);
        ask("c").await;
        cache.changed();
        assert_eq!(
            renewals(now + 1).await,
            3,
            "a write through this process shows at once"
        );
        pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
