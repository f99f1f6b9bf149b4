//! The data lake's Athena named queries (`template.yaml`'s `AWS::Athena::NamedQuery`s) run in a
//! real SQL engine, DuckDB, over the two-week corpus laid out as Firehose writes it, and agree
//! with `digest --format json` over the same lines.
//!
//! The corpus (`fixtures/digest/two-weeks.ndjson` and the OTLP endpoint's
//! `fixtures/digest/metric-lines.ndjson`) is written as gzip NDJSON objects under
//! `sanitized/dt=YYYY-MM-DD/`, each line in the partition of the day it "arrived" (its own time
//! plus ten minutes, so that lines of a day's last minutes land in the next day's partition, as
//! Firehose's arrival-time prefix puts them), two objects a day, and one object delivered twice
//! (at-least-once delivery). `tests/lake/named_queries.py` builds the Glue table from the
//! template's `LakeTable` (its columns, and the OpenX SerDe's reading of keys), runs each
//! query's `QueryString` as written with the window's parameters, and prints the rows. The
//! figures must equal the digest's, value and previous window, for the totals, the tokens, the
//! days, the models, the teams (for K = 1 to 5) and the productivity totals; the redelivered
//! object must change none of them.

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use time::OffsetDateTime;
use time::macros::format_description;

const UNTIL: &str = "2026-11-30T00:00:00Z";
const NS_PER_DAY: i64 = 86_400_000_000_000;
/// How long after its own time a line reaches its partition: Firehose prefixes by arrival time.
const ARRIVAL_DELAY_NS: i64 = 600_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<String> {
    let dir = root().join("fixtures/digest");
    ["two-weeks.ndjson", "metric-lines.ndjson"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.join(f)).expect("read the corpus").lines().map(String::from).collect::<Vec<_>>()
        })
        .collect()
}

fn time_ns(line: &str) -> i64 {
    let v: Value = serde_json::from_str(line).expect("corpus line is JSON");
    v["timeUnixNano"].as_str().expect("timeUnixNano").parse().expect("decimal ns")
}

fn date(ns: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ns.div_euclid(1_000_000_000)).expect("a time");
    t.format(format_description!("[year]-[month]-[day]")).expect("a date")
}

fn gzip(lines: &[&String]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for line in lines {
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    gz.finish().unwrap()
}

/// Writes the corpus as Firehose lays it out; returns the lines of the object written twice.
fn write_lake(dir: &Path, lines: &[String]) -> Vec<String> {
    let mut by_day: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for line in lines {
        by_day.entry(date(time_ns(line) + ARRIVAL_DELAY_NS)).or_default().push(line);
    }
    let mut redelivered = Vec::new();
    for (day, lines) in &by_day {
        let part = dir.join("sanitized").join(format!("dt={day}"));
        std::fs::create_dir_all(&part).unwrap();
        let (first, second) = lines.split_at(lines.len() / 2);
        std::fs::write(part.join(format!("claude-otel-lake-1-{day}-a.gz")), gzip(first)).unwrap();
        std::fs::write(part.join(format!("claude-otel-lake-1-{day}-b.gz")), gzip(second)).unwrap();
        // A day of the current window delivered again, a day later (a retried delivery).
        if day == "2026-11-25" {
            let next = dir.join("sanitized").join("dt=2026-11-26");
            std::fs::create_dir_all(&next).unwrap();
            std::fs::write(next.join("claude-otel-lake-1-2026-11-26-redelivered.gz"), gzip(first)).unwrap();
            redelivered = first.iter().map(|s| (*s).clone()).collect();
        }
    }
    assert!(
        by_day.keys().any(|d| d == "2026-11-30"),
        "lines of 2026-11-29's last minutes arrive on 2026-11-30: the window's dt range must reach it"
    );
    redelivered
}

fn digest(lines: &[String], k: u32) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--until", UNTIL, "--format", "json", "--min-group-size", &k.to_string()])
        .env_remove("PSEUDONYM_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "digest: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("digest JSON")
}

fn ns(rfc3339: &str) -> i64 {
    let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    i64::try_from(t.unix_timestamp_nanos()).unwrap()
}

/// A window's execution parameters: the first and last dt to read (the end's day included, for
/// lines that arrived after midnight), start and end in ns.
fn window(start_ns: i64, end_ns: i64) -> Value {
    json!([date(start_ns), date(end_ns), start_ns, end_ns])
}

/// Runs the template's named queries over the lake for both windows and one K.
fn named_queries(lake: &Path, k: u32) -> Value {
    let end = ns(UNTIL);
    let (start, previous_start) = (end - 7 * NS_PER_DAY, end - 14 * NS_PER_DAY);
    let spec = json!({"windows": {"current": window(start, end), "previous": window(previous_start, start)}, "k": k});
    let out = Command::new("python3")
        .arg(root().join("tests/lake/named_queries.py"))
        .arg(root().join("template.yaml"))
        .arg(lake)
        .arg(spec.to_string())
        .output()
        .expect("python3 (with duckdb: scripts/setup.sh installs it into .venv, test.sh puts .venv/bin on PATH)");
    assert!(out.status.success(), "named_queries.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("named_queries.py prints JSON")
}

fn rows<'a>(result: &'a Value, query: &str, window: &str) -> &'a Vec<Value> {
    result["queries"][query][window].as_array().unwrap_or_else(|| panic!("{query} has no {window} rows"))
}

/// Two figures are equal: integers exactly, amounts to the digest's rounding (6 decimals for USD,
/// 0.1 for a percentage, 0.01 for hours), whichever engine summed them.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1.5e-6 * x.abs().max(1.0),
        _ => a == b,
    }
}

fn check(problems: &mut Vec<String>, what: &str, sql: &Value, digest: &Value) {
    if !same(sql, digest) {
        problems.push(format!("{what}: SQL {sql}, digest {digest}"));
    }
}

fn lake(test: &str) -> (tempdir::Dir, Vec<String>) {
    let dir = tempdir::Dir::new(test);
    let redelivered = write_lake(dir.path(), &corpus());
    (dir, redelivered)
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory under the target's temporary directory, removed when dropped.
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn named_queries_agree_with_the_digest_and_count_a_redelivered_object_once() {
    let (dir, redelivered) = lake("lake-sql-figures");
    let lines = corpus();
    let sql = named_queries(dir.path(), 3);
    let d = digest(&lines, 3);
    let mut problems = Vec::new();

    // The redelivered object holds requests of the current window, so counting it would change
    // the figures below; the table holds its lines twice.
    let (start, end) = (ns(UNTIL) - 7 * NS_PER_DAY, ns(UNTIL));
    let again = redelivered
        .iter()
        .filter(|l| l.contains("\"event.name\":\"api_request\"") && (start..end).contains(&time_ns(l)))
        .count();
    assert!(again > 10, "the redelivered object holds {again} requests of the window");
    let table_rows = sql["table_rows"].as_u64().unwrap() as usize;
    assert_eq!(table_rows, lines.len() + redelivered.len(), "every object is read, the redelivered one too");

    // Totals and tokens, both windows.
    let totals = [
        ("active_users", "totals.active_users"),
        ("sessions", "totals.sessions"),
        ("messages", "totals.messages"),
        ("requests", "totals.requests"),
        ("cost_usd", "totals.cost_usd"),
        ("cache_hit_pct", "totals.cache_hit_pct"),
        ("skill_activations", "totals.skill_activations"),
        ("subagent_runs", "totals.subagent_runs"),
        ("mcp_calls", "totals.mcp_calls"),
        ("rate_limited_requests", "totals.rate_limited_requests"),
        ("input_tokens", "tokens.input"),
        ("output_tokens", "tokens.output"),
        ("cache_read_tokens", "tokens.cache_read"),
        ("cache_creation_tokens", "tokens.cache_creation"),
    ];
    for (window, field) in [("current", "value"), ("previous", "previous")] {
        let row = &rows(&sql, "LakeTotalsQuery", window)[0];
        for (column, path) in totals {
            let figure = path.split('.').fold(&d, |v, k| &v[k]);
            check(&mut problems, &format!("{path}.{field}"), &row[column], &figure[field]);
        }
    }
    assert!(d["totals"]["requests"]["value"].as_u64().unwrap() > 100, "the window is not empty");

    // Days of the current window (the SQL leaves out a day without events).
    let days = rows(&sql, "LakeDailyQuery", "current");
    let digest_days = d["days"].as_array().unwrap();
    assert_eq!(digest_days.len(), 7);
    for day in digest_days {
        let epoch_day = ns(day["start"].as_str().unwrap()) / NS_PER_DAY;
        let row = days.iter().find(|r| r["epoch_day"].as_f64() == Some(epoch_day as f64));
        let row = row.cloned().unwrap_or_else(|| json!({"cost_usd": 0, "messages": 0, "requests": 0}));
        for column in ["cost_usd", "messages", "requests"] {
            check(&mut problems, &format!("days[{}].{column}", day["date"]), &row[column], &day[column]);
        }
    }
    assert_eq!(days.len(), 7, "one row per day of the window, none outside it: {days:?}");

    // Models: every model with requests in the window, in the digest's order (by cost).
    let models: Vec<(Value, Value, Value)> = rows(&sql, "LakeCostByModelQuery", "current")
        .iter()
        .map(|r| (r["model"].clone(), r["cost_usd"].clone(), r["requests"].clone()))
        .collect();
    let digest_models: Vec<(Value, Value, Value)> = d["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["requests"]["value"].as_u64() > Some(0))
        .map(|m| (m["model"].clone(), m["cost_usd"]["value"].clone(), m["requests"]["value"].clone()))
        .collect();
    assert_eq!(models.len(), digest_models.len(), "models: SQL {models:?}, digest {digest_models:?}");
    for (s, g) in models.iter().zip(&digest_models) {
        check(&mut problems, &format!("models[{}].model", g.0), &s.0, &g.0);
        check(&mut problems, &format!("models[{}].cost_usd", g.0), &s.1, &g.1);
        check(&mut problems, &format!("models[{}].requests", g.0), &s.2, &g.2);
    }

    // Productivity totals from the metric lines, both windows.
    for (window, field) in [("current", "value"), ("previous", "previous")] {
        let row = &rows(&sql, "LakeProductivityQuery", window)[0];
        let total = &d["productivity"]["total"];
        for column in [
            "lines_added",
            "lines_removed",
            "commits",
            "pull_requests",
            "sessions",
            "sessions_fresh",
            "sessions_continue",
            "sessions_resume",
            "edits_accepted",
            "edits_rejected",
            "active_hours_user",
            "active_hours_cli",
            "edit_acceptance_pct",
        ] {
            check(&mut problems, &format!("productivity.total.{column}.{field}"), &row[column], &total[column][field]);
        }
        check(
            &mut problems,
            &format!("productivity.metric_lines.{field}"),
            &row["metric_lines"],
            &d["productivity"]["metric_lines"][field],
        );
    }
    assert!(d["productivity"]["total"]["lines_added"]["value"].as_f64() > Some(0.0), "the window has metric lines");

    assert!(problems.is_empty(), "the named queries disagree with the digest:\n  {}", problems.join("\n  "));
}

/// People per team (`(not set)` without one) of the current window's api_request and user_prompt
/// events, each event once: computed here from the lines, independently of both engines.
fn people_by_team(lines: &[String]) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let (start, end) = (ns(UNTIL) - 7 * NS_PER_DAY, ns(UNTIL));
    let mut seen = std::collections::BTreeSet::new();
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let event = v["attributes"]["event.name"].as_str().unwrap_or("");
        if !["api_request", "user_prompt"].contains(&event) || !(start..end).contains(&time_ns(line)) {
            continue;
        }
        if !seen.insert(v["sourceEventId"].as_str().unwrap().to_string()) {
            continue;
        }
        let team = v["resource"]["attributes"]["team.id"].as_str().unwrap_or("(not set)").to_string();
        out.entry(team).or_default().insert(v["attributes"]["user.pseudonym"].as_str().unwrap().to_string());
    }
    out
}

/// Cost by team hides teams of fewer than K people by the digest's rule for one dimension: every
/// team it names has at least K people, and what it does not name (which the totals minus its
/// rows give) is nothing or at least K people from at least two teams, checked against people
/// counted here from the lines; it has no remainder row. Every team the digest names, it names
/// with the same people and cost. The digest folds further, across department and cost center
/// (its atoms): there the query may name a team the digest does not (platform, K = 2 and 3).
#[test]
fn cost_by_team_hides_small_teams_and_names_what_the_digest_names() {
    let (dir, _) = lake("lake-sql-teams");
    let lines = corpus();
    let people = people_by_team(&lines);
    let mut named = Vec::new();
    for k in 1..=5_u32 {
        let sql = named_queries(dir.path(), k);
        let d = digest(&lines, k);
        let from_sql: BTreeMap<String, (u64, f64)> = rows(&sql, "LakeCostByTeamQuery", "current")
            .iter()
            .map(|r| {
                (
                    r["team"].as_str().unwrap().to_string(),
                    (r["people"].as_u64().unwrap(), r["cost_usd"].as_f64().unwrap()),
                )
            })
            .collect();
        for g in d["groups"]["team"]["groups"].as_array().unwrap() {
            let name = g["name"].as_str().unwrap_or("(not set)");
            let (p, c) =
                from_sql.get(name).unwrap_or_else(|| panic!("K = {k}: the digest names {name}, the query does not"));
            assert_eq!(Some(*p), g["users"].as_u64(), "K = {k}, {name}: people");
            assert!((c - g["cost_usd"]["value"].as_f64().unwrap()).abs() < 1.5e-6, "K = {k}, {name}: cost");
        }
        let mut rest_people = std::collections::BTreeSet::new();
        let mut rest_teams = 0;
        for (team, persons) in &people {
            match from_sql.get(team) {
                Some((p, _)) => {
                    assert_eq!(*p as usize, persons.len(), "K = {k}, {team}: people");
                    assert!(*p >= u64::from(k), "K = {k}: {team} is named with {p} people");
                }
                None => {
                    rest_people.extend(persons.iter().cloned());
                    rest_teams += 1;
                }
            }
        }
        assert!(
            rest_teams == 0 || (rest_people.len() >= k as usize && rest_teams >= 2),
            "K = {k}: the teams not named ({rest_teams}, {} people) can be worked out from the totals",
            rest_people.len()
        );
        named.push(from_sql.len());
    }
    // K = 1 names every team; some larger K names some and hides others, so the rule is
    // exercised, not vacuous.
    assert_eq!(named[0], people.len());
    assert!(named.iter().skip(1).any(|&n| n > 0 && n < named[0]), "teams named for K = 1 to 5: {named:?}");
}
