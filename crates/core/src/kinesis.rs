//! Kinesis input: which kind of event a Lambda invocation carries, and the records of a Kinesis
//! Data Streams event (the partial batch response that names failed records is the AWS edge's,
//! `sanitizer_aws::batch`).
//!
//! A CloudWatch Logs subscription reaches another account only through a Logs destination backed
//! by a Kinesis stream. Each record's `data` is then the gzip payload a direct subscription sends
//! base64-encoded inside `{"awslogs":{"data":...}}`: its base64 text goes through the same
//! reader as a direct envelope's `data`.
//!
//! Trusts nothing about its input. Guarantees:
//! - [`read_event`] decides the kind of an event in one place: a JSON object whose first member
//!   is `awslogs` is a subscription envelope (read without a second pass); otherwise an object
//!   with a `Records` member and no `awslogs` member is a Kinesis event, one with both is refused;
//!   anything else is handed to the subscription decoder unchanged (so its errors are exactly
//!   those of [`crate::decode::decode_envelope`]).
//! - A record that cannot be decoded is a failed record ([`RecordError`]): it is reported in the
//!   batch response by its sequence number, never dropped. A batch whose records cannot even
//!   be told apart (no usable sequence number) is an [`EventError`]: the whole invocation fails.
//! - Records are read one at a time (`Sanitizer::sanitize_record`, called by the handler as each
//!   record's turn comes), so memory is bounded by one record's decompressed-size cap (plus the sanitized
//!   events of the writes in flight), not by the batch.
//! - Errors name a kind and a record position, never content. Sequence numbers (decimal digits,
//!   checked) are the only values taken from the event, because the response must name them.
//!
//! Our own serde types rather than `aws_lambda_events`' `KinesisEvent`: that type decodes base64
//! inside serde, so one bad record would fail the whole batch before the handler runs (and its
//! error text is serde's); here `data` stays a borrowed string until its record is handled.

use crate::decode::{self, Compressed, DecodeError, Payload, Source};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Longest sequence number accepted, in decimal digits: the Kinesis API reference gives
/// `SequenceNumber` the pattern `0|([1-9]\d{0,128})`
/// (<https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecord.html>).
pub const MAX_SEQUENCE_NUMBER_LEN: usize = 129;

/// What an invocation's event is.
pub enum Event<'a> {
    /// A direct subscription envelope (`{"awslogs":{"data":"..."}}`), or something that is not a
    /// Kinesis event: decode the same bytes with [`crate::decode::decode_envelope`].
    Subscription,
    /// A Kinesis Data Streams event, its records in delivery order.
    Kinesis(Vec<Record<'a>>),
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Subscription => f.write_str("Subscription"),
            Event::Kinesis(records) => f.debug_struct("Kinesis").field("records", &records.len()).finish(),
        }
    }
}

/// Why a Kinesis event as a whole cannot be handled. Names a kind and a position only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event has both awslogs and Records: neither a subscription nor a Kinesis event")]
    Ambiguous,
    #[error("Records is not a list of Kinesis records ({category} error at line {line}, column {column} of Records)")]
    Shape { category: &'static str, line: usize, column: usize },
    #[error("record {index} is not from Kinesis (eventSource)")]
    NotKinesis { index: usize },
    #[error("record {index} has no usable sequenceNumber")]
    SequenceNumber { index: usize },
}

/// Why one record could not be decoded. Names a kind and the record's position only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {index}: {kind}")]
pub struct RecordError {
    /// Position of the record in the event (0-based).
    pub index: usize,
    pub kind: RecordFault,
}

/// What is wrong with a record's data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordFault {
    #[error("kinesis.data is missing or not a string")]
    NotString,
    #[error("kinesis.data is not valid base64 (at byte {offset})")]
    Base64 { offset: usize },
    #[error("kinesis.data is not a valid gzip stream ({kind})")]
    Gzip { kind: &'static str },
    #[error("decompressed record exceeds the cap of {limit} bytes")]
    TooLarge { limit: usize },
    #[error(
        "decompressed record is not a valid subscription payload ({category} error at line {line}, column {column})"
    )]
    Payload { category: &'static str, line: usize, column: usize },
}

impl RecordFault {
    /// A fixed name for summaries and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordFault::NotString => "not_string",
            RecordFault::Base64 { .. } => "base64",
            RecordFault::Gzip { .. } => "gzip",
            RecordFault::TooLarge { .. } => "too_large",
            RecordFault::Payload { .. } => "payload",
        }
    }
}

impl From<DecodeError> for RecordFault {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Gzip { kind } => RecordFault::Gzip { kind },
            DecodeError::TooLarge { limit } => RecordFault::TooLarge { limit },
            DecodeError::Payload { category, line, column } => RecordFault::Payload { category, line, column },
            DecodeError::Base64 { offset } => RecordFault::Base64 { offset },
            // A record's data is read without an envelope; kept total for safety.
            DecodeError::Envelope { category, line, column } => RecordFault::Payload { category, line, column },
        }
    }
}

/// Why a Kinesis event, or one of its records, could not be handled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KinesisError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Why an input the function accepts could not be read: a direct envelope's decode error (worded
/// as ever), or a Kinesis event's or record's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Envelope(#[from] DecodeError),
    #[error(transparent)]
    Kinesis(#[from] KinesisError),
}

/// One Kinesis record: its position, its (checked) sequence number and its still-encoded data.
pub struct Record<'a> {
    index: usize,
    sequence_number: Cow<'a, str>,
    data: Option<&'a RawValue>,
}

impl Record<'_> {
    /// Position in the event (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The record's sequence number: decimal digits, what the batch response names.
    pub fn sequence_number(&self) -> &str {
        &self.sequence_number
    }

    /// base64 → size-capped gzip → subscription payload, the decode path of a direct envelope
    /// after its base64. A control message decodes like any payload
    /// ([`Payload::is_control_message`]); the sanitizer skips and counts it.
    pub fn decode(&self, max_decompressed: usize) -> Result<Payload, RecordError> {
        self.read(|source| Payload::read(source, max_decompressed).map(|p| p.expect("a record is always decided")))
    }

    /// Runs `read` on the record's data (base64 of a gzip payload, as a direct envelope's),
    /// naming this record in its error.
    pub(crate) fn read<T>(&self, read: impl FnOnce(Source<'_>) -> Result<T, DecodeError>) -> Result<T, RecordError> {
        let fail = |kind| RecordError { index: self.index, kind };
        let data: Cow<'_, str> = self
            .data
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .ok_or_else(|| fail(RecordFault::NotString))?;
        read(Source::Compressed(Compressed::Base64(data.as_bytes()))).map_err(|e| fail(e.into()))
    }
}

/// Position and shape only: the data stays out of `Debug`.
impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record").field("index", &self.index).finish_non_exhaustive()
    }
}

/// The top level of any event: only which members are present is read here.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default)]
    awslogs: Option<IgnoredAny>,
    #[serde(rename = "Records", borrow, default)]
    records: Option<&'a RawValue>,
}

/// One element of `Records` (other members, such as `eventID` or `awsRegion`, are ignored).
#[derive(Deserialize)]
struct WireRecord<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kinesis: WireKinesis<'a>,
}

#[derive(Deserialize)]
struct WireKinesis<'a> {
    #[serde(rename = "sequenceNumber", borrow, default)]
    sequence_number: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Decides which kind of event `event` is and, for a Kinesis event, reads its records (their
/// data stays encoded). An object whose first member is `awslogs`, bytes that are not a JSON
/// object, and an object without `Records` are [`Event::Subscription`]: the subscription
/// decoder then reads or refuses them exactly as before.
pub fn read_event(event: &[u8]) -> Result<Event<'_>, EventError> {
    // Only an object can be either (serde would also read a struct from a JSON array).
    if !event.trim_ascii_start().starts_with(b"{") {
        return Ok(Event::Subscription);
    }
    // What CloudWatch Logs sends directly starts with its one member, `awslogs`: decode it
    // without a second pass over its (up to 1 MB of) base64; other members, as ever, are ignored.
    if decode::opening(event, decode::AWSLOGS_MEMBER).is_some() {
        return Ok(Event::Subscription);
    }
    let Ok(top) = serde_json::from_slice::<Top<'_>>(event) else {
        return Ok(Event::Subscription);
    };
    let raw = match (top.awslogs, top.records) {
        (_, None) => return Ok(Event::Subscription),
        (Some(_), Some(_)) => return Err(EventError::Ambiguous),
        (None, Some(raw)) => raw,
    };
    let wire: Vec<WireRecord<'_>> = serde_json::from_str(raw.get()).map_err(|e| {
        let (category, line, column) = decode::json_position(&e);
        EventError::Shape { category, line, column }
    })?;
    wire.into_iter()
        .enumerate()
        .map(|(index, record)| {
            if record.event_source.as_deref().is_some_and(|s| s != "aws:kinesis") {
                return Err(EventError::NotKinesis { index });
            }
            let sequence_number = record
                .kinesis
                .sequence_number
                .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok())
                .filter(|s| is_sequence_number(s))
                .ok_or(EventError::SequenceNumber { index })?;
            Ok(Record { index, sequence_number, data: record.kinesis.data })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Event::Kinesis)
}

fn is_sequence_number(s: &str) -> bool {
    (1..=MAX_SEQUENCE_NUMBER_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::{STANDARD, gzip};

    const PAYLOAD: &str = r#"{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":5,"message":"{}"},{"id":"2","timestamp":6,"message":"{}"}]}"#;
    const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;

    fn record(seq: &str, data: &str) -> String {
        format!(
            r#"{{"kinesis":{{"kinesisSchemaVersion":"1.0","partitionKey":"p","sequenceNumber":"{seq}","data":"{data}","approximateArrivalTimestamp":1545084650.987}},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:{seq}","eventName":"aws:kinesis:record","awsRegion":"eu-west-1","eventSourceARN":"arn:aws:kinesis:eu-west-1:111122223333:stream/s"}}"#
        )
    }

    fn event(records: &[String]) -> Vec<u8> {
        format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes()
    }

    fn kind(bytes: &[u8]) -> Result<Option<usize>, EventError> {
        read_event(bytes).map(|e| match e {
            Event::Subscription => None,
            Event::Kinesis(r) => Some(r.len()),
        })
    }

    /// One `#[test]` per row: event bytes => `Ok(None)` (subscription), `Ok(Some(n))` (Kinesis,
    /// n records) or the error.
    macro_rules! detects {
        ($($name:ident: $input:expr => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                let input = Vec::<u8>::from($input);
                assert_eq!(kind(&input), $expected);
            }
        )*};
    }

    detects! {
        direct_envelope: br#"{"awslogs":{"data":"H4sI"}}"# => Ok(None);
        direct_with_extra_member: br#"{"awslogs":{"data":"x"},"other":[1]}"# => Ok(None);
        not_json_goes_to_the_subscription_decoder: b"not json CANARY" => Ok(None);
        not_an_object: b"[1,2]" => Ok(None);
        empty_object: b"{}" => Ok(None);
        kinesis_one_record: event(&[record("1", "")]) => Ok(Some(1));
        kinesis_three_records: event(&[record("1", ""), record("2", ""), record("3", "")]) => Ok(Some(3));
        kinesis_no_records: br#"{"Records":[]}"# => Ok(Some(0));
        kinesis_without_event_source: br#"{"Records":[{"kinesis":{"sequenceNumber":"7","data":""}}]}"# => Ok(Some(1));
        awslogs_first_is_an_envelope: br#"{"awslogs":{"data":""},"Records":[]}"# => Ok(None);
        awslogs_first_after_whitespace: b" \n{ \"awslogs\" : 1, \"Records\": []}" => Ok(None);
        both_members_records_first: br#"{"Records":[],"awslogs":{"data":""}}"# => Err(EventError::Ambiguous);
        awslogs_key_prefix_is_not_awslogs: br#"{"awslogsX":1,"Records":[]}"# => Ok(Some(0));
        records_not_a_list: br#"{"Records":"CANARY"}"# => Err(EventError::Shape { category: "data", line: 1, column: 8 });
        sqs_record_without_kinesis: br#"{"Records":[{"eventSource":"aws:sqs","body":"CANARY"}]}"# => Err(EventError::Shape { category: "data", line: 1, column: 42 });
        other_event_source: br#"{"Records":[{"eventSource":"aws:sqs","kinesis":{"sequenceNumber":"1","data":""}}]}"# => Err(EventError::NotKinesis { index: 0 });
        missing_sequence_number: event(&[record("1", ""), r#"{"kinesis":{"data":""}}"#.to_owned()]) => Err(EventError::SequenceNumber { index: 1 });
        sequence_number_not_digits: event(&[record("12a", "")]) => Err(EventError::SequenceNumber { index: 0 });
        sequence_number_empty: event(&[record("", "")]) => Err(EventError::SequenceNumber { index: 0 });
        sequence_number_a_number: br#"{"Records":[{"kinesis":{"sequenceNumber":12,"data":""}}]}"# => Err(EventError::SequenceNumber { index: 0 });
        sequence_number_too_long: event(&[record(&"9".repeat(130), "")]) => Err(EventError::SequenceNumber { index: 0 });
    }

    #[test]
    fn longest_sequence_number_is_accepted() {
        assert_eq!(kind(&event(&[record(&"9".repeat(MAX_SEQUENCE_NUMBER_LEN), "")])), Ok(Some(1)));
    }

    fn records(bytes: &[u8]) -> Vec<Record<'_>> {
        match read_event(bytes).unwrap() {
            Event::Kinesis(r) => r,
            Event::Subscription => panic!("not detected as Kinesis"),
        }
    }

    #[test]
    fn records_decode_through_the_subscription_path() {
        let good = STANDARD.encode(gzip(PAYLOAD.as_bytes()));
        let control = STANDARD.encode(gzip(CONTROL.as_bytes()));
        let bytes = event(&[record("100", &good), record("200", &control)]);
        let records = records(&bytes);
        assert_eq!(records[0].sequence_number(), "100");
        assert_eq!(records[1].index(), 1);
        let payload = records[0].decode(1 << 20).unwrap();
        assert!(!payload.is_control_message());
        assert_eq!(payload.event_count(), 2);
        assert_eq!(payload.log_group(), "g");
        assert!(records[1].decode(1 << 20).unwrap().is_control_message());
    }

    /// One `#[test]` per row: the record data (as JSON text) => the fault.
    macro_rules! record_fails {
        ($($name:ident: $data:expr => $fault:pat,)*) => {$(
            #[test]
            fn $name() {
                let data: String = $data;
                let bytes = format!(r#"{{"Records":[{{"kinesis":{{"sequenceNumber":"5","data":{data}}}}}]}}"#);
                let records = records(bytes.as_bytes());
                let err = records[0].decode(1 << 16).unwrap_err();
                assert_eq!(err.index, 0);
                assert!(matches!(err.kind, $fault), "{err:?}");
                assert!(!err.to_string().contains("CANARY"), "{err}");
            }
        )*};
    }

    record_fails! {
        data_missing: String::from("null") => RecordFault::NotString,
        data_a_number: String::from("5") => RecordFault::NotString,
        data_bad_base64: String::from(r#""CANARY*""#) => RecordFault::Base64 { offset: 6 },
        data_not_gzip: format!(r#""{}""#, STANDARD.encode("CANARY plain text")) => RecordFault::Gzip { .. },
        data_truncated_gzip: {
            let whole = gzip(PAYLOAD.as_bytes());
            format!(r#""{}""#, STANDARD.encode(&whole[..whole.len() - 8]))
        } => RecordFault::Gzip { kind: "truncated" },
        data_over_the_cap: format!(r#""{}""#, STANDARD.encode(gzip(&vec![b' '; 1 << 17]))) => RecordFault::TooLarge { limit: 65536 },
        data_not_a_payload: format!(r#""{}""#, STANDARD.encode(gzip(br#"{"messageType":"CANARY"}"#))) => RecordFault::Payload { category: "data", .. },
        data_not_json: format!(r#""{}""#, STANDARD.encode(gzip(b"CANARY"))) => RecordFault::Payload { category: "syntax", .. },
    }

    #[test]
    fn errors_and_debug_name_positions_not_content() {
        let bytes = event(&[record("1", "CANA*YCANARY")]);
        let records = records(&bytes);
        assert!(!format!("{records:?}").contains("CANARY"));
        let err = records[0].decode(1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "record 0: kinesis.data is not valid base64 (at byte 4)");
        for e in [
            read_event(br#"{"Records":{"CANARY":1}}"#).unwrap_err(),
            read_event(br#"{"Records":[{"kinesis":{"sequenceNumber":"CANARY"}}]}"#).unwrap_err(),
        ] {
            assert!(!e.to_string().contains("CANARY"), "{e}");
        }
    }
}
