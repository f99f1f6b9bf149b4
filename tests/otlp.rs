//! The OTLP/HTTP logs path (`sanitizer-otlp`) on the real client's request bodies
//! (`fixtures/record/raw/<scenario>/NNN.json`, verbatim OTLP/JSON from Claude Code): each body as
//! JSON, as protobuf (the decoded request re-encoded by prost) and gzip of each gives, scenario
//! by scenario, the lines and counts the subscription path gives for the same records
//! (`fixtures/recorded/<scenario>.kvlist.json`), apart from `sourceEventId`; each record's stored
//! message is byte for byte what `fixtures/record/convert.py` stored. No canary anywhere; bad
//! bodies give their documented error; a body sent again gives the same ids.

mod common;

use common::*;
use prost::Message as _;
use sanitizer_core::{Counts, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, SanitizedPayload, Spend};
use sanitizer_otlp::{
    BodyError, ExportLogsServiceRequest, LogsReceiver, RECORD_ID_DIGITS, decode_logs, stored_messages,
};
use serde_json::Value;
use std::path::PathBuf;

/// When the test's requests arrive (the time written for a record without one: none here).
const RECEIVED_MS: i64 = 1_800_000_000_000;

fn receiver() -> LogsReceiver {
    LogsReceiver::new(Some(&PseudonymKey::new(FIXTURE_KEY.as_bytes()).unwrap()), DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Every recorded scenario: its name and its raw request bodies, in file order.
fn scenarios() -> Vec<(String, Vec<Vec<u8>>)> {
    let raw = root().join("fixtures/record/raw");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&raw).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let scenarios: Vec<(String, Vec<Vec<u8>>)> = dirs
        .into_iter()
        .map(|dir| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (name, files.iter().map(|f| std::fs::read(f).unwrap()).collect())
        })
        .collect();
    assert!(scenarios.len() >= 20, "expected the recorded scenarios, found {}", scenarios.len());
    scenarios
}

/// The four forms a client may send a body in: JSON, protobuf, and gzip of each.
fn forms(json: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let request = decode_logs(json, DEFAULT_MAX_DECOMPRESSED_BYTES).expect("a recorded body decodes as JSON");
    let protobuf = request.encode_to_vec();
    vec![("json", json.to_vec()), ("gzip json", gzip(json)), ("gzip protobuf", gzip(&protobuf)), ("protobuf", protobuf)]
}

/// A line without its `sourceEventId` (the one field the two paths differ in), and the id.
fn without_id(line: &str) -> (String, String) {
    let mut v: Value = serde_json::from_str(line).unwrap();
    let id = v.as_object_mut().unwrap().remove("sourceEventId").expect("every line carries an id");
    (v.to_string(), id.as_str().unwrap().to_owned())
}

/// A record's time as convert.py sorts by it: `timeUnixNano`, else `observedTimeUnixNano`.
fn time_of(line: &str) -> u64 {
    let v: Value = serde_json::from_str(line).unwrap();
    v["timeUnixNano"].as_str().map_or(0, |t| t.parse().unwrap())
}

/// The bodies of a scenario through the OTLP path, in the order convert.py puts their records
/// (stable, by time), with the counts and the spend summed.
fn through_otlp(bodies: &[Vec<u8>]) -> (Vec<String>, Counts, Spend) {
    let sanitizer = sanitizer();
    let receiver = receiver();
    let (mut lines, mut counts, mut spend) = (Vec::new(), Counts::default(), Spend::default());
    for body in bodies {
        let out: SanitizedPayload = receiver.sanitize(&sanitizer, body, RECEIVED_MS).expect("a recorded body");
        assert_eq!(out.counts.received, out.counts.written + out.counts.dropped_total());
        lines.extend(out.events.into_iter().map(|e| e.message));
        counts.merge(&out.counts);
        spend.merge(&out.spend);
    }
    lines.sort_by_key(|l| time_of(l));
    (lines, counts, spend)
}

#[test]
fn every_recording_gives_the_subscription_paths_lines_in_every_form() {
    let sanitizer = sanitizer();
    let (mut compared, mut spent) = (0, 0);
    for (scenario, bodies) in scenarios() {
        let fixture = root().join(format!("fixtures/recorded/{scenario}.kvlist.json"));
        let expected = sanitize_file(&sanitizer, &fixture);
        let expected_lines: Vec<String> = expected.events.iter().map(|e| without_id(&e.message).0).collect();
        let mut ids_of_forms = Vec::new();
        for form in 0..4 {
            let bodies_in_form: Vec<Vec<u8>> = bodies.iter().map(|b| forms(b).swap_remove(form).1).collect();
            let name = forms(&bodies[0])[form].0;
            let (lines, mut counts, spend) = through_otlp(&bodies_in_form);
            let (lines, ids): (Vec<String>, Vec<String>) = lines.iter().map(|l| without_id(l)).unzip();
            assert_eq!(lines, expected_lines, "{scenario} as {name}");
            // The same counts, attribute drops included; one payload per request body.
            counts.payloads = expected.counts.payloads;
            assert_eq!(counts, expected.counts, "{scenario} as {name}");
            // The same spend (the cost metrics and the digest's totals), to rounding of the sum.
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
            assert!(close(spend.cost_usd, expected.spend.cost_usd), "{scenario} as {name}");
            assert_eq!(
                (spend.input_tokens, spend.output_tokens, spend.cache_read_tokens, spend.cache_creation_tokens),
                (
                    expected.spend.input_tokens,
                    expected.spend.output_tokens,
                    expected.spend.cache_read_tokens,
                    expected.spend.cache_creation_tokens
                ),
                "{scenario} as {name}"
            );
            spent += spend.input_tokens;
            for id in &ids {
                assert!(id.len() == RECORD_ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit()), "{scenario}: {id}");
            }
            let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
            assert_eq!(distinct.len(), ids.len(), "{scenario}: every record its own id");
            ids_of_forms.push(ids);
            compared += lines.len();
        }
        assert!(ids_of_forms.windows(2).all(|w| w[0] == w[1]), "{scenario}: the same ids in every form");
    }
    assert!(compared > 4 * 250, "expected the recorded events, compared {compared}");
    assert!(spent > 0, "the recordings' api_request events carry tokens");
}

#[test]
fn each_stored_message_is_what_convert_py_stored() {
    for (scenario, bodies) in scenarios() {
        let mut ours: Vec<(u64, String)> = Vec::new();
        for body in &bodies {
            let request = decode_logs(body, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
            let times = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .map(|r| if r.time_unix_nano != 0 { r.time_unix_nano } else { r.observed_time_unix_nano });
            ours.extend(times.zip(stored_messages(&request)));
        }
        ours.sort_by_key(|(t, _)| *t);
        let fixture = root().join(format!("fixtures/recorded/{scenario}.kvlist.json"));
        let payload = payload_of(&std::fs::read(fixture).unwrap());
        let stored: Vec<&str> =
            payload["logEvents"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
        let ours: Vec<&str> = ours.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(ours, stored, "{scenario}");
    }
}

#[test]
fn no_recorded_canary_in_any_line() {
    let canaries = recorded_canaries();
    let mut written = 0;
    for (scenario, bodies) in scenarios() {
        for body in &bodies {
            for (name, form) in forms(body) {
                let out = receiver().sanitize(&sanitizer(), &form, RECEIVED_MS).unwrap();
                let text: String =
                    out.events.iter().map(|e| e.message.as_str()).chain([out.counts.to_string().as_str()]).collect();
                for canary in &canaries {
                    assert!(!text.contains(canary.as_str()), "{scenario} as {name}: canary {canary} leaked");
                }
                written += out.events.len();
            }
        }
    }
    assert!(written > 4 * 250, "the recordings keep events: {written}");
}

#[test]
fn a_body_sent_again_gives_the_same_ids_and_lines() {
    let (_, bodies) = scenarios().into_iter().find(|(s, _)| s == "bash").unwrap();
    let first = receiver().sanitize(&sanitizer(), &bodies[0], RECEIVED_MS).unwrap();
    let again = receiver().sanitize(&sanitizer(), &bodies[0], RECEIVED_MS + 30_000).unwrap();
    assert!(!first.events.is_empty());
    assert_eq!(first.events, again.events);
    // Another key gives other ids for the same records.
    let other = LogsReceiver::new(Some(&PseudonymKey::new(b"another-key-0123456789").unwrap()), 1 << 20);
    let other = other.sanitize(&sanitizer(), &bodies[0], RECEIVED_MS).unwrap();
    assert_ne!(first.events[0].message, other.events[0].message);
    assert_eq!(without_id(&first.events[0].message).0, without_id(&other.events[0].message).0);
}

/// A real recorded request with every canary in it, and the same as protobuf.
fn canary_bodies() -> (Vec<u8>, Vec<u8>) {
    let (_, bodies) = scenarios().into_iter().find(|(s, _)| s == "bash").unwrap();
    let json = bodies[0].clone();
    let request: ExportLogsServiceRequest = decode_logs(&json, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
    (json, request.encode_to_vec())
}

#[test]
fn bad_bodies_give_their_documented_error_and_name_no_content() {
    let canaries = recorded_canaries();
    let (json, protobuf) = canary_bodies();
    assert!(canaries.iter().any(|c| std::str::from_utf8(&json).unwrap().contains(c.as_str())));
    let gz = gzip(&protobuf);
    let bomb = gzip(&vec![b' '; 40 << 20]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated protobuf", protobuf[..protobuf.len() - 1].to_vec(), 400),
        ("protobuf cut in half", protobuf[..protobuf.len() / 2].to_vec(), 400),
        ("truncated JSON", json[..json.len() / 2].to_vec(), 400),
        ("truncated gzip", gz[..gz.len() / 2].to_vec(), 400),
        ("garbage", b"\xff\xfe garbage CANARY-garbage \x00\x01".to_vec(), 400),
        ("JSON of another shape", br#"{"resourceLogs":"CANARY-shape"}"#.to_vec(), 400),
        ("gzip bomb", bomb, 413),
        ("over the cap", [&protobuf[..], &vec![0u8; DEFAULT_MAX_DECOMPRESSED_BYTES]].concat(), 413),
    ];
    for (name, body, status) in cases {
        let e: BodyError = receiver().sanitize(&sanitizer(), &body, RECEIVED_MS).expect_err(name);
        assert_eq!(e.http_status(), status, "{name}: {e}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("CANARY"), "{name}: {shown}");
        for canary in &canaries {
            assert!(!shown.contains(canary.as_str()), "{name}: {shown}");
        }
    }
}

#[test]
fn an_empty_body_is_an_empty_request() {
    for body in [&b""[..], b"{}", &gzip(b""), &gzip(b"{}")] {
        let out = receiver().sanitize(&sanitizer(), body, RECEIVED_MS).unwrap();
        assert!(out.events.is_empty());
        assert_eq!((out.counts.payloads, out.counts.received, out.counts.written), (1, 0, 0));
    }
}

/// OTLP/JSON as other exporters write it, beside the real client's form: 64-bit integers as
/// strings, trace and span ids in hex, the severity as a number, unknown fields. The same
/// record in either form gives the same line.
#[test]
fn otlp_json_in_the_specifications_forms() {
    let record = |int: &str, extra: &str| {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"claude-code"}}}}]}},
            "scopeLogs":[{{"scope":{{"name":"com.anthropic.claude_code.events"}},"logRecords":[{{"timeUnixNano":{t},
            "severityNumber":9,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"{extra},
            "body":{{"stringValue":"claude_code.api_request"}},"attributes":[
            {{"key":"event.name","value":{{"stringValue":"api_request"}}}},
            {{"key":"input_tokens","value":{{"intValue":{int}}}}}]}}]}}]}}]}}"#,
            t = if int.starts_with('"') { "\"1796312672780000000\"" } else { "1796312672780000000" }
        )
    };
    let as_numbers = receiver().sanitize(&sanitizer(), record("142", "").as_bytes(), RECEIVED_MS).unwrap();
    let as_strings = receiver()
        .sanitize(&sanitizer(), record("\"142\"", r#","newField":{"x":[1]}"#).as_bytes(), RECEIVED_MS)
        .unwrap();
    assert_eq!(as_numbers.counts.written, 1, "{:?}", as_numbers.counts);
    assert_eq!(as_numbers.events, as_strings.events);
    assert!(as_numbers.events[0].message.contains(r#""input_tokens":142"#), "{}", as_numbers.events[0].message);
    let request = decode_logs(record("\"142\"", "").as_bytes(), 1 << 20).unwrap();
    let log = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!((log.trace_id.len(), log.span_id.len(), log.severity_number), (16, 8, 9));
}
