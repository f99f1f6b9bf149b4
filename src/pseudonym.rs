//! Keyed pseudonyms for identity attributes.
//!
//! Trusts the key to be secret and supplied at run time (never embedded). Guarantees: the same
//! value under the same key and output name always gives the same pseudonym (so per-user
//! dashboards work), and without the key a pseudonym cannot be linked back to the value. The
//! key never appears in `Debug` output or errors.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// Shortest key accepted, in bytes. A Secrets Manager generated secret has 64 characters.
pub const MIN_KEY_BYTES: usize = 16;

/// Domain separation: pseudonyms of this crate's scheme, version 1.
const DOMAIN: &[u8] = b"claude-otel-sanitizer/pseudonym/v1\0";

/// The secret key of the HMAC-SHA256 pseudonyms.
#[derive(Clone)]
pub struct PseudonymKey {
    mac: Hmac<Sha256>,
}

/// Why a key was refused. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("pseudonym key is too short: {len} bytes, at least {MIN_KEY_BYTES} required")]
    TooShort { len: usize },
}

impl PseudonymKey {
    /// Uses `secret` (leading and trailing ASCII whitespace removed, so a file ending in a
    /// newline works) as the HMAC key.
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        let secret = secret.trim_ascii();
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { len: secret.len() });
        }
        // HMAC accepts keys of any length.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| KeyError::TooShort { len: 0 })?;
        Ok(PseudonymKey { mac })
    }

    /// `hex_chars` lower-case hex characters of HMAC-SHA256(key, domain ‖ output ‖ 0 ‖ value),
    /// with `value` trimmed and ASCII-lower-cased so `Alice@Example.com ` and
    /// `alice@example.com` are one person.
    pub(crate) fn pseudonym(&self, output: &str, value: &str, hex_chars: usize) -> String {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(output.as_bytes());
        mac.update(b"\0");
        mac.update(value.trim().to_ascii_lowercase().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = hex::encode(digest);
        hex.truncate(hex_chars);
        hex
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PseudonymKey {
        PseudonymKey::new(k.as_bytes()).unwrap()
    }

    #[test]
    fn stable_for_same_key_output_and_value() {
        let k = key("0123456789abcdef0123456789abcdef");
        assert_eq!(
            k.pseudonym("user.pseudonym", "a@example.com", 16),
            k.pseudonym("user.pseudonym", "a@example.com", 16)
        );
        assert_eq!(k.pseudonym("user.pseudonym", "a@example.com", 16).len(), 16);
    }

    #[test]
    fn normalises_case_and_surrounding_space() {
        let k = key("0123456789abcdef0123456789abcdef");
        assert_eq!(k.pseudonym("u", " Alice@Example.COM", 32), k.pseudonym("u", "alice@example.com", 32));
    }

    #[test]
    fn differs_by_key_output_and_value() {
        let a = key("0123456789abcdef0123456789abcdef");
        let b = key("fedcba9876543210fedcba9876543210");
        let p = a.pseudonym("u", "x@example.com", 64);
        assert_ne!(p, b.pseudonym("u", "x@example.com", 64));
        assert_ne!(p, a.pseudonym("v", "x@example.com", 64));
        assert_ne!(p, a.pseudonym("u", "y@example.com", 64));
        assert!(p.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 computed independently:
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"0123456789abcdef0123456789abcdef",
        //   b"claude-otel-sanitizer/pseudonym/v1\0user.pseudonym\0a@example.com",hashlib.sha256).hexdigest())'
        let k = key("0123456789abcdef0123456789abcdef");
        assert_eq!(k.pseudonym("user.pseudonym", "a@example.com", 64), KNOWN);
    }
    const KNOWN: &str = "76ee8197868d9535593f8c2f85fbcf4ee97025c8a301eadfdea08856810b62ff";

    #[test]
    fn refuses_short_keys_without_echoing_them() {
        let err = PseudonymKey::new(b"  short-secret \n").unwrap_err();
        assert_eq!(err, KeyError::TooShort { len: 12 });
        assert!(!err.to_string().contains("short-secret"));
        assert!(!format!("{:?}", key("0123456789abcdef0123456789abcdef")).contains("0123"));
    }
}
