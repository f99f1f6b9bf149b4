//! `pseudonym`: the pseudonym the sanitizer writes for an identity, for whoever holds the key
//! (so a developer can be told which row of the dashboard is theirs).
//!
//! Trusts the key and allowlist it is given. Guarantees: the same function as the sanitizer
//! (same output name, same length, same trimming and lower-casing), and no identity in any
//! error it returns.

use sanitizer_core::{Allowlist, PseudonymKey};

/// The first pseudonym output of the allowlist (`user.pseudonym` in the shipped one) and its
/// length in hex characters; `None` when the allowlist keeps no pseudonym.
pub fn pseudonym_output(allowlist: &Allowlist) -> Option<(&str, usize)> {
    allowlist.pseudonym_output()
}

/// The pseudonym of `identity` as the sanitizer writes it under `output`.
pub fn pseudonym(key: &PseudonymKey, output: &str, hex_chars: usize, identity: &str) -> String {
    key.pseudonym(output, identity, hex_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_what_the_sanitizer_writes() {
        let allowlist = Allowlist::embedded();
        let (output, hex) = pseudonym_output(&allowlist).unwrap();
        assert_eq!((output, hex), ("user.pseudonym", 16));
        let key = PseudonymKey::new(b"local-test-key-0123456789").unwrap();
        let sanitizer = sanitizer_core::Sanitizer::new(Allowlist::embedded(), Some(key.clone()));
        let line = br#"{"body":"claude_code.skill_activated","attributes":{"event.name":"skill_activated","user.email":"Dev@Example.com"}}"#;
        let out = sanitizer.sanitize_ndjson(line, 0);
        let expected = format!("\"user.pseudonym\":\"{}\"", pseudonym(&key, output, hex, " dev@example.com "));
        assert!(out.events[0].message.contains(&expected), "{}", out.events[0].message);
    }
}
