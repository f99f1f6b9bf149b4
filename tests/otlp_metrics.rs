//! The OTLP/HTTP metrics path (`sanitizer-otlp`'s `MetricsReceiver`, the allowlist's
//! `[metrics]`) on the real client's `/v1/metrics` bodies (`fixtures/record/raw-metrics/`,
//! verbatim from Claude Code 2.1.332 in OTLP/JSON and protobuf, delta and cumulative).
//!
//! Checked against an independent reading of the same bodies (serde_json on the raw JSON, not
//! the OTLP types): which points are kept, their values, the lines-of-code, commit and PR
//! totals; every written key and value is one the allowlist names for that metric, of its kind;
//! no canary the recorder planted (email, account ids, `OTEL_RESOURCE_ATTRIBUTES` keys, the git
//! remote) appears, in any case; a JSON body, its protobuf and gzip of each give the same lines,
//! ids included; cumulative points are all dropped with their reason.

mod common;

use common::*;
use prost::Message as _;
use sanitizer_core::{Allowlist, EventDrop, PseudonymKey, SanitizedPayload};
use sanitizer_otlp::{ExportMetricsServiceRequest, MetricsReceiver, Receiver, decode_metrics};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RECEIVED_MS: i64 = 1_800_000_000_000;
const CAP: usize = 4 << 20;

fn key() -> PseudonymKey {
    PseudonymKey::new(FIXTURE_KEY.as_bytes()).unwrap()
}

fn dir(scenario: &str, variant: &str) -> PathBuf {
    root().join("fixtures/record/raw-metrics").join(scenario).join(variant)
}

/// A variant's bodies, in arrival order.
fn bodies(scenario: &str, variant: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(scenario, variant))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "pb"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{scenario}/{variant}");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fixtures/record/raw-metrics"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    names
}

fn through(bodies: &[Vec<u8>]) -> (Vec<Value>, Vec<String>, SanitizedPayload) {
    let sanitizer = sanitizer();
    let receiver = MetricsReceiver::new(Some(&key()), CAP);
    let mut all = SanitizedPayload::default();
    for body in bodies {
        let out = receiver.sanitize(&sanitizer, body, RECEIVED_MS).expect("a recorded body");
        assert_eq!(out.counts.received, out.counts.written + out.counts.dropped_total());
        assert_eq!(out.counts.written as usize, out.events.len());
        all.counts.merge(&out.counts);
        all.events.extend(out.events);
    }
    let raw: Vec<String> = all.events.iter().map(|e| e.message.clone()).collect();
    (raw.iter().map(|l| serde_json::from_str(l).expect("a line is JSON")).collect(), raw, all)
}

/// Planted canaries, as fixtures/record/raw-metrics/canaries.txt lists them (lower-cased).
fn canaries() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("fixtures/record/raw-metrics/canaries.txt")).unwrap();
    let list: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(list.len() >= 10, "{list:?}");
    list
}

/// The independent reading: per metric name, the sum of the values of the delta sum points in
/// the raw OTLP/JSON bodies, and their count.
fn expected_from_json(bodies: &[Vec<u8>], allowlist: &Allowlist) -> BTreeMap<String, (f64, usize)> {
    let mut sums = BTreeMap::new();
    for body in bodies {
        let v: Value = serde_json::from_slice(body).unwrap();
        for rm in v["resourceMetrics"].as_array().unwrap() {
            for sm in rm["scopeMetrics"].as_array().unwrap() {
                for m in sm["metrics"].as_array().unwrap() {
                    let name = m["name"].as_str().unwrap();
                    let Some(sum) = m.get("sum") else { continue };
                    // OTLP/JSON writes the enum as its number; 1 is DELTA.
                    if sum["aggregationTemporality"] != 1 || !allowlist.metric_names().iter().any(|n| n == name) {
                        continue;
                    }
                    for p in sum["dataPoints"].as_array().unwrap() {
                        let x = p["asDouble"].as_f64().or_else(|| p["asInt"].as_str()?.parse().ok()).unwrap();
                        let e = sums.entry(name.to_owned()).or_insert((0.0, 0));
                        e.0 += x;
                        e.1 += 1;
                    }
                }
            }
        }
    }
    sums
}

fn sums_of(lines: &[Value]) -> BTreeMap<String, (f64, usize)> {
    let mut sums = BTreeMap::new();
    for l in lines {
        let e = sums.entry(l["metric"].as_str().unwrap().to_owned()).or_insert((0.0, 0));
        e.0 += l["value"].as_f64().unwrap();
        e.1 += 1;
    }
    sums
}

fn total(lines: &[Value], metric: &str, attribute: Option<(&str, &str)>) -> f64 {
    lines
        .iter()
        .filter(|l| l["metric"] == metric)
        .filter(|l| attribute.is_none_or(|(k, v)| l["attributes"][k] == v))
        .map(|l| l["value"].as_f64().unwrap())
        .sum()
}

/// Every key of a line is one the allowlist writes on that metric, with a value of its kind.
fn assert_allowlisted(line: &Value, allowlist: &Allowlist) {
    let obj = line.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    for k in &keys {
        assert!(
            ["metric", "value", "attributes", "resource", "startTimeUnixNano", "timeUnixNano", "sourceEventId"]
                .contains(k),
            "{k}"
        );
    }
    let metric = line["metric"].as_str().unwrap();
    allowlist.metric_value_kind(metric).expect("a kept metric").check_json(&line["value"]).unwrap();
    let kinds: BTreeMap<&str, _> = allowlist.metric_attribute_kinds().collect();
    let attributes = line["attributes"].as_object().unwrap();
    for (k, v) in attributes {
        let kind = kinds.get(k.as_str()).unwrap_or_else(|| panic!("{k} is not a metric output"));
        assert!(kind.kept_on(metric), "{k} on {metric}");
        kind.check_json(v).unwrap_or_else(|e| panic!("{k}: {e:?}"));
    }
    let keys_sorted: Vec<&String> = attributes.keys().collect();
    assert!(keys_sorted.windows(2).all(|w| w[0] < w[1]), "attributes in output order");
    let resource: BTreeMap<&str, _> = allowlist.resource_kinds().collect();
    if let Some(r) = line.get("resource") {
        for (k, v) in r["attributes"].as_object().unwrap() {
            resource.get(k.as_str()).unwrap_or_else(|| panic!("resource {k}")).check_json(v).unwrap();
        }
    }
    let id = line["sourceEventId"].as_str().unwrap();
    assert!(id.len() == 39 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
}

#[test]
fn delta_recordings_keep_exactly_the_allowlisted_points_and_figures() {
    let allowlist = Allowlist::embedded();
    let canaries = canaries();
    let mut checked = 0;
    for scenario in scenarios() {
        for variant in ["json-delta", "json-delta-apikey"] {
            let bodies = bodies(&scenario, variant);
            let (lines, raw, all) = through(&bodies);
            assert!(!lines.is_empty(), "{scenario}/{variant}");
            assert_eq!(all.counts.dropped_total(), 0, "{scenario}/{variant}: every recorded metric is kept");
            assert_eq!(sums_of(&lines), expected_from_json(&bodies, &allowlist), "{scenario}/{variant}");
            for (line, text) in lines.iter().zip(&raw) {
                assert_allowlisted(line, &allowlist);
                let lower = text.to_ascii_lowercase();
                for c in &canaries {
                    assert!(!lower.contains(c.as_str()), "{scenario}/{variant}: canary {c} in {text}");
                }
                // Identity only as the pseudonym: signed in (email) or not (the install id).
                assert_eq!(line["attributes"]["user.pseudonym"].as_str().map(str::len), Some(16), "{text}");
            }
            checked += lines.len();
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn commit_pr_gives_lines_of_code_commits_and_a_pull_request() {
    for variant in ["json-delta", "protobuf-delta"] {
        let (lines, _, _) = through(&bodies("commit_pr", variant));
        let loc = "claude_code.lines_of_code.count";
        assert_eq!(total(&lines, loc, Some(("type", "added"))), 10.0, "{variant}");
        assert_eq!(total(&lines, loc, Some(("type", "removed"))), 1.0, "{variant}");
        assert_eq!(total(&lines, "claude_code.commit.count", None), 1.0, "{variant}");
        assert_eq!(total(&lines, "claude_code.pull_request.count", None), 1.0, "{variant}");
        assert!(total(&lines, "claude_code.active_time.total", None) > 0.0, "{variant}");
        let languages: Vec<&str> = lines
            .iter()
            .filter(|l| l["metric"] == "claude_code.code_edit_tool.decision")
            .map(|l| l["attributes"]["language"].as_str().unwrap())
            .collect();
        assert!(languages.contains(&"Python") && languages.contains(&"Markdown"), "{languages:?}");
        // Whole values are written as integers: `10`, not `10.0`.
        assert!(lines.iter().all(|l| l["metric"] != loc || l["value"].is_u64()), "{variant}");
    }
}

#[test]
fn cumulative_points_are_all_dropped_with_their_reason() {
    for scenario in scenarios() {
        let bodies = bodies(&scenario, "json-cumulative");
        let (lines, _, all) = through(&bodies);
        assert!(lines.is_empty(), "{scenario}");
        assert!(all.counts.received > 0);
        assert_eq!(all.counts.dropped(EventDrop::CumulativeTemporality), all.counts.received, "{scenario}");
    }
}

#[test]
fn json_protobuf_and_gzip_of_a_body_give_the_same_lines_and_ids() {
    let sanitizer = sanitizer();
    let receiver = MetricsReceiver::new(Some(&key()), CAP);
    for scenario in scenarios() {
        for body in bodies(&scenario, "json-delta") {
            let request: ExportMetricsServiceRequest = decode_metrics(&body, CAP).unwrap();
            let protobuf = request.encode_to_vec();
            let expected = receiver.sanitize(&sanitizer, &body, RECEIVED_MS).unwrap();
            for (form, bytes) in
                [("protobuf", protobuf.clone()), ("gzip json", gzip(&body)), ("gzip protobuf", gzip(&protobuf))]
            {
                assert_eq!(receiver.sanitize(&sanitizer, &bytes, RECEIVED_MS).unwrap(), expected, "{scenario} {form}");
            }
            // Sent again (a retry after a timeout): the same ids, found as duplicates.
            assert_eq!(receiver.sanitize(&sanitizer, &body, RECEIVED_MS + 5_000).unwrap().events, expected.events);
        }
    }
}

#[test]
fn the_recorded_protobuf_bodies_are_read_as_metrics_by_content() {
    // The CLI's reader has no path to tell the signal: protobuf metrics, JSON metrics and a
    // logs body are each read as what they are.
    let sanitizer = sanitizer();
    let both = Receiver::new(Some(&key()), CAP);
    let metrics = MetricsReceiver::new(Some(&key()), CAP);
    for variant in ["protobuf-delta", "json-delta"] {
        for body in bodies("commit_pr", variant) {
            let direct = metrics.sanitize(&sanitizer, &body, RECEIVED_MS).unwrap();
            assert_eq!(both.sanitize_any(&sanitizer, &body, RECEIVED_MS).unwrap(), direct, "{variant}");
            assert_eq!(both.sanitize_any(&sanitizer, &gzip(&body), RECEIVED_MS).unwrap(), direct, "{variant}");
        }
    }
    let logs = std::fs::read(first_log_body()).unwrap();
    let out = both.sanitize_any(&sanitizer, &logs, RECEIVED_MS).unwrap();
    assert!(out.events.iter().all(|e| e.message.starts_with("{\"body\":\"claude_code.")), "a logs body");
    assert!(out.counts.written > 0);
}

fn first_log_body() -> PathBuf {
    let dir: &Path = &root().join("fixtures/record/raw/edits");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().find(|p| p.extension().is_some_and(|e| e == "json")).unwrap()
}

#[test]
fn without_a_key_identity_is_dropped_and_counted() {
    let unkeyed = sanitizer_core::Sanitizer::new(Allowlist::embedded(), None);
    let receiver = MetricsReceiver::new(None, CAP);
    for body in bodies("commit_pr", "json-delta") {
        let out = receiver.sanitize(&unkeyed, &body, RECEIVED_MS).unwrap();
        assert!(out.events.iter().all(|e| !e.message.contains("user.pseudonym")));
        assert!(out.counts.attributes_dropped(sanitizer_core::AttributeDrop::NoPseudonymKey) > 0);
    }
}
