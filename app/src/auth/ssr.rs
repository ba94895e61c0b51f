//! Server side of sign-in: password hashing off the async runtime, sessions stored hashed,
//! the cookie, the setup link, and slowing down repeated failures (never locking).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::model::{Role, SignInMethod};
use crate::ssr::state::{AppState, internal, state};
use crate::ssr::store;

pub const COOKIE: &str = "cc_session";
/// The cookie's name over https: the `__Host-` prefix makes browsers refuse it unless it is
/// Secure, host-only and for the whole site, so a sibling subdomain cannot plant one.
pub const SECURE_COOKIE: &str = "__Host-cc_session";
/// A session ends after this long without a request, unless configured otherwise…
pub const IDLE_TIMEOUT: i64 = 30 * 60;
/// …and after this long in any case.
pub const SESSION_LIFETIME: i64 = 12 * 3600;
pub const SETUP_LINK_LIFETIME: i64 = 3600;
/// How stale `last_seen_at` may get before a request writes it again: reads stay reads.
const TOUCH_EVERY: i64 = 60;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_USERNAME_CHARS: usize = 64;
const MAX_PASSWORD_BYTES: usize = 1024;
/// Failures allowed in the window before sign-in slows down.
const FREE_FAILURES: usize = 5;
const FAILURE_WINDOW: i64 = 15 * 60;
const MAX_DELAY: i64 = 15 * 60;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id (m=19456 KiB, t=2, p=1) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// Verifies a password on a blocking thread. Unknown users are checked against a dummy hash so
/// the answer takes as long either way.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    argon2()
                        .hash_password(b"no such user", &salt)
                        .expect("hashing a constant")
                        .to_string()
                })
                .clone()
        });
        let parsed = PasswordHash::new(&hash).map_err(internal)?;
        // Always run argon2, then combine: `known && verify(..)` would skip it for unknown
        // names and tell them apart by timing.
        let verified = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known & verified)
    })
    .await
    .map_err(internal)?
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// `X-Forwarded-For` entry that is not one (a client can prepend anything, not append).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

/// [`client_address`] as text, `unknown` when there is none: what logs and the audit keep.
pub fn client_address_text(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> String {
    client_address(peer, headers, trusted).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

pub fn validate_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_USERNAME_CHARS
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AppError::invalid(
            "username",
            "User name must be 1 to 64 characters, without spaces.",
        ));
    }
    Ok(name.to_owned())
}

/// zxcvbn's score below which a password counts as common: 0 and 1 are guessed within about a
/// million tries (lists of leaked passwords, keyboard walks, a name plus a year).
const MIN_STRENGTH: u8 = 2;
/// zxcvbn looks at this much of a password; past it, length alone makes it strong.
const STRENGTH_CHARS: usize = 100;

/// A new password: long enough, not too long, not common, and typed the same twice.
pub fn validate_new_password(
    password: &str,
    confirm: &str,
    username: &str,
) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("Password must be at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            "password",
            "Password must be at most 1024 bytes.",
        ));
    }
    let head: String = password.chars().take(STRENGTH_CHARS).collect();
    let strength = zxcvbn::zxcvbn(&head, &[username, "concur", "console"]);
    if u8::from(strength.score()) < MIN_STRENGTH {
        return Err(AppError::invalid(
            "password",
            "This password is too common or too easy to guess; use a few unrelated words or a password manager.",
        ));
    }
    if password != confirm {
        return Err(AppError::invalid("confirm", "The two passwords differ."));
    }
    Ok(())
}

/// A random token for a cookie or a link, and the hash the database keeps of it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// The lower-case hex SHA-256 of a token: what the database keeps. On the token API's hot
/// path, so it writes the digits straight into one string.
pub fn token_hash(token: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(token.as_bytes()) {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// A browser-session cookie (no Max-Age: it ends when the browser closes; the server ends the
/// session earlier when idle or old).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let flags = if secure { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{flags}",
        cookie_name(secure)
    )
}

pub fn clear_cookie(secure: bool) -> String {
    let flags = if secure { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{flags}",
        cookie_name(secure)
    )
}

pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    cookie(headers, cookie_name(secure))
}

/// The value of cookie `name`, if the request carries a non-empty one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// A signed-in account, as a request's guard found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub role: Role,
    /// How the session signed in.
    pub method: SignInMethod,
}

/// The account of the live session the request carries, if any (the session is then
/// touched). A deactivated account has no live session.
pub async fn current_account(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Account>, AppError> {
    let Some(token) = session_token(headers, state.secure_cookies) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let now = state.now();
    let Some(session) = store::session(&state.pool, &hash).await.map_err(internal)? else {
        return Ok(None);
    };
    if now >= session.expires_at || now - session.last_seen_at >= state.session_idle {
        store::delete_session(&state.pool, &hash)
            .await
            .map_err(internal)?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        store::touch_session(&state.pool, &hash, now)
            .await
            .map_err(internal)?;
    }
    // An unknown word cannot come from this console; it grants the least.
    let role = Role::parse(&session.role).unwrap_or(Role::Viewer);
    Ok(Some(Account {
        id: session.admin_id,
        role,
        method: SignInMethod::parse(&session.method),
    }))
}

impl Account {
    /// The account's user name, as lists and the audit log show who did something.
    pub async fn name(&self, state: &AppState) -> Result<String, AppError> {
        Ok(store::admin_name(&state.pool, &self.id)
            .await
            .map_err(internal)?
            .unwrap_or_else(|| format!("account {}", self.id)))
    }
}

/// The account a request was already checked for (by the page guard), so the page's own server
/// functions do not look the session up a second time.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Account);

/// Every server function but sign-in, setup and accepting an invitation starts with this: the
/// signed-in account, if its role allows what `needed` allows; else 401 or 403.
pub async fn require(needed: Role) -> Result<Account, AppError> {
    let state = state()?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or(AppError::Unauthorized)?;
    let account = match parts.extensions.get::<SignedIn>() {
        Some(SignedIn(account)) => account.clone(),
        None => current_account(&state, &parts.headers)
            .await?
            .ok_or(AppError::Unauthorized)?,
    };
    if account.role.allows(needed) {
        Ok(account)
    } else {
        Err(AppError::Forbidden(needed))
    }
}

/// The token of a link made with [`crate::ssr::crypto::Cipher::link_token`] whose hash the
/// database keeps, derived again by whichever key of the ring made it (a link made before a key
/// rotation keeps its token).
pub fn stored_link_token(
    state: &AppState,
    purpose: &str,
    id: &str,
    stored_hash: &str,
) -> Option<String> {
    state
        .cipher
        .link_tokens(purpose, id)
        .into_iter()
        .find(|token| token_hash(token) == stored_hash)
}

/// Gives every link of `table` someone could still open the token the current key derives
/// (after a key rotation), so that a retired key opens none of them; how many changed. Their
/// Copy link shows the new link.
pub async fn rederive_link_tokens(
    state: &AppState,
    table: store::LinkTable,
    purpose: &str,
) -> Result<u64, AppError> {
    let open = store::open_link_tokens(&state.pool, table, state.now())
        .await
        .map_err(internal)?;
    let mut changed = 0;
    for (id, old) in open {
        let new = token_hash(&state.cipher.link_token(purpose, &id));
        if new != old
            && store::replace_link_token(&state.pool, table, &id, &old, &new)
                .await
                .map_err(internal)?
        {
            changed += 1;
        }
    }
    Ok(changed)
}

/// The hash of the session token this request carries, if any.
pub fn current_token_hash(state: &AppState, headers: &HeaderMap) -> Option<String> {
    session_token(headers, state.secure_cookies).map(|t| token_hash(&t))
}

/// Starts a session for `admin_id` and returns the `Set-Cookie` value. A new token every time,
/// so a session id planted before sign-in is worthless. Expired sessions are swept here.
pub async fn start_session(
    state: &AppState,
    admin_id: &str,
    method: SignInMethod,
    address: &str,
    user_agent: &str,
) -> Result<String, AppError> {
    let (token, hash) = new_token();
    let now = state.now();
    store::delete_expired_sessions(&state.pool, now, state.session_idle)
        .await
        .map_err(internal)?;
    let id = uuid::Uuid::new_v4().to_string();
    let user_agent: String = user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    store::insert_session(
        &state.pool,
        &store::NewSession {
            token_hash: &hash,
            id: &id,
            admin_id,
            now,
            expires_at: now + state.session_lifetime,
            address,
            user_agent: &user_agent,
            method,
        },
    )
    .await
    .map_err(internal)?;
    Ok(session_cookie(&token, state.secure_cookies))
}

/// Whether password accounts may be made and passwords set (setup, invitations, the terminal's
/// create-admin and reset-password): only while password sign-in is on.
pub fn passwords_allowed(state: &AppState) -> Result<(), AppError> {
    if state.local_login {
        Ok(())
    } else {
        Err(AppError::PasswordAccountsOff)
    }
}

/// A one-time setup link when no admin exists yet (valid for an hour), else `None`; none while
/// password sign-in is off (the first admin signs in through single sign-on). Links made before
/// (by an earlier start) stop working.
pub async fn setup_link(state: &AppState) -> Result<Option<String>, AppError> {
    if passwords_allowed(state).is_err()
        || store::admin_count(&state.pool).await.map_err(internal)? > 0
    {
        return Ok(None);
    }
    store::clear_setup_tokens(&state.pool)
        .await
        .map_err(internal)?;
    let (token, hash) = new_token();
    store::insert_setup_token(&state.pool, &hash, state.now() + SETUP_LINK_LIFETIME)
        .await
        .map_err(internal)?;
    Ok(Some(format!("{}/setup?token={token}", state.public_url)))
}

/// Failed sign-ins per (user name, address) and per address. After a few, each further attempt
/// must wait longer (doubling, capped at 15 minutes); nothing is ever locked for good, and a
/// stranger's failures from other addresses never stop the admin's correct password.
///
/// An attempt is counted when it is let through, before argon2 runs, under the same lock as the
/// check: parallel attempts cannot all slip past the limit. Memory is bounded: entries expire
/// and the map never holds more than [`MAX_TRACKED`] keys. IPv6 addresses count per /64.
#[derive(Debug)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    /// Refused sign-ins per (address, minute, why): counted here and written to the audit log
    /// as one row each by the upkeep job, so refusing costs no write.
    throttled: Mutex<HashMap<(String, i64, Refusal), u64>>,
    /// Passwords checked at once: about one per core, so 500 parallel sign-ins cannot take
    /// 500 × 19 MiB of memory; the rest are told to retry.
    argon2_slots: Arc<Semaphore>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            failures: Mutex::default(),
            throttled: Mutex::default(),
            argon2_slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// The most keys the limiter remembers; past it, the stalest are forgotten first.
pub const MAX_TRACKED: usize = 10_000;
/// Where refused attempts from addresses past [`MAX_TRACKED`] in one minute are counted.
pub const MANY_ADDRESSES: &str = "many addresses";

/// Why sign-ins counted together were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// A password attempt while sign-in was slowed down.
    SlowedDown,
    /// A single sign-on of this browser that the identity provider answered with an error (or
    /// whose code it refused).
    SingleSignOn,
}

/// Refused sign-in attempts from one address in one minute, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottledMinute {
    pub address: String,
    /// The minute's first second (Unix time).
    pub minute: i64,
    pub refusal: Refusal,
    pub count: u64,
}

/// What one address is counted as: itself, or its /64 for IPv6 (one host owns a whole /64).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Ok(ip) => ip.to_string(),
        Err(_) => ip.to_owned(),
    }
}

impl LoginLimiter {
    fn keys(ip: &str, username: &str) -> Vec<String> {
        let address = address_key(ip);
        vec![
            format!("pair:{}|{address}", username.to_lowercase()),
            format!("ip:{address}"),
        ]
    }

    /// The key of guesses at an account's current password (while changing it), from
    /// whatever address: a stolen session may not guess it faster than sign-in allows.
    fn account_keys(admin_id: &str) -> Vec<String> {
        vec![format!("account:{admin_id}")]
    }

    fn delay(list: &[i64], now: i64) -> Option<u64> {
        let excess = list.len().checked_sub(FREE_FAILURES)?;
        let delay = (15i64 << excess.min(10)).min(MAX_DELAY);
        let ready = list.last()? + delay;
        (ready > now).then(|| (ready - now) as u64)
    }

    /// Lets an attempt through and counts it as a failure until [`Self::succeeded`] says
    /// otherwise; or the seconds to wait. Checked and counted under one lock.
    pub fn attempt(&self, ip: &str, username: &str, now: i64) -> Result<(), u64> {
        self.attempt_keys(Self::keys(ip, username), now)
    }

    /// [`Self::attempt`] for the current password asked by a password change.
    pub fn attempt_current_password(&self, admin_id: &str, now: i64) -> Result<(), u64> {
        self.attempt_keys(Self::account_keys(admin_id), now)
    }

    /// The current password was right.
    pub fn current_password_succeeded(&self, admin_id: &str) {
        self.forget(Self::account_keys(admin_id));
    }

    fn attempt_keys(&self, keys: Vec<String>, now: i64) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in &keys {
            if let Some(list) = failures.get_mut(key) {
                list.retain(|&t| now - t < FAILURE_WINDOW.max(MAX_DELAY));
                wait = wait.max(Self::delay(list, now));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if failures.len() + keys.len() > MAX_TRACKED {
            Self::prune(&mut failures, now);
        }
        for key in keys {
            failures.entry(key).or_default().push(now);
        }
        Ok(())
    }

    /// Forgets expired entries, then the stalest ones, until there is room again.
    fn prune(failures: &mut HashMap<String, Vec<i64>>, now: i64) {
        failures.retain(|_, list| {
            list.last()
                .is_some_and(|&t| now - t < FAILURE_WINDOW.max(MAX_DELAY))
        });
        if failures.len() + 2 > MAX_TRACKED {
            let mut by_age: Vec<(i64, String)> = failures
                .iter()
                .map(|(k, list)| (list.last().copied().unwrap_or(0), k.clone()))
                .collect();
            by_age.sort();
            let excess = failures.len() + 2 - MAX_TRACKED + MAX_TRACKED / 10;
            for (_, key) in by_age.into_iter().take(excess) {
                failures.remove(&key);
            }
        }
    }

    /// A correct password: this pair and this address start afresh.
    pub fn succeeded(&self, ip: &str, username: &str) {
        self.forget(Self::keys(ip, username));
    }

    fn forget(&self, keys: Vec<String>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            failures.remove(&key);
        }
    }

    /// Counts a refused attempt. Memory is bounded like the failures': past [`MAX_TRACKED`]
    /// (address, minute, why) keys, new addresses share one count.
    pub fn count_throttled(&self, ip: &str, now: i64, refusal: Refusal) {
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now - now.rem_euclid(60);
        let mut key = (address_key(ip), minute, refusal);
        if !throttled.contains_key(&key) && throttled.len() >= MAX_TRACKED {
            key.0 = MANY_ADDRESSES.to_owned();
        }
        *throttled.entry(key).or_default() += 1;
    }

    /// The refused attempts counted since the last call, oldest minute first.
    pub fn take_throttled(&self) -> Vec<ThrottledMinute> {
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        let mut minutes: Vec<ThrottledMinute> = throttled
            .drain()
            .map(|((address, minute, refusal), count)| ThrottledMinute {
                address,
                minute,
                refusal,
                count,
            })
            .collect();
        minutes.sort_by(|a, b| {
            (a.minute, &a.address, a.refusal).cmp(&(b.minute, &b.address, b.refusal))
        });
        minutes
    }

    /// A slot to run argon2 in, held until dropped; `Busy` when every slot is taken.
    pub fn argon2_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        self.argon2_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| AppError::Busy)
    }

    pub fn tracked(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_slows_down_after_five_failures_and_recovers_with_time() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.attempt("1.2.3.4", "admin", 100 + i), Ok(()));
        }
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 104), Err(15));
        assert_eq!(
            limiter.attempt("1.2.3.4", "other", 104),
            Err(15),
            "per address too"
        );
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 104 + 15), Ok(()));
        assert_eq!(
            limiter.attempt("1.2.3.4", "admin", 119),
            Err(30),
            "each failure doubles"
        );
        limiter.succeeded("1.2.3.4", "admin");
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 121), Ok(()));
    }

    #[test]
    fn refused_attempts_are_counted_per_address_and_minute_in_bounded_memory() {
        let limiter = LoginLimiter::default();
        for i in 0..1000 {
            limiter.count_throttled("192.0.2.1", 6000 + i % 90, Refusal::SlowedDown);
        }
        limiter.count_throttled("2001:db8::1", 6001, Refusal::SlowedDown);
        limiter.count_throttled("2001:db8::1", 6002, Refusal::SingleSignOn);
        let counted = limiter.take_throttled();
        assert_eq!(
            counted,
            [
                ThrottledMinute {
                    address: "192.0.2.1".into(),
                    minute: 6000,
                    refusal: Refusal::SlowedDown,
                    count: 670
                },
                ThrottledMinute {
                    address: "2001:db8:0:0::/64".into(),
                    minute: 6000,
                    refusal: Refusal::SlowedDown,
                    count: 1
                },
                ThrottledMinute {
                    address: "2001:db8:0:0::/64".into(),
                    minute: 6000,
                    refusal: Refusal::SingleSignOn,
                    count: 1
                },
                ThrottledMinute {
                    address: "192.0.2.1".into(),
                    minute: 6060,
                    refusal: Refusal::SlowedDown,
                    count: 330
                },
            ]
        );
        assert!(limiter.take_throttled().is_empty(), "taken once");
        for i in 0..(MAX_TRACKED as u32 + 50) {
            limiter.count_throttled(
                &std::net::Ipv4Addr::from(i).to_string(),
                60,
                Refusal::SlowedDown,
            );
        }
        let counted = limiter.take_throttled();
        assert_eq!(counted.len(), MAX_TRACKED + 1);
        let many = counted
            .iter()
            .find(|m| m.address == MANY_ADDRESSES)
            .unwrap();
        assert_eq!(many.count, 50);
    }

    #[test]
    fn guesses_at_the_current_password_slow_down_per_account() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.attempt_current_password("a1", 100 + i), Ok(()));
        }
        assert_eq!(limiter.attempt_current_password("a1", 104), Err(15));
        assert_eq!(
            limiter.attempt_current_password("a2", 104),
            Ok(()),
            "per account"
        );
        assert_eq!(
            limiter.attempt("1.2.3.4", "admin", 104),
            Ok(()),
            "sign-in apart"
        );
        limiter.current_password_succeeded("a1");
        assert_eq!(limiter.attempt_current_password("a1", 105), Ok(()));
    }

    #[test]
    fn a_strangers_failures_never_stop_the_admin_from_another_address() {
        let limiter = LoginLimiter::default();
        for i in 0..50 {
            let _ = limiter.attempt(&format!("10.0.{}.{}", i / 200, i % 200), "admin", 100);
        }
        assert_eq!(limiter.attempt("192.0.2.7", "admin", 100), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_memory_stays_bounded() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            let _ = limiter.attempt("2001:db8:1:2::1", "admin", 100 + i);
        }
        assert!(
            limiter
                .attempt("2001:db8:1:2:ffff::2", "admin", 104)
                .is_err()
        );
        for i in 0..30_000u32 {
            let _ = limiter.attempt(&std::net::Ipv4Addr::from(i).to_string(), "x", 200);
        }
        assert!(limiter.tracked() <= MAX_TRACKED);
    }

    #[test]
    fn token_hashes_are_lower_case_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "passwordpassword",
            "Password123!",
        ] {
            let refused = validate_new_password(common, common, "admin").unwrap_err();
            assert_eq!(refused.field(), Some("password"), "{common}");
        }
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy]),
            Some(client)
        );
        assert_eq!(
            client_address(Some(client), &headers, &[proxy]),
            Some(client),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_address(Some(proxy), &headers, &[]), Some(proxy));
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
        let c = session_cookie("abc", true);
        assert!(c.starts_with("__Host-cc_session=abc; Path=/;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(!c.contains("Max-Age"), "a browser-session cookie");
        assert!(!session_cookie("abc", false).contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; cc_session=tok; b=2".parse().unwrap());
        assert_eq!(session_token(&headers, false).as_deref(), Some("tok"));
        assert_eq!(
            session_token(&headers, true),
            None,
            "over https only the __Host- cookie counts"
        );
    }

    #[test]
    fn passwords_need_twelve_characters_and_a_matching_confirmation() {
        assert!(validate_new_password("short", "short", "admin").is_err());
        let good = "violet tractor sings softly";
        assert!(validate_new_password(good, "violet tractor sings", "admin").is_err());
        assert!(validate_new_password(good, good, "admin").is_ok());
        assert!(validate_username(" ad min ").is_err());
        assert_eq!(validate_username(" admin ").unwrap(), "admin");
    }

    #[tokio::test]
    async fn argon2id_hashes_verify_and_unknown_users_never_do() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), Some(hash)).await.unwrap());
        assert!(!verify_password("no such user".into(), None).await.unwrap());
    }
}
