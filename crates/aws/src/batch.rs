//! The outcome of one Kinesis batch: which records failed and why, and the partial batch
//! response that names them (the records themselves are read by `sanitizer_core::kinesis`).
//!
//! Holds positions, sequence numbers (decimal digits, checked when read) and fixed reasons only.

use sanitizer_core::kinesis::{Record, RecordError};

/// The partial batch response Lambda reads when the event source mapping has
/// `FunctionResponseTypes: [ReportBatchItemFailures]`: only the named records are retried
/// (from the lowest failed sequence number on). An empty list means the whole batch succeeded.
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html>)
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One failed record, named by its sequence number.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

/// What happened to the records of one Kinesis event: how many, how many were control messages
/// (skipped), and which failed and why (position and fixed reason only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub records: u64,
    pub control_messages: u64,
    /// Failed records that could not be decoded (the rest failed to be written).
    pub undecodable: u64,
    /// `(record index, sequence number, reason)`, in record order.
    failed: Vec<(usize, String, &'static str)>,
}

impl BatchOutcome {
    /// Counts one record handled without failure.
    pub fn succeeded(&mut self, control_message: bool) {
        self.records += 1;
        self.control_messages += u64::from(control_message);
    }

    /// Counts one record that could not be decoded.
    pub fn undecodable(&mut self, record: &Record<'_>, error: &RecordError) {
        self.undecodable += 1;
        self.failed(record, error.kind.as_str());
    }

    /// Counts one record whose events were not all written; `reason` is a fixed name (the
    /// handler error's `error_type`).
    pub fn unwritten(&mut self, record: &Record<'_>, reason: &'static str) {
        self.failed(record, reason);
    }

    fn failed(&mut self, record: &Record<'_>, reason: &'static str) {
        self.records += 1;
        self.failed.push((record.index(), record.sequence_number().to_owned(), reason));
    }

    /// Failed records as `(index, reason)`, in record order.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &'static str)> + '_ {
        self.failed.iter().map(|(i, _, r)| (*i, *r))
    }

    pub fn failed_count(&self) -> u64 {
        self.failed.len() as u64
    }

    /// The response naming every failed record.
    pub fn response(&self) -> BatchResponse {
        BatchResponse {
            batch_item_failures: self
                .failed
                .iter()
                .map(|(_, seq, _)| ItemFailure { item_identifier: seq.clone() })
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sanitizer_core::kinesis::{Event, read_event};

    pub(crate) fn record(seq: &str, data: &str) -> String {
        format!(
            r#"{{"kinesis":{{"kinesisSchemaVersion":"1.0","partitionKey":"p","sequenceNumber":"{seq}","data":"{data}","approximateArrivalTimestamp":1545084650.987}},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:{seq}","eventName":"aws:kinesis:record","awsRegion":"eu-west-1","eventSourceARN":"arn:aws:kinesis:eu-west-1:111122223333:stream/s"}}"#
        )
    }

    pub(crate) fn event(records: &[String]) -> Vec<u8> {
        format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes()
    }

    pub(crate) fn records(bytes: &[u8]) -> Vec<sanitizer_core::kinesis::Record<'_>> {
        match read_event(bytes).unwrap() {
            Event::Kinesis(records) => records,
            Event::Subscription => panic!("not a Kinesis event"),
        }
    }

    /// Four records: one written, the second undecodable (not gzip), a control message, the
    /// third unwritten.
    pub(crate) fn sample_outcome() -> BatchOutcome {
        let bytes = event(&[record("10", ""), record("20", ""), record("30", "")]);
        let records = records(&bytes);
        let mut outcome = BatchOutcome::default();
        outcome.succeeded(false);
        outcome.undecodable(&records[1], &records[1].decode(1 << 20).unwrap_err());
        outcome.succeeded(true);
        outcome.unwritten(&records[2], "WriteError");
        outcome
    }

    #[test]
    fn response_names_exactly_the_failed_records() {
        let outcome = sample_outcome();
        assert_eq!(
            (outcome.records, outcome.control_messages, outcome.failed_count(), outcome.undecodable),
            (4, 1, 2, 1)
        );
        assert_eq!(outcome.failures().collect::<Vec<_>>(), [(1, "gzip"), (2, "WriteError")]);
        assert_eq!(
            serde_json::to_string(&outcome.response()).unwrap(),
            r#"{"batchItemFailures":[{"itemIdentifier":"20"},{"itemIdentifier":"30"}]}"#
        );
        assert_eq!(serde_json::to_string(&BatchOutcome::default().response()).unwrap(), r#"{"batchItemFailures":[]}"#);
    }
}
