//! Secrets at rest: AES-256-GCM, a fresh nonce per write, and the row id plus field name bound as
//! associated data, so a ciphertext copied to another row or field does not decrypt.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// What the associated data of every sealed value begins with (unchanged since the first one).
const AAD_VERSION: &str = "v1";
/// Sealed values name their key: `v2:<key id>:<base64 of nonce and ciphertext>`.
const SEALED_VERSION: &str = "v2";
/// Values sealed before keys had ids: `v1:<base64>`.
const LEGACY_PREFIX: &str = "v1:";
/// Whether a stored value is a sealed one (of either form).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(LEGACY_PREFIX) || Cipher::sealed_by(value).is_some()
}
const NONCE_LEN: usize = 12;
pub const KEY_FILE: &str = "console.key";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "CONCUR_CONSOLE_KEY must be 32 bytes encoded in base64 (e.g. the output of `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("a stored secret could not be decrypted: wrong key, or the data was altered")]
    Undecryptable,
    #[error(
        "a stored secret was sealed with key {0}, which this console does not have: add that key to CONCUR_CONSOLE_OLD_KEYS"
    )]
    MissingKey(String),
    #[error("could not read or write the key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
}

/// Where the key came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    ExistingFile,
    GeneratedFile,
}

/// One key: its AEAD, the key link tokens are derived with, and its id.
#[derive(Clone)]
struct SealKey {
    aead: Aes256Gcm,
    /// The key link tokens are derived with (see [`Cipher::link_token`]), itself derived from
    /// the console key so that every replica derives the same tokens.
    links: Zeroizing<[u8; 32]>,
    /// Seals whole exports (see [`Cipher::seal_export`]): derived from the console key, so an
    /// export's key is never the one stored values are sealed with.
    exports: Aes256Gcm,
    /// Names the key without revealing it (see [`Cipher::key_id`]).
    key_id: String,
}

impl SealKey {
    fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| CryptoError::BadKey)?,
        );
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        use sha2::Digest;
        let mut links = Zeroizing::new([0u8; 32]);
        links.copy_from_slice(&sha2::Sha256::digest(
            [b"concur-console link tokens/".as_slice(), &bytes].concat(),
        ));
        let mut exports = Zeroizing::new([0u8; 32]);
        exports.copy_from_slice(&sha2::Sha256::digest(
            [b"concur-console exports/".as_slice(), &bytes].concat(),
        ));
        let digest = sha2::Sha256::digest([b"concur-console key id/".as_slice(), &bytes].concat());
        let key_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            links,
            exports: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(exports.as_slice())),
            key_id,
        })
    }
}

/// The console's keys: the current one seals, every one opens what it sealed. A sealed value
/// names its key (`v2:<key id>:…`); values from before key ids (`v1:…`) are tried with each.
#[derive(Clone)]
pub struct Cipher {
    /// The current key first, then the old ones (`CONCUR_CONSOLE_OLD_KEYS`).
    keys: Vec<SealKey>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(••••)")
    }
}

impl Cipher {
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        Ok(Self {
            keys: vec![SealKey::from_base64(encoded)?],
        })
    }

    /// Adds keys that may still open older values (comma-separated base64, as in
    /// `CONCUR_CONSOLE_OLD_KEYS`); the current key stays the one that seals.
    pub fn with_old_keys(mut self, old: &str) -> Result<Self, CryptoError> {
        for encoded in old.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let key = SealKey::from_base64(encoded)?;
            if !self.keys.iter().any(|k| k.key_id == key.key_id) {
                self.keys.push(key);
            }
        }
        Ok(self)
    }

    fn current(&self) -> &SealKey {
        &self.keys[0]
    }

    /// Sixteen hex digits that name the current key (a hash of it, which reveals nothing of
    /// it): sealed values and exports record it.
    pub fn key_id(&self) -> &str {
        &self.current().key_id
    }

    /// The ids of every key this console has, the current one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.key_id.as_str()).collect()
    }

    /// How a value sealed with the current key begins (`v2:<key id>:`).
    pub fn current_prefix(&self) -> String {
        format!("{SEALED_VERSION}:{}:", self.key_id())
    }

    /// The key id a sealed value names, if it names one.
    pub fn sealed_by(sealed: &str) -> Option<&str> {
        let rest = sealed.strip_prefix(SEALED_VERSION)?.strip_prefix(':')?;
        rest.split_once(':').map(|(id, _)| id)
    }

    /// The secret token of a link (a hand-off link, say) with this `purpose` and random `id`:
    /// HMAC-SHA256 under a key derived from the console key, 256 bits, base64url. The database
    /// keeps only its hash; the console can show the link again (Copy link) by deriving it, and
    /// nobody without the console key can.
    pub fn link_token(&self, purpose: &str, id: &str) -> String {
        Self::derive_link(self.current(), purpose, id)
    }

    /// The tokens every key of the ring derives for a link, the current key's first: a link
    /// made before a key rotation still has its old token, and Copy link finds it among these.
    pub fn link_tokens(&self, purpose: &str, id: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|key| Self::derive_link(key, purpose, id))
            .collect()
    }

    fn derive_link(key: &SealKey, purpose: &str, id: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key.links.as_slice())
            .expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"/");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The key from `CONCUR_CONSOLE_KEY`, else from `data_dir/console.key`, never making one
    /// (for commands that only read, such as `verify-backup`).
    pub fn existing(env_key: Option<&str>, data_dir: &Path) -> Result<Self, CryptoError> {
        if let Some(key) = env_key {
            return Self::from_base64(key);
        }
        let path = data_dir.join(KEY_FILE);
        std::fs::read_to_string(&path)
            .map_err(|source| CryptoError::KeyFile {
                path: path.display().to_string(),
                source,
            })
            .and_then(|encoded| Self::from_base64(&encoded))
    }

    /// The key from `CONCUR_CONSOLE_KEY`, else from (or generated into) `data_dir/console.key`.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<(Self, KeySource), CryptoError> {
        if let Some(key) = env_key {
            return Ok((Self::from_base64(key)?, KeySource::Environment));
        }
        let path = data_dir.join(KEY_FILE);
        let file_error = |source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(encoded) => Ok((Self::from_base64(&encoded)?, KeySource::ExistingFile)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let encoded = STANDARD.encode(Aes256Gcm::generate_key(OsRng));
                use std::os::unix::fs::OpenOptionsExt;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(file_error)?;
                writeln!(file, "{encoded}").map_err(file_error)?;
                Ok((Self::from_base64(&encoded)?, KeySource::GeneratedFile))
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// Seals a whole export (`content`) with the current key's export key, binding `header`
    /// (what the file says of itself in clear) as associated data: base64 of nonce and
    /// ciphertext. Whoever lacks the console key can neither read it nor change a byte of it
    /// or its header unnoticed.
    pub fn seal_export(&self, header: &[u8], content: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let sealed = self
            .current()
            .exports
            .encrypt(
                &nonce,
                Payload {
                    msg: content,
                    aad: header,
                },
            )
            .expect("AES-GCM encryption of an export cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        STANDARD.encode(blob)
    }

    /// Opens what [`Cipher::seal_export`] sealed with the key `key_id` for the same `header`.
    /// [`CryptoError::Undecryptable`] means changed (or damaged) since.
    pub fn open_export(
        &self,
        key_id: &str,
        header: &[u8],
        sealed: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| CryptoError::MissingKey(key_id.to_owned()))?;
        let blob = STANDARD
            .decode(sealed)
            .map_err(|_| CryptoError::Undecryptable)?;
        if blob.len() <= NONCE_LEN {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        key.exports
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: header,
                },
            )
            .map_err(|_| CryptoError::Undecryptable)
    }

    fn context(row: &str, field: &str) -> String {
        format!("{AAD_VERSION}/{row}/{field}")
    }

    /// Encrypts `plaintext` for `field` of row `row`.
    pub fn seal(&self, row: &str, field: &str, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let aad = Self::context(row, field);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        let ciphertext = self
            .current()
            .aead
            .encrypt(&nonce, payload)
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("{}{}", self.current_prefix(), STANDARD.encode(blob))
    }

    /// Decrypts what [`Cipher::seal`] wrote for the same row and field.
    /// Decrypts `field` of row `row`; the plaintext is wiped from memory when dropped.
    pub fn open(
        &self,
        row: &str,
        field: &str,
        sealed: &str,
    ) -> Result<Zeroizing<String>, CryptoError> {
        if let Some(encoded) = sealed.strip_prefix(LEGACY_PREFIX) {
            return self
                .keys
                .iter()
                .find_map(|key| Self::open_with(key, row, field, encoded).ok())
                .ok_or(CryptoError::Undecryptable);
        }
        let id = Self::sealed_by(sealed).ok_or(CryptoError::Undecryptable)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id == id)
            .ok_or_else(|| CryptoError::MissingKey(id.to_owned()))?;
        let encoded = &sealed[SEALED_VERSION.len() + id.len() + 2..];
        Self::open_with(key, row, field, encoded)
    }

    fn open_with(
        key: &SealKey,
        row: &str,
        field: &str,
        encoded: &str,
    ) -> Result<Zeroizing<String>, CryptoError> {
        let blob = STANDARD
            .decode(encoded)
            .map_err(|_| CryptoError::Undecryptable)?;
        if blob.len() <= NONCE_LEN {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let aad = Self::context(row, field);
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plaintext = key
            .aead
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plaintext)
            .map(Zeroizing::new)
            .map_err(|e| {
                drop(Zeroizing::new(e.into_bytes()));
                CryptoError::Undecryptable
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_opens_only_unchanged_with_its_header_and_a_key_of_the_ring() {
        let old = Cipher::from_base64("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
        let sealed = old.seal_export(b"header", b"the tables");
        assert_eq!(
            old.open_export(old.key_id(), b"header", &sealed).unwrap(),
            b"the tables"
        );
        assert!(matches!(
            old.open_export(old.key_id(), b"headex", &sealed),
            Err(CryptoError::Undecryptable)
        ));
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        bytes[20] ^= 1;
        assert!(matches!(
            old.open_export(old.key_id(), b"header", &STANDARD.encode(bytes)),
            Err(CryptoError::Undecryptable)
        ));
        let ring = Cipher::from_base64("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")
            .unwrap()
            .with_old_keys("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
            .unwrap();
        assert_eq!(
            ring.open_export(old.key_id(), b"header", &sealed).unwrap(),
            b"the tables"
        );
        let stranger = Cipher::from_base64("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=").unwrap();
        assert!(matches!(
            stranger.open_export(old.key_id(), b"header", &sealed),
            Err(CryptoError::MissingKey(_))
        ));
        assert!(
            !String::from_utf8_lossy(&STANDARD.decode(&sealed).unwrap()).contains("tables"),
            "private"
        );
    }

    fn cipher() -> Cipher {
        Cipher::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn link_tokens_are_256_bits_fixed_per_link_and_key() {
        let c = cipher();
        let token = c.link_token("handoff", "id-1");
        assert_eq!(URL_SAFE_NO_PAD_LEN, token.len());
        assert_eq!(
            token,
            cipher().link_token("handoff", "id-1"),
            "every replica agrees"
        );
        assert_ne!(token, c.link_token("handoff", "id-2"));
        assert_ne!(token, c.link_token("invite", "id-1"));
        let other = Cipher::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(token, other.link_token("handoff", "id-1"));
    }

    /// 32 bytes in base64url without padding.
    const URL_SAFE_NO_PAD_LEN: usize = 43;

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_row_and_field() {
        let c = cipher();
        let sealed = c.seal("row-1", "refresh_token", "tok-123");
        assert_eq!(
            c.open("row-1", "refresh_token", &sealed).unwrap().as_str(),
            "tok-123"
        );
        assert!(c.open("row-2", "refresh_token", &sealed).is_err());
        assert!(c.open("row-1", "client_secret", &sealed).is_err());
        assert!(!sealed.contains("tok-123"));
    }

    #[test]
    fn two_encryptions_of_one_secret_differ() {
        let c = cipher();
        assert_ne!(c.seal("r", "f", "same"), c.seal("r", "f", "same"));
    }

    #[test]
    fn a_flipped_ciphertext_byte_fails_to_decrypt() {
        let c = cipher();
        let sealed = c.seal("r", "f", "secret value");
        let prefix = c.current_prefix();
        let mut blob = STANDARD.decode(&sealed[prefix.len()..]).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("{prefix}{}", STANDARD.encode(blob));
        assert!(matches!(
            c.open("r", "f", &tampered),
            Err(CryptoError::Undecryptable)
        ));
    }

    #[test]
    fn values_name_their_key_and_old_keys_still_open_them() {
        let old = cipher();
        let sealed_old = old.seal("r", "f", "from before");
        assert_eq!(Cipher::sealed_by(&sealed_old), Some(old.key_id()));
        let new_key = STANDARD.encode([9u8; 32]);
        let ring = Cipher::from_base64(&new_key)
            .unwrap()
            .with_old_keys(&STANDARD.encode([7u8; 32]))
            .unwrap();
        assert_eq!(ring.key_ids().len(), 2);
        assert_eq!(
            ring.open("r", "f", &sealed_old).unwrap().as_str(),
            "from before"
        );
        let sealed_new = ring.seal("r", "f", "after");
        assert!(sealed_new.starts_with(&format!("v2:{}:", ring.key_id())));
        assert!(matches!(
            old.open("r", "f", &sealed_new),
            Err(CryptoError::MissingKey(id)) if id == ring.key_id()
        ));
        // A value from before key ids: the same ciphertext, without its key's name.
        let legacy = format!("v1:{}", &sealed_old[old.current_prefix().len()..]);
        assert!(is_sealed(&legacy));
        assert_eq!(
            ring.open("r", "f", &legacy).unwrap().as_str(),
            "from before"
        );
        assert!(
            Cipher::from_base64(&new_key)
                .unwrap()
                .open("r", "f", &legacy)
                .is_err()
        );
        assert_ne!(
            ring.link_token("handoff", "id"),
            old.link_token("handoff", "id"),
            "links made now use the new key"
        );
        assert!(
            ring.link_tokens("handoff", "id")
                .contains(&old.link_token("handoff", "id"))
        );
    }

    #[test]
    fn another_key_cannot_open_and_bad_keys_are_refused() {
        let sealed = cipher().seal("r", "f", "x");
        let other = Cipher::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("r", "f", &sealed).is_err());
        assert_eq!(cipher().key_id().len(), 16);
        assert_eq!(
            cipher().key_id(),
            cipher().key_id(),
            "the same key, the same id"
        );
        assert_ne!(cipher().key_id(), other.key_id());
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }

    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("cc-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, source) = Cipher::load(None, &dir).unwrap();
        assert_eq!(source, KeySource::GeneratedFile);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, source) = Cipher::load(None, &dir).unwrap();
        assert_eq!(source, KeySource::ExistingFile);
        let sealed = first.seal("r", "f", "v");
        assert_eq!(second.open("r", "f", &sealed).unwrap().as_str(), "v");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
