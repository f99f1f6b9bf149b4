//! The usage sections: is it working (acceptance, tools, latency, subagent runs), where is
//! the friction, is it used safely (permission modes, plugins, MCP connections, hooks), when is
//! the team active, and how large are prompts and responses.
//!
//! Trusts the window tallies. Guarantees: every breakdown by a name (tool, decision source,
//! model, subagent type, permission mode, plugin, marketplace, MCP status and transport, hook
//! event and source, hour of a weekday) names a row only as [`suppress`]
//! allows for the org groups: the breakdown's events are cut by its names into cells, the cells'
//! *atoms* each hold at least K people, and an `other` row is shown only with K people from two
//! groups. So no figure of fewer than K people can be read or subtracted out of a breakdown (its
//! rows, its `other`, its total, its second dimension), and a previous figure is shown only
//! when that window's atoms hold K people too. Percentiles are nearest-rank over values rounded
//! down to 6 significant binary digits ([`Dist`]); rates are rounded to 0.1, ratios to 0.001.

use super::report::{Count, Percent, pct_change};
use super::suppress::{self, Named};
use super::tally::{Cell, Cells, Dist, GroupTally, ModeChanges, SIZE_BUCKETS, Sizes, Stat, Sum, Tally, WATCHED_MODES};
use serde::Serialize;
use std::collections::BTreeMap;

/// A count of a row whose previous figure may be hidden (`null`: that window's atoms of the
/// row hold fewer than K people).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowCount {
    pub value: u64,
    pub previous: Option<u64>,
    pub change: Option<i64>,
    pub change_pct: Option<f64>,
}

impl RowCount {
    fn new(value: u64, previous: Option<u64>) -> RowCount {
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        RowCount {
            value,
            previous,
            change: previous.map(|p| signed(value) - signed(p)),
            change_pct: previous.and_then(|p| pct_change(value as f64, p as f64)),
        }
    }
}

/// A percentile in ms or characters, and its change in percent (`null` when either is
/// undefined or hidden).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantile {
    pub value: Option<u64>,
    pub previous: Option<u64>,
    pub change_pct: Option<f64>,
}

impl Quantile {
    fn new(value: Option<u64>, previous: Option<u64>) -> Quantile {
        let change_pct = value.zip(previous).and_then(|(v, p)| pct_change(v as f64, p as f64));
        Quantile { value, previous, change_pct }
    }

    fn of(cur: &Dist, prev: Option<&Dist>, p: u64) -> Quantile {
        Quantile::new(cur.percentile(p), prev.and_then(|d| d.percentile(p)))
    }
}

/// A ratio (such as compactions per session), to 0.001, and its change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub change: Option<f64>,
}

fn thousandth(x: f64) -> f64 {
    let r = (x * 1000.0).round() / 1000.0;
    if r == 0.0 { 0.0 } else { r }
}

impl Ratio {
    fn new(num: [u64; 2], den: [u64; 2]) -> Ratio {
        let r = |i: usize| (den[i] > 0).then(|| thousandth(num[i] as f64 / den[i] as f64));
        let (value, previous) = (r(0), r(1));
        Ratio { value, previous, change: value.zip(previous).map(|(v, p)| thousandth(v - p)) }
    }
}

/// 100 × yes / (yes + no); `None` when both are 0.
fn rate(yes: u64, no: u64) -> Option<f64> {
    let n = yes.saturating_add(no);
    (n > 0).then(|| 100.0 * yes as f64 / n as f64)
}

fn percent(cur: Option<f64>, prev: Option<Option<f64>>) -> Percent {
    Percent::new(cur, prev.flatten())
}

/// One named row of a breakdown: `name` `null` for events without the attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row<F> {
    pub name: Option<String>,
    pub users: RowCount,
    #[serde(flatten)]
    pub figures: F,
}

/// The rows not named, together: how many, never which (at least 2, with at least K people).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtherRow<F> {
    pub groups: u64,
    pub users: RowCount,
    #[serde(flatten)]
    pub figures: F,
}

/// The named rows of one dimension, largest first, and the rest as `other` when it may be shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rows<F> {
    pub rows: Vec<Row<F>>,
    pub other: Option<OtherRow<F>>,
}

/// The figures of a row from its current stats and, when shown, its previous ones.
type Figures<F> = fn(&Stat, Option<&Stat>) -> F;

/// Names each dimension of `cur`'s cells (and `prev`'s, from those) by the suppression rule.
fn named(cur: &Cells, prev: &Cells, k: u64) -> (Named, Named) {
    let groups = |cells: &Cells| -> BTreeMap<Cell, GroupTally> {
        cells
            .iter()
            .map(|(c, s)| (c.clone(), GroupTally { events: s.events, users: s.users.clone(), cost_usd: 0.0 }))
            .collect()
    };
    let (c, p) = (groups(cur), groups(prev));
    let named_cur = suppress::fold(&c, k, suppress::large_groups(&c, k));
    let named_prev = suppress::fold(&p, k, named_cur.clone());
    (named_cur, named_prev)
}

/// Per name of dimension `dim`: the merged stats of its cells.
fn by_name(cells: &Cells, dim: usize) -> BTreeMap<Option<String>, Stat> {
    let mut out: BTreeMap<Option<String>, Stat> = BTreeMap::new();
    for (cell, s) in cells {
        out.entry(cell[dim].clone()).or_default().merge(s);
    }
    out
}

/// The cells of `dim` not named in `named`: how many groups, and their merged stats.
fn rest(cells: &Cells, dim: usize, named: &std::collections::BTreeSet<Option<String>>) -> (u64, Stat) {
    let mut groups = std::collections::BTreeSet::new();
    let mut out = Stat::default();
    for (cell, s) in cells.iter().filter(|(c, s)| s.events > 0 && !named.contains(&c[dim])) {
        groups.insert(&cell[dim]);
        out.merge(s);
    }
    (groups.len() as u64, out)
}

fn total(cells: &Cells) -> Stat {
    let mut out = Stat::default();
    for s in cells.values() {
        out.merge(s);
    }
    out
}

/// The rows of each of the first `dims` dimensions of a breakdown.
fn breakdown<F>(cur: &Cells, prev: &Cells, k: u64, dims: usize, figures: Figures<F>) -> Vec<Rows<F>> {
    let (named_cur, named_prev) = named(cur, prev, k);
    (0..dims)
        .map(|dim| {
            let (c, p) = (by_name(cur, dim), by_name(prev, dim));
            let empty = Stat::default();
            let mut rows: Vec<Row<F>> = named_cur[dim]
                .iter()
                .map(|name| {
                    let s = c.get(name).unwrap_or(&empty);
                    let ps = named_prev[dim].contains(name).then(|| p.get(name).unwrap_or(&empty));
                    Row {
                        name: name.clone(),
                        users: RowCount::new(s.users.len() as u64, ps.map(|p| p.users.len() as u64)),
                        figures: figures(s, ps),
                    }
                })
                .collect();
            // Largest first: by events, then name.
            let events = |name: &Option<String>| c.get(name).map_or(0, |s| s.events);
            rows.sort_by(|a, b| events(&b.name).cmp(&events(&a.name)).then(a.name.cmp(&b.name)));
            let (n, s) = rest(cur, dim, &named_cur[dim]);
            let (pn, ps) = rest(prev, dim, &named_prev[dim]);
            let shown = |n: u64, s: &Stat| n >= 2 && s.users.len() as u64 >= k;
            let previous = if pn == 0 { Some(&empty) } else { shown(pn, &ps).then_some(&ps) };
            let other = shown(n, &s).then(|| OtherRow {
                groups: n,
                users: RowCount::new(s.users.len() as u64, previous.map(|p| p.users.len() as u64)),
                figures: figures(&s, previous),
            });
            Rows { rows, other }
        })
        .collect()
}

/// The whole breakdown's figures (always shown: the team's total).
fn overall<F>(cur: &Cells, prev: &Cells, figures: Figures<F>) -> (Count, F) {
    let (c, p) = (total(cur), total(prev));
    (Count::new(c.users.len() as u64, p.users.len() as u64), figures(&c, Some(&p)))
}

fn two<F>(mut v: Vec<Rows<F>>) -> (Rows<F>, Rows<F>) {
    let second = v.pop();
    let first = v.pop();
    match (first, second) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("breakdown() returns one Rows per dimension"),
    }
}

fn one<F>(mut v: Vec<Rows<F>>) -> Rows<F> {
    v.pop().unwrap_or(Rows { rows: Vec::new(), other: None })
}

fn count(s: &Stat, f: fn(&Stat) -> u64, p: Option<&Stat>) -> RowCount {
    RowCount::new(f(s), p.map(f))
}

// ---------------------------------------------------------------- is it working

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceptanceFigures {
    pub decisions: RowCount,
    pub accepted: RowCount,
    pub rejected: RowCount,
    /// 100 × accepted / (accepted + rejected).
    pub acceptance_pct: Percent,
}

fn acceptance_figures(s: &Stat, p: Option<&Stat>) -> AcceptanceFigures {
    AcceptanceFigures {
        decisions: count(s, |s| s.events, p),
        accepted: count(s, |s| s.yes, p),
        rejected: count(s, |s| s.no, p),
        acceptance_pct: percent(rate(s.yes, s.no), p.map(|p| rate(p.yes, p.no))),
    }
}

/// Edit acceptance: `tool_decision` events, accepted and rejected, by tool and by source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Acceptance {
    pub users: Count,
    pub total: AcceptanceFigures,
    pub by_tool: Rows<AcceptanceFigures>,
    pub by_source: Rows<AcceptanceFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolFigures {
    pub calls: RowCount,
    /// 100 × success / (success + failure), of the calls that say.
    pub success_pct: Percent,
    pub duration_ms_p50: Quantile,
    pub duration_ms_p95: Quantile,
}

fn tool_figures(s: &Stat, p: Option<&Stat>) -> ToolFigures {
    ToolFigures {
        calls: count(s, |s| s.events, p),
        success_pct: percent(rate(s.yes, s.no), p.map(|p| rate(p.yes, p.no))),
        duration_ms_p50: Quantile::of(&s.a, p.map(|p| &p.a), 50),
        duration_ms_p95: Quantile::of(&s.a, p.map(|p| &p.a), 95),
    }
}

/// Tool calls (`tool_result`): success rate and duration, by tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tools {
    pub users: Count,
    pub total: ToolFigures,
    pub by_tool: Rows<ToolFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyFigures {
    pub requests: RowCount,
    pub ttft_ms_p50: Quantile,
    pub ttft_ms_p95: Quantile,
    pub duration_ms_p50: Quantile,
    pub duration_ms_p95: Quantile,
}

fn latency_figures(s: &Stat, p: Option<&Stat>) -> LatencyFigures {
    LatencyFigures {
        requests: count(s, |s| s.events, p),
        ttft_ms_p50: Quantile::of(&s.a, p.map(|p| &p.a), 50),
        ttft_ms_p95: Quantile::of(&s.a, p.map(|p| &p.a), 95),
        duration_ms_p50: Quantile::of(&s.b, p.map(|p| &p.b), 50),
        duration_ms_p95: Quantile::of(&s.b, p.map(|p| &p.b), 95),
    }
}

/// Model latency (`api_request`): time to first token and request duration, by model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    pub users: Count,
    pub total: LatencyFigures,
    pub by_model: Rows<LatencyFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubagentFigures {
    pub runs: RowCount,
    pub tool_uses: RowCount,
    pub duration_ms_p50: Quantile,
    pub duration_ms_p95: Quantile,
}

fn subagent_figures(s: &Stat, p: Option<&Stat>) -> SubagentFigures {
    SubagentFigures {
        runs: count(s, |s| s.events, p),
        tool_uses: count(s, |s| s.sum, p),
        duration_ms_p50: Quantile::of(&s.a, p.map(|p| &p.a), 50),
        duration_ms_p95: Quantile::of(&s.a, p.map(|p| &p.a), 95),
    }
}

/// Subagent runs (`subagent_completed`): tool uses and duration, by subagent type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubagentRuns {
    pub users: Count,
    pub total: SubagentFigures,
    pub by_type: Rows<SubagentFigures>,
}

// ---------------------------------------------------------------- friction

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrictionDay {
    pub date: String,
    pub status_429: u64,
    pub status_529: u64,
}

/// Where work stalls: refusals, exhausted retries, 429/529, compactions, blocking hooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Friction {
    pub refusals: Count,
    pub retries_exhausted: Count,
    pub status_429: Count,
    pub status_529: Count,
    pub compactions_auto: Count,
    pub compactions_manual: Count,
    /// Compactions per session (`totals.sessions`), by trigger.
    pub compactions_per_session_auto: Ratio,
    pub compactions_per_session_manual: Ratio,
    /// `hook_execution_complete` events with `num_blocking` > 0.
    pub blocking_hook_runs: Count,
    pub days: Vec<FrictionDay>,
}

// ---------------------------------------------------------------- used safely

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeFigures {
    pub sessions: RowCount,
    /// 100 × the mode's sessions / sessions with a tool decision.
    pub session_share_pct: Percent,
    pub decisions: RowCount,
}

/// A change of permission mode into `to_mode`: changes, sessions, the share of all sessions,
/// and how many people (never who).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeChange {
    pub to_mode: &'static str,
    pub changes: Count,
    pub sessions: Count,
    /// 100 × sessions with such a change / `totals.sessions`.
    pub session_share_pct: Percent,
    pub people: Count,
}

/// Sessions by permission mode (`tool_decision`), and changes into bypassPermissions / auto.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permissions {
    pub sessions_with_decisions: Count,
    pub by_mode: Rows<ModeFigures>,
    pub changes: Vec<ModeChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadFigures {
    /// Events (`plugin_loaded`: loads, one per session and plugin; `mcp_server_connection`:
    /// connection events).
    pub events: RowCount,
    pub sessions: RowCount,
}

fn load_figures(s: &Stat, p: Option<&Stat>) -> LoadFigures {
    LoadFigures { events: count(s, |s| s.events, p), sessions: count(s, |s| s.sessions.len() as u64, p) }
}

/// Plugins in use (`plugin_loaded`), by plugin and by marketplace, with their people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plugins {
    pub users: Count,
    pub total: LoadFigures,
    pub by_plugin: Rows<LoadFigures>,
    pub by_marketplace: Rows<LoadFigures>,
}

/// MCP connections (`mcp_server_connection`), by status and by transport; never a server name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McpConnections {
    pub users: Count,
    pub total: LoadFigures,
    pub by_status: Rows<LoadFigures>,
    pub by_transport: Rows<LoadFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookFigures {
    pub runs: RowCount,
    pub blocking_runs: RowCount,
}

fn hook_figures(s: &Stat, p: Option<&Stat>) -> HookFigures {
    HookFigures { runs: count(s, |s| s.events, p), blocking_runs: count(s, |s| s.yes, p) }
}

/// Hook runs (`hook_execution_complete`), by hook event and by source (`policySettings` is
/// managed, the rest user-configured).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hooks {
    pub users: Count,
    pub total: HookFigures,
    pub by_event: Rows<HookFigures>,
    pub by_source: Rows<HookFigures>,
}

/// The hook source an administrator controls.
pub const MANAGED_HOOK_SOURCE: &str = "policySettings";

// ---------------------------------------------------------------- activity, sizes

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityFigures {
    pub events: RowCount,
}

fn activity_figures(s: &Stat, p: Option<&Stat>) -> ActivityFigures {
    ActivityFigures { events: count(s, |s| s.events, p) }
}

/// One hour of one weekday (UTC) with at least K people (after folding).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityCell {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    pub hour: u8,
    pub users: RowCount,
    pub events: RowCount,
}

/// The team's events (those that count a person active) by weekday and hour of day, UTC.
/// Cells not listed hold fewer than K people (with others, so none can be worked out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub events: Count,
    pub cells: Vec<ActivityCell>,
    pub other: Option<OtherRow<ActivityFigures>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeBucket {
    /// Characters, inclusive; `max` `null` for the last bucket.
    pub min: u64,
    pub max: Option<u64>,
    pub count: Count,
}

/// A size distribution (characters; never text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeFigures {
    pub count: Count,
    pub p50: Quantile,
    pub p90: Quantile,
    pub p99: Quantile,
    pub buckets: Vec<SizeBucket>,
}

fn size_figures(cur: &Sizes, prev: &Sizes) -> SizeFigures {
    SizeFigures {
        count: Count::new(cur.dist.count(), prev.dist.count()),
        p50: Quantile::of(&cur.dist, Some(&prev.dist), 50),
        p90: Quantile::of(&cur.dist, Some(&prev.dist), 90),
        p99: Quantile::of(&cur.dist, Some(&prev.dist), 99),
        buckets: SIZE_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, lo)| SizeBucket {
                min: *lo,
                max: SIZE_BUCKETS.get(i + 1).map(|hi| hi - 1),
                count: Count::new(cur.buckets[i], prev.buckets[i]),
            })
            .collect(),
    }
}

/// Prompt (`user_prompt.prompt_length`) and response (`assistant_response.response_length`) sizes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeSection {
    pub prompt_length: SizeFigures,
    pub response_length: SizeFigures,
}

// ---------------------------------------------------------------- productivity

/// Hours (to 0.01) of a row whose previous figure may be hidden, from sums in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowHours {
    pub value: f64,
    pub previous: Option<f64>,
    pub change: Option<f64>,
    pub change_pct: Option<f64>,
}

fn hundredth(x: f64) -> f64 {
    let r = (x * 100.0).round() / 100.0;
    if r == 0.0 { 0.0 } else { r }
}

impl RowHours {
    fn new(ms: u64, previous_ms: Option<u64>) -> RowHours {
        let hours = |ms: u64| hundredth(ms as f64 / 3_600_000.0);
        let (value, previous) = (hours(ms), previous_ms.map(hours));
        RowHours {
            value,
            previous,
            change: previous.map(|p| hundredth(value - p)),
            change_pct: previous_ms.and_then(|p| pct_change(ms as f64, p as f64)),
        }
    }
}

/// The productivity figures of a team (or of all), from Claude Code's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductivityFigures {
    pub lines_added: RowCount,
    pub lines_removed: RowCount,
    pub commits: RowCount,
    pub pull_requests: RowCount,
    /// `active_time.total` with `type` `user` (typing, reading), in hours.
    pub active_hours_user: RowHours,
    /// `active_time.total` with `type` `cli` (the client working), in hours.
    pub active_hours_cli: RowHours,
    /// `session.count` of every start type but `agents_view`, and by start type.
    pub sessions: RowCount,
    pub sessions_fresh: RowCount,
    pub sessions_continue: RowCount,
    pub sessions_resume: RowCount,
    /// `code_edit_tool.decision`: accepted, rejected, 100 × accepted / (accepted + rejected).
    pub edits_accepted: RowCount,
    pub edits_rejected: RowCount,
    pub edit_acceptance_pct: Percent,
}

fn sum(s: &Stat, p: Option<&Stat>, which: Sum) -> RowCount {
    RowCount::new(s.sum_of(which), p.map(|p| p.sum_of(which)))
}

fn edit_rate(s: &Stat) -> Option<f64> {
    rate(s.sum_of(Sum::EditsAccepted), s.sum_of(Sum::EditsRejected))
}

fn productivity_figures(s: &Stat, p: Option<&Stat>) -> ProductivityFigures {
    ProductivityFigures {
        lines_added: sum(s, p, Sum::LinesAdded),
        lines_removed: sum(s, p, Sum::LinesRemoved),
        commits: sum(s, p, Sum::Commits),
        pull_requests: sum(s, p, Sum::PullRequests),
        active_hours_user: RowHours::new(s.sum_of(Sum::ActiveMsUser), p.map(|p| p.sum_of(Sum::ActiveMsUser))),
        active_hours_cli: RowHours::new(s.sum_of(Sum::ActiveMsCli), p.map(|p| p.sum_of(Sum::ActiveMsCli))),
        sessions: sum(s, p, Sum::Sessions),
        sessions_fresh: sum(s, p, Sum::SessionsFresh),
        sessions_continue: sum(s, p, Sum::SessionsContinue),
        sessions_resume: sum(s, p, Sum::SessionsResume),
        edits_accepted: sum(s, p, Sum::EditsAccepted),
        edits_rejected: sum(s, p, Sum::EditsRejected),
        edit_acceptance_pct: percent(edit_rate(s), p.map(edit_rate)),
    }
}

/// Code-edit decisions of one language (or of all).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EditFigures {
    pub decisions: RowCount,
    pub accepted: RowCount,
    pub rejected: RowCount,
    pub acceptance_pct: Percent,
}

fn edit_figures(s: &Stat, p: Option<&Stat>) -> EditFigures {
    let decisions = |s: &Stat| s.sum_of(Sum::EditsAccepted).saturating_add(s.sum_of(Sum::EditsRejected));
    EditFigures {
        decisions: RowCount::new(decisions(s), p.map(decisions)),
        accepted: sum(s, p, Sum::EditsAccepted),
        rejected: sum(s, p, Sum::EditsRejected),
        acceptance_pct: percent(edit_rate(s), p.map(edit_rate)),
    }
}

/// Code-edit decisions (`code_edit_tool.decision`) by language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edits {
    pub users: Count,
    pub total: EditFigures,
    pub by_language: Rows<EditFigures>,
}

/// The productivity figures, when the window has metric lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductivityTables {
    pub users: Count,
    pub total: ProductivityFigures,
    pub by_team: Rows<ProductivityFigures>,
    pub edits: Edits,
}

/// Said instead of zeros when the window has no metric line.
pub const METRICS_UNAVAILABLE: &str = "No metrics in this window: they reach the sanitized group only through the OTLP endpoint (IngestionMode endpoint or both).";

/// Productivity (issue 22): lines of code, commits, pull requests, active time, sessions by
/// start type and edit decisions, from the metric lines the OTLP endpoint writes; by team
/// (`team.id`) with teams of fewer than K people folded as for every breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Productivity {
    /// Metric lines used (every kept metric).
    pub metric_lines: Count,
    /// [`METRICS_UNAVAILABLE`] when the current window has no metric line; `null` otherwise.
    pub unavailable: Option<&'static str>,
    #[serde(flatten)]
    pub figures: Option<ProductivityTables>,
}

impl Productivity {
    fn new(cur: &Tally, prev: &Tally, k: u64) -> Productivity {
        let metric_lines = Count::new(cur.metric_lines, prev.metric_lines);
        if cur.metric_lines == 0 {
            return Productivity { metric_lines, unavailable: Some(METRICS_UNAVAILABLE), figures: None };
        }
        let (users, total) = overall(&cur.productivity, &prev.productivity, productivity_figures);
        let by_team = one(breakdown(&cur.productivity, &prev.productivity, k, 1, productivity_figures));
        let (edit_users, edit_total) = overall(&cur.edit_languages, &prev.edit_languages, edit_figures);
        let by_language = one(breakdown(&cur.edit_languages, &prev.edit_languages, k, 1, edit_figures));
        let edits = Edits { users: edit_users, total: edit_total, by_language };
        Productivity {
            metric_lines,
            unavailable: None,
            figures: Some(ProductivityTables { users, total, by_team, edits }),
        }
    }
}

// ---------------------------------------------------------------- all of them

/// The sections after the spend figures (acceptance, tools, latency, friction, safety, activity,
/// sizes), computed from the two tallies with groups of fewer than `k` people folded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sections {
    pub acceptance: Acceptance,
    pub tools: Tools,
    pub latency: Latency,
    pub subagent_runs: SubagentRuns,
    pub friction: Friction,
    pub permissions: Permissions,
    pub plugins: Plugins,
    pub mcp_connections: McpConnections,
    pub hooks: Hooks,
    pub activity: Activity,
    pub sizes: SizeSection,
    pub productivity: Productivity,
}

impl Sections {
    pub fn new(cur: &Tally, prev: &Tally, k: u64, days: &[String]) -> Sections {
        let c = |f: fn(&Tally) -> u64| Count::new(f(cur), f(prev));
        let acceptance = {
            let (users, total) = overall(&cur.acceptance, &prev.acceptance, acceptance_figures);
            let (by_tool, by_source) = two(breakdown(&cur.acceptance, &prev.acceptance, k, 2, acceptance_figures));
            Acceptance { users, total, by_tool, by_source }
        };
        let tools = {
            let (users, total) = overall(&cur.tools, &prev.tools, tool_figures);
            Tools { users, total, by_tool: one(breakdown(&cur.tools, &prev.tools, k, 1, tool_figures)) }
        };
        let latency = {
            let (users, total) = overall(&cur.latency, &prev.latency, latency_figures);
            Latency { users, total, by_model: one(breakdown(&cur.latency, &prev.latency, k, 1, latency_figures)) }
        };
        let subagent_runs = {
            let (users, total) = overall(&cur.subagent_runs, &prev.subagent_runs, subagent_figures);
            let by_type = one(breakdown(&cur.subagent_runs, &prev.subagent_runs, k, 1, subagent_figures));
            SubagentRuns { users, total, by_type }
        };
        let sessions = [cur.sessions.len() as u64, prev.sessions.len() as u64];
        let friction = Friction {
            refusals: c(|t| t.refusals),
            retries_exhausted: c(|t| t.retries_exhausted),
            status_429: c(|t| t.rate_limited),
            status_529: c(|t| t.overloaded),
            compactions_auto: c(|t| t.compactions_auto),
            compactions_manual: c(|t| t.compactions_manual),
            compactions_per_session_auto: Ratio::new([cur.compactions_auto, prev.compactions_auto], sessions),
            compactions_per_session_manual: Ratio::new([cur.compactions_manual, prev.compactions_manual], sessions),
            blocking_hook_runs: c(|t| t.blocking_hook_runs),
            days: cur
                .days
                .iter()
                .zip(days)
                .map(|(d, date)| FrictionDay { date: date.clone(), status_429: d.errors_429, status_529: d.errors_529 })
                .collect(),
        };
        let permissions = {
            let with = [cur.decision_sessions.len() as u64, prev.decision_sessions.len() as u64];
            // A plain fn cannot capture the denominator: the share is set after the rows.
            let mut by_mode = one(breakdown(&cur.modes, &prev.modes, k, 1, |s, p| ModeFigures {
                sessions: count(s, |s| s.sessions.len() as u64, p),
                session_share_pct: Percent::new(None, None),
                decisions: count(s, |s| s.events, p),
            }));
            let fix = |f: &mut ModeFigures| {
                let v = (with[0] > 0).then(|| 100.0 * f.sessions.value as f64 / with[0] as f64);
                let p = f.sessions.previous.and_then(|p| (with[1] > 0).then(|| 100.0 * p as f64 / with[1] as f64));
                f.session_share_pct = Percent::new(v, p);
            };
            by_mode.rows.iter_mut().for_each(|r| fix(&mut r.figures));
            if let Some(o) = &mut by_mode.other {
                fix(&mut o.figures);
            }
            let changes = WATCHED_MODES
                .iter()
                .enumerate()
                .map(|(i, mode)| {
                    let (a, b): (&ModeChanges, &ModeChanges) = (&cur.mode_changes[i], &prev.mode_changes[i]);
                    let share =
                        |m: &ModeChanges, den: u64| (den > 0).then(|| 100.0 * m.sessions.len() as f64 / den as f64);
                    ModeChange {
                        to_mode: mode,
                        changes: Count::new(a.changes, b.changes),
                        sessions: Count::new(a.sessions.len() as u64, b.sessions.len() as u64),
                        session_share_pct: Percent::new(share(a, sessions[0]), share(b, sessions[1])),
                        people: Count::new(a.users.len() as u64, b.users.len() as u64),
                    }
                })
                .collect();
            Permissions { sessions_with_decisions: Count::new(with[0], with[1]), by_mode, changes }
        };
        let plugins = {
            let (users, total) = overall(&cur.plugins, &prev.plugins, load_figures);
            let (by_plugin, by_marketplace) = two(breakdown(&cur.plugins, &prev.plugins, k, 2, load_figures));
            Plugins { users, total, by_plugin, by_marketplace }
        };
        let mcp_connections = {
            let (users, total) = overall(&cur.mcp_connections, &prev.mcp_connections, load_figures);
            let (by_status, by_transport) =
                two(breakdown(&cur.mcp_connections, &prev.mcp_connections, k, 2, load_figures));
            McpConnections { users, total, by_status, by_transport }
        };
        let hooks = {
            let (users, total) = overall(&cur.hooks, &prev.hooks, hook_figures);
            let (by_event, by_source) = two(breakdown(&cur.hooks, &prev.hooks, k, 2, hook_figures));
            Hooks { users, total, by_event, by_source }
        };
        let activity = {
            let rows = one(breakdown(&cur.activity, &prev.activity, k, 1, activity_figures));
            let mut cells: Vec<ActivityCell> = rows
                .rows
                .into_iter()
                .filter_map(|r| {
                    let name = r.name?;
                    let (d, h) = name.split_once('-')?;
                    Some(ActivityCell {
                        weekday: d.parse().ok()?,
                        hour: h.parse().ok()?,
                        users: r.users,
                        events: r.figures.events,
                    })
                })
                .collect();
            cells.sort_by_key(|c| (c.weekday, c.hour));
            let events = |t: &Tally| t.activity.values().map(|s| s.events).sum::<u64>();
            Activity { events: Count::new(events(cur), events(prev)), cells, other: rows.other }
        };
        let sizes = SizeSection {
            prompt_length: size_figures(&cur.prompt_sizes, &prev.prompt_sizes),
            response_length: size_figures(&cur.response_sizes, &prev.response_sizes),
        };
        Sections {
            acceptance,
            tools,
            latency,
            subagent_runs,
            friction,
            permissions,
            plugins,
            mcp_connections,
            hooks,
            activity,
            sizes,
            productivity: Productivity::new(cur, prev, k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_of_rounded_values() {
        let mut d = Dist::default();
        for v in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] {
            d.add(v);
        }
        assert_eq!(d.percentile(50), Some(5));
        assert_eq!(d.percentile(95), Some(10));
        assert_eq!(d.percentile(90), Some(9));
        assert_eq!(Dist::default().percentile(50), None);
        // 6 significant binary digits: 1000 = 0b1111101000 -> 0b1111100000 = 992.
        assert_eq!(Dist::round(1000), 992);
        assert_eq!(Dist::round(63), 63);
        assert_eq!(Dist::round(64), 64);
        assert_eq!(Dist::round(127), 126);
        assert_eq!(Dist::round(u64::MAX), 0b111111 << 58);
    }
}
