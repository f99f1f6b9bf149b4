//! Every recording of the real client, through every command a person runs: `sanitize`,
//! `explain`, `explain --summary`, then `digest` in all four formats over what `sanitize`
//! printed. No recorded canary (`fixtures/recorded/canaries.txt`: prompts, responses, commands,
//! paths, hook matchers and messages, error texts, ...) is printed anywhere, and the digest
//! accepts every line the sanitizer wrote, so each kept key of each kept event is one the digest
//! trusts (a line with a key outside its event's allowlist would be refused).

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(cli_bin());
    cmd.args(args).env("PSEUDONYM_KEY", FIXTURE_KEY).env_remove("AWS_ENDPOINT_URL");
    let Some(input) = stdin else { return cmd.output().unwrap() };
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_no_canary(what: &str, out: &Output, canaries: &[String]) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        for canary in canaries {
            assert!(!text.contains(canary.as_str()), "{what} printed the canary {canary}");
        }
    }
}

#[test]
fn no_recorded_canary_reaches_sanitize_explain_or_digest() {
    let canaries = recorded_canaries();
    assert!(canaries.len() >= 20, "{} canaries", canaries.len());
    let files = recorded_files();
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    assert!(paths.len() >= 40, "{} recordings", paths.len());

    let sanitized = run(&[&["sanitize"], &paths[..]].concat(), None);
    assert_no_canary("sanitize", &sanitized, &canaries);
    for args in [&["explain"][..], &["explain", "--summary"]] {
        assert_no_canary(&args.join(" "), &run(&[args, &paths[..]].concat(), None), &canaries);
    }

    // The digest over everything sanitize printed: a window that holds every recorded event.
    let lines = String::from_utf8(sanitized.stdout.clone()).unwrap();
    let latest_ns = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["timeUnixNano"].as_str().unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();
    let until = chrono_free_rfc3339(latest_ns / 1_000_000_000 / 86_400 + 1);
    for format in ["markdown", "slack", "json", "html"] {
        let args = ["digest", "--days", "60", "--until", &until, "--format", format];
        let out = run(&args, Some(sanitized.stdout.as_slice()));
        assert_no_canary(&format!("digest --format {format}"), &out, &canaries);
        if format == "json" {
            let digest: Value = serde_json::from_slice(&out.stdout).unwrap();
            let input = &digest["input"];
            assert_eq!(input["lines"], lines.lines().count(), "{input}");
            assert_eq!(input["refused"], 0, "the digest refused lines the sanitizer wrote: {input}");
            assert_eq!(input["outside_window"], 0, "{input}");
        }
    }
}

/// Midnight UTC of day `days` since 1970-01-01, as RFC 3339 (civil-from-days, Howard Hinnant).
fn chrono_free_rfc3339(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T00:00:00Z")
}

#[test]
fn the_rfc3339_helper_names_known_days() {
    assert_eq!(chrono_free_rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(chrono_free_rfc3339(20_790), "2026-12-03T00:00:00Z");
    assert_eq!(chrono_free_rfc3339(11_016), "2000-02-29T00:00:00Z");
}
