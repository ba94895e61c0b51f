//! Server side of sign-in: password hashing off the async runtime, sessions stored hashed,
//! the cookie, the setup link. Slowing down repeated failures is [`super::limiter`]'s.

pub mod limiter;
pub mod oidc;

use std::sync::OnceLock;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::state::{AppState, internal};
use crate::store;
use console_model::{Role, SignInMethod};

pub use self::limiter::{
    LoginLimiter, MANY_ADDRESSES, MAX_TRACKED, Refusal, ThrottledMinute, address_key,
};
pub use crate::request::{client_address, client_address_text};

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

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id (m=19456 KiB, t=2, p=1) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, Error> {
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
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, Error> {
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

pub fn validate_username(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_USERNAME_CHARS
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::invalid(
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
pub fn validate_new_password(password: &str, confirm: &str, username: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("Password must be at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            "Password must be at most 1024 bytes.",
        ));
    }
    let head: String = password.chars().take(STRENGTH_CHARS).collect();
    let strength = zxcvbn::zxcvbn(&head, &[username, "concur", "console"]);
    if u8::from(strength.score()) < MIN_STRENGTH {
        return Err(Error::invalid(
            "password",
            "This password is too common or too easy to guess; use a few unrelated words or a password manager.",
        ));
    }
    if password != confirm {
        return Err(Error::invalid("confirm", "The two passwords differ."));
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
) -> Result<Option<Account>, Error> {
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
    pub async fn name(&self, state: &AppState) -> Result<String, Error> {
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

/// The token of a link made with [`crate::crypto::Cipher::link_token`] whose hash the
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
) -> Result<u64, Error> {
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
) -> Result<String, Error> {
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
pub fn passwords_allowed(state: &AppState) -> Result<(), Error> {
    if state.local_login {
        Ok(())
    } else {
        Err(Error::PasswordAccountsOff)
    }
}

/// A one-time setup link when no admin exists yet (valid for an hour), else `None`; none while
/// password sign-in is off (the first admin signs in through single sign-on). Links made before
/// (by an earlier start) stop working.
pub async fn setup_link(state: &AppState) -> Result<Option<String>, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
