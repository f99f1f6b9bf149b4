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

/// How many people a workload's events come from: a team, within the pseudonym cache of one
/// call, as a subscription payload holds the events of a few developers.
pub const PEOPLE: u64 = 24;

/// The identity attributes, each one person's throughout their events.
const IDENTITY: [&str; 5] = ["user.id", "user.email", "user.account_uuid", "user.account_id", "organization.id"];

/// Makes `value` (an event, its identifiers already re-drawn by [`vary`]) one of [`PEOPLE`]
/// people's, drawn from `rng`: its identity attributes (in its attributes and its resource's,
/// in either stored shape) become that person's, the same in every event of theirs, as in real
/// traffic. (Re-drawn per event, every event was a new person's, and each needed a pseudonym of
/// its own: a tenth of the full path's instructions that real payloads do not spend.)
pub fn as_person(value: &mut Value, rng: &mut Rng) {
    let person = rng.0.random_range(0..PEOPLE);
    identify(value, person);
}

fn identify(value: &mut Value, person: u64) {
    match value {
        Value::Object(map) => {
            // The object form: `"user.id": "..."`; the list form: `{"key": "user.id", "value": ..}`.
            let listed = map.get("key").and_then(Value::as_str).and_then(|k| IDENTITY.iter().position(|i| *i == k));
            for (key, v) in map.iter_mut() {
                match (IDENTITY.iter().position(|i| i == key), listed) {
                    (Some(which), _) | (None, Some(which)) if key != "key" => become_person(v, person, which),
                    _ => identify(v, person),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| identify(v, person)),
        _ => {}
    }
}

/// The person's own identifier for identity attribute `which`, of the same shape as the one it
/// replaces: the same in every event of theirs.
fn become_person(value: &mut Value, person: u64, which: usize) {
    match value {
        Value::String(s) if s.contains('@') => *s = format!("person{person}@example.com"),
        Value::String(_) => {
            let seed: Vec<u8> =
                (0..16).map(|i| (person as u8 + 1).wrapping_mul(31).wrapping_add(which as u8 * 7 + i)).collect();
            vary(value, &mut Rng(TestRng::from_seed(RngAlgorithm::XorShift, &seed)));
        }
        Value::Object(map) => map.values_mut().for_each(|v| become_person(v, person, which)),
        _ => {}
    }
}
