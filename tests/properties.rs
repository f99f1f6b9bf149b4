//! Properties of the whole path, on generated events. Case count: `PROPTEST_CASES`
//! (scripts/test.sh, and so CI, sets 10,000).
//!
//! (a) No canary placed anywhere the allowlist does not name reaches the output or the counts.
//! (b) Output keys are a subset of the allowlist, in the documented shape.
//! (c) Sanitizing sanitized output changes nothing.
//! (d) Decoding, parsing and sanitizing never panic on arbitrary input.
//! (e) An allowlisted key holding a value of the wrong kind, or too long, is dropped.
//! (f) Events are sanitized independently: a payload gives, event by event, what each message
//!     gives on its own.

mod common;

use base64::Engine as _;
use common::{sanitize_both_ways, sanitizer};
use flate2::{Compression, write::GzEncoder};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use sanitizer_core::{Allowlist, Counts, DEFAULT_MAX_DECOMPRESSED_BYTES, Origin, Sanitizer, decode_envelope};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;

// ---- building payloads ------------------------------------------------------------------

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn envelope_of_payload(payload: &Value) -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(payload.to_string().as_bytes()));
    json!({"awslogs": {"data": data}}).to_string().into_bytes()
}

fn payload(messages: &[String]) -> Value {
    let ids: Vec<String> = (1..=messages.len()).map(|i| format!("{i:056}")).collect();
    payload_with_ids(messages, &ids)
}

fn payload_with_ids(messages: &[String], ids: &[String]) -> Value {
    let events: Vec<Value> = messages
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (m, id))| json!({"id": id, "timestamp": 1_793_491_200_000i64 + i as i64, "message": m}))
        .collect();
    json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events})
}

/// Sanitizes messages through the real envelope path; returns output lines and the counts.
fn run(messages: &[String]) -> (Vec<String>, Counts) {
    run_payload(&payload(messages))
}

/// The function's path (each event sanitized as it is read), checked against sanitizing the
/// whole decoded payload.
fn run_payload(payload: &Value) -> (Vec<String>, Counts) {
    let envelope = envelope_of_payload(payload);
    // One sanitizer for every case: compiling the allowlist is not what is tested here.
    static SANITIZER: std::sync::OnceLock<Sanitizer> = std::sync::OnceLock::new();
    let sanitizer = SANITIZER.get_or_init(sanitizer);
    let out = sanitize_both_ways(sanitizer, &envelope, DEFAULT_MAX_DECOMPRESSED_BYTES, || payload.to_string()).unwrap();
    (out.events.into_iter().map(|e| e.message).collect(), out.counts)
}

// ---- generating events -------------------------------------------------------------------

/// Where every generated canary comes from: unique, and no kind accepts it (space and slash).
fn canary(n: u32) -> String {
    format!("CANARY {n} /")
}

/// An arbitrary JSON value whose every string and key is a canary.
fn canary_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<u32>().prop_map(|n| Value::String(canary(n))),
        any::<u32>().prop_map(|n| json!({"stringValue": canary(n)})),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<u32>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(n, v)| (canary(n), v)).collect())),
        ]
    })
}

/// Values that are valid for the shipped allowlist's kinds (so kept events have content).
fn valid_attributes() -> impl Strategy<Value = Vec<(String, Value)>> {
    let model = "[a-z]{3,8}-[0-9]{1,2}(-[0-9]{8})?".prop_map(Value::String);
    let tokens = (0u64..100_000_000).prop_flat_map(|n| prop_oneof![Just(json!(n)), Just(json!(n.to_string()))]);
    let cost = (0.0f64..100.0).prop_flat_map(|x| prop_oneof![Just(json!(x)), Just(json!(x.to_string()))]);
    let ident = "[A-Za-z][A-Za-z0-9_-]{0,20}".prop_map(Value::String);
    let uuid = any::<u128>().prop_map(|n| Value::String(uuid::Uuid::from_u128(n).to_string()));
    let all = vec![
        ("model", model.boxed()),
        ("input_tokens", tokens.clone().boxed()),
        ("output_tokens", tokens.clone().boxed()),
        ("cache_read_tokens", tokens.clone().boxed()),
        ("cache_creation_tokens", tokens.boxed()),
        ("cost_usd", cost.boxed()),
        ("tool_name", ident.clone().boxed()),
        ("skill.name", ident.clone().boxed()),
        ("agent.name", ident.clone().boxed()),
        ("agent_type", ident.clone().boxed()),
        ("mcp_server.name", ident.boxed()),
        ("session.id", uuid.boxed()),
    ];
    let picks: Vec<_> =
        all.into_iter().map(|(k, s)| prop::option::of(s).prop_map(move |v| v.map(|v| (k.to_owned(), v)))).collect();
    picks.prop_map(|v| v.into_iter().flatten().collect())
}

/// An event name: kept, not kept, or a canary.
fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["api_request", "tool_result", "skill_activated", "subagent_completed"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["user_prompt", "api_error", "hook_plugin_metrics", "tool_decision"]).prop_map(str::to_owned),
        1 => any::<u32>().prop_map(canary),
    ]
}

#[derive(Debug, Clone)]
struct Generated {
    name: String,
    /// (key, value) in input order; allowlisted ones are valid, all others carry canaries.
    attributes: Vec<(String, Value)>,
    resource: Vec<(String, Value)>,
    kvlist: bool,
    any_values: bool,
    nest_dotted: bool,
}

fn generated_event() -> impl Strategy<Value = Generated> {
    let canary_attrs = prop::collection::vec((any::<u32>(), canary_value()), 0..6)
        .prop_map(|kv| kv.into_iter().map(|(n, v)| (format!("CANARY_key_{n}"), v)).collect::<Vec<_>>());
    // Sensitive keys of the reference, each with a canary value.
    let sensitive = prop::collection::vec(
        (
            prop::sample::select(vec![
                "prompt",
                "prompt_text",
                "response",
                "error",
                "tool_input",
                "body",
                "body_ref",
                "server_name",
                "workspace.host_paths",
                "user.email",
                "user.id",
                "user.account_uuid",
                "enduser.id",
                "team.id",
                "organization.id",
                "hook_definitions",
                "command_name",
            ]),
            canary_value(),
        ),
        0..6,
    );
    let tool_parameters = (
        prop::option::of(prop::sample::select(vec!["Explore", "general-purpose", "code-reviewer"])),
        prop::option::of("[a-z][a-z0-9_-]{0,15}"),
        prop::collection::vec((any::<u32>(), canary_value()), 0..4),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "bash_command",
                    "full_command",
                    "file_path",
                    "description",
                    "prompt",
                    "args",
                ]),
                canary_value(),
            ),
            0..4,
        ),
    )
        .prop_map(|(subagent, server, canaries, sensitive)| {
            let mut m = Map::new();
            if let Some(s) = subagent {
                m.insert("subagent_type".into(), json!(s));
            }
            if let Some(s) = server {
                m.insert("mcp_server_name".into(), json!(s));
            }
            for (n, v) in canaries {
                m.insert(format!("CANARY_sub_{n}"), v);
            }
            for (k, v) in sensitive {
                m.insert(k.into(), v);
            }
            Value::Object(m)
        });
    let resource = (
        prop::option::of(Just(("service.name".to_owned(), json!("claude-code")))),
        prop::collection::vec((any::<u32>(), canary_value()), 0..4),
    )
        .prop_map(|(name, canaries)| {
            let mut r: Vec<(String, Value)> = name.into_iter().collect();
            r.extend(canaries.into_iter().map(|(n, v)| (format!("CANARY_res_{n}"), v)));
            r
        });
    (
        event_name(),
        valid_attributes(),
        canary_attrs,
        sensitive,
        prop::option::of((tool_parameters, any::<bool>())),
        resource,
        any::<(bool, bool, bool)>(),
    )
        .prop_map(|(name, valid, canaries, sensitive, tp, resource, (kvlist, any_values, nest_dotted))| {
            let mut attributes = valid;
            attributes.extend(canaries);
            attributes.extend(sensitive.into_iter().map(|(k, v)| (k.to_owned(), v)));
            if let Some((tp, as_string)) = tp {
                attributes.push(("tool_parameters".into(), if as_string { Value::String(tp.to_string()) } else { tp }));
            }
            Generated { name, attributes, resource, kvlist, any_values, nest_dotted }
        })
}

/// Fails closed on duplicate keys; keep generated keys unique so the test is about leaks.
fn dedup(pairs: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut seen = BTreeSet::new();
    pairs.iter().filter(|(k, _)| seen.insert(k.clone())).cloned().collect()
}

fn any_value(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_f64() => json!({"doubleValue": n}),
        Value::Number(n) => json!({"intValue": n.to_string()}),
        Value::Array(a) => json!({"arrayValue": {"values": a.iter().map(any_value).collect::<Vec<_>>()}}),
        Value::Object(o) if o.len() == 1 && o.contains_key("stringValue") => v.clone(),
        Value::Object(o) => {
            json!({"kvlistValue": {"values": o.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect::<Vec<_>>()}})
        }
        Value::Null => Value::Null,
    }
}

fn encode_attributes(pairs: &[(String, Value)], g: &Generated) -> Value {
    if g.kvlist {
        return Value::Array(pairs.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect());
    }
    let mut m = Map::new();
    for (k, v) in pairs {
        let v = if g.any_values && !v.is_object() { any_value(v) } else { v.clone() };
        match (g.nest_dotted, k.split_once('.')) {
            (true, Some((head, tail))) if !m.contains_key(head) => {
                m.insert(head.to_owned(), json!({ tail: v }));
            }
            _ => {
                m.insert(k.clone(), v);
            }
        }
    }
    Value::Object(m)
}

fn message(g: &Generated) -> String {
    let mut attributes = dedup(&g.attributes);
    attributes.insert(0, ("event.name".into(), json!(g.name)));
    json!({
        "resource": {"attributes": encode_attributes(&dedup(&g.resource), g), "CANARY_resource_field": canary(0)},
        "scope": {"name": canary(1), "version": canary(2)},
        "body": format!("claude_code.{}", g.name),
        "attributes": encode_attributes(&attributes, g),
        "CANARY_top_level": canary(3),
    })
    .to_string()
}

// ---- properties --------------------------------------------------------------------------

proptest! {
    /// (a) Whatever the allowlist does not name (keys, values, nested values, array elements,
    /// tool_parameters sub-keys, resource attributes, identities) never reaches the output bytes
    /// or the counts. Canaries contain a space and a slash, so no kind accepts one as a value.
    #[test]
    fn no_canary_reaches_the_output(events in prop::collection::vec(generated_event(), 1..5)) {
        let messages: Vec<String> = events.iter().map(message).collect();
        let (lines, counts) = run(&messages);
        for line in &lines {
            prop_assert!(!line.contains("CANARY"), "leak: {}", line);
        }
        prop_assert!(!counts.to_string().contains("CANARY"));
        // Counted from the input, not from the sanitizer: every event is received, and exactly
        // those whose name the allowlist keeps are written.
        let kept = events.iter().filter(|g| Allowlist::embedded().events().contains(&g.name)).count();
        prop_assert_eq!(counts.received, events.len() as u64);
        prop_assert_eq!(lines.len(), kept);
        prop_assert_eq!(counts.written, kept as u64);
        prop_assert_eq!(counts.dropped_total(), (events.len() - kept) as u64);
    }

    /// (b) Every output is `{"body","attributes",["resource"],"sourceEventId"}` with keys the
    /// allowlist writes, and body/event.name agreeing with a kept event.
    #[test]
    fn output_keys_are_a_subset_of_the_allowlist(events in prop::collection::vec(generated_event(), 1..5)) {
        let allowlist = Allowlist::embedded();
        let attribute_keys: BTreeSet<&str> = allowlist.attribute_outputs().collect();
        let resource_keys: BTreeSet<&str> = allowlist.resource_outputs().collect();
        let messages: Vec<String> = events.iter().map(message).collect();
        for line in run(&messages).0 {
            let v: Value = serde_json::from_str(&line).unwrap();
            let top: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            prop_assert!(top.is_subset(&["attributes", "body", "resource", "sourceEventId", "timeUnixNano"].into()), "{:?}", top);
            // The event time is decimal digits only.
            if let Some(t) = v.get("timeUnixNano") {
                prop_assert!(t.as_str().is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())), "{}", t);
            }
            for key in v["attributes"].as_object().unwrap().keys() {
                prop_assert!(attribute_keys.contains(key.as_str()), "unexpected attribute {}", key);
            }
            if let Some(resource) = v.get("resource") {
                prop_assert_eq!(resource.as_object().unwrap().len(), 1);
                for key in resource["attributes"].as_object().unwrap().keys() {
                    prop_assert!(resource_keys.contains(key.as_str()), "unexpected resource attribute {}", key);
                }
            }
            let name = v["attributes"]["event.name"].as_str().unwrap();
            prop_assert!(allowlist.events().iter().any(|e| e == name));
            prop_assert_eq!(v["body"].as_str().unwrap(), format!("claude_code.{name}"));
        }
    }

    /// (c) Sanitized output is a fixed point: sanitizing it again (same source ids) changes nothing.
    #[test]
    fn sanitizing_is_idempotent(events in prop::collection::vec(generated_event(), 1..5)) {
        let messages: Vec<String> = events.iter().map(message).collect();
        let (once, _) = run(&messages);
        let ids: Vec<String> = once
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["sourceEventId"].as_str().unwrap().to_owned())
            .collect();
        let (twice, counts) = run_payload(&payload_with_ids(&once, &ids));
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(counts.dropped_total(), 0);
    }

    /// (d) Arbitrary bytes as an envelope, as the decompressed payload, and as a message: a clear
    /// error or a counted drop, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), text in ".{0,256}") {
        let _ = decode_envelope(&bytes, 1 << 16);
        let data = base64::engine::general_purpose::STANDARD.encode(gzip(&bytes));
        let _ = decode_envelope(json!({"awslogs": {"data": data}}).to_string().as_bytes(), 1 << 16);
        let s = sanitizer();
        let _ = s.sanitize_message(Origin { id: Some("1"), timestamp_ms: Some(1) }, &text, &mut Counts::default());
        let _ = s.sanitize_message(Origin::NONE, &String::from_utf8_lossy(&bytes), &mut Counts::default());
        let out = s.sanitize_ndjson(&bytes, 0);
        // Counted from the input: one event per line that is not blank.
        let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count() as u64;
        prop_assert_eq!(out.counts.received, lines);
        prop_assert_eq!(out.counts.written, out.events.len() as u64);
        prop_assert_eq!(out.counts.dropped_total(), lines - out.events.len() as u64);
    }

    /// (d) Arbitrary JSON trees as messages never panic, and every event is accounted for.
    #[test]
    fn arbitrary_json_messages_never_panic(values in prop::collection::vec(arbitrary_json(), 1..4)) {
        let messages: Vec<String> = values.iter().map(Value::to_string).collect();
        let (lines, counts) = run(&messages);
        // Counted from the input and the output lines, not from the sanitizer's own sums.
        prop_assert_eq!(counts.received, messages.len() as u64);
        prop_assert_eq!(counts.written, lines.len() as u64);
        prop_assert_eq!(counts.dropped_total(), (messages.len() - lines.len()) as u64);
    }

    /// (f) Events are sanitized independently: sanitizing a payload gives, event by event, the
    /// output and counts that sanitizing each message on its own gives, whatever came before it.
    /// What one call keeps between its events (the working vectors, the pseudonyms computed)
    /// carries nothing over. Identities come from a small set so that pseudonyms repeat.
    #[test]
    fn events_are_sanitized_independently(
        events in prop::collection::vec((generated_event(), prop::option::of((0usize..3, 0usize..2))), 1..8)
    ) {
        let messages: Vec<String> = events
            .into_iter()
            .map(|(mut g, identity)| {
                if let Some((who, key)) = identity {
                    g.attributes.retain(|(k, _)| !k.starts_with("user."));
                    g.attributes.push((["user.email", "user.id"][key].to_owned(), json!(format!("dev-{who}@example.com"))));
                }
                message(&g)
            })
            .collect();
        let s = sanitizer();
        let decoded = decode_envelope(&envelope_of_payload(&payload(&messages)), DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
        let together = s.sanitize_payload(&decoded);

        let mut alone = Counts::default();
        alone.payloads = 1;
        let mut lines = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            alone.received += 1;
            let id = format!("{:056}", i + 1);
            let origin = Origin { id: Some(&id), timestamp_ms: Some(1_793_491_200_000 + i as i64) };
            match s.sanitize_message(origin, m, &mut alone) {
                Ok((line, _)) => lines.push(line),
                Err(reason) => alone.drop_event(reason),
            }
        }
        alone.written = lines.len() as u64;
        let together_lines: Vec<String> = together.events.into_iter().map(|e| e.message).collect();
        prop_assert_eq!(together_lines, lines);
        prop_assert_eq!(together.counts, alone);
    }

    /// (e) An allowlisted key holding a value of the wrong kind or over-long is dropped (and
    /// counted), while the event itself is kept. (A nested object under an allowed key is, by
    /// the stored-shape rules, another key: `model.a`, dropped as not allowlisted.)
    #[test]
    fn wrong_kind_or_over_long_values_are_dropped((key, value) in wrong_kind_value(), kvlist in any::<bool>()) {
        let g = Generated { name: "api_request".into(), attributes: vec![(key.clone(), value)], resource: vec![], kvlist, any_values: false, nest_dotted: false };
        let (lines, counts) = run(&[message(&g)]);
        prop_assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        prop_assert!(v["attributes"].get(&key).is_none(), "{} kept: {}", key, lines[0]);
        let dropped: u64 = counts.attribute_drops().map(|(_, n)| n).sum();
        prop_assert_eq!(dropped, 1);
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| json!(x)),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "claude_code.api_request",
            "api_request",
            "tool_result",
            "body",
            "attributes",
            "event.name",
            "stringValue",
            "kvlistValue",
            "tool_parameters"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "body",
                        "attributes",
                        "resource",
                        "event.name",
                        "event",
                        "name",
                        "model",
                        "key",
                        "value",
                        "values",
                        "stringValue",
                        "intValue",
                        "kvlistValue",
                        "tool_parameters",
                        "subagent_type",
                        "user.email",
                        "x"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// An allowlisted key of the shipped allowlist with a value its kind refuses.
fn wrong_kind_value() -> impl Strategy<Value = (String, Value)> {
    let text = "[a-z]{0,5} [a-z/@ ]{1,10}".prop_map(Value::String);
    let compound = prop_oneof![
        Just(json!(["x"])),
        Just(json!({"a": 1})),
        Just(json!({"arrayValue": {"values": []}})),
        Just(json!(null))
    ];
    let integer_bad = prop_oneof![
        text.clone(),
        compound.clone(),
        (-1000i64..0).prop_map(|n| json!(n)),
        (100_000_001u64..u64::MAX).prop_map(|n| json!(n)),
        (0.1f64..0.9).prop_map(|x| json!(x + 5.0)),
        Just(json!("NaN")),
        Just(json!(true)),
    ];
    let number_bad = prop_oneof![
        text.clone(),
        compound.clone(),
        (-1000.0f64..-0.001).prop_map(|x| json!(x)),
        Just(json!("Infinity")),
        Just(json!("1e400")),
        Just(json!(false)),
    ];
    let token_bad = prop_oneof![
        text.clone(),
        compound.clone(),
        Just(json!(5)),
        "[a-z]{129,200}".prop_map(Value::String),
        Just(json!(""))
    ];
    let uuid_bad = prop_oneof![text.clone(), compound.clone(), "[0-9a-f]{8}-[0-9a-f]{4}".prop_map(Value::String)];
    prop_oneof![
        (
            prop::sample::select(vec!["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"]),
            integer_bad
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        number_bad.prop_map(|v| ("cost_usd".to_owned(), v)),
        (
            prop::sample::select(vec![
                "model",
                "tool_name",
                "skill.name",
                "agent.name",
                "agent_type",
                "mcp_server.name"
            ]),
            token_bad
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        uuid_bad.prop_map(|v| ("session.id".to_owned(), v)),
    ]
}

/// A decimal number text as a client may send it, within the allowlist's `cost_usd` bounds by
/// construction: up to 4 integer and 13 fraction digits, or one digit, up to 16 fraction digits
/// and a negative exponent (at most 17 significant digits either way).
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..10_000, prop::option::of("[0-9]{1,13}")).prop_map(|(int, frac)| match frac {
            Some(frac) => format!("{int}.{frac}"),
            None => int.to_string(),
        }),
        (1u64..10, "[0-9]{0,16}", 1i32..9).prop_map(|(digit, frac, exp)| if frac.is_empty() {
            format!("{digit}e-{exp}")
        } else {
            format!("{digit}.{frac}e-{exp}")
        }),
    ]
}

/// The number text written for `key` in an output line.
fn written_number<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    Some(&rest[..rest.find([',', '}'])?])
}

proptest! {
    /// (g) Kept numbers are the raw numbers: whatever spelling a client used (JSON number,
    /// decimal string, AnyValue), the written value parses, as an f64 or an integer, to exactly
    /// the value the raw text denotes (correctly rounded, as `str::parse` does).
    #[test]
    fn kept_numbers_are_exactly_the_raw_numbers(
        cost in number_text(), tokens in 0u64..100_000_000, spelling in 0usize..3,
    ) {
        let expected: f64 = cost.parse().unwrap();
        let (cost_value, tokens_value) = match spelling {
            0 => (cost.clone(), tokens.to_string()),
            1 => (format!("{cost:?}"), format!("\"{tokens}\"")),
            _ => (format!(r#"{{"doubleValue":{cost}}}"#), format!(r#"{{"intValue":"{tokens}"}}"#)),
        };
        let message = format!(
            r#"{{"body":"claude_code.api_request","attributes":{{"cost_usd":{cost_value},"input_tokens":{tokens_value}}}}}"#
        );
        let (lines, _) = run(&[message]);
        prop_assert_eq!(lines.len(), 1);
        let written = written_number(&lines[0], "cost_usd").expect("cost_usd is written");
        prop_assert_eq!(written.parse::<f64>().unwrap().to_bits(), expected.to_bits(), "{} -> {}", cost, written);
        let written = written_number(&lines[0], "input_tokens").expect("input_tokens is written");
        prop_assert_eq!(written.parse::<u64>().unwrap(), tokens);
    }
}

#[test]
fn the_generators_produce_kept_events() {
    // Guards the properties against passing vacuously: generated events do get written.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut written = 0;
    for _ in 0..50 {
        let g = generated_event().new_tree(&mut runner).unwrap().current();
        written += run(&[message(&g)]).0.len();
    }
    assert!(written > 10, "only {written} of 50 generated events were written");
}

// ---- the team-insight events: user_prompt, api_error and the org resource attributes -------

/// A canary any `token` kind would accept (no space, slash or @): under a key the allowlist
/// does not name it must still never pass, so this proves the key, not the kind, stopped it.
fn token_canary(n: u32) -> String {
    format!("CANARY-tok-{n}")
}

/// A canary value in either spelling: token-shaped, or text no kind accepts.
fn any_canary() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u32>().prop_map(|n| Value::String(token_canary(n))),
        any::<u32>().prop_map(|n| Value::String(canary(n))),
        canary_value(),
    ]
}

/// Resource keys a client or an admin may set that the allowlist does not keep, including
/// near-misses of the kept org keys.
const UNKEPT_RESOURCE_KEYS: &[&str] = &[
    "owner.email",
    "enduser.id",
    "user.email",
    "user.name",
    "user.plan.note",
    "team",
    "team.name",
    "department.name",
    "cost_center.owner",
    "organization.id",
    "host.name",
    "os.version",
    "project.codename",
];

/// The allowlisted org resource attributes, with valid token values.
const ORG_KEYS: &[&str] = &["user.plan", "team.id", "department", "cost_center", "organization"];

fn insight_event() -> impl Strategy<Value = Generated> {
    let name = prop::sample::select(vec!["user_prompt", "api_error", "api_request"]).prop_map(str::to_owned);
    let small = |lo: u64, hi: u64| (lo..hi).prop_flat_map(|n| prop_oneof![Just(json!(n)), Just(json!(n.to_string()))]);
    let ident = "[a-z][a-z0-9_-]{0,15}".prop_map(Value::String);
    let valid = (
        prop::option::of(small(0, 10_000_000)),
        prop::option::of(small(100, 600)),
        prop::option::of(small(0, 1000)),
        prop::option::of(small(0, 86_400_000)),
        prop::option::of(ident.clone()),
        prop::option::of(ident.clone()),
        prop::option::of("claude-(opus|sonnet|haiku)-[0-9]-[0-9]".prop_map(Value::String)),
    )
        .prop_map(|(len, status, attempt, duration, terminal, speed, model)| {
            [
                ("prompt_length", len),
                ("status_code", status),
                ("attempt", attempt),
                ("duration_ms", duration),
                ("terminal.type", terminal),
                ("speed", speed),
                ("model", model),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect::<Vec<_>>()
        });
    // The content keys of these events, and command arguments: always a canary.
    let content = prop::collection::vec(
        (
            prop::sample::select(vec![
                "prompt",
                "prompt_text",
                "error",
                "command_name",
                "command_args",
                "command_source",
                "user.email",
            ]),
            any_canary(),
        ),
        1..5,
    );
    let org = prop::collection::vec((prop::sample::select(ORG_KEYS.to_vec()), "[a-z][a-z0-9-]{0,20}"), 0..5);
    let unkept = prop::collection::vec((prop::sample::select(UNKEPT_RESOURCE_KEYS.to_vec()), any_canary()), 1..5);
    (name, valid, content, org, unkept, any::<(bool, bool, bool)>()).prop_map(
        |(name, mut attributes, content, org, unkept, (kvlist, any_values, nest_dotted))| {
            attributes.extend(content.into_iter().map(|(k, v)| (k.to_owned(), v)));
            let mut resource = vec![("service.name".to_owned(), json!("claude-code"))];
            resource.extend(org.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))));
            resource.extend(unkept.into_iter().map(|(k, v)| (k.to_owned(), v)));
            Generated { name, attributes, resource, kvlist, any_values, nest_dotted }
        },
    )
}

proptest! {
    /// (a) for the team-insight events: a canary in `prompt`, `prompt_text`, `error`, command
    /// arguments, and in every resource key the allowlist does not keep (even one shaped like a
    /// valid token, so only the key can stop it) never reaches the output; the kept events are
    /// written, with the org attributes they were given.
    #[test]
    fn no_canary_from_prompts_errors_or_unkept_resource_keys(events in prop::collection::vec(insight_event(), 1..5)) {
        let messages: Vec<String> = events.iter().map(message).collect();
        let (lines, counts) = run(&messages);
        for line in &lines {
            prop_assert!(!line.contains("CANARY"), "leak: {}", line);
        }
        prop_assert!(!counts.to_string().contains("CANARY"));
        prop_assert_eq!(lines.len(), events.len(), "user_prompt, api_error and api_request are kept");
        for (line, g) in lines.iter().zip(&events) {
            let v: Value = serde_json::from_str(line).unwrap();
            for (key, value) in dedup(&g.resource) {
                if ORG_KEYS.contains(&key.as_str()) && !(g.nest_dotted && key.contains('.')) {
                    prop_assert_eq!(&v["resource"]["attributes"][&key], &value, "{} not kept: {}", key, line);
                }
            }
        }
    }
}

/// A new team-insight key with a value its kind refuses: (scope, key, value).
fn wrong_kind_insight_value() -> impl Strategy<Value = (bool, String, Value)> {
    let text = "[a-z]{0,5}[ /@][a-z/@ ]{1,10}".prop_map(Value::String);
    let email = "[a-z]{1,8}@[a-z]{1,8}\\.com".prop_map(Value::String);
    let status_bad =
        prop_oneof![(0i64..100).prop_map(|n| json!(n)), (600i64..100_000).prop_map(|n| json!(n)), text.clone()];
    let count_bad = prop_oneof![(-1000i64..0).prop_map(|n| json!(n)), text.clone(), Just(json!(1.5))];
    let token_bad = prop_oneof![text.clone(), email.clone(), "[a-z]{65,80}".prop_map(Value::String), Just(json!(""))];
    prop_oneof![
        status_bad.prop_map(|v| (false, "status_code".to_owned(), v)),
        (prop::sample::select(vec!["prompt_length", "attempt", "duration_ms"]), count_bad).prop_map(|(k, v)| (
            false,
            k.to_owned(),
            v
        )),
        (prop::sample::select(vec!["terminal.type", "query_source"]), token_bad.clone()).prop_map(|(k, v)| (
            false,
            k.to_owned(),
            v
        )),
        (prop::sample::select(ORG_KEYS.to_vec()), token_bad).prop_map(|(k, v)| (true, k.to_owned(), v)),
    ]
}

proptest! {
    /// (e) for the team-insight keys: a status code outside 100-599, a negative or fractional
    /// count, and an email, a path, text or an over-long value in `terminal.type` or an org
    /// attribute are dropped (and counted) while the event is kept.
    #[test]
    fn wrong_kind_insight_values_are_dropped((resource, key, value) in wrong_kind_insight_value(), kvlist in any::<bool>()) {
        let name = if resource { "user_prompt" } else { "api_error" };
        let pair = vec![(key.clone(), value)];
        let (attributes, resource_attrs) = if resource { (vec![], pair) } else { (pair, vec![]) };
        let g = Generated { name: name.into(), attributes, resource: resource_attrs, kvlist, any_values: false, nest_dotted: false };
        let (lines, counts) = run(&[message(&g)]);
        prop_assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        prop_assert!(v["attributes"].get(&key).is_none(), "{} kept: {}", key, lines[0]);
        prop_assert!(v.get("resource").is_none_or(|r| r["attributes"].get(&key).is_none()), "{} kept: {}", key, lines[0]);
        let dropped: u64 = counts.attribute_drops().map(|(_, n)| n).sum();
        prop_assert_eq!(dropped, 1);
    }
}

// ---- canaries only the key can stop: every key of every recorded event type ---------------

/// What a canary looks like. Each shape passes the kind of a kept key, so only the key can stop
/// a canary of that shape: a token (`cnry…`), a Claude model id, a UUID, a whole number within
/// the bounds of the token counts and durations, a number within the bounds of `cost_usd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Token,
    Model,
    Uuid,
    Integer,
    Number,
}

/// Where a canary is planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Attribute,
    Resource,
    ToolParameter,
}

/// The kept keys each canary is also placed under, in a control event, to prove its kind would
/// keep it there: (place, shape) → (input key, output key, an event it is kept on) of that kind
/// (for `tool_parameters`, the sub-key and its output). Every token here allows at least 32
/// characters; the integers allow 10⁷ to 8.64 × 10⁷. `the_control_keys_are_kept_on_their_events`
/// checks each against the allowlist's text.
fn control_keys(place: Place, shape: Shape) -> &'static [(&'static str, &'static str, &'static str)] {
    match (place, shape) {
        (Place::Attribute, Shape::Token) => &[
            ("tool_name", "tool_name", "tool_result"),
            ("skill.name", "skill.name", "api_request"),
            ("agent.name", "agent.name", "api_request"),
            ("agent_type", "agent_type", "subagent_completed"),
            ("mcp_server.name", "mcp_server.name", "api_request"),
            ("mcp_tool.name", "mcp_tool.name", "api_request"),
            ("plugin.name", "plugin.name", "plugin_loaded"),
            ("marketplace.name", "marketplace.name", "plugin_loaded"),
        ],
        (Place::Attribute, Shape::Model) => {
            &[("model", "model", "api_request"), ("final_model", "final_model", "subagent_completed")]
        }
        (Place::Attribute, Shape::Uuid) => &[("session.id", "session.id", "tool_result")],
        (Place::Attribute, Shape::Integer) => &[
            ("duration_ms", "duration_ms", "tool_result"),
            ("input_tokens", "input_tokens", "api_request"),
            ("output_tokens", "output_tokens", "api_request"),
            ("cache_read_tokens", "cache_read_tokens", "api_request"),
            ("cache_creation_tokens", "cache_creation_tokens", "api_request"),
            ("ttft_ms", "ttft_ms", "api_request"),
            ("tool_result_size_bytes", "tool_result_size_bytes", "tool_result"),
        ],
        (Place::Attribute, Shape::Number) => &[("cost_usd", "cost_usd", "api_request")],
        // Every shape's text is also a valid token: the org keys and the sub-keys are tokens.
        (Place::Resource, _) => &[
            ("user.plan", "user.plan", "tool_result"),
            ("team.id", "team.id", "tool_result"),
            ("department", "department", "tool_result"),
            ("cost_center", "cost_center", "tool_result"),
            ("organization", "organization", "tool_result"),
        ],
        (Place::ToolParameter, _) => &[
            ("subagent_type", "tool.subagent_type", "tool_result"),
            ("mcp_server_name", "tool.mcp_server_name", "tool_result"),
            ("mcp_tool_name", "tool.mcp_tool_name", "tool_result"),
            ("skill_name", "tool.skill_name", "tool_result"),
        ],
    }
}

#[test]
fn the_control_keys_are_kept_on_their_events() {
    let keys = common::AllowlistKeys::shipped();
    let places = [Place::Attribute, Place::Resource, Place::ToolParameter];
    let shapes = [Shape::Token, Shape::Model, Shape::Uuid, Shape::Integer, Shape::Number];
    for (place, shape) in places.into_iter().flat_map(|p| shapes.map(|s| (p, s))) {
        for &(input, _, event) in control_keys(place, shape) {
            let kept = match place {
                Place::Attribute => keys.attribute_kept_on(input, event),
                Place::Resource => keys.resource.contains(input) && keys.events.contains(event),
                Place::ToolParameter => keys.tool_parameter_kept_on(input, event),
            };
            assert!(kept, "{input} is not kept on {event}");
        }
    }
}

/// One planted canary: its text, the stored value that carries it, and where it was planted.
#[derive(Debug)]
struct Planted {
    text: String,
    shape: Shape,
    place: Place,
    /// The stored value as planted (an AnyValue in the KeyValue shape).
    stored: Value,
    event: String,
    key: String,
}

/// The recorded corpus, grouped: every event type with its samples in each shape, the union of
/// its attribute keys and `tool_parameters` sub-keys (each with an example value), and the union
/// of the resource keys. Derived from the recordings, not from a list.
struct Corpus {
    keys: common::AllowlistKeys,
    /// Event type → (samples as objects, samples as KeyValue arrays).
    samples: std::collections::BTreeMap<String, (Vec<Value>, Vec<Value>)>,
    attribute_union: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Value>>,
    subkey_union: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Value>>,
    resource_union: std::collections::BTreeMap<String, Value>,
    /// Every maximal run of digits in the recordings: an integer canary is none of these, so
    /// a kept recorded number never looks like a leaked canary.
    recorded_numbers: BTreeSet<String>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: std::sync::OnceLock<Corpus> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut c = Corpus {
            keys: common::AllowlistKeys::shipped(),
            samples: Default::default(),
            attribute_union: Default::default(),
            subkey_union: Default::default(),
            resource_union: Default::default(),
            recorded_numbers: BTreeSet::new(),
        };
        for e in common::recorded_events() {
            let text = e.message.to_string();
            assert!(!text.contains("cnry"), "a recording holds the canary marker");
            c.recorded_numbers
                .extend(text.split(|ch: char| !ch.is_ascii_digit()).filter(|s| !s.is_empty()).map(str::to_owned));
            for (k, v) in common::attribute_pairs(&e.message["attributes"]) {
                let v = common::unwrap_any_value(&v);
                if k == "tool_parameters"
                    && let Some(Ok(Value::Object(sub))) = v.as_str().map(serde_json::from_str::<Value>)
                {
                    let union = c.subkey_union.entry(e.name.clone()).or_default();
                    for (sk, sv) in sub {
                        union.entry(sk).or_insert(sv);
                    }
                }
                c.attribute_union.entry(e.name.clone()).or_default().entry(k).or_insert(v);
            }
            for (k, v) in common::attribute_pairs(&e.message["resource"]["attributes"]) {
                c.resource_union.entry(k).or_insert_with(|| common::unwrap_any_value(&v));
            }
            let samples = c.samples.entry(e.name.clone()).or_default();
            if e.kvlist { &mut samples.1 } else { &mut samples.0 }.push(e.message);
        }
        c
    })
}

/// The shape of canary that replaces a recorded value: what a kept key of the nearest kind
/// would accept.
fn shape_of(recorded: &Value) -> Shape {
    match recorded {
        Value::Number(n) if n.is_f64() => Shape::Number,
        Value::Number(_) => Shape::Integer,
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() && s.len() == 36 => Shape::Uuid,
        Value::String(s) if s.contains("claude-") => Shape::Model,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Shape::Integer,
        _ => Shape::Token,
    }
}

/// Plants canaries in recorded events, each unique in the case, from a seeded generator.
struct Planter {
    rng: TestRng,
    planted: Vec<Planted>,
    numbers: BTreeSet<String>,
}

impl Planter {
    fn new(seed: u64) -> Planter {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..].copy_from_slice(&(!seed).to_le_bytes());
        Planter {
            rng: TestRng::from_seed(RngAlgorithm::XorShift, &bytes),
            planted: Vec::new(),
            numbers: BTreeSet::new(),
        }
    }

    /// A fresh canary text of `shape`.
    fn text(&mut self, shape: Shape) -> String {
        let n = self.planted.len();
        loop {
            let r = self.rng.next_u64();
            let text = match shape {
                Shape::Token => format!("cnry{:08x}.x-{n}", r as u32),
                Shape::Model => format!("claude-cnry{:06x}-{n}-5", r as u32 & 0xff_ffff),
                Shape::Uuid => uuid::Uuid::from_u128(u128::from(r) << 64 | u128::from(self.rng.next_u64())).to_string(),
                Shape::Integer => (10_000_000 + r % 76_400_000).to_string(),
                Shape::Number => format!("{}.{:04}{}", 1000 + r % 9000, (r >> 16) % 10_000, 1 + (r >> 32) % 9),
            };
            let number = matches!(shape, Shape::Integer | Shape::Number);
            if !number
                || (!corpus().recorded_numbers.contains(text.split('.').next().unwrap())
                    && self.numbers.insert(text.clone()))
            {
                return text;
            }
        }
    }

    /// Replaces `recorded` (a stored value, an AnyValue when `kvlist`) with a canary that has its
    /// spelling (a string stays a string, a number a number) and passes the nearest kept kind.
    fn plant(&mut self, place: Place, event: &str, key: &str, recorded: &Value, kvlist: bool) -> Value {
        let plain = if kvlist { common::unwrap_any_value(recorded) } else { recorded.clone() };
        let shape = if place == Place::ToolParameter { Shape::Token } else { shape_of(&plain) };
        let text = self.text(shape);
        let as_string = place != Place::Attribute || !plain.is_number();
        let value = match shape {
            Shape::Integer if !as_string => json!(text.parse::<u64>().unwrap()),
            Shape::Number if !as_string => json!(text.parse::<f64>().unwrap()),
            _ => Value::String(text.clone()),
        };
        let stored = match (kvlist, &value) {
            (false, _) => value,
            (true, Value::String(s)) => json!({"stringValue": s}),
            (true, v) if v.is_f64() => json!({"doubleValue": v}),
            (true, v) => json!({"intValue": v}),
        };
        self.planted.push(Planted {
            text,
            shape,
            place,
            stored: stored.clone(),
            event: event.to_owned(),
            key: key.to_owned(),
        });
        stored
    }
}

/// Sets `key` in an attribute list of either shape (replacing the value, or appending the key).
fn set_attribute(attributes: &mut Value, key: &str, stored: Value) {
    match attributes {
        Value::Object(m) => {
            m.insert(key.to_owned(), stored);
        }
        Value::Array(a) => match a.iter_mut().find(|kv| kv["key"] == key) {
            Some(kv) => kv["value"] = stored,
            None => a.push(json!({"key": key, "value": stored})),
        },
        _ => panic!("attributes are an object or an array"),
    }
}

/// `sample` (a recorded event of type `name`) with a canary in every key the allowlist does not
/// keep: every attribute key of the type (those the sample lacks added), every resource key of
/// the recordings, every `tool_parameters` sub-key of the type. Kept keys keep their recorded
/// (valid) values.
fn plant_event(p: &mut Planter, name: &str, sample: &Value, kvlist: bool) -> Value {
    let c = corpus();
    let mut message = sample.clone();
    let present: BTreeSet<String> =
        common::attribute_pairs(&message["attributes"]).into_iter().map(|(k, _)| k).collect();
    let mut plants = Vec::new();
    for (key, example) in &c.attribute_union[name] {
        if key == "event.name" || c.keys.attribute_kept_on(key, name) {
            continue;
        }
        let recorded = if present.contains(key) {
            common::attribute(&message["attributes"], key).unwrap().clone()
        } else if kvlist {
            any_value(example)
        } else {
            example.clone()
        };
        let stored = if key == "tool_parameters" {
            let mut sub: Map<String, Value> = common::unwrap_any_value(&recorded)
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            for (sk, sv) in c.subkey_union.get(name).into_iter().flatten() {
                if !c.keys.tool_parameter_kept_on(sk, name) {
                    let v = sub.get(sk).cloned().unwrap_or_else(|| sv.clone());
                    sub.insert(sk.clone(), p.plant(Place::ToolParameter, name, sk, &v, false));
                }
            }
            let text = Value::Object(sub).to_string();
            if kvlist { json!({"stringValue": text}) } else { Value::String(text) }
        } else {
            p.plant(Place::Attribute, name, key, &recorded, kvlist)
        };
        plants.push((key.clone(), stored));
    }
    for (key, stored) in plants {
        set_attribute(&mut message["attributes"], &key, stored);
    }
    let resource_present: BTreeSet<String> =
        common::attribute_pairs(&message["resource"]["attributes"]).into_iter().map(|(k, _)| k).collect();
    for (key, example) in &c.resource_union {
        if c.keys.resource.contains(key) {
            continue;
        }
        let recorded = if resource_present.contains(key) {
            common::attribute(&message["resource"]["attributes"], key).unwrap().clone()
        } else if kvlist {
            any_value(example)
        } else {
            example.clone()
        };
        let stored = p.plant(Place::Resource, name, key, &recorded, kvlist);
        set_attribute(&mut message["resource"]["attributes"], key, stored);
    }
    message
}

/// One value a control event must write: (under the resource?, output key, canary text).
type Wanted = (bool, &'static str, String);

/// Control events: every planted canary under a kept key of its kind (several canaries per
/// event, one per kept key), as tool_result events in the same stored shape. Returns the
/// messages and, for each, what must be written: (resource?, output key, canary text).
fn control_events(planted: &[Planted], kvlist: bool) -> (Vec<String>, Vec<Vec<Wanted>>) {
    // Per control event (by event name and number): attributes, resource attributes,
    // tool_parameters, what must be written.
    type Control = (Vec<(String, Value)>, Vec<(String, Value)>, Map<String, Value>, Vec<Wanted>);
    let mut events: std::collections::BTreeMap<(&str, usize), Control> = Default::default();
    let mut used: std::collections::BTreeMap<(Place, Shape), usize> = Default::default();
    for c in planted {
        let keys = control_keys(c.place, c.shape);
        let group = if matches!(c.place, Place::Attribute) { (c.place, c.shape) } else { (c.place, Shape::Token) };
        let n = used.entry(group).or_default();
        let (index, (input, output, event)) = (*n / keys.len(), keys[*n % keys.len()]);
        *n += 1;
        let e = events.entry((event, index)).or_default();
        match c.place {
            Place::Attribute => e.0.push((input.to_owned(), c.stored.clone())),
            Place::Resource => {
                e.1.push((input.to_owned(), if kvlist { json!({"stringValue": c.text}) } else { json!(c.text) }))
            }
            Place::ToolParameter => drop(e.2.insert(input.to_owned(), json!(c.text))),
        }
        e.3.push((c.place == Place::Resource, output, c.text.clone()));
    }
    let encode = |pairs: Vec<(String, Value)>| -> Value {
        if kvlist {
            Value::Array(pairs.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect())
        } else {
            Value::Object(pairs.into_iter().collect())
        }
    };
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for ((event, _), (mut attributes, resource, tool_parameters, wanted)) in events {
        let name = if kvlist { json!({"stringValue": event}) } else { json!(event) };
        attributes.insert(0, ("event.name".to_owned(), name));
        if !tool_parameters.is_empty() {
            let text = Value::Object(tool_parameters).to_string();
            attributes
                .push(("tool_parameters".to_owned(), if kvlist { json!({"stringValue": text}) } else { json!(text) }));
        }
        messages.push(
            json!({"resource": {"attributes": encode(resource)}, "body": format!("claude_code.{event}"), "attributes": encode(attributes)})
                .to_string(),
        );
        expected.push(wanted);
    }
    (messages, expected)
}

/// Whether `canary` occurs in `line` as a whole word (no letter or digit either side): a kept
/// number elsewhere in the line (a timestamp, an id) may contain its digits, a leak is the word.
fn holds_word(line: &str, canary: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices(canary).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + canary.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric()) && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

/// The text a written value shows: a string's content, a number's digits.
fn shown(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

proptest! {
    /// (a) with canaries only the key can stop: every attribute key, resource key and
    /// `tool_parameters` sub-key the allowlist does not keep, of every recorded event type (taken
    /// from the recordings, in both stored shapes), holds a canary shaped to pass the kind of the
    /// nearest kept key; none reaches the output bytes or the counts. The same canaries placed
    /// under kept keys are written, so each one would pass its kind and this can fail. The
    /// written and received counts are checked against the input's own event count.
    #[test]
    fn no_canary_that_passes_a_kind_reaches_the_output(seed in any::<u64>()) {
        let c = corpus();
        let mut p = Planter::new(seed);
        for kvlist in [false, true] {
            p.planted.clear();
            let mut messages = Vec::new();
            let mut kept_events = 0usize;
            for (name, (objects, arrays)) in &c.samples {
                let samples = if kvlist { arrays } else { objects };
                let sample = &samples[(p.rng.next_u64() % samples.len() as u64) as usize];
                messages.push(plant_event(&mut p, name, sample, kvlist).to_string());
                kept_events += usize::from(c.keys.events.contains(name));
            }
            let (lines, counts) = run(&messages);
            prop_assert_eq!(counts.received, messages.len() as u64);
            prop_assert_eq!(lines.len(), kept_events, "every kept event type is written");
            prop_assert_eq!(counts.written, lines.len() as u64);
            prop_assert_eq!(counts.dropped_total(), (messages.len() - kept_events) as u64);
            let counted = counts.to_string();
            for line in lines.iter().chain([&counted]) {
                prop_assert!(!line.contains("cnry"), "leak: {}", line);
                // Token and model canaries all hold `cnry`: the line above covers them.
                for planted in p.planted.iter().filter(|c| !matches!(c.shape, Shape::Token | Shape::Model)) {
                    prop_assert!(
                        !holds_word(line, &planted.text),
                        "leak of {:?} planted under {} of {}: {}", planted, planted.key, planted.event, line
                    );
                }
            }

            // The control: the same canaries under kept keys of their kind are written.
            let (controls, expected) = control_events(&p.planted, kvlist);
            let (lines, counts) = run(&controls);
            prop_assert_eq!(lines.len(), controls.len());
            prop_assert_eq!(counts.received, controls.len() as u64);
            let mut shown_canaries = 0;
            for (line, wanted) in lines.iter().zip(&expected) {
                let v: Value = serde_json::from_str(line).unwrap();
                for (resource, key, text) in wanted {
                    let written = if *resource { &v["resource"]["attributes"][*key] } else { &v["attributes"][*key] };
                    let shown = shown(written);
                    prop_assert_eq!(shown.as_deref(), Some(text.as_str()), "{} not kept under {}: {}", text, key, line);
                    prop_assert!(holds_word(line, text));
                    shown_canaries += 1;
                }
            }
            prop_assert_eq!(shown_canaries, p.planted.len());
        }
    }
}

#[test]
fn the_recorded_corpus_covers_every_inventoried_key() {
    // The leak property derives its event types and keys from the recordings; the inventory the
    // recorder wrote lists them independently: both agree, and the kept ones are what the
    // compiled allowlist keeps.
    let c = corpus();
    let inventory: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("fixtures/recorded/inventory.json")).unwrap(),
    )
    .unwrap();
    let inventoried: BTreeSet<&str> = inventory["events"].as_object().unwrap().keys().map(String::as_str).collect();
    let derived: BTreeSet<&str> = c.samples.keys().map(String::as_str).collect();
    assert_eq!(derived, inventoried);
    for (name, event) in inventory["events"].as_object().unwrap() {
        let keys: BTreeSet<&str> = event["attributes"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(c.attribute_union[name].keys().map(String::as_str).collect::<BTreeSet<_>>(), keys, "{name}");
        assert!(!c.samples[name].0.is_empty() && !c.samples[name].1.is_empty(), "{name} in both shapes");
    }
    let resource: BTreeSet<&str> =
        inventory["resource_attributes"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(c.resource_union.keys().map(String::as_str).collect::<BTreeSet<_>>(), resource);
    assert!(c.subkey_union.values().map(|s| s.len()).sum::<usize>() >= 10, "tool_parameters sub-keys recorded");
    let allowlist = Allowlist::embedded();
    let outputs: BTreeSet<&str> = allowlist.attribute_outputs().collect();
    assert!(c.keys.attributes.iter().all(|k| outputs.contains(k.as_str())));
    assert_eq!(
        c.keys.resource.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        allowlist.resource_outputs().collect()
    );
    assert_eq!(
        c.keys.events.iter().collect::<Vec<_>>(),
        allowlist.events().iter().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()
    );
    // Keys kept on some events are recorded on kept events that do not keep them (plugin.name on
    // mcp_server_connection and skill_activated, ...): the leak property plants canaries there too.
    let elsewhere: Vec<(&str, &str)> = c
        .attribute_union
        .iter()
        .filter(|(name, _)| c.keys.events.contains(*name))
        .flat_map(|(name, keys)| keys.keys().map(move |k| (name.as_str(), k.as_str())))
        .filter(|(name, key)| c.keys.attributes.contains(*key) && !c.keys.attribute_kept_on(key, name))
        .collect();
    assert!(elsewhere.len() >= 3, "{elsewhere:?}");
    // Some kept event types and some dropped ones are recorded.
    assert!(derived.iter().filter(|n| c.keys.events.contains(**n)).count() >= 5);
    assert!(derived.len() >= 15);
}
