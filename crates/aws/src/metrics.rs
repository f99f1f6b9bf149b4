//! The per-invocation log line: one JSON object that is both the structured summary and a
//! CloudWatch Embedded Metric Format (EMF) document, so the counts in the logs and in the
//! metrics are the same numbers by construction.
//!
//! EMF specification:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//!
//! Metrics, in the configured namespace with **no dimensions** (one empty dimension set):
//! `Invocations`, `EventsReceived`, `EventsWritten`, `EventsDropped` (by the allowlist),
//! `EventsRejected` (by `PutLogEvents`, or too large to batch), `EventsUnwritten` (in a failed
//! write), `AttributesDropped`, `PayloadErrors`, `WriteErrors`, `Batches`, `Retries`; and the
//! spend the invocation wrote ([`SPEND_METRICS`]): `CostUSD` (the sum of `cost_usd`),
//! `InputTokens`, `OutputTokens`, `CacheReadTokens`, `CacheCreationTokens`, with the events that
//! carry it and the prompts that ask for it, `ApiRequests` and `UserPrompts` (written
//! `api_request` and `user_prompt` events). No dimension at all, not even the model family: each
//! dimension combination is a billed custom metric, and the detail dashboard's Logs Insights
//! widgets already break spend down by model. The overview dashboard reads these metrics for
//! its team totals (reading metrics in a dashboard runs no Logs Insights query).
//! Alarms: drops and rejections > 0; `PayloadErrors`/`WriteErrors` > 0;
//! `EventsReceived > 0` with `EventsWritten = 0` (a Claude Code format change that empties the
//! dashboards); `CostUSD` summed over 24 hours against the `DailyBudgetUSD` parameter.
//!
//! Trusts: [`Report`] holds counts only, [`Spend`] sums only. Guarantees: the line holds fixed
//! names and numbers.

use crate::handler::{HandlerError, Report};
use sanitizer_core::Spend;
use serde_json::{Map, Value, json};

/// Every metric name with its EMF unit, in output order.
pub const METRICS: [(&str, &str); 11] = [
    ("Invocations", "Count"),
    ("EventsReceived", "Count"),
    ("EventsWritten", "Count"),
    ("EventsDropped", "Count"),
    ("EventsRejected", "Count"),
    ("EventsUnwritten", "Count"),
    ("AttributesDropped", "Count"),
    ("PayloadErrors", "Count"),
    ("WriteErrors", "Count"),
    ("Batches", "Count"),
    ("Retries", "Count"),
];

/// The spend metrics with their EMF units, in output order, after [`METRICS`]. `CostUSD` is
/// in US dollars (EMF unit `None`), then token counts, then counts of written `api_request` and
/// `user_prompt` events.
pub const SPEND_METRICS: [(&str, &str); 7] = [
    ("CostUSD", "None"),
    ("InputTokens", "Count"),
    ("OutputTokens", "Count"),
    ("CacheReadTokens", "Count"),
    ("CacheCreationTokens", "Count"),
    ("ApiRequests", "Count"),
    ("UserPrompts", "Count"),
];

/// The outcome name in the log line.
pub fn outcome(report: &Report) -> &'static str {
    match &report.error {
        None => "ok",
        Some(HandlerError::Payload(_)) => "payload_error",
        Some(HandlerError::Write(_)) => "write_error",
        Some(HandlerError::Deadline) => "deadline",
        Some(HandlerError::Kinesis(_)) => "kinesis_input_error",
    }
}

/// The values of [`METRICS`] for one invocation's report, in order.
pub fn metric_values(report: &Report) -> [u64; METRICS.len()] {
    let payload_error = matches!(report.error, Some(HandlerError::Payload(_) | HandlerError::Kinesis(_)));
    let write_error = report.error.is_some() && !payload_error;
    [
        1,
        report.counts.received,
        report.written(),
        report.counts.dropped_total(),
        report.rejected(),
        report.write.unwritten,
        report.attributes_dropped(),
        u64::from(payload_error),
        u64::from(write_error),
        report.write.batches,
        report.write.retries,
    ]
}

fn spend_values(spend: &Spend) -> [Value; SPEND_METRICS.len()] {
    // A non-finite sum cannot be a metric value (EMF takes JSON numbers): report 0 rather than
    // drop the line. The kinds bound every cost_usd to 0..=10000, so this needs ~10^304 events.
    let cost = if spend.cost_usd.is_finite() { spend.cost_usd } else { 0.0 };
    [
        json!(cost),
        json!(spend.input_tokens),
        json!(spend.output_tokens),
        json!(spend.cache_read_tokens),
        json!(spend.cache_creation_tokens),
        json!(spend.api_requests),
        json!(spend.user_prompts),
    ]
}

/// An Embedded Metric Format document with no dimensions: the `_aws` member declaring
/// `metrics` (name, unit) in `namespace`. The caller adds each metric's value (and any other
/// member) to the returned map.
pub(crate) fn emf_line<'m>(
    namespace: &str,
    timestamp_ms: i64,
    metrics: impl IntoIterator<Item = (&'m str, &'m str)>,
) -> Map<String, Value> {
    let metrics: Vec<Value> = metrics.into_iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [[]], "Metrics": metrics}],
        }),
    );
    line
}

/// The invocation line as a JSON value, with the spend the invocation wrote
/// ([`Report::spend`]). `timestamp_ms`: now, in milliseconds since the epoch.
pub fn invocation_line(report: &Report, namespace: &str, timestamp_ms: i64) -> Value {
    let mut line = emf_line(namespace, timestamp_ms, METRICS.iter().chain(&SPEND_METRICS).copied());
    line.insert("message".into(), json!("invocation"));
    line.insert("outcome".into(), json!(outcome(report)));
    if let Some(e) = &report.error {
        line.insert("error_type".into(), json!(e.error_type()));
        line.insert("error".into(), json!(e.to_string()));
    }
    line.insert("duration_ms".into(), json!(report.duration.as_millis() as u64));
    // The sanitizer's counts: payloads, control_messages, received, written (= sanitized),
    // dropped and attributes_dropped by reason. Renamed `written` → `sanitized` here, since
    // `written` below means stored.
    if let Ok(Value::Object(counts)) = serde_json::to_value(&report.counts) {
        for (k, v) in counts {
            let k = if k == "written" { "sanitized".to_owned() } else { k };
            line.insert(k, v);
        }
    }
    line.insert("written".into(), json!(report.written()));
    line.insert(
        "rejected".into(),
        json!({
            "too_old": report.write.rejected.too_old,
            "too_new": report.write.rejected.too_new,
            "expired": report.write.rejected.expired,
            "too_large": report.too_large,
            "empty": report.empty,
        }),
    );
    line.insert("unwritten".into(), json!(report.write.unwritten));
    line.insert("batches".into(), json!(report.write.batches));
    line.insert("failed_batches".into(), json!(report.write.failed_batches));
    line.insert("retries".into(), json!(report.write.retries));
    for ((name, _), value) in METRICS.iter().zip(metric_values(report)) {
        line.insert((*name).into(), json!(value));
    }
    for ((name, _), value) in SPEND_METRICS.iter().zip(spend_values(&report.spend)) {
        line.insert((*name).into(), value);
    }
    Value::Object(line)
}

/// The OTLP endpoint's request line as EMF: [`METRICS`] and [`SPEND_METRICS`] under the
/// sanitizer's names in `namespace`, so the alarms and the dashboard count both paths alike.
/// `values`: [`metric_values`] of the request's report, or for a request refused before it was
/// sanitized one invocation (and one payload error for a malformed body). The caller adds its
/// own members (fixed names and numbers).
pub fn request_line(
    values: [u64; METRICS.len()],
    spend: &Spend,
    namespace: &str,
    timestamp_ms: i64,
) -> Map<String, Value> {
    let mut line = emf_line(namespace, timestamp_ms, METRICS.iter().chain(&SPEND_METRICS).copied());
    for ((name, _), value) in METRICS.iter().zip(values) {
        line.insert((*name).into(), json!(value));
    }
    for ((name, _), value) in SPEND_METRICS.iter().zip(spend_values(spend)) {
        line.insert((*name).into(), value);
    }
    line
}

/// [`metric_values`] of a request refused before it reached the sanitizer: one invocation, and
/// one payload error if `malformed`.
pub fn refused_values(malformed: bool) -> [u64; METRICS.len()] {
    let mut values = [0; METRICS.len()];
    values[0] = 1;
    values[7] = u64::from(malformed);
    values
}

/// Metrics of one Kinesis batch, in the invocation line's namespace, with no dimensions.
pub const KINESIS_METRICS: [&str; 4] =
    ["KinesisRecords", "KinesisRecordsFailed", "KinesisRecordsUndecodable", "ControlMessages"];

/// The batch's log line, also a CloudWatch Embedded Metric Format document (as
/// [`invocation_line`]): counts, and each failed record's position and reason.
/// Holds fixed names and numbers only (no sequence number: the response carries those).
pub fn batch_line(outcome: &crate::batch::BatchOutcome, namespace: &str, timestamp_ms: i64) -> serde_json::Value {
    use serde_json::{Value, json};
    let failed: Vec<Value> =
        outcome.failures().map(|(index, reason)| json!({"record": index, "reason": reason})).collect();
    let values = [outcome.records, outcome.failed_count(), outcome.undecodable, outcome.control_messages];
    let mut line = emf_line(namespace, timestamp_ms, KINESIS_METRICS.iter().map(|m| (*m, "Count")));
    line.insert("message".into(), json!("kinesis_batch"));
    for (name, value) in KINESIS_METRICS.iter().zip(values) {
        line.insert((*name).into(), json!(value));
    }
    line.insert("failed_records".into(), Value::Array(failed));
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{FailureKind, Rejected, SinkError, WriteReport};

    fn report() -> Report {
        let mut counts = sanitizer_core::Counts::default();
        counts.payloads = 1;
        counts.received = 10;
        counts.written = 7;
        counts.drop_event(sanitizer_core::EventDrop::EventNotAllowed);
        counts.drop_event(sanitizer_core::EventDrop::EventNotAllowed);
        counts.drop_event(sanitizer_core::EventDrop::Unparseable);
        counts.drop_attribute(sanitizer_core::AttributeDrop::NotAllowlisted);
        Report {
            counts,
            spend: spend(),
            too_large: 1,
            empty: 0,
            write: WriteReport {
                batches: 1,
                failed_batches: 0,
                accepted: 4,
                rejected: Rejected { too_old: 1, too_new: 1, expired: 0 },
                unwritten: 0,
                retries: 2,
                error: None,
            },
            duration: std::time::Duration::from_millis(12),
            error: None,
        }
    }

    #[test]
    fn a_refused_request_counts_one_invocation_and_a_malformed_one_a_payload_error() {
        for malformed in [false, true] {
            let line = request_line(refused_values(malformed), &Spend::default(), "ns", 7);
            for (name, _) in METRICS.iter().chain(&SPEND_METRICS) {
                let want = match *name {
                    "Invocations" => 1,
                    "PayloadErrors" => u64::from(malformed),
                    _ => 0,
                };
                assert_eq!(line[*name].as_f64(), Some(want as f64), "{name}");
            }
            assert_eq!(line["_aws"]["Timestamp"], 7);
        }
    }

    #[test]
    fn emf_document_declares_every_metric_without_dimensions() {
        let line = invocation_line(&report(), "NS", 1_700_000_000_000);
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "NS");
        assert_eq!(directive["Dimensions"], json!([[]]));
        let names: Vec<&str> =
            directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
        let expected: Vec<&str> = METRICS.iter().chain(&SPEND_METRICS).map(|(n, _)| *n).collect();
        assert_eq!(names, expected);
        for name in names {
            assert!(line[name].is_number(), "{name} must be a number at the top level");
        }
        assert_eq!(directive["Metrics"][METRICS.len()], json!({"Name": "CostUSD", "Unit": "None"}));
    }

    fn spend() -> Spend {
        Spend {
            cost_usd: 0.125,
            input_tokens: 142,
            output_tokens: 61,
            cache_read_tokens: 14_500,
            cache_creation_tokens: 25_848,
            api_requests: 3,
            user_prompts: 2,
        }
    }

    #[test]
    fn spend_is_emitted_as_it_was_summed() {
        let line = invocation_line(&report(), "NS", 0);
        assert_eq!(line["CostUSD"], json!(0.125));
        assert!(line["CostUSD"].is_f64());
        assert_eq!(
            [&line["InputTokens"], &line["OutputTokens"], &line["CacheReadTokens"], &line["CacheCreationTokens"]],
            [&json!(142), &json!(61), &json!(14_500), &json!(25_848)]
        );
        assert_eq!((line["ApiRequests"].as_u64(), line["UserPrompts"].as_u64()), (Some(3), Some(2)));
        let endpoint = request_line(metric_values(&report()), &spend(), "NS", 0);
        assert_eq!((endpoint["ApiRequests"].as_u64(), endpoint["UserPrompts"].as_u64()), (Some(3), Some(2)));
        let nothing = invocation_line(&Report { spend: Spend::default(), ..report() }, "NS", 0);
        assert_eq!((nothing["CostUSD"].as_f64(), nothing["InputTokens"].as_u64()), (Some(0.0), Some(0)));
        let broken = Report { spend: Spend { cost_usd: f64::INFINITY, ..spend() }, ..report() };
        assert_eq!(invocation_line(&broken, "NS", 0)["CostUSD"], json!(0.0));
    }

    #[test]
    fn counts_add_up() {
        let line = invocation_line(&report(), "NS", 0);
        assert_eq!(line["EventsReceived"], 10);
        assert_eq!(line["EventsWritten"], 4);
        assert_eq!(line["EventsDropped"], 3);
        assert_eq!(line["EventsRejected"], 3);
        assert_eq!(line["AttributesDropped"], 1);
        assert_eq!(line["Retries"], 2);
        assert_eq!(line["dropped"]["event_not_allowed"], 2);
        assert_eq!(line["rejected"]["too_old"], 1);
        assert_eq!(line["outcome"], "ok");
        // received = written + dropped + rejected + unwritten
        let sum = ["EventsWritten", "EventsDropped", "EventsRejected", "EventsUnwritten"]
            .iter()
            .map(|k| line[k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(sum, 10);
    }

    #[test]
    fn errors_are_counted_and_named() {
        let mut r = report();
        r.error = Some(HandlerError::Write(SinkError { operation: "PutLogEvents", kind: FailureKind::Timeout }));
        let line = invocation_line(&r, "NS", 0);
        assert_eq!((line["WriteErrors"].as_u64(), line["PayloadErrors"].as_u64()), (Some(1), Some(0)));
        assert_eq!(line["outcome"], "write_error");
        assert_eq!(line["error_type"], "WriteError");
        assert_eq!(line["error"], "write failed: PutLogEvents failed: timeout");
        r.error = Some(HandlerError::Payload(sanitizer_core::DecodeError::Base64 { offset: 0 }));
        let line = invocation_line(&r, "NS", 0);
        assert_eq!((line["WriteErrors"].as_u64(), line["PayloadErrors"].as_u64()), (Some(0), Some(1)));
    }

    #[test]
    fn the_batch_line_counts_and_names_failed_records_by_position() {
        let outcome = crate::batch::tests::sample_outcome();
        let line = batch_line(&outcome, "NS", 7);
        assert_eq!(line["KinesisRecords"], 4);
        assert_eq!(line["KinesisRecordsFailed"], 2);
        assert_eq!(line["KinesisRecordsUndecodable"], 1);
        assert_eq!(line["ControlMessages"], 1);
        assert_eq!(
            line["failed_records"],
            serde_json::json!([{"record": 1, "reason": "gzip"}, {"record": 2, "reason": "WriteError"}])
        );
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert!(!line.to_string().contains("\"20\""), "no sequence number in the log line");
    }
}
