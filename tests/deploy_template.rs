//! Checks on `template.yaml` that cfn-lint and `sam validate` cannot make:
//!
//! 1. **Fields.** Every `attributes.*` / `resource.attributes.*` field that the dashboard and the
//!    saved Logs Insights queries read is a field the sanitizer really writes for the fixtures,
//!    and, for a query restricted to some events (`attributes.event.name = 'x'` or `in [...]`),
//!    one the allowlist keeps on one of those events and the sanitizer writes on one of them for
//!    the fixtures. The queries read the fields the project exists for (cost, tokens, model, user,
//!    skill, subagent, MCP server), so this cannot pass on an empty dashboard.
//! 2. **IAM.** The function's role grants exactly: create streams in and put events to the
//!    sanitized group (and its own log group), read the pseudonym secret, send to the failure
//!    queue. No wildcard action, no `*` resource, no managed policy.
//! 3. **Small groups.** Every query that groups by an org attribute (team, department, cost
//!    center, organization) or by a plugin or marketplace counts distinct people only and ends in
//!    `filter users >= MinGroupUsers`. Permission modes show people only as a count, and the
//!    activity by hour of day never names or counts a person.
//! 4. **Spend.** The function's EMF line carries the spend it wrote (golden, for a recorded
//!    fixture), and the budget alarms read exactly the metric it emits: same namespace, same
//!    name, same (empty) dimension set.
//!
//! The template uses CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`, ...). It is
//! parsed with `saphyr`, a maintained pure-Rust YAML 1.2 parser that keeps unknown local tags as
//! `Yaml::Tagged` instead of rejecting them, and turned into the long form (`{"Fn::Sub": ...}`) as
//! JSON, so every check below reads one uniform shape whichever form the template uses.

mod cfn;

use cfn::{
    ACCOUNT, REGION, Stack, assert_exact, check_exact, granted, grants, identities, leaf_paths, parse_template,
    referenced_fields, resources, sanitizer_output_paths, trust,
};
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer, decode_envelope};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../template.yaml");

// ------------------------------------------------------------------ template loading

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    resources(t).iter().filter(|(_, r)| r["Type"] == ty).collect()
}

// ------------------------------------------------------------------ resolving strings

/// Resolves a string-valued template expression for reading, not for deploying: `Fn::FindInMap`
/// is looked up in Mappings, `Fn::Sub` is expanded with its variable map, and a `Ref` or a
/// `${Name}` that is not a Sub variable becomes the placeholder `{Name}`.
fn resolve(t: &Value, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.len() == 1 => {
            let (k, arg) = o.iter().next().expect("one key");
            match k.as_str() {
                "Ref" => format!("{{{}}}", arg.as_str().expect("Ref takes a name")),
                "Fn::GetAtt" => format!(
                    "{{{}.{}}}",
                    arg[0].as_str().expect("GetAtt resource"),
                    arg[1].as_str().expect("GetAtt attribute")
                ),
                "Fn::FindInMap" => {
                    let path: Vec<&str> = (0..3).map(|i| arg[i].as_str().expect("literal FindInMap keys")).collect();
                    t["Mappings"][path[0]][path[1]][path[2]]
                        .as_str()
                        .unwrap_or_else(|| panic!("no mapping {path:?}"))
                        .to_string()
                }
                "Fn::Sub" => {
                    let (body, vars) = match arg {
                        Value::String(s) => (s.as_str(), Map::new()),
                        Value::Array(a) => {
                            (a[0].as_str().expect("Sub body"), a[1].as_object().expect("Sub variables").clone())
                        }
                        other => panic!("unexpected Fn::Sub argument {other}"),
                    };
                    substitute(body, |name| match vars.get(name) {
                        Some(v) => resolve(t, v),
                        None => format!("{{{name}}}"),
                    })
                }
                other => panic!("cannot resolve {other} to a string"),
            }
        }
        other => panic!("cannot resolve {other} to a string"),
    }
}

/// Expands `${Name}` through `lookup`; `${!Literal}` stays `${Literal}`, as in CloudFormation.
fn substitute(body: &str, lookup: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').expect("unterminated ${ in Fn::Sub");
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&lookup(name)),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------------ queries and fields

/// One Logs Insights query the template defines, and where.
#[derive(Debug)]
struct Query {
    origin: String,
    text: String,
}

/// The queries of the `AWS::Logs::QueryDefinition`s, each checked to read the sanitized group only.
fn saved_queries(t: &Value) -> Vec<Query> {
    resources_of_type(t, "AWS::Logs::QueryDefinition")
        .into_iter()
        .map(|(name, r)| {
            let p = &r["Properties"];
            assert_eq!(
                p["LogGroupNames"],
                json!([{"Ref": "SanitizedLogGroup"}]),
                "{name} must read the sanitized log group and nothing else"
            );
            Query { origin: name.clone(), text: resolve(t, &p["QueryString"]) }
        })
        .collect()
}

/// The queries of the dashboards' Logs Insights widgets. Also checks that the body is valid JSON
/// once substituted and that every log widget reads the sanitized group only.
fn dashboard_queries(t: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for (name, r) in resources_of_type(t, "AWS::CloudWatch::Dashboard") {
        let body = resolve(t, &r["Properties"]["DashboardBody"]);
        let body: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{name}: DashboardBody is not valid JSON after substitution: {e}"));
        for (i, w) in body["widgets"].as_array().expect("widgets").iter().enumerate() {
            if w["type"] != "log" {
                continue;
            }
            let q = w["properties"]["query"].as_str().expect("log widget has a query");
            let q = q
                .strip_prefix("SOURCE '{SanitizedLogGroup}' | ")
                .unwrap_or_else(|| panic!("{name} widget {i} must read only the sanitized group: {q}"));
            out.push(Query { origin: format!("{name} widget {i}"), text: q.to_string() });
        }
    }
    out
}

/// Fields the dashboard and the saved queries must read, so the check cannot pass vacuously.
/// Each entry is satisfied by any one of its alternatives.
const MISSION_FIELDS: &[(&str, &[&str])] = &[
    ("cost", &["attributes.cost_usd"]),
    ("input tokens", &["attributes.input_tokens"]),
    ("output tokens", &["attributes.output_tokens"]),
    ("cache read tokens", &["attributes.cache_read_tokens"]),
    ("cache creation tokens", &["attributes.cache_creation_tokens"]),
    ("model", &["attributes.model"]),
    ("pseudonymous user", &["attributes.user.pseudonym"]),
    ("skill", &["attributes.skill.name", "attributes.tool.skill_name"]),
    ("subagent", &["attributes.agent_type", "attributes.tool.subagent_type", "attributes.agent.name"]),
    ("MCP server", &["attributes.tool.mcp_server_name", "attributes.mcp_server.name"]),
    ("session", &["attributes.session.id"]),
    ("plan", &["resource.attributes.user.plan"]),
    ("surface", &["attributes.terminal.type"]),
    ("team", &["resource.attributes.team.id"]),
    ("department", &["resource.attributes.department"]),
    ("cost center", &["resource.attributes.cost_center"]),
    ("API error status", &["attributes.status_code"]),
];

fn missing_mission_fields(read: &BTreeSet<String>) -> Vec<&'static str> {
    MISSION_FIELDS
        .iter()
        .filter(|(_, alternatives)| !alternatives.iter().any(|f| read.contains(*f)))
        .map(|(what, _)| *what)
        .collect()
}

/// Fields read by the template, each with the queries that read it.
fn template_fields(t: &Value) -> BTreeMap<String, Vec<String>> {
    let saved = saved_queries(t);
    let dash = dashboard_queries(t);
    assert!(!saved.is_empty(), "template.yaml defines no AWS::Logs::QueryDefinition");
    assert!(!dash.is_empty(), "template.yaml's dashboard has no Logs Insights widget");
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Queries of metric lines are checked against the metrics' fields instead (metric_field_problems).
    for q in saved.iter().chain(&dash).filter(|q| filtered_metrics(&q.text).is_none()) {
        for f in referenced_fields(&q.text) {
            fields.entry(f).or_default().push(q.origin.clone());
        }
    }
    fields
}

#[test]
fn dashboard_and_saved_queries_read_only_fields_the_sanitizer_writes() {
    let t = parse_template(TEMPLATE);
    let read = template_fields(&t);
    let written = sanitizer_output_paths();
    let missing: Vec<String> = read
        .iter()
        .filter(|(f, _)| !written.contains(*f))
        .map(|(f, by)| format!("  {f} (read by {})", by.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml reads fields the sanitizer never writes for the fixtures:\n{}\n\
         fields it writes: {:?}",
        missing.join("\n"),
        written.iter().filter(|p| p.contains("attributes.")).collect::<Vec<_>>()
    );
}

/// The events a query is restricted to: the names of every `attributes.event.name = '...'` and
/// `attributes.event.name in [...]` in it (a subquery's included); `None` when it names none.
fn filtered_events(query: &str) -> Option<BTreeSet<String>> {
    let filter = regex::Regex::new(r"attributes\.event\.name\s*(?:=\s*'([^']*)'|in\s*\[([^\]]*)\])").expect("regex");
    let quoted = regex::Regex::new(r"'([^']*)'").expect("regex");
    let mut events = BTreeSet::new();
    for c in filter.captures_iter(query) {
        if let Some(one) = c.get(1) {
            events.insert(one.as_str().to_string());
        }
        if let Some(list) = c.get(2) {
            events.extend(quoted.captures_iter(list.as_str()).map(|q| q[1].to_string()));
        }
    }
    (!events.is_empty()).then_some(events)
}

/// Per event name, every leaf path the sanitizer writes on events of that name for the fixture
/// payloads (as `cfn::sanitizer_output_paths`, kept apart by event).
fn written_by_event() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json")
                && path.file_name().is_some_and(|n| n != "inventory.json")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"), &mut files);
    files.sort();
    let key = PseudonymKey::new(b"deployment-test key, 32 bytes or more....").expect("test key");
    let sanitizer = Sanitizer::new(Allowlist::embedded(), Some(key));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Ok(payload) = decode_envelope(&std::fs::read(file).expect("read fixture"), DEFAULT_MAX_DECOMPRESSED_BYTES)
        else {
            continue;
        };
        for e in sanitizer.sanitize_payload(&payload).events {
            let msg: Value = serde_json::from_str(&e.message).expect("sanitized message is JSON");
            let name = msg["attributes"]["event.name"].as_str().expect("every written event has a name").to_string();
            leaf_paths("", &msg, out.entry(name).or_default());
        }
    }
    assert!(out.len() >= 10, "the fixtures produce few event types: {:?}", out.keys());
    out
}

/// Per field a query may read, the events the allowlist keeps it on (`None`: every kept event).
fn kept_on(allowlist: &Allowlist) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let events = allowlist.events();
    let mut out = BTreeMap::new();
    for (key, kind) in allowlist.attribute_kinds() {
        let on: BTreeSet<String> = events.iter().filter(|e| kind.kept_on(e)).cloned().collect();
        out.insert(format!("attributes.{key}"), (on.len() < events.len()).then_some(on));
    }
    for (key, kind) in allowlist.resource_kinds() {
        assert!(events.iter().all(|e| kind.kept_on(e)), "resource attributes are kept on every event");
        out.insert(format!("resource.attributes.{key}"), None);
    }
    out
}

/// The problems with the fields `t`'s queries read on the events they filter: an event the
/// allowlist does not keep, a field it keeps on none of the query's events, or one the sanitizer
/// writes on none of them for the fixtures (`written`).
fn event_field_problems(t: &Value, allowlist: &Allowlist, written: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let kept = kept_on(allowlist);
    let all: BTreeSet<String> = allowlist.events().iter().cloned().collect();
    let mut problems = Vec::new();
    for q in all_queries(t).into_iter().filter(|q| filtered_metrics(&q.text).is_none()) {
        let events = filtered_events(&q.text).unwrap_or_else(|| all.clone());
        for e in events.difference(&all) {
            problems.push(format!("{}: filters on {e}, an event the allowlist does not keep", q.origin));
        }
        for f in referenced_fields(&q.text) {
            match kept.get(&f) {
                None => problems.push(format!("{}: reads {f}, which the allowlist does not keep", q.origin)),
                Some(Some(on)) if on.is_disjoint(&events) => problems
                    .push(format!("{}: reads {f} on {events:?}, but the allowlist keeps it only on {on:?}", q.origin)),
                Some(_) => {}
            }
            if !events.iter().any(|e| written.get(e).is_some_and(|w| w.contains(&f))) {
                problems.push(format!("{}: reads {f}, which the sanitizer writes on none of {events:?}", q.origin));
            }
        }
    }
    problems
}

#[test]
fn each_query_reads_only_fields_kept_on_the_events_it_filters() {
    let t = parse_template(TEMPLATE);
    let problems = event_field_problems(&t, &Allowlist::embedded(), &written_by_event());
    assert!(problems.is_empty(), "fields read on events that never carry them:\n  {}", problems.join("\n  "));
    // Every query says which events (or metrics) it reads, so the checks are never the loose ones.
    for q in all_queries(&t) {
        let (events, metrics) = (filtered_events(&q.text), filtered_metrics(&q.text));
        assert!(events.is_some() != metrics.is_some(), "{} names no event or metric, or both: {}", q.origin, q.text);
    }
}

/// The metrics a query of metric lines is restricted to: the names of every `metric = '...'`
/// and `metric in [...]` in it (`metric` is the top-level key of a metric line); `None` when
/// it names none.
fn filtered_metrics(query: &str) -> Option<BTreeSet<String>> {
    let filter = regex::Regex::new(r"(?:^|[^.\w])metric\s*(?:=\s*'([^']*)'|in\s*\[([^\]]*)\])").expect("regex");
    let quoted = regex::Regex::new(r"'([^']*)'").expect("regex");
    let mut metrics = BTreeSet::new();
    for c in filter.captures_iter(query) {
        if let Some(one) = c.get(1) {
            metrics.insert(one.as_str().to_string());
        }
        if let Some(list) = c.get(2) {
            metrics.extend(quoted.captures_iter(list.as_str()).map(|q| q[1].to_string()));
        }
    }
    (!metrics.is_empty()).then_some(metrics)
}

/// What a metric line may carry: the allowlist's `[metrics]` section (the metrics kept, and per
/// data-point attribute the metrics it is kept on, `None`: every one). It keeps contract 2's
/// eight metrics of issue 22.
fn metric_outputs(allowlist: &Allowlist) -> (BTreeSet<String>, BTreeMap<String, Option<BTreeSet<String>>>) {
    let names: BTreeSet<String> = allowlist.metric_names().iter().cloned().collect();
    for m in ["session.count", "lines_of_code.count", "commit.count", "pull_request.count", "active_time.total"] {
        assert!(names.contains(&format!("claude_code.{m}")), "the allowlist keeps no claude_code.{m}");
    }
    let on = allowlist
        .metric_attribute_kinds()
        .map(|(key, kind)| {
            let only: BTreeSet<String> = names.iter().filter(|m| kind.kept_on(m)).cloned().collect();
            (format!("attributes.{key}"), (only.len() < names.len()).then_some(only))
        })
        .collect();
    (names, on)
}

/// The problems with the fields `t`'s queries of metric lines read: a metric not kept, a query
/// that mixes events and metrics, an attribute no metric line carries or one not kept on any
/// of the metrics the query filters, a resource attribute the allowlist does not keep.
fn metric_field_problems(t: &Value, allowlist: &Allowlist) -> Vec<String> {
    let (kept, on) = metric_outputs(allowlist);
    let resource: BTreeSet<String> =
        allowlist.resource_kinds().map(|(k, _)| format!("resource.attributes.{k}")).collect();
    let mut problems = Vec::new();
    for q in all_queries(t) {
        let Some(metrics) = filtered_metrics(&q.text) else { continue };
        if filtered_events(&q.text).is_some() {
            problems.push(format!("{}: filters on events and metrics at once", q.origin));
        }
        for m in metrics.difference(&kept) {
            problems.push(format!("{}: filters on {m}, a metric the endpoint does not keep", q.origin));
        }
        for f in referenced_fields(&q.text) {
            if f.starts_with("resource.") {
                if !resource.contains(&f) {
                    problems.push(format!("{}: reads {f}, which the allowlist does not keep", q.origin));
                }
                continue;
            }
            match on.get(&f) {
                None => problems.push(format!("{}: reads {f}, which no metric line carries", q.origin)),
                Some(Some(only)) if only.is_disjoint(&metrics) => {
                    problems.push(format!("{}: reads {f} on {metrics:?}, but it is kept only on {only:?}", q.origin))
                }
                Some(_) => {}
            }
        }
    }
    problems
}

#[test]
fn each_metric_query_reads_only_fields_kept_on_the_metrics_it_filters() {
    let t = parse_template(TEMPLATE);
    let problems = metric_field_problems(&t, &Allowlist::embedded());
    assert!(problems.is_empty(), "metric fields read where no metric line has them:\n  {}", problems.join("\n  "));
    let metric_queries = all_queries(&t).into_iter().filter(|q| filtered_metrics(&q.text).is_some()).count();
    assert!(metric_queries >= 12, "the productivity widgets and their saved queries: {metric_queries}");
}

#[test]
fn the_metric_field_check_fails_on_a_field_its_metrics_never_carry() {
    for (query, culprit) in [
        (
            "filter metric = 'claude_code.commit.count' | stats sum(value) by attributes.start_type",
            "attributes.start_type",
        ),
        (
            "filter metric = 'claude_code.session.count' | stats sum(value) by attributes.user.email",
            "attributes.user.email",
        ),
        ("filter metric = 'claude_code.commit.count' | stats sum(value) by resource.attributes.host.name", "host.name"),
        ("filter metric = 'claude_code.commit.total' | stats sum(value) as n", "claude_code.commit.total"),
        (
            "filter metric = 'claude_code.commit.count' and attributes.event.name = 'x' | stats sum(value) as n",
            "at once",
        ),
    ] {
        let mut t = parse_template(TEMPLATE);
        t["Mappings"]["Queries"]["ActiveTime"]["Query"] = json!(query);
        let p = metric_field_problems(&t, &Allowlist::embedded());
        assert!(p.iter().any(|m| m.starts_with("ActiveTimeQueryDefinition:") && m.contains(culprit)), "{query}: {p:?}");
    }
    assert_eq!(
        filtered_metrics("filter metric in ['a', 'b'] | stats sum(value * strcontains(metric, 'a'))").map(|m| m.len()),
        Some(2)
    );
    assert_eq!(filtered_metrics("filter attributes.metric = 'a' | stats count(*)"), None);
}

#[test]
fn the_dashboard_has_the_productivity_section_of_issue_22() {
    let t = parse_template(TEMPLATE);
    let under: Vec<String> =
        dashboard_sections(&t).into_iter().filter(|(s, _)| s == "Productivity").filter_map(|(_, n)| n).collect();
    let expected = [
        "LinesOfCodePerDay",
        "CommitsAndPullRequests",
        "ActiveTime",
        "SessionsByStartType",
        "EditAcceptanceByLanguage",
        "ProductivityByTeam",
    ];
    assert_eq!(under, expected, "the widgets under the Productivity header, in reading order");
    let sessions = resolve(&t, &json!({"Fn::FindInMap": ["Queries", "SessionsByStartType", "Query"]}));
    assert!(sessions.contains("attributes.start_type != 'agents_view'"), "{sessions}");
}

#[test]
fn the_event_field_check_fails_on_a_field_its_events_never_carry() {
    let allowlist = Allowlist::embedded();
    let written = written_by_event();
    // cost_usd is kept on api_request only; ttft_ms on api_request only; prompt_length on user_prompt only.
    for (query, field) in [
        ("filter attributes.event.name = 'user_prompt' | stats sum(attributes.cost_usd) as c", "attributes.cost_usd"),
        (
            "filter attributes.event.name in ['tool_result', 'api_error'] | stats pct(attributes.ttft_ms, 50) as p",
            "attributes.ttft_ms",
        ),
        (
            "filter attributes.event.name = 'assistant_response' | stats max(attributes.prompt_length) as m",
            "attributes.prompt_length",
        ),
        (
            "filter attributes.event.name = 'tool_decision' | stats count(*) as n by attributes.nonexistent",
            "attributes.nonexistent",
        ),
    ] {
        let mut t = parse_template(TEMPLATE);
        t["Mappings"]["Queries"]["ToolSuccess"]["Query"] = json!(query);
        let p = event_field_problems(&t, &allowlist, &written);
        assert!(
            p.iter().any(|m| m.contains("ToolSuccessQueryDefinition") && m.contains(field)),
            "not caught: {query}: {p:?}"
        );
    }
    // An event the allowlist drops.
    let mut t = parse_template(TEMPLATE);
    t["Mappings"]["Queries"]["ToolSuccess"]["Query"] =
        json!("filter attributes.event.name = 'api_request_body' | stats count(*) as n");
    let p = event_field_problems(&t, &allowlist, &written);
    assert!(p.iter().any(|m| m.contains("api_request_body")), "{p:?}");
    // The fixture arm alone: a field the allowlist keeps but the sanitizer never wrote there.
    let t = parse_template(TEMPLATE);
    let mut thinner = written.clone();
    thinner.get_mut("tool_result").expect("tool_result in the fixtures").remove("attributes.success");
    let p = event_field_problems(&t, &allowlist, &thinner);
    assert!(p.iter().any(|m| m.contains("attributes.success") && m.contains("writes on none")), "{p:?}");
}

#[test]
fn filtered_events_reads_equality_lists_and_subqueries() {
    let names = |q: &str| filtered_events(q).map(|s| s.into_iter().collect::<Vec<_>>());
    assert_eq!(names("filter attributes.event.name = 'a' | stats count(*)"), Some(vec!["a".into()]));
    assert_eq!(
        names("filter attributes.event.name in ['b', 'a'] or (attributes.event.name = 'c' and x = 1)"),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(names("filter attributes.event.name != 'a' | stats sum(strcontains(attributes.event.name, 'b'))"), None);
}

#[test]
fn dashboard_and_saved_queries_cover_the_mission_fields() {
    let t = parse_template(TEMPLATE);
    let read: BTreeSet<String> = template_fields(&t).into_keys().collect();
    let missing = missing_mission_fields(&read);
    assert!(missing.is_empty(), "no dashboard widget or saved query reads: {missing:?}");
}

#[test]
fn dashboard_and_saved_queries_ask_the_same_questions() {
    let t = parse_template(TEMPLATE);
    let saved: BTreeSet<String> = saved_queries(&t).into_iter().map(|q| q.text).collect();
    let dash: BTreeSet<String> = dashboard_queries(&t).into_iter().map(|q| q.text).collect();
    assert_eq!(saved, dash, "every dashboard query should also be a saved query, and back");
    for q in &saved {
        assert!(!q.contains(['"', '\\']), "queries are pasted into dashboard JSON: no \" or \\: {q}");
    }
}

#[test]
fn field_extraction_reads_attribute_paths_and_nothing_else() {
    let q = "filter attributes.event.name = 'x' | stats sum(attributes.cost_usd) by \
             resource.attributes.service.version, bin(1d) | sort attributes_like desc";
    let got: Vec<String> = referenced_fields(q).into_iter().collect();
    assert_eq!(got, ["attributes.cost_usd", "attributes.event.name", "resource.attributes.service.version"]);
    let mut paths = BTreeSet::new();
    let msg = json!({"body": "b", "attributes": {"user.pseudonym": "p", "cost_usd": 1.5},
                     "resource": {"attributes": {"service.version": "2"}}});
    leaf_paths("", &msg, &mut paths);
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(
        paths,
        ["attributes.cost_usd", "attributes.user.pseudonym", "body", "resource.attributes.service.version"]
    );
}

#[test]
fn mission_check_fails_when_a_mission_field_is_not_read() {
    let t = parse_template(TEMPLATE);
    let mut read: BTreeSet<String> = template_fields(&t).into_keys().collect();
    assert!(missing_mission_fields(&read).is_empty());
    read.retain(|f| f != "attributes.tool.mcp_server_name" && f != "attributes.mcp_server.name");
    assert_eq!(missing_mission_fields(&read), ["MCP server"]);
}

// ------------------------------------------------------------------ IAM

/// A resource an IAM statement names, in a comparable spelling: a literal ARN or `Fn::Sub`
/// body as written, `Ref:Name`, or `GetAtt:Name.Attribute`.
fn resource_spelling(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.len() == 1 => {
            let (k, arg) = o.iter().next().expect("one key");
            match (k.as_str(), arg) {
                ("Ref", Value::String(n)) => format!("Ref:{n}"),
                ("Fn::GetAtt", Value::Array(a)) => {
                    format!("GetAtt:{}.{}", a[0].as_str().unwrap_or("?"), a[1].as_str().unwrap_or("?"))
                }
                ("Fn::Sub", Value::String(s)) => s.clone(),
                _ => format!("unsupported:{v}"),
            }
        }
        other => format!("unsupported:{other}"),
    }
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

const ARN_PREFIX: &str = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:";

/// Exactly what the sanitizer function may do, as (action, resource) pairs.
fn allowed_function_grants() -> BTreeSet<(String, String)> {
    let mut g = BTreeSet::new();
    for group in ["SanitizedLogGroup", "FunctionLogGroup"] {
        for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            g.insert((action.to_string(), format!("{ARN_PREFIX}${{{group}}}:*")));
        }
    }
    g.insert(("secretsmanager:GetSecretValue".into(), "Ref:PseudonymKeySecret".into()));
    g.insert(("sqs:SendMessage".into(), "GetAtt:FailureQueue.Arn".into()));
    g
}

/// Checks the function's permissions; returns every problem found.
fn check_function_role(t: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let res = resources(t);
    let function = &res["SanitizerFunction"];
    assert_eq!(function["Type"], "AWS::Serverless::Function");
    let fp = &function["Properties"];

    // The function uses the role below, and nothing lets SAM add policies to a generated role.
    if fp["Role"] != json!({"Fn::GetAtt": ["SanitizerRole", "Arn"]}) {
        problems.push(format!("SanitizerFunction.Role must be !GetAtt SanitizerRole.Arn, is {}", fp["Role"]));
    }
    for key in ["Policies", "PermissionsBoundary"] {
        if !fp[key].is_null() {
            problems.push(format!("SanitizerFunction must not set {key}: permissions live in SanitizerRole"));
        }
    }
    // The grants are for the resources the function is really wired to.
    let env = &fp["Environment"]["Variables"];
    if env["SANITIZED_LOG_GROUP"] != json!({"Ref": "SanitizedLogGroup"}) {
        problems.push("SANITIZED_LOG_GROUP must be !Ref SanitizedLogGroup".into());
    }
    if env["PSEUDONYM_KEY_SECRET_ARN"] != json!({"Ref": "PseudonymKeySecret"}) {
        problems.push("PSEUDONYM_KEY_SECRET_ARN must be !Ref PseudonymKeySecret".into());
    }
    if fp["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
        != json!({"Fn::GetAtt": ["FailureQueue", "Arn"]})
    {
        problems.push("the on-failure destination must be !GetAtt FailureQueue.Arn".into());
    }
    if fp["LoggingConfig"]["LogGroup"] != json!({"Ref": "FunctionLogGroup"}) {
        problems.push("LoggingConfig.LogGroup must be !Ref FunctionLogGroup".into());
    }
    for (name, ty) in [
        ("SanitizedLogGroup", "AWS::Logs::LogGroup"),
        ("FunctionLogGroup", "AWS::Logs::LogGroup"),
        ("PseudonymKeySecret", "AWS::SecretsManager::Secret"),
        ("FailureQueue", "AWS::SQS::Queue"),
        ("SanitizerRole", "AWS::IAM::Role"),
    ] {
        if res.get(name).map(|r| &r["Type"]) != Some(&json!(ty)) {
            problems.push(format!("{name} must be a {ty}"));
        }
    }

    // Collect every statement that reaches the role: inline policies and separate policy resources.
    let role = &res["SanitizerRole"]["Properties"];
    let mut statements: Vec<(String, &Value)> = Vec::new();
    for p in one_or_many(&role["Policies"]) {
        let name = p["PolicyName"].as_str().unwrap_or("?").to_string();
        for s in one_or_many(&p["PolicyDocument"]["Statement"]) {
            statements.push((name.clone(), s));
        }
    }
    if !role["ManagedPolicyArns"].is_null() {
        problems.push(format!("SanitizerRole must not attach managed policies: {}", role["ManagedPolicyArns"]));
    }
    if !role["PermissionsBoundary"].is_null() {
        problems.push("SanitizerRole must not rely on a permissions boundary".into());
    }
    let role_ref = json!({"Ref": "SanitizerRole"});
    for (name, r) in res {
        let ty = r["Type"].as_str().unwrap_or("");
        let attaches =
            one_or_many(&r["Properties"]["Roles"]).contains(&&role_ref) || r["Properties"]["RoleName"] == role_ref;
        if ty.starts_with("AWS::IAM::") && name != "SanitizerRole" && attaches {
            for s in one_or_many(&r["Properties"]["PolicyDocument"]["Statement"]) {
                statements.push((name.clone(), s));
            }
            if ty == "AWS::IAM::ManagedPolicy" && r["Properties"]["PolicyDocument"].is_null() {
                problems.push(format!("{name} attaches to SanitizerRole"));
            }
        }
    }

    let mut granted = BTreeSet::new();
    for (policy, s) in &statements {
        for key in ["NotAction", "NotResource", "Condition"] {
            if !s[key].is_null() {
                problems.push(format!("{policy}: {key} is not allowed in the function's role"));
            }
        }
        if s["Effect"] != "Allow" {
            problems.push(format!("{policy}: only Allow statements are expected, found {}", s["Effect"]));
            continue;
        }
        let actions = one_or_many(&s["Action"]);
        let resources_ = one_or_many(&s["Resource"]);
        for a in &actions {
            let a = a.as_str().unwrap_or("?");
            if a.contains('*') || a.contains('?') {
                problems.push(format!("{policy}: wildcard action {a}"));
            }
            for r in &resources_ {
                let r = resource_spelling(r);
                if r == "*" {
                    problems.push(format!("{policy}: {a} on resource *"));
                }
                if a.starts_with("logs:") && !r.starts_with(ARN_PREFIX) {
                    problems.push(format!("{policy}: {a} on {r}, not a log group of this stack"));
                }
                granted.insert((a.to_string(), r));
            }
        }
    }
    let allowed = allowed_function_grants();
    for extra in granted.difference(&allowed) {
        problems.push(format!("grant beyond the allowed set: {} on {}", extra.0, extra.1));
    }
    for absent in allowed.difference(&granted) {
        problems.push(format!("needed grant missing: {} on {}", absent.0, absent.1));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[test]
fn function_role_grants_exactly_what_the_function_needs() {
    let t = parse_template(TEMPLATE);
    if let Err(problems) = check_function_role(&t) {
        panic!("the sanitizer's IAM permissions:\n  {}", problems.join("\n  "));
    }
}

/// Applies `edit` to the parsed template's role statements and returns the check's problems.
fn problems_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut t = parse_template(TEMPLATE);
    edit(&mut t);
    check_function_role(&t).expect_err("the IAM check must reject this change")
}

fn first_statement(t: &mut Value) -> &mut Value {
    &mut t["Resources"]["SanitizerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
}

#[test]
fn iam_check_rejects_a_logs_wildcard_action() {
    let p = problems_after(|t| {
        first_statement(t)["Action"].as_array_mut().expect("action list").push(json!("logs:*"));
    });
    assert!(p.iter().any(|m| m.contains("wildcard action logs:*")), "{p:?}");
}

#[test]
fn iam_check_rejects_a_star_resource() {
    let p = problems_after(|t| first_statement(t)["Resource"] = json!("*"));
    assert!(p.iter().any(|m| m.contains("on resource *")), "{p:?}");
}

#[test]
fn iam_check_rejects_another_log_group() {
    let p = problems_after(|t| {
        first_statement(t)["Resource"] = json!({"Fn::Sub": format!("{ARN_PREFIX}${{RawLogGroup}}:*")});
    });
    assert!(p.iter().any(|m| m.contains("beyond the allowed set") && m.contains("RawLogGroup")), "{p:?}");
}

#[test]
fn iam_check_rejects_an_extra_action_a_managed_policy_or_a_separate_policy() {
    let p = problems_after(|t| {
        let s = first_statement(t);
        s["Action"].as_array_mut().expect("action list").push(json!("logs:DeleteLogGroup"));
    });
    assert!(p.iter().any(|m| m.contains("logs:DeleteLogGroup")), "{p:?}");

    let p = problems_after(|t| {
        t["Resources"]["SanitizerRole"]["Properties"]["ManagedPolicyArns"] =
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
    });
    assert!(p.iter().any(|m| m.contains("managed policies")), "{p:?}");

    let p = problems_after(|t| {
        t["Resources"]["Sneaky"] = json!({"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "sneaky", "Roles": [{"Ref": "SanitizerRole"}],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                              "Resource": "arn:aws:s3:::bucket/*"}]}}});
    });
    assert!(p.iter().any(|m| m.contains("s3:GetObject")), "{p:?}");

    let p = problems_after(|t| {
        t["Resources"]["SanitizerFunction"]["Properties"]["Policies"] = json!(["AWSLambdaExecute"]);
    });
    assert!(p.iter().any(|m| m.contains("must not set Policies")), "{p:?}");
}

#[test]
fn short_form_tags_become_long_form() {
    let t = parse_template("A: !Sub 'x-${AWS::Region}'\nB: !GetAtt Q.Arn\nC: !If [c, !Ref X, 1]\n");
    assert_eq!(t["A"], json!({"Fn::Sub": "x-${AWS::Region}"}));
    assert_eq!(t["B"], json!({"Fn::GetAtt": ["Q", "Arn"]}));
    assert_eq!(t["C"], json!({"Fn::If": ["c", {"Ref": "X"}, 1]}));
}

// ------------------------------------------------------------------ wiring

#[test]
fn raw_group_feeds_the_function_with_an_empty_pattern() {
    let t = parse_template(TEMPLATE);
    // The raw group's filter; the other one is the lake's, on the sanitized group (below).
    let filters: Vec<_> = resources_of_type(&t, "AWS::Logs::SubscriptionFilter")
        .into_iter()
        .filter(|(n, _)| *n != "LakeSubscription")
        .collect();
    assert_eq!(filters.len(), 1, "one subscription filter on the raw group");
    let p = &filters[0].1["Properties"];
    assert_eq!(p["LogGroupName"], json!({"Ref": "RawLogGroup"}));
    assert_eq!(p["FilterPattern"], "", "every raw event must reach the sanitizer");
    assert_eq!(p["DestinationArn"], json!({"Fn::GetAtt": ["SanitizerFunction", "Arn"]}));
    let perm = &resources(&t)["RawSubscriptionPermission"]["Properties"];
    assert_eq!(perm["Principal"], "logs.amazonaws.com");
    assert_eq!(perm["SourceArn"], json!({"Fn::GetAtt": ["RawLogGroup", "Arn"]}));
    assert_eq!(t["Parameters"]["RawRetentionDays"]["Default"], 1);
    assert_eq!(t["Parameters"]["SanitizedRetentionDays"]["Default"], 90);
}

/// The alarms read the namespace the function is told to emit into, and cover the metrics the
/// function's contract names.
#[test]
fn alarms_watch_the_metrics_the_function_emits() {
    let t = parse_template(TEMPLATE);
    let env = &resources(&t)["SanitizerFunction"]["Properties"]["Environment"]["Variables"];
    let namespace = env["METRICS_NAMESPACE"].clone();
    assert!(!namespace.is_null(), "METRICS_NAMESPACE is set");
    let mut watched = BTreeSet::new();
    for (name, alarm) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        let mut metrics = vec![(p["Namespace"].clone(), p["MetricName"].clone())];
        for m in one_or_many(&p["Metrics"]) {
            let metric = &m["MetricStat"]["Metric"];
            metrics.push((metric["Namespace"].clone(), metric["MetricName"].clone()));
        }
        for (ns, metric) in metrics {
            if ns.is_null() {
                continue;
            }
            if ns.as_str().is_none_or(|s| !s.starts_with("AWS/")) {
                assert_eq!(ns, namespace, "{name} reads another namespace than the function's");
            }
            watched.insert(metric.as_str().unwrap_or("?").to_string());
        }
        assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{name} notifies the alarm topic");
    }
    for metric in [
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "EventsDropped",
        "EventsRejected",
        "PayloadErrors",
        "EventsReceived",
        "EventsWritten",
    ] {
        assert!(watched.contains(metric), "no alarm watches {metric}");
    }
}

// ------------------------------------------------------------------ the team-insight widgets

/// Every query of the template (dashboard and saved), resolved.
fn all_queries(t: &Value) -> Vec<Query> {
    let mut q = saved_queries(t);
    q.extend(dashboard_queries(t));
    q
}

/// The widgets issue 12 asks for, each recognised by what its query reads.
#[test]
fn the_dashboard_answers_the_team_questions() {
    let t = parse_template(TEMPLATE);
    let dash = dashboard_queries(&t);
    let has = |what: &str, pred: &dyn Fn(&str) -> bool| {
        assert!(dash.iter().any(|q| pred(&q.text)), "no dashboard widget for {what}");
    };
    has("team totals with messages and active users", &|q| {
        q.contains("'user_prompt')) as messages")
            && q.contains("as active_users")
            && q.contains("as requests")
            && q.contains("as sessions")
            && !q.contains(" by ")
    });
    has("per-user activity", &|q| {
        [
            "as sessions",
            "as messages",
            "as skills",
            "as subagents",
            "as mcp_calls",
            "'opus')) as opus_calls",
            "'sonnet')) as sonnet_calls",
            "'haiku')) as haiku_calls",
            "as cost_per_message",
            "as cache_hit_pct",
            "as plan",
            "by attributes.user.pseudonym as user",
        ]
        .iter()
        .all(|p| q.contains(p))
    });
    has("the cache hit % as the README defines it", &|q| {
        q.contains(
            "100 * sum(attributes.cache_read_tokens) / (sum(attributes.input_tokens) + \
             sum(attributes.cache_read_tokens) + sum(attributes.cache_creation_tokens)) as cache_hit_pct",
        )
    });
    has("daily cost of the top 10 users", &|q| q.contains("limit 10)") && q.contains("by bin(1d) as day"));
    has("rate limits and overloads per day", &|q| {
        q.contains("'api_error'") && q.contains("bin(1d)") && q.contains("attributes.status_code")
    });
    has("adoption by surface", &|q| q.contains("by attributes.terminal.type"));
    has("adoption by plan", &|q| q.contains("by resource.attributes.user.plan"));
    for (what, field) in [
        ("skills", "attributes.skill.name"),
        ("subagents", "attributes.agent_type"),
        ("MCP servers", "attributes.tool.mcp_server_name"),
        ("models", "attributes.model"),
    ] {
        has(&format!("top {what} with distinct users"), &|q| {
            q.contains(&format!("by {field} as")) && q.contains("count_distinct(attributes.user.pseudonym) as users")
        });
    }

    // Issue 21: is it working.
    let acceptance =
        "100 * sum(strcontains(attributes.decision, 'accept')) / count(attributes.decision) as acceptance_pct";
    has("edit acceptance by tool", &|q| {
        q.contains("= 'tool_decision'") && q.contains(acceptance) && q.contains("by attributes.tool_name as")
    });
    has("edit acceptance by decision source", &|q| {
        q.contains("= 'tool_decision'") && q.contains(acceptance) && q.contains("by attributes.source as")
    });
    has("tool success rate and p50/p95 duration by tool", &|q| {
        q.contains("= 'tool_result'")
            && q.contains("100 * sum(attributes.success) / count(attributes.success) as success_pct")
            && q.contains("pct(attributes.duration_ms, 50)")
            && q.contains("pct(attributes.duration_ms, 95)")
            && q.contains("by attributes.tool_name as")
    });
    has("model time to first token and duration p50/p95 by model", &|q| {
        q.contains("= 'api_request'")
            && ["ttft_ms, 50)", "ttft_ms, 95)", "duration_ms, 50)", "duration_ms, 95)"]
                .iter()
                .all(|p| q.contains(&format!("pct(attributes.{p}")))
            && q.contains("by attributes.model as")
    });
    has("subagent runs with tool uses and duration", &|q| {
        q.contains("= 'subagent_completed'")
            && q.contains("count(*) as runs")
            && q.contains("sum(attributes.total_tool_uses)")
            && q.contains("pct(attributes.duration_ms, 50)")
            && q.contains("by attributes.agent_type as")
    });
    // Friction.
    has("refusals, retries exhausted, 429 and 529 by day", &|q| {
        q.contains("'api_refusal')) as refusals")
            && q.contains("'api_retries_exhausted')) as retries_exhausted")
            && q.contains("(1 - least(abs(attributes.status_code - 429), 1))) as rate_limited_429")
            && q.contains("(1 - least(abs(attributes.status_code - 529), 1))) as overloaded_529")
            && q.contains("by bin(1d) as day")
    });
    has("compactions per session, auto and manual", &|q| {
        q.contains("count_distinct(attributes.session.id) as sessions")
            && q.contains("sum(strcontains(attributes.trigger, 'auto')) / count_distinct(attributes.session.id)")
            && q.contains("sum(strcontains(attributes.trigger, 'manual')) / count_distinct(attributes.session.id)")
    });
    has("hook runs that blocked, by day", &|q| {
        q.contains("= 'hook_execution_complete'")
            && q.contains("sum(least(attributes.num_blocking, 1)) as blocked_runs")
            && q.contains("by bin(1d)")
    });
    // Used safely.
    has("sessions by permission mode, people as a count", &|q| {
        q.contains("= 'tool_decision'")
            && q.contains("count_distinct(attributes.session.id) as sessions")
            && q.contains("count_distinct(attributes.user.pseudonym) as users")
            && q.contains("by attributes.permission_mode as")
    });
    has("changes into bypassPermissions and auto with the share of sessions", &|q| {
        q.contains("'permission_mode_changed'")
            && q.contains("strcontains(attributes.to_mode, 'bypassPermissions')")
            && q.contains("strcontains(attributes.to_mode, 'auto')")
            && q.contains("as bypass_sessions_pct")
            && q.contains("as auto_sessions_pct")
    });
    has("plugins with people", &|q| q.contains("= 'plugin_loaded'") && q.contains("by attributes.plugin.name as"));
    has("marketplaces with people", &|q| {
        q.contains("= 'plugin_loaded'") && q.contains("by attributes.marketplace.name as")
    });
    has("MCP connections by status and transport", &|q| {
        q.contains("= 'mcp_server_connection'")
            && q.contains("by attributes.status as status, attributes.transport_type as")
    });
    has("hooks by event and source with blocking runs", &|q| {
        q.contains("= 'hook_execution_complete'")
            && q.contains("sum(least(attributes.num_blocking, 1)) as blocking_runs")
            && q.contains("by attributes.hook_event as hook_event, attributes.hook_source as")
    });
    // Activity.
    has("activity by hour of day and weekday", &|q| {
        q.contains("floor(toMillis(@timestamp) / 3600000) % 24 as hour_utc")
            && q.contains("(floor(toMillis(@timestamp) / 86400000) + 4) % 7 as weekday")
            && ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().all(|d| q.contains(&format!(" as {d},")))
            && q.contains("by hour_utc")
    });
    has("prompt and response size percentiles", &|q| {
        q.contains("coalesce(attributes.prompt_length, attributes.response_length) as length")
            && ["pct(length, 50)", "pct(length, 90)", "pct(length, 99)"].iter().all(|p| q.contains(p))
    });
}

/// The hour of day and weekday (0 = Sunday) the activity query computes for a time, with the
/// constants read from its text: the arithmetic Logs Insights runs, done here.
fn hour_and_weekday(query: &str, millis: i64) -> (i64, i64) {
    let hour = regex::Regex::new(r"floor\(toMillis\(@timestamp\) / (\d+)\) % (\d+) as hour_utc").expect("regex");
    let day =
        regex::Regex::new(r"\(floor\(toMillis\(@timestamp\) / (\d+)\) \+ (\d+)\) % (\d+) as weekday").expect("regex");
    let n = |c: &regex::Captures<'_>, i: usize| c[i].parse::<i64>().expect("a number");
    let h = hour.captures(query).expect("the hour expression");
    let d = day.captures(query).expect("the weekday expression");
    ((millis / n(&h, 1)) % n(&h, 2), (millis / n(&d, 1) + n(&d, 2)) % n(&d, 3))
}

#[test]
fn the_activity_query_finds_the_hour_and_weekday_of_known_times() {
    let t = parse_template(TEMPLATE);
    let q = resolve(&t, &json!({"Fn::FindInMap": ["Queries", "ActivityByHour", "Query"]}));
    // (UTC time, epoch ms, hour, weekday with 0 = Sunday)
    for (when, millis, hour, weekday) in [
        ("1970-01-01 00:00 Thursday", 0, 0, 4),
        ("2026-11-29 23:59:59 Sunday", 1_795_996_799_000, 23, 0),
        ("2026-11-30 00:00 Monday", 1_795_996_800_000, 0, 1),
        ("2026-12-03 15:41 Thursday", 1_796_312_460_000, 15, 4),
        ("2026-12-05 09:30 Saturday", 1_796_463_000_000, 9, 6),
    ] {
        assert_eq!(hour_and_weekday(&q, millis), (hour, weekday), "{when}");
    }
    // Each weekday column counts its own day: column n is 1 - least(abs(weekday - n), 1).
    for (n, day) in ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().enumerate() {
        assert!(q.contains(&format!("sum(1 - least(abs(weekday - {n}), 1)) as {day}")), "{day} is weekday {n}");
    }
}

/// The dashboard's widgets, in reading order (by row, then column), each with the section it
/// sits under (the last `## ` header of a text widget above it) and, for a log widget, the
/// name in `Mappings.Queries` whose text it runs.
fn dashboard_sections(t: &Value) -> Vec<(String, Option<String>)> {
    let r = &resources(t)["UsageDashboard"];
    let body: Value = serde_json::from_str(&resolve(t, &r["Properties"]["DashboardBody"])).expect("dashboard JSON");
    let mut widgets: Vec<&Value> = body["widgets"].as_array().expect("widgets").iter().collect();
    widgets.sort_by_key(|w| (w["y"].as_i64(), w["x"].as_i64()));
    let names: Vec<(String, String)> = t["Mappings"]["Queries"]
        .as_object()
        .expect("Mappings.Queries")
        .keys()
        .map(|n| (n.clone(), resolve(t, &json!({"Fn::FindInMap": ["Queries", n, "Query"]}))))
        .collect();
    let mut section = String::new();
    let mut out = Vec::new();
    for w in widgets {
        match w["type"].as_str() {
            Some("text") => {
                let md = w["properties"]["markdown"].as_str().unwrap_or("");
                if let Some(h) = md.strip_prefix("## ") {
                    section = h.lines().next().unwrap_or("").to_string();
                }
            }
            Some("log") => {
                let q = w["properties"]["query"].as_str().expect("query");
                let q = q.strip_prefix("SOURCE '{SanitizedLogGroup}' | ").expect("sanitized group");
                let q = q.strip_suffix(" {MinGroupUsers}").unwrap_or(q);
                let name = names.iter().find(|(_, text)| text == q).map(|(n, _)| n.clone());
                assert!(name.is_some(), "a log widget runs a query that is not in Mappings.Queries: {q}");
                out.push((section.clone(), name));
            }
            _ => out.push((section.clone(), None)),
        }
    }
    out
}

#[test]
fn the_dashboard_has_the_four_sections_of_issue_21() {
    let t = parse_template(TEMPLATE);
    let placed = dashboard_sections(&t);
    let expected: [(&str, &[&str]); 4] = [
        ("Is it working", &["EditAcceptance", "EditAcceptanceBySource", "ToolSuccess", "ModelLatency", "SubagentRuns"]),
        ("Friction", &["Friction", "BlockingHooks", "CompactionsPerSession"]),
        (
            "Used safely",
            &[
                "PermissionModes",
                "PermissionModeChanges",
                "BypassChanges",
                "Plugins",
                "Marketplaces",
                "McpConnections",
                "Hooks",
            ],
        ),
        ("Activity", &["ActivityByHour", "PromptSizes"]),
    ];
    for (section, names) in expected {
        let under: Vec<&str> = placed.iter().filter(|(s, _)| s == section).filter_map(|(_, n)| n.as_deref()).collect();
        assert_eq!(under, names, "the widgets under the {section:?} header, in reading order");
    }
    // The dashboard's limits, and no widget overlaps another.
    let r = &resources(&t)["UsageDashboard"];
    let body: Value = serde_json::from_str(&resolve(&t, &r["Properties"]["DashboardBody"])).expect("dashboard JSON");
    let widgets = body["widgets"].as_array().expect("widgets");
    assert!(widgets.len() <= 500 && body.to_string().len() < 1_000_000, "CloudWatch's dashboard limits");
    assert_on_the_grid(widgets, "UsageDashboard");
}

/// Every widget fits the dashboard's 24 columns and no two widgets overlap.
fn assert_on_the_grid(widgets: &[Value], which: &str) {
    let mut cells = BTreeSet::new();
    for w in widgets {
        let g = |k: &str| w[k].as_i64().unwrap_or_else(|| panic!("{which}: widget without {k}: {w}"));
        assert!(g("x") + g("width") <= 24, "{which}: widget wider than the grid: {w}");
        for x in g("x")..g("x") + g("width") {
            for y in g("y")..g("y") + g("height") {
                assert!(cells.insert((x, y)), "{which}: widgets overlap at ({x}, {y}): {w}");
            }
        }
    }
}

/// Fields whose groups can point at a few people: the org attributes, and the names of plugins
/// and marketplaces (a personal marketplace or plugin names its author's circle).
const GROUP_FIELDS: [&str; 6] = [
    "resource.attributes.team.id",
    "resource.attributes.department",
    "resource.attributes.cost_center",
    "resource.attributes.organization",
    "attributes.plugin.name",
    "attributes.marketplace.name",
];

/// The groups that must be broken down (each with the small-group rule).
const REQUIRED_GROUPINGS: [&str; 5] = [
    "resource.attributes.team.id",
    "resource.attributes.department",
    "resource.attributes.cost_center",
    "attributes.plugin.name",
    "attributes.marketplace.name",
];

/// The problems with the small-group rule in `t`'s queries: a query that groups by one of
/// [`GROUP_FIELDS`] (anywhere in a `by` list) computes exactly one figure, the distinct people
/// of each group (a sum or count of events of the groups shown, against the totals or another
/// dimension, would give the hidden groups' figure by subtraction), and ends in
/// `filter users >= MinGroupUsers`.
fn small_group_problems(t: &Value) -> Vec<String> {
    let by_list = regex::Regex::new(r"\bby\s+([^|]*)").expect("regex");
    let stats = regex::Regex::new(r"\bstats\s+(.*?)\s+by\s").expect("regex");
    let mut problems = Vec::new();
    let mut grouped = BTreeSet::new();
    for q in all_queries(t) {
        let fields: BTreeSet<&str> = by_list
            .captures_iter(&q.text)
            .flat_map(|c| {
                let list = c.get(1).map_or("", |m| m.as_str());
                GROUP_FIELDS.iter().copied().filter(move |f| {
                    list.split(',').any(|item| item.trim() == *f || item.trim().starts_with(&format!("{f} ")))
                })
            })
            .collect();
        let Some(&field) = fields.iter().next() else { continue };
        grouped.extend(fields.iter().copied());
        let figures: Vec<&str> = stats.captures_iter(&q.text).map(|c| c.get(1).map_or("", |m| m.as_str())).collect();
        if figures != ["count_distinct(attributes.user.pseudonym) as users"] {
            problems
                .push(format!("{}: groups by {field} but computes {figures:?}, not distinct people only", q.origin));
        }
        if !q.text.ends_with("| filter users >= {MinGroupUsers}") {
            problems.push(format!("{}: groups by {field} but does not end in filter users >= MinGroupUsers", q.origin));
        }
    }
    for field in REQUIRED_GROUPINGS {
        if !grouped.contains(field) {
            problems.push(format!("no query breaks usage down by {field}"));
        }
    }
    // A threshold the template forgot to append would leave `filter users >=` dangling.
    for q in all_queries(t) {
        if q.text.trim_end().ends_with(">=") {
            problems.push(format!("{}: ends in a comparison without its value", q.origin));
        }
    }
    problems
}

#[test]
fn breakdowns_by_org_attribute_hide_groups_under_min_group_users() {
    let t = parse_template(TEMPLATE);
    assert_eq!(small_group_problems(&t), Vec::<String>::new());
    let p = &t["Parameters"]["MinGroupUsers"];
    assert_eq!((p["Type"].as_str(), p["Default"].as_i64()), (Some("Number"), Some(3)));
}

#[test]
fn the_small_group_check_fails_without_the_threshold() {
    for name in ["ByTeam", "Plugins", "Marketplaces"] {
        let mut t = parse_template(TEMPLATE);
        t["Resources"][format!("{name}QueryDefinition")]["Properties"]["QueryString"] =
            json!({"Fn::FindInMap": ["Queries", name, "Query"]});
        let p = small_group_problems(&t);
        assert!(p.iter().any(|m| m.starts_with(&format!("{name}QueryDefinition:"))), "{p:?}");
    }
}

#[test]
fn the_small_group_check_fails_on_a_figure_beside_the_people_or_a_second_group() {
    let plugins =
        parse_template(TEMPLATE)["Mappings"]["Queries"]["Plugins"]["Query"].as_str().expect("query").to_string();
    for edited in [
        // A count of events beside the people.
        plugins.replace("| stats count_distinct", "| stats count(*) as loads, count_distinct"),
        // Plugins by marketplace only in the second place of the by list, no threshold.
        "filter attributes.event.name = 'plugin_loaded' | stats count(*) as loads by attributes.model, attributes.marketplace.name"
            .to_string(),
        // Team in a two-stage query.
        "filter attributes.event.name = 'api_request' | stats sum(attributes.cost_usd) as c by attributes.session.id \
         | stats sum(c) as cost by resource.attributes.team.id"
            .to_string(),
    ] {
        let mut t = parse_template(TEMPLATE);
        t["Mappings"]["Queries"]["ToolSuccess"]["Query"] = json!(edited);
        let p = small_group_problems(&t);
        assert!(p.iter().any(|m| m.starts_with("ToolSuccessQueryDefinition:")), "not caught: {edited}: {p:?}");
    }
}

/// Fields of the permission mode: a query reading one shows people only as a count.
const PERMISSION_FIELDS: [&str; 3] = ["attributes.permission_mode", "attributes.from_mode", "attributes.to_mode"];

/// Queries that show who is active when: hour of day or weekday from the event's time.
fn is_time_of_day(q: &str) -> bool {
    q.contains("toMillis(@timestamp)") || q.contains("datefloor(") || q.contains("formatDate(")
}

/// The problems with "never per person": a permission-mode query names no pseudonym (it may count
/// distinct ones), and an hour-of-day query neither names nor counts people.
fn per_person_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for q in all_queries(t) {
        let fields = referenced_fields(&q.text);
        if PERMISSION_FIELDS.iter().any(|f| fields.contains(*f)) {
            let rest = q.text.replace("count_distinct(attributes.user.pseudonym)", "");
            if rest.contains("attributes.user.pseudonym") {
                problems.push(format!("{}: a permission-mode figure per pseudonym", q.origin));
            }
        }
        if is_time_of_day(&q.text) && q.text.contains("attributes.user.pseudonym") {
            problems.push(format!("{}: activity by time of day names or counts people", q.origin));
        }
    }
    problems
}

#[test]
fn permission_modes_and_hours_of_activity_are_never_per_person() {
    let t = parse_template(TEMPLATE);
    assert_eq!(per_person_problems(&t), Vec::<String>::new());
    let read: BTreeSet<String> = all_queries(&t).iter().flat_map(|q| referenced_fields(&q.text)).collect();
    assert!(PERMISSION_FIELDS.iter().filter(|f| read.contains(**f)).count() >= 2, "permission modes are read");
    assert!(all_queries(&t).iter().any(|q| is_time_of_day(&q.text)), "an activity-by-hour query exists");
    for edited in [
        "filter attributes.event.name = 'tool_decision' | stats count(*) as n by attributes.user.pseudonym, attributes.permission_mode",
        "filter attributes.event.name = 'user_prompt' | fields floor(toMillis(@timestamp) / 3600000) % 24 as h \
         | stats count_distinct(attributes.user.pseudonym) as users by h",
    ] {
        let mut t = parse_template(TEMPLATE);
        t["Mappings"]["Queries"]["ToolSuccess"]["Query"] = json!(edited);
        let p = per_person_problems(&t);
        assert!(p.iter().any(|m| m.starts_with("ToolSuccessQueryDefinition:")), "not caught: {edited}: {p:?}");
    }
}

// ------------------------------------------------------------------ spend metrics and budget

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recorded").join(name)
}

/// The sums of the spend fields of written messages, and their `api_request` and `user_prompt`
/// events: an oracle independent of the sanitizer's own bookkeeping.
fn spend_of(lines: &[String]) -> sanitizer_core::Spend {
    let mut spend = sanitizer_core::Spend::default();
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("sanitized message is JSON");
        let a = &v["attributes"];
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        spend.merge(&sanitizer_core::Spend {
            cost_usd: a["cost_usd"].as_f64().unwrap_or(0.0),
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            cache_read_tokens: n("cache_read_tokens"),
            cache_creation_tokens: n("cache_creation_tokens"),
            api_requests: u64::from(a["event.name"] == "api_request"),
            user_prompts: u64::from(a["event.name"] == "user_prompt"),
        });
    }
    spend
}

/// The function's invocation line for a fixture, run through the real handler (stdout sink).
async fn emf_line_for(name: &str) -> (Value, Vec<String>) {
    use sanitizer_aws::handler::{Handler, HandlerSettings};
    use sanitizer_aws::metrics::invocation_line;
    use sanitizer_aws::sink::StdoutSink;
    use sanitizer_core::StreamNamer;
    let key = PseudonymKey::new(b"deploy-template-test key, 32 bytes or more").expect("test key");
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), Some(key)),
        StdoutSink::new(Vec::new()),
        StreamNamer::new(None),
        HandlerSettings { max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES, log_stream: None, concurrency: 1 },
    );
    let envelope = std::fs::read(fixture(name)).expect("read fixture");
    let mut report = handler.handle(&envelope, None).await;
    assert_eq!(report.error, None);
    report.duration = std::time::Duration::ZERO;
    let lines: Vec<String> =
        String::from_utf8(handler.into_sink().into_inner()).expect("utf-8").lines().map(str::to_owned).collect();
    // The handler's spend (the sanitizer's own sums) equals the sums of what was written.
    let (spend, oracle) = (report.spend, spend_of(&lines));
    assert!((spend.cost_usd - oracle.cost_usd).abs() < 1e-9, "{spend:?} vs {oracle:?}");
    assert_eq!(sanitizer_core::Spend { cost_usd: oracle.cost_usd, ..spend }, oracle);
    (invocation_line(&report, "ClaudeOtelSanitizer/claude-otel", 1_764_000_000_000), lines)
}

/// Golden: the EMF line of the `subagent` recording carries its spend (cost and four token
/// sums) and its api_requests and user_prompts beside the counts, declared as metrics without
/// dimensions.
#[tokio::test]
async fn the_emf_line_carries_the_spend_of_a_fixture() {
    let (line, lines) = emf_line_for("subagent.object.json").await;
    let requests = lines.iter().filter(|l| l.contains(r#""event.name":"api_request""#)).count();
    let prompts = lines.iter().filter(|l| l.contains(r#""event.name":"user_prompt""#)).count();
    assert!(requests >= 2 && prompts >= 1, "the fixture has api_requests to sum and a prompt");
    assert_eq!(
        (line["ApiRequests"].as_u64(), line["UserPrompts"].as_u64()),
        (Some(requests as u64), Some(prompts as u64))
    );
    let cost = line["CostUSD"].as_f64().expect("CostUSD is a number");
    assert!(cost > 0.0 && line["InputTokens"].as_u64() > Some(0), "{line}");
    insta::assert_snapshot!(serde_json::to_string_pretty(&line).expect("json"));
}

#[tokio::test]
async fn the_budget_alarms_read_the_metric_the_function_emits() {
    let t = parse_template(TEMPLATE);
    let (line, _) = emf_line_for("subagent.object.json").await;
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let emitted: BTreeSet<&str> =
        directive["Metrics"].as_array().expect("metrics").iter().filter_map(|m| m["Name"].as_str()).collect();
    assert_eq!(directive["Dimensions"], json!([[]]), "the function emits without dimensions");
    assert!(emitted.contains("CostUSD"));
    let namespace =
        resources(&t)["SanitizerFunction"]["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"].clone();

    // Every CostUSD metric an alarm reads: (alarm, metric stat or alarm properties).
    let mut reads = Vec::new();
    for (name, alarm) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        if p["MetricName"] == "CostUSD" {
            reads.push((
                name.clone(),
                p["Namespace"].clone(),
                p["MetricName"].clone(),
                p["Dimensions"].clone(),
                p["Statistic"].clone(),
                p["Period"].clone(),
            ));
        }
        for m in one_or_many(&p["Metrics"]) {
            let stat = &m["MetricStat"];
            if stat["Metric"]["MetricName"] == "CostUSD" {
                let metric = &stat["Metric"];
                reads.push((
                    name.clone(),
                    metric["Namespace"].clone(),
                    metric["MetricName"].clone(),
                    metric["Dimensions"].clone(),
                    stat["Stat"].clone(),
                    stat["Period"].clone(),
                ));
            }
        }
    }
    let alarms: BTreeSet<&str> = reads.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(alarms, BTreeSet::from(["DailyBudgetAlarm", "DailyBudgetWarningAlarm"]));
    for (alarm, ns, metric, dimensions, stat, period) in &reads {
        assert_eq!(ns, &namespace, "{alarm}: the function's namespace");
        assert!(emitted.contains(metric.as_str().unwrap_or("?")), "{alarm}: a metric the function emits");
        assert!(dimensions.is_null(), "{alarm}: the emitted metric has no dimensions, so the alarm names none");
        assert_eq!((stat.as_str(), period.as_i64()), (Some("Sum"), Some(86_400)), "{alarm}: summed over 24 hours");
        let p = &resources(&t)[alarm.as_str()];
        assert_eq!(p["Condition"], "HasBudget", "{alarm} exists only with a budget");
        assert_eq!(p["Properties"]["AlarmActions"], json!([{"Ref": "AlarmTopic"}]));
    }
    let full = &resources(&t)["DailyBudgetAlarm"]["Properties"];
    assert_eq!(full["Threshold"], json!({"Ref": "DailyBudgetUSD"}));
    assert_eq!(full["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    let warning = &resources(&t)["DailyBudgetWarningAlarm"]["Properties"];
    let expression = one_or_many(&warning["Metrics"])
        .into_iter()
        .find(|m| m["ReturnData"] == true)
        .map(|m| resolve(&t, &m["Expression"]))
        .expect("the warning alarm returns an expression");
    assert_eq!(expression, "100 * FILL(cost, 0) / {DailyBudgetUSD}");
    assert_eq!(
        (warning["Threshold"].as_i64(), warning["ComparisonOperator"].as_str()),
        (Some(80), Some("GreaterThanOrEqualToThreshold"))
    );
    assert_eq!(t["Parameters"]["DailyBudgetUSD"]["Default"], 0);
    assert_eq!(t["Conditions"]["HasBudget"], json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "DailyBudgetUSD"}, "0"]}]}));
}

/// Every metric of a dashboard's metric widgets, as (widget title, namespace, name, dimensions):
/// CloudWatch's `[namespace, name, dim, value, ..., {options}]` arrays, `"."` repeating the entry
/// above.
fn dashboard_metrics(body: &Value) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for w in body["widgets"].as_array().expect("widgets").iter().filter(|w| w["type"] == "metric") {
        let title = w["properties"]["title"].as_str().unwrap_or("").to_string();
        let mut previous: Vec<String> = Vec::new();
        for m in w["properties"]["metrics"].as_array().expect("metrics") {
            let parts: Vec<String> = m
                .as_array()
                .expect("a metric is an array")
                .iter()
                .filter_map(Value::as_str)
                .enumerate()
                .map(|(i, p)| if p == "." { previous.get(i).cloned().unwrap_or_default() } else { p.to_string() })
                .collect();
            assert!(parts.len() >= 2, "{title}: a metric names a namespace and a name: {m}");
            out.push((title.clone(), parts[0].clone(), parts[1].clone(), parts[2..].to_vec()));
            previous = parts;
        }
    }
    out
}

/// Issue 23, item 3: the overview's team totals (cost, requests, messages, tokens) are metric
/// widgets over the metrics the function emits (the EMF line of a recorded fixture is the
/// oracle: same namespace, names it declares, no dimension), each summed per day or over the
/// range; one Logs Insights widget (distinct people and sessions per day) is all a view queries.
#[tokio::test]
async fn the_overview_dashboard_reads_the_team_totals_from_the_emitted_metrics() {
    for (which, text) in [("template.yaml", TEMPLATE), ("deploy/central.yaml", include_str!("../deploy/central.yaml"))]
    {
        let t = parse_template(text);
        let r = &resources(&t)["OverviewDashboard"];
        assert_eq!(resolve(&t, &r["Properties"]["DashboardName"]), "{ProjectName}-claude-code-overview", "{which}");
        let body: Value =
            serde_json::from_str(&resolve(&t, &r["Properties"]["DashboardBody"])).expect("dashboard JSON");
        let widgets = body["widgets"].as_array().expect("widgets");
        let logs: Vec<&Value> = widgets.iter().filter(|w| w["type"] == "log").collect();
        assert_eq!(logs.len(), 1, "{which}: one Logs Insights query per view");
        let query = resolve(&t, &json!({"Fn::FindInMap": ["Queries", "ActiveUsersPerDay", "Query"]}));
        assert_eq!(logs[0]["properties"]["query"], format!("SOURCE '{{SanitizedLogGroup}}' | {query}"), "{which}");
        assert!(
            query.contains("count_distinct(attributes.user.pseudonym) as active_users") && query.contains("by bin(1d)")
        );

        let (line, _) = emf_line_for("subagent.object.json").await;
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        let emitted: BTreeSet<&str> =
            directive["Metrics"].as_array().expect("metrics").iter().filter_map(|m| m["Name"].as_str()).collect();
        let namespace = resolve(
            &t,
            &resources(&t)["SanitizerFunction"]["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
        );
        let read = dashboard_metrics(&body);
        for (title, ns, name, dimensions) in &read {
            assert_eq!(ns, &namespace, "{which} {title}: the function's namespace");
            assert!(emitted.contains(name.as_str()), "{which} {title}: {name} is not a metric the function emits");
            assert!(dimensions.is_empty(), "{which} {title}: the function emits {name} without dimensions");
        }
        let shown: BTreeSet<&str> = read.iter().map(|(_, _, n, _)| n.as_str()).collect();
        let totals = [
            "CostUSD",
            "ApiRequests",
            "UserPrompts",
            "InputTokens",
            "OutputTokens",
            "CacheReadTokens",
            "CacheCreationTokens",
        ];
        assert_eq!(shown, BTreeSet::from(totals), "{which}: the team totals, and nothing else");
        for w in widgets.iter().filter(|w| w["type"] == "metric") {
            let p = &w["properties"];
            assert_eq!(p["stat"], "Sum", "{which}: {w}");
            let whole_range = p["setPeriodToTimeRange"] == true && p["view"] == "singleValue";
            assert!(whole_range || p["period"] == 86_400, "{which}: per day or over the range: {w}");
        }
        let range = widgets.iter().find(|w| w["properties"]["view"] == "singleValue").expect("a totals widget");
        let in_range: BTreeSet<String> =
            dashboard_metrics(&json!({"widgets": [range]})).into_iter().map(|(_, _, n, _)| n).collect();
        assert_eq!(in_range, totals.iter().map(|n| n.to_string()).collect(), "{which}: every total over the range");
        assert_on_the_grid(widgets, which);
    }
}

/// The metric reader follows CloudWatch's `"."` shorthand, and a dashboard reading a metric the
/// function does not emit (or with a dimension it does not set) is found.
#[test]
fn dashboard_metrics_reads_the_shorthand_and_the_dimensions() {
    let body = json!({"widgets": [{"type": "metric", "properties": {"title": "t", "metrics": [
        ["NS", "CostUSD", {"label": "x"}], [".", "ApiRequests"], ["AWS/Lambda", "Errors", "FunctionName", "f"]
    ]}}]});
    let read: Vec<(String, String, Vec<String>)> =
        dashboard_metrics(&body).into_iter().map(|(_, ns, n, d)| (ns, n, d)).collect();
    assert_eq!(
        read,
        [
            ("NS".to_string(), "CostUSD".to_string(), vec![]),
            ("NS".to_string(), "ApiRequests".to_string(), vec![]),
            ("AWS/Lambda".to_string(), "Errors".to_string(), vec!["FunctionName".to_string(), "f".to_string()]),
        ]
    );
}

// ------------------------------------------------------------------ weekly digest (optional)

/// Every (action, resource) an inline-policy role grants, `Fn::If` resources as both branches;
/// problems for anything that is not a plain Allow, or another policy attaching to the role.
fn digest_role_grants(t: &Value, role: &str) -> (BTreeSet<(String, String)>, Vec<String>) {
    let res = resources(t);
    let mut problems = Vec::new();
    let props = &res[role]["Properties"];
    for key in ["ManagedPolicyArns", "PermissionsBoundary"] {
        if !props[key].is_null() {
            problems.push(format!("{role} must not set {key}"));
        }
    }
    let role_ref = json!({"Ref": role});
    for (name, r) in res {
        let attaches =
            one_or_many(&r["Properties"]["Roles"]).contains(&&role_ref) || r["Properties"]["RoleName"] == role_ref;
        if name != role && r["Type"].as_str().unwrap_or("").starts_with("AWS::IAM::") && attaches {
            problems.push(format!("{name} attaches a policy to {role}"));
        }
    }
    let mut granted = BTreeSet::new();
    for p in one_or_many(&props["Policies"]) {
        // A policy under `!If [Condition, policy, AWS::NoValue]` (the lake's) counts as granted.
        let p = match p.get("Fn::If") {
            Some(Value::Array(branches)) if branches.len() == 3 && branches[2] == json!({"Ref": "AWS::NoValue"}) => {
                &branches[1]
            }
            _ => p,
        };
        for s in one_or_many(&p["PolicyDocument"]["Statement"]) {
            for key in ["NotAction", "NotResource"] {
                if !s[key].is_null() {
                    problems.push(format!("{role}: {key} is not allowed"));
                }
            }
            if s["Effect"] != "Allow" {
                problems.push(format!("{role}: only Allow statements are expected"));
            }
            for a in one_or_many(&s["Action"]) {
                for r in one_or_many(&s["Resource"]) {
                    let spellings = match r.get("Fn::If") {
                        Some(Value::Array(branches)) if branches.len() == 3 => {
                            vec![resource_spelling(&branches[1]), resource_spelling(&branches[2])]
                        }
                        _ => vec![resource_spelling(r)],
                    };
                    for r in spellings {
                        // A condition is part of the grant (exact checks name it).
                        let r = if s["Condition"].is_null() { r } else { format!("{r} if {}", s["Condition"]) };
                        granted.insert((a.as_str().unwrap_or("?").to_string(), r));
                    }
                }
            }
        }
    }
    (granted, problems)
}

fn check_digest(t: &Value) -> Result<(), Vec<String>> {
    let res = resources(t);
    let (granted, mut problems) = digest_role_grants(t, "DigestRole");
    let expected: BTreeSet<(String, String)> = [
        ("logs:FilterLogEvents", format!("{ARN_PREFIX}${{SanitizedLogGroup}}:*")),
        ("logs:CreateLogStream", format!("{ARN_PREFIX}${{DigestFunctionLogGroup}}:*")),
        ("logs:PutLogEvents", format!("{ARN_PREFIX}${{DigestFunctionLogGroup}}:*")),
        ("secretsmanager:GetSecretValue", "Ref:DigestWebhookSecret".to_string()),
        (
            "secretsmanager:GetSecretValue",
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${DigestWebhookSecretName}-??????"
                .to_string(),
        ),
        // The group reader's size estimate: DescribeLogGroups takes the account's groups only.
        ("logs:DescribeLogGroups", format!("{ARN_PREFIX}*")),
        // With the lake on (EnableDataLake): list sanitized/, read its objects.
        ("s3:ListBucket", r#"GetAtt:LakeBucket.Arn if {"StringLike":{"s3:prefix":"sanitized/*"}}"#.to_string()),
        ("s3:GetObject", "${LakeBucket.Arn}/sanitized/*".to_string()),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_string(), r))
    .collect();
    for extra in granted.difference(&expected) {
        problems.push(format!("DigestRole grants beyond the allowed set: {} on {}", extra.0, extra.1));
    }
    for absent in expected.difference(&granted) {
        problems.push(format!("DigestRole misses: {} on {}", absent.0, absent.1));
    }
    let (granted, more) = digest_role_grants(t, "DigestSchedulerRole");
    problems.extend(more);
    let expected: BTreeSet<(String, String)> =
        [("lambda:InvokeFunction".to_string(), "GetAtt:DigestFunction.Arn".to_string())].into_iter().collect();
    if granted != expected {
        problems.push(format!(
            "DigestSchedulerRole must grant exactly lambda:InvokeFunction on the digest function, grants {granted:?}"
        ));
    }
    let fp = &res["DigestFunction"]["Properties"];
    if fp["Role"] != json!({"Fn::GetAtt": ["DigestRole", "Arn"]}) || !fp["Policies"].is_null() {
        problems.push("DigestFunction must use DigestRole and no SAM policies".into());
    }
    if fp["Environment"]["Variables"]["DIGEST_LOG_GROUP"] != json!({"Ref": "SanitizedLogGroup"}) {
        problems.push("DIGEST_LOG_GROUP must be !Ref SanitizedLogGroup".into());
    }
    let lake = json!({"Fn::If": ["LakeEnabled", {"Fn::Sub": "s3://${LakeBucket}/sanitized"}, {"Ref": "AWS::NoValue"}]});
    if fp["Environment"]["Variables"]["DIGEST_S3"] != lake {
        problems.push("DIGEST_S3 must be s3://${LakeBucket}/sanitized when the lake is on, unset otherwise".into());
    }
    if res["DigestFunction"]["Metadata"]["BuildProperties"]["Binary"] != "digest-lambda" {
        problems.push("DigestFunction must run the digest-lambda binary".into());
    }
    // Off by default, and all in one block: every digest resource is conditional and named Digest*.
    for (name, r) in res {
        let conditional = matches!(r["Condition"].as_str(), Some("DigestEnabled" | "DigestCreatesSecret"));
        if name.starts_with("Digest") != conditional {
            problems.push(format!("{name}: digest resources (and only they) are named Digest* and conditional"));
        }
    }
    if t["Parameters"]["EnableDigest"]["Default"] != "false" {
        problems.push("EnableDigest must default to false".into());
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[test]
fn digest_roles_grant_exactly_what_the_scheduled_digest_needs() {
    let t = parse_template(TEMPLATE);
    if let Err(problems) = check_digest(&t) {
        panic!("the digest's IAM permissions:\n  {}", problems.join("\n  "));
    }
    // The check fails on a wider grant: the raw group, or a second action.
    for edit in [
        json!({"Effect": "Allow", "Action": "logs:FilterLogEvents", "Resource": {"Fn::Sub": format!("{ARN_PREFIX}${{RawLogGroup}}:*")}}),
        json!({"Effect": "Allow", "Action": "logs:GetLogEvents", "Resource": {"Fn::Sub": format!("{ARN_PREFIX}${{SanitizedLogGroup}}:*")}}),
    ] {
        let mut t = parse_template(TEMPLATE);
        let statements = &mut t["Resources"]["DigestRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
        statements.as_array_mut().expect("a statement list").push(edit.clone());
        assert!(check_digest(&t).is_err(), "not caught: {edit}");
    }
}

// ------------------------------------------------------------------ the decompression cap

/// Every `N MiB` in `text`.
fn mib_figures(text: &str) -> Vec<u64> {
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == '(' || c == '*').collect();
    words.windows(2).filter(|w| w[1].starts_with("MiB")).filter_map(|w| w[0].parse().ok()).collect()
}

/// The cap's deployed default is the template's `MaxDecompressedBytes`, and the built-in fallback
/// (`DEFAULT_MAX_DECOMPRESSED_BYTES`) is the same; docs/lambda.md ("The decompression cap")
/// states both, and every other mention (the README, the template's own descriptions) gives it.
/// The default `FunctionMemoryMB` holds a payload at the cap by the rule that section states
/// from the measurement (`crates/sanitizer-lambda/tests/memory_runtime.rs`): the function when
/// ready (15 MiB) + 2 × the cap + 2 × the largest invocation body (6 MB).
#[test]
fn the_decompression_cap_is_stated_as_the_template_and_the_constant_have_it() {
    const MIB: u64 = 1 << 20;
    let t = parse_template(TEMPLATE);
    let parameter = &t["Parameters"]["MaxDecompressedBytes"];
    let deployed = parameter["Default"]
        .as_u64()
        .or_else(|| parameter["Default"].as_str().and_then(|s| s.parse().ok()))
        .expect("MaxDecompressedBytes has a numeric default");
    let fallback = DEFAULT_MAX_DECOMPRESSED_BYTES as u64;
    assert_eq!((deployed % MIB, fallback % MIB), (0, 0), "both are whole MiB");
    let (deployed, fallback) = (deployed / MIB, fallback / MIB);
    assert_eq!(deployed, fallback, "the template's default cap and the code's fallback agree");
    let memory = &t["Parameters"]["FunctionMemoryMB"]["Default"];
    let memory = memory.as_u64().or_else(|| memory.as_str().and_then(|s| s.parse().ok())).expect("numeric memory");
    assert!(memory >= 15 + 2 * deployed + 12, "{memory} MB of memory for a {deployed} MiB cap");

    let docs = include_str!("../docs/lambda.md");
    let section = docs.split("### The decompression cap").nth(1).expect("docs/lambda.md has the section");
    let section = section.split("\n#").next().unwrap();
    assert!(section.contains(&format!("**{deployed} MiB**")), "the deployed default, {deployed} MiB:\n{section}");
    assert!(section.contains("MaxDecompressedBytes") && section.contains("DEFAULT_MAX_DECOMPRESSED_BYTES"));
    assert_eq!(mib_figures(section), [deployed, fallback], "{section}");
    let sizing = docs.split("#### Memory at the cap").nth(1).expect("the section says how memory is sized");
    assert!(sizing.contains("The sizing rule: `FunctionMemoryMB` ≥") && sizing.contains("memory_runtime.rs"));
    assert!(sizing.contains(&format!("the default memory is {memory} MB")), "{sizing}");

    let readme = include_str!("../README.md");
    let mentions: Vec<&str> =
        readme.lines().filter(|l| l.contains("ecompress") || l.contains("MaxDecompressedBytes")).collect();
    assert!(mentions.iter().any(|l| l.contains("docs/lambda.md#the-decompression-cap")), "{mentions:?}");
    for line in mentions {
        assert!(mib_figures(line).iter().all(|&n| n == deployed), "README: {line}");
    }
    for name in ["MaxDecompressedBytes", "FunctionMemoryMB"] {
        let description = t["Parameters"][name]["Description"].as_str().unwrap_or_default();
        assert!(mib_figures(description).iter().all(|&n| n == deployed), "template {name}: {description}");
    }
}

// ------------------------------------------------------------------ ingestion modes

const MODES: [&str; 3] = ["raw", "endpoint", "both"];

/// A function URL as Lambda gives it (`FunctionUrl` ends in a slash), without the slash.
const FUNCTION_URL: &str = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws";

/// The template for an ingestion mode and further parameters; the function URL is known.
fn stack_for(mode: &str, more: &[(&str, Value)]) -> Stack {
    let mut given = vec![("IngestionMode", json!(mode))];
    given.extend(more.iter().cloned());
    let mut stack = Stack::new(TEMPLATE, &given);
    stack.attributes.insert("EndpointFunctionUrl.FunctionUrl".into(), json!(format!("{FUNCTION_URL}/")));
    stack
}

/// The resources a stack creates for its parameters.
fn created(stack: &Stack) -> BTreeSet<String> {
    resources(&stack.t).keys().filter(|name| stack.exists(name)).cloned().collect()
}

/// The resources of the raw path (raw and both) and of the endpoint (endpoint and both).
const RAW_PATH: [&str; 13] = [
    "RawLogGroup",
    "RawLogStream",
    "RawSubscriptionPermission",
    "RawSubscription",
    "FunctionLogGroup",
    "FailureQueue",
    "SanitizerRole",
    "SanitizerFunction",
    "OtelWriterUser",
    "FailureQueueDepthAlarm",
    "FunctionErrorsAlarm",
    "DestinationDeliveryFailuresAlarm",
    "PayloadErrorsAlarm",
];
const ENDPOINT_PATH: [&str; 10] = [
    "EndpointTokenSecret",
    "EndpointFunctionLogGroup",
    "EndpointRole",
    "EndpointFunction",
    "EndpointFunctionUrl",
    "EndpointUrlPublicPermission",
    "EndpointUrlInvokePermission",
    "EndpointErrorsAlarm",
    "EndpointThrottlesAlarm",
    "EndpointServerErrorsAlarm",
];

#[test]
fn each_ingestion_mode_creates_its_path_and_only_it() {
    let t = parse_template(TEMPLATE);
    let p = &t["Parameters"]["IngestionMode"];
    assert_eq!((p["Default"].as_str(), p["AllowedValues"].clone()), (Some("raw"), json!(MODES)));
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<BTreeSet<String>>();
    let (raw, endpoint) = (names(&RAW_PATH), names(&ENDPOINT_PATH));
    let common: BTreeSet<String> = created(&stack_for("raw", &[])).difference(&raw).cloned().collect();
    assert!(common.contains("SanitizedLogGroup") && common.contains("PseudonymKeySecret"));
    let union = |sets: &[&BTreeSet<String>]| sets.iter().flat_map(|s| s.iter().cloned()).collect::<BTreeSet<_>>();
    for (mode, expected) in [
        ("raw", union(&[&common, &raw])),
        ("endpoint", union(&[&common, &endpoint])),
        ("both", union(&[&common, &raw, &endpoint])),
    ] {
        let got = created(&stack_for(mode, &[]));
        assert_eq!(got, expected, "IngestionMode={mode}: created {got:?}");
    }
    // Every resource of either path says so by its condition, so a new one cannot slip into the
    // other mode: the endpoint's are named Endpoint*, and nothing else is.
    for (name, r) in resources(&t) {
        let c = r["Condition"].as_str().unwrap_or("");
        if name.starts_with("Endpoint") != (c == "HasEndpoint") {
            panic!("{name}: the endpoint's resources (and only they) are named Endpoint* and need HasEndpoint");
        }
    }
}

/// What IngestionMode endpoint must never create, whatever the other parameters say: a raw group
/// or stream, a subscription, a raw-event writer (user, proxy, role) or a queue of raw payloads.
fn raw_storage_in(stack: &Stack) -> Vec<String> {
    let mut found = Vec::new();
    for name in created(stack) {
        let r = &resources(&stack.t)[&name];
        let ty = r["Type"].as_str().unwrap_or("");
        let raw_group = ty == "AWS::Logs::LogGroup"
            && stack.properties(&name)["LogGroupName"].as_str().is_some_and(|n| !n.ends_with("/sanitized"))
            && !stack.properties(&name)["LogGroupName"].as_str().is_some_and(|n| n.starts_with("/aws/lambda/"));
        if raw_group
            || matches!(
                ty,
                "AWS::Logs::LogStream" | "AWS::Logs::SubscriptionFilter" | "AWS::IAM::User" | "AWS::SQS::Queue"
            )
            || ty.starts_with("AWS::ApiGateway::")
            || name == "SanitizerFunction"
        {
            found.push(format!("{name} ({ty})"));
        }
    }
    found
}

#[test]
fn the_endpoint_mode_stores_nothing_raw_whatever_the_other_ingestion_parameters_say() {
    for more in [
        vec![],
        vec![
            ("EnableBearerTokenWriter", json!("true")),
            ("EnableApiGatewayProxy", json!("true")),
            ("EncryptLogs", json!("true")),
            ("EnableDigest", json!("true")),
        ],
    ] {
        let stack = stack_for("endpoint", &more);
        assert_eq!(raw_storage_in(&stack), Vec::<String>::new(), "with {more:?}");
        assert!(!stack.conditions["HasBearerTokenWriter"] && !stack.conditions["HasProxy"]);
        // The check sees the raw path where it exists.
        let raw = raw_storage_in(&stack_for("both", &more));
        for name in ["RawLogGroup", "RawLogStream", "RawSubscription", "FailureQueue", "SanitizerFunction"] {
            assert!(raw.iter().any(|f| f.starts_with(&format!("{name} "))), "{name} not seen in {raw:?}");
        }
    }
    let proxied = raw_storage_in(&stack_for("raw", &[("EnableApiGatewayProxy", json!("true"))]));
    assert!(
        proxied.iter().any(|f| f.contains("AWS::ApiGateway::RestApi"))
            && proxied.iter().any(|f| f.contains("AWS::IAM::User"))
    );
}

/// Every resource that `v` (a created resource's part, or an output) refers to: `Ref`,
/// `Fn::GetAtt`, `${Name}` and `${Name.Attr}` of `Fn::Sub` (not its own variables), `DependsOn`;
/// `Fn::If` takes the branch its condition chooses, as CloudFormation does.
fn referred(stack: &Stack, v: &Value, out: &mut BTreeSet<String>) {
    let res = resources(&stack.t);
    let mut add = |name: &str| {
        let name = name.split('.').next().unwrap_or(name);
        if res.contains_key(name) {
            out.insert(name.to_string());
        }
    };
    match v {
        Value::Array(a) => a.iter().for_each(|x| referred(stack, x, out)),
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::If") => {
            let arg = &o["Fn::If"];
            let chosen = if stack.conditions[arg[0].as_str().expect("If condition")] { &arg[1] } else { &arg[2] };
            referred(stack, chosen, out);
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("Ref") => add(o["Ref"].as_str().expect("Ref name")),
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::GetAtt") => {
            add(o["Fn::GetAtt"][0].as_str().expect("GetAtt resource"))
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::Sub") => {
            let arg = &o["Fn::Sub"];
            let (body, vars) = match arg {
                Value::String(s) => (s.as_str(), Map::new()),
                Value::Array(a) => (a[0].as_str().expect("Sub body"), a[1].as_object().expect("Sub vars").clone()),
                other => panic!("unexpected Fn::Sub argument {other}"),
            };
            let names = regex::Regex::new(r"\$\{([A-Za-z0-9_.:]+)\}").expect("regex");
            for c in names.captures_iter(body) {
                if !vars.contains_key(&c[1]) {
                    add(&c[1]);
                }
            }
            vars.values().for_each(|x| referred(stack, x, out));
        }
        Value::Object(o) => o.values().for_each(|x| referred(stack, x, out)),
        _ => {}
    }
}

/// References from what the stack creates (resources and outputs) to what it does not.
fn dangling_references(stack: &Stack) -> Vec<String> {
    let made = created(stack);
    let mut problems = Vec::new();
    let mut check = |origin: String, v: &Value| {
        let mut to = BTreeSet::new();
        referred(stack, v, &mut to);
        for name in to.difference(&made) {
            problems.push(format!("{origin} refers to {name}, which is not created"));
        }
    };
    for name in &made {
        let r = &resources(&stack.t)[name];
        check(name.clone(), &json!([r["Properties"], r["DependsOn"]]));
    }
    for (name, o) in stack.t["Outputs"].as_object().expect("Outputs") {
        if o["Condition"].as_str().is_none_or(|c| stack.conditions[c]) {
            check(format!("output {name}"), &o["Value"]);
        }
    }
    problems
}

#[test]
fn no_mode_refers_to_a_resource_it_does_not_create() {
    for mode in MODES {
        for (proxy, kms, digest) in [("false", "false", "false"), ("true", "true", "true")] {
            let more =
                [("EnableApiGatewayProxy", json!(proxy)), ("EncryptLogs", json!(kms)), ("EnableDigest", json!(digest))];
            let problems = dangling_references(&stack_for(mode, &more));
            assert!(problems.is_empty(), "IngestionMode={mode} {more:?}:\n  {}", problems.join("\n  "));
        }
    }
    // The check fails on what the dashboard once did: name the sanitizer function, which the
    // endpoint mode does not create.
    let mut t = parse_template(TEMPLATE);
    t["Resources"]["AlarmTopic"]["Properties"]["DisplayName"] = json!({"Fn::Sub": "${SanitizerFunction} alarms"});
    let p = dangling_references(&Stack::from_template(t, &[("IngestionMode", json!("endpoint"))]));
    assert_eq!(p, ["AlarmTopic refers to SanitizerFunction, which is not created"]);
}

// ------------------------------------------------------------------ the OTLP endpoint

#[test]
fn endpoint_role_grants_exactly_what_the_endpoint_needs() {
    for kms in ["false", "true"] {
        let stack = stack_for("endpoint", &[("EncryptLogs", json!(kms))]);
        let logs = |group: &str| format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{{{group}}}:*");
        let (sanitized, own) = (logs("SanitizedLogGroup"), logs("EndpointFunctionLogGroup"));
        assert_exact(
            &stack,
            "EndpointRole",
            &grants(&[
                ("logs:CreateLogStream", &sanitized),
                ("logs:PutLogEvents", &sanitized),
                ("logs:CreateLogStream", &own),
                ("logs:PutLogEvents", &own),
                ("secretsmanager:GetSecretValue", "{PseudonymKeySecret}"),
                ("secretsmanager:GetSecretValue", "{EndpointTokenSecret}"),
            ]),
        );
        assert_eq!(trust(&stack, "EndpointRole")["Principal"], json!({"Service": "lambda.amazonaws.com"}));
        // The only identity of the endpoint mode; the raw path's user and role are not made.
        assert_eq!(identities(&stack), BTreeSet::from(["EndpointRole".to_string()]), "EncryptLogs={kms}");
    }
    let both: BTreeSet<String> = identities(&stack_for("both", &[]));
    assert_eq!(both, ["EndpointRole", "OtelWriterUser", "SanitizerRole"].map(String::from).into());
    let t = parse_template(TEMPLATE);
    let f = &resources(&t)["EndpointFunction"]["Properties"];
    assert_eq!(f["Role"], json!({"Fn::GetAtt": ["EndpointRole", "Arn"]}));
    assert!(f["Policies"].is_null() && f["PermissionsBoundary"].is_null(), "permissions live in EndpointRole");

    // The check fails on a wider grant: the raw group, another secret, a second action.
    let allowed = granted(&stack_for("both", &[]), "EndpointRole").expect("grants");
    for edit in [
        json!({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": {"Fn::Sub": format!("{ARN_PREFIX}${{RawLogGroup}}:*")}}),
        json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
        json!({"Effect": "Allow", "Action": "logs:FilterLogEvents", "Resource": {"Fn::Sub": format!("{ARN_PREFIX}${{SanitizedLogGroup}}:*")}}),
    ] {
        let mut t = parse_template(TEMPLATE);
        let statements =
            &mut t["Resources"]["EndpointRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
        statements.as_array_mut().expect("a statement list").push(edit.clone());
        let stack = Stack::from_template(t, &[("IngestionMode", json!("both"))]);
        let p = check_exact(&stack, "EndpointRole", &allowed).expect_err("a wider grant must be caught");
        assert!(p.iter().any(|m| m.contains("beyond the allowed set") || m.contains("on resource *")), "{edit}: {p:?}");
    }
}

#[test]
fn the_function_url_is_public_and_invokes_only_the_endpoint_through_the_url() {
    let stack = stack_for("endpoint", &[]);
    let url = stack.properties("EndpointFunctionUrl");
    assert_eq!(
        url,
        json!({"TargetFunctionArn": "{EndpointFunction.Arn}", "AuthType": "NONE", "InvokeMode": "BUFFERED"})
    );
    let mut permissions: Vec<Value> = created(&stack)
        .into_iter()
        .filter(|n| resources(&stack.t)[n]["Type"] == "AWS::Lambda::Permission")
        .map(|n| stack.properties(&n))
        .collect();
    permissions.sort_by_key(|p| p["Action"].as_str().map(str::to_owned));
    assert_eq!(
        permissions,
        [
            json!({"Action": "lambda:InvokeFunction", "FunctionName": "{EndpointFunction}", "Principal": "*",
                   "InvokedViaFunctionUrl": true}),
            json!({"Action": "lambda:InvokeFunctionUrl", "FunctionName": "{EndpointFunction}", "Principal": "*",
                   "FunctionUrlAuthType": "NONE"}),
        ],
        "the endpoint mode's only Lambda permissions: the URL, and invocation only through it"
    );
}

/// The endpoint's environment as crates/otlp-endpoint reads it (common.md, contract 1), plus the
/// sanitizer's metrics namespace.
const ENDPOINT_ENV: [&str; 8] = [
    "SANITIZED_LOG_GROUP",
    "SANITIZED_LOG_STREAM",
    "PSEUDONYM_KEY_SECRET_ARN",
    "PSEUDONYM_KEY",
    "OTLP_TOKEN_SECRET_ARN",
    "OTLP_TOKEN",
    "MAX_REQUEST_BYTES",
    "METRICS_NAMESPACE",
];

#[test]
fn the_endpoint_function_is_built_sized_and_configured_as_the_contract_says() {
    let t = parse_template(TEMPLATE);
    let res = resources(&t);
    let (endpoint, sanitizer) = (&res["EndpointFunction"], &res["SanitizerFunction"]);
    assert_eq!(
        endpoint["Metadata"],
        json!({"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "sanitizer-otlp-endpoint"}})
    );
    let (e, s) = (&endpoint["Properties"], &sanitizer["Properties"]);
    for key in ["CodeUri", "Handler", "Runtime", "Architectures", "MemorySize"] {
        assert_eq!(e[key], s[key], "{key}: as the sanitizer function");
    }
    assert_eq!((e["Runtime"].as_str(), e["Architectures"].clone()), (Some("provided.al2023"), json!(["arm64"])));
    assert_eq!(e["MemorySize"], json!({"Ref": "FunctionMemoryMB"}));
    assert_eq!(e["LoggingConfig"]["LogGroup"], json!({"Ref": "EndpointFunctionLogGroup"}));

    // Reserved concurrency: a parameter, wired through.
    assert_eq!(e["ReservedConcurrentExecutions"], json!({"Ref": "EndpointReservedConcurrency"}));
    let p = &t["Parameters"]["EndpointReservedConcurrency"];
    assert_eq!(
        (p["Type"].as_str(), p["Default"].as_i64(), p["MinValue"].as_i64()),
        (Some("Number"), Some(10), Some(1))
    );
    let stack = stack_for("both", &[("EndpointReservedConcurrency", json!(25)), ("FunctionMemoryMB", json!(256))]);
    let f = stack.properties("EndpointFunction");
    assert_eq!((f["ReservedConcurrentExecutions"].as_i64(), f["MemorySize"].as_i64()), (Some(25), Some(256)));

    // The environment: contract names only, the secrets by reference and never by value.
    let env = e["Environment"]["Variables"].as_object().expect("environment");
    let unknown: Vec<&String> = env.keys().filter(|k| !ENDPOINT_ENV.contains(&k.as_str())).collect();
    assert!(unknown.is_empty(), "not in the contract: {unknown:?}");
    assert_eq!(env["SANITIZED_LOG_GROUP"], json!({"Ref": "SanitizedLogGroup"}));
    assert_eq!(env["PSEUDONYM_KEY_SECRET_ARN"], json!({"Ref": "PseudonymKeySecret"}));
    assert_eq!(env["OTLP_TOKEN_SECRET_ARN"], json!({"Ref": "EndpointTokenSecret"}));
    assert_eq!(env["METRICS_NAMESPACE"], s["Environment"]["Variables"]["METRICS_NAMESPACE"]);
    for secret in ["PSEUDONYM_KEY", "OTLP_TOKEN"] {
        assert!(!env.contains_key(secret), "{secret} would put a secret in the function's configuration");
    }
    // The binary reads each of them: its configuration and the sanitizer's, which it builds on.
    let read = [include_str!("../crates/otlp-endpoint/src/config.rs"), include_str!("../crates/aws/src/config.rs")];
    for name in env.keys() {
        assert!(read.iter().any(|src| src.contains(&format!("\"{name}\""))), "the endpoint never reads {name}");
    }

    // The token: generated, long, and only characters a header and OTEL_EXPORTER_OTLP_HEADERS
    // carry as they are.
    let secret = &res["EndpointTokenSecret"]["Properties"];
    assert!(secret["SecretString"].is_null(), "the token is generated, never written in the template");
    let g = &secret["GenerateSecretString"];
    assert_eq!((g["ExcludePunctuation"].as_bool(), g["IncludeSpace"].as_bool()), (Some(true), Some(false)));
    assert!(g["PasswordLength"].as_u64() >= Some(32), "{g}");
}

#[test]
fn the_endpoint_alarms_watch_its_errors_throttles_and_5xx() {
    let stack = stack_for("endpoint", &[]);
    let mut watched = BTreeSet::new();
    for name in created(&stack) {
        if resources(&stack.t)[&name]["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let p = stack.properties(&name);
        assert_eq!(p["AlarmActions"], json!(["{AlarmTopic}"]), "{name} notifies the alarm topic");
        if p["Namespace"] == "AWS/Lambda" {
            assert_eq!(p["Dimensions"], json!([{"Name": "FunctionName", "Value": "{EndpointFunction}"}]), "{name}");
            assert_eq!((p["Statistic"].as_str(), p["Threshold"].as_i64()), (Some("Sum"), Some(0)), "{name}");
            watched.insert(p["MetricName"].as_str().expect("metric").to_string());
        }
    }
    assert_eq!(watched, ["Errors", "Throttles", "Url5xxCount"].map(String::from).into());
}

/// The Claude Code settings the endpoint's outputs give, exactly (the token as TOKEN).
fn claude_code_env(url: &str) -> Value {
    json!({
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer TOKEN",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
    })
}

/// The outputs a stack shows, evaluated.
fn outputs(stack: &Stack) -> BTreeMap<String, Value> {
    stack.t["Outputs"]
        .as_object()
        .expect("Outputs")
        .iter()
        .filter(|(_, o)| o["Condition"].as_str().is_none_or(|c| stack.conditions[c]))
        .map(|(name, o)| (name.clone(), stack.eval(&o["Value"])))
        .collect()
}

#[test]
fn the_outputs_give_the_endpoint_and_the_exact_claude_code_settings() {
    let url = FUNCTION_URL;
    let out = outputs(&stack_for("endpoint", &[]));
    assert_eq!(out["OtlpEndpointUrl"], url, "without the trailing slash: the client appends /v1/logs");
    let command = format!(
        "aws secretsmanager get-secret-value --region {REGION} --secret-id {{EndpointTokenSecret}} --query SecretString --output text"
    );
    assert_eq!(out["EndpointTokenCommand"], command);

    let settings: Value = serde_json::from_str(out["ClaudeCodeManagedSettings"].as_str().expect("a string"))
        .expect("ClaudeCodeManagedSettings is JSON");
    assert_eq!(settings, json!({"env": claude_code_env(url)}));

    // The shell lines set the same variables, the header with the token the CLI reads.
    let shell = out["ClaudeCodeShellLines"].as_str().expect("a string");
    let rest = shell.strip_prefix("export ").expect("one export line");
    let assignment = regex::Regex::new(r#"^([A-Z_]+)=("[^"]*"|[^ "]+)(?: |$)"#).expect("regex");
    let mut vars = Map::new();
    let mut at = rest;
    while !at.is_empty() {
        let c = assignment.captures(at).unwrap_or_else(|| panic!("not an assignment: {at}"));
        vars.insert(c[1].to_string(), json!(c[2].trim_matches('"')));
        at = &at[c[0].len()..];
    }
    let mut expected = claude_code_env(url);
    expected["OTEL_EXPORTER_OTLP_HEADERS"] = json!(format!("Authorization=Bearer $({command})"));
    assert_eq!(Value::Object(vars), expected);

    // Every variable name the reference documents for Claude Code's exporter, spelled as it is.
    for name in settings["env"].as_object().expect("env").keys() {
        assert!(name == "CLAUDE_CODE_ENABLE_TELEMETRY" || name.starts_with("OTEL_"), "{name}");
    }

    // The raw mode has none of these; the endpoint mode none of the raw group's.
    let raw = outputs(&stack_for("raw", &[]));
    assert!(raw.keys().all(|k| !k.starts_with("ClaudeCode") && !k.starts_with("Endpoint") && k != "OtlpEndpointUrl"));
    let endpoint = outputs(&stack_for(
        "endpoint",
        &[("EnableBearerTokenWriter", json!("true")), ("EnableApiGatewayProxy", json!("true"))],
    ));
    let raw_outputs: Vec<&String> = endpoint
        .keys()
        .filter(|k| {
            k.starts_with("Raw") || k.starts_with("BearerToken") || k.starts_with("Proxy") || k.starts_with("Failure")
        })
        .collect();
    assert!(raw_outputs.is_empty(), "{raw_outputs:?}");
}

/// The README's first lines say which mode stores raw data and for how long, with the
/// template's default retention, and that metrics need the endpoint.
#[test]
fn the_readme_intro_says_which_mode_stores_raw_data_and_for_how_long() {
    let t = parse_template(TEMPLATE);
    let days = t["Parameters"]["RawRetentionDays"]["Default"].as_i64().expect("a default");
    let readme = include_str!("../README.md");
    let intro = readme.split("\n## Quick start").next().expect("an intro");
    for needle in [
        "`IngestionMode`".to_string(),
        "`raw`".into(),
        "`endpoint`".into(),
        "`both`".into(),
        "`RawRetentionDays`".into(),
        format!("{days} day"),
        "metrics".into(),
    ] {
        assert!(intro.contains(&needle), "the README's intro does not say {needle}");
    }
}

/// docs/scale.md sizes the endpoint with the template's defaults: its reserved concurrency and
/// the memory its GB-seconds are priced at.
#[test]
fn the_endpoint_cost_table_uses_the_template_defaults() {
    let t = parse_template(TEMPLATE);
    let default = |name: &str| t["Parameters"][name]["Default"].as_i64().unwrap_or_else(|| panic!("{name} default"));
    let scale = include_str!("../docs/scale.md");
    let section = scale.split("## The OTLP endpoint against the raw group").nth(1).expect("the endpoint's section");
    let section = section.split("\n## ").next().expect("section");
    let concurrency = format!("`EndpointReservedConcurrency` (default {})", default("EndpointReservedConcurrency"));
    let memory = format!("at {} MB (`FunctionMemoryMB`'s default)", default("FunctionMemoryMB"));
    for needle in [concurrency, memory] {
        assert!(section.contains(&needle), "docs/scale.md's endpoint section does not say {needle}");
    }
}

// ------------------------------------------------------------------ the sanitized data lake

fn lake_stack(mode: &str, digest: bool, readers: &[&str]) -> Stack {
    stack_for(
        mode,
        &[
            ("EnableDataLake", json!("true")),
            ("EnableDigest", json!(digest.to_string())),
            ("LakeReaderArns", json!(readers)),
        ],
    )
}

use cfn::{READER, STRANGER, lake_policy_problems};

/// Exactly what the delivery role (Firehose) and the subscription role (CloudWatch Logs) grant.
fn lake_role_grants() -> [(&'static str, cfn::Grants); 2] {
    let bucket = "{LakeBucket.Arn}";
    let stream = format!(
        "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{{LakeDeliveryLogGroup}}:log-stream:{{LakeDeliveryLogStream}}"
    );
    [
        (
            "LakeDeliveryRole",
            grants(&[
                ("s3:GetBucketLocation", bucket),
                ("s3:ListBucket", bucket),
                ("s3:ListBucketMultipartUploads", bucket),
                ("s3:PutObject", "{LakeBucket.Arn}/sanitized/*"),
                ("s3:PutObject", "{LakeBucket.Arn}/errors/*"),
                ("s3:AbortMultipartUpload", "{LakeBucket.Arn}/sanitized/*"),
                ("s3:AbortMultipartUpload", "{LakeBucket.Arn}/errors/*"),
                ("logs:PutLogEvents", &stream),
            ]),
        ),
        (
            "LakeSubscriptionRole",
            grants(&[
                ("firehose:PutRecord", "{LakeDeliveryStream.Arn}"),
                ("firehose:PutRecordBatch", "{LakeDeliveryStream.Arn}"),
            ]),
        ),
    ]
}

#[test]
fn lake_roles_grant_exactly_what_they_are_for() {
    for mode in MODES {
        for digest in [false, true] {
            let stack = lake_stack(mode, digest, &[READER]);
            for (role, expected) in lake_role_grants() {
                assert_exact(&stack, role, &expected);
            }
            let firehose = trust(&stack, "LakeDeliveryRole");
            assert_eq!(firehose["Principal"], json!({"Service": "firehose.amazonaws.com"}));
            assert_eq!(firehose["Condition"], json!({"StringEquals": {"aws:SourceAccount": ACCOUNT}}));
            let logs = trust(&stack, "LakeSubscriptionRole");
            assert_eq!(logs["Principal"], json!({"Service": "logs.amazonaws.com"}));
            assert_eq!(
                logs["Condition"],
                json!({"StringLike": {"aws:SourceArn": format!("arn:aws:logs:{REGION}:{ACCOUNT}:*")}})
            );
            let ids = identities(&stack);
            assert!(ids.contains("LakeDeliveryRole") && ids.contains("LakeSubscriptionRole"), "{ids:?}");
        }
    }
    // Off by default: no lake identity.
    assert!(!identities(&stack_for("raw", &[])).iter().any(|i| i.starts_with("Lake")));
    // The exact check catches a wider delivery role: reading the bucket.
    let mut t = parse_template(TEMPLATE);
    t["Resources"]["LakeDeliveryRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${LakeBucket.Arn}/*"}}));
    let stack = Stack::from_template(t, &[("EnableDataLake", json!("true"))]);
    let p = check_exact(&stack, "LakeDeliveryRole", &lake_role_grants()[0].1).expect_err("a wider grant");
    assert!(p.iter().any(|m| m.contains("s3:GetObject")), "{p:?}");
}

/// The digest's role with the lake on and off, evaluated: the lake's grants exist only with it.
#[test]
fn the_digest_reads_the_lake_only_when_it_is_on() {
    let logs = |group: &str| format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{{{group}}}:*");
    let base = [
        ("logs:FilterLogEvents", logs("SanitizedLogGroup")),
        ("logs:CreateLogStream", logs("DigestFunctionLogGroup")),
        ("logs:PutLogEvents", logs("DigestFunctionLogGroup")),
        ("secretsmanager:GetSecretValue", "{DigestWebhookSecret}".to_string()),
        ("logs:DescribeLogGroups", format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*")),
    ];
    for lake in [false, true] {
        let stack = stack_for("raw", &[("EnableDigest", json!("true")), ("EnableDataLake", json!(lake.to_string()))]);
        let mut expected: cfn::Grants = base.iter().map(|(a, r)| (a.to_string(), r.clone())).collect();
        if lake {
            expected.insert((
                "s3:ListBucket".into(),
                r#"{LakeBucket.Arn} if {"StringLike":{"s3:prefix":"sanitized/*"}}"#.into(),
            ));
            expected.insert(("s3:GetObject".into(), "{LakeBucket.Arn}/sanitized/*".into()));
        }
        assert_exact(&stack, "DigestRole", &expected);
        let env = &stack.properties("DigestFunction")["Environment"]["Variables"];
        assert_eq!(env["DIGEST_LOG_GROUP"], "{SanitizedLogGroup}");
        assert_eq!(env.get("DIGEST_S3"), lake.then(|| json!("s3://{LakeBucket}/sanitized")).as_ref(), "lake {lake}");
    }
}

#[test]
fn the_lake_bucket_policy_lets_only_delivery_write_and_only_the_digest_and_readers_read() {
    for (digest, readers) in [(false, vec![]), (true, vec![]), (false, vec![READER]), (true, vec![READER])] {
        let stack = lake_stack("raw", digest, &readers);
        let problems = lake_policy_problems(&stack);
        assert!(problems.is_empty(), "digest {digest}, readers {readers:?}:\n  {}", problems.join("\n  "));
    }
    // The check fails without the read restriction, or with the stranger among the writers.
    let mut t = parse_template(TEMPLATE);
    let statements =
        t["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
    statements.retain(|s| s["Sid"] != "OnlyDigestAndReadersRead");
    let stack = Stack::from_template(t, &[("EnableDataLake", json!("true")), ("LakeReaderArns", json!([READER]))]);
    assert!(lake_policy_problems(&stack).iter().any(|p| p.contains("Admin s3:GetObject")));
    let mut t = parse_template(TEMPLATE);
    t["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] =
        json!([{"Fn::GetAtt": ["LakeDeliveryRole", "Arn"]}, STRANGER]);
    let stack = Stack::from_template(t, &[("EnableDataLake", json!("true"))]);
    assert!(lake_policy_problems(&stack).iter().any(|p| p.contains("Admin s3:PutObject sanitized")));
}

/// Only the sanitized group feeds the lake, through one filter with an empty pattern; Firehose
/// unpacks each record into the sanitized lines, one per line, gzip, by arrival day.
#[test]
fn only_the_sanitized_group_feeds_the_lake_as_ndjson() {
    for mode in MODES {
        let stack = lake_stack(mode, true, &[]);
        let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
        for name in created(&stack) {
            if resources(&stack.t)[&name]["Type"] == "AWS::Logs::SubscriptionFilter" {
                let p = stack.properties(&name);
                *per_group.entry(p["LogGroupName"].as_str().unwrap().to_string()).or_default() += 1;
                if p["DestinationArn"] == "{LakeDeliveryStream.Arn}" {
                    assert_eq!(name, "LakeSubscription");
                }
            }
        }
        assert!(
            per_group.values().all(|&n| n <= 2),
            "a log group takes at most two subscription filters: {per_group:?}"
        );
        assert_eq!(
            stack.properties("LakeSubscription"),
            json!({"FilterName": "claude-otel-lake", "LogGroupName": "{SanitizedLogGroup}", "FilterPattern": "",
                   "DestinationArn": "{LakeDeliveryStream.Arn}", "RoleArn": "{LakeSubscriptionRole.Arn}"})
        );
        let s3 = &stack.properties("LakeDeliveryStream")["ExtendedS3DestinationConfiguration"];
        assert_eq!(s3["BucketARN"], "{LakeBucket.Arn}");
        assert_eq!(s3["RoleARN"], "{LakeDeliveryRole.Arn}");
        assert_eq!(s3["Prefix"], "sanitized/dt=!{timestamp:yyyy-MM-dd}/");
        assert_eq!(s3["ErrorOutputPrefix"], "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/");
        assert_eq!(s3["CompressionFormat"], "GZIP");
        assert_eq!(
            s3["ProcessingConfiguration"],
            json!({"Enabled": true, "Processors": [
                {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
                {"Type": "CloudWatchLogProcessing", "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]},
                {"Type": "AppendDelimiterToRecord"}
            ]})
        );
    }
    // Encrypted, private, expiring.
    let stack = lake_stack("raw", false, &[]);
    let bucket = stack.properties("LakeBucket");
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    let rules = bucket["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["ExpirationInDays"] == 730 && r["Prefix"].is_null()), "{rules:?}");
    assert!(rules.iter().any(|r| r["Prefix"] == "athena-results/" && r["ExpirationInDays"].as_u64() <= Some(30)));
    let wg = stack.properties("LakeWorkGroup")["WorkGroupConfiguration"].clone();
    assert_eq!(wg["EnforceWorkGroupConfiguration"], true);
    assert_eq!(wg["ResultConfiguration"]["OutputLocation"], "s3://{LakeBucket}/athena-results/");
    assert!(wg["BytesScannedCutoffPerQuery"].as_u64().is_some());
}

/// Off by default and all in one block: every lake resource is named Lake* and conditional on
/// the lake, and with EnableDataLake=false none is created.
#[test]
fn the_lake_is_off_by_default_and_all_its_resources_are_lake_star() {
    let t = parse_template(TEMPLATE);
    assert_eq!(t["Parameters"]["EnableDataLake"]["Default"], "false");
    for (name, r) in resources(&t) {
        let conditional = r["Condition"] == "LakeEnabled";
        assert_eq!(
            name.starts_with("Lake"),
            conditional,
            "{name}: lake resources (and only they) are Lake* and conditional"
        );
    }
    for mode in MODES {
        assert!(!created(&stack_for(mode, &[])).iter().any(|n| n.starts_with("Lake")));
        let on = created(&lake_stack(mode, false, &[]));
        assert!(on.contains("LakeSubscription") && on.contains("LakeTable") && on.contains("LakeBucketPolicy"));
    }
}
