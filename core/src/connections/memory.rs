//! What this process holds in memory for its connections: the access tokens handed out in the
//! last second (the token API's hot path) and one lock per connection being refreshed. Plain
//! data: the refresh path and the state use it, and it uses neither.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

/// An access token handed out in the last second, kept opened so that the next callers skip
/// the database and the decryption. Wiped from memory when the last copy goes.
#[derive(Clone)]
pub struct HotToken {
    pub(crate) token: Arc<Zeroizing<String>>,
    pub(crate) expires_at: i64,
    pub(crate) margin: i64,
    pub(crate) geolocation: String,
}

impl std::fmt::Debug for HotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Access tokens by connection id; a write to a connection here forgets its entry at once, and
/// another replica's refresh or deletion shows within the second.
pub type TokenCache = crate::recent::Recent<String, HotToken>;

/// One holder per connection inside this process.
#[derive(Debug, Default)]
pub struct ConnectionLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl ConnectionLocks {
    pub(crate) async fn acquire(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(id.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }

    pub(crate) fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}
