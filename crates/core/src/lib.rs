//! sanitizer-core: keeps only what `allowlist.toml` names of Claude Code OpenTelemetry log
//! events. Pure: no tokio, no AWS SDK, no HTTP, no I/O but the reader it is handed.
//!
//! Data flow (each stage is a module):
//!
//! ```text
//! envelope bytes ─▶ decode    base64 → size-capped gzip → payload JSON, streamed: each event
//!                              handed on as it is read (the payload is never whole in memory),
//!                              its message unescaped with its quotes and backslashes marked;
//!                              a Kinesis event's records read one at a time the same way
//!                 ─▶ parse     one stored OTel record → borrowed raw event (read from mark to
//!                              mark; serde_json for any shape the marked reader leaves)
//!                 ─▶ sanitize  the allowlist builds each output from empty (input order)
//! ```
//!
//! The AWS edge (`sanitizer-aws`: handler, plan, sinks, Kinesis batches, EMF metrics, config)
//! and the digest (`sanitizer-digest`) build on this crate; nothing here depends on them.
//! [`PseudonymKey`] derives every keyed digest (pseudonyms and, through [`StreamNamer`], stream
//! names). [`explain`](Explanation) says, per key, what the sanitizer did and why.
//!
//! # What this crate trusts
//! Only the allowlist it is given (checked when loaded) and the pseudonym key. Every payload
//! byte is untrusted: sizes are capped before anything is allocated for them, and each event
//! costs memory and time linear in its size, whatever its shape.
//!
//! # What this crate guarantees, and never logs
//! Output is built from empty by iterating the allowlist, never the input. No error message,
//! `Debug` output or summary produced by this crate contains a value taken from a payload.
//! Errors name a kind and a position; summaries name reasons and counts.

mod allowlist;
mod counts;
mod decode;
mod explain;
mod json;
mod kind;
pub mod kinesis;
mod metrics;
mod parse;
mod pseudonym;
mod sanitize;
mod spend;
mod value;

pub use allowlist::{Allowlist, AllowlistError, AllowlistErrorKind, EMBEDDED_ALLOWLIST, OutputKind};
pub use counts::{AttributeDrop, Counts, EventDrop};
pub use decode::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecodeError, Header, Payload, decode_envelope};
pub use explain::{
    CLAUDE_CODE_EVENTS, EventType, Explained, Explanation, MAX_SUMMARY_KEYS, Summary, escape, schema_shaped,
};
pub use kind::Written;
pub use metrics::{AttributeValue, MetricPoint, MetricShape, PointValue};
pub use pseudonym::{
    KeyError, KeyedDigest, MIN_KEY_BYTES, PseudonymKey, STREAM_DIGEST_HEX_LEN, STREAM_PREFIX, StreamNamer,
};
pub use sanitize::{Audit, Batch, Origin, SanitizedEvent, SanitizedPayload, Sanitizer, Scope, Verdict};
pub use spend::{Spend, SpendField};
