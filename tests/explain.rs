//! `explain` prints key names, event names, reasons and counts, never content, and cannot be
//! forged. Each privacy rule has a test that plants a canary where the rule applies, asserts it
//! never reaches stdout or stderr (in the per-event and the summary form, through the library
//! and the real binary), and asserts what is printed instead. The format is pinned by golden
//! snapshots of one recorded fixture.

mod common;
mod kinesis_support;

use common::*;
use kinesis_support::{KinesisRecord, control_message, data_of, kinesis_event, sequence_number, truncated_gzip};
use sanitizer_core::{Allowlist, EventType, Explanation, Sanitizer, Summary, escape};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Both forms of explaining `lines` (one stored message each) with the embedded allowlist.
fn explain_both(lines: &[String]) -> (String, String) {
    explain_with(&sanitizer(), lines)
}

fn explain_with(sanitizer: &Sanitizer, lines: &[String]) -> (String, String) {
    let input = lines.join("\n");
    let mut events = String::new();
    let mut summary = Summary::default();
    summary.add_input();
    for explanation in sanitizer.explain_ndjson(input.as_bytes()) {
        events.push_str(&format!("{explanation}\n"));
        summary.add(&explanation);
    }
    (events, summary.to_string())
}

fn explanations(lines: &[String]) -> Vec<Explanation> {
    let input = lines.join("\n");
    sanitizer().explain_ndjson(input.as_bytes()).collect()
}

/// Nothing of `canary` and no byte outside printable ASCII (but newline) in `text`.
fn assert_clean(text: &str, canary: &str) {
    assert!(!text.contains(canary), "{canary} printed:\n{text}");
    if let Some(b) = text.bytes().find(|&b| b != b'\n' && !(0x20..0x7f).contains(&b)) {
        panic!("byte {b:#04x} printed:\n{}", escape(text));
    }
}

fn api_request(attributes: Value) -> String {
    json!({"body": "claude_code.api_request", "attributes": attributes}).to_string()
}

fn tool_result(tool_parameters: Value) -> String {
    json!({"body": "claude_code.tool_result", "attributes": {"tool_name": "Agent", "tool_parameters": tool_parameters}})
        .to_string()
}

/// The summary's rows, trimmed: `3  dropped  other keys in attributes.tool_parameters (...)`
/// becomes (3, "dropped other keys in attributes.tool_parameters (...)").
fn rows(summary: &str) -> Vec<(u64, String)> {
    summary
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let mut words = l.split_whitespace();
            let n = words.next().unwrap().parse().unwrap();
            (n, words.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

fn has_row(summary: &str, count: u64, text: &str) -> bool {
    rows(summary).iter().any(|(n, t)| *n == count && t == text)
}

// ---- keys found inside a value are counted, never named ----

#[test]
fn tool_parameters_keys_are_counted_never_named() {
    let params = r#"{"subagent_type":"Explore","CANARYsubkey":"x","CANARY_other":{"a":1},"prompt":"CANARYvalue"}"#;
    let (events, summary) = explain_both(&[tool_result(json!(params))]);
    for text in [&events, &summary] {
        assert_clean(text, "CANARY");
        assert!(!text.contains("tool_parameters.prompt"), "{text}");
    }
    assert!(events.contains("kept: attributes.tool_name, attributes.tool_parameters.subagent_type"), "{events}");
    assert!(events.contains("extracted from: attributes.tool_parameters"), "{events}");
    assert!(events.contains("3 other keys in attributes.tool_parameters (not_allowlisted)"), "{events}");
    assert!(has_row(&summary, 3, "dropped other keys in attributes.tool_parameters (not_allowlisted)"), "{summary}");
    assert!(has_row(&summary, 1, "kept attributes.tool_parameters.subagent_type"), "{summary}");
    let e = &explanations(&[tool_result(json!(params))])[0];
    assert_eq!(e.hidden().map(|(_, _, n)| n).sum::<u64>(), 3);
    assert!(e.keys().all(|(_, key, _)| key.is_none_or(|k| !k.contains("CANARY"))));
}

#[test]
fn tool_parameters_as_an_object_or_kvlist_name_no_inner_key() {
    let object = tool_result(json!({"subagent_type": "Explore", "CANARYsubkey": "x", "CANARYother": "y"}));
    let kvlist = json!({"body": "claude_code.tool_result", "attributes": [
        {"key": "tool_parameters", "value": {"kvlistValue": {"values": [
            {"key": "subagent_type", "value": {"stringValue": "Explore"}},
            {"key": "CANARYsubkey", "value": {"stringValue": "x"}},
            {"key": "CANARYother", "value": {"stringValue": "y"}}]}}}]})
    .to_string();
    for message in [object, kvlist] {
        let (events, summary) = explain_both(std::slice::from_ref(&message));
        assert_clean(&events, "CANARY");
        assert_clean(&summary, "CANARY");
        assert!(events.contains("2 other keys in") || events.contains("2 nested keys in"), "{events}");
    }
}

#[test]
fn an_object_valued_prompt_names_no_inner_key() {
    let message = api_request(json!({
        "model": "claude-sonnet-4-5",
        "prompt": {"CANARYinner": "x", "text": {"CANARYdeep": 1}, "kvlistValue": {"values": []}},
    }));
    let (events, summary) = explain_both(std::slice::from_ref(&message));
    assert_clean(&events, "CANARY");
    assert_clean(&summary, "CANARY");
    assert!(!events.contains("prompt.") && !summary.contains("prompt."), "{events}{summary}");
    assert!(events.contains("attributes.prompt (not_allowlisted)"), "{events}");
    assert!(has_row(&summary, 1, "dropped attributes.prompt (not_allowlisted)"), "{summary}");
}

// ---- top-level keys: printed only with a schema key's shape ----

/// Top-level keys that must not be printed: each holds "CANARY".
fn unshaped_keys() -> Vec<String> {
    vec![
        "CANARY.dev@example.com".to_owned(),
        "/home/CANARY/notes.txt".to_owned(),
        "x\nevent 9 api_request: written\n  kept: attributes.CANARYforged".to_owned(),
        "\u{1b}[31mCANARYesc\u{1b}[0m".to_owned(),
        "CANARYbel\u{7}".to_owned(),
        "CANARY key with spaces".to_owned(),
        format!("CANARY{}", "k".repeat(60)),
        "1CANARYdigits".to_owned(),
        "CANARY\u{0}nul".to_owned(),
        "CANARYé".to_owned(),
    ]
}

#[test]
fn top_level_keys_without_a_schema_shape_are_not_shown() {
    let keys = unshaped_keys();
    let mut object = serde_json::Map::new();
    object.insert("model".into(), json!("claude-sonnet-4-5"));
    object.insert("good.key-1".into(), json!(1));
    for key in &keys {
        object.insert(key.clone(), json!("v"));
    }
    let resource: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!("v"))).collect();
    let as_object =
        json!({"body": "claude_code.api_request", "attributes": object, "resource": {"attributes": resource}});
    let kv = |map: &serde_json::Map<String, Value>| -> Vec<Value> {
        map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
    };
    let as_kvlist = json!({"body": "claude_code.api_request", "attributes": kv(&object), "resource": {"attributes": kv(&resource)}});
    let n = keys.len();
    for message in [as_object.to_string(), as_kvlist.to_string()] {
        let (events, summary) = explain_both(std::slice::from_ref(&message));
        for text in [&events, &summary] {
            assert_clean(text, "CANARY");
            assert!(!text.contains("event 9"), "a forged line:\n{text}");
        }
        assert_eq!(events.lines().count(), 3, "one event line, kept, dropped:\n{events}");
        assert_eq!(events.matches("resource.attributes.<key not shown> (not_allowlisted)").count(), n, "{events}");
        assert_eq!(events.matches(" attributes.<key not shown> (not_allowlisted)").count(), n, "{events}");
        assert!(has_row(&summary, n as u64, "dropped attributes.<key not shown> (not_allowlisted)"), "{summary}");
        assert!(has_row(&summary, n as u64, "dropped resource.attributes.<key not shown> (not_allowlisted)"));
    }
    let (events, _) = explain_both(&[as_object.to_string()]);
    assert!(events.contains("attributes.good.key-1 (not_allowlisted)"), "a shaped key is shown:\n{events}");
    assert!(events.contains("kept: attributes.model"), "{events}");
}

#[test]
fn dropped_allowlisted_keys_are_named_and_values_are_not() {
    let message = api_request(json!({"model": "CANARY has spaces", "input_tokens": "CANARY", "cost_usd": -1}));
    let (events, summary) = explain_both(&[message]);
    assert_clean(&events, "CANARY");
    assert_clean(&summary, "CANARY");
    for dropped in
        ["attributes.model (wrong_kind)", "attributes.input_tokens (wrong_kind)", "attributes.cost_usd (out_of_range)"]
    {
        assert!(events.contains(dropped), "{dropped}: {events}");
    }
}

// ---- event names: printed only if known or allowlisted ----

#[test]
fn event_names_are_shown_only_when_known_or_allowlisted() {
    let lines = [
        json!({"body": "claude_code.CANARYevent"}).to_string(),
        json!({"body": "claude_code.x\nevent 9 api_request: written\u{1b}]0;CANARY\u{7}"}).to_string(),
        json!({"attributes": {"event.name": "CANARY@example.com"}}).to_string(),
        json!({"eventName": "claude_code.CANARY_looks_like_a_name"}).to_string(),
        json!({"body": "claude_code.api_response_body", "attributes": {"body": "CANARY"}}).to_string(),
        json!({"body": "claude_code.api_request"}).to_string(),
    ];
    let (events, summary) = explain_both(&lines);
    assert_clean(&events, "CANARY");
    assert_clean(&summary, "CANARY");
    assert!(!events.contains("event 9") && !summary.contains("event 9"), "{events}");
    let first: Vec<&str> = events.lines().filter(|l| l.starts_with("event ")).collect();
    assert_eq!(
        first,
        [
            "event 0 unknown event: dropped (event_not_allowed)",
            "event 1 unknown event: dropped (event_not_allowed)",
            "event 2 unknown event: dropped (event_not_allowed)",
            "event 3 unknown event: dropped (event_not_allowed)",
            "event 4 api_response_body: dropped (event_not_allowed)",
            "event 5 api_request: written",
        ]
    );
    assert!(summary.contains("\nunknown event: 4 events, 4 dropped (event_not_allowed)"), "{summary}");
    assert!(summary.contains("\napi_response_body: 1 event, 1 dropped (event_not_allowed)"), "{summary}");
    assert!(summary.contains("\napi_request: 1 event, 1 written"), "{summary}");

    // A name the allowlist lists is shown, known to Claude Code or not.
    let allowlist = Allowlist::from_toml(
        "events = [\"custom_event_x\"]\n[attributes]\n\"model\" = { kind = \"token\", max_len = 64 }\n",
    )
    .unwrap();
    let custom = Sanitizer::new(allowlist, None);
    let (events, _) = explain_with(&custom, &[json!({"body": "claude_code.custom_event_x"}).to_string()]);
    assert!(events.starts_with("event 0 custom_event_x: written"), "{events}");
    let (events, _) = explain_both(&[json!({"body": "claude_code.custom_event_x"}).to_string()]);
    assert!(events.starts_with("event 0 unknown event: dropped (event_not_allowed)"), "{events}");
}

#[test]
fn events_without_one_name_are_unnamed() {
    let lines = [
        "not json CANARY".to_owned(),
        json!({"attributes": {"model": "m"}}).to_string(),
        json!({"body": "claude_code.api_request", "attributes": {"event.name": "tool_result"}}).to_string(),
    ];
    let e = explanations(&lines);
    assert!(e.iter().all(|e| e.event == EventType::Unnamed), "{e:?}");
    let (events, summary) = explain_both(&lines);
    assert_clean(&events, "CANARY");
    assert!(
        summary.contains(
            "\n(no event name): 3 events, 3 dropped (unparseable 1, no_event_name 1, ambiguous_event_name 1)"
        ),
        "{summary}"
    );
}

// ---- the summary ----

#[test]
fn the_summary_counts_per_event_type_and_key() {
    let lines = [
        api_request(json!({"model": "claude-sonnet-4-5-20250929", "input_tokens": 5, "cost_usd_micros": 7})),
        api_request(json!({"model": "m 2", "cost_usd_micros": 7, "CANARY@x": 1})),
        tool_result(json!(r#"{"skill_name":"pdf","file_path":"CANARY"}"#)),
        json!({"body": "claude_code.api_request_body"}).to_string(),
    ];
    let (_, summary) = explain_both(&lines);
    assert_clean(&summary, "CANARY");
    assert!(summary.starts_with("summary: 1 input, 4 events: 3 written, 1 dropped\n"), "{summary}");
    for (count, row) in [
        (1, "kept attributes.model"),
        (1, "kept attributes.input_tokens"),
        (1, "dropped attributes.model (wrong_kind)"),
        (2, "dropped attributes.cost_usd_micros (not_allowlisted)"),
        (1, "dropped attributes.<key not shown> (not_allowlisted)"),
        (1, "kept attributes.tool_parameters.skill_name"),
        (1, "dropped other keys in attributes.tool_parameters (not_allowlisted)"),
    ] {
        assert!(has_row(&summary, count, row), "{row}:\n{summary}");
    }
    // Written types first, then the types dropped whole.
    let types: Vec<&str> = summary.lines().skip(1).filter(|l| !l.is_empty() && !l.starts_with(' ')).collect();
    assert_eq!(
        types,
        [
            "api_request: 2 events, 2 written",
            "tool_result: 1 event, 1 written",
            "api_request_body: 1 event, 1 dropped (event_not_allowed)"
        ]
    );
}

#[test]
fn the_summary_caps_distinct_keys_and_counts_the_rest() {
    use sanitizer_core::MAX_SUMMARY_KEYS;
    let extra = 10;
    let keys: serde_json::Map<String, Value> =
        (0..MAX_SUMMARY_KEYS + extra).map(|i| (format!("key{i}"), json!(1))).collect();
    let message = json!({"body": "claude_code.api_request", "attributes": keys}).to_string();
    let (_, summary) = explain_both(&[message.clone(), message]);
    let untallied = 2 * extra as u64;
    assert!(
        summary.ends_with(&format!(
            "\n\n{untallied} key occurrences not tallied: more than {MAX_SUMMARY_KEYS} distinct keys"
        )),
        "{}",
        &summary[summary.len().saturating_sub(300)..]
    );
    assert_eq!(rows(&summary).len(), MAX_SUMMARY_KEYS);
    assert!(rows(&summary).iter().all(|(n, _)| *n == 2));
}

// ---- the real binary ----

fn cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"));
    cmd.args(args).current_dir(root()).env_remove("PSEUDONYM_KEY");
    cmd
}

fn run_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Every canary of this file in one NDJSON input.
fn hostile_ndjson() -> String {
    let mut keys = serde_json::Map::new();
    for key in unshaped_keys() {
        keys.insert(key, json!("CANARYvalue"));
    }
    keys.insert("prompt".into(), json!({"CANARYinner": "x"}));
    keys.insert("user.email".into(), json!("CANARY@example.com"));
    keys.insert("tool_parameters".into(), json!(r#"{"skill_name":"pdf","CANARYsub":"x"}"#));
    [
        json!({"body": "claude_code.tool_result", "attributes": keys}).to_string(),
        json!({"body": "claude_code.CANARYevent\n\u{1b}[2J"}).to_string(),
        "CANARY not json\u{7}".to_owned(),
    ]
    .join("\n")
}

#[test]
fn the_cli_prints_no_canary_in_either_form() {
    let input = hostile_ndjson();
    for args in [&["explain", "--ndjson"][..], &["explain", "--ndjson", "--summary"]] {
        let out = run_stdin(cli(args).env("PSEUDONYM_KEY", FIXTURE_KEY), input.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_clean(&text(&out.stdout), "CANARY");
        assert_clean(&text(&out.stderr), "CANARY");
        assert!(text(&out.stdout).contains("unknown event"), "{args:?}");
    }
}

fn tempdir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("claude-otel-sanitizer-explain-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn input_names_are_printed_escaped() {
    let dir = tempdir("names");
    let name = "in\nevent 9 api_request: written\u{1b}[2J\u{7}.ndjson";
    let path = dir.join(name);
    std::fs::write(&path, api_request(json!({"model": "m"}))).unwrap();
    let out = cli(&["explain", "--ndjson", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert_clean(&stdout, "\u{1b}");
    let escaped = format!("{}", escape(path.to_str().unwrap()));
    assert!(stdout.starts_with(&format!("{escaped}: event 0 api_request: written\n")), "{stdout}");
    assert!(escaped.contains("in\\u{a}event 9 api_request: written\\u{1b}[2J\\u{7}.ndjson"), "{escaped}");
    assert!(stdout.lines().all(|l| l.starts_with(&escaped) || l.starts_with("  ")), "{stdout}");

    // The same name in an error: escaped too, and nothing is printed.
    std::fs::write(&path, b"not a payload CANARY").unwrap();
    let out = cli(&["explain", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert_clean(&stderr, "CANARY");
    assert!(stderr.starts_with(&format!("error: {escaped}: ")), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_anywhere_prints_nothing() {
    let good = root().join("fixtures/recorded/mcp.object.json");
    let dir = tempdir("bad");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, b"{\"awslogs\":{\"data\":\"CANARY!!\"}}").unwrap();
    for summary in [false, true] {
        let mut args = vec!["explain", good.to_str().unwrap(), bad.to_str().unwrap()];
        if summary {
            args.push("--summary");
        }
        let out = cli(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_clean(&text(&out.stderr), "CANARY");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_summary_spans_every_input() {
    let a = root().join("fixtures/recorded/mcp.object.json");
    let b = root().join("fixtures/recorded/mcp.kvlist.json");
    let one = cli(&["explain", "--summary", a.to_str().unwrap()]).output().unwrap();
    let both = cli(&["explain", "--summary", a.to_str().unwrap(), b.to_str().unwrap()]).output().unwrap();
    let (one, both) = (text(&one.stdout), text(&both.stdout));
    let first_count = |s: &str, row: &str| rows(s).into_iter().find(|(_, t)| t == row).map(|(n, _)| n);
    let row = "kept attributes.model";
    assert_eq!(first_count(&both, row), first_count(&one, row).map(|n| 2 * n), "{one}\n{both}");
    assert!(both.starts_with("summary: 2 inputs, "), "{both}");
}

#[test]
fn a_kinesis_event_is_explained_per_record_as_its_payloads_are() {
    let fixtures = ["fixtures/recorded/subagent.object.json", "fixtures/recorded/mcp.kvlist.json"];
    let explain = |args: &[&str]| {
        let out = cli(args).env("PSEUDONYM_KEY", FIXTURE_KEY).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let dir = tempdir("kinesis");
    let path = dir.join("kinesis-event.json");
    let mut records: Vec<KinesisRecord> = fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| KinesisRecord {
            sequence_number: sequence_number(i as u64),
            data: data_of(&std::fs::read(root().join(f)).unwrap()),
        })
        .collect();
    records.push(KinesisRecord {
        sequence_number: sequence_number(2),
        data: gzip(&serde_json::to_vec(&control_message()).unwrap()),
    });
    std::fs::write(&path, kinesis_event(&records)).unwrap();
    let event = path.to_str().unwrap();
    let name = escape(event).to_string();

    // Each record's lines are the explanation of the envelope it came from, under its own name.
    let mut expected = String::new();
    for (i, fixture) in fixtures.iter().enumerate() {
        let direct = explain(&["explain", fixture]);
        let prefix = format!("{}: ", escape(fixture));
        assert!(!direct.is_empty() && direct.lines().all(|l| l.starts_with(&prefix) || l.starts_with("  ")));
        expected.push_str(&direct.replace(&prefix, &format!("{name} record {i}: ")));
    }
    expected.push_str(&format!("{name} record 2: CONTROL_MESSAGE (skipped)\n"));
    assert_eq!(explain(&["explain", event]), expected);

    // The summary counts every record's events, as the two envelopes' summary does.
    let summary = explain(&["explain", "--summary", event]);
    let both = explain(&["explain", "--summary", fixtures[0], fixtures[1]]);
    let body = |s: &str| s.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(body(&summary), body(&both), "{summary}\n{both}");
    let first = summary.lines().next().unwrap();
    assert!(first.starts_with("summary: 1 input, ") && first.ends_with("; 1 control message skipped"), "{summary}");
    for canary in recorded_canaries() {
        assert!(!summary.contains(&canary) && !expected.contains(&canary), "printed {canary}");
    }

    // A record that cannot be read fails the input, naming the record, and prints nothing.
    records[1].data = truncated_gzip(&std::fs::read(root().join(fixtures[1])).unwrap());
    std::fs::write(&path, kinesis_event(&records)).unwrap();
    let out = cli(&["explain", event]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("record 1: kinesis.data is not a valid gzip stream"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}

// ---- golden: the format, pinned ----

#[test]
fn golden_explain_of_a_recorded_fixture() {
    let fixture = "fixtures/recorded/subagent.object.json";
    for (name, args) in [
        ("explain_subagent_object_events", &["explain", fixture][..]),
        ("explain_subagent_object_summary", &["explain", "--summary", fixture]),
    ] {
        let out = cli(args).env("PSEUDONYM_KEY", FIXTURE_KEY).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stdout = text(&out.stdout);
        for canary in recorded_canaries() {
            assert!(!stdout.contains(&canary), "{name} printed {canary}");
        }
        insta::assert_snapshot!(name, stdout);
    }
}

#[test]
fn the_readme_excerpt_is_what_explain_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("`explain --summary` sums every input").expect("the README's explain section")..];
    let command = section.split('`').find(|s| s.contains("cargo run -- explain --summary")).unwrap();
    let args: Vec<&str> = command.split(" -- ").nth(1).unwrap().split_whitespace().collect();
    let block = section.split("```text\n").nth(1).unwrap().split("```").next().unwrap();
    let out = cli(&args).env("PSEUDONYM_KEY", FIXTURE_KEY).output().unwrap();
    let stdout = text(&out.stdout);
    // Every line shown is printed, in the same order ("..." stands for lines left out).
    let mut printed = stdout.lines();
    for line in block.lines().filter(|l| *l != "...") {
        assert!(printed.any(|p| p == line), "README line not printed (in this order): {line:?}\n{stdout}");
    }
}

// ---- memory: linear in the input, whatever its shape ----

/// Input size of the memory cases: the issue's "1 MB payload of any shape".
const HOSTILE_BYTES: usize = 1 << 20;

/// One stored message of about `bytes` bytes of the given shape: a long key over many children
/// (the object form, OTLP kvlistValue, inside the tool_parameters string, in resource
/// attributes), or many distinct keys of the longest shown shape (`shown`).
fn hostile(shape: &str, bytes: usize) -> String {
    let long_key = "K".repeat(1000);
    let mut children = String::from("{");
    let mut i = 0;
    while children.len() < bytes {
        let sep = if i == 0 { "" } else { "," };
        match shape {
            "kvlist" => children.push_str(&format!(r#"{sep}{{"key":"{i}","value":{{"intValue":1}}}}"#)),
            "shown" => children.push_str(&format!(r#"{sep}"k{i:063}":1"#)),
            _ => children.push_str(&format!(r#"{sep}"{i}":1"#)),
        }
        i += 1;
    }
    children.push('}');
    match shape {
        "object" => format!(r#"{{"body":"claude_code.api_request","attributes":{{"{long_key}":{children}}}}}"#),
        "kvlist" => format!(
            r#"{{"body":"claude_code.api_request","attributes":[{{"key":"{long_key}","value":{{"kvlistValue":{{"values":[{}]}}}}}}]}}"#,
            &children[1..children.len() - 1]
        ),
        "tool_parameters" => {
            let text = serde_json::to_string(&format!(r#"{{"{long_key}":{children}}}"#)).unwrap();
            format!(r#"{{"body":"claude_code.tool_result","attributes":{{"tool_parameters":{text}}}}}"#)
        }
        "resource" => {
            format!(r#"{{"body":"claude_code.api_request","resource":{{"attributes":{{"{long_key}":{children}}}}}}}"#)
        }
        "shown" => format!(r#"{{"body":"claude_code.api_request","attributes":{children}}}"#),
        _ => panic!("unknown shape {shape}"),
    }
}

#[test]
fn hostile_shapes_are_what_they_say() {
    for shape in ["object", "kvlist", "tool_parameters", "resource", "shown"] {
        let message = hostile(shape, 10_000);
        let value: Value = serde_json::from_str(&message).unwrap_or_else(|e| panic!("{shape}: {e:?}"));
        assert!(value.is_object() && message.len() >= 10_000, "{shape}");
        let e = &explanations(&[message])[0];
        assert!(e.outcome.is_ok(), "{shape}: {e:?}");
    }
}

#[test]
fn explain_memory_is_linear_in_the_input_for_every_shape() {
    // Each case runs in a child process running only the case below, so that other tests
    // running in parallel threads do not count.
    for shape in ["object", "kvlist", "tool_parameters", "resource", "shown"] {
        for summary in [false, true] {
            let mut child = Command::new(std::env::current_exe().unwrap());
            child.args([
                "--ignored",
                "--exact",
                "explain_hostile_in_this_process",
                "--nocapture",
                "--test-threads",
                "1",
            ]);
            child.env("EXPLAIN_SHAPE", shape);
            if summary {
                child.env("EXPLAIN_SUMMARY", "1");
            }
            let out = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{shape}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            let field = |name: &str| -> usize {
                stdout
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap_or_else(|| panic!("the child reports {name}"))
                    .parse()
                    .unwrap()
            };
            let (input, peak) = (field("input_bytes="), field("peak_rss_bytes="));
            // The issue's target: at most 3x the input plus 48 MiB.
            let bound = 3 * input + 48 * 1024 * 1024;
            assert!(peak <= bound, "{shape} summary={summary}: peak RSS {peak} bytes > {bound} for {input} bytes");
        }
    }
}

#[test]
#[ignore = "run in its own process by explain_memory_is_linear_in_the_input_for_every_shape"]
fn explain_hostile_in_this_process() {
    let shape = std::env::var("EXPLAIN_SHAPE").expect("EXPLAIN_SHAPE");
    let input = hostile(&shape, HOSTILE_BYTES);
    let sanitizer = sanitizer();
    let mut out = std::io::sink();
    let mut explained = 0;
    if std::env::var_os("EXPLAIN_SUMMARY").is_some() {
        let mut summary = Summary::default();
        for explanation in sanitizer.explain_ndjson(input.as_bytes()) {
            summary.add(&explanation);
            explained += 1;
        }
        write!(out, "{summary}").unwrap();
    } else {
        for explanation in sanitizer.explain_ndjson(input.as_bytes()) {
            write!(out, "{explanation}").unwrap();
            explained += 1;
        }
    }
    assert_eq!(explained, 1);
    let kib = common::status_kib("VmHWM");
    println!("input_bytes={} peak_rss_bytes={}", input.len(), kib * 1024);
}
