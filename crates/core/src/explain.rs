//! `explain`: what happened to each received event and to its keys, per event ([`Explanation`])
//! or summed per event type over all inputs ([`Summary`]).
//!
//! For whoever edits the allowlist, on their own data; the Lambda never calls it. Trusts the
//! allowlist and the [`Audit`] contract of `sanitize` (a key it names is a top-level input key or
//! an allowlisted one; keys found inside a value arrive as counts). Trusts nothing in the events.
//!
//! Guarantees: everything printed is fixed text, a reason name, a number, allowlist text, an
//! event name that is a known Claude Code event ([`CLAUDE_CODE_EVENTS`]) or an allowlisted one,
//! or a top-level input key of a schema key's shape ([`schema_shaped`]); any other key prints as
//! `<key not shown>`, any other event name as `unknown event`. A `tool_parameters` sub-key that
//! is not allowlisted is only counted, even if `sanitize` names it. Every string taken from the
//! input or the command line goes through [`escape`]. Memory: an [`Explanation`] is linear in
//! its event (shown key names are kept in one buffer); a [`Summary`] holds at most
//! [`MAX_SUMMARY_KEYS`] distinct key names, and counts the occurrences of any further ones.

use crate::allowlist::Allowlist;
use crate::counts::{AttributeDrop, EventDrop};
use crate::decode::{self, DecodeError, Source};
use crate::kinesis::{self, Event, InputError, KinesisError, Record};
use crate::sanitize::Sanitizer;
use crate::sanitize::{Audit, Origin, Scope, Verdict};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// Event names that Claude Code emits: the events table of the reference
/// (`claude-code-otel.md`, "Events"). Any other name that the allowlist does not list prints as
/// `unknown event`: an event name is input, and could be anything.
pub const CLAUDE_CODE_EVENTS: [&str; 26] = [
    "user_prompt",
    "assistant_response",
    "api_request",
    "api_error",
    "api_refusal",
    "api_retries_exhausted",
    "api_request_body",
    "api_response_body",
    "tool_decision",
    "tool_result",
    "skill_activated",
    "subagent_completed",
    "mcp_server_connection",
    "hook_execution_start",
    "hook_execution_complete",
    "hook_registered",
    "hook_plugin_metrics",
    "compaction",
    "permission_mode_changed",
    "auth",
    "at_mention",
    "plugin_installed",
    "plugin_loaded",
    "internal_error",
    "feedback_survey",
    "retention_sweep",
];

/// Longest input key printed (schema keys are short identifiers).
pub const MAX_SHOWN_KEY_LEN: usize = 64;

/// Most distinct key names one [`Summary`] tallies; occurrences of others are counted together.
pub const MAX_SUMMARY_KEYS: usize = 4096;

/// Printed instead of a key that does not have a schema key's shape.
const NOT_SHOWN: &str = "<key not shown>";

/// Whether an input key may be printed: an ASCII letter, then at most 63 of `[A-Za-z0-9._-]`.
/// No `@`, `/`, space, quote or control character can pass, so neither an email, a path, nor a
/// forged line.
pub fn schema_shaped(key: &str) -> bool {
    key.len() <= MAX_SHOWN_KEY_LEN
        && key.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `s` for a terminal: printable ASCII as it is, a backslash doubled, anything else (newline,
/// ESC, BEL, any non-ASCII character) as `\u{..}`. One line, no control sequence.
pub fn escape(s: &str) -> Escaped<'_> {
    Escaped(s)
}

/// See [`escape`].
pub struct Escaped<'a>(&'a str);

/// The escaped text, quoted: `Debug` prints nothing that `Display` would not.
impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                ' '..='~' => f.write_char(c)?,
                _ => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        Ok(())
    }
}

/// The event type an event is explained under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// A known Claude Code event name or one the allowlist lists.
    Named(String),
    /// An event name found, but neither known nor allowlisted.
    Unknown,
    /// No single event name was found (unparseable, no name, ambiguous).
    Unnamed,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventType::Named(name) => write!(f, "{}", escape(name)),
            EventType::Unknown => f.write_str("unknown event"),
            EventType::Unnamed => f.write_str("(no event name)"),
        }
    }
}

/// What happened to one key, in an order that groups a report: kept, pseudonymized,
/// extracted, then dropped by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Fate {
    Kept,
    Pseudonymized,
    Extracted,
    Dropped(AttributeDrop),
}

impl From<Verdict> for Fate {
    fn from(verdict: Verdict) -> Fate {
        match verdict {
            Verdict::Kept => Fate::Kept,
            Verdict::Pseudonymized => Fate::Pseudonymized,
            Verdict::Extracted => Fate::Extracted,
            Verdict::Dropped(reason) => Fate::Dropped(reason),
        }
    }
}

impl Fate {
    fn label(self) -> &'static str {
        match self {
            Fate::Kept => "kept",
            Fate::Pseudonymized => "pseudonymized",
            Fate::Extracted => "extracted from",
            Fate::Dropped(_) => "dropped",
        }
    }
}

/// Scopes in report order.
fn scope_rank(scope: Scope) -> u8 {
    match scope {
        Scope::Attributes => 0,
        Scope::ToolParameters => 1,
        Scope::Resource => 2,
    }
}

fn scope_of_rank(rank: u8) -> Scope {
    match rank {
        0 => Scope::Attributes,
        1 => Scope::ToolParameters,
        _ => Scope::Resource,
    }
}

/// Where a scope's top-level keys are, in words: `attributes`, `resource.attributes`.
fn scope_place(scope: Scope) -> &'static str {
    scope.prefix().trim_end_matches('.')
}

/// Keys found inside values, in words: `N other keys in attributes.tool_parameters`.
fn inside(scope: Scope, count: Option<u64>) -> String {
    let (which, place) = match scope {
        Scope::Attributes => ("nested", "attributes"),
        Scope::ToolParameters => ("other", "attributes.tool_parameters"),
        Scope::Resource => ("nested", "resource.attributes"),
    };
    match count {
        Some(n) => format!("{n} {which} key{} in {place}", plural(n)),
        None => format!("{which} keys in {place}"),
    }
}

/// One key of an event: where, its name if shown (a range of [`Explanation::names`]), verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyEntry {
    scope: Scope,
    name: Option<(u32, u32)>,
    verdict: Verdict,
}

/// What happened to one received event, holding only what may be printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// Position of the event in its input (0-based).
    pub index: usize,
    pub event: EventType,
    /// Written, or dropped whole for this reason.
    pub outcome: Result<(), EventDrop>,
    /// The shown key names, one after another.
    names: String,
    /// Every input key the audit named, in the order heard.
    keys: Vec<KeyEntry>,
    /// Keys found inside values, counted: (scope, reason, count).
    hidden: Vec<(Scope, AttributeDrop, u64)>,
    /// Top-level keys past the most one event names, counted: (scope, reason, count).
    more: Vec<(Scope, AttributeDrop, u64)>,
}

impl Explanation {
    /// Every key named, in the order heard: scope, the key if shown (else `None`), verdict.
    pub fn keys(&self) -> impl Iterator<Item = (Scope, Option<&str>, Verdict)> + '_ {
        self.keys.iter().map(|k| (k.scope, k.name.map(|(a, b)| &self.names[a as usize..b as usize]), k.verdict))
    }

    /// Keys found inside values, never named: (scope, reason, count).
    pub fn hidden(&self) -> impl Iterator<Item = (Scope, AttributeDrop, u64)> + '_ {
        self.hidden.iter().copied()
    }

    /// Top-level keys past the most one event names (about a thousand per scope), never
    /// named: (scope, reason, count).
    pub fn more(&self) -> impl Iterator<Item = (Scope, AttributeDrop, u64)> + '_ {
        self.more.iter().copied()
    }
}

/// The explanations of one payload's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// The Kinesis record the payload came in (its position in the event), if it did.
    pub record: Option<usize>,
    /// A `CONTROL_MESSAGE` (its events are CloudWatch's own, and not explained).
    pub control_message: bool,
    pub events: Vec<Explanation>,
}

/// Hears one event's audit and keeps only what may be printed.
struct Collect<'s> {
    allowlist: &'s Allowlist,
    event: Option<EventType>,
    names: String,
    keys: Vec<KeyEntry>,
    hidden: Vec<(Scope, AttributeDrop, u64)>,
    more: Vec<(Scope, AttributeDrop, u64)>,
}

/// Adds `count` to the tally of (`scope`, `reason`).
fn tally(tallies: &mut Vec<(Scope, AttributeDrop, u64)>, scope: Scope, reason: AttributeDrop, count: u64) {
    match tallies.iter_mut().find(|(s, r, _)| *s == scope && *r == reason) {
        Some((_, _, n)) => *n += count,
        None => tallies.push((scope, reason, count)),
    }
}

impl<'s> Collect<'s> {
    /// Nothing heard yet.
    fn new(allowlist: &'s Allowlist) -> Collect<'s> {
        let (names, keys, hidden, more) = (String::new(), Vec::new(), Vec::new(), Vec::new());
        Collect { allowlist, event: None, names, keys, hidden, more }
    }

    fn allowlisted(&self, scope: Scope, key: &str) -> bool {
        match scope {
            Scope::Attributes => self.allowlist.attribute_slots.get(key).is_some(),
            Scope::Resource => self.allowlist.resource_slots.get(key).is_some(),
            Scope::ToolParameters => self.allowlist.tool_parameter_subkeys.contains_key(key),
        }
    }
}

impl Audit for Collect<'_> {
    fn attribute(&mut self, scope: Scope, key: &str, verdict: Verdict) {
        let allowlisted = self.allowlisted(scope, key);
        // A tool_parameters sub-key is found inside a value: never named unless allowlisted.
        if scope == Scope::ToolParameters && !allowlisted {
            let reason = match verdict {
                Verdict::Dropped(reason) => reason,
                _ => AttributeDrop::NotAllowlisted,
            };
            return self.hidden(scope, 1, reason);
        }
        let name = (allowlisted || schema_shaped(key))
            .then(|| {
                let start = u32::try_from(self.names.len()).ok()?;
                let end = u32::try_from(self.names.len() + key.len()).ok()?;
                self.names.push_str(key);
                Some((start, end))
            })
            .flatten();
        self.keys.push(KeyEntry { scope, name, verdict });
    }

    fn hidden(&mut self, scope: Scope, count: u64, reason: AttributeDrop) {
        tally(&mut self.hidden, scope, reason, count);
    }

    fn unnamed(&mut self, scope: Scope, count: u64, reason: AttributeDrop) {
        // tool_parameters sub-keys are never named: the same count as ever.
        match scope {
            Scope::ToolParameters => tally(&mut self.hidden, scope, reason, count),
            _ => tally(&mut self.more, scope, reason, count),
        }
    }

    fn event_name(&mut self, name: &str) {
        let known = self.allowlist.events.iter().any(|e| e == name) || CLAUDE_CODE_EVENTS.contains(&name);
        self.event = Some(if known { EventType::Named(name.to_owned()) } else { EventType::Unknown });
    }
}

impl Sanitizer {
    /// Explains every payload of an input the function accepts, as the function reads it
    /// ([`kinesis::read_event`] decides which kind it is): a direct envelope gives one payload, a
    /// Kinesis event one per record, in record order. The first payload that cannot be read
    /// fails the whole input (nothing is explained of bad input).
    pub fn explain_event(&self, event: &[u8], max_decompressed: usize) -> Result<Vec<Explained>, InputError> {
        match kinesis::read_event(event).map_err(KinesisError::from)? {
            Event::Subscription => Ok(vec![self.explain_payload(Source::Envelope(event), max_decompressed, None)?]),
            Event::Kinesis(records) => records
                .iter()
                .map(|record| Ok(self.explain_record(record, max_decompressed).map_err(KinesisError::from)?))
                .collect(),
        }
    }

    fn explain_record(&self, record: &Record<'_>, max_decompressed: usize) -> Result<Explained, kinesis::RecordError> {
        record.read(|source| self.explain_payload(source, max_decompressed, Some(record.index())))
    }

    /// Explains every event of one payload as [`decode::read_events`] reads it, in input order
    /// (none for a control message).
    fn explain_payload(
        &self,
        source: Source<'_>,
        max_decompressed: usize,
        record: Option<usize>,
    ) -> Result<Explained, DecodeError> {
        let read = decode::read_events(source, max_decompressed, Vec::new, |events, e| {
            let index = events.len();
            events.push(match e.message {
                Ok(message) => {
                    let origin = Origin { id: Some(e.id), timestamp_ms: Some(e.timestamp) };
                    self.explain_one(index, origin, message, e.marks)
                }
                Err(_) => Explanation::unparseable(index),
            });
        })?;
        let (header, mut events) = read.expect("a payload in memory is always decided");
        let control_message = header.is_control_message();
        if control_message {
            events.clear();
        }
        Ok(Explained { record, control_message, events })
    }

    /// Explains raw stored messages, one per line (blank lines skipped, as `sanitize_ndjson`).
    pub fn explain_ndjson<'a>(&'a self, input: &'a [u8]) -> impl Iterator<Item = Explanation> + 'a {
        crate::sanitize::ndjson_lines(input).enumerate().map(|(i, line)| match line {
            Ok(line) => self.explain_one(i, Origin::NONE, line, None),
            Err(()) => Explanation::unparseable(i),
        })
    }

    fn explain_one(&self, index: usize, origin: Origin<'_>, message: &str, marks: Option<&[u64]>) -> Explanation {
        let mut audit = Collect::new(self.allowlist());
        let outcome = self.sanitize_marked(origin, message, marks, &mut audit).map(|_| ());
        let event = match (audit.event, outcome) {
            (Some(event), _) => event,
            // A name that is not even an identifier is still a name the allowlist refused.
            (None, Err(EventDrop::EventNotAllowed)) => EventType::Unknown,
            (None, _) => EventType::Unnamed,
        };
        let (names, keys, hidden, more) = (audit.names, audit.keys, audit.hidden, audit.more);
        Explanation { index, event, outcome, names, keys, hidden, more }
    }
}

impl Explanation {
    fn unparseable(index: usize) -> Explanation {
        Explanation {
            index,
            event: EventType::Unnamed,
            outcome: Err(EventDrop::Unparseable),
            names: String::new(),
            keys: Vec::new(),
            hidden: Vec::new(),
            more: Vec::new(),
        }
    }
}

/// A key as printed: `attributes.model`, `attributes.<key not shown>`.
struct KeyText<'a>(Scope, Option<&'a str>);

impl fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(key) => write!(f, "{}{}", self.0.prefix(), escape(key)),
            None => write!(f, "{}{NOT_SHOWN}", self.0.prefix()),
        }
    }
}

/// ```text
/// event 3 api_request: written
///   kept: attributes.event.name, attributes.model
///   pseudonymized: attributes.user.email
///   extracted from: attributes.tool_parameters
///   dropped: attributes.prompt (not_allowlisted), attributes.<key not shown> (not_allowlisted),
///            3 other keys in attributes.tool_parameters (not_allowlisted)   [one line]
/// ```
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {} {}: ", self.index, self.event)?;
        match self.outcome {
            Ok(()) => f.write_str("written")?,
            Err(reason) => write!(f, "dropped ({})", reason.as_str())?,
        }
        for wanted in [Fate::Kept, Fate::Pseudonymized, Fate::Extracted] {
            let mut keys = self.keys().filter(|&(_, _, v)| Fate::from(v) == wanted).peekable();
            if keys.peek().is_some() {
                write!(f, "\n  {}: ", wanted.label())?;
                for (i, (scope, key, _)) in keys.enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}", KeyText(scope, key))?;
                }
            }
        }
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "\n  dropped: " } else { ", " };
            first = false;
            f.write_str(s)
        };
        for (scope, key, verdict) in self.keys() {
            if let Verdict::Dropped(reason) = verdict {
                sep(f)?;
                write!(f, "{} ({})", KeyText(scope, key), reason.as_str())?;
            }
        }
        for (scope, reason, count) in self.more() {
            sep(f)?;
            write!(f, "{count} more key{} in {} ({})", plural(count), scope_place(scope), reason.as_str())?;
        }
        for (scope, reason, count) in self.hidden() {
            sep(f)?;
            write!(f, "{} ({})", inside(scope, Some(count)), reason.as_str())?;
        }
        Ok(())
    }
}

/// A row of a [`Summary`]: which key (shown, not shown, or inside values) met which fate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    Shown(String),
    NotShown,
    Inside,
}

#[derive(Debug, Default)]
struct TypeTally {
    received: u64,
    written: u64,
    dropped: BTreeMap<EventDrop, u64>,
    keys: BTreeMap<(Fate, u8, Row), u64>,
}

/// Explanations summed per event type, over any number of inputs: for each type, how many
/// events were written or dropped and why, and how often each key was kept or dropped and why.
#[derive(Debug, Default)]
pub struct Summary {
    inputs: u64,
    control_messages: u64,
    types: BTreeMap<EventType, TypeTally>,
    /// Distinct shown key names tallied, against [`MAX_SUMMARY_KEYS`].
    shown_rows: usize,
    /// Key occurrences not tallied because [`MAX_SUMMARY_KEYS`] was reached.
    untallied: u64,
}

impl Summary {
    /// Counts one input (a payload file or an NDJSON file).
    pub fn add_input(&mut self) {
        self.inputs += 1;
    }

    /// Counts one `CONTROL_MESSAGE` payload (skipped).
    pub fn add_control_message(&mut self) {
        self.control_messages += 1;
    }

    /// Adds one event's explanation.
    pub fn add(&mut self, explanation: &Explanation) {
        let tally = self.types.entry(explanation.event.clone()).or_default();
        tally.received += 1;
        match explanation.outcome {
            Ok(()) => tally.written += 1,
            Err(reason) => *tally.dropped.entry(reason).or_default() += 1,
        }
        for (scope, key, verdict) in explanation.keys() {
            let row = key.map_or(Row::NotShown, |k| Row::Shown(k.to_owned()));
            let entry = (Fate::from(verdict), scope_rank(scope), row);
            if let Some(n) = tally.keys.get_mut(&entry) {
                *n += 1;
            } else if matches!(entry.2, Row::Shown(_)) && self.shown_rows >= MAX_SUMMARY_KEYS {
                self.untallied += 1;
            } else {
                self.shown_rows += usize::from(matches!(entry.2, Row::Shown(_)));
                tally.keys.insert(entry, 1);
            }
        }
        // Keys past the most one event names are keys not shown.
        for (scope, reason, count) in explanation.more() {
            *tally.keys.entry((Fate::Dropped(reason), scope_rank(scope), Row::NotShown)).or_default() += count;
        }
        for (scope, reason, count) in explanation.hidden() {
            *tally.keys.entry((Fate::Dropped(reason), scope_rank(scope), Row::Inside)).or_default() += count;
        }
    }
}

/// ```text
/// summary: 2 inputs, 34 events: 12 written, 22 dropped
///
/// api_request: 4 events, 4 written
///        4  kept            attributes.model
///        4  dropped         attributes.prompt.id (not_allowlisted)
///        2  dropped         attributes.<key not shown> (not_allowlisted)
///        6  dropped         other keys in attributes.tool_parameters (not_allowlisted)
/// user_prompt: 3 events, 3 dropped (event_not_allowed)
/// (no event name): 2 events, 2 dropped (unparseable 1, no_event_name 1)
/// ```
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let received: u64 = self.types.values().map(|t| t.received).sum();
        let written: u64 = self.types.values().map(|t| t.written).sum();
        write!(
            f,
            "summary: {} input{}, {received} event{}: {written} written, {} dropped",
            self.inputs,
            plural(self.inputs),
            plural(received),
            received - written
        )?;
        if self.control_messages > 0 {
            write!(f, "; {} control message{} skipped", self.control_messages, plural(self.control_messages))?;
        }
        f.write_char('\n')?;
        // Types with written events first, then those dropped whole; by name within each.
        let mut types: Vec<_> = self.types.iter().collect();
        types.sort_by_key(|(event, tally)| (tally.written == 0, *event));
        for (event, tally) in types {
            write!(f, "\n{event}: {} event{}, ", tally.received, plural(tally.received))?;
            let dropped: u64 = tally.dropped.values().sum();
            match (tally.written, dropped) {
                (w, 0) => write!(f, "{w} written")?,
                (0, d) => write!(f, "{d} dropped")?,
                (w, d) => write!(f, "{w} written, {d} dropped")?,
            }
            match tally.dropped.iter().collect::<Vec<_>>()[..] {
                [] => {}
                [(reason, _)] => write!(f, " ({})", reason.as_str())?,
                ref reasons => {
                    let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{} {n}", r.as_str())).collect();
                    write!(f, " ({})", reasons.join(", "))?;
                }
            }
            for ((fate, rank, row), count) in &tally.keys {
                let scope = scope_of_rank(*rank);
                write!(f, "\n  {count:>6}  {:<14}  ", fate.label())?;
                match row {
                    Row::Shown(key) => write!(f, "{}", KeyText(scope, Some(key)))?,
                    Row::NotShown => write!(f, "{}", KeyText(scope, None))?,
                    Row::Inside => f.write_str(&inside(scope, None))?,
                }
                if let Fate::Dropped(reason) = fate {
                    write!(f, " ({})", reason.as_str())?;
                }
            }
        }
        if self.untallied > 0 {
            write!(
                f,
                "\n\n{} key occurrences not tallied: more than {MAX_SUMMARY_KEYS} distinct keys",
                self.untallied
            )?;
        }
        Ok(())
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_shaped_keys_only() {
        for key in ["model", "session.id", "cost_usd", "mcp_server.name", "x-y", &"k".repeat(64)] {
            assert!(schema_shaped(key), "{key}");
        }
        let long = "k".repeat(65);
        for key in ["", "a@b.c", "/home/a", "a b", "a\nb", "a\u{1b}", "1abc", ".x", "é", "a:b", "a\"b", &long] {
            assert!(!schema_shaped(key), "{key:?}");
        }
    }

    #[test]
    fn escape_leaves_one_printable_line() {
        assert_eq!(escape("plain.key-1_x").to_string(), "plain.key-1_x");
        assert_eq!(escape("a\nb\u{1b}[2J\u{7}\\é").to_string(), "a\\u{a}b\\u{1b}[2J\\u{7}\\\\\\u{e9}");
    }

    /// What explain makes of audit calls, whatever `sanitize` reports.
    #[test]
    fn audit_calls_become_printable_explanations() {
        let allowlist = Allowlist::embedded();
        let mut audit = Collect::new(&allowlist);
        audit.event_name("tool_result");
        audit.attribute(Scope::Attributes, "tool_name", Verdict::Kept);
        audit.attribute(Scope::Attributes, "CANARY@example.com", Verdict::Dropped(AttributeDrop::NotAllowlisted));
        audit.attribute(Scope::Attributes, "speed", Verdict::Dropped(AttributeDrop::NotAllowlisted));
        audit.attribute(Scope::ToolParameters, "subagent_type", Verdict::Kept);
        // Named by the audit but not allowlisted: inside a value, so only counted.
        audit.attribute(Scope::ToolParameters, "CANARYsub", Verdict::Dropped(AttributeDrop::NotAllowlisted));
        audit.hidden(Scope::ToolParameters, 2, AttributeDrop::NotAllowlisted);
        audit.hidden(Scope::Attributes, 1, AttributeDrop::NotAllowlisted);
        audit.hidden(Scope::Resource, 4, AttributeDrop::Duplicate);
        audit.attribute(Scope::Resource, "x\n\u{1b}", Verdict::Dropped(AttributeDrop::NotAllowlisted));
        // Past the most one event names: counted as keys not shown (and in tool_parameters as
        // ever, among its other keys).
        audit.unnamed(Scope::Attributes, 5, AttributeDrop::NotAllowlisted);
        audit.unnamed(Scope::ToolParameters, 1, AttributeDrop::NotAllowlisted);
        let e = Explanation {
            index: 3,
            event: audit.event.unwrap(),
            outcome: Ok(()),
            names: audit.names,
            keys: audit.keys,
            hidden: audit.hidden,
            more: audit.more,
        };
        assert_eq!(
            e.to_string(),
            "event 3 tool_result: written\n  kept: attributes.tool_name, attributes.tool_parameters.subagent_type\n  \
             dropped: attributes.<key not shown> (not_allowlisted), attributes.speed (not_allowlisted), \
             resource.attributes.<key not shown> (not_allowlisted), \
             5 more keys in attributes (not_allowlisted), \
             4 other keys in attributes.tool_parameters (not_allowlisted), \
             1 nested key in attributes (not_allowlisted), 4 nested keys in resource.attributes (duplicate)"
        );
        let mut summary = Summary::default();
        summary.add(&e);
        summary.add(&e);
        let text = summary.to_string();
        assert!(
            text.contains("\n       8  dropped         other keys in attributes.tool_parameters (not_allowlisted)")
        );
        assert!(text.contains("\n      12  dropped         attributes.<key not shown> (not_allowlisted)"), "{text}");
        assert!(text.contains("\n       8  dropped         nested keys in resource.attributes (duplicate)"));
        assert!(!text.contains("CANARY") && !e.to_string().contains("CANARY"));

        let mut audit = Collect::new(&allowlist);
        audit.event_name("CANARY_unknown");
        assert_eq!(audit.event, Some(EventType::Unknown));
        audit.event_name("user_prompt");
        assert_eq!(audit.event, Some(EventType::Named("user_prompt".into())));
    }

    #[test]
    fn scope_ranks_round_trip() {
        for scope in [Scope::Attributes, Scope::ToolParameters, Scope::Resource] {
            assert_eq!(scope_of_rank(scope_rank(scope)), scope);
        }
    }
}
