//! Envelopes as CloudWatch Logs delivers them, built and read back by the tests: gzip, base64
//! and the subscription payload around a list of messages.
//!
//! Trusts its input (test-built payloads and the repository's fixtures). Reading gzip back is the
//! one test-side decompression; the product decompresses only in `crates/core/src/decode.rs` (`clippy.toml`).

use base64::Engine as _;
use std::io::{Read as _, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, as CloudWatch timestamps count.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `{"awslogs":{"data": base64(gzip(payload))}}`.
pub fn envelope_of(payload: &serde_json::Value) -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(&serde_json::to_vec(payload).unwrap()));
    serde_json::to_vec(&serde_json::json!({"awslogs": {"data": data}})).unwrap()
}

/// The payload inside an envelope.
pub fn payload_of(envelope: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    let data = base64::engine::general_purpose::STANDARD.decode(v["awslogs"]["data"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&gunzip(&data)).unwrap()
}

/// Gzip of `bytes` (fast: tests compress much and gain nothing from a smaller stream).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Every member of a gzip stream, uncapped: for test-built envelopes and the fixtures only.
#[allow(
    clippy::disallowed_types,
    reason = "reads back trusted test data; the product path is crates/core/src/decode.rs"
)]
pub fn gunzip(compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed).read_to_end(&mut out).unwrap();
    out
}

/// A data payload from one source group/stream.
pub fn payload(group: &str, stream: &str, events: &[(String, i64, String)]) -> serde_json::Value {
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["sanitizer"],
        "logEvents": events.iter().map(|(id, ts, m)| serde_json::json!({"id": id, "timestamp": ts, "message": m})).collect::<Vec<_>>(),
    })
}

/// Moves the payload's events to end at about now (keeping their spacing and order), so that
/// CloudWatch (and moto) accept them: events older than 14 days are rejected.
pub fn retime_to_now(payload: &mut serde_json::Value) {
    let Some(events) = payload["logEvents"].as_array_mut() else { return };
    let Some(max) = events.iter().filter_map(|e| e["timestamp"].as_i64()).max() else { return };
    let shift = now_ms() - 60_000 - max;
    for e in events {
        if let Some(ts) = e["timestamp"].as_i64() {
            e["timestamp"] = serde_json::json!(ts + shift);
        }
    }
}
