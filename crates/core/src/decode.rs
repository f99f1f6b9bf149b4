//! Decode: a subscription payload, as it arrives (a direct envelope
//! `{"awslogs":{"data":"<base64 gzip JSON>"}}`, a Kinesis record's base64 data, or an envelope
//! read from a file a piece at a time) → its events, in order, and its own fields.
//!
//! "Fast, else exact" is decided here, in [`read_events`], the one entry point every caller
//! uses (the Lambda's envelopes and Kinesis records, the CLI's `sanitize` and `explain`). The
//! fast reader ([`scan`]) streams base64, gzip and JSON through a small window and refuses
//! anything unusual; the exact reader (serde_json over the whole decompressed payload) reads
//! whatever the fast one refuses, and gives every error. Both hand over the same events
//! ([`EventRef`]); the caller starts afresh when the fast reader refuses.
//!
//! Trusts nothing about its input. Guarantees: memory is bounded by the decompressed-size cap
//! (both readers inflate through the one capped inflater, which refuses a payload past the cap,
//! never truncates it); errors name a kind and a byte or line/column position, never input
//! content, and no `Debug` here prints payload bytes.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

pub(crate) mod marks;
mod scan;

/// Default cap on the decompressed payload: 32 MiB, the template's `MaxDecompressedBytes`
/// default (`tests/deploy_template.rs` holds them equal). A subscription payload holds one
/// `PutLogEvents` batch (at most 1 MB of messages), so an ordinary one decompresses to a few MB;
/// anything near the cap is a gzip bomb or forged. A payload at the cap peaks at about twice its
/// size in the function (`crates/sanitizer-lambda/tests/memory_runtime.rs`), which sizes the
/// template's `FunctionMemoryMB` (docs/lambda.md, "The decompression cap").
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;

/// Why an envelope could not be decoded. Every variant names a kind and a position only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error(
        "envelope is not valid JSON of shape {{\"awslogs\":{{\"data\":\"...\"}}}} ({category} error at line {line}, column {column})"
    )]
    Envelope { category: &'static str, line: usize, column: usize },
    #[error("awslogs.data is not valid base64 (at byte {offset})")]
    Base64 { offset: usize },
    #[error("awslogs.data is not a valid gzip stream ({kind})")]
    Gzip { kind: &'static str },
    #[error("decompressed payload exceeds the cap of {limit} bytes")]
    TooLarge { limit: usize },
    #[error(
        "decompressed payload is not a valid subscription payload ({category} error at line {line}, column {column})"
    )]
    Payload { category: &'static str, line: usize, column: usize },
}

/// A serde_json error's category and position (its `Display` may repeat input values).
pub(crate) fn json_position(e: &serde_json::Error) -> (&'static str, usize, usize) {
    let category = match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    };
    (category, e.line(), e.column())
}

/// The payload's own fields (other fields, such as `owner`, are ignored).
#[derive(Clone)]
pub struct Header {
    pub message_type: String,
    pub log_group: String,
    pub log_stream: String,
}

/// Shape only: the group and stream names come from the payload.
impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header").field("control_message", &self.is_control_message()).finish_non_exhaustive()
    }
}

impl Header {
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`.
    pub fn is_control_message(&self) -> bool {
        self.message_type == "CONTROL_MESSAGE"
    }
}

/// Where a payload is read from.
pub(crate) enum Source<'a> {
    /// The JSON a Lambda receives from a subscription filter.
    Envelope(&'a [u8]),
    /// The payload's gzip, or base64 of that (a Kinesis record's data).
    Compressed(Compressed<'a>),
    /// An envelope read a piece at a time (a file: not even its text is ever whole in memory).
    /// Only the fast reader reads it: what it refuses, the caller reads again whole.
    Reader(&'a mut dyn std::io::Read),
}

/// A subscription payload as it arrives: its gzip, or base64 of that.
#[derive(Clone, Copy)]
pub(crate) enum Compressed<'a> {
    Base64(&'a [u8]),
    Gzip(&'a [u8]),
}

/// The form and length only: the bytes are payload.
impl fmt::Debug for Compressed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (form, len) = match self {
            Compressed::Base64(b) => ("Base64", b.len()),
            Compressed::Gzip(b) => ("Gzip", b.len()),
        };
        f.debug_struct(form).field("len", &len).finish()
    }
}

/// One event as read: borrowed from the reader's buffers, which the next event reuses.
pub(crate) struct EventRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) timestamp: i64,
    pub(crate) message: Result<&'a str, Unreadable>,
    /// The message's [`marks`], when the fast reader found them while it unescaped it.
    pub(crate) marks: Option<&'a [u64]>,
}

/// Names and lengths only: the id and the message are payload.
impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRef")
            .field("id_len", &self.id.len())
            .field("message_len", &self.message.map(str::len))
            .field("marks", &self.marks.map(<[u64]>::len))
            .finish_non_exhaustive()
    }
}

/// Reads a payload's events, handing each to `each` in order, and returns the payload's own
/// fields with what `each` made of the events, in `start()`'s state. The fast reader streams
/// the payload first; when it refuses it, the state it filled is dropped and the exact reader's
/// events are handed to a new one. `Ok(None)`: a [`Source::Reader`] the fast reader refuses
/// (the caller reads the input again whole). An error names a kind and a position.
pub(crate) fn read_events<T>(
    mut source: Source<'_>,
    max_decompressed: usize,
    mut start: impl FnMut() -> T,
    mut each: impl FnMut(&mut T, EventRef<'_>),
) -> Result<Option<(Header, T)>, DecodeError> {
    let mut state = start();
    let fast = match &mut source {
        Source::Reader(reader) => {
            let header = scan::read_envelope(&mut **reader, max_decompressed, scan::SIZES, |e| each(&mut state, e));
            return Ok(header.map(|header| (header, state)));
        }
        Source::Envelope(envelope) => envelope_text(envelope).and_then(|text| {
            scan::read(Compressed::Base64(text), max_decompressed, scan::SIZES, |e| each(&mut state, e))
        }),
        Source::Compressed(input) => scan::read(*input, max_decompressed, scan::SIZES, |e| each(&mut state, e)),
    };
    if let Some(header) = fast {
        return Ok(Some((header, state)));
    }
    drop(state);
    let mut state = start();
    let header = read_exact(source, max_decompressed, |e| each(&mut state, e))?;
    Ok(Some((header, state)))
}

/// The tokens an envelope in its own form opens with, up to its data string's quote: any JSON
/// whitespace may surround each. The one place the envelope is sniffed (the fast reader's
/// envelopes, and `kinesis`' telling an envelope from a Kinesis event).
const OPENING: [&[u8]; 7] = [b"{", br#""awslogs""#, b":", b"{", br#""data""#, b":", b"\""];

/// The opening's tokens up to `awslogs`' colon.
pub(crate) const AWSLOGS_MEMBER: usize = 3;

/// The whole opening, to the data string's quote.
pub(crate) const DATA_STRING: usize = OPENING.len();

/// `bytes` after the first `tokens` of [`OPENING`] (and whitespace): `None` if they are not there.
pub(crate) fn opening(bytes: &[u8], tokens: usize) -> Option<&[u8]> {
    OPENING[..tokens].iter().try_fold(bytes, |rest, token| json_ws(rest).strip_prefix(*token))
}

/// Whether what follows the data string's closing quote is the envelope's closing: `}}`, with
/// whitespace around, and nothing else.
pub(crate) fn is_closing(rest: &[u8]) -> bool {
    let mut rest = rest;
    for token in [b"}", b"}"] {
        match json_ws(rest).strip_prefix(token) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    json_ws(rest).is_empty()
}

/// `bytes` after the JSON whitespace they start with.
fn json_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The data text of an envelope in its own form, without an escape in its data: the fast
/// reader's input (anything else is the exact reader's, which reads the envelope with serde).
fn envelope_text(envelope: &[u8]) -> Option<&[u8]> {
    let rest = opening(envelope, DATA_STRING)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"' && is_closing(&rest[end + 1..])).then(|| &rest[..end])
}

/// A decoded subscription payload. Holds raw log events, so its `Debug` prints shape only and it
/// has no `Serialize`: it cannot reach a sink by mistake.
pub struct Payload {
    pub(crate) header: Header,
    /// Every readable message, one after the other; the events index it.
    messages: String,
    pub(crate) events: Vec<LogEvent>,
}

/// One `logEvents[]` entry. Its message is decoded on its own: one that no Rust string can hold
/// (a lone UTF-16 surrogate escape, invalid UTF-8) is [`Unreadable`], and only that event is
/// dropped (`unparseable`).
pub(crate) struct LogEvent {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    /// Where the message is in [`Payload::messages`].
    message: Result<Range<usize>, Unreadable>,
}

/// A `message` that is valid JSON text but not a Unicode string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unreadable;

impl Payload {
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`.
    pub fn is_control_message(&self) -> bool {
        self.header.is_control_message()
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The source log group (never printed: it may name a person or a project).
    pub fn log_group(&self) -> &str {
        &self.header.log_group
    }

    /// The source log stream (never printed, as the group).
    pub fn log_stream(&self) -> &str {
        &self.header.log_stream
    }

    /// The message of one of this payload's events.
    pub(crate) fn message(&self, event: &LogEvent) -> Result<&str, Unreadable> {
        event.message.clone().map(|range| &self.messages[range])
    }

    /// Reads a payload whole (through [`read_events`], its events collected).
    pub(crate) fn read(source: Source<'_>, max_decompressed: usize) -> Result<Option<Payload>, DecodeError> {
        let start = || (String::new(), Vec::new());
        let read = read_events(source, max_decompressed, start, |(messages, events), e| {
            let message = e.message.map(|m| {
                messages.push_str(m);
                messages.len() - m.len()..messages.len()
            });
            events.push(LogEvent { id: e.id.to_owned(), timestamp: e.timestamp, message });
        })?;
        Ok(read.map(|(header, (messages, events))| Payload { header, messages, events }))
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("control_message", &self.is_control_message())
            .field("log_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Decodes the JSON a Lambda receives from a subscription filter, whole.
pub fn decode_envelope(envelope: &[u8], max_decompressed: usize) -> Result<Payload, DecodeError> {
    Payload::read(Source::Envelope(envelope), max_decompressed).map(|p| p.expect("an envelope in memory is read"))
}

/// An event's fields, in the order CloudWatch writes them (and an array form gives them).
const EVENT_FIELDS: &[&str] = &["id", "timestamp", "message"];

/// How the exact reader reads messages.
#[derive(Clone, Copy)]
enum Text {
    /// The payload is Unicode throughout (as every payload CloudWatch writes): each message is
    /// borrowed as written and unescaped once, into a buffer of its size ([`value::string`]).
    Unicode,
    /// The payload holds bytes that are not UTF-8 (refused where they are not inside a message,
    /// as serde_json refuses them): each message is read as bytes by serde_json, into its
    /// scratch, and checked as UTF-8 on its own.
    Bytes,
}

/// One event of `logEvents` (as serde's derive reads a struct: other members ignored, each field
/// once, an array form taken in field order), handed to `each`. When the id and timestamp come
/// before the message, as CloudWatch writes them, the message is handed on as it is read;
/// otherwise it is kept until the event ends (borrowed, for a Unicode payload).
struct Event<'f, F> {
    each: &'f mut F,
    text: Text,
}

impl<'de, F: FnMut(EventRef<'_>)> DeserializeSeed<'de> for Event<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_struct("WireEvent", EVENT_FIELDS, self)
    }
}

impl<'de, F: FnMut(EventRef<'_>)> Visitor<'de> for Event<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut id, mut timestamp, mut kept) = (None::<String>, None::<i64>, None::<Kept<'de>>);
        let mut handed = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match EVENT_FIELDS.iter().position(|f| *f == key) {
                Some(0) if id.is_some() => return Err(de::Error::duplicate_field("id")),
                Some(0) => id = Some(map.next_value()?),
                Some(1) if timestamp.is_some() => return Err(de::Error::duplicate_field("timestamp")),
                Some(1) => timestamp = Some(map.next_value()?),
                Some(_) if handed || kept.is_some() => return Err(de::Error::duplicate_field("message")),
                Some(_) => match (&id, timestamp, self.text) {
                    (Some(id), Some(timestamp), text) => {
                        map.next_value_seed(HandOn { each: &mut *self.each, id, timestamp, text })?;
                        handed = true;
                    }
                    (_, _, Text::Unicode) => kept = Some(Kept::Raw(map.next_value()?)),
                    (_, _, Text::Bytes) => kept = Some(Kept::Read(map.next_value()?)),
                },
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let timestamp = timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?;
        if !handed {
            let hand_on = HandOn { each: self.each, id: &id, timestamp, text: self.text };
            match kept.ok_or_else(|| de::Error::missing_field("message"))? {
                Kept::Raw(raw) => hand_on.raw(raw)?,
                Kept::Read(Message(message)) => hand_on.hand(message.as_deref().map_err(|&u| u)),
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let length = |i| de::Error::invalid_length(i, &"a log event");
        let id: String = seq.next_element()?.ok_or_else(|| length(0))?;
        let timestamp: i64 = seq.next_element()?.ok_or_else(|| length(1))?;
        seq.next_element_seed(HandOn { each: self.each, id: &id, timestamp, text: self.text })?.ok_or_else(|| length(2))
    }
}

/// A message read before its event's id or timestamp.
enum Kept<'de> {
    /// As written in a Unicode payload, borrowed.
    Raw(&'de RawValue),
    /// Read by serde_json as bytes (see [`Message`]).
    Read(Message),
}

/// An event's message, handed to `each` with the event's id and timestamp as it is read: in a
/// Unicode payload borrowed as written and unescaped once (any message serde_json reads, with its
/// result: lone surrogates make it unreadable), otherwise read as bytes by serde_json (which then
/// accepts lone surrogates, as WTF-8) and checked as UTF-8 on its own.
struct HandOn<'f, 'i, F> {
    each: &'f mut F,
    id: &'i str,
    timestamp: i64,
    text: Text,
}

impl<F: FnMut(EventRef<'_>)> HandOn<'_, '_, F> {
    fn hand(self, message: Result<&str, Unreadable>) {
        (self.each)(EventRef { id: self.id, timestamp: self.timestamp, message, marks: None });
    }

    /// A message as written in a Unicode payload: a string, unescaped (by serde_json, as bytes,
    /// where [`value::string`] leaves it to serde_json), or an error as serde's derive gives.
    fn raw<E: de::Error>(self, raw: &RawValue) -> Result<(), E> {
        let json = raw.get();
        if !json.starts_with('"') {
            return Err(de::Error::invalid_type(de::Unexpected::Other("a value that is not a string"), &"a string"));
        }
        match crate::value::string(json) {
            Some(text) => self.hand(Ok(&text)),
            None => {
                let Message(message) =
                    serde_json::from_str(json).map_err(|_| de::Error::custom("unreadable message"))?;
                self.hand(message.as_deref().map_err(|&u| u));
            }
        }
        Ok(())
    }
}

impl<'de, F: FnMut(EventRef<'_>)> DeserializeSeed<'de> for HandOn<'_, '_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.text {
            Text::Unicode => {
                let raw = <&'de RawValue>::deserialize(deserializer)?;
                self.raw(raw)
            }
            Text::Bytes => deserializer.deserialize_bytes(self),
        }
    }
}

impl<'de, F: FnMut(EventRef<'_>)> Visitor<'de> for HandOn<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.hand(std::str::from_utf8(v).map_err(|_| Unreadable));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.hand(Ok(v));
        Ok(())
    }
}

/// A message read by serde_json as bytes and kept (see [`HandOn`]).
struct Message(Result<String, Unreadable>);

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> serde::de::Visitor<'de> for BytesVisitor {
            type Value = Message;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Message, E> {
                Ok(Message(std::str::from_utf8(v).map(str::to_owned).map_err(|_| Unreadable)))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Message, E> {
                Ok(Message(String::from_utf8(v).map_err(|_| Unreadable)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Message, E> {
                Ok(Message(Ok(v.to_owned())))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    awslogs: AwsLogs<'a>,
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// The exact reader: the envelope by serde_json, base64 whole (naming the first bad byte's
/// position), the whole payload through the capped inflater, and serde_json, each event handed
/// to `each` as it is read (its message unescaped once and checked on its own: [`Text`]). The
/// events of a payload found invalid later are void: the caller drops them with the error.
fn read_exact(
    source: Source<'_>,
    max_decompressed: usize,
    each: impl FnMut(EventRef<'_>),
) -> Result<Header, DecodeError> {
    let json = {
        let (data, decoded);
        let compressed = match source {
            Source::Envelope(envelope) => {
                let envelope: Envelope<'_> = serde_json::from_slice(envelope).map_err(|e| {
                    let (category, line, column) = json_position(&e);
                    DecodeError::Envelope { category, line, column }
                })?;
                data = envelope.awslogs.data;
                decoded = base64_decode(data.as_bytes())?;
                &decoded[..]
            }
            Source::Compressed(Compressed::Base64(text)) => {
                decoded = base64_decode(text)?;
                &decoded[..]
            }
            Source::Compressed(Compressed::Gzip(bytes)) => bytes,
            // Only the fast reader reads from a reader (see `Source::Reader`).
            Source::Reader(_) => return Err(DecodeError::Gzip { kind: "not read" }),
        };
        scan::inflate(compressed, max_decompressed)?
    };
    let header = match std::str::from_utf8(&json) {
        Ok(unicode) => {
            read_payload(serde_json::Deserializer::from_str(unicode), PayloadVisitor { each, text: Text::Unicode })
        }
        Err(_) => read_payload(serde_json::Deserializer::from_slice(&json), PayloadVisitor { each, text: Text::Bytes }),
    };
    header.map_err(|e| {
        let (category, line, column) = json_position(&e);
        DecodeError::Payload { category, line, column }
    })
}

/// The payload, read by `de` to its end (whatever follows it is an error).
fn read_payload<'de, R: serde_json::de::Read<'de>, F: FnMut(EventRef<'_>)>(
    mut de: serde_json::Deserializer<R>,
    visitor: PayloadVisitor<F>,
) -> serde_json::Result<Header> {
    let header = de.deserialize_struct("Payload", PAYLOAD_FIELDS, visitor)?;
    de.end()?;
    Ok(header)
}

/// Standard, padded base64, decoded whole; on an error, the position of the first byte that
/// makes the text invalid.
fn base64_decode(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    base64_simd::STANDARD.decode_to_vec(text).map_err(|_| base64_error(text))
}

/// Why `text` (which the decoder refused) is not standard padded base64, as the position of the
/// first byte that makes it so: a byte outside the alphabet (padding counts only as the last one
/// or two of a text whose length is a multiple of four), else the length (the text stops short of
/// a whole group), else the last symbol (its unused bits are not zero).
fn base64_error(text: &[u8]) -> DecodeError {
    let symbol = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let padding =
        if text.len().is_multiple_of(4) { text.iter().rev().take(2).take_while(|&&b| b == b'=').count() } else { 0 };
    let symbols = &text[..text.len() - padding];
    let offset = match symbols.iter().position(|b| !symbol(b)) {
        Some(at) => at,
        None if !text.len().is_multiple_of(4) => text.len(),
        None => symbols.len().saturating_sub(1),
    };
    DecodeError::Base64 { offset }
}

/// The payload's fields, in the order an array form gives them.
const PAYLOAD_FIELDS: &[&str] = &["messageType", "logGroup", "logStream", "logEvents"];

/// The payload object (as serde's derive reads a struct: other members ignored, each field
/// once, an array form taken in field order), its events handed on as they are read.
struct PayloadVisitor<F> {
    each: F,
    text: Text,
}

impl<'de, F: FnMut(EventRef<'_>)> Visitor<'de> for PayloadVisitor<F> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a subscription payload")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Header, A::Error> {
        let mut fields: [Option<String>; 3] = Default::default();
        let mut events = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match PAYLOAD_FIELDS.iter().position(|f| *f == key) {
                Some(3) => {
                    if std::mem::replace(&mut events, true) {
                        return Err(de::Error::duplicate_field("logEvents"));
                    }
                    map.next_value_seed(Events { each: &mut self.each, text: self.text })?;
                }
                Some(i) => {
                    if fields[i].is_some() {
                        return Err(de::Error::duplicate_field(PAYLOAD_FIELDS[i]));
                    }
                    fields[i] = Some(map.next_value()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !events {
            return Err(de::Error::missing_field("logEvents"));
        }
        let [message_type, log_group, log_stream] = fields;
        let missing = |i: usize| de::Error::missing_field(PAYLOAD_FIELDS[i]);
        Ok(Header {
            message_type: message_type.ok_or_else(|| missing(0))?,
            log_group: log_group.ok_or_else(|| missing(1))?,
            log_stream: log_stream.ok_or_else(|| missing(2))?,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Header, A::Error> {
        let length = |i| de::Error::invalid_length(i, &"a subscription payload");
        let message_type = seq.next_element()?.ok_or_else(|| length(0))?;
        let log_group = seq.next_element()?.ok_or_else(|| length(1))?;
        let log_stream = seq.next_element()?.ok_or_else(|| length(2))?;
        seq.next_element_seed(Events { each: &mut self.each, text: self.text })?.ok_or_else(|| length(3))?;
        Ok(Header { message_type, log_group, log_stream })
    }
}

/// `logEvents`, each event handed on as it is read.
struct Events<'f, F> {
    each: &'f mut F,
    text: Text,
}

impl<'de, F: FnMut(EventRef<'_>)> DeserializeSeed<'de> for Events<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(EventRef<'_>)> Visitor<'de> for Events<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of log events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Event { each: &mut *self.each, text: self.text })?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::marks::of as marks_of;
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write as _;

    /// Standard padded base64 for test input (also for `kinesis`' tests).
    pub(crate) struct Standard;

    impl Standard {
        pub(crate) fn encode(&self, bytes: impl AsRef<[u8]>) -> String {
            base64_simd::STANDARD.encode_to_string(bytes)
        }
    }

    pub(crate) const STANDARD: Standard = Standard;

    /// The exact reader's payload, collected.
    fn decode_exact(input: Compressed<'_>, cap: usize) -> Result<Payload, DecodeError> {
        let (mut messages, mut events) = (String::new(), Vec::new());
        let header = read_exact(Source::Compressed(input), cap, |e| {
            let message = e.message.map(|m| {
                messages.push_str(m);
                messages.len() - m.len()..messages.len()
            });
            events.push(LogEvent { id: e.id.to_owned(), timestamp: e.timestamp, message });
        })?;
        Ok(Payload { header, messages, events })
    }

    #[test]
    fn event_debug_shows_lengths_only() {
        let marks = [1u64];
        let event = EventRef { id: "CANARY-id", timestamp: 5, message: Ok("{\"k\":\"CANARY\"}"), marks: Some(&marks) };
        let shown = format!("{event:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("id_len: 9") && shown.contains("message_len: Ok(14)"), "{shown}");
        let unreadable = EventRef { id: "", timestamp: 5, message: Err(Unreadable), marks: None };
        assert!(format!("{unreadable:?}").contains("message_len: Err(Unreadable)"));
    }

    #[test]
    fn base64_errors_name_the_first_bad_byte() {
        for (text, offset) in [
            ("H4sI*AAA", 4),
            ("CANARY*", 6),
            (" H4sIAAAA", 0),
            ("H4sI=AAA", 4),
            ("H4=A", 2),
            ("H4sIA", 5),
            ("H4sIAA=", 6),
            ("H4sIAA==AAAA", 6),
            ("H4sIAB==", 5),
        ] {
            assert_eq!(base64_decode(text.as_bytes()).unwrap_err(), DecodeError::Base64 { offset }, "{text}");
        }
        assert_eq!(base64_decode(b"H4sIAA==").unwrap(), [0x1f, 0x8b, 0x08, 0x00]);
    }

    /// Test input: `bytes` as one gzip member (also for `kinesis`' tests).
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn envelope(data: &str) -> Vec<u8> {
        format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#).into_bytes()
    }

    fn payload_json(events: &str) -> String {
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"policyLevel":"ACCOUNT_LEVEL_POLICY","logEvents":[{events}]}}"#
        )
    }

    fn encode(json: &str) -> Vec<u8> {
        envelope(&STANDARD.encode(gzip(json.as_bytes())))
    }

    #[test]
    fn decodes_a_data_message() {
        let p = decode_envelope(&encode(&payload_json(r#"{"id":"1","timestamp":5,"message":"{}"}"#)), 1 << 20).unwrap();
        assert!(!p.is_control_message());
        assert_eq!(p.event_count(), 1);
        assert_eq!(p.events[0].timestamp, 5);
    }

    #[test]
    fn recognises_a_control_message() {
        let json = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#;
        assert!(decode_envelope(&encode(json), 1 << 20).unwrap().is_control_message());
    }

    #[test]
    fn envelope_errors_give_position_not_content() {
        let err = decode_envelope(b"{\"awslogs\": CANARY}", 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Envelope { category: "syntax", line: 1, .. }), "{err:?}");
        assert!(!err.to_string().contains("CANARY"));
        let err = decode_envelope(br#"{"awslogs":{"data":5},"x":"CANARY"}"#, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Envelope { category: "data", .. }));
        assert!(!err.to_string().contains("CANARY"));
        assert!(matches!(decode_envelope(br#"{"other":1}"#, 1 << 20), Err(DecodeError::Envelope { .. })));
    }

    #[test]
    fn bad_base64_names_the_offset() {
        assert_eq!(decode_envelope(&envelope("H4sI*AAA"), 1 << 20).unwrap_err(), DecodeError::Base64 { offset: 4 });
        assert!(matches!(decode_envelope(&envelope("H4sIA"), 1 << 20), Err(DecodeError::Base64 { .. })));
        assert!(matches!(decode_envelope(&envelope("H4sIAA="), 1 << 20), Err(DecodeError::Base64 { .. })));
    }

    #[test]
    fn not_gzip_and_truncated_gzip_are_refused() {
        let err = decode_envelope(&envelope(&STANDARD.encode(b"plain text, not gzip")), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip { .. }), "{err:?}");
        let whole = gzip(payload_json("").as_bytes());
        let err = decode_envelope(&envelope(&STANDARD.encode(&whole[..whole.len() - 10])), 1 << 20).unwrap_err();
        assert_eq!(err, DecodeError::Gzip { kind: "truncated" });
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let json = payload_json(r#"{"id":"1","timestamp":5,"message":"m"}"#);
        let (head, tail) = json.split_at(json.len() / 2);
        let two = [gzip(head.as_bytes()), gzip(tail.as_bytes())].concat();
        assert_eq!(scan::inflate(&two, 1 << 20).unwrap(), json.as_bytes());
        assert_eq!(decode_envelope(&envelope(&STANDARD.encode(&two)), 1 << 20).unwrap().event_count(), 1);
        // The cap counts every member; what follows the last one must be another member.
        assert_eq!(scan::inflate(&two, json.len() - 1).unwrap_err(), DecodeError::TooLarge { limit: json.len() - 1 });
        let trailing = [gzip(json.as_bytes()), b"CANARY".to_vec()].concat();
        assert_eq!(scan::inflate(&trailing, 1 << 20).unwrap_err(), DecodeError::Gzip { kind: "invalid header" });
        let mut corrupt = gzip(json.as_bytes());
        let at = corrupt.len() - 6;
        corrupt[at] ^= 0xff; // the CRC
        assert_eq!(scan::inflate(&corrupt, 1 << 20).unwrap_err(), DecodeError::Gzip { kind: "corrupt data" });
        // A trailer that understates the length only sizes the first allocation.
        let mut lying = gzip(json.as_bytes());
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(scan::inflate(&lying, 1 << 20), Err(DecodeError::Gzip { kind: "corrupt data" })));
    }

    #[test]
    fn output_over_the_cap_is_refused_not_truncated() {
        let json = payload_json(r#"{"id":"1","timestamp":5,"message":"{}"}"#);
        assert!(decode_envelope(&encode(&json), json.len()).is_ok());
        assert_eq!(
            decode_envelope(&encode(&json), json.len() - 1).unwrap_err(),
            DecodeError::TooLarge { limit: json.len() - 1 }
        );
    }

    #[test]
    fn a_cap_of_usize_max_reads_without_overflow() {
        // The readers keep room for one byte past what the cap still allows; at usize::MAX that
        // must not wrap (it saturates: `left + 1` could only wrap before the first byte is read).
        // A message larger than the streamed reader's window, so its buffer grows.
        let big = "x".repeat(600 << 10);
        let json = payload_json(&format!(r#"{{"id":"1","timestamp":5,"message":"{{\"a\":\"{big}\"}}"}}"#));
        let payload = decode_envelope(&encode(&json), usize::MAX).unwrap();
        assert_eq!(payload.event_count(), 1);
        assert_eq!(scan::inflate(&gzip(json.as_bytes()), usize::MAX).unwrap(), json.as_bytes());
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 200 MB of zeros compresses to about 200 KB; decoding stops after cap + 1 bytes.
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = envelope(&STANDARD.encode(e.finish().unwrap()));
        assert_eq!(decode_envelope(&bomb, 8 << 20).unwrap_err(), DecodeError::TooLarge { limit: 8 << 20 });
    }

    #[test]
    fn payload_errors_give_position_not_content() {
        let err = decode_envelope(&encode(r#"{"messageType":"CANARY"}"#), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Payload { category: "data", .. }), "{err:?}");
        assert!(!err.to_string().contains("CANARY"));
        let err = decode_envelope(&encode("\u{1}CANARY"), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Payload { category: "syntax", .. }));
        let mut invalid_utf8 = payload_json(r#"{"id":"1","timestamp":5,"message":"XX"}"#).into_bytes();
        let at = invalid_utf8.windows(2).position(|w| w == b"XX").unwrap();
        invalid_utf8[at] = 0xff;
        // Inside a message: that message is unreadable, the payload is not.
        let p = decode_envelope(&envelope(&STANDARD.encode(gzip(&invalid_utf8))), 1 << 20).unwrap();
        assert_eq!(p.message(&p.events[0]), Err(Unreadable));
        // Elsewhere (here in logGroup): the payload is refused.
        let mut bad_group = payload_json("").into_bytes();
        let at = bad_group.windows(3).position(|w| w == br#""g""#).unwrap();
        bad_group[at + 1] = 0xff;
        let err = decode_envelope(&envelope(&STANDARD.encode(gzip(&bad_group))), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Payload { .. }), "{err:?}");
    }

    /// The events as serde's derive reads them: the exact reader's reference.
    #[derive(Deserialize)]
    struct DerivedPayload {
        #[serde(rename = "logEvents")]
        events: Vec<DerivedEvent>,
    }

    #[derive(Deserialize)]
    struct DerivedEvent {
        id: String,
        timestamp: i64,
        message: Message,
    }

    /// The exact reader hands each message on where serde_json holds it (no copy) when the id
    /// and timestamp came first, and keeps it otherwise: in every field order, form and error,
    /// it reads what serde's derive reads, and fails where and how derive fails.
    #[test]
    fn the_exact_reader_reads_events_as_derive_does() {
        let mut cases: Vec<Vec<u8>> = [
            r#"{"id":"1","timestamp":5,"message":"m \"q\""}"#,
            r#"{"message":"m","id":"1","timestamp":5}"#,
            r#"{"timestamp":5,"message":"m","id":"1"}"#,
            r#"{"id":"1","message":"m","timestamp":5}"#,
            r#"{"x":[1],"id":"1","timestamp":5,"y":{},"message":"m","z":null}"#,
            r#"["1",5,"m"]"#,
            r#"["1",5]"#,
            r#"["1",5,"m","n"]"#,
            r#"{"id":"1","timestamp":5,"message":"m","message":"n"}"#,
            r#"{"message":"m","message":"n","id":"1","timestamp":5}"#,
            r#"{"id":"1","timestamp":5,"message":"m","id":"2"}"#,
            r#"{"id":"1","timestamp":5,"message":"m","timestamp":6}"#,
            r#"{"id":"1","timestamp":5}"#,
            r#"{"timestamp":5,"message":"m"}"#,
            r#"{"id":"1","message":"m"}"#,
            r#"{"id":"1","timestamp":5,"message":7}"#,
            r#"{"id":"1","timestamp":5,"message":["m"]}"#,
            r#"{"id":"1","timestamp":5,"message":"a\ud800b"}"#,
            r#"{"message":"a\ud800b","id":"1","timestamp":5}"#,
            r#"{"id":"1","timestamp":5,"message":"m"},{"id":"2","timestamp":6,"message":"XX"}"#,
            r#"{"message":"XX","id":"1","timestamp":5}"#,
        ]
        .iter()
        .map(|events| payload_json(events).into_bytes())
        .collect();
        // Invalid UTF-8 inside a message, in either order.
        for case in &mut cases {
            if let Some(at) = case.windows(2).position(|w| w == b"XX") {
                case[at] = 0xff;
            }
        }
        for json in cases {
            let shown = String::from_utf8_lossy(&json).into_owned();
            let exact = decode_exact(Compressed::Gzip(&gzip(&json)), 1 << 20);
            let derived = serde_json::from_slice::<DerivedPayload>(&json);
            match (exact, derived) {
                (Ok(p), Ok(reference)) => {
                    assert_eq!(p.events.len(), reference.events.len(), "{shown}");
                    for (e, r) in p.events.iter().zip(&reference.events) {
                        assert_eq!((e.id.as_str(), e.timestamp), (r.id.as_str(), r.timestamp), "{shown}");
                        assert_eq!(p.message(e), r.message.0.as_deref().map_err(|&u| u), "{shown}");
                    }
                }
                (Err(e), Err(d)) => {
                    let (category, line, column) = json_position(&d);
                    // A message that is not a string is refused where it ends (it is read whole
                    // first, to be borrowed), not where it starts.
                    let DecodeError::Payload { category: c, line: l, column: at } = e else { panic!("{shown}: {e:?}") };
                    assert_eq!((c, l), (category, line), "{shown}");
                    let not_a_string = shown.contains(r#""message":7"#) || shown.contains(r#""message":["#);
                    assert!(at == column || not_a_string && at > column && at <= column + 5, "{shown}: {at} {column}");
                }
                (exact, derived) => panic!("{shown}: exact {:?}, derive {:?}", exact.err(), derived.err()),
            }
        }
    }

    #[test]
    fn each_message_is_decoded_on_its_own() {
        let events = r#"{"id":"1","timestamp":5,"message":"a\ud800b"},{"id":"2","timestamp":6,"message":"ok \u00e9 \"q\""},{"id":"3","timestamp":7,"message":"\ud83d\ude00"}"#;
        let p = decode_envelope(&encode(&payload_json(events)), 1 << 20).unwrap();
        assert_eq!(p.message(&p.events[0]), Err(Unreadable));
        assert_eq!(p.message(&p.events[1]), Ok("ok \u{e9} \"q\""));
        assert_eq!(p.message(&p.events[2]), Ok("\u{1f600}"));
    }

    #[test]
    fn payload_debug_shows_shape_only() {
        let p =
            decode_envelope(&encode(&payload_json(r#"{"id":"1","timestamp":5,"message":"CANARY"}"#)), 1 << 20).unwrap();
        assert!(!format!("{p:?}").contains("CANARY"));
    }

    /// The payload as plain values, to compare the two readers.
    type View = (String, String, String, Vec<(String, i64, Result<String, Unreadable>)>);

    fn view(p: &Payload) -> View {
        let events = p.events.iter().map(|e| (e.id.clone(), e.timestamp, p.message(e).map(str::to_owned))).collect();
        (p.header.message_type.clone(), p.header.log_group.clone(), p.header.log_stream.clone(), events)
    }

    /// The fast reader's events with `sizes`, as [`collect`] gives them, each message's marks
    /// checked against [`marks_of`] (computed from the message alone).
    fn read_view(input: Compressed<'_>, cap: usize, sizes: scan::Sizes) -> Option<View> {
        let mut events = Vec::new();
        let header = scan::read(input, cap, sizes, |e| {
            if let Ok(message) = e.message {
                assert_eq!(e.marks, Some(&marks_of(message)[..]), "{sizes:?}: the marks of {message:?}");
            }
            events.push((e.id.to_owned(), e.timestamp, e.message.map(str::to_owned)));
        })?;
        let viewed = (header.message_type, header.log_group, header.log_stream, events);
        let read = Payload::read(Source::Compressed(input), cap).unwrap().unwrap();
        assert_eq!(view(&read), viewed);
        Some(viewed)
    }

    /// Gives its bytes a few at a time (1, 2, 3, .. 13, then again), as a pipe or a file may.
    struct Pieces<'a> {
        bytes: &'a [u8],
        next: usize,
    }

    impl std::io::Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.next = self.next % 13 + 1;
            let n = self.next.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// [`read_view`] for an envelope read from a reader a few bytes at a time.
    fn read_envelope_view(envelope: &[u8], cap: usize, sizes: scan::Sizes) -> Option<View> {
        let mut events = Vec::new();
        let header = scan::read_envelope(&mut Pieces { bytes: envelope, next: 0 }, cap, sizes, |e| {
            if let Ok(message) = e.message {
                assert_eq!(e.marks, Some(&marks_of(message)[..]), "{sizes:?}: the marks of {message:?}");
            }
            events.push((e.id.to_owned(), e.timestamp, e.message.map(str::to_owned)));
        })?;
        Some((header.message_type, header.log_group, header.log_stream, events))
    }

    #[test]
    fn an_envelope_is_read_in_pieces_only_in_its_own_form() {
        let json = payload_json(&[event("one"), event(r#"t\"wo"#)].join(","));
        let text = STANDARD.encode(gzip(json.as_bytes()));
        let expected = read_view(Compressed::Base64(text.as_bytes()), 1 << 20, scan::SIZES).unwrap();
        let envelope = |open: &str, close: &str| [open.as_bytes(), text.as_bytes(), close.as_bytes()].concat();
        for sizes in SIZES {
            let read = |bytes: &[u8]| read_envelope_view(bytes, 1 << 20, sizes);
            // Any JSON whitespace between the tokens (a pretty-printed test event).
            for (open, close) in [
                (r#"{"awslogs":{"data":""#, r#""}}"#),
                ("\n {\r\n\t\"awslogs\" : {\n    \"data\" :  \"", "\"\n  }\n}\n"),
            ] {
                assert_eq!(read(&envelope(open, close)).as_ref(), Some(&expected), "{sizes:?} {open:?}");
            }
            // Anything else is left to the usual path, which reads the input whole.
            let trailing = format!(r#""}}}}{}"#, " ".repeat(5000));
            for (open, close) in [
                (r#"{"awslogs":{"data":""#, r#""}} x"#),
                (r#"{"awslogs":{"data":""#, r#""}"#),
                (r#"{"awslogs":{"data":""#, r#"""#),
                (r#"{"awslogs":{"data":""#, ""),
                (r#"{"awslogs":{"data":""#, r#"","x":1}}"#),
                (r#"{"awslogs":{"data":""#, &trailing),
                (r#"{"x":1,"awslogs":{"data":""#, r#""}}"#),
                (r#"{"awslogs":{"type":"x","data":""#, r#""}}"#),
                ("\u{c}{\"awslogs\":{\"data\":\"", r#""}}"#),
                (r#"{"awslogs":{"data":""#, "\"}}\u{c}"),
                (r#"{"awslogs": {"data": "\/"#, r#""}}"#),
                (r#"[{"awslogs":{"data":""#, r#""}}]"#),
            ] {
                assert_eq!(read(&envelope(open, close)), None, "{sizes:?} {open:?} .. {close:?}");
            }
            // An escape inside the data, valid JSON for the same text, is left to it too.
            let escaped = text.replacen('/', "\\/", 1);
            assert!(escaped.contains('\\'));
            assert_eq!(read(&[br#"{"awslogs":{"data":""#, escaped.as_bytes(), br#""}}"#].concat()), None);
        }
    }

    /// The crate's sizes, and windows and base64 chunks so small that every state of the
    /// reader meets the window's end, and every gzip header, member and trailer a chunk's.
    const SIZES: [scan::Sizes; 4] = [
        scan::SIZES,
        scan::Sizes { window: 1, chunk: 4 },
        scan::Sizes { window: 7, chunk: 8 },
        scan::Sizes { window: 64, chunk: 12 },
    ];

    /// The fast reader's contract, on one compressed input: it accepts only what the exact
    /// reader accepts, with the same result, whatever its sizes (which must not change what it
    /// accepts either). Returns whether it accepted.
    fn fast_as_exact(input: Compressed<'_>, cap: usize, shown: &dyn Fn() -> String) -> bool {
        let exact = decode_exact(input, cap);
        let mut accepted = None;
        for sizes in SIZES {
            let fast = read_view(input, cap, sizes);
            if let Compressed::Base64(text) = input {
                // The same text in an envelope, read a few bytes at a time as a file would be.
                let envelope = [&br#"{"awslogs":{"data":""#[..], text, br#""}}"#].concat();
                let streamed = read_envelope_view(&envelope, cap, sizes);
                assert!(streamed == fast, "{sizes:?}, read from an envelope: {}", shown());
            }
            if let Some(fast) = &fast {
                let exact = exact.as_ref().unwrap_or_else(|e| {
                    panic!("fast reader ({sizes:?}) accepted what the exact one refuses: {e}: {}", shown())
                });
                assert_eq!(fast, &view(exact), "{sizes:?}: {}", shown());
            }
            let now = fast.is_some();
            assert_eq!(*accepted.get_or_insert(now), now, "{sizes:?} decided otherwise: {}", shown());
        }
        accepted.unwrap_or(false)
    }

    /// [`fast_as_exact`] on payload text, gzipped and as base64 of that.
    fn same_as_exact(json: &[u8]) -> bool {
        let compressed = gzip(json);
        let text = STANDARD.encode(&compressed);
        let shown = || String::from_utf8_lossy(json).into_owned();
        let gzip = fast_as_exact(Compressed::Gzip(&compressed), 1 << 24, &shown);
        let base64 = fast_as_exact(Compressed::Base64(text.as_bytes()), 1 << 24, &shown);
        assert_eq!(gzip, base64, "{}", shown());
        gzip
    }

    fn event(message: &str) -> String {
        format!(r#"{{"id":"1","timestamp":5,"message":"{message}"}}"#)
    }

    #[test]
    fn the_fast_reader_takes_what_cloudwatch_sends() {
        for events in [
            String::new(),
            event(""),
            event(r#"{\"a\":\"b\\\\c\",\"n\":1.5e3,\"u\":\"\\u00e9\"}"#),
            event(r#"\u00e9 \ud83d\ude00 \/ \b\f\n\r\t caf\u00E9 \u0000"#),
            event("plain text longer than eight bytes, none escaped"),
            event("\u{e9}t\u{e9} \u{1f600} raw UTF-8"),
            [event("a\\ud800b"), event("ok"), event("\\udc00"), event("\\ud83dx\\ud83d\\u0041")].join(","),
            r#"{"message":"m","extra":{"a":[1,-2.5e-3,true,false,null,{"b":"\u0041"}]},"timestamp":-1,"id":"x"}"#
                .into(),
            r#" { "id" : "1" , "timestamp" : 9223372036854775807 , "message" : "m" } "#.into(),
            r#"{"id":"1","timestamp":-9223372036854775808,"message":"m"}"#.into(),
            // An escaped member name is read as its text, as serde_json reads it.
            r#"{"i\u0064":"1","timestam\u0070":5,"\u006dessage":"m","\u0022":1}"#.into(),
        ] {
            let json = payload_json(&events);
            assert!(same_as_exact(json.as_bytes()), "{json}");
        }
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#;
        assert!(same_as_exact(control.as_bytes()));
    }

    #[test]
    fn the_fast_reader_leaves_the_rest_to_the_exact_one() {
        let deep = format!(
            r#"{{"x":{}{},"messageType":"m","logGroup":"g","logStream":"s","logEvents":[]}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        for json in [
            String::new(),
            "[]".into(),
            r#"["DATA_MESSAGE","g","s",[]]"#.into(),
            payload_json(r#"["1",5,"m"]"#),
            payload_json(&event("a\u{1}b")),
            payload_json(&event(r#"\x"#)),
            payload_json(&event(r#"\u12G4"#)),
            payload_json(&event(r#"\ud800\u12G4"#)),
            payload_json(r#"{"id":"1","timestamp":5.0,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":1e3,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":-0,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":01,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":9223372036854775808,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":"5","message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":5,"message":"m","message":"n"}"#),
            payload_json(r#"{"id":"\ud800","timestamp":5,"message":"m"}"#),
            payload_json(r#"{"id":"1","timestamp":5}"#),
            payload_json(r#"{"id":"1","timestamp":5,"message":"m"},"#),
            format!("{} x", payload_json("")),
            payload_json("").replace(r#""owner":"123456789012""#, r#""owner":tru"#),
            payload_json("").replace(r#""logGroup":"g""#, r#""logGroup":"g","logGroup":"h""#),
            deep,
        ] {
            assert!(!same_as_exact(json.as_bytes()), "{json}");
        }
    }

    /// A small deterministic generator of payload text: mostly valid, with the escapes, nesting
    /// and field orders the readers must agree on, and now and then something invalid.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn ws(&mut self, out: &mut Vec<u8>) {
            if self.below(4) == 0 {
                out.extend_from_slice([&b" "[..], b"\n", b"\t ", b"\r\n  "][self.below(4) as usize]);
            }
        }
        /// A JSON string; `message`: with the full mix of hazards (other strings get them rarely,
        /// since one refusal anywhere sends the whole payload to the exact reader).
        fn string(&mut self, out: &mut Vec<u8>, message: bool) {
            out.push(b'"');
            for _ in 0..self.below(24) {
                let mut roll = self.below(400);
                if !message && matches!(roll, 250..=289 | 320 | 321) && self.below(8) != 0 {
                    roll = 0;
                }
                let piece: Vec<u8> = match roll {
                    0..=149 => vec![b"abcdefghij {}:,[]0123"[self.below(21) as usize]],
                    150..=229 => br#"\""#.to_vec(),
                    230..=249 => {
                        [&br"\\"[..], br"\/", br"\b", br"\f", br"\n", br"\r", br"\t"][self.below(7) as usize].to_vec()
                    }
                    250..=279 => format!(
                        r"\u{:04x}",
                        [0x41, 0xe9, 0x20ac, 0xd83d, 0xde00, 0xd800, 0xdfff, 0, 0x22, 0x5c, 0x1f]
                            [self.below(11) as usize]
                    )
                    .into_bytes(),
                    280..=289 => br"\ud83d\ude00".to_vec(),
                    290..=319 => "\u{e9}\u{1f600}".as_bytes()[..[2, 6][self.below(2) as usize]].to_vec(),
                    // Now and then a byte no string may hold raw, or an invalid escape.
                    320 => vec![[0x01, 0x1f, 0xff, 0x80, 0xed][self.below(5) as usize]],
                    321 => [&br"\x"[..], br"\u12", br"\U0041", br"\"][self.below(4) as usize].to_vec(),
                    _ => b"0123456789abcdef"[..1 + self.below(16) as usize].to_vec(),
                };
                out.extend_from_slice(&piece);
            }
            out.push(b'"');
        }
        fn number(&mut self, out: &mut Vec<u8>) {
            const NUMBERS: [&[u8]; 14] = [
                b"5",
                b"-12",
                b"0",
                b"1700000000000",
                b"9223372036854775807",
                b"-9223372036854775808",
                b"-0",
                b"1.5",
                b"2e3",
                b"-1.25E-2",
                b"9223372036854775808",
                b"01",
                b"1.",
                b"-",
            ];
            let n = NUMBERS[if self.below(4) == 0 { self.below(14) } else { self.below(6) } as usize];
            out.extend_from_slice(n);
        }
        fn value(&mut self, out: &mut Vec<u8>, depth: u32) {
            self.ws(out);
            match self.below(if depth > 3 { 5 } else { 8 }) {
                0 | 1 => self.string(out, false),
                2 => self.number(out),
                3 => out.extend_from_slice([&b"true"[..], b"false", b"null", b"nul"][self.below(4) as usize]),
                4 => out.extend_from_slice(b"{}"),
                5 | 6 => {
                    out.push(b'{');
                    for i in 0..self.below(4) {
                        if i > 0 {
                            out.push(b',');
                        }
                        self.string(out, false);
                        out.push(b':');
                        self.value(out, depth + 1);
                    }
                    out.push(b'}');
                }
                _ => {
                    out.push(b'[');
                    for i in 0..self.below(4) {
                        if i > 0 {
                            out.push(b',');
                        }
                        self.value(out, depth + 1);
                    }
                    out.push(b']');
                }
            }
            self.ws(out);
        }
        fn members(&mut self, out: &mut Vec<u8>, known: &[&str], value: &mut dyn FnMut(&mut Self, &str, &mut Vec<u8>)) {
            let mut fields: Vec<&str> = known.iter().copied().filter(|_| self.below(64) != 0).collect();
            for _ in 0..self.below(3) {
                fields.push(["owner", "subscriptionFilters", "x", "policyLevel"][self.below(4) as usize]);
            }
            if self.below(64) == 0 {
                fields.push(known[self.below(known.len() as u64) as usize]);
            }
            for i in (1..fields.len()).rev() {
                fields.swap(i, self.below(i as u64 + 1) as usize);
            }
            out.push(b'{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self.ws(out);
                out.extend_from_slice(format!("\"{field}\":").as_bytes());
                if known.contains(field) && self.below(64) != 0 {
                    value(self, field, out);
                } else {
                    self.value(out, 0);
                }
            }
            out.push(b'}');
        }
        fn payload(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            self.members(&mut out, &["messageType", "logGroup", "logStream", "logEvents"], &mut |g, field, out| {
                if field != "logEvents" {
                    return g.string(out, false);
                }
                out.push(b'[');
                for i in 0..g.below(5) {
                    if i > 0 {
                        out.push(b',');
                    }
                    g.ws(out);
                    g.members(out, &["id", "timestamp", "message"], &mut |g, field, out| match field {
                        "timestamp" => g.number(out),
                        field => g.string(out, field == "message"),
                    });
                }
                out.push(b']');
            });
            out
        }
    }

    /// Random byte edits: `(at, byte, op)` overwrites, inserts or removes one byte.
    fn edit(bytes: &mut Vec<u8>, edits: &[(usize, u8, u8)]) {
        for &(at, byte, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
    }

    proptest::proptest! {
        /// Invariant: on any payload text, generated or mutated, the fast reader either refuses
        /// or gives exactly the exact reader's payload.
        #[test]
        fn the_two_readers_agree(seed in 1u64.., edits in proptest::collection::vec((0usize..4096, 0u8..=255, 0u8..3), 0..3)) {
            let mut json = Gen(seed).payload();
            same_as_exact(&json);
            edit(&mut json, &edits);
            same_as_exact(&json);
        }
    }

    #[test]
    fn recorded_payloads_are_read_fast() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/recorded");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") && !path.ends_with("inventory.json") {
                let bytes = std::fs::read(&path).unwrap();
                let shown = || path.display().to_string();
                let data =
                    envelope_text(&bytes).unwrap_or_else(|| panic!("not in the envelope's own form: {}", shown()));
                assert!(fast_as_exact(Compressed::Base64(data), 1 << 24, &shown), "{}", shown());
                read += 1;
            }
        }
        assert!(read >= 32, "{read} recorded payloads");
    }

    #[test]
    fn the_fast_reader_refuses_what_the_exact_one_cannot_decompress() {
        // A payload whose base64 is padded (its gzip length not a multiple of 3).
        let json = (0..)
            .map(|n| payload_json(&[event("one"), event(&"two".repeat(n))].join(",")))
            .find(|json| !gzip(json.as_bytes()).len().is_multiple_of(3))
            .unwrap();
        let (head, tail) = json.split_at(json.len() / 3);
        let two = [gzip(head.as_bytes()), gzip(tail.as_bytes())].concat();
        let whole = gzip(json.as_bytes());
        let shown = || json.clone();
        // Several members are one stream, through every chunk and window size.
        assert!(fast_as_exact(Compressed::Gzip(&two), 1 << 20, &shown));
        assert!(fast_as_exact(Compressed::Base64(STANDARD.encode(&two).as_bytes()), 1 << 20, &shown));
        // The cap counts every member: exactly the decompressed length passes, one byte less not.
        assert!(fast_as_exact(Compressed::Gzip(&two), json.len(), &shown));
        assert!(!fast_as_exact(Compressed::Gzip(&two), json.len() - 1, &shown));
        let mut corrupt = whole.clone();
        let at = corrupt.len() - 6;
        corrupt[at] ^= 0xff; // the CRC
        let trailing = [whole.clone(), b"CANARY".to_vec()].concat();
        let zeros = [whole.clone(), vec![0; 4]].concat();
        for bad in [&whole[..whole.len() - 1], &whole[..10], &corrupt[..], &trailing[..], &zeros[..], b"", b"\x1f"] {
            assert!(!fast_as_exact(Compressed::Gzip(bad), 1 << 20, &shown));
            assert!(!fast_as_exact(Compressed::Base64(STANDARD.encode(bad).as_bytes()), 1 << 20, &shown));
        }
        let text = STANDARD.encode(&whole);
        let unpadded = text.trim_end_matches('=').to_owned();
        let inner_pad = format!("{}={}", &text[..8], &text[9..]);
        // Two members' texts, each padded: every piece decodes, the text as a whole does not.
        let padded = [gzip(head.as_bytes()), gzip(tail.as_bytes())].map(|g| STANDARD.encode(g));
        assert!(padded[0].ends_with('='));
        let pieces = padded.concat();
        for bad in
            [unpadded, text[..text.len() - 1].to_owned(), inner_pad, format!("{text}AAAA"), format!(" {text}"), pieces]
        {
            assert!(!fast_as_exact(Compressed::Base64(bad.as_bytes()), 1 << 20, &shown), "{bad}");
        }
    }

    #[test]
    fn every_window_end_is_read_as_if_the_payload_were_whole() {
        // A window of k bytes ends first at byte k: for every k, each token of these payloads
        // (a surrogate pair, an escape, a number, a literal, a name) is cut somewhere.
        let tricky = payload_json(
            &[
                event(r#"\ud83d\ude00\ud83d\u0041\ud800\\\"x\u00e9\n"#),
                event(r#"{\"k\":\"a\\\"b\u0022\u005c\u001f\b\f\r\t\/\"}"#),
                r#"{"timestamp":-12,"x":[true,false,null,{"k":1.5e-3}],"message":"\u20ac","id":"\u0041"}"#.into(),
            ]
            .join(","),
        );
        let mut payloads = vec![tricky.into_bytes()];
        payloads.extend((1..40u64).map(|seed| Gen(seed * 104_729).payload()));
        for json in payloads {
            let compressed = gzip(&json);
            let read = |window| read_view(Compressed::Gzip(&compressed), 1 << 20, scan::Sizes { window, chunk: 4 });
            let whole = read(json.len() + 1);
            for window in 1..=json.len() {
                assert_eq!(read(window), whole, "window {window}: {}", String::from_utf8_lossy(&json));
            }
        }
    }

    proptest::proptest! {
        /// Invariant: whatever is done to the gzip stream or its base64 text, the fast reader
        /// either refuses or gives exactly the exact reader's payload.
        #[test]
        fn the_two_readers_agree_on_damaged_input(
            seed in 1u64..,
            split in 0usize..4096,
            edits in proptest::collection::vec((0usize..8192, 0u8..=255, 0u8..3), 1..3),
            base64 in proptest::bool::ANY,
        ) {
            let json = Gen(seed).payload();
            let split = split % (json.len() + 1);
            let mut bytes = [gzip(&json[..split]), gzip(&json[split..])].concat();
            if base64 {
                bytes = STANDARD.encode(&bytes).into_bytes();
            }
            edit(&mut bytes, &edits);
            let input = if base64 { Compressed::Base64(&bytes) } else { Compressed::Gzip(&bytes) };
            fast_as_exact(input, 1 << 20, &|| String::from_utf8_lossy(&json).into_owned());
        }
    }

    #[test]
    fn generated_payloads_are_mostly_read_fast() {
        // So that the property above compares results, not only refusals.
        let accepted = (1..2000u64).filter(|&seed| same_as_exact(&Gen(seed * 7919).payload())).count();
        assert!(accepted > 400, "{accepted} of 1999 generated payloads read by the fast reader");
    }
}
