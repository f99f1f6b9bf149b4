//! Plan: sort sanitized events by timestamp and split them into `PutLogEvents` batches.
//!
//! # The one stage that sorts
//! The sanitizer returns events in input order; `plan` alone puts them in write order (a stable
//! sort by timestamp, so events of one millisecond keep their arrival order). Every writer goes
//! through it: the Lambda, and the CLI's `sanitize` with or without `--log-group`, all run
//! [`crate::handler::Handler`], whose `handle_payload` calls [`plan`] and writes the batches in
//! order. What `sanitize` prints is therefore, per input, the events sorted by timestamp; with
//! several inputs, each input's events follow the previous input's.
//!
//! Pure. Trusts nothing about its input (any timestamps, any message sizes). Guarantees, for
//! every batch it returns (checked by a property test):
//! - events are in chronological order (a stable sort: equal timestamps keep their input order);
//! - at most [`MAX_BATCH_EVENTS`] events;
//! - at most [`MAX_BATCH_BYTES`] bytes, counting UTF-8 message bytes plus
//!   [`EVENT_OVERHEAD_BYTES`] per event;
//! - last timestamp minus first timestamp is less than [`MAX_BATCH_SPAN_MS`];
//! - no empty message and no event larger than [`MAX_EVENT_BYTES`].
//!
//! Events that no batch can hold (empty or over-size messages) are returned as counted refusals,
//! never silently dropped. Concatenating the batches gives the sorted input minus the refusals.
//!
//! Limits are those of the `PutLogEvents` API reference:
//! <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>

use sanitizer_core::SanitizedEvent;

/// "The maximum number of log events in a batch is 10,000."
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>)
pub const MAX_BATCH_EVENTS: usize = 10_000;

/// "The maximum batch size is 1,048,576 bytes. This size is calculated as the sum of all event
/// messages in UTF-8, plus 26 bytes for each log event."
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>)
pub const MAX_BATCH_BYTES: usize = 1_048_576;

/// The per-event overhead counted against [`MAX_BATCH_BYTES`] (same reference).
pub const EVENT_OVERHEAD_BYTES: usize = 26;

/// "Each log event can be no larger than 1 MB." Counted with its overhead, an event must also
/// fit a batch on its own, so the largest message is `MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES`.
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>)
pub const MAX_EVENT_BYTES: usize = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;

/// "A batch of log events in a single request cannot span more than 24 hours. Otherwise, the
/// operation fails." We keep each batch's span strictly below this.
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>)
pub const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;

/// One `PutLogEvents` call's worth of events, in chronological order.
#[derive(Clone, PartialEq, Eq)]
pub struct Batch {
    events: Vec<SanitizedEvent>,
    bytes: usize,
}

impl Batch {
    pub fn events(&self) -> &[SanitizedEvent] {
        &self.events
    }

    /// Size as `PutLogEvents` counts it: message bytes plus the per-event overhead.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn into_events(self) -> Vec<SanitizedEvent> {
        self.events
    }
}

/// Shape only: the events are sanitized, but a `Debug` print has no need of them.
impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("events", &self.events.len()).field("bytes", &self.bytes).finish()
    }
}

/// The batches to send, in order, and what could not be batched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    /// Events whose message is longer than [`MAX_EVENT_BYTES`].
    pub too_large: u64,
    /// Events whose message is empty (`PutLogEvents` requires at least one byte).
    pub empty: u64,
}

impl Plan {
    /// Events in all batches.
    pub fn event_count(&self) -> usize {
        self.batches.iter().map(Batch::len).sum()
    }
}

/// Sorts `events` by timestamp (stable) and splits them into batches that obey every
/// `PutLogEvents` limit. Greedy: a new batch starts only when the next event would break a rule.
pub fn plan(mut events: Vec<SanitizedEvent>) -> Plan {
    events.sort_by_key(|e| e.timestamp);
    let mut out = Plan::default();
    let mut current = Batch { events: Vec::new(), bytes: 0 };
    for event in events {
        let len = event.message.len();
        if len == 0 {
            out.empty += 1;
            continue;
        }
        if len > MAX_EVENT_BYTES {
            out.too_large += 1;
            continue;
        }
        let size = len + EVENT_OVERHEAD_BYTES;
        if let Some(first) = current.events.first() {
            let full = current.events.len() >= MAX_BATCH_EVENTS
                || current.bytes + size > MAX_BATCH_BYTES
                || span(first.timestamp, event.timestamp) >= MAX_BATCH_SPAN_MS;
            if full {
                out.batches.push(std::mem::replace(&mut current, Batch { events: Vec::new(), bytes: 0 }));
            }
        }
        current.bytes += size;
        current.events.push(event);
    }
    if !current.events.is_empty() {
        out.batches.push(current);
    }
    out
}

/// `later - earlier` without overflow for any pair of `i64` timestamps.
fn span(earlier: i64, later: i64) -> i64 {
    later.saturating_sub(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(timestamp: i64, len: usize) -> SanitizedEvent {
        SanitizedEvent { timestamp, message: "x".repeat(len) }
    }

    fn shape(p: &Plan) -> Vec<usize> {
        p.batches.iter().map(Batch::len).collect()
    }

    const HOUR: i64 = 60 * 60 * 1000;

    /// One `#[test]` per table row: (input events, expected batch sizes, too_large, empty).
    macro_rules! plans_to {
        ($($name:ident: $input:expr => $shape:expr, too_large $big:expr, empty $empty:expr;)*) => {$(
            #[test]
            fn $name() {
                let p = plan($input);
                let expected: Vec<usize> = $shape;
                assert_eq!(shape(&p), expected);
                assert_eq!(p.too_large, $big);
                assert_eq!(p.empty, $empty);
            }
        )*};
    }

    plans_to! {
        nothing: vec![] => vec![], too_large 0, empty 0;
        one_event: vec![ev(1, 10)] => vec![1], too_large 0, empty 0;
        exactly_max_events: (0..10_000).map(|i| ev(i, 1)).collect() => vec![10_000], too_large 0, empty 0;
        one_over_max_events: (0..10_001).map(|i| ev(i, 1)).collect() => vec![10_000, 1], too_large 0, empty 0;
        twenty_five_thousand: (0..25_000).map(|i| ev(i, 1)).collect() => vec![10_000, 10_000, 5_000], too_large 0, empty 0;
        exactly_max_bytes: vec![ev(0, MAX_BATCH_BYTES / 2 - 26), ev(1, MAX_BATCH_BYTES / 2 - 26)] => vec![2], too_large 0, empty 0;
        one_byte_over_max_bytes: vec![ev(0, MAX_BATCH_BYTES / 2 - 26), ev(1, MAX_BATCH_BYTES / 2 - 25)] => vec![1, 1], too_large 0, empty 0;
        largest_event_alone: vec![ev(0, MAX_EVENT_BYTES), ev(1, 1)] => vec![1, 1], too_large 0, empty 0;
        event_too_large: vec![ev(0, 5), ev(1, MAX_EVENT_BYTES + 1), ev(2, 5)] => vec![2], too_large 1, empty 0;
        empty_message: vec![ev(0, 0), ev(1, 3)] => vec![1], too_large 0, empty 1;
        span_just_under_24h: vec![ev(0, 1), ev(24 * HOUR - 1, 1)] => vec![2], too_large 0, empty 0;
        span_of_24h_splits: vec![ev(0, 1), ev(24 * HOUR, 1)] => vec![1, 1], too_large 0, empty 0;
        unsorted_span_splits: vec![ev(30 * HOUR, 1), ev(0, 1), ev(HOUR, 1)] => vec![2, 1], too_large 0, empty 0;
        extreme_timestamps: vec![ev(i64::MAX, 1), ev(i64::MIN, 1)] => vec![1, 1], too_large 0, empty 0;
    }

    #[test]
    fn sorts_stably_by_timestamp() {
        let input = vec![
            SanitizedEvent { timestamp: 5, message: "c".into() },
            SanitizedEvent { timestamp: 1, message: "a".into() },
            SanitizedEvent { timestamp: 5, message: "d".into() },
            SanitizedEvent { timestamp: 1, message: "b".into() },
        ];
        let p = plan(input);
        let got: Vec<&str> = p.batches[0].events().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(got, ["a", "b", "c", "d"]);
    }

    #[test]
    fn debug_prints_shape_not_messages() {
        let p = plan(vec![SanitizedEvent { timestamp: 0, message: "CANARY".into() }]);
        assert!(!format!("{p:?}").contains("CANARY"));
    }

    fn arb_events() -> impl Strategy<Value = Vec<SanitizedEvent>> {
        // Few distinct timestamps (to exercise ties and the 24 h rule) and sizes around the
        // byte limits, so that every rule is hit in a modest number of events.
        let timestamp = prop_oneof![0i64..5, (0i64..4).prop_map(|d| d * 12 * HOUR), any::<i64>(),];
        let len = prop_oneof![
            4 => 0usize..64,
            1 => (MAX_BATCH_BYTES / 4 - 64)..(MAX_BATCH_BYTES / 4 + 64),
            1 => (MAX_EVENT_BYTES - 2)..(MAX_EVENT_BYTES + 2),
        ];
        prop::collection::vec((timestamp, len, any::<u16>()), 0..40).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (timestamp, len, tag))| {
                    // A unique prefix makes order and content checks exact.
                    let mut message = format!("{i}:{tag}:");
                    if len == 0 {
                        message.clear();
                    } else {
                        message.push_str(&"y".repeat(len.saturating_sub(message.len())));
                    }
                    SanitizedEvent { timestamp, message }
                })
                .collect()
        })
    }

    // The case count is proptest's default, `PROPTEST_CASES` when set (CI: 10,000).
    proptest! {
        /// Invariant: every batch obeys every PutLogEvents rule, and the concatenation of the
        /// batches is exactly the stable-sorted input minus the counted refusals.
        #[test]
        fn every_batch_obeys_every_rule(events in arb_events()) {
            let mut expected = events.clone();
            expected.sort_by_key(|e| e.timestamp);
            let (big, empty) = (
                expected.iter().filter(|e| e.message.len() > MAX_EVENT_BYTES).count() as u64,
                expected.iter().filter(|e| e.message.is_empty()).count() as u64,
            );
            expected.retain(|e| !e.message.is_empty() && e.message.len() <= MAX_EVENT_BYTES);

            let p = plan(events);
            prop_assert_eq!(p.too_large, big);
            prop_assert_eq!(p.empty, empty);
            for b in &p.batches {
                prop_assert!(!b.is_empty());
                prop_assert!(b.len() <= MAX_BATCH_EVENTS);
                let bytes: usize = b.events().iter().map(|e| e.message.len() + EVENT_OVERHEAD_BYTES).sum();
                prop_assert_eq!(bytes, b.bytes());
                prop_assert!(bytes <= MAX_BATCH_BYTES);
                prop_assert!(b.events().windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
                let (first, last) = (b.events()[0].timestamp, b.events()[b.len() - 1].timestamp);
                prop_assert!(span(first, last) < MAX_BATCH_SPAN_MS);
                prop_assert!(b.events().iter().all(|e| !e.message.is_empty() && e.message.len() <= MAX_EVENT_BYTES));
            }
            let concatenated: Vec<SanitizedEvent> =
                p.batches.into_iter().flat_map(Batch::into_events).collect();
            prop_assert_eq!(concatenated, expected);
        }
    }
}
