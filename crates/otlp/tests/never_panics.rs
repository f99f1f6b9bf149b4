//! Properties on hostile bodies. Case count: `PROPTEST_CASES` (scripts/test.sh, and so CI, sets
//! 10,000). Invariant: whatever the bytes, reading and sanitizing a body
//! never panics; it gives an error that maps to 400 or 413, or lines and counts in which every
//! record received is written or dropped with a reason, and no line carries a recorded canary.

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use prost::Message as _;
use sanitizer_core::{Allowlist, PseudonymKey, Sanitizer};
use sanitizer_otlp::{LogsReceiver, decode_logs};
use std::io::Write as _;
use std::sync::LazyLock;

/// A real request of the client (its first export in the `bash` recording), with canaries.
const RECORDED: &[u8] = include_bytes!("../../../fixtures/record/raw/bash/001.json");
const CANARIES: &str = include_str!("../../../fixtures/recorded/canaries.txt");

static SANITIZER: LazyLock<Sanitizer> = LazyLock::new(|| {
    Sanitizer::new(Allowlist::embedded(), Some(PseudonymKey::new(b"property-test-key-0123456789").unwrap()))
});

static PROTOBUF: LazyLock<Vec<u8>> = LazyLock::new(|| decode_logs(RECORDED, 1 << 22).unwrap().encode_to_vec());

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn check(body: &[u8]) {
    let receiver = LogsReceiver::new(None, 1 << 22);
    match receiver.sanitize(&SANITIZER, body, 1) {
        Err(e) => assert!(matches!(e.http_status(), 400 | 413)),
        Ok(out) => {
            let c = &out.counts;
            assert_eq!(c.received, c.written + c.dropped_total());
            assert_eq!(c.written, out.events.len() as u64);
            for event in &out.events {
                for canary in CANARIES.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(!event.message.contains(canary), "canary {canary} leaked");
                }
            }
        }
    }
}

/// The recorded request with some bytes changed and maybe cut short.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8), any::<prop::sample::Index>())
        .prop_map(move |(changes, cut)| {
            let mut body = base.to_vec();
            for (at, byte) in changes {
                let i = at.index(body.len());
                body[i] = byte;
            }
            body.truncate(cut.index(body.len() + 1));
            body
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&body);
        check(&gzip(&body));
    }

    #[test]
    fn a_recorded_protobuf_body_changed(body in mutated(&PROTOBUF)) {
        check(&body);
    }

    #[test]
    fn a_recorded_json_body_changed(body in mutated(RECORDED)) {
        check(&body);
    }
}
