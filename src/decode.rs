//! Envelope decoding: `{"awslogs":{"data":"<base64 gzip JSON>"}}` → [`Payload`].
//!
//! Trusts nothing about its input. Guarantees: memory is bounded by the decompressed-size cap
//! (the gzip stream is read through `Read::take(cap + 1)` and refused, not truncated, past the
//! cap); errors name a kind and a byte or line/column position, never input content.

use base64::Engine as _;
use serde::Deserialize;
use std::fmt;
use std::io::Read as _;

/// Default cap on the decompressed payload: 64 MiB. A 1 MB async invoke of ordinary JSON
/// decompresses to at most a few tens of MB; anything beyond is a gzip bomb.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

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

fn json_position(e: &serde_json::Error) -> (&'static str, usize, usize) {
    let category = match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    };
    (category, e.line(), e.column())
}

/// A decoded subscription payload. Holds raw log events, so its `Debug` prints shape only and it
/// has no `Serialize`: it cannot reach a sink by mistake.
pub struct Payload {
    pub(crate) message_type: String,
    pub(crate) log_group: String,
    pub(crate) log_stream: String,
    pub(crate) events: Vec<LogEvent>,
}

/// One `logEvents[]` entry. Its message is decoded on its own: one that no Rust string can hold
/// (a lone UTF-16 surrogate escape, invalid UTF-8) is [`Unreadable`], and only that event is
/// dropped (`unparseable`).
pub(crate) struct LogEvent {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    pub(crate) message: Result<String, Unreadable>,
}

/// A `message` that is valid JSON text but not a Unicode string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unreadable;

impl Payload {
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`.
    pub fn is_control_message(&self) -> bool {
        self.message_type == "CONTROL_MESSAGE"
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The source log group (never printed: it may name a person or a project).
    pub fn log_group(&self) -> &str {
        &self.log_group
    }

    /// The source log stream (never printed, as the group).
    pub fn log_stream(&self) -> &str {
        &self.log_stream
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

/// The subscription payload as sent (other fields, such as `owner`, are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePayload {
    message_type: String,
    log_group: String,
    log_stream: String,
    log_events: Vec<WireEvent>,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    timestamp: i64,
    message: Message,
}

/// A JSON string read as bytes (serde_json then accepts lone surrogates, as WTF-8) and checked
/// as UTF-8 on its own.
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
    data: std::borrow::Cow<'a, str>,
}

/// Decodes the JSON a Lambda receives from a subscription filter.
pub fn decode_envelope(envelope: &[u8], max_decompressed: usize) -> Result<Payload, DecodeError> {
    let envelope: Envelope<'_> = serde_json::from_slice(envelope).map_err(|e| {
        let (category, line, column) = json_position(&e);
        DecodeError::Envelope { category, line, column }
    })?;
    let compressed = base64_decode(envelope.awslogs.data.as_bytes())?;
    decode_compressed(&compressed, max_decompressed)
}

/// Standard, padded base64: the SIMD decoder (measured: docs/performance.md), and only when it
/// refuses the input, the scalar one, which names the offending byte's position.
fn base64_decode(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    base64_simd::STANDARD.decode_to_vec(data).or_else(|_| {
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| DecodeError::Base64 { offset: base64_offset(&e) })
    })
}

/// Decodes the gzip-compressed payload itself (what a Kinesis record holds).
pub fn decode_compressed(compressed: &[u8], max_decompressed: usize) -> Result<Payload, DecodeError> {
    let json = gunzip_capped(compressed, max_decompressed)?;
    let wire: WirePayload = serde_json::from_slice(&json).map_err(|e| {
        let (category, line, column) = json_position(&e);
        DecodeError::Payload { category, line, column }
    })?;
    let events = wire
        .log_events
        .into_iter()
        .map(|e| LogEvent { id: e.id, timestamp: e.timestamp, message: e.message.0 })
        .collect();
    Ok(Payload { message_type: wire.message_type, log_group: wire.log_group, log_stream: wire.log_stream, events })
}

fn base64_offset(e: &base64::DecodeError) -> usize {
    match *e {
        base64::DecodeError::InvalidByte(offset, _) => offset,
        base64::DecodeError::InvalidLastSymbol { offset, .. } => offset,
        base64::DecodeError::InvalidLength(len) => len,
        base64::DecodeError::InvalidPadding => 0,
    }
}

/// Gunzips `compressed`, refusing (not truncating) output larger than `cap` bytes.
/// This is the only place the crate decompresses anything: `clippy.toml` bans flate2's decoders
/// everywhere else.
#[allow(clippy::disallowed_types, reason = "the one capped decompression the clippy.toml ban points to")]
pub(crate) fn gunzip_capped(compressed: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let decoder = flate2::read::MultiGzDecoder::new(compressed);
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(cap));
    decoder.take(limit).read_to_end(&mut out).map_err(|e| DecodeError::Gzip {
        kind: match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "truncated",
            std::io::ErrorKind::InvalidInput => "invalid header",
            _ => "corrupt data",
        },
    })?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge { limit: cap });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write as _;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
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
    fn output_over_the_cap_is_refused_not_truncated() {
        let json = payload_json(r#"{"id":"1","timestamp":5,"message":"{}"}"#);
        assert!(decode_envelope(&encode(&json), json.len()).is_ok());
        assert_eq!(
            decode_envelope(&encode(&json), json.len() - 1).unwrap_err(),
            DecodeError::TooLarge { limit: json.len() - 1 }
        );
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
        assert_eq!(p.events[0].message, Err(Unreadable));
        // Elsewhere (here in logGroup): the payload is refused.
        let mut bad_group = payload_json("").into_bytes();
        let at = bad_group.windows(3).position(|w| w == br#""g""#).unwrap();
        bad_group[at + 1] = 0xff;
        let err = decode_envelope(&envelope(&STANDARD.encode(gzip(&bad_group))), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Payload { .. }), "{err:?}");
    }

    #[test]
    fn each_message_is_decoded_on_its_own() {
        let events = r#"{"id":"1","timestamp":5,"message":"a\ud800b"},{"id":"2","timestamp":6,"message":"ok \u00e9 \"q\""},{"id":"3","timestamp":7,"message":"\ud83d\ude00"}"#;
        let p = decode_envelope(&encode(&payload_json(events)), 1 << 20).unwrap();
        assert_eq!(p.events[0].message, Err(Unreadable));
        assert_eq!(p.events[1].message.as_deref(), Ok("ok \u{e9} \"q\""));
        assert_eq!(p.events[2].message.as_deref(), Ok("\u{1f600}"));
    }

    #[test]
    fn payload_debug_shows_shape_only() {
        let p =
            decode_envelope(&encode(&payload_json(r#"{"id":"1","timestamp":5,"message":"CANARY"}"#)), 1 << 20).unwrap();
        assert!(!format!("{p:?}").contains("CANARY"));
    }
}
