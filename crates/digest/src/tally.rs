//! Streaming aggregation: sanitized lines in, per-window sums out.
//!
//! Trusts [`Schema::parse`] to accept only sanitized messages whose values are within their
//! allowlist kinds. Guarantees: each line is looked at once and dropped; memory grows with the
//! distinct users, sessions, names (models, skills, subagent types, MCP servers, org cells, and
//! the cells of the usage sections' breakdowns, each with at most 64 distinct rounded values per power of
//! two in a [`Dist`]) and days of the two windows, plus 8 bytes per distinct in-window
//! `sourceEventId` (the de-duplication set), never with the line count itself beyond that. A line is used, a
//! duplicate, outside both windows, or refused with a reason: every line is counted exactly
//! once. Sums saturate instead of wrapping (a forged line cannot reach them: its values are
//! refused by their kinds; the bound holds anyway).

use super::message::{Event, Message, Metric, Refusal, Schema, Token};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// Lines longer than this are refused without being parsed (a CloudWatch event is at most
/// 1 MiB; a sanitized message is well under 4 KiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// The two windows: `[start, end)` is the current one, `[start - days, start)` the previous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// End of the current window, in ns since the epoch (exclusive).
    pub end_ns: u64,
    pub days: u32,
}

impl Window {
    pub fn start_ns(&self) -> u64 {
        self.end_ns.saturating_sub(u64::from(self.days) * NS_PER_DAY)
    }

    pub fn previous_start_ns(&self) -> u64 {
        self.end_ns.saturating_sub(2 * u64::from(self.days) * NS_PER_DAY)
    }

    /// 0 for the current window, 1 for the previous, `None` outside both.
    fn which(&self, t: u64) -> Option<usize> {
        if t >= self.end_ns {
            None
        } else if t >= self.start_ns() {
            Some(0)
        } else if t >= self.previous_start_ns() {
            Some(1)
        } else {
            None
        }
    }
}

/// What happened to the lines read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineCounts {
    pub lines: u64,
    pub used: u64,
    pub duplicates: u64,
    pub outside_window: u64,
    pub not_json: u64,
    pub not_sanitized: u64,
    pub out_of_range: u64,
    pub no_time: u64,
    pub too_long: u64,
}

impl LineCounts {
    pub fn refused(&self) -> u64 {
        Refusal::ALL.iter().map(|r| self.refused_for(*r)).sum()
    }

    /// The lines refused for one reason.
    pub fn refused_for(&self, reason: Refusal) -> u64 {
        match reason {
            Refusal::NotJson => self.not_json,
            Refusal::NotSanitized => self.not_sanitized,
            Refusal::OutOfRange => self.out_of_range,
            Refusal::NoTime => self.no_time,
            Refusal::TooLong => self.too_long,
        }
    }

    fn refuse(&mut self, reason: Refusal) {
        match reason {
            Refusal::NotJson => self.not_json += 1,
            Refusal::NotSanitized => self.not_sanitized += 1,
            Refusal::OutOfRange => self.out_of_range += 1,
            Refusal::NoTime => self.no_time += 1,
            Refusal::TooLong => self.too_long += 1,
        }
    }
}

/// A user: the index of their pseudonym in [`Digest::pseudonyms`].
pub type UserId = u32;

/// Per user, within one window.
#[derive(Debug, Default, Clone)]
pub struct UserTally {
    pub sessions: HashSet<u128>,
    pub messages: u64,
    pub requests: u64,
    pub cost_usd: f64,
}

/// Per name (skill, subagent type, MCP server): count and distinct users.
#[derive(Debug, Default, Clone)]
pub struct NameTally {
    pub count: u64,
    pub users: HashSet<UserId>,
}

/// Per model: cost and requests.
#[derive(Debug, Default, Clone, Copy)]
pub struct ModelTally {
    pub cost_usd: f64,
    pub requests: u64,
}

/// Per org cell (one combination of team, department and cost center, each `None` when not
/// set): the events that count for groups (`api_request`, `user_prompt`), their distinct users
/// and cost.
#[derive(Debug, Default, Clone)]
pub struct GroupTally {
    pub events: u64,
    pub users: HashSet<UserId>,
    pub cost_usd: f64,
}

/// The org attributes of an event: team.id, department, cost_center (`None`: not set).
pub type Cell = [Option<String>; 3];

/// Per day of the current window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DayTally {
    pub cost_usd: f64,
    pub messages: u64,
    pub requests: u64,
    /// `api_error` events with status 429 (rate limited) and 529 (overloaded).
    pub errors_429: u64,
    pub errors_529: u64,
}

/// A distribution of whole numbers (durations, sizes) in bounded memory: each value is kept
/// rounded down to its 6 leading binary digits ([`Dist::round`]), so at most 64 values per
/// power of two are told apart and a percentile is within 1/32 (3.2 %) below the exact one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dist(BTreeMap<u64, u64>);

impl Dist {
    /// `v` rounded down to 6 significant binary digits (values below 64 are exact).
    pub fn round(v: u64) -> u64 {
        let bits = 64 - v.leading_zeros();
        if bits <= 6 { v } else { (v >> (bits - 6)) << (bits - 6) }
    }

    pub fn add(&mut self, v: u64) {
        *self.0.entry(Dist::round(v)).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Dist) {
        for (v, n) in &other.0 {
            *self.0.entry(*v).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The nearest-rank `p`-th percentile (`p` in 1..=100) of the rounded values: the value at
    /// rank ⌈p·n/100⌉ in ascending order; `None` without values.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (p.saturating_mul(n).div_ceil(100)).max(1);
        let mut seen = 0;
        for (v, c) in &self.0 {
            seen += c;
            if seen >= rank {
                return Some(*v);
            }
        }
        self.0.keys().next_back().copied()
    }
}

/// What one breakdown cell holds (a tool, a model, a plugin × marketplace, an hour of a
/// weekday, ...): its events and their distinct people and sessions, and two counts and two
/// distributions whose meaning is the breakdown's (see [`Tally`]).
#[derive(Debug, Default, Clone)]
pub struct Stat {
    pub events: u64,
    pub users: HashSet<UserId>,
    pub sessions: HashSet<u128>,
    pub yes: u64,
    pub no: u64,
    pub sum: u64,
    pub a: Dist,
    pub b: Dist,
    /// The productivity sums of metric lines, indexed by [`Sum`].
    pub sums: [u64; Sum::ALL.len()],
}

/// What a productivity cell sums, from metric lines: the index into [`Stat::sums`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sum {
    /// `lines_of_code.count` with `type` `added`.
    LinesAdded,
    /// `lines_of_code.count` with `type` `removed`.
    LinesRemoved,
    /// `commit.count`.
    Commits,
    /// `pull_request.count`.
    PullRequests,
    /// `active_time.total` with `type` `user`, in ms (the value is seconds).
    ActiveMsUser,
    /// `active_time.total` with `type` `cli`, in ms.
    ActiveMsCli,
    /// `session.count`, every `start_type` but `agents_view`.
    Sessions,
    SessionsFresh,
    SessionsContinue,
    SessionsResume,
    /// `code_edit_tool.decision` with `decision` `accept`.
    EditsAccepted,
    /// `code_edit_tool.decision` with `decision` `reject`.
    EditsRejected,
}

impl Sum {
    pub const ALL: [Sum; 12] = [
        Sum::LinesAdded,
        Sum::LinesRemoved,
        Sum::Commits,
        Sum::PullRequests,
        Sum::ActiveMsUser,
        Sum::ActiveMsCli,
        Sum::Sessions,
        Sum::SessionsFresh,
        Sum::SessionsContinue,
        Sum::SessionsResume,
        Sum::EditsAccepted,
        Sum::EditsRejected,
    ];
}

impl Stat {
    /// One of the productivity sums.
    pub fn sum_of(&self, sum: Sum) -> u64 {
        self.sums[sum as usize]
    }

    pub fn merge(&mut self, other: &Stat) {
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            *a = a.saturating_add(b);
        }
        self.events = self.events.saturating_add(other.events);
        self.users.extend(other.users.iter().copied());
        self.sessions.extend(other.sessions.iter().copied());
        self.yes = self.yes.saturating_add(other.yes);
        self.no = self.no.saturating_add(other.no);
        self.sum = self.sum.saturating_add(other.sum);
        self.a.merge(&other.a);
        self.b.merge(&other.b);
    }
}

/// Breakdown cells by up to three names (`None`: the attribute is absent; unused dimensions
/// are `None` throughout).
pub type Cells = BTreeMap<Cell, Stat>;

/// Changes of permission mode into one mode: how many, in which sessions, by how many people.
#[derive(Debug, Default, Clone)]
pub struct ModeChanges {
    pub changes: u64,
    pub sessions: HashSet<u128>,
    pub users: HashSet<UserId>,
}

/// Prompt or response sizes: the distribution, and counts per [`SIZE_BUCKETS`] bucket.
#[derive(Debug, Default, Clone)]
pub struct Sizes {
    pub dist: Dist,
    pub buckets: [u64; SIZE_BUCKETS.len()],
}

/// The lower bounds of the size buckets (characters): 0–99, 100–999, 1,000–9,999,
/// 10,000–99,999, 100,000 and more.
pub const SIZE_BUCKETS: [u64; 5] = [0, 100, 1_000, 10_000, 100_000];

impl Sizes {
    fn add(&mut self, v: u64) {
        self.dist.add(v);
        let i = SIZE_BUCKETS.iter().rposition(|lo| v >= *lo).unwrap_or(0);
        self.buckets[i] += 1;
    }
}

/// The permission-mode targets whose changes are counted: `bypassPermissions`, `auto`.
pub const WATCHED_MODES: [&str; 2] = ["bypassPermissions", "auto"];

/// The sums of one window.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub users: HashMap<UserId, UserTally>,
    pub sessions: HashSet<u128>,
    pub messages: u64,
    pub requests: u64,
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub rate_limited: u64,
    pub models: BTreeMap<String, ModelTally>,
    pub skills: BTreeMap<String, NameTally>,
    pub subagents: BTreeMap<String, NameTally>,
    pub mcp_servers: BTreeMap<String, NameTally>,
    /// Per org cell; the teams, departments and cost centers are unions of cells.
    pub cells: BTreeMap<Cell, GroupTally>,
    /// Only filled for the current window.
    pub days: Vec<DayTally>,
    /// `tool_decision` by tool_name × source: yes = accept, no = reject.
    pub acceptance: Cells,
    /// `tool_result` by tool_name: yes = success, no = failure, a = duration_ms.
    pub tools: Cells,
    /// `api_request` by model: a = ttft_ms, b = duration_ms.
    pub latency: Cells,
    /// `subagent_completed` by agent_type: sum = total_tool_uses, a = duration_ms.
    pub subagent_runs: Cells,
    /// `tool_decision` by permission_mode (sessions per mode).
    pub modes: Cells,
    /// Distinct sessions with a `tool_decision` (the denominator of a mode's share).
    pub decision_sessions: HashSet<u128>,
    /// `permission_mode_changed` into each of [`WATCHED_MODES`].
    pub mode_changes: [ModeChanges; 2],
    /// `plugin_loaded` by plugin.name × marketplace.name.
    pub plugins: Cells,
    /// `mcp_server_connection` by status × transport_type.
    pub mcp_connections: Cells,
    /// `hook_execution_complete` by hook_event × hook_source: yes = runs with num_blocking > 0.
    pub hooks: Cells,
    /// The counted events (as for active users) by weekday and hour (UTC), named `D-HH`
    /// (D: 0 = Monday).
    pub activity: Cells,
    pub refusals: u64,
    pub retries_exhausted: u64,
    pub overloaded: u64,
    pub compactions_auto: u64,
    pub compactions_manual: u64,
    pub blocking_hook_runs: u64,
    pub prompt_sizes: Sizes,
    pub response_sizes: Sizes,
    /// Metric lines used (every kept metric, productivity or not).
    pub metric_lines: u64,
    /// Productivity metric lines by team.id: events = lines, users, sessions and [`Sum`]s.
    /// `session.count` lines with `start_type` `agents_view` are not counted at all.
    pub productivity: Cells,
    /// `code_edit_tool.decision` lines by language: [`Sum::EditsAccepted`] and
    /// [`Sum::EditsRejected`].
    pub edit_languages: Cells,
}

impl Tally {
    pub fn skill_activations(&self) -> u64 {
        self.skills.values().map(|t| t.count).sum()
    }

    pub fn subagent_runs(&self) -> u64 {
        self.subagents.values().map(|t| t.count).sum()
    }

    pub fn mcp_calls(&self) -> u64 {
        self.mcp_servers.values().map(|t| t.count).sum()
    }

    /// 100 × cache_read / (input + cache_read + cache_creation); `None` without tokens.
    pub fn cache_hit_pct(&self) -> Option<f64> {
        let total = self.input_tokens.saturating_add(self.cache_read_tokens).saturating_add(self.cache_creation_tokens);
        (total > 0).then(|| 100.0 * self.cache_read_tokens as f64 / total as f64)
    }

    fn add(&mut self, m: &Message<'_>, user: Option<UserId>, day: Option<usize>) {
        if m.metric.is_some() {
            self.add_metric(m, user);
            return;
        }
        self.add_new(m, user, day);
        // As the dashboard counts them (template.yaml, TeamTotals and UserActivity): users and
        // sessions of the events a person causes, not of api_error or subagent_completed; group
        // members (ByTeam, ...) from api_request and user_prompt.
        let counted =
            matches!(m.event, Some(Event::ApiRequest | Event::UserPrompt | Event::SkillActivated | Event::ToolResult));
        let member = matches!(m.event, Some(Event::ApiRequest | Event::UserPrompt));
        if let (true, Some(session)) = (counted, m.session) {
            self.sessions.insert(session);
        }
        let mut user = user.filter(|_| counted).map(|u| {
            let t = self.users.entry(u).or_default();
            if let Some(session) = m.session {
                t.sessions.insert(session);
            }
            (u, t)
        });
        let cell = (member || m.event == Some(Event::ApiRequest)).then(|| {
            let key: Cell = [&m.team, &m.department, &m.cost_center].map(|t| t.as_ref().map(|t| t.as_str().to_owned()));
            let cell = self.cells.entry(key).or_default();
            cell.events += 1;
            if let (true, Some((u, _))) = (member, &user) {
                cell.users.insert(*u);
            }
            cell
        });
        let cell_cost = cell.map(|c| &mut c.cost_usd);
        let user_id = user.as_ref().map(|(u, _)| *u);
        match m.event {
            Some(Event::ApiRequest) => {
                let cost = m.cost_usd.unwrap_or(0.0);
                self.requests += 1;
                self.cost_usd += cost;
                let add = |sum: &mut u64, n: Option<u64>| *sum = sum.saturating_add(n.unwrap_or(0));
                add(&mut self.input_tokens, m.input_tokens);
                add(&mut self.output_tokens, m.output_tokens);
                add(&mut self.cache_read_tokens, m.cache_read_tokens);
                add(&mut self.cache_creation_tokens, m.cache_creation_tokens);
                let model = self.models.entry(name_or_unknown(&m.model)).or_default();
                model.cost_usd += cost;
                model.requests += 1;
                if let Some(c) = cell_cost {
                    *c += cost;
                }
                if let Some((_, t)) = &mut user {
                    t.requests += 1;
                    t.cost_usd += cost;
                }
                if let Some(d) = day.and_then(|d| self.days.get_mut(d)) {
                    d.requests += 1;
                    d.cost_usd += cost;
                }
            }
            Some(Event::UserPrompt) => {
                self.messages += 1;
                if let Some((_, t)) = &mut user {
                    t.messages += 1;
                }
                if let Some(d) = day.and_then(|d| self.days.get_mut(d)) {
                    d.messages += 1;
                }
            }
            Some(Event::ApiError) => match m.status_code {
                Some(429) => self.rate_limited += 1,
                Some(529) => self.overloaded += 1,
                _ => {}
            },
            Some(Event::SkillActivated) => name(&mut self.skills, &m.skill_name, user_id),
            Some(Event::ToolResult) => {
                if m.subagent_type.is_some() {
                    name(&mut self.subagents, &m.subagent_type, user_id);
                }
                if m.mcp_server_name.is_some() {
                    name(&mut self.mcp_servers, &m.mcp_server_name, user_id);
                }
            }
            _ => {}
        }
    }

    /// A metric line: the productivity sums by team, and edit decisions by language.
    fn add_metric(&mut self, m: &Message<'_>, user: Option<UserId>) {
        self.metric_lines += 1;
        let value = m.value.unwrap_or(0.0);
        // Values passed their kind (finite, bounded, not negative); `as` saturates anyway.
        let count = value.round() as u64;
        let of = |t: &Option<Token<'_>>| t.as_ref().map(|t| t.as_str().to_owned());
        let kind = m.metric_type.as_ref().map(Token::as_str);
        let sums: &[Sum] = match m.metric {
            Some(Metric::LinesOfCode) => match kind {
                Some("added") => &[Sum::LinesAdded],
                Some("removed") => &[Sum::LinesRemoved],
                _ => &[],
            },
            Some(Metric::CommitCount) => &[Sum::Commits],
            Some(Metric::PullRequestCount) => &[Sum::PullRequests],
            Some(Metric::ActiveTime) => match kind {
                Some("user") => &[Sum::ActiveMsUser],
                Some("cli") => &[Sum::ActiveMsCli],
                _ => &[],
            },
            Some(Metric::SessionCount) => match m.start_type.as_ref().map(Token::as_str) {
                Some("agents_view") => return,
                Some("fresh") => &[Sum::Sessions, Sum::SessionsFresh],
                Some("continue") => &[Sum::Sessions, Sum::SessionsContinue],
                Some("resume") => &[Sum::Sessions, Sum::SessionsResume],
                _ => &[Sum::Sessions],
            },
            Some(Metric::CodeEditDecision) => match m.decision.as_ref().map(Token::as_str) {
                Some("accept") => &[Sum::EditsAccepted],
                Some("reject") => &[Sum::EditsRejected],
                _ => &[],
            },
            Some(Metric::Other) | None => return,
        };
        let amount = if m.metric == Some(Metric::ActiveTime) { (value * 1000.0).round() as u64 } else { count };
        let add = |cells: &mut Cells, name: Option<String>| {
            let s = cells.entry([name, None, None]).or_default();
            s.events += 1;
            if let Some(u) = user {
                s.users.insert(u);
            }
            if let Some(session) = m.session {
                s.sessions.insert(session);
            }
            for sum in sums {
                let slot = &mut s.sums[*sum as usize];
                *slot = slot.saturating_add(amount);
            }
        };
        add(&mut self.productivity, of(&m.team));
        if m.metric == Some(Metric::CodeEditDecision) {
            add(&mut self.edit_languages, of(&m.language));
        }
    }

    /// The usage sections' figures: acceptance, tools, latency, subagent runs, friction,
    /// permissions, plugins, MCP connections, hooks, activity and sizes.
    fn add_new(&mut self, m: &Message<'_>, user: Option<UserId>, day: Option<usize>) {
        let (session, stat) = (m.session, cell);
        let yes_no = |s: &mut Stat, b: Option<bool>| match b {
            Some(true) => s.yes += 1,
            Some(false) => s.no += 1,
            None => {}
        };
        let counted =
            matches!(m.event, Some(Event::ApiRequest | Event::UserPrompt | Event::SkillActivated | Event::ToolResult));
        if let (true, Some(t)) = (counted, m.time_ns) {
            let hours = t / 3_600_000_000_000;
            // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday = 0).
            let name = format!("{}-{:02}", (hours / 24 + 3) % 7, hours % 24);
            let key: Cell = [Some(name), None, None];
            let s = self.activity.entry(key).or_default();
            s.events += 1;
            if let Some(u) = user {
                s.users.insert(u);
            }
        }
        match m.event {
            Some(Event::ToolDecision) => {
                let s = stat(&mut self.acceptance, [&m.tool_name, &m.decision_source], user, session);
                yes_no(s, m.decision.as_ref().map(|d| d.as_str() == "accept"));
                stat(&mut self.modes, [&m.permission_mode, &None], user, session);
                if let Some(session) = m.session {
                    self.decision_sessions.insert(session);
                }
            }
            Some(Event::ToolResult) => {
                let s = stat(&mut self.tools, [&m.tool_name, &None], user, session);
                yes_no(s, m.success);
                if let Some(d) = m.duration_ms {
                    s.a.add(d);
                }
            }
            Some(Event::ApiRequest) => {
                let s = stat(&mut self.latency, [&m.model, &None], user, session);
                if let Some(t) = m.ttft_ms {
                    s.a.add(t);
                }
                if let Some(d) = m.duration_ms {
                    s.b.add(d);
                }
            }
            Some(Event::SubagentCompleted) => {
                let s = stat(&mut self.subagent_runs, [&m.agent_type, &None], user, session);
                s.sum = s.sum.saturating_add(m.total_tool_uses.unwrap_or(0));
                if let Some(d) = m.duration_ms {
                    s.a.add(d);
                }
            }
            Some(Event::PermissionModeChanged) => {
                let to = m.to_mode.as_ref().map(Token::as_str);
                if let Some(i) = WATCHED_MODES.iter().position(|w| Some(*w) == to) {
                    let c = &mut self.mode_changes[i];
                    c.changes += 1;
                    if let Some(session) = m.session {
                        c.sessions.insert(session);
                    }
                    if let Some(u) = user {
                        c.users.insert(u);
                    }
                }
            }
            Some(Event::PluginLoaded) => {
                stat(&mut self.plugins, [&m.plugin_name, &m.marketplace_name], user, session);
            }
            Some(Event::McpServerConnection) => {
                stat(&mut self.mcp_connections, [&m.mcp_status, &m.transport_type], user, session);
            }
            Some(Event::HookExecutionComplete) => {
                let blocked = m.num_blocking.unwrap_or(0) > 0;
                let s = stat(&mut self.hooks, [&m.hook_event, &m.hook_source], user, session);
                if blocked {
                    s.yes += 1;
                    self.blocking_hook_runs += 1;
                }
            }
            Some(Event::ApiRefusal) => self.refusals += 1,
            Some(Event::ApiRetriesExhausted) => self.retries_exhausted += 1,
            Some(Event::Compaction) => match m.trigger.as_ref().map(Token::as_str) {
                Some("auto") => self.compactions_auto += 1,
                Some("manual") => self.compactions_manual += 1,
                _ => {}
            },
            Some(Event::UserPrompt) => {
                if let Some(n) = m.prompt_length {
                    self.prompt_sizes.add(n);
                }
            }
            Some(Event::AssistantResponse) => {
                if let Some(n) = m.response_length {
                    self.response_sizes.add(n);
                }
            }
            Some(Event::ApiError) => {
                if let Some(d) = day.and_then(|d| self.days.get_mut(d)) {
                    match m.status_code {
                        Some(429) => d.errors_429 += 1,
                        Some(529) => d.errors_529 += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The cell of `names` in `cells`, with one more event of `user` in `session`.
fn cell<'c>(
    cells: &'c mut Cells,
    names: [&Option<Token<'_>>; 2],
    user: Option<UserId>,
    session: Option<u128>,
) -> &'c mut Stat {
    let key: Cell =
        [names[0].as_ref().map(|t| t.as_str().to_owned()), names[1].as_ref().map(|t| t.as_str().to_owned()), None];
    let s = cells.entry(key).or_default();
    s.events += 1;
    if let Some(u) = user {
        s.users.insert(u);
    }
    if let Some(session) = session {
        s.sessions.insert(session);
    }
    s
}

fn name_or_unknown(token: &Option<Token<'_>>) -> String {
    token.as_ref().map_or_else(|| "unknown".to_owned(), |t| t.as_str().to_owned())
}

fn name(map: &mut BTreeMap<String, NameTally>, token: &Option<Token<'_>>, user: Option<UserId>) {
    let key = token.as_ref().map_or("unknown", Token::as_str);
    let entry = match map.get_mut(key) {
        Some(e) => e,
        None => map.entry(key.to_owned()).or_default(),
    };
    entry.count += 1;
    if let Some(u) = user {
        entry.users.insert(u);
    }
}

/// The streaming digest: feed lines, then read the two tallies.
#[derive(Debug)]
pub struct Digest {
    pub window: Window,
    pub counts: LineCounts,
    /// `[current, previous]`.
    pub tallies: [Tally; 2],
    /// Every user's pseudonym, by [`UserId`].
    pub pseudonyms: Vec<Box<str>>,
    user_ids: HashMap<Box<str>, UserId>,
    seen: HashSet<u64>,
    schema: Schema,
}

impl Digest {
    /// A digest of `window` that trusts what `schema` (an allowlist's outputs) describes.
    pub fn new(window: Window, schema: Schema) -> Digest {
        let current = Tally { days: vec![DayTally::default(); window.days as usize], ..Tally::default() };
        Digest {
            window,
            counts: LineCounts::default(),
            tallies: [current, Tally::default()],
            pseudonyms: Vec::new(),
            user_ids: HashMap::new(),
            seen: HashSet::new(),
            schema,
        }
    }

    /// The id of a pseudonym, given one the first time it is seen.
    fn user_id(&mut self, pseudonym: &str) -> UserId {
        if let Some(id) = self.user_ids.get(pseudonym) {
            return *id;
        }
        // Distinct users are bounded far below 2^32 by the input a digest can read.
        let id = UserId::try_from(self.pseudonyms.len()).unwrap_or(UserId::MAX);
        self.pseudonyms.push(pseudonym.into());
        self.user_ids.insert(pseudonym.into(), id);
        id
    }

    /// Adds one line (without its newline). `fallback_time_ns`: the CloudWatch timestamp, when
    /// the line came from the sanitized group.
    pub fn add_line(&mut self, line: &[u8], fallback_time_ns: Option<u64>) {
        self.counts.lines += 1;
        if line.len() > MAX_LINE_BYTES {
            self.counts.refuse(Refusal::TooLong);
            return;
        }
        let m = match self.schema.parse(line, fallback_time_ns) {
            Ok(m) => m,
            Err(reason) => {
                self.counts.refuse(reason);
                return;
            }
        };
        let t = m.time_ns.unwrap_or(0);
        let Some(which) = self.window.which(t) else {
            self.counts.outside_window += 1;
            return;
        };
        let mut hasher = std::hash::DefaultHasher::new();
        m.source_event_id.hash(&mut hasher);
        if !self.seen.insert(hasher.finish()) {
            self.counts.duplicates += 1;
            return;
        }
        self.counts.used += 1;
        let day = (which == 0).then(|| ((t - self.window.start_ns()) / NS_PER_DAY) as usize);
        let user = m.user.as_deref().map(|u| self.user_id(u));
        self.tallies[which].add(&m, user, day);
    }

    /// A line that could not be read at all (not UTF-8 is still a line: only I/O errors end
    /// the input, and those are the caller's).
    pub fn refuse_too_long(&mut self) {
        self.counts.lines += 1;
        self.counts.refuse(Refusal::TooLong);
    }

    /// Input that held a message but could not be read as JSON far enough to find its line (a
    /// broken subscription document in a lake object).
    pub fn refuse_not_json(&mut self) {
        self.counts.lines += 1;
        self.counts.refuse(Refusal::NotJson);
    }
}
