//! Record ids: the `sourceEventId` of a record that arrives without a CloudWatch id.
//!
//! A keyed digest of the whole record as converted (its stored message, [`crate::message`]),
//! so a batch the client sends again after a timeout gives the same ids and its lines are found
//! as duplicates (`stats count(*) as n by sourceEventId | filter n > 1`), while two records that
//! differ in anything (the client numbers its events: `event.sequence`) get different ids.
//!
//! Form: 39 decimal digits, the first 128 bits of the digest as a zero-padded unsigned number.
//! All digits and at most 64 of them, so the sanitizer carries it as it is (only other ids
//! become `sha256:` and 32 hex), and the digest and Logs Insights read it as any id; 39 digits,
//! never CloudWatch's 56, tell the two sources apart.
//!
//! Keyed: a [`KeyedDigest`] of its own purpose ([`RECORD_ID_LABEL`]), under a key derived from
//! the pseudonym key, so an id cannot be checked against a guessed record without the key and
//! is no pseudonym or stream name. Without a key (the CLI run without one) it is a plain
//! SHA-256, still stable. Trusts the key to be secret; the key never appears in `Debug`.

use sanitizer_core::{KeyedDigest, PseudonymKey};

/// The purpose of the record-id digest (its derived key is HMAC(pseudonym key, this label)).
pub const RECORD_ID_LABEL: &[u8] = b"claude-otel-sanitizer/otlp-record-id/v1";

/// Digits of an id: `u128::MAX` has 39.
pub const RECORD_ID_DIGITS: usize = 39;

/// Gives each converted record its id.
#[derive(Clone, Debug)]
pub struct RecordIds {
    digest: KeyedDigest,
}

impl RecordIds {
    /// `key`: the pseudonym key the sanitizer has, if any.
    pub fn new(key: Option<&PseudonymKey>) -> Self {
        RecordIds { digest: KeyedDigest::new(key, RECORD_ID_LABEL) }
    }

    /// The id of the record whose stored message is `message`.
    pub fn id(&self, message: &[u8]) -> String {
        let digest = self.digest.digest(message);
        let (first, _) = digest.split_first_chunk::<16>().unwrap_or_else(|| unreachable!("32 bytes"));
        format!("{:0width$}", u128::from_be_bytes(*first), width = RECORD_ID_DIGITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> PseudonymKey {
        PseudonymKey::new(secret.as_bytes()).unwrap()
    }

    #[test]
    fn stable_digits_that_depend_on_key_and_record() {
        let ids = RecordIds::new(Some(&key("0123456789abcdef0123")));
        let id = ids.id(b"{\"a\":1}");
        assert_eq!(id.len(), RECORD_ID_DIGITS);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(id, RecordIds::new(Some(&key("0123456789abcdef0123"))).id(b"{\"a\":1}"));
        assert_ne!(id, ids.id(b"{\"a\":2}"));
        assert_ne!(id, RecordIds::new(Some(&key("another-key-0123456789"))).id(b"{\"a\":1}"));
        let unkeyed = RecordIds::new(None);
        assert_ne!(id, unkeyed.id(b"{\"a\":1}"));
        assert_eq!(unkeyed.id(b"{\"a\":1}").len(), RECORD_ID_DIGITS);
        // Keyed by a derived key of its own: not the key's pseudonym of the record, nor a
        // stream name's digest.
        assert_ne!(&id[..16], &key("0123456789abcdef0123").pseudonym("otlp", "{\"a\":1}", 16));
    }

    #[test]
    fn known_answer() {
        // python3 -c 'import hmac,hashlib
        // k=hmac.new(b"0123456789abcdef0123456789abcdef",b"claude-otel-sanitizer/otlp-record-id/v1",hashlib.sha256).digest()
        // d=hmac.new(k,b"{}",hashlib.sha256).digest(); print(str(int.from_bytes(d[:16],"big")).zfill(39))'
        let ids = RecordIds::new(Some(&key("0123456789abcdef0123456789abcdef")));
        assert_eq!(ids.id(b"{}"), "020781820677888787098154191175169725705");
    }

    #[test]
    fn debug_names_no_key() {
        assert_eq!(
            format!("{:?}", RecordIds::new(Some(&key("0123456789abcdef0123")))),
            "RecordIds { digest: KeyedDigest { keyed: true } }"
        );
    }
}
