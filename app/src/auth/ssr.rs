//! Server side of sign-in: password hashing off the async runtime, sessions stored hashed,
//! the cookie, the setup link, and slowing down repeated failures (never locking).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::ssr::state::{AppState, internal, state};
use crate::ssr::store;

pub const COOKIE: &str = "cc_session";
/// A session ends after this long without a request…
pub const IDLE_TIMEOUT: i64 = 8 * 3600;
/// …and after this long in any case.
pub const SESSION_LIFETIME: i64 = 7 * 24 * 3600;
pub const SETUP_LINK_LIFETIME: i64 = 3600;
/// How stale `last_seen_at` may get before a request writes it again: reads stay reads.
const TOUCH_EVERY: i64 = 60;
pub const MIN_PASSWORD_CHARS: usize = 12;
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
        Ok(known
            && argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
    })
    .await
    .map_err(internal)?
}

pub fn validate_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AppError::invalid(
            "username",
            "User name must be 1 to 64 characters, without spaces.",
        ));
    }
    Ok(name.to_owned())
}

pub fn validate_new_password(password: &str, confirm: &str) -> Result<(), AppError> {
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

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_LIFETIME}{secure}"
    )
}

pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in admin's id, if the request carries a live session (which is then touched).
pub async fn current_admin(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<String>, AppError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let now = state.now();
    let Some((admin_id, last_seen, expires_at)) =
        store::session(&state.pool, &hash).await.map_err(internal)?
    else {
        return Ok(None);
    };
    if now >= expires_at || now - last_seen >= IDLE_TIMEOUT {
        store::delete_session(&state.pool, &hash)
            .await
            .map_err(internal)?;
        return Ok(None);
    }
    if now - last_seen >= TOUCH_EVERY {
        store::touch_session(&state.pool, &hash, now)
            .await
            .map_err(internal)?;
    }
    Ok(Some(admin_id))
}

/// The admin a request was already checked for (by the page guard), so the page's own server
/// functions do not look the session up a second time.
#[derive(Debug, Clone)]
pub struct SignedIn(pub String);

/// Every server function but sign-in and setup starts with this.
pub async fn require_admin() -> Result<String, AppError> {
    let state = state()?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or(AppError::Unauthorized)?;
    if let Some(SignedIn(admin)) = parts.extensions.get::<SignedIn>() {
        return Ok(admin.clone());
    }
    current_admin(&state, &parts.headers)
        .await?
        .ok_or(AppError::Unauthorized)
}

/// Starts a session for `admin_id` and returns the `Set-Cookie` value. A new token every time,
/// so a session id planted before sign-in is worthless.
pub async fn start_session(state: &AppState, admin_id: &str) -> Result<String, AppError> {
    let (token, hash) = new_token();
    let now = state.now();
    store::insert_session(&state.pool, &hash, admin_id, now, now + SESSION_LIFETIME)
        .await
        .map_err(internal)?;
    Ok(session_cookie(&token, state.secure_cookies))
}

/// A one-time setup link when no admin exists yet (valid for an hour), else `None`.
pub async fn setup_link(state: &AppState) -> Result<Option<String>, AppError> {
    if store::admin_count(&state.pool).await.map_err(internal)? > 0 {
        return Ok(None);
    }
    let (token, hash) = new_token();
    store::insert_setup_token(&state.pool, &hash, state.now() + SETUP_LINK_LIFETIME)
        .await
        .map_err(internal)?;
    Ok(Some(format!("{}/setup?token={token}", state.public_url)))
}

/// Failed sign-ins per client address and per user name. After a few, each further attempt
/// must wait longer (doubling, capped at 15 minutes); nothing is ever locked for good, so a
/// stranger cannot lock out the only admin.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginLimiter {
    fn keys(ip: &str, username: &str) -> [String; 2] {
        [
            format!("ip:{ip}"),
            format!("user:{}", username.to_lowercase()),
        ]
    }

    /// Seconds to wait before another attempt is heard, if any.
    pub fn wait(&self, ip: &str, username: &str, now: i64) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(ip, username)
            .iter()
            .filter_map(|key| {
                let list = failures.get_mut(key)?;
                list.retain(|&t| now - t < FAILURE_WINDOW.max(MAX_DELAY));
                let excess = list.len().checked_sub(FREE_FAILURES)?;
                let delay = (15i64 << excess.min(10)).min(MAX_DELAY);
                let ready = list.last()? + delay;
                (ready > now).then(|| (ready - now) as u64)
            })
            .max()
    }

    pub fn failed(&self, ip: &str, username: &str, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(ip, username) {
            failures.entry(key).or_default().push(now);
        }
    }

    pub fn succeeded(&self, ip: &str, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(ip, username) {
            failures.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_slows_down_after_five_failures_and_recovers_with_time() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.wait("1.2.3.4", "admin", 100 + i), None);
            limiter.failed("1.2.3.4", "admin", 100 + i);
        }
        assert_eq!(limiter.wait("1.2.3.4", "admin", 104), Some(15));
        assert_eq!(
            limiter.wait("9.9.9.9", "Admin", 104),
            Some(15),
            "per user name too"
        );
        assert_eq!(
            limiter.wait("1.2.3.4", "other", 104),
            Some(15),
            "per address too"
        );
        assert_eq!(limiter.wait("1.2.3.4", "admin", 104 + 15), None);
        limiter.failed("1.2.3.4", "admin", 120);
        assert_eq!(
            limiter.wait("1.2.3.4", "admin", 120),
            Some(30),
            "each failure doubles"
        );
        limiter.succeeded("1.2.3.4", "admin");
        assert_eq!(limiter.wait("1.2.3.4", "admin", 121), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
        let c = session_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"));
        assert!(!session_cookie("abc", false).contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; cc_session=tok; b=2".parse().unwrap());
        assert_eq!(session_token(&headers).as_deref(), Some("tok"));
    }

    #[test]
    fn passwords_need_twelve_characters_and_a_matching_confirmation() {
        assert!(validate_new_password("short", "short").is_err());
        assert!(validate_new_password("long enough pw", "long enough pX").is_err());
        assert!(validate_new_password("long enough pw", "long enough pw").is_ok());
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
