//! Keyed digests: pseudonyms for identity attributes and the names of destination streams.
//!
//! All key material lives behind one type, [`PseudonymKey`], built from the secret once and
//! validated there (surrounding ASCII whitespace is not part of the key, so a key file ending in
//! a newline, `PSEUDONYM_KEY` and a Secrets Manager string holding the same secret are one key).
//! Every keyed digest of the crate is derived from it here: pseudonyms, and through
//! [`KeyedDigest`] every other keyed digest (destination stream names, the OTLP receiver's
//! record ids), each under a key derived for its purpose. No other module sees raw key bytes.
//!
//! Trusts the key to be secret and supplied at run time (never embedded). Guarantees: the same
//! value under the same key and output name always gives the same pseudonym (so per-user
//! dashboards work), and without the key a pseudonym cannot be linked back to the value. The
//! key never appears in `Debug` output or errors.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Shortest key accepted, in bytes. A Secrets Manager generated secret has 64 characters.
pub const MIN_KEY_BYTES: usize = 16;

/// Domain separation: pseudonyms of this crate's scheme, version 1.
const DOMAIN: &[u8] = b"claude-otel-sanitizer/pseudonym/v1\0";

/// Domain separation: the stream-name key is HMAC(key, this label), derived from, not equal to,
/// the pseudonym key.
const STREAM_NAME_LABEL: &[u8] = b"claude-otel-sanitizer/stream-name/v1";

/// Prefix of derived destination stream names.
pub const STREAM_PREFIX: &str = "sanitized-";

/// Hex digits of the digest kept in a derived stream name (128 bits).
pub const STREAM_DIGEST_HEX_LEN: usize = 32;

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
    pub fn pseudonym(&self, output: &str, value: &str, hex_chars: usize) -> String {
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

    /// A key for another keyed digest: HMAC-SHA256(key, `label`), as an HMAC ready to use.
    fn derive(&self, label: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(label);
        let subkey = mac.finalize().into_bytes();
        <Hmac<Sha256> as KeyInit>::new_from_slice(&subkey)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

/// A keyed digest for one purpose (its `label`): HMAC-SHA256 under a key derived from the
/// pseudonym key, or a plain SHA-256 without a key (the CLI run without one: still stable, not
/// secret). Each label gives an independent key, so no digest of one purpose is a pseudonym or
/// a digest of another. [`StreamNamer`] and the OTLP receiver's record ids are built on it.
#[derive(Clone)]
pub struct KeyedDigest {
    mac: Option<Hmac<Sha256>>,
}

impl fmt::Debug for KeyedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedDigest").field("keyed", &self.mac.is_some()).finish()
    }
}

impl KeyedDigest {
    /// The digest of purpose `label` (a fixed, versioned name such as
    /// `claude-otel-sanitizer/stream-name/v1`) under `key`, if any.
    pub fn new(key: Option<&PseudonymKey>, label: &[u8]) -> Self {
        KeyedDigest { mac: key.map(|k| k.derive(label)) }
    }

    /// Whether a key is in use.
    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    /// The 32-byte digest of `input`.
    pub fn digest(&self, input: &[u8]) -> [u8; 32] {
        match &self.mac {
            Some(mac) => mac.clone().chain_update(input).finalize().into_bytes().into(),
            None => Sha256::digest(input).into(),
        }
    }
}

/// Names destination streams: `sanitized-<32 hex digits>`, a digest of the source log group
/// and stream, so the name is stable across invocations and instances but copies no source
/// identifier (a source stream may be named after a person). With a pseudonym key the digest is
/// an HMAC under a key derived from it, so names cannot be reversed by guessing source names;
/// without one it is a plain SHA-256.
#[derive(Clone)]
pub struct StreamNamer {
    digest: KeyedDigest,
}

impl fmt::Debug for StreamNamer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamNamer").field("keyed", &self.digest.is_keyed()).finish()
    }
}

impl StreamNamer {
    /// `key`: the configured pseudonym key, if any (the same value the [`crate::sanitize::Sanitizer`] gets).
    pub fn new(key: Option<&PseudonymKey>) -> Self {
        StreamNamer { digest: KeyedDigest::new(key, STREAM_NAME_LABEL) }
    }

    /// The destination stream for events from `source_group` / `source_stream`.
    pub fn name(&self, source_group: &str, source_stream: &str) -> String {
        // Length-prefixed, so ("a/b", "c") and ("a", "b/c") differ.
        let mut input = Vec::with_capacity(8 + source_group.len() + source_stream.len());
        input.extend_from_slice(&(source_group.len() as u64).to_be_bytes());
        input.extend_from_slice(source_group.as_bytes());
        input.extend_from_slice(source_stream.as_bytes());
        let digest = self.digest.digest(&input);
        let mut name = String::from(STREAM_PREFIX);
        name.push_str(&hex::encode(digest)[..STREAM_DIGEST_HEX_LEN]);
        name
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
    fn stream_names_are_stable_distinct_and_copy_nothing() {
        let plain = StreamNamer::new(None);
        let a = plain.name("/team/raw", "alice.smith");
        assert_eq!(a, plain.name("/team/raw", "alice.smith"));
        assert!(a.starts_with(STREAM_PREFIX));
        assert_eq!(a.len(), STREAM_PREFIX.len() + STREAM_DIGEST_HEX_LEN);
        assert!(!a.contains("alice") && !a.contains("team"));
        assert_ne!(plain.name("a/b", "c"), plain.name("a", "b/c"));
        assert_ne!(a, plain.name("/team/raw", "bob"));
        let keyed = StreamNamer::new(Some(&key("0123456789abcdef0123456789abcdef")));
        assert_ne!(keyed.name("/team/raw", "alice.smith"), a);
        assert!(!format!("{keyed:?}").contains("0123"));
    }

    #[test]
    fn stream_names_known_answer() {
        // Computed independently (HMAC-SHA256 under HMAC-SHA256(key, label); plain SHA-256):
        // python3 -c 'import hmac,hashlib,struct
        // k=hmac.new(b"0123456789abcdef0123456789abcdef",b"claude-otel-sanitizer/stream-name/v1",hashlib.sha256).digest()
        // m=struct.pack(">Q",9)+b"/team/raw"+b"alice.smith"
        // print(hmac.new(k,m,hashlib.sha256).hexdigest()[:32], hashlib.sha256(m).hexdigest()[:32])'
        let keyed = StreamNamer::new(Some(&key("0123456789abcdef0123456789abcdef")));
        assert_eq!(keyed.name("/team/raw", "alice.smith"), format!("{STREAM_PREFIX}{KNOWN_KEYED_STREAM}"));
        assert_eq!(
            StreamNamer::new(None).name("/team/raw", "alice.smith"),
            format!("{STREAM_PREFIX}{KNOWN_PLAIN_STREAM}")
        );
    }
    const KNOWN_KEYED_STREAM: &str = "c94861a43496ed08f219dbce48172566";
    const KNOWN_PLAIN_STREAM: &str = "88748ac964b4dcbba6f9671a8cbbb9a1";

    #[test]
    fn surrounding_whitespace_is_not_part_of_the_key() {
        // The bug this guards against: a key file ending in a newline gave the same pseudonyms
        // as PSEUDONYM_KEY but different stream names, because stream names were keyed with the
        // untrimmed bytes. Both digests now come from the one validated key.
        let secret = "0123456789abcdef0123456789abcdef";
        let forms = [secret.to_owned(), format!("{secret}\n"), format!("{secret}\r\n"), format!("  {secret}\t")];
        let expected =
            (key(secret).pseudonym("u", "a@example.com", 64), StreamNamer::new(Some(&key(secret))).name("g", "s"));
        for form in forms {
            let k = PseudonymKey::new(form.as_bytes()).unwrap();
            assert_eq!((k.pseudonym("u", "a@example.com", 64), StreamNamer::new(Some(&k)).name("g", "s")), expected);
        }
    }

    #[test]
    fn refuses_short_keys_without_echoing_them() {
        let err = PseudonymKey::new(b"  short-secret \n").unwrap_err();
        assert_eq!(err, KeyError::TooShort { len: 12 });
        assert!(!err.to_string().contains("short-secret"));
        assert!(!format!("{:?}", key("0123456789abcdef0123456789abcdef")).contains("0123"));
    }
}
