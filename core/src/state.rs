//! Configuration and the state: the composition root, the one place that knows every part.

use std::path::PathBuf;
use std::sync::Arc;

use concur::{ClientConfig, Clock, ConcurClient, HostPolicy};

use crate::Error;
use crate::alerts::config::AlertConfig;
use crate::auth::limiter::LoginLimiter;
use crate::connections::memory::{ConnectionLocks, TokenCache};
use crate::connections::overview::OverviewCache;
use crate::crypto::{Cipher, CryptoError, KeySource};
use crate::recent::Recent;
use crate::store::{self, Pool, StoreError};

/// API keys verified in the last moment, by their hash: the token API's hot path.
pub type KeyCache = Recent<String, store::ApiKeyRow>;
/// Fleet keys verified in the last second, by (key hash, connection): the key and whether its
/// selector matched the connection's tags when read.
pub type FleetKeyCache = Recent<(String, String), (store::FleetKeyRow, bool)>;

const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAINTEXT: &str = "concur-console key check";

/// Settings read from the environment (see docs/configuration.md).
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub console_key: Option<String>,
    /// Keys that may still open values sealed before a rotation (`CONCUR_CONSOLE_OLD_KEYS`,
    /// comma-separated base64).
    pub old_keys: Option<String>,
    pub allowed_hosts: String,
    /// The address people reach the console at, for links (setup link, alerts).
    pub public_url: String,
    pub client: ClientConfig,
    /// How often the keep-alive job refreshes each connection, in seconds.
    pub keepalive_every: i64,
    /// How long a refresh lease lasts before another process may take it over, in seconds.
    pub lease_seconds: i64,
    /// Proxies whose `X-Forwarded-For` names the client (`CONCUR_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A session ends after this many seconds without a request…
    pub session_idle: i64,
    /// …and after this many in any case.
    pub session_lifetime: i64,
    /// Alert thresholds and channels from the environment.
    pub alerts: AlertConfig,
    /// Audit rows older than this many seconds are deleted (`CONCUR_AUDIT_RETENTION`).
    pub audit_retention: i64,
    /// When and how customers are asked to renew their connections.
    pub renewal: crate::renewals::RenewalConfig,
    /// Who the customer's page of a hand-off link says is asking (`CONCUR_ORG_NAME`).
    pub org_name: Option<String>,
    /// Sign-in through the company's identity provider (`CONCUR_OIDC_*`), if configured.
    pub oidc: Option<crate::auth::oidc::OidcConfig>,
    /// Whether password sign-in is offered (`CONCUR_LOCAL_LOGIN`, on by default).
    pub local_login: bool,
    /// Whether the read-only API probes run after each check (`CONCUR_PROBES`, on by default).
    pub probes: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("CONCUR_ALLOWED_HOSTS: {0}")]
    AllowedHosts(#[from] concur::PolicyError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("encryption key: {0}")]
    Key(#[from] CryptoError),
    #[error("CONCUR_CONSOLE_KEY is required with PostgreSQL, so every replica uses the same key")]
    KeyRequired,
    #[error(
        "CONCUR_CONSOLE_KEY (or the key file) is not the key this database was encrypted with; refusing to start rather than lose or re-encrypt secrets"
    )]
    WrongKey,
    #[error("could not build the HTTP client: {0}")]
    Http(String),
    #[error("CONCUR_OIDC_ISSUER: {0}")]
    Oidc(String),
    #[error(
        "CONCUR_CONSOLE_KEY (or the key file) is not the key this database's secrets are sealed with: {count} of them are sealed with key {id}, which this console does not have. Set that key, or during a rotation add it to CONCUR_CONSOLE_OLD_KEYS; refusing to start rather than fail on them later"
    )]
    MissingKey { id: String, count: i64 },
}

/// What every request needs. Cloning it (each request and middleware layer does) copies one
/// pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Copy on write: a field set on a state not yet shared (while `serve` starts) changes it in
/// place; on a shared one, only this copy.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

#[derive(Clone)]
pub struct Shared {
    pub pool: Pool,
    pub cipher: Cipher,
    pub concur: ConcurClient,
    pub clock: Arc<dyn Clock>,
    pub limiter: Arc<LoginLimiter>,
    pub locks: Arc<ConnectionLocks>,
    /// API keys verified in the last second, by hash (the token API's hot path).
    pub keys: Arc<KeyCache>,
    /// Fleet keys verified in the last second for a connection (the hot path of fleet keys).
    pub fleet_keys: Arc<FleetKeyCache>,
    /// Access tokens handed out in the last second, by connection (the token API's hot path).
    pub tokens: Arc<TokenCache>,
    /// When the hot path last found the database away.
    pub outage: Arc<super::recent::Outage>,
    /// The dashboard's counts and timeline, read at most once a second.
    pub overview: Arc<OverviewCache>,
    pub public_url: String,
    pub secure_cookies: bool,
    /// This process's name on refresh leases.
    pub holder: String,
    pub keepalive_every: i64,
    pub lease_seconds: i64,
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    pub session_idle: i64,
    pub session_lifetime: i64,
    /// Where the SQLite database and the key file live (`.` with PostgreSQL).
    pub data_dir: PathBuf,
    /// Signs the error messages the server puts into redirect URLs (per process).
    pub message_key: Arc<[u8; 32]>,
    pub alerts: AlertConfig,
    pub audit_retention: i64,
    pub renewal: crate::renewals::RenewalConfig,
    pub org_name: Option<String>,
    pub metrics: Arc<super::metrics::Metrics>,
    /// The identity provider, discovered when `serve` starts (terminal commands never ask it).
    pub oidc: Option<Arc<crate::auth::oidc::Oidc>>,
    pub local_login: bool,
    pub probes: bool,
}

impl AppState {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let policy = HostPolicy::parse(&config.allowed_hosts)?;
        if config.database_url.starts_with("postgres") && config.console_key.is_none() {
            return Err(StartError::KeyRequired);
        }
        let pool = store::connect(&config.database_url).await?;
        let data_dir = store::data_dir(&config.database_url);
        let (cipher, source) = Cipher::load(config.console_key.as_deref(), &data_dir)?;
        let cipher = cipher.with_old_keys(config.old_keys.as_deref().unwrap_or_default())?;
        match source {
            KeySource::GeneratedFile => tracing::warn!(
                dir = %data_dir.display(),
                "generated a new encryption key in console.key (mode 0600); back it up with the database, or set CONCUR_CONSOLE_KEY"
            ),
            KeySource::ExistingFile => {
                tracing::info!(dir = %data_dir.display(), "using the encryption key in console.key");
                warn_if_loose(&data_dir.join(super::crypto::KEY_FILE));
            }
            KeySource::Environment => {
                tracing::info!("using the encryption key from CONCUR_CONSOLE_KEY")
            }
        }
        check_key(&pool, &cipher).await?;
        let concur = ConcurClient::new(policy, &config.client, clock.clone())
            .map_err(|e| StartError::Http(e.to_string()))?;
        Ok(Self(Arc::new(Shared {
            pool,
            cipher,
            concur,
            clock,
            limiter: Arc::default(),
            locks: Arc::default(),
            keys: Arc::default(),
            fleet_keys: Arc::default(),
            tokens: Arc::default(),
            outage: Arc::default(),
            overview: Arc::default(),
            holder: uuid::Uuid::new_v4().to_string(),
            keepalive_every: config.keepalive_every,
            lease_seconds: config.lease_seconds,
            trusted_proxies: config.trusted_proxies.clone().into(),
            session_idle: config.session_idle,
            session_lifetime: config.session_lifetime,
            data_dir,
            message_key: Arc::new(random_key()),
            alerts: config.alerts.clone(),
            audit_retention: config.audit_retention,
            renewal: config.renewal.clone(),
            org_name: config.org_name.clone(),
            metrics: Arc::default(),
            oidc: None,
            local_login: config.local_login,
            probes: config.probes,
            secure_cookies: config.public_url.starts_with("https://"),
            public_url: config.public_url.trim_end_matches('/').to_owned(),
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether the database answers and takes a write: asked within [`READINESS_WAIT`], or
    /// the answer of a probe less than a second old (pages ask at every view; a failure noted
    /// since outdates it).
    pub async fn database_ready(&self) -> bool {
        if let Some(ready) = self.outage.lately() {
            return ready;
        }
        let probe = super::store::ready(&self.pool);
        let ready = matches!(
            tokio::time::timeout(READINESS_WAIT, probe).await,
            Ok(Ok(true))
        );
        self.outage.note_probe(ready);
        ready
    }

    /// Forgets every API key and access token held in memory whenever the database's
    /// revocation count moves (a key revoked or a connection deleted, by any process or
    /// replica): within [`REVOCATION_WATCH`] while the database answers. Runs until `stop`.
    pub async fn watch_revocations(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut seen = None;
        loop {
            if let Ok(count) = store::revocation_count(&self.pool).await {
                if seen.is_some_and(|seen| seen != count) {
                    self.keys.forget_all();
                    self.fleet_keys.forget_all();
                    self.tokens.forget_all();
                }
                seen = Some(count);
            }
            tokio::select! {
                _ = tokio::time::sleep(REVOCATION_WATCH) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// How often each process reads the revocation count: a revocation committed less than this
/// before the database went away may go unseen by a replica that had not read it yet.
pub const REVOCATION_WATCH: std::time::Duration = std::time::Duration::from_millis(250);

/// How long a readiness probe waits for the database.
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

fn random_key() -> [u8; 32] {
    use aes_gcm::aead::rand_core::RngCore;
    let mut key = [0u8; 32];
    aes_gcm::aead::OsRng.fill_bytes(&mut key);
    key
}

/// A key file others can read is a key others may have.
fn warn_if_loose(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the encryption key file can be read by other users; run chmod 600 on it"
        );
    }
}

/// A wrong key must fail at start, never later and never silently: the key check must open
/// with one of the keys, and no stored secret may name a key this console lacks.
async fn check_key(pool: &Pool, cipher: &Cipher) -> Result<(), StartError> {
    let ours = cipher.key_ids();
    let mut older = 0;
    for (key_id, count) in store::sealed_by_key(pool).await? {
        match key_id {
            Some(id) if !ours.contains(&id.as_str()) => {
                return Err(StartError::MissingKey { id, count });
            }
            Some(id) if id == cipher.key_id() => {}
            _ => older += count,
        }
    }
    match store::setting(pool, KEY_CHECK).await? {
        Some(sealed) => match cipher.open("settings", KEY_CHECK, &sealed) {
            Ok(text) if text.as_str() == KEY_CHECK_PLAINTEXT => {
                if !sealed.starts_with(&cipher.current_prefix()) {
                    // Opened by an old key: from now on the current one is the database's.
                    let sealed = cipher.seal("settings", KEY_CHECK, KEY_CHECK_PLAINTEXT);
                    store::set_setting(pool, KEY_CHECK, Some(&sealed)).await?;
                    older -= 1;
                }
            }
            _ => return Err(StartError::WrongKey),
        },
        None => {
            let sealed = cipher.seal("settings", KEY_CHECK, KEY_CHECK_PLAINTEXT);
            store::put_setting(pool, KEY_CHECK, &sealed).await?;
        }
    }
    if older > 0 {
        tracing::warn!(
            values = older,
            "secrets are still sealed with an older key; run `concur-console rotate-key`, then drop CONCUR_CONSOLE_OLD_KEYS"
        );
    }
    Ok(())
}

/// Logs an unexpected failure with its cause and returns the fixed message the user sees.
pub fn internal(error: impl std::fmt::Display) -> Error {
    tracing::error!(%error, "internal error");
    Error::Internal
}
