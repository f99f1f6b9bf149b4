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
//! Keyed: HMAC-SHA256 under a key derived from the pseudonym key (the key's own pseudonym of
//! an output name no allowlist can use, see [`ID_KEY_OUTPUT`]), so an id cannot be checked
//! against a guessed record without the key. Without a key (the CLI run without one) it is a
//! plain SHA-256, still stable. Trusts the key to be secret; the key never appears in `Debug`.

use hmac::{Hmac, KeyInit, Mac};
use sanitizer_core::PseudonymKey;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// The output name whose pseudonym of the empty value is the id key: `/` is not allowed in an
/// allowlist's output keys, so no pseudonym the sanitizer writes is ever this key.
const ID_KEY_OUTPUT: &str = "otlp/record-id/v1";

/// Digits of an id: `u128::MAX` has 39.
pub const RECORD_ID_DIGITS: usize = 39;

/// Gives each converted record its id.
#[derive(Clone)]
pub struct RecordIds {
    mac: Option<Hmac<Sha256>>,
}

impl fmt::Debug for RecordIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordIds").field("keyed", &self.mac.is_some()).finish()
    }
}

impl RecordIds {
    /// `key`: the pseudonym key the sanitizer has, if any.
    pub fn new(key: Option<&PseudonymKey>) -> Self {
        let mac = key.map(|key| {
            let derived = key.pseudonym(ID_KEY_OUTPUT, "", 64);
            <Hmac<Sha256> as KeyInit>::new_from_slice(derived.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
        });
        RecordIds { mac }
    }

    /// The id of the record whose stored message is `message`.
    pub fn id(&self, message: &[u8]) -> String {
        let digest: [u8; 32] = match &self.mac {
            Some(mac) => mac.clone().chain_update(message).finalize().into_bytes().into(),
            None => Sha256::digest(message).into(),
        };
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
        // Keyed but not the key's pseudonym of the record itself.
        assert_ne!(&id[..16], &key("0123456789abcdef0123").pseudonym(ID_KEY_OUTPUT, "{\"a\":1}", 16));
    }

    #[test]
    fn no_allowlist_can_name_the_id_keys_output() {
        // So no pseudonym the sanitizer writes is the id key.
        let toml = format!("events = [\"api_request\"]\n[pseudonyms.\"{ID_KEY_OUTPUT}\"]\nfrom = [\"user.email\"]\n");
        assert!(sanitizer_core::Allowlist::from_toml(&toml).is_err());
        let control = toml.replace(ID_KEY_OUTPUT, "user.pseudonym");
        assert!(sanitizer_core::Allowlist::from_toml(&control).is_ok(), "{control}");
    }

    #[test]
    fn debug_names_no_key() {
        assert_eq!(format!("{:?}", RecordIds::new(Some(&key("0123456789abcdef0123")))), "RecordIds { keyed: true }");
    }
}
