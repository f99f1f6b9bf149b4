//! Streaming aggregation: sanitized lines in, per-window sums out.
//!
//! Trusts [`Schema::parse`] to accept only sanitized messages whose values are within their
//! allowlist kinds. Guarantees: each line is looked at once and dropped; memory grows with the
//! distinct users, sessions, names (models, skills, subagent types, MCP servers, org cells) and
//! days of the two windows, plus 8 bytes per distinct in-window `sourceEventId` (the
//! de-duplication set), never with the line count itself beyond that. A line is used, a
//! duplicate, outside both windows, or refused with a reason: every line is counted exactly
//! once. Sums saturate instead of wrapping (a forged line cannot reach them: its values are
//! refused by their kinds; the bound holds anyway).

use super::message::{Event, Message, Refusal, Schema, Token};
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
}

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
            Some(Event::ApiError) => {
                if m.status_code == Some(429) {
                    self.rate_limited += 1;
                }
            }
            Some(Event::SkillActivated) => name(&mut self.skills, &m.skill_name, user_id),
            Some(Event::ToolResult) => {
                if m.subagent_type.is_some() {
                    name(&mut self.subagents, &m.subagent_type, user_id);
                }
                if m.mcp_server_name.is_some() {
                    name(&mut self.mcp_servers, &m.mcp_server_name, user_id);
                }
            }
            Some(Event::SubagentCompleted | Event::Other) | None => {}
        }
    }
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
}
