//! The recorded mix re-drawn per event, shared by the benchmark (`benches/sanitize.rs`) and the
//! load test (`tests/kinesis_load.rs`): identifiers (UUIDs, hex digests, digit strings) re-drawn
//! from proptest's XorShift generator with its fixed seed, so the workloads are the same every run
//! and compress like traffic rather than like copies of one record.

use proptest::prelude::RngExt as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::Value;

/// Identifier digits from proptest's XorShift generator with its fixed seed: the same
/// workloads every run.
pub struct Rng(TestRng);

impl Rng {
    /// The fixed-seed generator every workload starts from.
    pub fn deterministic() -> Rng {
        Rng(TestRng::deterministic_rng(RngAlgorithm::XorShift))
    }

    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[self.0.random_range(0..16)])).collect()
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.0.random_range(0..10u8))).collect()
    }
}

/// Re-draws identifiers so that every event differs where real events differ.
pub fn vary(value: &mut Value, rng: &mut Rng) {
    match value {
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() == 36 && b.iter().enumerate().all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (*c == b'-')) {
                *s = format!("{}-{}-4{}-a{}-{}", rng.hex(8), rng.hex(4), rng.hex(3), rng.hex(3), rng.hex(12));
            } else if b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit) {
                *s = rng.hex(b.len());
            } else if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
                *s = rng.digits(b.len());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| vary(v, rng)),
        Value::Object(map) => map.values_mut().for_each(|v| vary(v, rng)),
        _ => {}
    }
}
