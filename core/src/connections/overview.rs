//! The dashboard's counts per status and its expiry timeline. Both are aggregates over every
//! connection, so they are read at most once per second of the clock: a page view within the
//! same second as the last reading gets that reading, one a second later gets it too while a
//! fresh one is read in the background. A write through this process makes the next page view
//! read them again first, so a change shows at once; another replica's shows within a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::{self, Pool};
use console_model::Status;

/// One reading of the aggregates.
#[derive(Debug)]
pub struct Overview {
    pub counts: Vec<(Status, i64)>,
    /// (week from now, working refresh tokens expiring in it), weeks without any left out.
    pub timeline: Vec<(i64, i64)>,
}

impl Overview {
    async fn read(pool: &Pool, now: i64) -> sqlx::Result<Self> {
        Ok(Self {
            counts: store::status_counts(pool, now).await?,
            timeline: store::expiry_timeline(pool, now).await?,
        })
    }
}

struct Reading {
    now: i64,
    writes: u64,
    overview: Arc<Overview>,
}

#[derive(Default)]
pub struct OverviewCache {
    writes: AtomicU64,
    latest: RwLock<Option<Reading>>,
    reading: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

impl OverviewCache {
    /// A connection was written: the next page view reads the aggregates again.
    pub fn changed(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// The aggregates as of `now`, or of the second before it.
    pub async fn get(self: &Arc<Self>, pool: &Pool, now: i64) -> sqlx::Result<Arc<Overview>> {
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((at, overview)) = self.latest(writes) {
            if at == now {
                return Ok(overview);
            }
            if at + 1 == now {
                self.refresh_in_background(pool.clone(), now);
                return Ok(overview);
            }
        }
        self.read(pool, now).await
    }

    fn latest(&self, writes: u64) -> Option<(i64, Arc<Overview>)> {
        let latest = self.latest.read().unwrap_or_else(|e| e.into_inner());
        latest
            .as_ref()
            .filter(|r| r.writes == writes)
            .map(|r| (r.now, r.overview.clone()))
    }

    /// Reads the aggregates, one reader at a time: whoever waited gets the waited-for reading.
    async fn read(&self, pool: &Pool, now: i64) -> sqlx::Result<Arc<Overview>> {
        let _one_reader = self.reading.lock().await;
        let writes = self.writes.load(Ordering::Acquire);
        if let Some((at, overview)) = self.latest(writes)
            && at >= now
        {
            return Ok(overview);
        }
        let overview = Arc::new(Overview::read(pool, now).await?);
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = Some(Reading {
            now,
            writes,
            overview: overview.clone(),
        });
        Ok(overview)
    }

    fn refresh_in_background(self: &Arc<Self>, pool: Pool, now: i64) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            if let Err(error) = cache.read(&pool, now).await {
                tracing::warn!(%error, "could not read the dashboard counts");
            }
            cache.refreshing.store(false, Ordering::Release);
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
        sqlx::query(
            "INSERT INTO connections (id, name, client_id, authorization_url, scope_profile, required_scopes, granted_scopes, failing, refresh_token_expires_at, client_secret_sealed, refresh_token_sealed, client_secret_mask, refresh_token_mask, created_at, updated_at, transient_failures) \
             VALUES ($1, $1, $1, 'https://us.api.concursolutions.com', 'p', '', '', 0, $2, '', '', '', '', 0, 0, 0)",
        )
        .bind(id)
        .bind(expires_at)
        .execute(pool)
        .await
        .expect("insert");
    }

    fn healthy(overview: &Overview) -> i64 {
        overview
            .counts
            .iter()
            .find(|(s, _)| *s == Status::Healthy)
            .map_or(0, |(_, n)| *n)
    }

    #[tokio::test]
    async fn a_write_shows_at_once_and_an_outside_write_within_a_second() {
        let (pool, dir) = pool().await;
        let cache = Arc::new(OverviewCache::default());
        let now = 1_000_000;
        add(&pool, "a", now + 100 * 86_400).await;
        assert_eq!(healthy(&cache.get(&pool, now).await.unwrap()), 1);

        add(&pool, "b", now + 100 * 86_400).await;
        assert_eq!(
            healthy(&cache.get(&pool, now).await.unwrap()),
            1,
            "an unannounced write waits for the next second"
        );
        cache.changed();
        assert_eq!(healthy(&cache.get(&pool, now).await.unwrap()), 2);

        add(&pool, "c", now + 100 * 86_400).await;
        cache.get(&pool, now + 1).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while healthy(&cache.get(&pool, now + 1).await.unwrap()) != 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the background reading never landed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        add(&pool, "d", now + 100 * 86_400).await;
        assert_eq!(
            healthy(&cache.get(&pool, now + 5).await.unwrap()),
            4,
            "a reading older than a second is never served"
        );
        pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
