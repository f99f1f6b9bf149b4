//! The figures of a digest, computed from the two window tallies: the one value every format
//! renders, and the `json` format itself (schema in docs/digest.md).
//!
//! Trusts the tallies (built from checked sanitized messages only, so every name is an
//! identifier and every figure within its allowlist bounds). Guarantees: teams, departments
//! and cost centers are named only as [`suppress`] allows (no figure of fewer
//! than K people can be read or subtracted out, across rows, dimensions and windows), and an
//! `other` row only when it holds at least K people from at least two groups; only the top 3
//! users by sessions are named (by pseudonym), never a list of all or of inactive users;
//! amounts are rounded (USD to 6 decimals, percentages to 0.1) so output does not depend on
//! summation order, and every number is finite.

use super::sections::Sections;
use super::suppress::{self, Named};
use super::tally::{Cell, Digest, GroupTally, LineCounts, NameTally, Tally};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Schema name and version of the JSON format.
pub const SCHEMA: &str = "claude-otel-sanitizer.digest.v1";

/// How many users are named in `top_users`.
pub const TOP_USERS: usize = 3;

/// A count and its change against the previous window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Count {
    pub value: u64,
    pub previous: u64,
    pub change: i64,
    /// `null` when the previous value is 0.
    pub change_pct: Option<f64>,
}

impl Count {
    pub fn new(value: u64, previous: u64) -> Count {
        let change = i64::try_from(value).unwrap_or(i64::MAX) - i64::try_from(previous).unwrap_or(i64::MAX);
        Count { value, previous, change, change_pct: pct_change(value as f64, previous as f64) }
    }
}

/// An amount in USD and its change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Amount {
    pub value: f64,
    pub previous: f64,
    pub change: f64,
    pub change_pct: Option<f64>,
}

impl Amount {
    pub fn new(value: f64, previous: f64) -> Amount {
        let (value, previous) = (usd(value), usd(previous));
        Amount { value, previous, change: usd(value - previous), change_pct: pct_change(value, previous) }
    }
}

/// A percentage and its change in percentage points (`null` when either is undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percent {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub change_pp: Option<f64>,
}

impl Percent {
    pub(crate) fn new(value: Option<f64>, previous: Option<f64>) -> Percent {
        let (value, previous) = (value.map(tenth), previous.map(tenth));
        let change_pp = value.zip(previous).map(|(v, p)| tenth(v - p));
        Percent { value, previous, change_pp }
    }
}

/// The largest amount a report prints: sums of bounded costs stay far below it; anything above
/// (or not finite) is clamped, so every number is finite JSON and every renderer's work bounded.
pub const MAX_AMOUNT: f64 = 1e15;

fn usd(x: f64) -> f64 {
    let x = if x.is_finite() { x.clamp(-MAX_AMOUNT, MAX_AMOUNT) } else { 0.0 };
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

fn tenth(x: f64) -> f64 {
    let x = if x.is_finite() { x.clamp(-MAX_AMOUNT, MAX_AMOUNT) } else { 0.0 };
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 { 0.0 } else { r }
}

pub(crate) fn pct_change(value: f64, previous: f64) -> Option<f64> {
    (previous > 0.0).then(|| tenth(100.0 * (value - previous) / previous))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowInfo {
    pub days: u32,
    /// RFC 3339, inclusive.
    pub start: String,
    /// RFC 3339, exclusive.
    pub end: String,
    pub previous_start: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub lines: u64,
    pub used: u64,
    pub duplicates: u64,
    pub outside_window: u64,
    pub refused: u64,
    pub refused_by_reason: BTreeMap<&'static str, u64>,
}

impl Input {
    fn new(c: &LineCounts) -> Input {
        let reasons = [
            ("not_json", c.not_json),
            ("not_sanitized", c.not_sanitized),
            ("out_of_range", c.out_of_range),
            ("no_time", c.no_time),
            ("too_long", c.too_long),
        ];
        Input {
            lines: c.lines,
            used: c.used,
            duplicates: c.duplicates,
            outside_window: c.outside_window,
            refused: c.refused(),
            refused_by_reason: reasons.into_iter().filter(|(_, n)| *n > 0).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub active_users: Count,
    pub sessions: Count,
    pub messages: Count,
    pub requests: Count,
    pub cost_usd: Amount,
    pub skill_activations: Count,
    pub subagent_runs: Count,
    pub mcp_calls: Count,
    pub rate_limited_requests: Count,
    pub cache_hit_pct: Percent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tokens {
    pub input: Count,
    pub output: Count,
    pub cache_read: Count,
    pub cache_creation: Count,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    pub model: String,
    pub cost_usd: Amount,
    pub requests: Count,
}

/// A skill, subagent type or MCP server: how often, by how many distinct users.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameRow {
    pub name: String,
    pub count: Count,
    pub users: Count,
}

/// An amount of a group: the previous window's figure (and so the change) is `null` when that
/// window's events of the group do not hold K people.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GroupAmount {
    pub value: f64,
    pub previous: Option<f64>,
    pub change: Option<f64>,
    pub change_pct: Option<f64>,
}

impl GroupAmount {
    fn new(value: f64, previous: Option<f64>) -> GroupAmount {
        let (value, previous) = (usd(value), previous.map(usd));
        GroupAmount {
            value,
            previous,
            change: previous.map(|p| usd(value - p)),
            change_pct: previous.and_then(|p| pct_change(value, p)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// `null`: events without this attribute.
    pub name: Option<String>,
    pub users: u64,
    pub cost_usd: GroupAmount,
}

/// The groups not named, together: how many, never which. Its previous figure covers every
/// group whose previous figure is not shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Other {
    pub groups: u64,
    pub users: u64,
    pub cost_usd: GroupAmount,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub groups: Vec<GroupRow>,
    /// `null` when nothing is folded, or when what is folded holds fewer than K people or a
    /// single group (then nothing is named either: the whole dimension is the totals).
    pub other: Option<Other>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Groups {
    pub min_group_size: u64,
    pub team: Breakdown,
    pub department: Breakdown,
    pub cost_center: Breakdown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopUser {
    pub pseudonym: String,
    pub sessions: u64,
    pub messages: u64,
    pub requests: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The UTC date the day starts on (`YYYY-MM-DD`).
    pub date: String,
    pub start: String,
    pub cost_usd: f64,
    pub messages: u64,
    pub requests: u64,
}

/// Every figure of one digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub window: WindowInfo,
    pub input: Input,
    pub totals: Totals,
    pub tokens: Tokens,
    pub models: Vec<ModelRow>,
    pub skills: Vec<NameRow>,
    pub subagents: Vec<NameRow>,
    pub mcp_servers: Vec<NameRow>,
    pub groups: Groups,
    pub top_users: Vec<TopUser>,
    pub days: Vec<Day>,
    /// Acceptance, tools, latency, friction, safety, activity and sizes: in the JSON form,
    /// members of the report like the others.
    #[serde(flatten)]
    pub sections: Sections,
}

impl Report {
    /// The report of a finished digest; groups of fewer than `min_group_size` distinct users
    /// are folded into `other`.
    pub fn new(digest: &Digest, min_group_size: u64) -> Report {
        let [cur, prev] = &digest.tallies;
        let w = digest.window;
        let named_cur = suppress::fold(&cur.cells, min_group_size, suppress::large_groups(&cur.cells, min_group_size));
        let named_prev = suppress::fold(&prev.cells, min_group_size, named_cur.clone());
        let breakdown = |dim| breakdown(cur, prev, dim, &named_cur, &named_prev, min_group_size);
        let count = |f: fn(&Tally) -> u64| Count::new(f(cur), f(prev));
        let dates: Vec<String> = (0..cur.days.len())
            .map(|i| rfc3339(w.start_ns() + i as u64 * 86_400 * 1_000_000_000)[..10].to_owned())
            .collect();
        let sections = Sections::new(cur, prev, min_group_size, &dates);
        Report {
            schema: SCHEMA,
            window: WindowInfo {
                days: w.days,
                start: rfc3339(w.start_ns()),
                end: rfc3339(w.end_ns),
                previous_start: rfc3339(w.previous_start_ns()),
            },
            input: Input::new(&digest.counts),
            totals: Totals {
                active_users: count(|t| t.users.len() as u64),
                sessions: count(|t| t.sessions.len() as u64),
                messages: count(|t| t.messages),
                requests: count(|t| t.requests),
                cost_usd: Amount::new(cur.cost_usd, prev.cost_usd),
                skill_activations: count(Tally::skill_activations),
                subagent_runs: count(Tally::subagent_runs),
                mcp_calls: count(Tally::mcp_calls),
                rate_limited_requests: count(|t| t.rate_limited),
                cache_hit_pct: Percent::new(cur.cache_hit_pct(), prev.cache_hit_pct()),
            },
            tokens: Tokens {
                input: count(|t| t.input_tokens),
                output: count(|t| t.output_tokens),
                cache_read: count(|t| t.cache_read_tokens),
                cache_creation: count(|t| t.cache_creation_tokens),
            },
            models: models(cur, prev),
            skills: names(&cur.skills, &prev.skills),
            subagents: names(&cur.subagents, &prev.subagents),
            mcp_servers: names(&cur.mcp_servers, &prev.mcp_servers),
            groups: Groups { min_group_size, team: breakdown(0), department: breakdown(1), cost_center: breakdown(2) },
            top_users: top_users(cur, &digest.pseudonyms),
            days: cur
                .days
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let start = w.start_ns() + i as u64 * 86_400 * 1_000_000_000;
                    let start = rfc3339(start);
                    Day {
                        date: start[..10].to_owned(),
                        start,
                        cost_usd: usd(d.cost_usd),
                        messages: d.messages,
                        requests: d.requests,
                    }
                })
                .collect(),
            sections,
        }
    }
}

fn rfc3339(ns: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "invalid".to_owned())
}

/// Rows for the names of either window, sorted by current value, then previous, then name.
fn models(cur: &Tally, prev: &Tally) -> Vec<ModelRow> {
    let keys: BTreeSet<&String> = cur.models.keys().chain(prev.models.keys()).collect();
    let mut rows: Vec<ModelRow> = keys
        .into_iter()
        .map(|k| {
            let (c, p) =
                (cur.models.get(k).copied().unwrap_or_default(), prev.models.get(k).copied().unwrap_or_default());
            ModelRow {
                model: k.clone(),
                cost_usd: Amount::new(c.cost_usd, p.cost_usd),
                requests: Count::new(c.requests, p.requests),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.cost_usd
            .value
            .total_cmp(&a.cost_usd.value)
            .then(b.requests.value.cmp(&a.requests.value))
            .then(b.cost_usd.previous.total_cmp(&a.cost_usd.previous))
            .then(a.model.cmp(&b.model))
    });
    rows
}

fn names(cur: &BTreeMap<String, NameTally>, prev: &BTreeMap<String, NameTally>) -> Vec<NameRow> {
    let keys: BTreeSet<&String> = cur.keys().chain(prev.keys()).collect();
    let empty = NameTally::default();
    let mut rows: Vec<NameRow> = keys
        .into_iter()
        .map(|k| {
            let (c, p) = (cur.get(k).unwrap_or(&empty), prev.get(k).unwrap_or(&empty));
            NameRow {
                name: k.clone(),
                count: Count::new(c.count, p.count),
                users: Count::new(c.users.len() as u64, p.users.len() as u64),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.count.value.cmp(&a.count.value).then(b.count.previous.cmp(&a.count.previous)).then(a.name.cmp(&b.name))
    });
    rows
}

/// The named groups of one dimension, and the rest as `other` when it may be shown.
fn breakdown(cur: &Tally, prev: &Tally, dim: usize, named_cur: &Named, named_prev: &Named, k: u64) -> Breakdown {
    let per_group = |cells: &BTreeMap<Cell, GroupTally>| {
        let mut out: BTreeMap<Option<String>, (BTreeSet<u32>, f64)> = BTreeMap::new();
        for (cell, g) in cells {
            let e = out.entry(cell[dim].clone()).or_default();
            e.0.extend(g.users.iter().copied());
            e.1 += g.cost_usd;
        }
        out
    };
    let (c, p) = (per_group(&cur.cells), per_group(&prev.cells));
    let mut groups: Vec<GroupRow> = named_cur[dim]
        .iter()
        .map(|name| {
            let (users, cost) = c.get(name).map_or((0, 0.0), |(u, cost)| (u.len() as u64, *cost));
            let previous = named_prev[dim].contains(name).then(|| p.get(name).map_or(0.0, |g| g.1));
            GroupRow { name: name.clone(), users, cost_usd: GroupAmount::new(cost, previous) }
        })
        .collect();
    groups.sort_by(|a, b| b.cost_usd.value.total_cmp(&a.cost_usd.value).then(a.name.cmp(&b.name)));
    let (n, users, cost) = suppress::remainder(&cur.cells, dim, &named_cur[dim]);
    let (prev_n, prev_users, prev_cost) = suppress::remainder(&prev.cells, dim, &named_prev[dim]);
    let shown = |n: u64, users: u64| n >= 2 && users >= k;
    let previous = if prev_n == 0 { Some(0.0) } else { shown(prev_n, prev_users).then_some(prev_cost) };
    let other = shown(n, users).then(|| Other { groups: n, users, cost_usd: GroupAmount::new(cost, previous) });
    Breakdown { groups, other }
}

/// The [`TOP_USERS`] users with most sessions (ties: more cost, then pseudonym).
fn top_users(cur: &Tally, pseudonyms: &[Box<str>]) -> Vec<TopUser> {
    let mut users: Vec<TopUser> = cur
        .users
        .iter()
        .filter(|(_, t)| !t.sessions.is_empty())
        .map(|(u, t)| TopUser {
            pseudonym: pseudonyms.get(*u as usize).map_or_else(String::new, |p| p.to_string()),
            sessions: t.sessions.len() as u64,
            messages: t.messages,
            requests: t.requests,
            cost_usd: usd(t.cost_usd),
        })
        .collect();
    users.sort_by(|a, b| {
        b.sessions.cmp(&a.sessions).then(b.cost_usd.total_cmp(&a.cost_usd)).then(a.pseudonym.cmp(&b.pseudonym))
    });
    users.truncate(TOP_USERS);
    users
}
