//! Counters for what happened to every received event and every attribute.
//!
//! Trusts nothing; guarantees that its `Display`/`Serialize` output holds only fixed reason names
//! and numbers, never a key or value taken from a payload.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Why a whole received event was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventDrop {
    /// The stored message is not JSON, or not a JSON object.
    Unparseable,
    /// No event name could be found (`event.name`, `body` or `eventName`).
    NoEventName,
    /// The event-name sources present disagree with each other.
    AmbiguousEventName,
    /// The event is not one the allowlist keeps.
    EventNotAllowed,
    /// A metric data point (the OTLP endpoint): the metric is not one `[metrics]` keeps.
    MetricNotAllowed,
    /// A metric data point of a cumulative sum: only delta sums are kept (a cumulative series
    /// is re-sent at every export; `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta`).
    CumulativeTemporality,
    /// A metric data point of a gauge, histogram, exponential histogram or summary: only sums
    /// are kept.
    MetricTypeNotKept,
    /// A metric data point whose value is missing or not of the metric's kind.
    WrongValue,
}

impl EventDrop {
    pub const ALL: [EventDrop; 8] = [
        EventDrop::Unparseable,
        EventDrop::NoEventName,
        EventDrop::AmbiguousEventName,
        EventDrop::EventNotAllowed,
        EventDrop::MetricNotAllowed,
        EventDrop::CumulativeTemporality,
        EventDrop::MetricTypeNotKept,
        EventDrop::WrongValue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventDrop::Unparseable => "unparseable",
            EventDrop::NoEventName => "no_event_name",
            EventDrop::AmbiguousEventName => "ambiguous_event_name",
            EventDrop::EventNotAllowed => "event_not_allowed",
            EventDrop::MetricNotAllowed => "metric_not_allowed",
            EventDrop::CumulativeTemporality => "cumulative_temporality",
            EventDrop::MetricTypeNotKept => "metric_type_not_kept",
            EventDrop::WrongValue => "wrong_value",
        }
    }
}

/// Why one attribute of a kept event was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttributeDrop {
    /// The allowlist does not name the key.
    NotAllowlisted,
    /// The key is named but its value has the wrong type or shape.
    WrongKind,
    /// The key is named but its value is longer than the allowlist allows.
    TooLong,
    /// The key is named but its numeric value is outside the allowlist's bounds.
    OutOfRange,
    /// The key appears more than once (flat and nested, or repeated): fail closed.
    Duplicate,
    /// An identity attribute arrived but no pseudonym key was configured.
    NoPseudonymKey,
    /// Another source of the same output was used (e.g. `user.email` before `user.id`).
    Superseded,
}

impl AttributeDrop {
    pub const ALL: [AttributeDrop; 7] = [
        AttributeDrop::NotAllowlisted,
        AttributeDrop::WrongKind,
        AttributeDrop::TooLong,
        AttributeDrop::OutOfRange,
        AttributeDrop::Duplicate,
        AttributeDrop::NoPseudonymKey,
        AttributeDrop::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeDrop::NotAllowlisted => "not_allowlisted",
            AttributeDrop::WrongKind => "wrong_kind",
            AttributeDrop::TooLong => "too_long",
            AttributeDrop::OutOfRange => "out_of_range",
            AttributeDrop::Duplicate => "duplicate",
            AttributeDrop::NoPseudonymKey => "no_pseudonym_key",
            AttributeDrop::Superseded => "superseded",
        }
    }
}

/// Counts for one or more payloads. Invariant: `received == written + sum(dropped)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Subscription payloads seen (data and control).
    pub payloads: u64,
    /// `CONTROL_MESSAGE` payloads, skipped.
    pub control_messages: u64,
    /// Log events received in data payloads.
    pub received: u64,
    /// Sanitized events produced (to be written).
    pub written: u64,
    dropped: [u64; EventDrop::ALL.len()],
    attributes_dropped: [u64; AttributeDrop::ALL.len()],
}

impl Counts {
    pub fn drop_event(&mut self, reason: EventDrop) {
        self.dropped[reason as usize] += 1;
    }

    pub fn drop_attribute(&mut self, reason: AttributeDrop) {
        self.drop_attributes(reason, 1);
    }

    pub fn drop_attributes(&mut self, reason: AttributeDrop, count: u64) {
        self.attributes_dropped[reason as usize] += count;
    }

    pub fn dropped(&self, reason: EventDrop) -> u64 {
        self.dropped[reason as usize]
    }

    pub fn attributes_dropped(&self, reason: AttributeDrop) -> u64 {
        self.attributes_dropped[reason as usize]
    }

    /// All events dropped, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        self.payloads += other.payloads;
        self.control_messages += other.control_messages;
        self.received += other.received;
        self.written += other.written;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        for (a, b) in self.attributes_dropped.iter_mut().zip(other.attributes_dropped) {
            *a += b;
        }
    }

    /// Non-zero event drops as `(reason, count)`, in a fixed order.
    pub fn event_drops(&self) -> impl Iterator<Item = (EventDrop, u64)> + '_ {
        EventDrop::ALL.into_iter().map(|r| (r, self.dropped(r))).filter(|(_, n)| *n > 0)
    }

    /// Non-zero attribute drops as `(reason, count)`, in a fixed order.
    pub fn attribute_drops(&self) -> impl Iterator<Item = (AttributeDrop, u64)> + '_ {
        AttributeDrop::ALL.into_iter().map(|r| (r, self.attributes_dropped(r))).filter(|(_, n)| *n > 0)
    }
}

#[derive(Serialize)]
struct CountsView {
    payloads: u64,
    control_messages: u64,
    received: u64,
    written: u64,
    dropped: BTreeMap<&'static str, u64>,
    attributes_dropped: BTreeMap<&'static str, u64>,
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CountsView {
            payloads: self.payloads,
            control_messages: self.control_messages,
            received: self.received,
            written: self.written,
            dropped: self.event_drops().map(|(r, n)| (r.as_str(), n)).collect(),
            attributes_dropped: self.attribute_drops().map(|(r, n)| (r.as_str(), n)).collect(),
        }
        .serialize(serializer)
    }
}

/// One line of JSON: `{"payloads":1,"control_messages":0,"received":3,...}`.
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&line)
    }
}
