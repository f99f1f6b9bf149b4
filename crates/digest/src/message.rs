//! One sanitized message (one line of `sanitize` output, or one event of the sanitized group),
//! parsed and checked against what the allowlist writes.
//!
//! Trusts nothing about the line: it may be a raw event, a stored OTel record, a forged or
//! edited line, or garbage. Trusts the compiled [`Allowlist`] it is given (the embedded one, or
//! `--allowlist PATH`), through its read-only view of the outputs and their kinds
//! ([`Allowlist::attribute_kinds`], [`Allowlist::resource_kinds`]). Guarantees: a line is
//! accepted only when every key is one the sanitizer writes under that allowlist (top level:
//! `body`, `attributes`, `resource`, `timeUnixNano`, `sourceEventId`), given once, and every
//! value has the kind the allowlist gives it, in the form the sanitizer writes it (a JSON integer
//! within the kind's bounds for `integer`, a bounded finite number for `number`, a hyphenated
//! lower-case UUID, a pseudonym of the configured length, an identifier of the kind's alphabet;
//! `@` only where a kept kind allows it, as in a Vertex model id). So every string a digest can
//! print is an identifier the sanitizer would have let through, every figure is within the
//! allowlist's bounds, and a raw event (`user.email`, `prompt`, `severityText`, ...) is refused
//! whole. A refusal names a reason, never the line. The digest keeps no list of keys or kinds of
//! its own: adding an output to `allowlist.toml` is all it takes for the digest to accept it.

use sanitizer_core::{Allowlist, AttributeDrop, OutputKind, SpendField, Written};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JSON object (syntax error, truncated line, not UTF-8).
    NotJson,
    /// JSON, but not a sanitized message: an unknown key, a missing key, a key given twice or a
    /// value of the wrong kind (a raw event, a stored record, an edited line).
    NotSanitized,
    /// A sanitized message whose number is outside its kind's bounds (such as more than 10^8
    /// tokens or 10,000 USD in one request): a forged or edited line.
    OutOfRange,
    /// A sanitized message without `timeUnixNano` and no CloudWatch timestamp to fall back on.
    NoTime,
    /// Longer than [`super::MAX_LINE_BYTES`].
    TooLong,
}

impl Refusal {
    /// Every reason, in the order counts print them.
    pub const ALL: [Refusal; 5] =
        [Refusal::NotJson, Refusal::NotSanitized, Refusal::OutOfRange, Refusal::NoTime, Refusal::TooLong];

    /// The reason as printed in counts.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotJson => "not_json",
            Refusal::NotSanitized => "not_sanitized",
            Refusal::OutOfRange => "out_of_range",
            Refusal::NoTime => "no_time",
            Refusal::TooLong => "too_long",
        }
    }
}

/// An identifier that passed its output kind, so it holds no text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token<'a>(Cow<'a, str>);

impl Token<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Checked identifiers only, but keep the habit: no values in Debug.
        f.debug_struct("Token").field("len", &self.0.len()).finish()
    }
}

/// The events the digest counts; any other (allowlisted) event name is accepted and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    ApiRequest,
    ApiError,
    ApiRefusal,
    ApiRetriesExhausted,
    AssistantResponse,
    UserPrompt,
    ToolDecision,
    ToolResult,
    SkillActivated,
    SubagentCompleted,
    Compaction,
    PermissionModeChanged,
    PluginLoaded,
    McpServerConnection,
    HookExecutionComplete,
    Other,
}

impl Event {
    fn from_name(name: &str) -> Event {
        match name {
            "api_request" => Event::ApiRequest,
            "api_error" => Event::ApiError,
            "api_refusal" => Event::ApiRefusal,
            "api_retries_exhausted" => Event::ApiRetriesExhausted,
            "assistant_response" => Event::AssistantResponse,
            "user_prompt" => Event::UserPrompt,
            "tool_decision" => Event::ToolDecision,
            "tool_result" => Event::ToolResult,
            "skill_activated" => Event::SkillActivated,
            "subagent_completed" => Event::SubagentCompleted,
            "compaction" => Event::Compaction,
            "permission_mode_changed" => Event::PermissionModeChanged,
            "plugin_loaded" => Event::PluginLoaded,
            "mcp_server_connection" => Event::McpServerConnection,
            "hook_execution_complete" => Event::HookExecutionComplete,
            _ => Event::Other,
        }
    }
}

/// The metrics the digest counts (contract 2's metric lines, from the OTLP endpoint); any other
/// kept metric (`cost.usage`, `token.usage`) is accepted and only counted as a metric line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    SessionCount,
    LinesOfCode,
    CommitCount,
    PullRequestCount,
    ActiveTime,
    CodeEditDecision,
    Other,
}

impl Metric {
    fn from_name(name: &str) -> Metric {
        match name {
            "claude_code.session.count" => Metric::SessionCount,
            "claude_code.lines_of_code.count" => Metric::LinesOfCode,
            "claude_code.commit.count" => Metric::CommitCount,
            "claude_code.pull_request.count" => Metric::PullRequestCount,
            "claude_code.active_time.total" => Metric::ActiveTime,
            "claude_code.code_edit_tool.decision" => Metric::CodeEditDecision,
            _ => Metric::Other,
        }
    }
}

/// One accepted sanitized message: only the fields the digest reads. An event line has
/// `event`; a metric line has `metric` and `value` instead.
#[derive(Default)]
pub struct Message<'a> {
    pub event: Option<Event>,
    pub metric: Option<Metric>,
    /// A metric line's value (a count, or seconds of active time), within its kind's bounds.
    pub value: Option<f64>,
    /// A metric line's `type` (lines_of_code: added/removed; active_time.total: user/cli).
    pub metric_type: Option<Token<'a>>,
    /// `session.count`'s `start_type`.
    pub start_type: Option<Token<'a>>,
    /// `code_edit_tool.decision`'s `language`.
    pub language: Option<Token<'a>>,
    pub time_ns: Option<u64>,
    pub source_event_id: Cow<'a, str>,
    pub session: Option<u128>,
    /// The pseudonym, as written (its length is the allowlist's).
    pub user: Option<Cow<'a, str>>,
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
    pub model: Option<Token<'a>>,
    pub skill_name: Option<Token<'a>>,
    pub agent_type: Option<Token<'a>>,
    pub subagent_type: Option<Token<'a>>,
    pub mcp_server_name: Option<Token<'a>>,
    pub status_code: Option<u16>,
    pub duration_ms: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub tool_name: Option<Token<'a>>,
    pub decision: Option<Token<'a>>,
    pub decision_source: Option<Token<'a>>,
    pub permission_mode: Option<Token<'a>>,
    pub success: Option<bool>,
    pub prompt_length: Option<u64>,
    pub response_length: Option<u64>,
    pub total_tool_uses: Option<u64>,
    pub trigger: Option<Token<'a>>,
    pub to_mode: Option<Token<'a>>,
    pub plugin_name: Option<Token<'a>>,
    pub marketplace_name: Option<Token<'a>>,
    pub mcp_status: Option<Token<'a>>,
    pub transport_type: Option<Token<'a>>,
    pub hook_event: Option<Token<'a>>,
    pub hook_source: Option<Token<'a>>,
    pub num_blocking: Option<u64>,
    pub team: Option<Token<'a>>,
    pub department: Option<Token<'a>>,
    pub cost_center: Option<Token<'a>>,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("event", &self.event).finish_non_exhaustive()
    }
}

/// What the digest reads of an attribute it accepts. Which outputs are spend is
/// [`SpendField`]'s (one list for the sanitizer's metrics and the digest); the other names are
/// the figures the digest computes. Every key's kind is the allowlist's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    EventName,
    Session,
    User,
    Spend(SpendField),
    Model,
    SkillName,
    AgentType,
    SubagentType,
    McpServer,
    StatusCode,
    DurationMs,
    TtftMs,
    ToolName,
    Decision,
    DecisionSource,
    PermissionMode,
    Success,
    PromptLength,
    ResponseLength,
    TotalToolUses,
    Trigger,
    ToMode,
    PluginName,
    Marketplace,
    McpStatus,
    Transport,
    HookEvent,
    HookSource,
    NumBlocking,
    MetricType,
    StartType,
    Language,
    Team,
    Department,
    CostCenter,
    /// Written by the sanitizer, not read by the digest: checked, then ignored.
    Ignored,
}

impl Field {
    fn of_attribute(key: &str, pseudonym: Option<&str>) -> Field {
        if let Some(spend) = SpendField::of_output(key) {
            return Field::Spend(spend);
        }
        match key {
            "event.name" => Field::EventName,
            "session.id" => Field::Session,
            "model" => Field::Model,
            "skill.name" => Field::SkillName,
            "agent_type" => Field::AgentType,
            "tool.subagent_type" => Field::SubagentType,
            "tool.mcp_server_name" => Field::McpServer,
            "status_code" => Field::StatusCode,
            "duration_ms" => Field::DurationMs,
            "ttft_ms" => Field::TtftMs,
            "tool_name" => Field::ToolName,
            "decision" => Field::Decision,
            "source" => Field::DecisionSource,
            "permission_mode" => Field::PermissionMode,
            "success" => Field::Success,
            "prompt_length" => Field::PromptLength,
            "response_length" => Field::ResponseLength,
            "total_tool_uses" => Field::TotalToolUses,
            "trigger" => Field::Trigger,
            "to_mode" => Field::ToMode,
            "plugin.name" => Field::PluginName,
            "marketplace.name" => Field::Marketplace,
            "status" => Field::McpStatus,
            "transport_type" => Field::Transport,
            "hook_event" => Field::HookEvent,
            "hook_source" => Field::HookSource,
            "num_blocking" => Field::NumBlocking,
            k if Some(k) == pseudonym => Field::User,
            _ => Field::Ignored,
        }
    }

    /// A data-point attribute of a metric line: the same names as on events where they mean
    /// the same (session, user, model, decision), and the metrics' own.
    fn of_metric_attribute(key: &str, pseudonym: Option<&str>) -> Field {
        match key {
            "type" => Field::MetricType,
            "start_type" => Field::StartType,
            "language" => Field::Language,
            "session.id" => Field::Session,
            "decision" => Field::Decision,
            "model" => Field::Model,
            k if Some(k) == pseudonym => Field::User,
            _ => Field::Ignored,
        }
    }

    fn of_resource(key: &str) -> Field {
        match key {
            "team.id" => Field::Team,
            "department" => Field::Department,
            "cost_center" => Field::CostCenter,
            _ => Field::Ignored,
        }
    }
}

/// What the digest trusts: every output of an allowlist with its kind, and what the digest reads
/// of it. Built once per digest.
pub struct Schema {
    attributes: HashMap<Box<str>, (Field, OutputKind)>,
    resource: HashMap<Box<str>, (Field, OutputKind)>,
    /// Kept metrics by full name, with the kind of their value.
    metrics: HashMap<Box<str>, OutputKind>,
    /// Data-point attributes of metric lines ([`OutputKind::kept_on`] takes a metric name).
    metric_attributes: HashMap<Box<str>, (Field, OutputKind)>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("attributes", &self.attributes.len())
            .field("resource", &self.resource.len())
            .finish()
    }
}

impl Schema {
    /// The outputs of `allowlist`, as the sanitizer writes them.
    pub fn new(allowlist: &Allowlist) -> Schema {
        let pseudonym = allowlist.pseudonym_output().map(|(key, _)| key);
        let attributes = allowlist
            .attribute_kinds()
            .map(|(key, kind)| (key.into(), (Field::of_attribute(key, pseudonym), kind)))
            .collect();
        let resource =
            allowlist.resource_kinds().map(|(key, kind)| (key.into(), (Field::of_resource(key), kind))).collect();
        let (metrics, metric_attributes) = metric_kinds(allowlist);
        let metric_attributes = metric_attributes
            .into_iter()
            .map(|(key, kind)| {
                let field = Field::of_metric_attribute(&key, pseudonym);
                (key, (field, kind))
            })
            .collect();
        Schema { attributes, resource, metrics: metrics.into_iter().collect(), metric_attributes }
    }

    /// The outputs of the embedded allowlist.
    pub fn embedded() -> Schema {
        Schema::new(&Allowlist::embedded())
    }

    /// Parses one line. `fallback_time_ns` is the CloudWatch timestamp when the line came from the
    /// sanitized group (used when the message has no `timeUnixNano`).
    pub fn parse<'a>(&self, line: &'a [u8], fallback_time_ns: Option<u64>) -> Result<Message<'a>, Refusal> {
        let mut wire: Wire<'a> = serde_json::from_slice(line).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Refusal::NotSanitized,
            _ => Refusal::NotJson,
        })?;
        let body = match (wire.body.take(), wire.metric.take(), wire.value.take(), wire.start_time.is_some()) {
            (Some(body), None, None, false) => body,
            (None, Some(metric), Some(value), true) => return self.parse_metric(wire, metric, value, fallback_time_ns),
            _ => return Err(Refusal::NotSanitized),
        };
        let mut m = Message::default();
        let mut event_name = None;
        // The event the line claims (checked against the allowlist's events below): every key
        // must be one the sanitizer writes on that event.
        let claimed: Option<Cow<'a, str>> = wire.attributes.0.iter().find_map(|(k, v)| match v {
            Scalar::Str(s) if self.attributes.get(&**k).is_some_and(|(f, _)| *f == Field::EventName) => Some(s.clone()),
            _ => None,
        });
        let claimed = claimed.ok_or(Refusal::NotSanitized)?;
        read(&self.attributes, wire.attributes.0, &claimed, &mut m, &mut event_name)?;
        if let Some(resource) = wire.resource {
            read(&self.resource, resource.attributes.0, &claimed, &mut m, &mut None)?;
        }
        let name = event_name.ok_or(Refusal::NotSanitized)?;
        if body.strip_prefix("claude_code.") != Some(name.as_str()) {
            return Err(Refusal::NotSanitized);
        }
        m.event = Some(Event::from_name(name.as_str()));
        finish(m, wire.time, wire.source_event_id, fallback_time_ns)
    }

    /// A metric line (contract 2): `metric` one of the allowlist's kept metrics, `value` of its
    /// kind, every data-point attribute one the allowlist writes on that metric, the resource
    /// attributes as on events, `startTimeUnixNano` and `timeUnixNano` as the sanitizer writes
    /// them.
    fn parse_metric<'a>(
        &self,
        wire: Wire<'a>,
        metric: Cow<'a, str>,
        value: Scalar<'a>,
        fallback_time_ns: Option<u64>,
    ) -> Result<Message<'a>, Refusal> {
        let kind = self.metrics.get(&*metric).ok_or(Refusal::NotSanitized)?;
        kind.check(value.written()).map_err(|e| match e {
            AttributeDrop::OutOfRange => Refusal::OutOfRange,
            _ => Refusal::NotSanitized,
        })?;
        let value = match value {
            Scalar::Int(n) => n as f64,
            Scalar::UInt(n) => n as f64,
            Scalar::Float(x) if x.is_finite() => x,
            _ => return Err(Refusal::NotSanitized),
        };
        match &wire.start_time {
            Some(t) if nanos(t).is_some() => {}
            _ => return Err(Refusal::NotSanitized),
        }
        let mut m = Message { metric: Some(Metric::from_name(&metric)), value: Some(value), ..Message::default() };
        read(&self.metric_attributes, wire.attributes.0, &metric, &mut m, &mut None)?;
        if let Some(resource) = wire.resource {
            // Resource attributes are not restricted to events: any name passes `kept_on`.
            read(&self.resource, resource.attributes.0, &metric, &mut m, &mut None)?;
        }
        finish(m, wire.time, wire.source_event_id, fallback_time_ns)
    }
}

/// `timeUnixNano` (or the CloudWatch time) and `sourceEventId`, as the sanitizer writes them.
fn finish<'a>(
    mut m: Message<'a>,
    time: Option<Cow<'a, str>>,
    source_event_id: Cow<'a, str>,
    fallback_time_ns: Option<u64>,
) -> Result<Message<'a>, Refusal> {
    m.time_ns = match &time {
        Some(t) => Some(nanos(t).ok_or(Refusal::NotSanitized)?),
        None => Some(fallback_time_ns.ok_or(Refusal::NoTime)?),
    };
    if !valid_source_id(&source_event_id) {
        return Err(Refusal::NotSanitized);
    }
    m.source_event_id = source_event_id;
    Ok(m)
}

/// The allowlist's metric outputs: each kept metric with its value's kind, and each
/// data-point attribute with its kind.
type MetricKinds = (Vec<(Box<str>, OutputKind)>, Vec<(Box<str>, OutputKind)>);

fn metric_kinds(allowlist: &Allowlist) -> MetricKinds {
    let values = allowlist
        .metric_names()
        .iter()
        .filter_map(|name| allowlist.metric_value_kind(name).map(|kind| (name.as_str().into(), kind)))
        .collect();
    let attributes = allowlist.metric_attribute_kinds().map(|(key, kind)| (key.into(), kind)).collect();
    (values, attributes)
}

/// A time in ns as the sanitizer writes it: 1 to 20 decimal digits that fit in a u64.
fn nanos(t: &str) -> Option<u64> {
    (!t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u64>().ok()).flatten()
}

/// Checks every attribute of one object against `kinds` and keeps what the digest reads. A key
/// the sanitizer does not write on `event` (an output restricted to other events, such as
/// `cost_usd` on a `tool_result`) makes the line not sanitized, before any value is looked at.
fn read<'a>(
    kinds: &HashMap<Box<str>, (Field, OutputKind)>,
    pairs: Vec<(Cow<'a, str>, Scalar<'a>)>,
    event: &str,
    m: &mut Message<'a>,
    event_name: &mut Option<Token<'a>>,
) -> Result<(), Refusal> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(pairs.len());
    for (key, _) in &pairs {
        if !seen.insert(key) {
            return Err(Refusal::NotSanitized);
        }
        match kinds.get(&**key) {
            Some((_, kind)) if kind.kept_on(event) => {}
            _ => return Err(Refusal::NotSanitized),
        }
    }
    drop(seen);
    for (key, value) in pairs {
        let (field, kind) = kinds.get(&*key).ok_or(Refusal::NotSanitized)?;
        kind.check(value.written()).map_err(|e| match e {
            AttributeDrop::OutOfRange => Refusal::OutOfRange,
            _ => Refusal::NotSanitized,
        })?;
        // The kind check passed: numbers are within their bounds, strings identifiers.
        let token = || match &value {
            Scalar::Str(s) => Some(Token(s.clone())),
            _ => None,
        };
        let int = || match value {
            Scalar::Int(n) => u64::try_from(n).ok(),
            _ => None,
        };
        match field {
            Field::EventName => *event_name = token(),
            Field::Session => {
                m.session = match &value {
                    Scalar::Str(s) => uuid::Uuid::try_parse(s).ok().map(|id| id.as_u128()),
                    _ => None,
                }
            }
            Field::User => m.user = token().map(|t| t.0),
            Field::Spend(SpendField::CostUsd) => {
                m.cost_usd = match value {
                    Scalar::Int(n) => Some(n as f64),
                    Scalar::Float(x) => Some(x),
                    _ => None,
                }
            }
            Field::Spend(SpendField::InputTokens) => m.input_tokens = int(),
            Field::Spend(SpendField::OutputTokens) => m.output_tokens = int(),
            Field::Spend(SpendField::CacheReadTokens) => m.cache_read_tokens = int(),
            Field::Spend(SpendField::CacheCreationTokens) => m.cache_creation_tokens = int(),
            Field::Model => m.model = token(),
            Field::SkillName => m.skill_name = token(),
            Field::AgentType => m.agent_type = token(),
            Field::SubagentType => m.subagent_type = token(),
            Field::McpServer => m.mcp_server_name = token(),
            Field::StatusCode => m.status_code = int().and_then(|n| u16::try_from(n).ok()),
            Field::DurationMs => m.duration_ms = int(),
            Field::TtftMs => m.ttft_ms = int(),
            Field::ToolName => m.tool_name = token(),
            Field::Decision => m.decision = token(),
            Field::DecisionSource => m.decision_source = token(),
            Field::PermissionMode => m.permission_mode = token(),
            Field::Success => {
                m.success = match value {
                    Scalar::Bool(b) => Some(b),
                    _ => None,
                }
            }
            Field::PromptLength => m.prompt_length = int(),
            Field::ResponseLength => m.response_length = int(),
            Field::TotalToolUses => m.total_tool_uses = int(),
            Field::Trigger => m.trigger = token(),
            Field::ToMode => m.to_mode = token(),
            Field::PluginName => m.plugin_name = token(),
            Field::Marketplace => m.marketplace_name = token(),
            Field::McpStatus => m.mcp_status = token(),
            Field::Transport => m.transport_type = token(),
            Field::HookEvent => m.hook_event = token(),
            Field::HookSource => m.hook_source = token(),
            Field::NumBlocking => m.num_blocking = int(),
            Field::MetricType => m.metric_type = token(),
            Field::StartType => m.start_type = token(),
            Field::Language => m.language = token(),
            Field::Team => m.team = token(),
            Field::Department => m.department = token(),
            Field::CostCenter => m.cost_center = token(),
            Field::Ignored => {}
        }
    }
    Ok(())
}

/// `sourceEventId` as the sanitizer writes it: decimal digits, or `sha256:` and 32 hex.
fn valid_source_id(id: &str) -> bool {
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() })
    };
    match id.strip_prefix("sha256:") {
        Some(rest) => rest.len() == 32 && digits(rest, true),
        None => digits(id, false),
    }
}

/// An event line (`body`) or a metric line (`metric`, `value`, `startTimeUnixNano`); which
/// keys go together is checked in [`Schema::parse`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metric: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Scalar<'a>>,
    #[serde(borrow)]
    attributes: Pairs<'a>,
    #[serde(borrow, default)]
    resource: Option<Resource<'a>>,
    #[serde(rename = "startTimeUnixNano", borrow, default)]
    start_time: Option<Cow<'a, str>>,
    #[serde(rename = "timeUnixNano", borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(rename = "sourceEventId", borrow)]
    source_event_id: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resource<'a> {
    #[serde(borrow)]
    attributes: Pairs<'a>,
}

/// One JSON scalar as read; arrays, objects and `null` are never written by the sanitizer.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl Scalar<'_> {
    fn written(&self) -> Written<'_> {
        match self {
            Scalar::Str(s) => Written::Str(s),
            Scalar::Int(n) => Written::Int(*n),
            Scalar::UInt(n) => Written::UInt(*n),
            Scalar::Float(x) => Written::Float(*x),
            Scalar::Bool(b) => Written::Bool(*b),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(n).map_or(Scalar::UInt(n), Scalar::Int))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(x))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(b))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object's members in order, each value a scalar (checked against its kind afterwards).
struct Pairs<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attributes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    pairs.push((key, map.next_value()?));
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","cache_creation_tokens":14210,"cache_read_tokens":0,"cost_usd":0.072542,"input_tokens":8,"model":"claude-opus-5-5","output_tokens":73,"session.id":"a75ec402-2f7e-4bee-b938-05e6c5102623","user.pseudonym":"7620230c471563b0"},"resource":{"attributes":{"service.name":"claude-code","service.version":"2.1.330","team.id":"platform"}},"timeUnixNano":"1764000000000000000","sourceEventId":"00017953268256873347104948993942104312536498024591955455"}"#;

    fn parse(line: &str) -> Result<Message<'_>, Refusal> {
        Schema::embedded().parse(line.as_bytes(), None)
    }

    #[test]
    fn accepts_a_sanitized_message() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.event, Some(Event::ApiRequest));
        assert_eq!(m.cost_usd, Some(0.072542));
        assert_eq!(m.cache_creation_tokens, Some(14210));
        assert_eq!(m.user.as_deref(), Some("7620230c471563b0"));
        assert_eq!(m.team.as_ref().map(Token::as_str), Some("platform"));
        assert_eq!(m.time_ns, Some(1_764_000_000_000_000_000));
    }

    fn refused(line: &str) -> Refusal {
        parse(line).expect_err("refused")
    }

    #[test]
    fn refuses_what_is_not_sanitized() {
        let cases = [
            (GOOD.replace("\"user.pseudonym\"", "\"user.email\""), Refusal::NotSanitized),
            (GOOD.replace("7620230c471563b0", "alice@example.com"), Refusal::NotSanitized),
            (GOOD.replace("claude-opus-5-5", "a prompt with spaces"), Refusal::NotSanitized),
            (GOOD.replace("\"body\"", "\"severityText\":\"INFO\",\"body\""), Refusal::NotSanitized),
            (GOOD.replace("claude_code.api_request", "claude_code.tool_result"), Refusal::NotSanitized),
            (GOOD.replace("\"team.id\"", "\"host.name\""), Refusal::NotSanitized),
            (GOOD.replace(":8,", ":8.5,"), Refusal::NotSanitized),
            (GOOD.replace("0.072542", "-1"), Refusal::OutOfRange),
            (GOOD.replace("\"1764000000000000000\"", "\"+1764\""), Refusal::NotSanitized),
            (GOOD.replace("\"00017953", "\"x0017953"), Refusal::NotSanitized),
            (GOOD.replace(",\"timeUnixNano\":\"1764000000000000000\"", ""), Refusal::NoTime),
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8,\"input_tokens\":9"), Refusal::NotSanitized),
            (
                GOOD.replace(
                    "\"service.name\":\"claude-code\"",
                    "\"service.name\":\"claude-code\",\"service.name\":\"claude-code\"",
                ),
                Refusal::NotSanitized,
            ),
            (GOOD[..40].to_owned(), Refusal::NotJson),
            ("[1,2]".to_owned(), Refusal::NotSanitized),
            ("not json".to_owned(), Refusal::NotJson),
        ];
        for (line, reason) in cases {
            assert_eq!(refused(&line), reason, "{line}");
        }
    }

    /// Forged figures: each value outside its allowlist kind is refused and counted as such.
    #[test]
    fn refuses_values_outside_their_kind() {
        let cases = [
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":18446744073709551613"), Refusal::OutOfRange),
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":100000001"), Refusal::OutOfRange),
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8.0"), Refusal::NotSanitized),
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":\"8\""), Refusal::NotSanitized),
            (GOOD.replace("0.072542", "1.7e308"), Refusal::OutOfRange),
            (GOOD.replace("0.072542", "1e303"), Refusal::OutOfRange),
            (GOOD.replace("0.072542", "10000.5"), Refusal::OutOfRange),
            (GOOD.replace("0.072542", "true"), Refusal::NotSanitized),
            (
                r#"{"body":"claude_code.api_error","attributes":{"event.name":"api_error","status_code":600},"timeUnixNano":"1","sourceEventId":"1"}"#.to_owned(),
                Refusal::OutOfRange,
            ),
            // status_code is kept on api_error, not on api_request: the key decides first.
            (
                GOOD.replace("\"api_request\",\"cache", "\"api_request\",\"status_code\":600,\"cache"),
                Refusal::NotSanitized,
            ),
            // A session id in a spelling the sanitizer never writes.
            (
                GOOD.replace("a75ec402-2f7e-4bee-b938-05e6c5102623", "A75EC402-2F7E-4BEE-B938-05E6C5102623"),
                Refusal::NotSanitized,
            ),
            (
                GOOD.replace("a75ec402-2f7e-4bee-b938-05e6c5102623", "a75ec4022f7e4beeb93805e6c5102623"),
                Refusal::NotSanitized,
            ),
            // A pseudonym of another length than the allowlist's 16.
            (GOOD.replace("7620230c471563b0", "7620230c471563b0aa"), Refusal::NotSanitized),
            // An event the allowlist does not keep.
            (GOOD.replace("api_request", "hook_run"), Refusal::NotSanitized),
            (GOOD.replace("\"2.1.330\"", "[\"2.1.330\"]"), Refusal::NotSanitized),
        ];
        for (line, reason) in cases {
            assert_eq!(refused(&line), reason, "{line}");
        }
        let at_bounds = GOOD.replace("\"input_tokens\":8", "\"input_tokens\":100000000").replace("0.072542", "10000");
        assert_eq!(parse(&at_bounds).unwrap().input_tokens, Some(100_000_000));
    }

    /// `@` passes only where a kept kind allows it: the model's Vertex form, never an org name
    /// or a skill name (tokens).
    #[test]
    fn at_signs_only_where_the_kind_allows_them() {
        let vertex = GOOD.replace("claude-opus-5-5", "claude-opus-4-1@20250805");
        assert_eq!(parse(&vertex).unwrap().model.as_ref().map(Token::as_str), Some("claude-opus-4-1@20250805"));
        assert_eq!(refused(&GOOD.replace("claude-opus-5-5", "claude-opus-4-1@example.com")), Refusal::NotSanitized);
        for key in ["team.id", "department", "cost_center"] {
            let line = GOOD.replace("\"team.id\":\"platform\"", &format!("\"{key}\":\"dev@example\""));
            assert_eq!(refused(&line), Refusal::NotSanitized, "{key}");
        }
        let skill = r#"{"body":"claude_code.skill_activated","attributes":{"event.name":"skill_activated","skill.name":"pdf@corp"},"timeUnixNano":"1","sourceEventId":"1"}"#;
        assert_eq!(refused(skill), Refusal::NotSanitized);
        assert!(parse(&skill.replace("pdf@corp", "pdf")).is_ok());
    }

    /// The schema is the allowlist's: a field added to an allowlist is accepted with its kind,
    /// and the pseudonym length is the configured one.
    #[test]
    fn the_schema_follows_the_allowlist() {
        let toml = r#"events = ["api_request"]
[attributes]
"cost_usd" = { kind = "number", min = 0, max = 5 }
"new_field" = { kind = "enum", values = ["a", "b"] }
[pseudonyms."user.pseudonym"]
from = ["user.email"]
hex_chars = 12
"#;
        let schema = Schema::new(&Allowlist::from_toml(toml).unwrap());
        let line = |attrs: &str| {
            format!(
                r#"{{"body":"claude_code.api_request","attributes":{{"event.name":"api_request",{attrs}}},"timeUnixNano":"1","sourceEventId":"1"}}"#
            )
        };
        let ok = line(r#""cost_usd":4.5,"new_field":"a","user.pseudonym":"0123456789ab""#);
        let m = schema.parse(ok.as_bytes(), None).unwrap();
        assert_eq!((m.cost_usd, m.user.as_deref()), (Some(4.5), Some("0123456789ab")));
        let refused = |attrs: &str| schema.parse(line(attrs).as_bytes(), None).err();
        assert_eq!(refused(r#""cost_usd":6"#), Some(Refusal::OutOfRange));
        assert_eq!(refused(r#""new_field":"c""#), Some(Refusal::NotSanitized));
        assert_eq!(refused(r#""user.pseudonym":"0123456789abcdef""#), Some(Refusal::NotSanitized));
        assert_eq!(refused(r#""model":"claude-opus-5""#), Some(Refusal::NotSanitized));
    }

    /// A key is accepted only on the events the allowlist writes it on: a figure moved to
    /// another event (`cost_usd` on a `tool_result`, `decision` on an `api_request`) is a forged
    /// or edited line, refused before its value is looked at.
    #[test]
    fn a_key_is_accepted_only_on_the_events_it_is_kept_on() {
        let decision = r#"{"body":"claude_code.tool_decision","attributes":{"event.name":"tool_decision","decision":"reject","source":"user_reject","permission_mode":"bypassPermissions","tool_name":"Edit"},"timeUnixNano":"1","sourceEventId":"1"}"#;
        let m = parse(decision).unwrap();
        assert_eq!(m.event, Some(Event::ToolDecision));
        assert_eq!(m.decision.as_ref().map(Token::as_str), Some("reject"));
        assert_eq!(m.permission_mode.as_ref().map(Token::as_str), Some("bypassPermissions"));
        let cases = [
            GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8,\"decision\":\"accept\""),
            GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8,\"prompt_length\":12"),
            // The key is kept on another event, and its value would be out of range: the key decides.
            GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8,\"num_blocking\":99999999"),
            decision.replace("\"tool_name\":\"Edit\"", "\"tool_name\":\"Edit\",\"cost_usd\":1"),
            decision.replace("\"tool_name\":\"Edit\"", "\"tool_name\":\"Edit\",\"success\":true"),
        ];
        for line in cases {
            assert_eq!(refused(&line), Refusal::NotSanitized, "{line}");
        }
        let result = r#"{"body":"claude_code.tool_result","attributes":{"event.name":"tool_result","tool_name":"Bash","success":false,"duration_ms":120,"error_type":"ShellError"},"timeUnixNano":"1","sourceEventId":"1"}"#;
        let m = parse(result).unwrap();
        assert_eq!((m.success, m.duration_ms), (Some(false), Some(120)));
        assert_eq!(refused(&result.replace("false", "\"false\"")), Refusal::NotSanitized);
    }

    const METRIC: &str = r#"{"metric":"claude_code.lines_of_code.count","value":10,"attributes":{"model":"claude-sonnet-5-5","session.id":"a75ec402-2f7e-4bee-b938-05e6c5102623","type":"added","user.pseudonym":"7620230c471563b0"},"resource":{"attributes":{"service.name":"claude-code","service.version":"2.1.332","team.id":"platform"}},"startTimeUnixNano":"1796312690017000000","timeUnixNano":"1796312691017000000","sourceEventId":"123456789012345678901234567890123456789"}"#;

    /// A metric line of contract 2 is read with its value and attributes; one that mixes the
    /// two shapes, names a metric not kept or carries a key not written is refused.
    #[test]
    fn accepts_a_metric_line_and_refuses_forged_ones() {
        let m = parse(METRIC).unwrap();
        assert_eq!((m.event, m.metric, m.value), (None, Some(Metric::LinesOfCode), Some(10.0)));
        assert_eq!(m.metric_type.as_ref().map(Token::as_str), Some("added"));
        assert_eq!(m.team.as_ref().map(Token::as_str), Some("platform"));
        assert_eq!(m.user.as_deref(), Some("7620230c471563b0"));
        assert_eq!(m.time_ns, Some(1_796_312_691_017_000_000));
        // Seconds of active time may have a fraction; lines of code are whole (the allowlist's kinds).
        let active = METRIC
            .replace("lines_of_code.count", "active_time.total")
            .replace("\"value\":10", "\"value\":12.5")
            .replace("\"model\":\"claude-sonnet-5-5\",", "")
            .replace("\"added\"", "\"cli\"");
        assert_eq!(parse(&active).unwrap().value, Some(12.5));
        let cases = [
            METRIC.replace("\"value\":10", "\"value\":12.5"),
            // `model` is kept on lines of code, not on active time; `start_type` only on sessions.
            active.replace("\"session.id\"", "\"model\":\"claude-sonnet-5-5\",\"session.id\""),
            METRIC.replace("\"type\":\"added\"", "\"start_type\":\"fresh\",\"type\":\"added\""),
            METRIC.replace("\"metric\"", "\"body\":\"claude_code.api_request\",\"metric\""),
            METRIC.replace("lines_of_code.count", "lines_of_code.total"),
            METRIC.replace("\"value\":10,", ""),
            METRIC.replace("\"value\":10", "\"value\":\"10\""),
            METRIC.replace("\"startTimeUnixNano\":\"1796312690017000000\",", ""),
            METRIC.replace("\"user.pseudonym\"", "\"user.email\""),
            METRIC.replace("\"type\":\"added\"", "\"type\":\"a b\""),
            METRIC.replace("\"team.id\"", "\"host.name\""),
        ];
        for line in cases {
            assert_eq!(refused(&line), Refusal::NotSanitized, "{line}");
        }
        assert_eq!(refused(&METRIC.replace("\"value\":10", "\"value\":-1")), Refusal::OutOfRange);
    }

    #[test]
    fn falls_back_to_the_cloudwatch_time() {
        let line = GOOD.replace(",\"timeUnixNano\":\"1764000000000000000\"", "");
        assert_eq!(Schema::embedded().parse(line.as_bytes(), Some(5)).unwrap().time_ns, Some(5));
    }
}
