//! Sanitize: the allowlist builds each output event from empty. (stub: being written)

use crate::{Allowlist, Counts, Payload, PseudonymKey};

/// One event to write to the sanitized group: the source event's timestamp and the compact JSON
/// message built from allowlisted values only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SanitizedEvent {
    /// Milliseconds since the epoch: the source event's CloudWatch timestamp.
    pub timestamp: i64,
    pub message: String,
}

/// The result of sanitizing one payload: events in write order (stable-sorted by timestamp),
/// and the counts. Invariant: `counts.written == events.len()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SanitizedPayload {
    pub events: Vec<SanitizedEvent>,
    pub counts: Counts,
}

/// What happened to one key (for `explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Kept,
    Dropped(crate::AttributeDrop),
}

/// Receives a verdict per input key. `Counts` implements it; `explain` collects names.
pub trait Audit {
    fn attribute(&mut self, key: &str, verdict: Verdict);
}

/// The allowlist and the optional pseudonym key: everything `sanitize` needs.
#[derive(Debug)]
pub struct Sanitizer {
    allowlist: Allowlist,
    key: Option<PseudonymKey>,
}

impl Sanitizer {
    pub fn new(allowlist: Allowlist, key: Option<PseudonymKey>) -> Self {
        Sanitizer { allowlist, key }
    }

    /// Sanitizes every event of a decoded payload. Infallible.
    pub fn sanitize_payload(&self, payload: &Payload) -> SanitizedPayload {
        let _ = (&self.allowlist, &self.key, payload);
        todo!()
    }

    /// Sanitizes raw stored messages, one per line (blank lines skipped). Timestamps come from
    /// `timeUnixNano` / `observedTimeUnixNano` where present.
    pub fn sanitize_ndjson(&self, text: &str) -> SanitizedPayload {
        let _ = text;
        todo!()
    }
}
