//! Envelope decoding: `{"awslogs":{"data":"<base64 gzip JSON>"}}` → [`Payload`].
//!
//! Trusts nothing about its input. Guarantees: memory is bounded by the decompressed-size cap
//! (the gzip stream is read through `Read::take(cap + 1)` and refused, not truncated, past the
//! cap); errors name a kind and a byte or line/column position, never input content.

use aws_lambda_events::event::cloudwatch_logs::LogData;
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
    pub(crate) data: LogData,
}

impl Payload {
    /// Wraps an already-decoded payload (for callers that decoded it another way).
    pub fn from_log_data(data: LogData) -> Self {
        Payload { data }
    }

    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`.
    pub fn is_control_message(&self) -> bool {
        self.data.message_type == "CONTROL_MESSAGE"
    }

    pub fn event_count(&self) -> usize {
        self.data.log_events.len()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("control_message", &self.is_control_message())
            .field("log_events", &self.data.log_events.len())
            .finish_non_exhaustive()
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
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(envelope.awslogs.data.as_bytes())
        .map_err(|e| DecodeError::Base64 { offset: base64_offset(&e) })?;
    let json = gunzip_capped(&compressed, max_decompressed)?;
    let data: LogData = serde_json::from_slice(&json).map_err(|e| {
        let (category, line, column) = json_position(&e);
        DecodeError::Payload { category, line, column }
    })?;
    Ok(Payload { data })
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
/// This is the only place the crate decompresses anything.
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
