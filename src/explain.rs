//! `explain`: per event, which keys were kept and which were dropped and why.
//!
//! For whoever edits the allowlist, on their own data: it prints input key names and event
//! names (never values). It is a local tool; the Lambda never calls it.

use crate::sanitize::{Audit, Scope, Verdict};
use crate::{EventDrop, Payload, Sanitizer};
use std::fmt;

/// What happened to one received event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Position of the event in its input (0-based).
    pub index: usize,
    /// The event name found, if any and if it is a plain identifier.
    pub event: Option<String>,
    /// Written, or dropped whole for this reason.
    pub outcome: Result<(), EventDrop>,
    /// Every input key of a written event, with its verdict, in input order.
    pub keys: Vec<(String, Verdict)>,
}

#[derive(Default)]
struct Collect {
    event: Option<String>,
    keys: Vec<(String, Verdict)>,
}

impl Audit for Collect {
    fn attribute(&mut self, scope: Scope, key: &str, verdict: Verdict) {
        self.keys.push((format!("{}{key}", scope.prefix()), verdict));
    }
    fn event_name(&mut self, name: &str) {
        self.event = Some(name.to_owned());
    }
}

impl Sanitizer {
    /// Explains every event of a decoded payload (none for a control message).
    pub fn explain_payload(&self, payload: &Payload) -> Vec<Explanation> {
        if payload.is_control_message() {
            return Vec::new();
        }
        payload
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| match &e.message {
                Ok(message) => self.explain_one(i, Some(&e.id), message),
                Err(_) => Explanation { index: i, event: None, outcome: Err(EventDrop::Unparseable), keys: Vec::new() },
            })
            .collect()
    }

    /// Explains raw stored messages, one per line (blank lines skipped, as `sanitize_ndjson`).
    pub fn explain_ndjson(&self, input: &[u8]) -> Vec<Explanation> {
        crate::sanitize::ndjson_lines(input)
            .enumerate()
            .map(|(i, line)| match line {
                Ok(line) => self.explain_one(i, None, line),
                Err(()) => {
                    Explanation { index: i, event: None, outcome: Err(EventDrop::Unparseable), keys: Vec::new() }
                }
            })
            .collect()
    }

    fn explain_one(&self, index: usize, id: Option<&str>, message: &str) -> Explanation {
        let mut audit = Collect::default();
        let outcome = self.sanitize_message(crate::Origin { id, timestamp_ms: None }, message, &mut audit).map(|_| ());
        Explanation { index, event: audit.event, outcome, keys: audit.keys }
    }
}

/// ```text
/// event 3 api_request: written
///   kept: attributes.model, attributes.cost_usd
///   pseudonymized: attributes.user.email
///   dropped: attributes.prompt (not_allowlisted), attributes.model (wrong_kind)
/// ```
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {} {}: ", self.index, self.event.as_deref().unwrap_or("(no name)"))?;
        match self.outcome {
            Ok(()) => f.write_str("written")?,
            Err(reason) => write!(f, "dropped ({})", reason.as_str())?,
        }
        let groups = [
            ("kept", Verdict::Kept),
            ("pseudonymized", Verdict::Pseudonymized),
            ("extracted from", Verdict::Extracted),
        ];
        for (label, wanted) in groups {
            let keys: Vec<&str> = self.keys.iter().filter(|(_, v)| *v == wanted).map(|(k, _)| k.as_str()).collect();
            if !keys.is_empty() {
                write!(f, "\n  {label}: {}", keys.join(", "))?;
            }
        }
        let dropped: Vec<String> = self
            .keys
            .iter()
            .filter_map(|(k, v)| match v {
                Verdict::Dropped(reason) => Some(format!("{k} ({})", reason.as_str())),
                _ => None,
            })
            .collect();
        if !dropped.is_empty() {
            write!(f, "\n  dropped: {}", dropped.join(", "))?;
        }
        Ok(())
    }
}
