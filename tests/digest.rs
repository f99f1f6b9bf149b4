//! `digest` on the real binary, over the two-week corpus in fixtures/digest/ (made by
//! fixtures/digest/generate.py): golden files pin each format, an independent Python
//! recomputation (fixtures/digest/recompute.py) agrees with the JSON figures, refused lines are
//! counted and never echoed, small groups and inactive users are never named, and `pseudonym`
//! gives what the sanitizer writes.

use serde_json::Value;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const UNTIL: &str = "2026-11-30T00:00:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> [String; 2] {
    let dir = root().join("fixtures/digest");
    [dir.join("two-weeks.ndjson").display().to_string(), dir.join("refused.ndjson").display().to_string()]
}

fn run(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(args)
        .env_remove("PSEUDONYM_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    // A command that fails before reading stdin closes it: that is not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin");
    }
    child.wait_with_output().unwrap()
}

fn digest(format: &str, extra: &[&str]) -> Output {
    let files = corpus();
    let mut args = vec!["digest", "--until", UNTIL, "--format", format];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, b"", &[]);
    assert!(out.status.success(), "digest --format {format}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn golden(name: &str, value: &str) {
    insta::with_settings!({snapshot_path => root().join("fixtures/digest/golden"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value);
    });
}

#[test]
fn golden_files_pin_each_format() {
    for format in ["markdown", "slack", "json", "html"] {
        let out = digest(format, &[]);
        golden(&format!("two-weeks.{format}"), &text(&out.stdout));
        golden("two-weeks.stderr", &text(&out.stderr));
    }
}

#[test]
fn slack_and_json_outputs_are_valid_json() {
    let slack: Value = serde_json::from_slice(&digest("slack", &[]).stdout).unwrap();
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50 && !blocks.is_empty());
    assert!(slack["text"].as_str().unwrap().contains("active users"));
    for block in blocks {
        if let Some(fields) = block.get("fields") {
            assert!(fields.as_array().unwrap().len() <= 10);
        }
        if let Some(t) = block.pointer("/text/text") {
            assert!(t.as_str().unwrap().chars().count() <= 3000);
        }
    }
    let json: Value = serde_json::from_slice(&digest("json", &[]).stdout).unwrap();
    assert_eq!(json["schema"], "claude-otel-sanitizer.digest.v1");
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!((a - b).abs() <= tolerance, "{what}: digest {a} vs recomputed {b}");
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Compares a figure that may be hidden (`null`) with the recomputation's.
fn optional(digest: &Value, re: &Value, what: &str) {
    match (digest, re) {
        (Value::Null, Value::Null) => {}
        (d, r) => close(num(d), num(r), 1e-5, what),
    }
}

/// Compares a digest `{value, previous}` figure with the recomputation's.
fn figure(digest: &Value, re: &Value, tolerance: f64, what: &str) {
    for k in ["value", "previous"] {
        match (&digest[k], &re[k]) {
            (Value::Null, Value::Null) => {}
            (d, r) => close(num(d), num(r), tolerance, &format!("{what}.{k}")),
        }
    }
}

#[test]
fn an_independent_recomputation_agrees_with_the_json_figures() {
    for k in ["3", "4", "1", "2", "5"] {
        let json: Value = serde_json::from_slice(&digest("json", &["--min-group-size", k]).stdout).unwrap();
        let files = corpus();
        let re = Command::new("python3")
            .arg(root().join("fixtures/digest/recompute.py"))
            .args(["--until", UNTIL, "--days", "7", "--min-group-size", k])
            .args(&files)
            .output()
            .expect("python3");
        assert!(re.status.success(), "recompute.py: {}", String::from_utf8_lossy(&re.stderr));
        let re: Value = serde_json::from_slice(&re.stdout).unwrap();

        for key in ["lines", "used", "duplicates", "outside_window", "refused"] {
            assert_eq!(json["input"][key], re["input"][key], "input.{key}");
        }
        assert_eq!(json["input"]["refused_by_reason"], re["input"]["refused_by_reason"]);
        assert!(json["input"]["used"].as_u64().unwrap() > 1000, "the corpus is used");
        for (key, r) in re["totals"].as_object().unwrap() {
            let tolerance = match key.as_str() {
                "cost_usd" => 1e-5,
                "cache_hit_pct" => 0.05,
                _ => 0.0,
            };
            figure(&json["totals"][key], r, tolerance, key);
        }
        for (key, r) in re["tokens"].as_object().unwrap() {
            figure(&json["tokens"][key], r, 0.0, key);
        }
        let models = json["models"].as_array().unwrap();
        assert_eq!(models.len(), re["models"].as_object().unwrap().len());
        for m in models {
            let r = &re["models"][m["model"].as_str().unwrap()];
            for (i, k) in ["value", "previous"].into_iter().enumerate() {
                close(num(&m["cost_usd"][k]), num(&r["cost_usd"][i]), 1e-5, "model cost");
                close(num(&m["requests"][k]), num(&r["requests"][i]), 0.0, "model requests");
            }
        }
        for list in ["skills", "subagents", "mcp_servers"] {
            let rows = json[list].as_array().unwrap();
            assert_eq!(rows.len(), re[list].as_object().unwrap().len(), "{list}");
            for row in rows {
                let r = &re[list][row["name"].as_str().unwrap()];
                for (i, k) in ["value", "previous"].into_iter().enumerate() {
                    close(num(&row["count"][k]), num(&r["count"][i]), 0.0, list);
                    close(num(&row["users"][k]), num(&r["users"][i]), 0.0, list);
                }
            }
        }
        for dim in ["team", "department", "cost_center"] {
            let d = &json["groups"][dim];
            let r = &re["groups"][dim];
            let groups = d["groups"].as_array().unwrap();
            assert_eq!(groups.len(), r["groups"].as_object().unwrap().len(), "{dim} groups (K={k})");
            for g in groups {
                let rg = &r["groups"][g["name"].as_str().unwrap_or("")];
                assert_eq!(g["users"], rg["users"], "{dim} users");
                close(num(&g["cost_usd"]["value"]), num(&rg["cost_usd"][0]), 1e-5, dim);
                optional(&g["cost_usd"]["previous"], &rg["cost_usd"][1], &format!("{dim} previous (K={k})"));
            }
            match (&d["other"], &r["other"]) {
                (Value::Null, Value::Null) => {}
                (o, ro) => {
                    assert_eq!(o["groups"], ro["groups"], "{dim} other (K={k})");
                    assert_eq!(o["users"], ro["users"], "{dim} other users");
                    close(num(&o["cost_usd"]["value"]), num(&ro["cost_usd"][0]), 1e-5, dim);
                    optional(&o["cost_usd"]["previous"], &ro["cost_usd"][1], &format!("{dim} other previous"));
                }
            }
        }
        let top = json["top_users"].as_array().unwrap();
        let re_top = re["top_users"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        for (t, r) in top.iter().zip(re_top) {
            assert_eq!(t["pseudonym"], r["pseudonym"]);
            assert_eq!(t["sessions"], r["sessions"]);
            assert_eq!(t["messages"], r["messages"]);
            assert_eq!(t["requests"], r["requests"]);
            close(num(&t["cost_usd"]), num(&r["cost_usd"]), 1e-5, "top user cost");
        }
        for section in SECTIONS {
            same_figures(&json[section], &re[section], section);
        }
        let days = json["days"].as_array().unwrap();
        assert_eq!(days.len(), 7);
        for (d, r) in days.iter().zip(re["days"].as_array().unwrap()) {
            assert_eq!(d["date"], r["date"]);
            assert_eq!(d["messages"], r["messages"]);
            assert_eq!(d["requests"], r["requests"]);
            close(num(&d["cost_usd"]), num(&r["cost_usd"]), 1e-5, "day cost");
        }
    }
}

/// The usage sections (acceptance to sizes, docs/digest.md).
const SECTIONS: [&str; 11] = [
    "acceptance",
    "tools",
    "latency",
    "subagent_runs",
    "friction",
    "permissions",
    "plugins",
    "mcp_connections",
    "hooks",
    "activity",
    "sizes",
];

/// Compares a section of the digest with the recomputation's, every figure of it: the same
/// keys at every level; a `{value, previous}` figure by both (rates to 0.05, ratios to 0.0005,
/// the rest exactly; `null` where the other is `null`); a breakdown's named rows by name (the
/// recomputation keys them by name, `(not set)` for `null`), the same names, and its `other`.
fn same_figures(digest: &Value, re: &Value, path: &str) {
    match re {
        Value::Object(r) if r.contains_key("value") && r.contains_key("previous") => {
            let tolerance = if path.ends_with("_pct") {
                0.05 + 1e-9
            } else if path.contains("per_session") {
                0.0005 + 1e-9
            } else {
                0.0
            };
            figure(digest, re, tolerance, path);
        }
        Value::Object(r) if r.contains_key("rows") => {
            let rows = digest["rows"].as_array().unwrap_or_else(|| panic!("{path}: no rows in {digest}"));
            let names: std::collections::BTreeSet<String> =
                rows.iter().map(|row| row["name"].as_str().unwrap_or("(not set)").to_owned()).collect();
            let expected: std::collections::BTreeSet<String> = r["rows"].as_object().unwrap().keys().cloned().collect();
            assert_eq!(names, expected, "{path}: the rows named");
            assert_eq!(names.len(), rows.len(), "{path}: a row named twice");
            for row in rows {
                let name = row["name"].as_str().unwrap_or("(not set)");
                let mut row = row.clone();
                row.as_object_mut().unwrap().remove("name");
                same_figures(&row, &r["rows"][name], &format!("{path}.{name}"));
            }
            same_figures(&digest["other"], &r["other"], &format!("{path}.other"));
        }
        Value::Object(r) => {
            let keys: std::collections::BTreeSet<&String> =
                digest.as_object().unwrap_or_else(|| panic!("{path}: {digest}")).keys().collect();
            assert_eq!(keys, r.keys().collect(), "{path}: the figures");
            for (k, v) in r {
                same_figures(&digest[k], v, &format!("{path}.{k}"));
            }
        }
        Value::Array(r) => {
            let d = digest.as_array().unwrap_or_else(|| panic!("{path}: {digest}"));
            assert_eq!(d.len(), r.len(), "{path}: length");
            for (i, (d, r)) in d.iter().zip(r).enumerate() {
                same_figures(d, r, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(digest, re, "{path}"),
    }
}

/// Every 16-hex word of a text: the pseudonyms it names.
fn pseudonyms_in(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 16 && w.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn refused_lines_are_counted_never_echoed() {
    for format in ["markdown", "slack", "json", "html"] {
        let out = digest(format, &[]);
        for stream in [&out.stdout, &out.stderr] {
            let s = text(stream).to_lowercase();
            assert!(!s.contains("canary"), "{format}: a refused line's content reached the output");
            assert!(!s.contains("example.com") && !s.contains("host.name"), "{format}");
        }
        let stderr: Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(stderr["refused"]["not_sanitized"], 4);
        assert_eq!(stderr["refused"]["not_json"], 2);
        assert_eq!(stderr["refused"]["no_time"], 1);
    }
    // Raw events on stdin: all refused, the digest is empty and says so.
    let raw = std::fs::read(root().join("fixtures/digest/refused.ndjson")).unwrap();
    let out = run(&["digest", "--until", UNTIL, "--format", "json"], &raw, &[]);
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["input"]["used"], 0);
    assert_eq!(json["input"]["refused"], 7);
    assert!(!text(&out.stdout).to_lowercase().contains("canary"));
}

#[test]
fn small_groups_and_inactive_people_are_never_named() {
    // design and research are teams of one, data has one person this week; the user who was
    // active only in the previous week is the fourth pseudonym of generate.py.
    let inactive = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(b"digest-fixture-user-3"))[..16].to_owned()
    };
    for format in ["markdown", "slack", "json", "html"] {
        let s = text(&digest(format, &[]).stdout);
        // The productivity section's own word is not the team `product`.
        let words = s.replace("productivity", "").replace("Productivity", "");
        for name in ["design", "research", "`data`", "\"data\"", ">data<", "cc-9000", "analytics", "product"] {
            assert!(!words.contains(name), "{format}: {name} is named");
        }
        assert!(s.contains("platform") && s.contains("cc-4711"), "{format}: large groups are shown");
        let named = pseudonyms_in(&s);
        assert_eq!(named.len(), 3, "{format}: exactly the top 3 are named: {named:?}");
        assert!(!named.contains(&inactive), "{format}: an inactive user is named");
    }
    // The same check fails when the threshold lets them through: it tests something.
    let s = text(&digest("markdown", &["--min-group-size", "1"]).stdout);
    assert!(s.contains("design") && s.contains("research"));
}

#[test]
fn bad_arguments_and_unreadable_input_print_nothing() {
    let out = run(&["digest", "--until", "last tuesday"], b"", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(!text(&out.stderr).contains("tuesday"));
    let out = run(&["digest", "--until", UNTIL, "/nonexistent/sanitized.ndjson"], b"", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = run(&["digest", "--days", "0"], b"", &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_file_holds_exactly_what_stdout_would() {
    let dir = std::env::temp_dir().join(format!("digest-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("digest.md");
    let files = corpus();
    let mut args = vec!["digest", "--until", UNTIL, "--output", path.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, b"", &[]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), digest("markdown", &[]).stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duplicates_split_over_files_are_counted_once() {
    let [two_weeks, _] = corpus();
    let once = digest("json", &[]);
    let files = [two_weeks.as_str(), two_weeks.as_str()];
    let mut args = vec!["digest", "--until", UNTIL, "--format", "json"];
    args.extend(files);
    let twice = run(&args, b"", &[]);
    let (a, b): (Value, Value) =
        (serde_json::from_slice(&once.stdout).unwrap(), serde_json::from_slice(&twice.stdout).unwrap());
    assert_eq!(a["totals"], b["totals"]);
    assert_eq!(
        b["input"]["duplicates"].as_u64().unwrap(),
        a["input"]["duplicates"].as_u64().unwrap() * 2 + a["input"]["used"].as_u64().unwrap()
    );
}

#[test]
fn pseudonym_prints_what_the_sanitizer_writes_and_echoes_nothing() {
    let key = [("PSEUDONYM_KEY", "local-test-key-0123456789")];
    let raw = br#"{"body":"claude_code.skill_activated","attributes":{"event.name":"skill_activated","skill.name":"pdf","user.email":"dev@example.com"}}"#;
    let sanitized = run(&["sanitize", "--ndjson"], raw, &key);
    assert!(sanitized.status.success());
    let line: Value = serde_json::from_slice(&sanitized.stdout).unwrap();
    let expected = line["attributes"]["user.pseudonym"].as_str().unwrap().to_owned();

    let out = run(&["pseudonym"], b"Dev@Example.com\nsomeone.else@example.com\n", &key);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], expected);
    assert_ne!(lines[1], expected);
    assert!(out.stderr.is_empty());

    // Errors name a line, never the identity; nothing is printed.
    let out = run(&["pseudonym"], b"dev@example.com\n\n", &key);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(!text(&out.stderr).contains("dev@"));
    let out = run(&["pseudonym"], b"dev@example.com\n\xff\xfe\n", &key);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line 2") && !text(&out.stderr).contains("dev@"));
    let out = run(&["pseudonym"], b"dev@example.com\n", &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!text(&out.stderr).contains("dev@"));
}

/// The raw team corpus (fixtures/team/, 14 days of subscription payloads) through `sanitize`,
/// then `digest`: every sanitized line is accepted, and the figures are those fixtures/team/
/// expected.json gives per day and team.
#[test]
fn the_team_corpus_through_sanitize_then_digest_gives_the_expected_figures() {
    let dir = root().join("fixtures/team");
    let mut days: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("day-"))
        .map(|p| p.display().to_string())
        .collect();
    days.sort();
    assert_eq!(days.len(), 14);
    let mut args = vec!["sanitize"];
    args.extend(days.iter().map(String::as_str));
    let sanitized = run(&args, b"", &[("PSEUDONYM_KEY", "local-test-key-0123456789")]);
    assert!(sanitized.status.success());
    let lines = sanitized.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
    // The day files hold 2026-11-01 .. 2026-11-14 (their events' own times, and expected.json's
    // date_ms): the two windows are exactly the two weeks of files.
    let out = run(&["digest", "--until", "2026-11-15T00:00:00Z", "--format", "json"], &sanitized.stdout, &[]);
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("CANARY"));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["input"]["refused"], 0, "sanitize output is always a sanitized message");
    assert_eq!(json["input"]["used"].as_u64().unwrap() + json["input"]["outside_window"].as_u64().unwrap(), lines);

    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let days = expected["days"].as_array().unwrap();
    let sum = |range: std::ops::Range<usize>, path: &str| -> f64 {
        days[range].iter().map(|d| num(&d["day"]["all"][path])).sum()
    };
    let totals = &json["totals"];
    for (figure, field) in [("messages", "messages"), ("requests", "requests")] {
        assert_eq!(num(&totals[figure]["value"]), sum(7..14, field), "{figure} this week");
        assert_eq!(num(&totals[figure]["previous"]), sum(0..7, field), "{figure} the week before");
    }
    close(num(&totals["cost_usd"]["value"]), sum(7..14, "cost_usd"), 1e-5, "cost this week");
    close(num(&totals["cost_usd"]["previous"]), sum(0..7, "cost_usd"), 1e-5, "cost the week before");
    assert_eq!(totals["active_users"]["value"], 11);
    let teams = json["groups"]["team"]["groups"].as_array().unwrap();
    let names: Vec<&str> = teams.iter().map(|g| g["name"].as_str().unwrap()).collect();
    // research (a team of one) cannot be shown alone in `other`: the smallest team that lets
    // every atom hold 3 people (mobile, with its department and cost center) joins it.
    assert_eq!(names, ["platform", "payments"], "{names:?}");
    for g in teams {
        let name = g["name"].as_str().unwrap();
        let cost: f64 = days[7..14].iter().filter_map(|d| d["team"][name]["cost_usd"].as_f64()).sum();
        close(num(&g["cost_usd"]["value"]), cost, 1e-5, name);
    }
    assert_eq!(json["groups"]["team"]["other"]["groups"], 2, "research, a team of one, is folded with mobile");
    assert!(!text(&out.stdout).contains("research"));
}

// ------------------------------------------------------------ hidden groups and forged lines

/// One sanitized message as `sanitize` writes it, at `day` days and `minute` minutes after the
/// start of the previous window (2026-11-16); `cost` makes it an api_request, else a user_prompt.
fn message(user: u32, session: u32, org: [&str; 3], cost: Option<f64>, day: u64, minute: u64) -> String {
    let start_ns = 1_795_219_200_000_000_000_u64; // 2026-11-16T00:00:00Z
    let t = start_ns + (day * 1440 + minute) * 60_000_000_000;
    let mut attributes = serde_json::json!({
        "session.id": format!("00000000-0000-4000-8000-{session:012x}"),
        "user.pseudonym": format!("{user:016x}"),
    });
    let event = match cost {
        Some(c) => {
            attributes["cost_usd"] = c.into();
            attributes["input_tokens"] = 10.into();
            attributes["model"] = "claude-opus-4-1@20250805".into();
            "api_request"
        }
        None => {
            attributes["prompt_length"] = 5.into();
            "user_prompt"
        }
    };
    attributes["event.name"] = event.into();
    let mut resource = serde_json::Map::new();
    for (key, value) in ["team.id", "department", "cost_center"].into_iter().zip(org) {
        if !value.is_empty() {
            resource.insert(key.to_owned(), value.into());
        }
    }
    let id = format!("{t}{user}{session}{}", cost.map_or(0, |c| (c * 100.0) as u64));
    serde_json::json!({"body": format!("claude_code.{event}"), "attributes": attributes,
        "resource": {"attributes": resource}, "timeUnixNano": t.to_string(), "sourceEventId": id})
    .to_string()
}

/// People of a group: (first user id, how many, org, cost each, sessions each), in one window.
fn people(first: u32, n: u32, org: [&str; 3], cost: f64, sessions: u32, previous: bool) -> Vec<String> {
    let day = if previous { 1 } else { 8 };
    let mut lines = Vec::new();
    for u in first..first + n {
        for s in 0..sessions {
            let session = u * 100 + s + if previous { 50 } else { 0 };
            lines.push(message(u, session, org, None, day, u64::from(s)));
            lines.push(message(u, session, org, Some(cost / f64::from(sessions)), day, u64::from(s) + 1));
        }
    }
    lines
}

/// Every amount of a rendered digest: `$1.23` and `$1,234` in the text formats, every number
/// under a `cost_usd` in JSON.
fn amounts(format: &str, text: &str) -> Vec<f64> {
    if format == "json" {
        fn walk(v: &Value, costs: bool, out: &mut Vec<f64>) {
            match v {
                Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, costs || k == "cost_usd", out)),
                Value::Array(a) => a.iter().for_each(|v| walk(v, costs, out)),
                Value::Number(n) if costs => out.push(n.as_f64().unwrap()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&serde_json::from_str(text).unwrap(), false, &mut out);
        return out;
    }
    text.split('$')
        .skip(1)
        .filter_map(|rest| {
            let n: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').collect();
            n.trim_end_matches('.').replace(',', "").parse().ok()
        })
        .collect()
}

/// Whether `hidden` is a shown amount, or a sum or difference of up to three shown amounts.
fn derivable(hidden: f64, shown: &[f64]) -> Option<String> {
    let mut shown: Vec<f64> = shown.iter().copied().filter(|x| *x > 0.0).collect();
    shown.sort_by(f64::total_cmp);
    shown.dedup();
    let n = shown.len();
    let near = |x: f64| (x - hidden).abs() < 0.006;
    for i in 0..n {
        if near(shown[i]) {
            return Some(format!("{}", shown[i]));
        }
        for j in 0..n {
            for sj in [1.0, -1.0] {
                if j != i && near(shown[i] + sj * shown[j]) {
                    return Some(format!("{} {sj:+} × {}", shown[i], shown[j]));
                }
                for l in 0..n {
                    for sl in [1.0, -1.0] {
                        if l != i && l != j && j != i && near(shown[i] + sj * shown[j] + sl * shown[l]) {
                            return Some(format!("{} {sj:+} × {} {sl:+} × {}", shown[i], shown[j], shown[l]));
                        }
                    }
                }
            }
        }
    }
    None
}

/// The issue's three scenarios, K = 3: a team of 2 folded alone; a department minus its listed
/// team leaving a team of 1; a group of 3 this week that had 1 person last week. The hidden
/// figures must be neither shown nor a sum or difference of up to three shown amounts, in any
/// format; and `other` never names a single group.
#[test]
fn hidden_groups_cannot_be_worked_out_in_any_format() {
    let mut lines = Vec::new();
    // Scenario 1: design (2 people, $20.08) is the only small team.
    lines.extend(people(1, 5, ["platform", "eng", "cc-1"], 13.17, 3, false));
    lines.extend(people(10, 3, ["payments", "eng", "cc-1"], 11.31, 3, false));
    lines.extend(people(20, 2, ["design", "eng", "cc-1"], 10.04, 1, false));
    let hidden_team = 20.08;
    // Scenario 2: ops = infra (3 people) + sre (1 person, $7.77): ops minus infra is sre.
    lines.extend(people(30, 3, ["infra", "ops", "cc-2"], 5.19, 2, false));
    lines.extend(people(40, 1, ["sre", "ops", "cc-2"], 7.77, 1, false));
    let hidden_department_part = 7.77;
    // Scenario 3: data has 3 people this week, 1 last week ($4.44).
    lines.extend(people(50, 3, ["data", "analytics", "cc-3"], 3.03, 2, false));
    lines.extend(people(50, 1, ["data", "analytics", "cc-3"], 4.44, 1, true));
    lines.extend(people(60, 4, ["platform", "eng", "cc-1"], 6.01, 1, true));
    let hidden_previous = 4.44;
    let input = lines.join("\n") + "\n";

    for format in ["markdown", "slack", "json", "html"] {
        let out =
            run(&["digest", "--until", UNTIL, "--format", format, "--min-group-size", "3"], input.as_bytes(), &[]);
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        assert!(!s.contains("(1 group"), "{format}: other names a single group");
        let shown = amounts(format, &s);
        assert!(shown.len() > 5, "{format}: amounts found {shown:?}");
        for (what, hidden) in
            [("design", hidden_team), ("sre", hidden_department_part), ("data last week", hidden_previous)]
        {
            if let Some(how) = derivable(hidden, &shown) {
                panic!("{format}: {what}'s ${hidden} is {how}\n{s}");
            }
        }
        for name in ["design", "sre"] {
            assert!(!s.contains(name), "{format}: {name} is named");
        }
        if format == "json" {
            // data holds 3 people this week: named, but its previous figure (1 person) is not.
            let json: Value = serde_json::from_str(&s).unwrap();
            let teams = json["groups"]["team"]["groups"].as_array().unwrap();
            let data = teams.iter().find(|g| g["name"] == "data").expect("data is named");
            assert_eq!(data["cost_usd"]["previous"], Value::Null);
            assert_eq!(data["cost_usd"]["change_pct"], Value::Null);
        }
    }
    // The check finds a figure when it is shown: with K = 1 every group is named.
    let out = run(&["digest", "--until", UNTIL, "--format", "json", "--min-group-size", "1"], input.as_bytes(), &[]);
    let shown = amounts("json", &text(&out.stdout));
    assert!(derivable(hidden_team, &shown).is_some() && derivable(hidden_previous, &shown).is_some());
}

/// One forged line cannot wipe out, inflate or stall a digest: values outside their allowlist
/// kind are refused (counted as out_of_range), and a cost near f64::MAX cannot make the HTML
/// renderer spin (each format runs under `timeout` in a child process).
#[test]
fn forged_figures_are_refused_and_cannot_wrap_or_stall() {
    let genuine = message(1, 1, ["platform", "eng", "cc-1"], Some(1.25), 8, 0);
    let forged = [
        genuine
            .replace("\"input_tokens\":10", "\"input_tokens\":18446744073709551613")
            .replace("\"sourceEventId\":\"", "\"sourceEventId\":\"1"),
        genuine
            .replace("\"cost_usd\":1.25", "\"cost_usd\":1.7e308")
            .replace("\"sourceEventId\":\"", "\"sourceEventId\":\"2"),
        genuine
            .replace("\"cost_usd\":1.25", "\"cost_usd\":1e303")
            .replace("\"sourceEventId\":\"", "\"sourceEventId\":\"3"),
        genuine
            .replace("\"input_tokens\":10", "\"input_tokens\":100000001")
            .replace("\"sourceEventId\":\"", "\"sourceEventId\":\"4"),
    ];
    let input = format!("{genuine}\n{}\n", forged.join("\n"));
    for format in ["json", "html", "markdown", "slack"] {
        let out = Command::new("timeout")
            .args(["60", env!("CARGO_BIN_EXE_claude-otel-sanitizer"), "digest", "--until", UNTIL, "--format", format])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(input.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}: timed out (124) or failed: {}", text(&out.stderr));
        let counts: Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(counts["refused"]["out_of_range"], 4, "{format}");
        assert_eq!(counts["used"], 1, "{format}");
        if format == "json" {
            let json: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(json["tokens"]["input"]["value"], 10);
            assert_eq!(json["totals"]["cost_usd"]["value"], 1.25);
            assert_eq!(json["input"]["refused_by_reason"]["out_of_range"], 4);
        }
    }
}

/// `--allowlist PATH`: the digest trusts what that allowlist writes, including its pseudonym
/// length, and nothing else.
#[test]
fn the_digest_trusts_the_allowlist_it_is_given() {
    let dir = std::env::temp_dir().join(format!("digest-allowlist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let embedded = std::fs::read_to_string(root().join("allowlist.toml")).unwrap();
    let short = dir.join("short.toml");
    std::fs::write(&short, embedded.replace("hex_chars = 16", "hex_chars = 12")).unwrap();
    let line = message(1, 1, ["platform", "eng", "cc-1"], Some(1.25), 8, 0);
    let short_line = line.replace("\"0000000000000001\"", "\"000000000001\"");
    let digest_with = |allowlist: &std::path::Path, input: &str| {
        let out = run(
            &["digest", "--until", UNTIL, "--format", "json", "--allowlist", allowlist.to_str().unwrap()],
            input.as_bytes(),
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stderr).unwrap()
    };
    assert_eq!(digest_with(&short, &short_line)["used"], 1);
    assert_eq!(digest_with(&short, &line)["refused"]["not_sanitized"], 1);
    assert_eq!(digest_with(&root().join("allowlist.toml"), &short_line)["refused"]["not_sanitized"], 1);
    // A field the allowlist adds is accepted without any change to the digest.
    let extra = dir.join("extra.toml");
    std::fs::write(
        &extra,
        embedded.replacen(
            "\n[resource_attributes]\n",
            "\n\"ticket.id\" = { kind = \"token\", max_len = 16 }\n\n[resource_attributes]\n",
            1,
        ),
    )
    .unwrap();
    let with_ticket = line.replace("\"event.name\"", "\"ticket.id\":\"T-1\",\"event.name\"");
    assert_eq!(digest_with(&extra, &with_ticket)["used"], 1);
    assert_eq!(digest_with(&root().join("allowlist.toml"), &with_ticket)["refused"]["not_sanitized"], 1);
    let out = run(&["digest", "--allowlist", "/nonexistent.toml"], b"", &[]);
    assert_eq!(out.status.code(), Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One `plugin_loaded` message as `sanitize` writes it, in the current window.
fn plugin_loaded(n: u64, user: u32, plugin: &str, marketplace: &str) -> String {
    let t = 1_795_219_200_000_000_000_u64 + (8 * 1440 + n) * 60_000_000_000; // 2026-11-24 and after
    serde_json::json!({"body": "claude_code.plugin_loaded", "attributes": {
        "event.name": "plugin_loaded",
        "session.id": format!("00000000-0000-4000-8000-{n:012x}"),
        "user.pseudonym": format!("{user:016x}"),
        "plugin.name": plugin, "marketplace.name": marketplace, "has_hooks": false},
        "resource": {"attributes": {"service.name": "claude-code"}},
        "timeUnixNano": t.to_string(), "sourceEventId": format!("{t}{n}")})
    .to_string()
}

/// Every whole number of a text (commas dropped).
fn integers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ','))
        .filter_map(|w| w.replace(',', "").parse::<f64>().ok())
        .collect()
}

/// The new breakdowns hide groups of fewer than K people like the org groups: plugins by
/// people, K = 3. `solo` (one person, 37 loads) and `hobby` (one person, 53 loads, alone in its
/// marketplace) are never named, and their loads are neither shown nor a sum or difference of up
/// to three numbers the plugin tables show, in any format (`team-tool`, 3 people, is folded with
/// them so that `other` never holds a single plugin, and `claude-plugins-official` so that the
/// marketplace total minus it is not `hobby`). With K = 1 both are named and found.
#[test]
fn plugins_of_fewer_than_k_people_cannot_be_worked_out() {
    let mut lines = Vec::new();
    let mut n = 0;
    let mut load = |user: u32, plugin: &str, market: &str, times: u32, lines: &mut Vec<String>| {
        for _ in 0..times {
            n += 1;
            lines.push(plugin_loaded(n, user, plugin, market));
        }
    };
    for user in 1..=5 {
        load(user, "widely-used", "claude-plugins-official", 20, &mut lines);
    }
    for user in 6..=8 {
        load(user, "team-tool", "claude-plugins-official", 30, &mut lines);
    }
    load(9, "solo", "claude-plugins-official", 37, &mut lines);
    load(10, "hobby", "hobby-market", 53, &mut lines);
    let input = lines.join("\n") + "\n";
    std::fs::write("/tmp/plugins-test.ndjson", &input).unwrap();
    let hidden = [("solo", 37.0), ("hobby", 53.0)];
    for format in ["json", "markdown", "slack", "html"] {
        let out =
            run(&["digest", "--until", UNTIL, "--format", format, "--min-group-size", "3"], input.as_bytes(), &[]);
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        for name in ["solo", "hobby", "team-tool"] {
            assert!(!s.contains(name), "{format}: {name} is named");
        }
        assert!(s.contains("widely-used"), "{format}: a plugin of 5 people is shown: {}", text(&out.stderr));
        // What the plugin tables show, and only them (other sections count other events).
        let shown: Vec<f64> = match format {
            "json" => {
                let json: Value = serde_json::from_str(&s).unwrap();
                let mut numbers = Vec::new();
                fn walk(v: &Value, out: &mut Vec<f64>) {
                    match v {
                        Value::Object(m) => m.values().for_each(|v| walk(v, out)),
                        Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                        Value::Number(n) => out.push(n.as_f64().unwrap()),
                        _ => {}
                    }
                }
                walk(&json["plugins"], &mut numbers);
                let other = &json["plugins"]["by_plugin"]["other"];
                assert_eq!((other["groups"].as_u64(), other["events"]["value"].as_u64()), (Some(3), Some(180)));
                numbers
            }
            "markdown" => {
                let start = s.find("## Plugins in use").unwrap();
                let end = s[start..].find("## MCP connections").unwrap() + start;
                integers(&s[start..end])
            }
            "slack" => {
                let payload: Value = serde_json::from_str(&s).unwrap();
                payload["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
                    .filter(|t| t.starts_with("*Plugin"))
                    .flat_map(integers)
                    .collect()
            }
            _ => {
                let mut numbers = Vec::new();
                for id in ["id=\"plugins\"", "id=\"marketplaces\""] {
                    let start = s.find(id).unwrap();
                    let end = s[start..].find("</table>").unwrap() + start;
                    numbers.extend(integers(&s[start..end]));
                }
                numbers
            }
        };
        assert!(shown.contains(&100.0) && shown.contains(&280.0), "{format}: the plugin tables are read: {shown:?}");
        for (what, loads) in hidden {
            if let Some(how) = derivable(loads, &shown) {
                panic!("{format}: {what}'s {loads} loads are {how}\n{s}");
            }
        }
    }
    // The check finds them when they are shown.
    let out = run(&["digest", "--until", UNTIL, "--format", "json", "--min-group-size", "1"], input.as_bytes(), &[]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["plugins"]["by_plugin"]["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["name"] == "solo" && r["events"]["value"] == 37));
    assert!(rows.iter().any(|r| r["name"] == "hobby" && r["events"]["value"] == 53));
}
