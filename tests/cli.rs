//! The CLI's contract, tested on the real binary: `sanitize` prints exactly the messages that
//! would be written (the golden lines), one per line, in write order; the counts go to stderr;
//! exit codes 0 (success), 1 (input unreadable or undecodable: stdout empty), 2 (usage),
//! 3 (invalid allowlist or key). Nothing from a payload appears on stderr. `sanitize --otlp`
//! prints, for the real client's request bodies in every form, what the receiver writes.

mod common;

use common::*;
use std::borrow::BorrowMut;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"));
    cmd.args(args).current_dir(root()).env_remove("PSEUDONYM_KEY");
    cmd
}

fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("the binary runs")
}

fn run_with_stdin(mut cmd: impl BorrowMut<Command>, input: &[u8]) -> Output {
    let mut child =
        cmd.borrow_mut().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn synthetic(name: &str) -> PathBuf {
    root().join("fixtures/synthetic").join(name)
}

/// The golden file split into (stdout lines, stderr counts line).
fn golden(payload: &Path) -> (String, String) {
    let body = golden_body(payload);
    let (lines, counts) = body.split_once(COUNTS_SEPARATOR).expect("separator");
    (lines.trim_start_matches('\n').to_owned(), counts.trim().to_owned())
}

#[test]
fn sanitize_prints_exactly_the_golden_lines_and_counts() {
    for payload in payload_files() {
        let out = run(cli(&["sanitize", payload.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
        assert_eq!(out.status.code(), Some(0), "{}", payload.display());
        let (lines, counts) = golden(&payload);
        assert_eq!(text(&out.stdout), lines, "{}", payload.display());
        assert_eq!(text(&out.stderr).trim_end(), counts, "{}", payload.display());
    }
}

#[test]
fn several_files_print_in_the_order_given_and_sum_the_counts() {
    let a = synthetic("all-events.object.json");
    let b = synthetic("nested-keys.json");
    let out = run(cli(&["sanitize", b.to_str().unwrap(), a.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), golden(&b).0 + &golden(&a).0);
    let counts: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(counts["payloads"], 2);
}

#[test]
fn stdin_is_read_when_no_file_is_given() {
    let payload = synthetic("all-events.kvlist.json");
    let input = std::fs::read(&payload).unwrap();
    let out = run_with_stdin(cli(&["sanitize"]).env("PSEUDONYM_KEY", FIXTURE_KEY), &input);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), golden(&payload).0);
    let dash = run_with_stdin(cli(&["sanitize", "-"]).env("PSEUDONYM_KEY", FIXTURE_KEY), &input);
    assert_eq!(dash.stdout, out.stdout);
}

#[test]
fn a_file_read_in_pieces_gives_what_the_whole_input_gives() {
    // A file holding an envelope in its own form is decoded as it is read; any other form of
    // the same JSON goes the usual way, as stdin always does. Output, counts and exit code agree.
    let dir = tempdir();
    for payload in payload_files() {
        let original = std::fs::read(&payload).unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&original).unwrap();
        let data = envelope["awslogs"]["data"].as_str().unwrap();
        let variants = [
            ("pretty", serde_json::to_vec_pretty(&envelope).unwrap()),
            ("escaped", format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, data.replace('/', "\\/")).into_bytes()),
            ("member", format!(r#"{{"awslogs":{{"data":"{data}","x":1}}}}"#).into_bytes()),
        ];
        let whole = run_with_stdin(cli(&["sanitize"]).env("PSEUDONYM_KEY", FIXTURE_KEY), &original);
        assert_eq!(whole.status.code(), Some(0), "{}", payload.display());
        let mut files = vec![payload.clone()];
        for (name, bytes) in variants {
            let file = dir.join(format!("{name}.json"));
            std::fs::write(&file, bytes).unwrap();
            files.push(file);
        }
        for file in files {
            let out = run(cli(&["sanitize", file.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
            assert_eq!(out.status.code(), Some(0), "{}", file.display());
            assert!(out.stdout == whole.stdout, "{} ({})", file.display(), payload.display());
            assert_eq!(text(&out.stderr), text(&whole.stderr), "{}", file.display());
        }
    }
    // Input the usual path refuses: the same error from a file as from stdin, bar its name.
    let text_of = |data: &str| format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#).into_bytes();
    for bad in [text_of("CANARY-not-base64!"), text_of("aGVsbG8="), text_of("aGVs=bG8="), b"{\"awslogs\":{".to_vec()] {
        let file = dir.join("bad.json");
        std::fs::write(&file, &bad).unwrap();
        let from_file = run(cli(&["sanitize", file.to_str().unwrap()]));
        let from_stdin = run_with_stdin(cli(&["sanitize"]), &bad);
        assert_eq!(from_file.status.code(), Some(1));
        assert_eq!(from_stdin.status.code(), Some(1));
        assert!(from_file.stdout.is_empty() && from_stdin.stdout.is_empty());
        let named = text(&from_file.stderr).replace(file.to_str().unwrap(), "stdin");
        assert_eq!(named, text(&from_stdin.stderr));
    }
}

/// Runs `cmd` with `stdin`, collecting stdout and stderr; a process still running after 60 s
/// is killed and fails the test, so a hang fails instead of stalling CI.
fn run_bounded(cmd: &mut Command, stdin: Stdio) -> Output {
    use std::io::Read as _;
    let mut child = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let collect = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// `bytes` on a pipe: the reading end, and a thread writing them into the other end, which it
/// then closes (as `cat file |` does).
fn pipe_of(bytes: Vec<u8>) -> std::io::PipeReader {
    let (reader, mut writer) = std::io::pipe().unwrap();
    std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    reader
}

/// A FIFO at `path` that a thread fills with `bytes` once and closes, as `<(cat file)` does: the
/// writer waits for a reader to open it, writes, and is gone; a second open would wait for ever.
fn fifo_of(path: &Path, bytes: Vec<u8>) {
    let _ = std::fs::remove_file(path);
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let _ = fifo.write_all(&bytes);
    });
}

/// What `sanitize` is given on a pipe: a subscription payload, a Kinesis event of it (which the
/// streamed reader leaves to the usual path), the payload's envelope with a member after
/// `awslogs` (read in pieces up to that member, then left to the usual path), and an invalid
/// envelope followed by a valid one (refused as a whole).
fn pipe_inputs() -> Vec<(&'static str, Vec<u8>, i32)> {
    let payload = std::fs::read(synthetic("all-events.kvlist.json")).unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let data = envelope["awslogs"]["data"].as_str().unwrap();
    let kinesis = serde_json::json!({"Records": [{"kinesis": {"data": data, "sequenceNumber": "1"},
                                                   "eventSource": "aws:kinesis"}]});
    let text = String::from_utf8(payload.clone()).unwrap();
    let member = format!("{},\"extra\":1}}", text.trim_end().strip_suffix('}').unwrap());
    let prefixed = format!("{{\"awslogs\":{{\"data\":\"!!!!\"}}}}{text}");
    vec![
        ("payload", payload, 0),
        ("kinesis", serde_json::to_vec(&kinesis).unwrap(), 0),
        ("member", member.into_bytes(), 0),
        ("prefixed", prefixed.into_bytes(), 1),
    ]
}

#[test]
fn a_fifo_gives_exactly_what_stdin_gives() {
    // The streamed reader used to take a FIFO, consume it, and then reopen it for the usual
    // path: an error for a Kinesis event, a hang for an envelope with a further member.
    let dir = tempdir();
    let golden_lines = golden(&synthetic("all-events.kvlist.json")).0;
    for (what, bytes, code) in pipe_inputs() {
        let stdin =
            run_bounded(cli(&["sanitize"]).env("PSEUDONYM_KEY", FIXTURE_KEY), Stdio::from(pipe_of(bytes.clone())));
        assert_eq!(stdin.status.code(), Some(code), "{what}: {}", text(&stdin.stderr));
        if code == 0 {
            assert_eq!(text(&stdin.stdout), golden_lines, "{what}");
        } else {
            assert!(stdin.stdout.is_empty(), "{what}");
        }
        let fifo = dir.join(format!("{what}.fifo"));
        fifo_of(&fifo, bytes);
        let out =
            run_bounded(cli(&["sanitize", fifo.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY), Stdio::null());
        assert_eq!(out.status.code(), stdin.status.code(), "{what}: {}", text(&out.stderr));
        assert!(out.stdout == stdin.stdout, "{what}: the same lines");
        assert_eq!(text(&out.stderr).replace(fifo.to_str().unwrap(), "stdin"), text(&stdin.stderr), "{what}");
        let _ = std::fs::remove_file(&fifo);
    }
}

#[test]
fn dev_stdin_gives_what_stdin_gives_whether_a_pipe_or_a_file() {
    // `sanitize /dev/stdin` used to fail for a pipe (`eof error`): the pipe was read twice.
    let dir = tempdir();
    for (what, bytes, code) in pipe_inputs() {
        let stdin =
            run_bounded(cli(&["sanitize"]).env("PSEUDONYM_KEY", FIXTURE_KEY), Stdio::from(pipe_of(bytes.clone())));
        assert_eq!(stdin.status.code(), Some(code), "{what}");
        let piped = run_bounded(
            cli(&["sanitize", "/dev/stdin"]).env("PSEUDONYM_KEY", FIXTURE_KEY),
            Stdio::from(pipe_of(bytes.clone())),
        );
        // A regular file behind /dev/stdin (`< file`) may be read in pieces and then again.
        let file = dir.join(format!("{what}.json"));
        std::fs::write(&file, &bytes).unwrap();
        let redirected = run_bounded(
            cli(&["sanitize", "/dev/stdin"]).env("PSEUDONYM_KEY", FIXTURE_KEY),
            Stdio::from(std::fs::File::open(&file).unwrap()),
        );
        for (how, out) in [("pipe", piped), ("file", redirected)] {
            assert_eq!(out.status.code(), stdin.status.code(), "{what} from a {how}: {}", text(&out.stderr));
            assert!(out.stdout == stdin.stdout, "{what} from a {how}: the same lines");
            assert_eq!(text(&out.stderr).replace("/dev/stdin", "stdin"), text(&stdin.stderr), "{what} from a {how}");
        }
    }
}

#[test]
fn ndjson_mode_reads_stored_messages() {
    // The messages of a payload, one per line, give the same lines minus the source ids.
    let payload = synthetic("all-events.object.json");
    let decoded = payload_of(&std::fs::read(&payload).unwrap());
    let mut ndjson = String::new();
    for e in decoded["logEvents"].as_array().unwrap() {
        ndjson.push_str(e["message"].as_str().unwrap());
        ndjson.push('\n');
    }
    let out = run_with_stdin(cli(&["sanitize", "--ndjson"]).env("PSEUDONYM_KEY", FIXTURE_KEY), ndjson.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let expected: String =
        golden(&payload).0.lines().map(|l| format!("{}}}\n", &l[..l.find(",\"sourceEventId\"").unwrap()])).collect();
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn undecodable_input_exits_1_with_one_clear_line_and_no_output() {
    let dir = tempdir();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"awslogs":{"data":"CANARY-not-base64!"}}"#).unwrap();
    let good = synthetic("all-events.object.json");
    // A bad file after a good one: nothing at all is printed.
    let out = run(cli(&["sanitize", good.to_str().unwrap(), bad.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no partial output");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("bad.json") && err.contains("base64"), "{err}");
    assert!(!err.contains("CANARY"));

    for (content, expected) in
        [(&b"CANARY plain text"[..], "not valid JSON"), (&br#"{"awslogs":{"data":"aGVsbG8="}}"#[..], "gzip")]
    {
        std::fs::write(&bad, content).unwrap();
        let out = run(cli(&["sanitize", bad.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(err.contains(expected) && !err.contains("CANARY"), "{err}");
    }

    let out = run(cli(&["sanitize", dir.join("missing.json").to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.json"));
}

#[test]
fn an_oversized_payload_is_refused() {
    let payload = synthetic("all-events.object.json");
    let out = run(cli(&["sanitize", "--max-decompressed-bytes", "1000", payload.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exceeds the cap of 1000 bytes"));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_invalid_allowlist_exits_3_and_points_at_the_line() {
    let dir = tempdir();
    let path = dir.join("allowlist.toml");
    std::fs::write(&path, "events = [\"api_request\"]\n[attributes]\n\"model\" = { kind = \"token\", maxlen = 5 }\n")
        .unwrap();
    let payload = synthetic("all-events.object.json");
    let out = run(cli(&["sanitize", "--allowlist", path.to_str().unwrap(), payload.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("line 3") && err.contains("maxlen"), "{err}");

    let check = run(cli(&["check-allowlist", path.to_str().unwrap()]));
    assert_eq!(check.status.code(), Some(3));
    assert!(text(&check.stderr).contains("line 3"));
}

#[test]
fn a_custom_allowlist_changes_what_is_written() {
    let dir = tempdir();
    let path = dir.join("allowlist.toml");
    std::fs::write(&path, "events = [\"api_request\"]\n[attributes]\n\"model\" = { kind = \"token\", max_len = 64 }\n")
        .unwrap();
    let payload = synthetic("all-events.object.json");
    let out = run(cli(&["sanitize", "--allowlist", path.to_str().unwrap(), payload.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2, "the two api_request events");
    assert!(lines[0].starts_with(r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","model":"claude-sonnet-4-5-20250929"}"#), "{}", lines[0]);
}

#[test]
fn check_allowlist_describes_the_embedded_allowlist() {
    let out = run(&mut cli(&["check-allowlist"]));
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.starts_with("embedded allowlist.toml: valid\n"));
    assert!(s.contains("user.pseudonym") && s.contains("tool.subagent_type") && s.contains("api_request"));
    let file = run(cli(&["check-allowlist", "allowlist.toml"]));
    assert_eq!(file.status.code(), Some(0));
}

#[test]
fn pseudonym_keys_are_checked_and_never_echoed() {
    let payload = synthetic("all-events.object.json");
    let short = run(cli(&["sanitize", payload.to_str().unwrap()]).env("PSEUDONYM_KEY", "CANARY-short"));
    assert_eq!(short.status.code(), Some(3));
    assert!(short.stdout.is_empty());
    assert!(!text(&short.stderr).contains("CANARY"));

    let dir = tempdir();
    let key_file = dir.join("key");
    std::fs::write(&key_file, format!("{FIXTURE_KEY}\n")).unwrap();
    let from_file =
        run(&mut cli(&["sanitize", "--pseudonym-key-file", key_file.to_str().unwrap(), payload.to_str().unwrap()]));
    assert_eq!(text(&from_file.stdout), golden(&payload).0, "a key file ending in a newline is the same key");

    let help = run(cli(&["sanitize", "--help"]).env("PSEUDONYM_KEY", "CANARY-secret-value-long-enough"));
    assert!(!text(&help.stdout).contains("CANARY"));
}

#[test]
fn without_a_key_identities_are_dropped_not_passed() {
    let payload = synthetic("all-events.object.json");
    let out = run(cli(&["sanitize", payload.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(!s.contains("user.pseudonym") && !s.contains("CANARY"));
    let counts: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(counts["attributes_dropped"]["no_pseudonym_key"].as_u64().unwrap() > 0);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(cli(&["sanitize", "--no-such-flag"])).status.code(), Some(2));
    assert_eq!(run(&mut cli(&[])).status.code(), Some(2));
}

#[test]
fn explain_names_keys_and_reasons_but_no_values() {
    let payload = synthetic("all-events.object.json");
    let out = run(cli(&["explain", payload.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("event 1 api_request: written"), "{s}");
    assert!(s.contains("kept: attributes.event.name"));
    assert!(s.contains("pseudonymized: attributes.user.email"));
    assert!(s.contains("attributes.user.id (superseded)"));
    assert!(s.contains("extracted from: attributes.tool_parameters"));
    assert!(s.contains("event 3 api_request_body: dropped (event_not_allowed)"));
    assert!(s.contains("attributes.prompt (not_allowlisted)"));
    // Keys found inside the tool_parameters value are never named.
    assert!(!s.contains("full_command"), "{s}");
    for value in
        ["CANARY-prompt:", "CANARY.developer@example.com", "CANARY-secret", "CANARY-list files", "CANARY-team-attr"]
    {
        assert!(!s.contains(value), "explain printed the value {value}");
    }
}

#[test]
fn stderr_never_carries_payload_content() {
    for payload in payload_files() {
        for command in ["sanitize", "explain"] {
            let out = run(cli(&[command, payload.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
            let err = text(&out.stderr);
            assert!(!err.contains("CANARY") && !err.contains("canary"), "{command} {}: {err}", payload.display());
        }
    }
}

#[test]
fn a_closed_stdout_ends_output_quietly_with_the_counts() {
    // The reading end is closed before the binary writes: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let payload = synthetic("all-events.object.json");
    let out = cli(&["sanitize", payload.to_str().unwrap()]).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let normal = run(cli(&["sanitize", payload.to_str().unwrap()]));
    assert!(!normal.stdout.is_empty());
    assert_eq!(text(&out.stderr), text(&normal.stderr), "the same counts line, and nothing else");
}

#[test]
fn key_options_exclude_each_other() {
    let payload = synthetic("all-events.object.json");
    let dir = tempdir();
    let key_file = dir.join("key-for-conflicts");
    std::fs::write(&key_file, FIXTURE_KEY).unwrap();
    let both = run(cli(&[
        "sanitize",
        "--pseudonym-key-file",
        key_file.to_str().unwrap(),
        "--pseudonym-key-secret-arn",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
        payload.to_str().unwrap(),
    ]));
    assert_eq!(both.status.code(), Some(2));
    assert!(both.stdout.is_empty());
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "claude-otel-sanitizer-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The raw request bodies of a recorded scenario (`fixtures/record/raw/<scenario>/NNN.json`,
/// the real client's OTLP/JSON), in file order.
fn raw_bodies(scenario: &str) -> Vec<PathBuf> {
    let dir = root().join("fixtures/record/raw").join(scenario);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "{scenario} has request bodies");
    files
}

fn otlp_scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fixtures/record/raw"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "the recorded scenarios");
    names
}

/// A written line without its `sourceEventId`, the id's length, and the line's `timeUnixNano`.
fn otlp_line(line: &str) -> (String, usize, u64) {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    let id = v.as_object_mut().unwrap().remove("sourceEventId").unwrap();
    let time = v["timeUnixNano"].as_str().unwrap().parse().unwrap();
    (v.to_string(), id.as_str().unwrap().len(), time)
}

#[test]
fn sanitize_otlp_prints_the_subscription_paths_lines_for_every_recording() {
    for scenario in otlp_scenarios() {
        let files = raw_bodies(&scenario);
        let mut args = vec!["sanitize".to_owned(), "--otlp".to_owned()];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(cli(&args).env("PSEUDONYM_KEY", FIXTURE_KEY));
        assert_eq!(out.status.code(), Some(0), "{scenario}: {}", text(&out.stderr));
        // Each body's lines come in time order; the recording orders all its records by time.
        let mut lines: Vec<(String, usize, u64)> = text(&out.stdout).lines().map(otlp_line).collect();
        assert!(lines.iter().all(|(_, id, _)| *id == sanitizer_otlp::RECORD_ID_DIGITS), "{scenario}: record ids");
        lines.sort_by_key(|(_, _, t)| *t);
        let lines: Vec<String> = lines.into_iter().map(|(l, _, _)| l).collect();
        let fixture = root().join(format!("fixtures/recorded/{scenario}.kvlist.json"));
        let (golden_lines, golden_counts) = golden(&fixture);
        let expected: Vec<String> = golden_lines.lines().map(|l| otlp_line(l).0).collect();
        assert_eq!(lines, expected, "{scenario}");
        // The same counts, one payload per request body.
        let mut counts: serde_json::Value = serde_json::from_str(&golden_counts).unwrap();
        counts["payloads"] = files.len().into();
        let printed: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(printed, counts, "{scenario}");
    }
}

#[test]
fn sanitize_otlp_prints_what_the_receiver_writes_in_every_form() {
    use prost::Message as _;
    let dir = tempdir();
    let key = sanitizer_core::PseudonymKey::new(FIXTURE_KEY.as_bytes()).unwrap();
    let receiver = sanitizer_otlp::LogsReceiver::new(Some(&key), sanitizer_core::DEFAULT_MAX_DECOMPRESSED_BYTES);
    let sanitizer = sanitizer();
    for (i, file) in raw_bodies("bash").iter().enumerate() {
        let json = std::fs::read(file).unwrap();
        // What the receiver writes: its lines, in the handler's write order (stable, by time).
        let mut events = receiver.sanitize(&sanitizer, &json, 0).unwrap().events;
        events.sort_by_key(|e| e.timestamp);
        let expected: String = events.iter().map(|e| format!("{}\n", e.message)).collect();
        assert!(!expected.is_empty());
        let request = sanitizer_otlp::decode_logs(&json, 1 << 20).unwrap();
        let protobuf = request.encode_to_vec();
        for (form, body) in
            [("json", json.clone()), ("pb", protobuf.clone()), ("json.gz", gzip(&json)), ("pb.gz", gzip(&protobuf))]
        {
            let path = dir.join(format!("{i}.{form}"));
            std::fs::write(&path, &body).unwrap();
            let out = run(cli(&["sanitize", "--otlp", path.to_str().unwrap()]).env("PSEUDONYM_KEY", FIXTURE_KEY));
            assert_eq!(out.status.code(), Some(0), "{form}");
            assert_eq!(text(&out.stdout), expected, "{form}");
            let stdin = run_with_stdin(cli(&["sanitize", "--otlp"]).env("PSEUDONYM_KEY", FIXTURE_KEY), &body);
            assert_eq!(stdin.stdout, out.stdout, "{form} on stdin");
        }
    }
}

#[test]
fn sanitize_otlp_refuses_bad_bodies_with_one_line_and_no_output() {
    let dir = tempdir();
    let good = &raw_bodies("bash")[0];
    let bad = dir.join("bad.otlp");
    let cases: [(&[u8], &str); 5] = [
        (b"CANARY plain text", "not a valid OTLP request in protobuf"),
        (br#"{"resourceLogs":"CANARY-shape"}"#, "not a valid OTLP request in JSON"),
        (br#"{"resourceMetrics":[{"scopeMetrics":"CANARY-shape"}]}"#, "not a valid OTLP request in JSON"),
        (&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2], "not a valid gzip stream"),
        (&gzip(&vec![b' '; 2 << 20]), "exceeds the cap of 1000000 bytes"),
    ];
    for (content, expected) in cases {
        std::fs::write(&bad, content).unwrap();
        // A bad body after a good one: nothing at all is printed.
        let out = run(cli(&[
            "sanitize",
            "--otlp",
            "--max-request-bytes",
            "1000000",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ]));
        assert_eq!(out.status.code(), Some(1), "{expected}");
        assert!(out.stdout.is_empty(), "no partial output");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains("bad.otlp") && err.contains(expected), "{err}");
        assert!(!err.contains("CANARY"), "{err}");
    }
}

#[test]
fn sanitize_otlp_caps_a_body_at_4_mib_unless_told() {
    let dir = tempdir();
    let body = dir.join("large.otlp");
    // Spaces: a JSON body once it is read, and its whitespace is within the cap or not.
    std::fs::write(&body, vec![b' '; (4 << 20) + 1]).unwrap();
    let out = run(cli(&["sanitize", "--otlp", body.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exceeds the cap of 4194304 bytes"), "{}", text(&out.stderr));
    let out = run(cli(&["sanitize", "--otlp", "--max-request-bytes", "5000000", body.to_str().unwrap()]));
    assert!(!text(&out.stderr).contains("exceeds the cap"), "{}", text(&out.stderr));
    let out = run(cli(&["sanitize", "--max-request-bytes", "5000000", body.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "--max-request-bytes needs --otlp");
}

#[test]
fn sanitize_otlp_takes_an_empty_body_and_its_own_usage_rules() {
    let dir = tempdir();
    let empty = dir.join("empty.otlp");
    std::fs::write(&empty, b"").unwrap();
    let out = run(cli(&["sanitize", "--otlp", empty.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let counts: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!((counts["payloads"].as_u64(), counts["received"].as_u64()), (Some(1), Some(0)));

    let path = empty.to_str().unwrap();
    for args in [
        &["sanitize", "--otlp", "--ndjson", path][..],
        &["sanitize", "--otlp", "--log-group", "/sanitized", path],
        &["explain", "--otlp", path],
    ] {
        let out = run(cli(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}
