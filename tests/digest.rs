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
    for k in ["3", "4", "1"] {
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
                close(num(&g["cost_usd"]["previous"]), num(&rg["cost_usd"][1]), 1e-5, dim);
            }
            assert_eq!(d["other"]["groups"], r["other"]["groups"], "{dim} other (K={k})");
            assert_eq!(d["other"]["users"], r["other"]["users"], "{dim} other users");
            close(num(&d["other"]["cost_usd"]["value"]), num(&r["other"]["cost_usd"][0]), 1e-5, dim);
            close(num(&d["other"]["cost_usd"]["previous"]), num(&r["other"]["cost_usd"][1]), 1e-5, dim);
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
        for name in ["design", "research", "`data`", "\"data\"", ">data<", "cc-9000", "analytics", "product"] {
            assert!(!s.contains(name), "{format}: {name} is named");
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
    assert_eq!(names.len(), 3, "platform, payments, mobile: {names:?}");
    for g in teams {
        let name = g["name"].as_str().unwrap();
        let cost: f64 = days[7..14].iter().filter_map(|d| d["team"][name]["cost_usd"].as_f64()).sum();
        close(num(&g["cost_usd"]["value"]), cost, 1e-5, name);
    }
    assert_eq!(json["groups"]["team"]["other"]["groups"], 1, "research, a team of one, is folded");
    assert!(!text(&out.stdout).contains("research"));
}
