//! Body: an OTLP/HTTP logs request body, as the client sends it, to the decoded request.
//!
//! Trusts nothing in the body. The encoding is told by the content, not by a header: the gzip
//! magic (`1f 8b`) means gzip, inflated under the cap; then JSON (OTLP's JSON mapping) if the
//! first non-whitespace byte is `{`, else protobuf. Both are read by `opentelemetry-proto`'s
//! generated messages (prost for protobuf, its serde for JSON): no hand-written message parsing.
//!
//! Guarantees: the result is the request or a [`BodyError`] that names a kind and at most a
//! position, never a byte of the body (prost's and serde's own messages, which can repeat input,
//! are never shown). A body with no bytes is a valid empty request, as in the protocol buffer
//! encoding.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message as _;
use std::io::Read as _;

/// The gzip magic: a member's first two bytes (RFC 1952, 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How a body is encoded, as told by its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

/// Why a body could not be read. Each variant names a kind and at most a position.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body, or what it decompresses to, exceeds the cap (an HTTP endpoint answers 413).
    #[error("request body exceeds the cap of {limit} bytes")]
    TooLarge { limit: usize },
    /// It starts as gzip but is not a gzip stream that decompresses in full.
    #[error("request body is not a valid gzip stream ({kind})")]
    Gzip { kind: &'static str },
    /// Not an OTLP request (of the signal read) in protobuf.
    #[error("request body is not a valid OTLP request in protobuf")]
    Protobuf,
    /// Not an OTLP request (of the signal read) in OTLP/JSON.
    #[error("request body is not a valid OTLP request in JSON ({category} error at line {line}, column {column})")]
    Json { category: &'static str, line: usize, column: usize },
}

impl BodyError {
    /// The HTTP status an OTLP/HTTP endpoint answers: 413 over the cap, 400 for anything else
    /// (malformed: the client must not retry it).
    pub fn http_status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Gzip { .. } | BodyError::Protobuf | BodyError::Json { .. } => 400,
        }
    }
}

/// The body's encoding, told by its (decompressed) content: JSON if its first non-whitespace
/// byte is `{`, else protobuf.
pub fn encoding_of(plain: &[u8]) -> Encoding {
    match plain.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Encoding::Json,
        _ => Encoding::Protobuf,
    }
}

/// Decodes a logs request body (protobuf or JSON, gzip or not) into the request. A plain body,
/// or what a gzip body decompresses to, may not exceed `max_decompressed` bytes (the compressed
/// size is the HTTP layer's to cap).
pub fn decode_logs(body: &[u8], max_decompressed: usize) -> Result<ExportLogsServiceRequest, BodyError> {
    decode(body, max_decompressed)
}

/// [`decode_logs`] for a `/v1/metrics` body.
pub fn decode_metrics(body: &[u8], max_decompressed: usize) -> Result<ExportMetricsServiceRequest, BodyError> {
    decode(body, max_decompressed)
}

/// A request body of either signal, as [`decode_any`] tells them apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

/// A logs or metrics request body, told apart by content, for a reader without the endpoint's
/// path (the CLI): OTLP/JSON by its top-level key (`resourceMetrics` or `resourceLogs`);
/// protobuf, whose two requests share their field numbers, as metrics if it decodes as a
/// metrics request whose every metric carries data of a known kind, else as logs (a log
/// record's first field, a fixed64 time, cannot decode as a metric's name).
pub fn decode_any(body: &[u8], max_decompressed: usize) -> Result<Request, BodyError> {
    let mut inflated = Vec::new();
    let plain = plain(body, max_decompressed, &mut inflated)?;
    match encoding_of(plain) {
        Encoding::Json => {
            #[derive(serde::Deserialize)]
            struct Top {
                #[serde(rename = "resourceMetrics")]
                metrics: Option<serde::de::IgnoredAny>,
            }
            let top: Top = serde_json::from_slice(plain).map_err(|e| json_error(&e))?;
            if top.metrics.is_some() {
                decode(plain, max_decompressed).map(Request::Metrics)
            } else {
                decode(plain, max_decompressed).map(Request::Logs)
            }
        }
        Encoding::Protobuf => match ExportMetricsServiceRequest::decode(plain) {
            Ok(m)
                if !m.resource_metrics.is_empty()
                    && m.resource_metrics
                        .iter()
                        .flat_map(|r| &r.scope_metrics)
                        .flat_map(|s| &s.metrics)
                        .all(|m| m.data.is_some()) =>
            {
                Ok(Request::Metrics(m))
            }
            _ => decode(plain, max_decompressed).map(Request::Logs),
        },
    }
}

/// The body itself, or what it decompresses to (into `inflated`), under the cap.
fn plain<'b>(body: &'b [u8], max_decompressed: usize, inflated: &'b mut Vec<u8>) -> Result<&'b [u8], BodyError> {
    if body.starts_with(&GZIP_MAGIC) {
        *inflated = gunzip(body, max_decompressed)?;
        Ok(&inflated[..])
    } else if body.len() > max_decompressed {
        Err(BodyError::TooLarge { limit: max_decompressed })
    } else {
        Ok(body)
    }
}

/// Either request: gzip by its magic, then JSON or protobuf by the first byte.
fn decode<R: prost::Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    max_decompressed: usize,
) -> Result<R, BodyError> {
    let mut inflated = Vec::new();
    let plain = plain(body, max_decompressed, &mut inflated)?;
    match encoding_of(plain) {
        Encoding::Json => serde_json::from_slice(plain).map_err(|e| json_error(&e)),
        // An empty body is the empty request (every field at its default).
        Encoding::Protobuf => R::decode(plain).map_err(|_| BodyError::Protobuf),
    }
}

/// The gzip stream (one member or several), refusing (never truncating) output past `cap`
/// bytes: at most `cap + 1` bytes are ever inflated, and one more than `cap` is the error.
/// The same contract as the core's inflater (`Inflate` in `crates/core/src/decode/scan.rs`),
/// which is private to the subscription reader; `clippy.toml` allows flate2's decoders here and
/// there only.
#[allow(clippy::disallowed_types, reason = "capped: reads at most cap + 1 bytes and refuses more")]
fn gunzip(compressed: &[u8], cap: usize) -> Result<Vec<u8>, BodyError> {
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed).take(limit).read_to_end(&mut out).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BodyError::Gzip { kind: "truncated" },
        _ => BodyError::Gzip { kind: "corrupt data" },
    })?;
    if out.len() > cap {
        return Err(BodyError::TooLarge { limit: cap });
    }
    Ok(out)
}

/// A serde_json error as its category and position (its `Display` may repeat input values).
fn json_error(e: &serde_json::Error) -> BodyError {
    let category = match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    };
    BodyError::Json { category, line: e.line(), column: e.column() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    const JSON: &str =
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"x"}}]}]}]}"#;

    fn records(request: &ExportLogsServiceRequest) -> usize {
        request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
    }

    #[test]
    fn told_apart_by_content() {
        assert_eq!(encoding_of(b" \n\t{}"), Encoding::Json);
        assert_eq!(encoding_of(b"\x0a\x00"), Encoding::Protobuf);
        assert_eq!(encoding_of(b""), Encoding::Protobuf);
        let json = decode_logs(JSON.as_bytes(), 1 << 20).unwrap();
        assert_eq!(records(&json), 1);
        let protobuf = json.encode_to_vec();
        assert_eq!(decode_logs(&protobuf, 1 << 20).unwrap(), json);
        assert_eq!(decode_logs(&gzip(JSON.as_bytes()), 1 << 20).unwrap(), json);
        assert_eq!(decode_logs(&gzip(&protobuf), 1 << 20).unwrap(), json);
    }

    #[test]
    fn empty_bodies_are_empty_requests() {
        for body in [&b""[..], b"{}", b" {} ", &gzip(b""), &gzip(b"{}")] {
            assert_eq!(decode_logs(body, 1 << 20).unwrap(), ExportLogsServiceRequest::default(), "{body:?}");
        }
    }

    #[test]
    fn the_cap_is_its_own_error_for_plain_and_gzip_bodies() {
        let cap = JSON.len() - 1;
        assert_eq!(decode_logs(JSON.as_bytes(), cap).unwrap_err(), BodyError::TooLarge { limit: cap });
        assert_eq!(decode_logs(&gzip(JSON.as_bytes()), cap).unwrap_err(), BodyError::TooLarge { limit: cap });
        assert!(decode_logs(&gzip(JSON.as_bytes()), JSON.len()).is_ok(), "exactly the cap is allowed");
        assert_eq!(BodyError::TooLarge { limit: cap }.http_status(), 413);
        // A bomb: 64 MiB of zeros in a few tens of KiB, refused at a 1 MiB cap.
        let bomb = gzip(&vec![0; 64 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert_eq!(decode_logs(&bomb, 1 << 20).unwrap_err(), BodyError::TooLarge { limit: 1 << 20 });
    }

    #[test]
    fn malformed_bodies_name_a_kind_only() {
        let gz = gzip(JSON.as_bytes());
        let cases: [(&[u8], BodyError); 4] = [
            (&gz[..gz.len() / 2], BodyError::Gzip { kind: "truncated" }),
            (&[0x1f, 0x8b, 0, 0, 0, 0], BodyError::Gzip { kind: "truncated" }),
            (b"\x0a\x05abc", BodyError::Protobuf),
            (
                b"{\"resourceLogs\":[{\"scopeLogs\":\"CANARY-x\"}]}",
                BodyError::Json { category: "data", line: 1, column: 40 },
            ),
        ];
        for (body, expected) in cases {
            let e = decode_logs(body, 1 << 20).unwrap_err();
            assert_eq!(e, expected, "{body:?}");
            assert_eq!(e.http_status(), 400);
            assert!(!e.to_string().contains("CANARY"), "{e}");
        }
    }
}
