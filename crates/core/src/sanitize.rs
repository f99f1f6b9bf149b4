//! Sanitize: the allowlist builds each output event from empty.
//!
//! Trusts the compiled [`Allowlist`]; trusts nothing in the events. Guarantees: pure and
//! infallible; the output of an event is written by iterating the allowlist's outputs, so a key
//! the allowlist does not name cannot appear, and every written value passed its kind check.
//! Every received event is either written or counted as dropped with a reason. Events come out
//! in input order: [`crate::plan`] is the one stage that sorts.
//!
//! Memory: each event is parsed and checked in a per-call arena that is reset between events, so
//! the work of one event is freed before the next and never grows with the payload.

use crate::allowlist::Allowlist;
use crate::allowlist::{Output, Rule};
use crate::counts::{AttributeDrop, Counts, EventDrop};
use crate::decode::{self, DecodeError, Header, Payload, Source, Unreadable};
use crate::kind::Kept;
use crate::kinesis::{self, RecordError};
use crate::metrics::MetricPoint;
use crate::parse::{self, Ends, Entry, Found, Indexes, KeyIndex, Raw, RawEvent};
use crate::pseudonym::PseudonymKey;
use crate::spend::{CountedEvent, Spend, SpendField};
use crate::value::Scalar;
use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;

/// The prefix of every Claude Code event `body`.
const BODY_PREFIX: &str = "claude_code.";

/// Longest identity value pseudonymised; longer ones are dropped as `too_long`.
const MAX_PSEUDONYM_SOURCE_LEN: usize = 256;

/// Longest source event id carried as it is; others are carried as a digest.
const MAX_PLAIN_SOURCE_ID_LEN: usize = 64;

/// Longest `timeUnixNano` string read: `u64::MAX` has 20 digits.
const MAX_TIME_DIGITS: usize = 20;

/// One event to write to the sanitized group: the source event's timestamp and the compact JSON
/// message built from allowlisted values only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SanitizedEvent {
    /// Milliseconds since the epoch: the source event's CloudWatch timestamp.
    pub timestamp: i64,
    pub message: String,
}

/// The result of sanitizing one payload: events in input order, the counts, and the sums of the
/// cost and token values written. Invariant: `counts.written == events.len()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SanitizedPayload {
    pub events: Vec<SanitizedEvent>,
    pub counts: Counts,
    pub spend: Spend,
}

/// Where a key was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Attributes,
    Resource,
    ToolParameters,
}

impl Scope {
    /// The path prefix of the scope in a stored record.
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::Attributes => "attributes.",
            Scope::Resource => "resource.attributes.",
            Scope::ToolParameters => "attributes.tool_parameters.",
        }
    }
}

/// What happened to one input key of a kept event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Written (after its kind check).
    Kept,
    /// Written as a keyed pseudonym under another key.
    Pseudonymized,
    /// A JSON string whose allowlisted sub-keys were extracted.
    Extracted,
    Dropped(AttributeDrop),
}

/// Receives what happened to each input key of a kept event. [`Counts`] counts the drops; the
/// CLI's `explain` collects key names.
///
/// `attribute` is only ever called with a top-level input key of `attributes` or
/// `resource.attributes`, or with an allowlisted key name (a nested allowlisted key, or an
/// allowlisted `tool_parameters` sub-key). Keys found inside a value that name nothing are never
/// named: they arrive as counts through `hidden`.
pub trait Audit {
    fn attribute(&mut self, scope: Scope, key: &str, verdict: Verdict);
    /// `count` keys found inside values of `scope`, dropped for `reason`, names not given.
    fn hidden(&mut self, _scope: Scope, _count: u64, _reason: AttributeDrop) {}
    /// `count` more top-level keys of `scope`, dropped for `reason`, past the most one event
    /// names (`parse::MAX_ENTRIES`): counted, names not given. As `hidden` unless told apart.
    fn unnamed(&mut self, scope: Scope, count: u64, reason: AttributeDrop) {
        self.hidden(scope, count, reason);
    }
    /// The event name found in an event (syntactically valid, not necessarily allowlisted).
    fn event_name(&mut self, _name: &str) {}
}

impl Audit for Counts {
    fn attribute(&mut self, _scope: Scope, _key: &str, verdict: Verdict) {
        if let Verdict::Dropped(reason) = verdict {
            self.drop_attribute(reason);
        }
    }
    fn hidden(&mut self, _scope: Scope, count: u64, reason: AttributeDrop) {
        self.drop_attributes(reason, count);
    }
}

/// The allowlist and the optional pseudonym key: everything `sanitize` needs.
#[derive(Debug)]
pub struct Sanitizer {
    allowlist: Allowlist,
    key: Option<PseudonymKey>,
    attribute_index: KeyIndex,
    resource_index: KeyIndex,
    tool_parameter_index: KeyIndex,
    tool_parameters_slot: Option<usize>,
    /// Per allowlisted event: the outputs written on it (indexes into `allowlist.outputs`, in
    /// its order), each with the spend figure its values add to. Made once, so an event looks
    /// only at its own outputs (measured: testing every output's event set was 0.6 % of the
    /// full path with 17 event types).
    event_outputs: Vec<Vec<(usize, Option<SpendField>)>>,
    /// Per allowlisted event: whether its written events are counted into the spend
    /// (`api_request`, `user_prompt`). Made once, so counting is an index and an increment.
    event_counted: Vec<Option<CountedEvent>>,
}

/// A slot's input value.
#[derive(Clone, Copy)]
enum SlotValue<'a> {
    Empty,
    One(Raw<'a>),
    Dup,
}

/// The slots of one scope (attributes, or resource attributes) and the verdict of each.
struct Slots<'b, 'a> {
    values: BumpVec<'b, SlotValue<'a>>,
    verdicts: BumpVec<'b, Option<Verdict>>,
}

impl<'b, 'a> Slots<'b, 'a> {
    fn new_in(bump: &'b Bump, len: usize) -> Self {
        let mut values = BumpVec::with_capacity_in(len, bump);
        values.resize(len, SlotValue::Empty);
        let mut verdicts = BumpVec::with_capacity_in(len, bump);
        verdicts.resize(len, None);
        Slots { values, verdicts }
    }

    /// Fills the slots named by `found`; a slot named twice is a duplicate.
    fn fill(&mut self, found: &Found<'_, 'a>) {
        for entry in &found.entries {
            if let Entry::Slot(s, value) = *entry {
                self.values[s] = match self.values[s] {
                    SlotValue::Empty => SlotValue::One(value),
                    _ => SlotValue::Dup,
                };
            }
        }
    }

    /// The verdict of the key `found` names at slot `s`.
    fn verdict(&self, s: usize) -> Verdict {
        match self.values[s] {
            SlotValue::Dup => Verdict::Dropped(AttributeDrop::Duplicate),
            _ => self.verdicts[s].unwrap_or(Verdict::Dropped(AttributeDrop::NotAllowlisted)),
        }
    }
}

/// Where a record's event time comes from when it has none of its own.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'s> {
    /// The CloudWatch event id (carried as `sourceEventId`).
    pub id: Option<&'s str>,
    /// The CloudWatch timestamp (ms), the time written when the record has none.
    pub timestamp_ms: Option<i64>,
}

impl Origin<'_> {
    /// No CloudWatch event behind the record (a raw stored message on its own).
    pub const NONE: Origin<'static> = Origin { id: None, timestamp_ms: None };
}

/// One sanitized record: the output message and the record's event time in nanoseconds.
struct Written {
    message: String,
    time_unix_nano: Option<u64>,
}

/// What one call keeps from event to event: the arena (reset per event), the pseudonyms, the
/// last resource written, and the buffer each output message is written in (then copied to a
/// string of its size: measured, growing a new buffer for each message was 4 % of the process
/// in `realloc`).
#[derive(Default)]
struct Scratch {
    bump: Bump,
    pseudonyms: Pseudonyms,
    resource: ResourceMemo,
    out: Vec<u8>,
}

/// The most bytes of resource values [`ResourceMemo`] holds (a client's are about 300).
const MAX_MEMO_BYTES: usize = 4096;

/// The resource part of the last message written, with the resource slot values it was made
/// from and their verdicts. The events of one client process share one resource, so most events
/// of a payload repeat the previous one's: comparing the slot values is cheaper than checking
/// and writing them again (measured: checking and writing the resource was 3.5 % of the full
/// path). What is written and counted is the same either way: the output is a function of the
/// slot values alone (pseudonyms are keyed digests of them). Lives for one call only.
#[derive(Default)]
struct ResourceMemo {
    /// Per resource slot: `None` empty, `Some(None)` duplicated, `Some(Some(raw))` one value.
    values: Vec<Option<Option<Box<str>>>>,
    verdicts: Vec<Option<Verdict>>,
    written: Vec<u8>,
    /// Whether the fields above describe a resource (not before the first one is written).
    held: bool,
}

impl ResourceMemo {
    /// Whether `slots` holds the values the memo was made from.
    fn matches(&self, slots: &Slots<'_, '_>) -> bool {
        self.held
            && self.values.len() == slots.values.len()
            && self.values.iter().zip(slots.values.iter()).all(|(held, value)| match (held, value) {
                (None, SlotValue::Empty) | (Some(None), SlotValue::Dup) => true,
                (Some(Some(held)), SlotValue::One(raw)) => **held == *raw.get(),
                _ => false,
            })
    }

    /// Remembers what `slots` gave: `written` and the verdicts. Not a resource whose values
    /// are over [`MAX_MEMO_BYTES`] (a copy of a huge value would be memory the event's size).
    fn hold(&mut self, slots: &Slots<'_, '_>, written: &[u8]) {
        let size: usize =
            slots.values.iter().map(|v| if let SlotValue::One(raw) = v { raw.get().len() } else { 0 }).sum();
        self.held = false;
        if size > MAX_MEMO_BYTES {
            return;
        }
        self.values.clear();
        self.values.extend(slots.values.iter().map(|value| match value {
            SlotValue::Empty => None,
            SlotValue::Dup => Some(None),
            SlotValue::One(raw) => Some(Some(raw.get().into())),
        }));
        self.verdicts.clear();
        self.verdicts.extend_from_slice(&slots.verdicts);
        self.written.clear();
        self.written.extend_from_slice(written);
        self.held = true;
    }
}

/// Most distinct identities whose pseudonyms one call remembers; past it, each is computed anew.
const MAX_CACHED_PSEUDONYMS: usize = 64;

/// The pseudonyms computed during one call, by output name and source value. A payload holds
/// the events of few developers, so one HMAC serves all of one developer's events (measured:
/// HMAC-SHA256 was a tenth of the sanitizer's own instructions). Lives for one call only.
/// Each entry starts with the [`Ends`] of its value, compared first: on a payload of many
/// distinct identities a lookup compared every cached value whole (measured: `memcmp` was 1 %
/// of the process).
#[derive(Default)]
struct Pseudonyms {
    entries: Vec<(Ends, Box<str>, Box<str>, String)>,
}

impl Pseudonyms {
    fn get(&mut self, key: &PseudonymKey, output: &str, value: &str, hex_chars: usize) -> String {
        let ends = Ends::of(value);
        let cached = self.entries.iter().find(|(e, o, v, _)| *e == ends && **v == *value && **o == *output);
        if let Some((_, _, _, pseudonym)) = cached {
            return pseudonym.clone();
        }
        let pseudonym = key.pseudonym(output, value, hex_chars);
        if self.entries.len() < MAX_CACHED_PSEUDONYMS {
            self.entries.push((ends, output.into(), value.into(), pseudonym.clone()));
        }
        pseudonym
    }
}

/// Collects a payload's written events, counts and spend.
struct Collector {
    out: SanitizedPayload,
}

impl Collector {
    fn new(capacity: usize) -> Self {
        let mut out = SanitizedPayload { events: Vec::with_capacity(capacity), ..SanitizedPayload::default() };
        out.counts.payloads = 1;
        Collector { out }
    }

    /// A control message: counted, nothing written.
    fn control_message(mut self) -> SanitizedPayload {
        self.out.counts.control_messages = 1;
        self.finish()
    }

    fn finish(mut self) -> SanitizedPayload {
        self.out.counts.written = self.out.events.len() as u64;
        self.out
    }
}

impl Sanitizer {
    pub fn new(allowlist: Allowlist, key: Option<PseudonymKey>) -> Self {
        let index_of = |slots: &crate::allowlist::Slots| {
            KeyIndex::new(slots.keys.iter().enumerate().map(|(slot, key)| (&**key, slot)))
        };
        let attribute_index = index_of(&allowlist.attribute_slots);
        let resource_index = index_of(&allowlist.resource_slots);
        let tool_parameter_index =
            KeyIndex::new(allowlist.tool_parameter_subkeys.iter().map(|(key, &slot)| (&**key, slot)));
        let tool_parameters_slot = allowlist.attribute_slots.get(crate::allowlist::TOOL_PARAMETERS_KEY);
        let event_outputs = (0..allowlist.events.len())
            .map(|event| {
                let on_event = allowlist.outputs.iter().enumerate().filter(|(_, o)| o.on.contains(event));
                on_event.map(|(i, o)| (i, SpendField::of_output(&o.key))).collect()
            })
            .collect();
        let event_counted = allowlist
            .events
            .iter()
            .map(|name| CountedEvent::ALL.into_iter().find(|counted| counted.event_name() == name))
            .collect();
        Sanitizer {
            allowlist,
            key,
            attribute_index,
            resource_index,
            tool_parameter_index,
            tool_parameters_slot,
            event_outputs,
            event_counted,
        }
    }

    /// The pseudonym key, if any.
    pub(crate) fn key(&self) -> Option<&PseudonymKey> {
        self.key.as_ref()
    }

    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    fn indexes(&self) -> Indexes<'_> {
        Indexes { attributes: &self.attribute_index, resource: &self.resource_index }
    }

    /// Sanitizes every event of a decoded payload, in input order. Infallible.
    pub fn sanitize_payload(&self, payload: &Payload) -> SanitizedPayload {
        let mut collector = Collector::new(payload.events.len());
        if payload.is_control_message() {
            return collector.control_message();
        }
        let mut scratch = Scratch::default();
        for event in &payload.events {
            self.sanitize_event(&mut scratch, &event.id, event.timestamp, payload.message(event), None, &mut collector);
        }
        collector.finish()
    }

    /// Reads a subscription envelope (the function's own input) and sanitizes each event as it
    /// is read ([`decode`]: fast, else exact), in input order. Returns the payload's fields and
    /// the sanitized events, or why it cannot be decoded. The result is
    /// [`Sanitizer::sanitize_payload`]'s on [`crate::decode_envelope`]'s payload.
    pub fn sanitize_envelope(
        &self,
        envelope: &[u8],
        max_decompressed: usize,
    ) -> Result<(Header, SanitizedPayload), DecodeError> {
        self.sanitize_source(Source::Envelope(envelope), max_decompressed)
            .map(|read| read.expect("an envelope in memory is always decided"))
    }

    /// [`Sanitizer::sanitize_envelope`] for one record of a Kinesis event (its data is base64
    /// of a payload's gzip, as an envelope's), its error naming the record.
    pub fn sanitize_record(
        &self,
        record: &kinesis::Record<'_>,
        max_decompressed: usize,
    ) -> Result<(Header, SanitizedPayload), RecordError> {
        record.read(|source| {
            self.sanitize_source(source, max_decompressed).map(|read| read.expect("a record is always decided"))
        })
    }

    /// [`Sanitizer::sanitize_envelope`] for an envelope read from `reader` a piece at a time
    /// (a file: not even its text is ever whole in memory). `None`: not taken (not the
    /// envelope's own form, a read error, or anything the fast reader refuses); the caller then
    /// reads the input again whole, which gives the result or the error. What it gives is what
    /// that gives (tested in `tests/cli.rs`).
    pub fn sanitize_envelope_reader(
        &self,
        reader: &mut dyn std::io::Read,
        max_decompressed: usize,
    ) -> Option<(Header, SanitizedPayload)> {
        self.sanitize_source(Source::Reader(reader), max_decompressed).ok().flatten()
    }

    /// Sanitizes each event of a payload as [`decode::read_events`] reads it. A control
    /// message's events (CloudWatch's own text) are not written: only counted.
    fn sanitize_source(
        &self,
        source: Source<'_>,
        max_decompressed: usize,
    ) -> Result<Option<(Header, SanitizedPayload)>, DecodeError> {
        let start = || (Collector::new(0), Scratch::default());
        let read = decode::read_events(source, max_decompressed, start, |(collector, scratch), event| {
            self.sanitize_event(scratch, event.id, event.timestamp, event.message, event.marks, collector);
        })?;
        Ok(read.map(|(header, (collector, _))| {
            let sanitized =
                if header.is_control_message() { Collector::new(0).control_message() } else { collector.finish() };
            (header, sanitized)
        }))
    }

    fn sanitize_event(
        &self,
        scratch: &mut Scratch,
        id: &str,
        timestamp: i64,
        message: Result<&str, Unreadable>,
        marks: Option<&[u64]>,
        collector: &mut Collector,
    ) {
        let origin = Origin { id: Some(id), timestamp_ms: Some(timestamp) };
        let result = match message {
            Ok(message) => self.sanitize_one(scratch, origin, message, marks, collector),
            Err(_) => Err(EventDrop::Unparseable),
        };
        collector.record(timestamp, result);
    }

    /// Sanitizes raw stored messages, one per line (blank lines skipped; a line that is not
    /// UTF-8 is counted `unparseable`), in input order. Each event's timestamp is its
    /// `timeUnixNano` (else `observedTimeUnixNano`) in milliseconds, else `default_timestamp`.
    pub fn sanitize_ndjson(&self, input: &[u8], default_timestamp: i64) -> SanitizedPayload {
        let mut batch = self.batch();
        for line in ndjson_lines(input) {
            let origin = Origin { id: None, timestamp_ms: Some(default_timestamp) };
            match line {
                Ok(line) => batch.push(origin, line),
                Err(()) => batch.drop_event(default_timestamp, EventDrop::Unparseable),
            }
        }
        batch.finish()
    }

    /// A batch of stored messages sanitized one at a time, as a payload's events are: for a
    /// reader that has its messages one by one (the OTLP receiver). The result has what a payload's
    /// has: lines in push order, counts and spend.
    pub fn batch(&self) -> Batch<'_> {
        Batch { sanitizer: self, collector: Collector::new(0), scratch: Scratch::default() }
    }

    /// Sanitizes one stored message. Returns the output message and the event time it carries (ms:
    /// the record's own, else `origin.timestamp_ms`), or why the whole event is dropped. `audit`
    /// hears about every key of a kept event.
    pub fn sanitize_message<A: Audit>(
        &self,
        origin: Origin<'_>,
        message: &str,
        audit: &mut A,
    ) -> Result<(String, Option<i64>), EventDrop> {
        self.sanitize_marked(origin, message, None, audit)
    }

    /// [`Sanitizer::sanitize_message`] with the message's marks, when the payload reader found
    /// them (the marked reader then goes first: the same result, sooner).
    pub(crate) fn sanitize_marked<A: Audit>(
        &self,
        origin: Origin<'_>,
        message: &str,
        marks: Option<&[u64]>,
        audit: &mut A,
    ) -> Result<(String, Option<i64>), EventDrop> {
        let mut sink = AuditOnly(audit);
        self.sanitize_one(&mut Scratch::default(), origin, message, marks, &mut sink)
            .map(|w| (w.message, w.time_unix_nano.map(nanos_to_ms)))
    }

    /// One event, in `scratch`'s arena (reset first, so the previous event's work is freed).
    /// `marks`: what the payload reader found in `message` while unescaping it, if it did.
    fn sanitize_one<R: Record>(
        &self,
        scratch: &mut Scratch,
        origin: Origin<'_>,
        message: &str,
        marks: Option<&[u64]>,
        record: &mut R,
    ) -> Result<Written, EventDrop> {
        scratch.bump.reset();
        let bump = &scratch.bump;
        let al = &self.allowlist;
        // The unescaped tool_parameters text, when it has escapes (step 2).
        let mut unescaped = String::new();

        // 1. Parse, matching keys against the allowlist; fill the slots; find the event name.
        let mut event = RawEvent::new_in(bump);
        parse::parse_event_into(message, marks, self.indexes(), &mut event).map_err(|_| EventDrop::Unparseable)?;
        let mut attributes = Slots::new_in(bump, al.attribute_slots.len());
        attributes.fill(&event.attributes);
        let (event_index, name) = self.event_name(&event, &attributes, record.audit())?;

        // 2. The tool_parameters JSON string: its allowlisted sub-keys fill their slots.
        let mut tool = Found::new_in(bump);
        let tool_verdict = self.tool_parameters(&mut unescaped, &attributes, &mut tool);
        attributes.fill(&tool);

        // 3. Build the output from the allowlist.
        let mut resource = Slots::new_in(bump, al.resource_slots.len());
        resource.fill(&event.resource);
        let time_unix_nano = time_nanos(event.time_unix_nano)
            .or_else(|| time_nanos(event.observed_time_unix_nano))
            .or_else(|| origin.timestamp_ms.and_then(ms_to_nanos));
        let message = self.write(
            (event_index, name),
            &mut attributes,
            &mut resource,
            time_unix_nano,
            origin.id,
            &mut scratch.pseudonyms,
            &mut scratch.resource,
            &mut scratch.out,
            record,
        );

        // 4. Tell the audit what happened to every input key.
        if let (Some(tp), Some(verdict)) = (self.tool_parameters_slot, tool_verdict) {
            attributes.verdicts[tp] = Some(verdict);
        }
        attributes.verdicts[0] = Some(Verdict::Kept); // event.name
        let audit = record.audit();
        self.report(audit, Scope::Attributes, &event.attributes, &attributes);
        self.report(audit, Scope::ToolParameters, &tool, &attributes);
        self.report(audit, Scope::Resource, &event.resource, &resource);
        Ok(Written { message, time_unix_nano })
    }

    /// Parses the `tool_parameters` string into `tool`; its verdict, if the event has one.
    /// `unescaped` holds the string's text when it had escapes (as it always has when stored as a
    /// JSON string): one copy, not a second one in the arena.
    fn tool_parameters<'b>(
        &self,
        unescaped: &'b mut String,
        attributes: &Slots<'b, 'b>,
        tool: &mut Found<'b, 'b>,
    ) -> Option<Verdict> {
        let SlotValue::One(raw) = attributes.values[self.tool_parameters_slot?] else {
            return None;
        };
        let text = match Scalar::from_json(raw.get()) {
            Scalar::Str(Cow::Borrowed(text)) => Some(text),
            Scalar::Str(Cow::Owned(text)) => {
                *unescaped = text;
                Some(unescaped.as_str())
            }
            _ => None,
        };
        if text.is_some_and(|text| parse::parse_object_into(text, &self.tool_parameter_index, tool).is_ok()) {
            Some(Verdict::Extracted)
        } else {
            tool.clear();
            Some(Verdict::Dropped(AttributeDrop::WrongKind))
        }
    }

    /// The output message: body, attributes (allowlist order), resource, time, source id.
    #[allow(clippy::too_many_arguments)]
    fn write<R: Record>(
        &self,
        (event_index, name): (usize, &str),
        attributes: &mut Slots<'_, '_>,
        resource: &mut Slots<'_, '_>,
        time_unix_nano: Option<u64>,
        source_id: Option<&str>,
        pseudonyms: &mut Pseudonyms,
        memo: &mut ResourceMemo,
        out: &mut Vec<u8>,
        record: &mut R,
    ) -> String {
        let al = &self.allowlist;
        out.clear();
        out.extend_from_slice(b"{\"body\":\"");
        out.extend_from_slice(BODY_PREFIX.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\",\"attributes\":{\"event.name\":\"");
        out.extend_from_slice(name.as_bytes());
        out.push(b'"');
        let mut spend = Spend::default();
        if let Some(&Some(counted)) = self.event_counted.get(event_index) {
            spend.count(counted);
        }
        // Outputs not kept on this event are not looked at: their slots keep no verdict, so they
        // are reported dropped as not allowlisted.
        for &(i, field) in self.event_outputs.get(event_index).map_or(&[][..], Vec::as_slice) {
            let output = &al.outputs[i];
            if let Some(value) = self.evaluate(output, attributes, pseudonyms) {
                out.push(b',');
                out.extend_from_slice(&output.key_json);
                value.write_json(out);
                if let Some(field) = field {
                    match value {
                        Kept::Float(x) => spend.add(field, x),
                        Kept::Int(n) => spend.add(field, n as f64),
                        _ => {}
                    }
                }
            }
        }
        out.push(b'}');
        if memo.matches(resource) {
            out.extend_from_slice(&memo.written);
            resource.verdicts.copy_from_slice(&memo.verdicts);
        } else {
            let start = out.len();
            let mut first = true;
            for output in &al.resource_outputs {
                if let Some(value) = self.evaluate(output, resource, pseudonyms) {
                    out.extend_from_slice(if first { b",\"resource\":{\"attributes\":{" } else { b"," });
                    first = false;
                    out.extend_from_slice(&output.key_json);
                    value.write_json(out);
                }
            }
            if !first {
                out.extend_from_slice(b"}}");
            }
            memo.hold(resource, &out[start..]);
        }
        if let Some(nanos) = time_unix_nano {
            out.extend_from_slice(b",\"timeUnixNano\":\"");
            out.extend_from_slice(itoa::Buffer::new().format(nanos).as_bytes());
            out.push(b'"');
        }
        if let Some(id) = source_id {
            out.extend_from_slice(b",\"sourceEventId\":");
            // Digits, or `sha256:` and hex digits.
            Kept::Plain(carried_id(id)).write_json(out);
        }
        out.push(b'}');
        record.spend(&spend);
        // Every byte written is ASCII punctuation, allowlist text, digits, or serde_json output.
        match simdutf8::basic::from_utf8(out) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(out).into_owned(),
        }
    }

    /// Tells `audit` the verdict of every key `found` holds, and the count of hidden ones.
    fn report<A: Audit>(&self, audit: &mut A, scope: Scope, found: &Found<'_, '_>, slots: &Slots<'_, '_>) {
        let names = match scope {
            Scope::Resource => &self.allowlist.resource_slots,
            Scope::Attributes | Scope::ToolParameters => &self.allowlist.attribute_slots,
        };
        for entry in &found.entries {
            match entry {
                Entry::Slot(s, _) => {
                    let name = &*names.keys[*s];
                    let name = match scope {
                        Scope::ToolParameters => name.strip_prefix("tool_parameters.").unwrap_or(name),
                        _ => name,
                    };
                    audit.attribute(scope, name, slots.verdict(*s));
                }
                Entry::Other(key) => audit.attribute(scope, key, Verdict::Dropped(AttributeDrop::NotAllowlisted)),
            }
        }
        if found.hidden > 0 {
            audit.hidden(scope, found.hidden, AttributeDrop::NotAllowlisted);
        }
        if found.unnamed > 0 {
            audit.unnamed(scope, found.unnamed, AttributeDrop::NotAllowlisted);
        }
        if found.repeated > 0 {
            audit.unnamed(scope, found.repeated, AttributeDrop::Duplicate);
        }
    }

    /// The event name, agreed by every source present, and kept by the allowlist: its index in
    /// the allowlist's events, and the name.
    fn event_name<'e, A: Audit>(
        &self,
        event: &RawEvent<'_, 'e>,
        attributes: &Slots<'_, 'e>,
        audit: &mut A,
    ) -> Result<(usize, &str), EventDrop> {
        let mut found: Option<Cow<'e, str>> = None;
        let mut agree = |candidate: Option<Cow<'e, str>>| -> Result<(), EventDrop> {
            let candidate = candidate.ok_or(EventDrop::AmbiguousEventName)?;
            match &found {
                Some(existing) if *existing != candidate => Err(EventDrop::AmbiguousEventName),
                Some(_) => Ok(()),
                None => {
                    found = Some(candidate);
                    Ok(())
                }
            }
        };
        match attributes.values[0] {
            SlotValue::Empty => {}
            SlotValue::Dup => return Err(EventDrop::AmbiguousEventName),
            SlotValue::One(raw) => agree(string_of(raw))?,
        }
        for (raw, prefix_required) in [(event.body, true), (event.event_name, false)] {
            let Some(raw) = raw else { continue };
            if raw.get() == "null" {
                continue;
            }
            let name = string_of(raw).and_then(|s| match without_body_prefix(s) {
                Ok(rest) => Some(rest),
                Err(_) if prefix_required => None,
                Err(s) => Some(s),
            });
            agree(name)?;
        }
        let name = found.ok_or(EventDrop::NoEventName)?;
        if !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            audit.event_name(&name);
        }
        let events = &self.allowlist.events;
        events.iter().position(|e| *e == name).map(|i| (i, events[i].as_str())).ok_or(EventDrop::EventNotAllowed)
    }

    /// The output value of one allowlisted output, and the verdict of every slot it reads.
    fn evaluate<'a>(
        &self,
        output: &Output,
        slots: &mut Slots<'_, 'a>,
        pseudonyms: &mut Pseudonyms,
    ) -> Option<Kept<'a>> {
        let (values, verdicts) = (&slots.values, &mut slots.verdicts);
        match &output.rule {
            Rule::Copy { slot, kind } => checked(kind, values[*slot], &mut verdicts[*slot]),
            Rule::Extract { slot, passthrough, kind } => {
                let extracted = checked(kind, values[*slot], &mut verdicts[*slot]);
                if extracted.is_some() {
                    supersede(values[*passthrough], &mut verdicts[*passthrough]);
                    return extracted;
                }
                checked(kind, values[*passthrough], &mut verdicts[*passthrough])
            }
            Rule::Pseudonym { sources, passthrough, hex_chars, passthrough_kind } => {
                let mut result = None;
                for &source in sources {
                    if result.is_some() {
                        supersede(values[source], &mut verdicts[source]);
                        continue;
                    }
                    let SlotValue::One(raw) = values[source] else {
                        continue;
                    };
                    let verdict = match (Scalar::from_json(raw.get()), &self.key) {
                        (Scalar::Str(s), _) if s.trim().is_empty() => Verdict::Dropped(AttributeDrop::WrongKind),
                        (Scalar::Str(s), _) if s.len() > MAX_PSEUDONYM_SOURCE_LEN => {
                            Verdict::Dropped(AttributeDrop::TooLong)
                        }
                        (Scalar::Str(_), None) => Verdict::Dropped(AttributeDrop::NoPseudonymKey),
                        (Scalar::Str(s), Some(key)) => {
                            result = Some(Kept::Plain(Cow::Owned(pseudonyms.get(key, &output.key, &s, *hex_chars))));
                            Verdict::Pseudonymized
                        }
                        _ => Verdict::Dropped(AttributeDrop::WrongKind),
                    };
                    verdicts[source] = Some(verdict);
                }
                if result.is_some() {
                    supersede(values[*passthrough], &mut verdicts[*passthrough]);
                    return result;
                }
                checked(passthrough_kind, values[*passthrough], &mut verdicts[*passthrough])
            }
        }
    }
}

/// Stored messages sanitized one at a time into one [`SanitizedPayload`] ([`Sanitizer::batch`]).
pub struct Batch<'s> {
    sanitizer: &'s Sanitizer,
    collector: Collector,
    scratch: Scratch,
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("counts", &self.collector.out.counts).finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Sanitizes one stored message. Its line's timestamp is the record's own time, else
    /// `origin.timestamp_ms` (else 0).
    pub fn push(&mut self, origin: Origin<'_>, message: &str) {
        let default = origin.timestamp_ms.unwrap_or(0);
        let result = self.sanitizer.sanitize_one(&mut self.scratch, origin, message, None, &mut self.collector);
        let timestamp = match &result {
            Ok(written) => written.time_unix_nano.map_or(default, nanos_to_ms),
            Err(_) => default,
        };
        self.collector.record(timestamp, result);
    }

    /// Sanitizes one metric data point ([`crate::metrics`]) with `id` as its `sourceEventId`.
    /// Its line's timestamp is the point's own time, else `received_ms`.
    pub fn push_point(&mut self, point: &MetricPoint<'_>, id: &str, received_ms: i64) {
        let mut drops = [0; AttributeDrop::ALL.len()];
        let result = self.sanitizer.sanitize_point(point, id, &mut drops);
        let timestamp = match point.time_unix_nano {
            0 => received_ms,
            nanos => nanos_to_ms(nanos),
        };
        match result {
            Ok(message) => {
                for (reason, n) in AttributeDrop::ALL.into_iter().zip(drops) {
                    self.collector.out.counts.drop_attributes(reason, n);
                }
                self.collector.record(timestamp, Ok(Written { message, time_unix_nano: None }));
            }
            Err(reason) => self.collector.record(timestamp, Err(reason)),
        }
    }

    /// Counts a received event dropped before it could be read, for `reason`.
    pub fn drop_event(&mut self, timestamp: i64, reason: EventDrop) {
        self.collector.record(timestamp, Err(reason));
    }

    /// The lines, counts and spend of every message pushed.
    pub fn finish(self) -> SanitizedPayload {
        self.collector.finish()
    }
}

/// Where one event's results go: the audit of its keys, and the spend it wrote.
trait Record {
    type Audit: Audit;
    fn audit(&mut self) -> &mut Self::Audit;
    fn spend(&mut self, spend: &Spend);
}

impl Collector {
    fn record(&mut self, timestamp: i64, result: Result<Written, EventDrop>) {
        self.out.counts.received += 1;
        match result {
            Ok(written) => self.out.events.push(SanitizedEvent { timestamp, message: written.message }),
            Err(reason) => self.out.counts.drop_event(reason),
        }
    }
}

impl Record for Collector {
    type Audit = Counts;
    fn audit(&mut self) -> &mut Counts {
        &mut self.out.counts
    }
    fn spend(&mut self, spend: &Spend) {
        self.out.spend.merge(spend);
    }
}

/// A single message's audit, without spend.
struct AuditOnly<'a, A>(&'a mut A);

impl<A: Audit> Record for AuditOnly<'_, A> {
    type Audit = A;
    fn audit(&mut self) -> &mut A {
        self.0
    }
    fn spend(&mut self, _spend: &Spend) {}
}

/// The non-blank lines of `input`, each as UTF-8 or `Err(())`.
pub(crate) fn ndjson_lines(input: &[u8]) -> impl Iterator<Item = Result<&str, ()>> {
    input
        .split(|&b| b == b'\n')
        .filter(|line| !line.trim_ascii().is_empty())
        .map(|line| std::str::from_utf8(line).map_err(|_| ()))
}

fn checked<'a>(kind: &crate::kind::Kind, slot: SlotValue<'a>, verdict: &mut Option<Verdict>) -> Option<Kept<'a>> {
    match slot {
        SlotValue::Empty => None,
        SlotValue::Dup => {
            *verdict = Some(Verdict::Dropped(AttributeDrop::Duplicate));
            None
        }
        SlotValue::One(raw) => match kind.check(Scalar::from_json(raw.get())) {
            Ok(kept) => {
                *verdict = Some(Verdict::Kept);
                Some(kept)
            }
            Err(reason) => {
                *verdict = Some(Verdict::Dropped(reason));
                None
            }
        },
    }
}

fn supersede(slot: SlotValue<'_>, verdict: &mut Option<Verdict>) {
    *verdict = match slot {
        SlotValue::Empty => None,
        SlotValue::One(_) => Some(Verdict::Dropped(AttributeDrop::Superseded)),
        SlotValue::Dup => Some(Verdict::Dropped(AttributeDrop::Duplicate)),
    };
}

fn string_of(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    match Scalar::from_json(raw.get()) {
        Scalar::Str(s) => Some(s),
        _ => None,
    }
}

/// `s` without [`BODY_PREFIX`] (borrowed where `s` is), or `s` itself if it lacks the prefix.
fn without_body_prefix(s: Cow<'_, str>) -> Result<Cow<'_, str>, Cow<'_, str>> {
    match s {
        Cow::Borrowed(b) => b.strip_prefix(BODY_PREFIX).map(Cow::Borrowed).ok_or(s),
        Cow::Owned(ref o) => o.strip_prefix(BODY_PREFIX).map(|rest| Cow::Owned(rest.to_owned())).ok_or(s),
    }
}

/// The source event id as carried in the output: CloudWatch ids (digits) as they are, anything
/// else as `sha256:` and 32 hex characters of its digest, so it is still a stable dedup key.
fn carried_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty() && id.len() <= MAX_PLAIN_SOURCE_ID_LEN && all_digits(id) {
        Cow::Borrowed(id)
    } else {
        let digest = Sha256::digest(id.as_bytes());
        Cow::Owned(format!("sha256:{}", &hex::encode(digest)[..32]))
    }
}

/// A positive nanosecond timestamp (JSON number, decimal string, or AnyValue of either).
fn time_nanos(raw: Option<Raw<'_>>) -> Option<u64> {
    let nanos = match Scalar::from_json(raw?.get()) {
        Scalar::Int(n) => u64::try_from(n).ok()?,
        Scalar::Str(s) if !s.is_empty() && s.len() <= MAX_TIME_DIGITS && all_digits(&s) => s.parse().ok()?,
        _ => return None,
    };
    (nanos > 0).then_some(nanos)
}

/// Whether `s` is all ASCII digits: every byte looked at, with no early exit, so the compiler
/// checks a CloudWatch id's 56 digits several at a time (measured: a quarter of the
/// instructions of `all`, which stops at the first non-digit).
fn all_digits(s: &str) -> bool {
    s.bytes().fold(true, |all, b| all & b.is_ascii_digit())
}

fn nanos_to_ms(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

fn ms_to_nanos(ms: i64) -> Option<u64> {
    u64::try_from(ms).ok().filter(|&ms| ms > 0)?.checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::EventDrop::*;

    const ALLOWLIST: &str = r#"events = ["api_request", "tool_result"]
[attributes]
"model" = { kind = "token", max_len = 64 }
"input_tokens" = { kind = "integer", min = 0, max = 1000000 }
[resource_attributes]
"service.name" = { kind = "enum", values = ["claude-code"] }
[tool_parameters]
"subagent_type" = { output = "tool.subagent_type", kind = "token", max_len = 64 }
[pseudonyms."user.pseudonym"]
from = ["user.email", "user.id"]
hex_chars = 16
"#;

    fn sanitizer(with_key: bool) -> Sanitizer {
        let key = with_key.then(|| PseudonymKey::new(b"unit-test-key-0123456789").unwrap());
        Sanitizer::new(Allowlist::from_toml(ALLOWLIST).unwrap(), key)
    }

    #[test]
    fn every_recorded_record_is_read_by_the_marked_reader() {
        // The fast path is the path real traffic takes: the client's records never fall back.
        let sanitizer = Sanitizer::new(Allowlist::embedded(), None);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/recorded");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") && !path.ends_with("inventory.json") {
                let payload = crate::decode::decode_envelope(&std::fs::read(&path).unwrap(), 1 << 24).unwrap();
                for message in payload.events.iter().filter_map(|e| payload.message(e).ok()) {
                    assert!(parse::marked_reader_takes(message, sanitizer.indexes()), "{}", path.display());
                    read += 1;
                }
            }
        }
        assert!(read >= 100, "{read} recorded records");
    }

    #[test]
    fn the_api_requests_and_user_prompts_written_are_counted() {
        // Oracle: the written messages' own event names, counted after the fact.
        let sanitizer = Sanitizer::new(Allowlist::embedded(), None);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/recorded");
        let mut total = Spend::default();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") && !path.ends_with("inventory.json") {
                let payload = crate::decode::decode_envelope(&std::fs::read(&path).unwrap(), 1 << 24).unwrap();
                let out = sanitizer.sanitize_payload(&payload);
                let named = |name: &str| {
                    let field = format!(r#""event.name":"{name}""#);
                    out.events.iter().filter(|e| e.message.contains(&field)).count() as u64
                };
                let counted = (out.spend.api_requests, out.spend.user_prompts);
                assert_eq!(counted, (named("api_request"), named("user_prompt")), "{}", path.display());
                total.merge(&out.spend);
            }
        }
        assert!(total.api_requests >= 10 && total.user_prompts >= 10, "{total:?}");
        // A dropped event, and one not counted, add nothing.
        let mut batch = sanitizer.batch();
        batch.push(Origin::NONE, r#"{"body":"claude_code.user_prompt","attributes":{"event.name":"api_request"}}"#);
        batch.push(Origin::NONE, r#"{"body":"claude_code.tool_result"}"#);
        batch.push(Origin::NONE, r#"{"body":"claude_code.user_prompt"}"#);
        let out = batch.finish();
        assert_eq!((out.counts.written, out.spend.api_requests, out.spend.user_prompts), (2, 0, 1));
    }

    fn one(message: &str) -> Result<String, EventDrop> {
        sanitizer(true).sanitize_message(Origin::NONE, message, &mut Counts::default()).map(|(m, _)| m)
    }

    #[test]
    fn output_is_built_from_the_allowlist_only() {
        let out = one(r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","prompt":"CANARY","input_tokens":"42","model":"m-1","x":{"y":"CANARY"}},"resource":{"attributes":{"service.name":"claude-code","host.name":"CANARY"}},"scope":{"name":"CANARY"}}"#).unwrap();
        assert_eq!(
            out,
            r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","input_tokens":42,"model":"m-1"},"resource":{"attributes":{"service.name":"claude-code"}}}"#
        );
    }

    #[test]
    fn the_event_name_comes_from_any_source_that_agrees() {
        let kept = r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request"}}"#;
        assert!(one(kept).is_ok());
        assert!(one(r#"{"body":{"stringValue":"claude_code.api_request"}}"#).is_ok());
        assert!(one(r#"{"attributes":{"event.name":"api_request"}}"#).is_ok());
        assert!(one(r#"{"eventName":"claude_code.api_request"}"#).is_ok());
        assert!(one(r#"{"eventName":"api_request","body":null}"#).is_ok());
        assert_eq!(
            one(r#"{"body":"claude_code.api_request","attributes":{"event.name":"tool_result"}}"#),
            Err(AmbiguousEventName)
        );
        assert_eq!(one(r#"{"body":"CANARY text","attributes":{"event.name":"api_request"}}"#), Err(AmbiguousEventName));
        assert_eq!(one(r#"{"attributes":{"event.name":5}}"#), Err(AmbiguousEventName));
        assert_eq!(
            one(r#"{"attributes":{"event.name":"api_request","event":{"name":"api_request"}}}"#),
            Err(AmbiguousEventName)
        );
        assert_eq!(one(r#"{"attributes":{"model":"m"}}"#), Err(NoEventName));
        assert_eq!(one(r#"{"body":"claude_code.user_prompt"}"#), Err(EventNotAllowed));
        assert_eq!(one("CANARY"), Err(Unparseable));
    }

    #[test]
    fn tool_parameters_give_only_the_listed_sub_keys() {
        let expected = r#"{"body":"claude_code.tool_result","attributes":{"event.name":"tool_result","tool.subagent_type":"general-purpose"}}"#;
        let as_string = r#"{"body":"claude_code.tool_result","attributes":{"tool_parameters":"{\"subagent_type\":\"general-purpose\",\"prompt\":\"CANARY\"}","tool_input":"CANARY"}}"#;
        assert_eq!(one(as_string).unwrap(), expected);
        let as_object = r#"{"body":"claude_code.tool_result","attributes":{"tool_parameters":{"subagent_type":"general-purpose","prompt":"CANARY"}}}"#;
        assert_eq!(one(as_object).unwrap(), expected);
        let as_kvlist = r#"{"body":"claude_code.tool_result","attributes":[{"key":"tool_parameters","value":{"kvlistValue":{"values":[{"key":"subagent_type","value":{"stringValue":"general-purpose"}}]}}}]}"#;
        assert_eq!(one(as_kvlist).unwrap(), expected);
        let not_json = r#"{"body":"claude_code.tool_result","attributes":{"tool_parameters":"CANARY {"}}"#;
        assert!(!one(not_json).unwrap().contains("CANARY"));
        let smuggled = r#"{"body":"claude_code.tool_result","attributes":{"tool_parameters":"{\"subagent_type\":\"CANARY with spaces\"}"}}"#;
        assert!(!one(smuggled).unwrap().contains("tool.subagent_type"));
    }

    #[test]
    fn identities_become_pseudonyms_or_nothing() {
        let m = r#"{"body":"claude_code.api_request","attributes":{"user.email":"CANARY@example.com","user.id":"CANARY-id"}}"#;
        let with_key = one(m).unwrap();
        assert!(!with_key.contains("CANARY"));
        let v: serde_json::Value = serde_json::from_str(&with_key).unwrap();
        let p = v["attributes"]["user.pseudonym"].as_str().unwrap();
        assert_eq!(p.len(), 16);
        // The first source present is used: the same email gives the same pseudonym.
        let email_only =
            one(r#"{"body":"claude_code.api_request","attributes":{"user.email":"CANARY@example.com"}}"#).unwrap();
        assert!(email_only.contains(p));

        let mut counts = Counts::default();
        let without_key = sanitizer(false).sanitize_message(Origin::NONE, m, &mut counts).unwrap().0;
        assert_eq!(without_key, r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request"}}"#);
        assert_eq!(counts.attributes_dropped(AttributeDrop::NoPseudonymKey), 2);
    }

    #[test]
    fn cached_pseudonyms_are_the_computed_ones() {
        let key = PseudonymKey::new(b"unit-test-key-0123456789").unwrap();
        let mut cache = Pseudonyms::default();
        // Past the cache's bound too: those are computed each time, with the same result.
        for round in 0..2 {
            for i in 0..MAX_CACHED_PSEUDONYMS + 10 {
                let value = format!("dev-{i}@example.com");
                for output in ["user.pseudonym", "other.pseudonym"] {
                    assert_eq!(cache.get(&key, output, &value, 16), key.pseudonym(output, &value, 16), "{round} {i}");
                }
            }
        }
        assert_eq!(cache.entries.len(), MAX_CACHED_PSEUDONYMS);
        // The cache is per output: one value under two outputs gives two pseudonyms.
        assert_ne!(cache.get(&key, "user.pseudonym", "a@b", 16), cache.get(&key, "other.pseudonym", "a@b", 16));
    }

    #[test]
    fn sanitizing_is_idempotent_for_derived_keys() {
        let m = r#"{"body":"claude_code.tool_result","attributes":{"user.id":"CANARY","tool_parameters":"{\"subagent_type\":\"Explore\"}"}}"#;
        let once = one(m).unwrap();
        assert_eq!(one(&once).unwrap(), once);
        // A pseudonym-shaped value passes; anything else under the derived key does not.
        let forged = r#"{"body":"claude_code.tool_result","attributes":{"user.pseudonym":"CANARY-not-hex"}}"#;
        assert!(!one(forged).unwrap().contains("CANARY"));
    }

    #[test]
    fn the_source_id_is_carried_or_digested() {
        let s = sanitizer(true);
        let m = r#"{"body":"claude_code.api_request"}"#;
        let (out, _) =
            s.sanitize_message(Origin { id: Some("3462123"), timestamp_ms: None }, m, &mut Counts::default()).unwrap();
        assert!(out.ends_with(r#","sourceEventId":"3462123"}"#), "{out}");
        let (out, _) = s
            .sanitize_message(Origin { id: Some("CANARY-id"), timestamp_ms: None }, m, &mut Counts::default())
            .unwrap();
        assert!(!out.contains("CANARY") && out.contains(r#""sourceEventId":"sha256:"#), "{out}");
    }

    #[test]
    fn a_resource_repeated_from_the_last_event_is_written_and_counted_as_if_new() {
        use proptest::prelude::*;
        // Each event alone (a fresh scratch) against all in one call (the resource memo), over
        // sequences that repeat, change, duplicate and drop resource values, in both shapes.
        let resources = [
            r#"{"attributes":{"service.name":"claude-code","service.version":"2.1.332","os.type":"linux"}}"#,
            r#"{"attributes":{"service.name":"claude-code","service.version":"2.1.333","os.type":"linux"}}"#,
            r#"{"attributes":{"service.name":"claude-code","service.version":"CANARY x","host.name":"CANARY"}}"#,
            r#"{"attributes":[{"key":"service.name","value":{"stringValue":"claude-code"}},{"key":"service.name","value":{"stringValue":"claude-code"}}]}"#,
            r#"{"attributes":[{"key":"service.name","value":{"stringValue":"claude-code"}},{"key":"service.version","value":{"stringValue":"2.1.332"}},{"key":"os.type","value":{"stringValue":"linux"}}]}"#,
            r#"{"attributes":{}}"#,
            r#"null"#,
        ];
        let sanitizer = Sanitizer::new(Allowlist::embedded(), PseudonymKey::new(b"unit-test-key-0123456789").ok());
        let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(picks in prop::collection::vec(0..resources.len(), 1..12))| {
            let lines: Vec<String> = picks
                .iter()
                .map(|&i| format!(r#"{{"body":"claude_code.api_request","attributes":{{"event.name":"api_request","input_tokens":"5"}},"resource":{}}}"#, resources[i]))
                .collect();
            let together = sanitizer.sanitize_ndjson(lines.join("\n").as_bytes(), 1000);
            let mut alone = Vec::new();
            let mut counts = Counts::default();
            for line in &lines {
                let out = sanitizer.sanitize_ndjson(line.as_bytes(), 1000);
                counts.merge(&out.counts);
                alone.extend(out.events.into_iter().map(|e| e.message));
            }
            let together_messages: Vec<String> = together.events.into_iter().map(|e| e.message).collect();
            prop_assert_eq!(together_messages, alone);
            counts.payloads = together.counts.payloads; // one call against one per line
            prop_assert_eq!(together.counts, counts);
        });
    }

    #[test]
    fn ndjson_lines_with_their_own_times() {
        let input = b"{\"body\":\"claude_code.api_request\",\"timeUnixNano\":\"3000000000\"}\n\n\xff\xfe\n{\"body\":\"claude_code.api_request\",\"observedTimeUnixNano\":1000000000}\n{\"body\":\"claude_code.api_request\"}\n";
        let out = sanitizer(true).sanitize_ndjson(input, 2000);
        assert_eq!(out.events.iter().map(|e| e.timestamp).collect::<Vec<_>>(), [3000, 1000, 2000]);
        assert_eq!(out.counts.received, 4);
        assert_eq!(out.counts.dropped(Unparseable), 1);
        assert_eq!(out.counts.written, 3);
    }

    #[test]
    fn counts_every_dropped_attribute() {
        let mut counts = Counts::default();
        let m = r#"{"body":"claude_code.api_request","attributes":{"prompt":"x","model":"has space","input_tokens":-1,"user.email":"e","user.id":"i"},"resource":{"attributes":{"service.name":"other","os":"x"}}}"#;
        sanitizer(true).sanitize_message(Origin::NONE, m, &mut counts).unwrap();
        use AttributeDrop::*;
        let got: Vec<(AttributeDrop, u64)> = counts.attribute_drops().collect();
        assert_eq!(got, [(NotAllowlisted, 2), (WrongKind, 2), (OutOfRange, 1), (Superseded, 1)]);
    }

    #[test]
    fn a_key_restricted_to_events_is_kept_only_on_them() {
        let text = r#"events = ["api_request", "tool_result", "tool_decision"]
[attributes]
"decision" = { kind = "enum", values = ["accept", "reject"], events = ["tool_decision"] }
"duration_ms" = { kind = "integer", min = 0, max = 100, events = ["api_request", "tool_result"] }
[tool_parameters]
"subagent_type" = { output = "tool.subagent_type", kind = "token", max_len = 64, events = ["tool_result"] }
"#;
        let s = Sanitizer::new(Allowlist::from_toml(text).unwrap(), None);
        let run = |event: &str| {
            let m = format!(
                r#"{{"body":"claude_code.{event}","attributes":{{"decision":"accept","duration_ms":5,"tool_parameters":"{{\"subagent_type\":\"Explore\"}}","tool.subagent_type":"Plan"}}}}"#
            );
            let mut counts = Counts::default();
            let (out, _) = s.sanitize_message(Origin::NONE, &m, &mut counts).unwrap();
            (out, counts.attribute_drops().collect::<Vec<_>>())
        };
        let (decision, drops) = run("tool_decision");
        assert_eq!(
            decision,
            r#"{"body":"claude_code.tool_decision","attributes":{"event.name":"tool_decision","decision":"accept"}}"#
        );
        assert_eq!(drops, [(AttributeDrop::NotAllowlisted, 3)], "duration_ms, tool_parameters, tool.subagent_type");
        let (result, drops) = run("tool_result");
        assert_eq!(
            result,
            r#"{"body":"claude_code.tool_result","attributes":{"event.name":"tool_result","duration_ms":5,"tool.subagent_type":"Explore"}}"#
        );
        assert_eq!(drops, [(AttributeDrop::NotAllowlisted, 1), (AttributeDrop::Superseded, 1)]);
        let (request, _) = run("api_request");
        assert_eq!(
            request,
            r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","duration_ms":5}}"#
        );
    }
}
