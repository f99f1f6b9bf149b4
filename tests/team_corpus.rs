//! The generated two-week team corpus (`fixtures/team/`, made by `fixtures/team/generate.py`):
//! 14 daily subscription payloads of 11 developers in 4 teams. Sanitized, it must be countable
//! by day, user, team and plan exactly as the generator's `expected.json` says, with no canary
//! (every prompt, error, command, path, identity and free resource key carries `CANARY`) in any
//! written byte or count.

mod common;

use common::{root, sanitize_file, sanitizer};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, PartialEq)]
struct Tally {
    messages: u64,
    requests: u64,
    errors: u64,
    cost_usd: f64,
}

impl Tally {
    fn add(&mut self, event: &str, cost: f64) {
        match event {
            "user_prompt" => self.messages += 1,
            "api_request" => {
                self.requests += 1;
                self.cost_usd += cost;
            }
            "api_error" => self.errors += 1,
            _ => {}
        }
    }

    fn matches(&self, expected: &Value) -> bool {
        self.messages == expected["messages"].as_u64().unwrap_or(u64::MAX)
            && self.requests == expected["requests"].as_u64().unwrap_or(u64::MAX)
            && self.errors == expected["errors"].as_u64().unwrap_or(u64::MAX)
            && (self.cost_usd - expected["cost_usd"].as_f64().unwrap_or(f64::NAN)).abs() < 1e-6
    }
}

/// The pseudonym the sanitizer writes for a developer of the corpus.
fn pseudonym_of(handle: &str) -> String {
    let message = json!({"body": "claude_code.user_prompt", "attributes": {
        "event.name": "user_prompt", "user.email": format!("{handle}.CANARY@example.com")}})
    .to_string();
    let (line, _) = sanitizer()
        .sanitize_message(sanitizer_core::Origin::NONE, &message, &mut sanitizer_core::Counts::default())
        .expect("a user_prompt is kept");
    let v: Value = serde_json::from_str(&line).expect("json");
    v["attributes"]["user.pseudonym"].as_str().expect("pseudonym written").to_owned()
}

/// When an event happened, in ms, from the message alone (its `timeUnixNano`), so an export of
/// the sanitized group is self-describing; it must agree with the CloudWatch timestamp.
fn event_ms(message: &Value, cloudwatch_ms: i64) -> i64 {
    let ns = message["timeUnixNano"].as_str().expect("every message carries timeUnixNano");
    let ms = ns.parse::<i64>().expect("timeUnixNano is decimal digits") / 1_000_000;
    assert_eq!(ms, cloudwatch_ms, "timeUnixNano and the CloudWatch timestamp agree");
    ms
}

#[test]
fn the_team_corpus_counts_by_day_user_team_and_plan_without_a_canary() {
    let dir = root().join("fixtures/team");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json")).unwrap();
    let days = expected["days"].as_array().expect("days");
    assert_eq!(days.len(), 14, "two weeks");
    let s = sanitizer();
    let mut users_overall = BTreeSet::new();
    let mut users_by_team: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut written = 0;
    for day in days {
        let file = day["file"].as_str().expect("file");
        let out = sanitize_file(&s, &dir.join(file));
        assert!(!out.counts.to_string().contains("CANARY"), "{file}: counts name a value");
        assert_eq!(out.counts.received, day["events"].as_u64().unwrap(), "{file}: every event received");
        assert_eq!(out.counts.received, out.counts.written + out.counts.dropped_total(), "{file}");
        let start = day["date_ms"].as_i64().expect("date");
        let mut by: BTreeMap<(&str, String), Tally> = BTreeMap::new();
        for e in &out.events {
            assert!(!e.message.contains("CANARY"), "{file}: leak in {}", e.message);
            let v: Value = serde_json::from_str(&e.message).expect("json");
            let ms = event_ms(&v, e.timestamp);
            assert_eq!((ms - start).div_euclid(DAY_MS), 0, "{file}: an event outside its day");
            let a = &v["attributes"];
            let r = &v["resource"]["attributes"];
            let name = a["event.name"].as_str().expect("event.name");
            let user = a["user.pseudonym"].as_str().expect("every event has its user").to_owned();
            let team = r["team.id"].as_str().expect("every event has its team").to_owned();
            let plan = r["user.plan"].as_str().expect("every event has its plan").to_owned();
            let cost = a["cost_usd"].as_f64().unwrap_or(0.0);
            users_overall.insert(user.clone());
            users_by_team.entry(team.clone()).or_default().insert(user.clone());
            for key in [("user", user), ("team", team), ("plan", plan), ("day", "all".to_owned())] {
                by.entry(key).or_default().add(name, cost);
            }
            written += 1;
        }
        for group in ["day", "team", "plan", "user"] {
            let want = day[group].as_object().expect("group");
            let got: BTreeSet<String> = by.keys().filter(|(g, _)| *g == group).map(|(_, k)| k.clone()).collect();
            let keys: BTreeSet<String> =
                want.keys().map(|k| if group == "user" { pseudonym_of(k) } else { k.clone() }).collect();
            assert_eq!(got, keys, "{file}: the {group}s present");
            for (k, counts) in want {
                let key = if group == "user" { pseudonym_of(k) } else { k.clone() };
                let tally = &by[&(group, key)];
                assert!(tally.matches(counts), "{file}: {group} {k}: sanitized {tally:?}, generated {counts}");
            }
        }
    }
    assert!(written > 5_000, "the corpus writes a team's two weeks, not a handful ({written})");
    assert_eq!(users_overall.len() as u64, expected["developers"].as_u64().unwrap());
    // What the dashboard's `filter users >= 3` shows: the three real teams, not the team of one.
    let shown: Vec<&str> =
        users_by_team.iter().filter(|(_, users)| users.len() >= 3).map(|(team, _)| team.as_str()).collect();
    assert_eq!(shown, ["mobile", "payments", "platform"]);
    assert_eq!(users_by_team["research"].len(), 1);
}
