//! The digest's productivity section (issue 22) on the real binary, from metric lines exactly as
//! contract 2 gives them (what the OTLP endpoint writes into the sanitized group): every figure
//! equals an independent recomputation written here from the lines as `serde_json` values and
//! docs/digest.md's rules (not from the digest's code), for K = 1 to 4; teams of fewer than K
//! people are neither named nor derivable in any format; the previous window's change; a window
//! without metric lines says so in one line instead of showing zeros; forged metric lines are
//! refused and never echoed.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const UNTIL: &str = "2026-11-30T00:00:00Z";
/// 2026-11-16T00:00:00Z: the start of the previous window (7 days before the current one).
const PREVIOUS_START_NS: u64 = 1_794_787_200_000_000_000;
const DAY_NS: u64 = 86_400 * 1_000_000_000;
const UNAVAILABLE: &str = "No metrics in this window: they reach the sanitized group only through the OTLP endpoint (IngestionMode endpoint or both).";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(args)
        .env_remove("PSEUDONYM_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin");
    }
    child.wait_with_output().unwrap()
}

fn digest(format: &str, k: &str, input: &str) -> String {
    let out = run(&["digest", "--until", UNTIL, "--format", format, "--min-group-size", k], input.as_bytes());
    assert!(out.status.success(), "digest --format {format}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json_digest(k: &str, input: &str) -> Value {
    serde_json::from_str(&digest("json", k, input)).unwrap()
}

/// One metric line exactly as contract 2 writes it: keys in the contract's order, attribute
/// keys sorted (serde_json's map is sorted), `value` a JSON number (whole values without a
/// fraction), a 39-digit `sourceEventId`.
fn metric_line(
    metric: &str,
    value: Value,
    attributes: &[(&str, Value)],
    team: Option<&str>,
    t: u64,
    id: u64,
) -> String {
    let attributes: Map<String, Value> = attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    let mut resource = Map::new();
    resource.insert("service.name".into(), "claude-code".into());
    resource.insert("service.version".into(), "2.1.332".into());
    if let Some(team) = team {
        resource.insert("team.id".into(), team.into());
    }
    format!(
        r#"{{"metric":{},"value":{},"attributes":{},"resource":{{"attributes":{}}},"startTimeUnixNano":"{}","timeUnixNano":"{}","sourceEventId":"{:039}"}}"#,
        Value::from(metric),
        value,
        Value::Object(attributes),
        Value::Object(resource),
        t - 1_000_000_000,
        t,
        id
    )
}

/// A small deterministic generator (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One person's metric lines of one day: every productivity metric, spend metrics, and the
/// lines that must not count (`agents_view` sessions).
struct Writer {
    rng: Rng,
    id: u64,
    lines: Vec<String>,
}

impl Writer {
    fn day(&mut self, user: u32, team: Option<&str>, window: u64, day: u64, languages: &[&str]) {
        let pseudonym = format!("{user:016x}");
        let session = format!("00000000-0000-4000-8000-{:012x}", u64::from(user) * 1000 + window * 100 + day);
        let base = |extra: &[(&'static str, Value)]| {
            let mut a: Vec<(&'static str, Value)> =
                vec![("session.id", session.clone().into()), ("user.pseudonym", pseudonym.clone().into())];
            a.extend_from_slice(extra);
            a
        };
        let start = PREVIOUS_START_NS + (7 * (1 - window) + day) * DAY_NS;
        let mut minute = 0;
        let mut push = |w: &mut Writer, metric: &str, value: Value, attrs: Vec<(&str, Value)>| {
            minute += 1;
            w.id += 1;
            let line = metric_line(metric, value, &attrs, team, start + (9 * 60 + minute) * 60_000_000_000, w.id);
            w.lines.push(line);
        };
        let model = ("model", Value::from("claude-sonnet-5-5"));
        let start_types = ["fresh", "continue", "resume", "agents_view"];
        for _ in 0..=self.rng.next(2) {
            let st = start_types[self.rng.next(4) as usize];
            push(self, "claude_code.session.count", 1.into(), base(&[("start_type", st.into())]));
        }
        let added = 1 + self.rng.next(300);
        push(self, "claude_code.lines_of_code.count", added.into(), base(&[model.clone(), ("type", "added".into())]));
        let removed = 1 + self.rng.next(80);
        push(
            self,
            "claude_code.lines_of_code.count",
            removed.into(),
            base(&[model.clone(), ("type", "removed".into())]),
        );
        if self.rng.next(2) == 0 {
            let commits = 1 + self.rng.next(3);
            push(self, "claude_code.commit.count", commits.into(), base(&[]));
        }
        if self.rng.next(4) == 0 {
            push(self, "claude_code.pull_request.count", 1.into(), base(&[]));
        }
        // Quarter seconds: exact in binary, so sums do not depend on their order.
        let user_s = (1 + self.rng.next(20_000)) as f64 / 4.0;
        push(self, "claude_code.active_time.total", user_s.into(), base(&[("type", "user".into())]));
        let cli_s = (1 + self.rng.next(8_000)) as f64 / 4.0;
        push(self, "claude_code.active_time.total", cli_s.into(), base(&[("type", "cli".into())]));
        for _ in 0..self.rng.next(4) {
            let decision = if self.rng.next(5) == 0 { "reject" } else { "accept" };
            let language = languages[self.rng.next(languages.len() as u64) as usize];
            push(
                self,
                "claude_code.code_edit_tool.decision",
                1.into(),
                base(&[
                    ("decision", decision.into()),
                    ("language", language.into()),
                    ("source", "config".into()),
                    ("tool_name", "Edit".into()),
                ]),
            );
        }
        push(self, "claude_code.cost.usage", 0.0125.into(), base(std::slice::from_ref(&model)));
        push(self, "claude_code.token.usage", 1200.into(), base(&[model.clone(), ("type", "input".into())]));
    }
}

/// Teams and their people in each window: platform 5 (4 last week), payments 3 (1 last week),
/// design 2, sre 1, and 3 people without a team (2 last week); a language one person uses.
fn corpus() -> String {
    let mut w = Writer { rng: Rng(0x9e37_79b9_7f4a_7c15), id: 0, lines: Vec::new() };
    let common = ["Rust", "Python", "TypeScript"];
    let people: [(&[u32], &[u32], Option<&str>); 5] = [
        (&[1, 2, 3, 4, 5], &[1, 2, 3, 4], Some("platform")),
        (&[10, 11, 12], &[10], Some("payments")),
        (&[20, 21], &[20, 21], Some("design")),
        (&[30], &[30], Some("sre")),
        (&[40, 41, 42], &[40, 41], None),
    ];
    for (window, pick) in [(0, 0), (1, 1)] {
        for (cur, prev, team) in people {
            let users = if pick == 0 { cur } else { prev };
            for user in users {
                for day in [0, 2, 3, 6] {
                    let languages: &[&str] = if *user == 30 { &["Fortran"] } else { &common };
                    w.day(*user, team, window, day, languages);
                }
            }
        }
    }
    // A retried write: the same lines again (counted once), and some event lines besides.
    let again: Vec<String> = w.lines.iter().step_by(17).cloned().collect();
    w.lines.extend(again);
    w.lines.push(format!(
        r#"{{"body":"claude_code.user_prompt","attributes":{{"event.name":"user_prompt","prompt_length":5,"session.id":"00000000-0000-4000-8000-000000000001","user.pseudonym":"0000000000000001"}},"resource":{{"attributes":{{"team.id":"platform"}}}},"timeUnixNano":"{}","sourceEventId":"1"}}"#,
        PREVIOUS_START_NS + 8 * DAY_NS
    ));
    w.lines.join("\n") + "\n"
}

// ---------------------------------------------------------------- the recomputation

/// One team's (or language's) sums in one window, straight from the lines.
#[derive(Default, Clone)]
struct Acc {
    people: BTreeSet<String>,
    sums: BTreeMap<&'static str, f64>,
}

impl Acc {
    fn get(&self, key: &str) -> f64 {
        self.sums.get(key).copied().unwrap_or(0.0)
    }

    fn merge(&mut self, other: &Acc) {
        self.people.extend(other.people.iter().cloned());
        for (k, v) in &other.sums {
            *self.sums.entry(k).or_default() += v;
        }
    }
}

/// Per window (0 current, 1 previous): metric lines, teams and languages.
struct Windows {
    metric_lines: [u64; 2],
    teams: [BTreeMap<String, Acc>; 2],
    languages: [BTreeMap<String, Acc>; 2],
}

fn recompute(input: &str) -> Windows {
    let mut w = Windows { metric_lines: [0; 2], teams: Default::default(), languages: Default::default() };
    let end = PREVIOUS_START_NS + 14 * DAY_NS;
    let mut seen = HashSet::new();
    for line in input.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let t: u64 = v["timeUnixNano"].as_str().unwrap().parse().unwrap();
        if t < PREVIOUS_START_NS || t >= end || !seen.insert(v["sourceEventId"].as_str().unwrap().to_owned()) {
            continue;
        }
        let Some(metric) = v["metric"].as_str() else { continue };
        let i = usize::from(t < PREVIOUS_START_NS + 7 * DAY_NS);
        w.metric_lines[i] += 1;
        let a = &v["attributes"];
        let value = v["value"].as_f64().unwrap();
        let s = |key: &str| a[key].as_str().unwrap_or("");
        let sums: Vec<&'static str> = match (metric, s("type")) {
            ("claude_code.lines_of_code.count", "added") => vec!["lines_added"],
            ("claude_code.lines_of_code.count", "removed") => vec!["lines_removed"],
            ("claude_code.commit.count", _) => vec!["commits"],
            ("claude_code.pull_request.count", _) => vec!["pull_requests"],
            ("claude_code.active_time.total", "user") => vec!["active_seconds_user"],
            ("claude_code.active_time.total", "cli") => vec!["active_seconds_cli"],
            ("claude_code.session.count", _) => match s("start_type") {
                "agents_view" => continue,
                "fresh" => vec!["sessions", "sessions_fresh"],
                "continue" => vec!["sessions", "sessions_continue"],
                "resume" => vec!["sessions", "sessions_resume"],
                _ => vec!["sessions"],
            },
            ("claude_code.code_edit_tool.decision", _) => match s("decision") {
                "accept" => vec!["edits_accepted"],
                "reject" => vec!["edits_rejected"],
                _ => vec![],
            },
            ("claude_code.lines_of_code.count" | "claude_code.active_time.total", _) => vec![],
            _ => continue,
        };
        let team = v["resource"]["attributes"]["team.id"].as_str().unwrap_or("(not set)").to_owned();
        let add = |map: &mut BTreeMap<String, Acc>, name: String| {
            let acc = map.entry(name).or_default();
            if let Some(p) = a["user.pseudonym"].as_str() {
                acc.people.insert(p.to_owned());
            }
            for k in &sums {
                *acc.sums.entry(k).or_default() += value;
            }
        };
        add(&mut w.teams[i], team);
        if metric == "claude_code.code_edit_tool.decision" {
            add(&mut w.languages[i], s("language").to_owned());
        }
    }
    w
}

/// docs/digest.md's rule for a breakdown of one name, written from the text: start from the
/// names of at least K people (the current window) or the current window's names (the
/// previous); while a block (each named row, and `other` = the rest) holds an event but fewer
/// than K people, fold the cheapest: for a small `other`, the named row of fewest people
/// (then name); for a small named row, that row alone when `other` has events, else with the
/// named row that adds the fewest people. Then, while `other` holds a single name, fold the
/// named row of fewest people (then name).
fn fold(data: &BTreeMap<String, Acc>, k: usize, mut named: BTreeSet<String>) -> BTreeSet<String> {
    let people = |n: &String| data.get(n).map_or(0, |a| a.people.len());
    loop {
        let rest: Vec<&String> = data.keys().filter(|n| !named.contains(*n)).collect();
        let rest_people: BTreeSet<&String> = rest.iter().flat_map(|n| &data[*n].people).collect();
        let small_named = named.iter().filter(|n| data.contains_key(*n)).find(|n| people(n) < k).cloned();
        if !rest.is_empty() && rest_people.len() < k {
            let Some(f) =
                named.iter().filter(|n| data.contains_key(*n)).min_by_key(|n| (people(n), (*n).clone())).cloned()
            else {
                return named;
            };
            named.remove(&f);
        } else if let Some(x) = small_named {
            named.remove(&x);
            if rest.is_empty() {
                let y =
                    named.iter().filter(|n| data.contains_key(*n)).min_by_key(|n| (people(n), (*n).clone())).cloned();
                if let Some(y) = y {
                    named.remove(&y);
                }
            }
        } else if rest.len() == 1 && !named.is_empty() {
            let f = named.iter().min_by_key(|n| (people(n), (*n).clone())).cloned().unwrap();
            named.remove(&f);
        } else {
            return named;
        }
    }
}

fn tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn hundredth(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn change_pct(v: f64, p: f64) -> Value {
    if p > 0.0 { tenth(100.0 * (v - p) / p).into() } else { Value::Null }
}

/// A count, its previous figure (`None`: hidden) and change.
fn count(v: f64, p: Option<f64>) -> Value {
    match p {
        Some(p) => {
            json!({"value": v as u64, "previous": p as u64, "change": v as i64 - p as i64, "change_pct": change_pct(v, p)})
        }
        None => json!({"value": v as u64, "previous": null, "change": null, "change_pct": null}),
    }
}

fn hours(v: f64, p: Option<f64>) -> Value {
    let h = |s: f64| hundredth(s / 3600.0);
    match p {
        Some(p) => {
            json!({"value": h(v), "previous": h(p), "change": hundredth(h(v) - h(p)), "change_pct": change_pct(v, p)})
        }
        None => json!({"value": h(v), "previous": null, "change": null, "change_pct": null}),
    }
}

fn rate(yes: f64, no: f64) -> Option<f64> {
    (yes + no > 0.0).then(|| tenth(100.0 * yes / (yes + no)))
}

fn percent(v: Option<f64>, p: Option<f64>) -> Value {
    json!({"value": v, "previous": p, "change_pp": v.zip(p).map(|(v, p)| tenth(v - p))})
}

fn team_figures(c: &Acc, p: Option<&Acc>) -> Map<String, Value> {
    let mut m = Map::new();
    for key in ["lines_added", "lines_removed", "commits", "pull_requests"] {
        m.insert(key.into(), count(c.get(key), p.map(|p| p.get(key))));
    }
    m.insert("active_hours_user".into(), hours(c.get("active_seconds_user"), p.map(|p| p.get("active_seconds_user"))));
    m.insert("active_hours_cli".into(), hours(c.get("active_seconds_cli"), p.map(|p| p.get("active_seconds_cli"))));
    for key in
        ["sessions", "sessions_fresh", "sessions_continue", "sessions_resume", "edits_accepted", "edits_rejected"]
    {
        m.insert(key.into(), count(c.get(key), p.map(|p| p.get(key))));
    }
    let r = |a: &Acc| rate(a.get("edits_accepted"), a.get("edits_rejected"));
    m.insert("edit_acceptance_pct".into(), percent(r(c), p.and_then(r)));
    m
}

fn edit_figures(c: &Acc, p: Option<&Acc>) -> Map<String, Value> {
    let decisions = |a: &Acc| a.get("edits_accepted") + a.get("edits_rejected");
    let r = |a: &Acc| rate(a.get("edits_accepted"), a.get("edits_rejected"));
    let mut m = Map::new();
    m.insert("decisions".into(), count(decisions(c), p.map(decisions)));
    m.insert("accepted".into(), count(c.get("edits_accepted"), p.map(|p| p.get("edits_accepted"))));
    m.insert("rejected".into(), count(c.get("edits_rejected"), p.map(|p| p.get("edits_rejected"))));
    m.insert("acceptance_pct".into(), percent(r(c), p.and_then(r)));
    m
}

type Figures = fn(&Acc, Option<&Acc>) -> Map<String, Value>;

/// `{users, total, <rows_key>: {rows, other}}` of one breakdown, as docs/digest.md defines it.
fn breakdown(data: &[BTreeMap<String, Acc>; 2], k: usize, rows_key: &str, figures: Figures) -> Map<String, Value> {
    let [cur, prev] = data;
    let all = |m: &BTreeMap<String, Acc>| {
        m.values().fold(Acc::default(), |mut a, b| {
            a.merge(b);
            a
        })
    };
    let (ca, pa) = (all(cur), all(prev));
    let large: BTreeSet<String> = cur.iter().filter(|(_, a)| a.people.len() >= k).map(|(n, _)| n.clone()).collect();
    let named_cur = fold(cur, k, large);
    let named_prev = fold(prev, k, named_cur.clone());
    let empty = Acc::default();
    let mut rows = Map::new();
    for name in &named_cur {
        let c = &cur[name];
        let p = named_prev.contains(name).then(|| prev.get(name).unwrap_or(&empty));
        let mut row = figures(c, p);
        row.insert("users".into(), count(c.people.len() as f64, p.map(|p| p.people.len() as f64)));
        rows.insert(name.clone(), Value::Object(row));
    }
    let rest = |m: &BTreeMap<String, Acc>, named: &BTreeSet<String>| {
        let names: Vec<&Acc> = m.iter().filter(|(n, _)| !named.contains(*n)).map(|(_, a)| a).collect();
        let mut acc = Acc::default();
        names.iter().for_each(|a| acc.merge(a));
        (names.len(), acc)
    };
    let (n, o) = rest(cur, &named_cur);
    let (pn, po) = rest(prev, &named_prev);
    let shown = |n: usize, a: &Acc| n >= 2 && a.people.len() >= k;
    let other = if shown(n, &o) {
        let p = if pn == 0 { Some(&empty) } else { shown(pn, &po).then_some(&po) };
        let mut row = figures(&o, p);
        row.insert("groups".into(), n.into());
        row.insert("users".into(), count(o.people.len() as f64, p.map(|p| p.people.len() as f64)));
        Value::Object(row)
    } else {
        Value::Null
    };
    let mut out = Map::new();
    out.insert("users".into(), count(ca.people.len() as f64, Some(pa.people.len() as f64)));
    out.insert("total".into(), Value::Object(figures(&ca, Some(&pa))));
    out.insert(rows_key.into(), json!({"rows": rows, "other": other}));
    out
}

fn expected(input: &str, k: usize) -> Value {
    let w = recompute(input);
    let lines = [w.metric_lines[0] as f64, w.metric_lines[1] as f64];
    let mut out = breakdown(&w.teams, k, "by_team", team_figures);
    let mut edits = breakdown(&w.languages, k, "by_language", edit_figures);
    edits.remove("users").map(|u| edits.insert("users".into(), u));
    out.insert("edits".into(), Value::Object(edits));
    let mut c = count(lines[0], Some(lines[1]));
    c["change_pct"] = change_pct(lines[0], lines[1]);
    out.insert("metric_lines".into(), c);
    out.insert("unavailable".into(), Value::Null);
    Value::Object(out)
}

/// The digest's section against the recomputation: the same keys at every level, rows by
/// name (the recomputation keys them by name; `(not set)` for `null`), numbers exactly but
/// percentages (to 0.05, rounding of the last digit) and hours (to 0.005).
fn same(digest: &Value, re: &Value, path: &str) {
    match re {
        Value::Object(r) if r.contains_key("rows") => {
            let rows = digest["rows"].as_array().unwrap_or_else(|| panic!("{path}: no rows in {digest}"));
            let names: BTreeSet<String> =
                rows.iter().map(|row| row["name"].as_str().unwrap_or("(not set)").to_owned()).collect();
            assert_eq!(names, r["rows"].as_object().unwrap().keys().cloned().collect(), "{path}: the rows named");
            assert_eq!(names.len(), rows.len(), "{path}: a row named twice");
            for row in rows {
                let name = row["name"].as_str().unwrap_or("(not set)");
                let mut row = row.clone();
                row.as_object_mut().unwrap().remove("name");
                same(&row, &r["rows"][name], &format!("{path}.{name}"));
            }
            same(&digest["other"], &r["other"], &format!("{path}.other"));
        }
        Value::Object(r) => {
            let keys: BTreeSet<&String> =
                digest.as_object().unwrap_or_else(|| panic!("{path}: {digest}")).keys().collect();
            assert_eq!(keys, r.keys().collect(), "{path}: the figures");
            for (key, v) in r {
                same(&digest[key], v, &format!("{path}.{key}"));
            }
        }
        Value::Number(n) => {
            let d = digest.as_f64().unwrap_or_else(|| panic!("{path}: {digest} vs {re}"));
            let tolerance = if path.contains("_pct") {
                0.05 + 1e-9
            } else if path.contains("hours") {
                0.005 + 1e-9
            } else {
                0.0
            };
            assert!((d - n.as_f64().unwrap()).abs() <= tolerance, "{path}: digest {d} vs recomputed {n}");
        }
        _ => assert_eq!(digest, re, "{path}"),
    }
}

#[test]
fn an_independent_recomputation_agrees_with_every_productivity_figure() {
    let input = corpus();
    for k in [3, 1, 2, 4] {
        let json = json_digest(&k.to_string(), &input);
        let re = expected(&input, k);
        same(&json["productivity"], &re, &format!("productivity (K={k})"));
    }
    // The corpus exercises what the rule is for (K = 3): sre (1 person) and design (2) are not
    // named but added up in `other`; payments is named, its previous week (1 person) hidden;
    // Fortran (one person) is not named; agents_view sessions and spend metrics are not counted.
    let json = json_digest("3", &input);
    let p = &json["productivity"];
    let teams: Vec<&str> =
        p["by_team"]["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap_or("-")).collect();
    assert_eq!(teams.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from(["platform", "payments", "-"]));
    assert_eq!(p["by_team"]["other"]["groups"], 2);
    let payments = p["by_team"]["rows"].as_array().unwrap().iter().find(|r| r["name"] == "payments").unwrap();
    assert_eq!(payments["lines_added"]["previous"], Value::Null);
    assert!(payments["lines_added"]["value"].as_u64().unwrap() > 0);
    let platform = p["by_team"]["rows"].as_array().unwrap().iter().find(|r| r["name"] == "platform").unwrap();
    assert!(
        platform["lines_added"]["previous"].as_u64().unwrap() > 0 && platform["lines_added"]["change_pct"].is_number()
    );
    assert!(!digest("json", "3", &input).contains("Fortran"));
    assert!(
        p["total"]["sessions"]["value"].as_u64().unwrap() > 0 && p["total"]["commits"]["value"].as_u64().unwrap() > 0
    );
    assert!(input.contains("agents_view") && input.contains("claude_code.cost.usage"));
    // Every line was used or a duplicate: none refused.
    assert_eq!(json["input"]["refused"], 0, "{}", json["input"]);
    assert!(json["input"]["duplicates"].as_u64().unwrap() > 10);
}

/// A team of 1 and a team of 2 (K = 3), with figures of their own: not named in any format,
/// and none of their figures is shown or a sum or difference of up to three numbers the
/// productivity tables show. With K = 1 both are named and found.
#[test]
fn teams_of_fewer_than_k_people_cannot_be_worked_out() {
    let mut lines = Vec::new();
    let mut id = 0;
    let t0 = PREVIOUS_START_NS + 8 * DAY_NS;
    let mut person = |user: u32, team: &str, added: u64, commits: u64, lines: &mut Vec<String>| {
        let session = ("session.id", Value::from(format!("00000000-0000-4000-8000-{user:012x}")));
        let pseudonym = ("user.pseudonym", Value::from(format!("{user:016x}")));
        let loc = [session.clone(), ("type", "added".into()), pseudonym.clone()];
        id += 1;
        lines.push(metric_line(
            "claude_code.lines_of_code.count",
            added.into(),
            &loc,
            Some(team),
            t0 + id * 1_000_000_000,
            id,
        ));
        id += 1;
        let commit = [session, pseudonym];
        lines.push(metric_line(
            "claude_code.commit.count",
            commits.into(),
            &commit,
            Some(team),
            t0 + id * 1_000_000_000,
            id,
        ));
    };
    for u in 1..=5 {
        person(u, "platform", 1000, 4, &mut lines);
    }
    for u in 10..=12 {
        person(u, "payments", 700, 5, &mut lines);
    }
    person(20, "design", 2000, 409, &mut lines);
    person(21, "design", 2177, 388, &mut lines);
    person(30, "sre", 613, 311, &mut lines);
    let input = lines.join("\n") + "\n";
    let hidden = [("design lines", 4177.0), ("sre lines", 613.0), ("design commits", 797.0), ("sre commits", 311.0)];
    for format in ["json", "markdown", "slack", "html"] {
        let s = digest(format, "3", &input);
        for name in ["design", "sre"] {
            assert!(!s.contains(name), "{format}: {name} is named");
        }
        let shown = productivity_numbers(format, &s);
        assert!(shown.contains(&5000.0) && shown.contains(&11890.0), "{format}: the tables are read: {shown:?}");
        for (what, n) in hidden {
            if let Some(how) = derivable(n, &shown) {
                panic!("{format}: {what} {n} is {how}\n{s}");
            }
        }
    }
    let json = json_digest("1", &input);
    let rows = json["productivity"]["by_team"]["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["name"] == "design" && r["lines_added"]["value"] == 4177));
    assert!(rows.iter().any(|r| r["name"] == "sre" && r["commits"]["value"] == 311));
}

/// Every number of the productivity part of a rendered digest.
fn productivity_numbers(format: &str, s: &str) -> Vec<f64> {
    let integers = |text: &str| -> Vec<f64> {
        text.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
            .filter_map(|w| w.replace(',', "").trim_matches('.').parse::<f64>().ok())
            .collect()
    };
    match format {
        "json" => {
            fn walk(v: &Value, out: &mut Vec<f64>) {
                match v {
                    Value::Object(m) => m.values().for_each(|v| walk(v, out)),
                    Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                    Value::Number(n) => out.push(n.as_f64().unwrap()),
                    _ => {}
                }
            }
            let mut out = Vec::new();
            walk(&serde_json::from_str::<Value>(s).unwrap()["productivity"], &mut out);
            out
        }
        "markdown" => integers(&s[s.find("## Code by team").unwrap()..]),
        "slack" => {
            let payload: Value = serde_json::from_str(s).unwrap();
            payload["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
                .filter(|t| t.starts_with("*Code") || t.starts_with("*Active time") || t.starts_with("*Code-edit"))
                .flat_map(integers)
                .collect()
        }
        _ => integers(&s[s.find("id=\"productivity-code\"").unwrap()..]),
    }
}

/// Whether `hidden` is a shown number, or a sum or difference of up to three of them.
fn derivable(hidden: f64, shown: &[f64]) -> Option<String> {
    let mut shown: Vec<f64> = shown.iter().copied().filter(|x| *x > 0.0).collect();
    shown.sort_by(f64::total_cmp);
    shown.dedup();
    let n = shown.len();
    let near = |x: f64| (x - hidden).abs() < 1e-6;
    for i in 0..n {
        if near(shown[i]) {
            return Some(format!("{}", shown[i]));
        }
        for j in (0..n).filter(|j| *j != i) {
            for sj in [1.0, -1.0] {
                if near(shown[i] + sj * shown[j]) {
                    return Some(format!("{} {sj:+} × {}", shown[i], shown[j]));
                }
                for l in (0..n).filter(|l| *l != i && *l != j) {
                    for sl in [1.0, -1.0] {
                        if near(shown[i] + sj * shown[j] + sl * shown[l]) {
                            return Some(format!("{} {sj:+} × {} {sl:+} × {}", shown[i], shown[j], shown[l]));
                        }
                    }
                }
            }
        }
    }
    None
}

/// The change against the previous window, by hand: 120 lines added this week, 80 the week
/// before (+50 %), for one team of 3 people in both.
#[test]
fn the_previous_window_gives_the_change() {
    let mut lines = Vec::new();
    for (window, per_person) in [(0_u64, 40_u64), (1, 80 / 3)] {
        for user in 1..=3_u64 {
            let value = if window == 1 && user == 3 { 80 - 2 * per_person } else { per_person };
            let t = PREVIOUS_START_NS + (7 * (1 - window) + 1) * DAY_NS + user * 1_000_000_000;
            let attrs = [("type", Value::from("added")), ("user.pseudonym", format!("{user:016x}").into())];
            lines.push(metric_line(
                "claude_code.lines_of_code.count",
                value.into(),
                &attrs,
                Some("platform"),
                t,
                window * 10 + user,
            ));
        }
    }
    let json = json_digest("3", &(lines.join("\n") + "\n"));
    let p = &json["productivity"];
    let row = &p["by_team"]["rows"][0];
    assert_eq!(row["name"], "platform");
    assert_eq!(row["lines_added"], json!({"value": 120, "previous": 80, "change": 40, "change_pct": 50.0}));
    assert_eq!(p["total"]["lines_added"], row["lines_added"]);
    assert_eq!(p["metric_lines"], json!({"value": 3, "previous": 3, "change": 0, "change_pct": 0.0}));
    assert_eq!(row["users"]["value"], 3);
    let md = digest("markdown", "3", &(lines.join("\n") + "\n"));
    assert!(md.contains("| `platform` | 3 (0.0 %) | 120 (+50.0 %) |"), "{md}");
}

/// Without metric lines in the window (event lines only, or metrics only last week), every
/// format says in one line how to get them, and shows no productivity figure.
#[test]
fn a_window_without_metric_lines_says_how_to_get_them() {
    let events = std::fs::read_to_string(root().join("fixtures/digest/two-weeks.ndjson")).unwrap();
    let last_week = metric_line(
        "claude_code.commit.count",
        3.into(),
        &[("user.pseudonym", "00000000000000aa".into())],
        Some("platform"),
        PREVIOUS_START_NS + DAY_NS,
        77,
    );
    for input in [events.clone(), format!("{events}{last_week}\n")] {
        let json = json_digest("3", &input);
        let p = json["productivity"].as_object().unwrap();
        assert_eq!(p["unavailable"], UNAVAILABLE);
        assert_eq!(
            p.keys().collect::<BTreeSet<_>>(),
            BTreeSet::from([&"metric_lines".to_owned(), &"unavailable".to_owned()])
        );
        assert_eq!(p["metric_lines"]["value"], 0);
        let md = digest("markdown", "3", &input);
        let part = &md[md.find("## Productivity").expect("a productivity part")..];
        assert!(part.starts_with(&format!("## Productivity\n\n{UNAVAILABLE}\n")), "{part}");
        assert!(!md.contains("## Code by team"));
        let slack = digest("slack", "3", &input);
        assert!(slack.contains(&format!("*Productivity*\\n{UNAVAILABLE}")), "{slack}");
        let html = digest("html", "3", &input);
        assert!(html.contains(UNAVAILABLE) && !html.contains("id=\"productivity-code\""));
    }
}

/// Metric lines the sanitizer would not write are refused by reason and never echoed.
#[test]
fn forged_metric_lines_are_refused_and_never_echoed() {
    let t = PREVIOUS_START_NS + 8 * DAY_NS;
    let good = metric_line(
        "claude_code.commit.count",
        2.into(),
        &[("user.pseudonym", "00000000000000aa".into())],
        Some("platform"),
        t,
        1,
    );
    let forged = [
        good.replace("claude_code.commit.count", "claude_code.CANARY.count"),
        good.replace("\"user.pseudonym\"", "\"user.email\"").replace("00000000000000aa", "CANARY@example.com"),
        good.replace("\"platform\"", "\"CANARY x\""),
        good.replace("\"value\":2", "\"value\":\"CANARY\""),
        good.replace("\"value\":2", "\"value\":-2"),
        good.replace("\"metric\"", "\"body\":\"CANARY\",\"metric\""),
        good.replace(",\"startTimeUnixNano\":\"", ",\"CANARY\":\"1\",\"startTimeUnixNano\":\""),
        good.replace("\"startTimeUnixNano\":\"", "\"startTimeUnixNano\":\"CANARY"),
        good.replace("\"value\":2,", ""),
    ];
    let input = std::iter::once(good.clone()).chain(forged.iter().cloned()).collect::<Vec<_>>().join("\n") + "\n";
    let out = run(&["digest", "--until", UNTIL, "--format", "json"], input.as_bytes());
    assert!(out.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("CANARY") && !stderr.contains("CANARY"));
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["input"]["used"], 1);
    assert_eq!(json["input"]["refused"], forged.len() as u64, "{}", json["input"]);
    assert_eq!(json["productivity"]["total"]["commits"]["value"], 2);
}

/// fixtures/digest/metric-lines.ndjson (the HTML test's metric lines, tests/digest_html.rs) is
/// this file's corpus. Refresh with `UPDATE_METRIC_LINES=1 cargo test --test digest_productivity`.
#[test]
fn the_metric_lines_fixture_is_the_corpus() {
    let path = root().join("fixtures/digest/metric-lines.ndjson");
    if std::env::var_os("UPDATE_METRIC_LINES").is_some() {
        std::fs::write(&path, corpus()).unwrap();
    }
    assert!(std::fs::read_to_string(&path).unwrap() == corpus(), "{} is stale", path.display());
}

/// The real client's recorded metrics request (fixtures/record/raw-metrics/commit_pr: a session
/// that edits a file, commits and opens a pull request), through `sanitize --otlp` (the
/// endpoint's own path) and then `digest`: 10 lines added, 1 removed, 1 commit, 1 pull request,
/// one fresh session, for its team; every line the CLI printed is used.
#[test]
fn the_recorded_commit_and_pull_request_give_their_figures() {
    for variant in ["json-delta", "protobuf-delta"] {
        let dir = root().join("fixtures/record/raw-metrics/commit_pr").join(variant);
        let mut bodies: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".json") || n.ends_with(".pb") || n.ends_with(".bin"))
            })
            .collect();
        bodies.sort();
        assert!(!bodies.is_empty(), "no request body in {}", dir.display());
        let out = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
            .args(["sanitize", "--otlp"])
            .args(&bodies)
            .env("PSEUDONYM_KEY", "digest-productivity test key, 32 bytes or more")
            .output()
            .unwrap();
        assert!(out.status.success(), "sanitize --otlp: {}", String::from_utf8_lossy(&out.stderr));
        let lines = String::from_utf8(out.stdout).unwrap();
        let n = lines.lines().filter(|l| l.starts_with("{\"metric\":")).count() as u64;
        assert!(n >= 5, "{variant}: metric lines printed: {lines}");
        let out = run(
            &["digest", "--until", "2026-12-05T00:00:00Z", "--format", "json", "--min-group-size", "1"],
            lines.as_bytes(),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["input"]["used"], n, "{variant}: every line used: {}", json["input"]);
        let p = &json["productivity"];
        assert_eq!(p["metric_lines"]["value"], n);
        let total = &p["total"];
        let figures: Vec<(&str, u64)> =
            ["lines_added", "lines_removed", "commits", "pull_requests", "sessions", "sessions_fresh"]
                .iter()
                .map(|k| (*k, total[k]["value"].as_u64().unwrap()))
                .collect();
        assert_eq!(
            figures,
            [
                ("lines_added", 10),
                ("lines_removed", 1),
                ("commits", 1),
                ("pull_requests", 1),
                ("sessions", 1),
                ("sessions_fresh", 1)
            ],
            "{variant}"
        );
        assert!(total["active_hours_cli"]["value"].as_f64().is_some());
        let teams = p["by_team"]["rows"].as_array().unwrap();
        assert_eq!(teams.len(), 1, "{variant}: one team");
        assert_eq!(teams[0]["lines_added"]["value"], 10);
        assert_eq!(p["users"]["value"], 1);
    }
}
