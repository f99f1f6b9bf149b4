//! One sanitized message (one line of `sanitize` output, or one event of the sanitized group),
//! parsed and checked against the sanitized shape.
//!
//! Trusts nothing: the line may be a raw event, a stored OTel record or garbage. Guarantees: a
//! line is accepted only when every key is one the sanitizer can write (the top-level keys
//! `body`, `attributes`, `resource`, `timeUnixNano`, `sourceEventId`; attribute and resource
//! attribute keys the digest knows or the embedded allowlist writes), and every value the
//! digest reads has its sanitized kind (numbers, 16-hex pseudonyms, UUIDs, identifiers of
//! `[A-Za-z0-9._:@-]`). So every string a digest can print is a short identifier, and a raw
//! event (which carries `user.email`, `prompt`, `severityText`, ...) is refused whole. A refusal
//! names a reason, never the line.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// Longest identifier accepted (the allowlist's `token` bound).
pub const MAX_TOKEN_LEN: usize = 128;

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JSON object (syntax error, truncated line, not UTF-8).
    NotJson,
    /// JSON, but not a sanitized message: an unknown key, a missing key or a value of the
    /// wrong kind (a raw event, a stored record, an edited line).
    NotSanitized,
    /// A sanitized message without `timeUnixNano` and no CloudWatch timestamp to fall back on.
    NoTime,
    /// Longer than [`super::MAX_LINE_BYTES`].
    TooLong,
}

impl Refusal {
    /// The reason as printed in counts.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotJson => "not_json",
            Refusal::NotSanitized => "not_sanitized",
            Refusal::NoTime => "no_time",
            Refusal::TooLong => "too_long",
        }
    }
}

/// An identifier: 1..=128 characters of `[A-Za-z0-9._:@-]`, so it holds no text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token<'a>(Cow<'a, str>);

impl Token<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks `s` is an identifier.
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_TOKEN_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
    }
}

impl fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Validated identifiers only, but keep the habit: no values in Debug.
        f.debug_struct("Token").field("len", &self.0.len()).finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Token<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'a, str> as Deserialize>::deserialize(d)?;
        if Token::is_valid(&s) { Ok(Token(s)) } else { Err(de::Error::custom("not an identifier")) }
    }
}

/// The events the digest counts; any other (allowlisted) event name is accepted and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    ApiRequest,
    ApiError,
    UserPrompt,
    ToolResult,
    SkillActivated,
    SubagentCompleted,
    Other,
}

impl Event {
    fn from_name(name: &str) -> Event {
        match name {
            "api_request" => Event::ApiRequest,
            "api_error" => Event::ApiError,
            "user_prompt" => Event::UserPrompt,
            "tool_result" => Event::ToolResult,
            "skill_activated" => Event::SkillActivated,
            "subagent_completed" => Event::SubagentCompleted,
            _ => Event::Other,
        }
    }
}

/// One accepted sanitized message: only the fields the digest reads.
#[derive(Default)]
pub struct Message<'a> {
    pub event: Option<Event>,
    pub time_ns: Option<u64>,
    pub source_event_id: Cow<'a, str>,
    pub session: Option<u128>,
    pub user: Option<u64>,
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
    pub team: Option<Token<'a>>,
    pub department: Option<Token<'a>>,
    pub cost_center: Option<Token<'a>>,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("event", &self.event).finish_non_exhaustive()
    }
}

/// Parses one line. `fallback_time_ns` is the CloudWatch timestamp when the line came from the
/// sanitized group (used when the message has no `timeUnixNano`).
pub fn parse(line: &[u8], fallback_time_ns: Option<u64>) -> Result<Message<'_>, Refusal> {
    let wire: Wire<'_> = serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Refusal::NotSanitized,
        _ => Refusal::NotJson,
    })?;
    let Attributes(name, mut m) = wire.attributes;
    let name = name.ok_or(Refusal::NotSanitized)?;
    if wire.body.strip_prefix("claude_code.") != Some(name.as_str()) {
        return Err(Refusal::NotSanitized);
    }
    m.event = Some(Event::from_name(name.as_str()));
    if let Some(resource) = wire.resource {
        let r = resource.attributes.0;
        (m.team, m.department, m.cost_center) = (r.team, r.department, r.cost_center);
    }
    m.time_ns =
        match wire.time {
            Some(t) => Some(t.parse::<u64>().map_err(|_| Refusal::NotSanitized).and_then(|v| {
                if t.bytes().all(|b| b.is_ascii_digit()) { Ok(v) } else { Err(Refusal::NotSanitized) }
            })?),
            None => Some(fallback_time_ns.ok_or(Refusal::NoTime)?),
        };
    if !valid_source_id(&wire.source_event_id) {
        return Err(Refusal::NotSanitized);
    }
    m.source_event_id = wire.source_event_id;
    Ok(m)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    body: Cow<'a, str>,
    #[serde(borrow)]
    attributes: Attributes<'a>,
    #[serde(borrow, default)]
    resource: Option<Resource<'a>>,
    #[serde(rename = "timeUnixNano", borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(rename = "sourceEventId", borrow)]
    source_event_id: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resource<'a> {
    #[serde(borrow)]
    attributes: ResourceAttributes<'a>,
}

/// Attribute keys the digest reads or knows to be sanitized output (the issue's field list).
const KNOWN_ATTRIBUTES: &[&str] = &[
    "event.name",
    "session.id",
    "user.pseudonym",
    "terminal.type",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "model",
    "skill.name",
    "agent.name",
    "mcp_server.name",
    "duration_ms",
    "speed",
    "effort",
    "query_source",
    "prompt_length",
    "status_code",
    "attempt",
    "tool_name",
    "tool.subagent_type",
    "tool.mcp_server_name",
    "tool.mcp_tool_name",
    "tool.skill_name",
    "agent_type",
];

const KNOWN_RESOURCE_ATTRIBUTES: &[&str] =
    &["service.name", "service.version", "user.plan", "team.id", "department", "cost_center", "organization"];

/// Every key a sanitized message may hold: the digest's list plus what the embedded allowlist
/// writes (so a field added to the allowlist later is accepted, and ignored, without a change
/// here).
static ATTRIBUTE_KEYS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let allowlist = sanitizer_core::Allowlist::embedded();
    KNOWN_ATTRIBUTES.iter().map(|k| (*k).to_owned()).chain(allowlist.attribute_outputs().map(str::to_owned)).collect()
});

static RESOURCE_KEYS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let allowlist = sanitizer_core::Allowlist::embedded();
    KNOWN_RESOURCE_ATTRIBUTES
        .iter()
        .map(|k| (*k).to_owned())
        .chain(allowlist.resource_outputs().map(str::to_owned))
        .collect()
});

/// The attributes: `event.name` (kept apart until the body is checked) and the fields read.
struct Attributes<'a>(Option<Token<'a>>, Message<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Attributes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AttributesVisitor(std::marker::PhantomData))
    }
}

struct AttributesVisitor<'a>(std::marker::PhantomData<&'a ()>);

/// Puts `value` in `slot`, refusing a key given twice.
fn set<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("duplicate key"));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de: 'a, 'a> Visitor<'de> for AttributesVisitor<'a> {
    type Value = Attributes<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attributes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event_name = None;
        let mut m = Message::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "event.name" => set(&mut event_name, map.next_value()?)?,
                "session.id" => {
                    let s: Cow<'de, str> = map.next_value()?;
                    let id = uuid::Uuid::try_parse(&s).map_err(|_| de::Error::custom("not a uuid"))?;
                    set(&mut m.session, id.as_u128())?;
                }
                "user.pseudonym" => {
                    let s: Cow<'de, str> = map.next_value()?;
                    let valid = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                    let value = if valid { u64::from_str_radix(&s, 16).ok() } else { None };
                    set(&mut m.user, value.ok_or_else(|| de::Error::custom("not a pseudonym"))?)?;
                }
                "cost_usd" => {
                    let v: f64 = map.next_value()?;
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(de::Error::custom("cost out of range"));
                    }
                    set(&mut m.cost_usd, v)?;
                }
                "input_tokens" => set(&mut m.input_tokens, map.next_value()?)?,
                "output_tokens" => set(&mut m.output_tokens, map.next_value()?)?,
                "cache_read_tokens" => set(&mut m.cache_read_tokens, map.next_value()?)?,
                "cache_creation_tokens" => set(&mut m.cache_creation_tokens, map.next_value()?)?,
                "model" => set(&mut m.model, map.next_value()?)?,
                "skill.name" => set(&mut m.skill_name, map.next_value()?)?,
                "agent_type" => set(&mut m.agent_type, map.next_value()?)?,
                "tool.subagent_type" => set(&mut m.subagent_type, map.next_value()?)?,
                "tool.mcp_server_name" => set(&mut m.mcp_server_name, map.next_value()?)?,
                "status_code" => {
                    let v: u16 = map.next_value()?;
                    if !(100..=599).contains(&v) {
                        return Err(de::Error::custom("status out of range"));
                    }
                    set(&mut m.status_code, v)?;
                }
                other if ATTRIBUTE_KEYS.contains(other) => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(de::Error::custom("key outside the sanitized shape")),
            }
        }
        Ok(Attributes(event_name, m))
    }
}

struct ResourceAttributes<'a>(Groups<'a>);

#[derive(Default)]
struct Groups<'a> {
    team: Option<Token<'a>>,
    department: Option<Token<'a>>,
    cost_center: Option<Token<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ResourceAttributes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ResourceVisitor(std::marker::PhantomData)).map(ResourceAttributes)
    }
}

struct ResourceVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ResourceVisitor<'a> {
    type Value = Groups<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource attributes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut g = Groups::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "team.id" => set(&mut g.team, map.next_value()?)?,
                "department" => set(&mut g.department, map.next_value()?)?,
                "cost_center" => set(&mut g.cost_center, map.next_value()?)?,
                other if RESOURCE_KEYS.contains(other) => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(de::Error::custom("key outside the sanitized shape")),
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","cache_creation_tokens":14210,"cache_read_tokens":0,"cost_usd":0.072542,"input_tokens":8,"model":"claude-opus-5-5","output_tokens":73,"session.id":"a75ec402-2f7e-4bee-b938-05e6c5102623","user.pseudonym":"7620230c471563b0"},"resource":{"attributes":{"service.name":"claude-code","service.version":"2.1.330","team.id":"platform"}},"timeUnixNano":"1764000000000000000","sourceEventId":"00017953268256873347104948993942104312536498024591955455"}"#;

    #[test]
    fn accepts_a_sanitized_message() {
        let m = parse(GOOD.as_bytes(), None).unwrap();
        assert_eq!(m.event, Some(Event::ApiRequest));
        assert_eq!(m.cost_usd, Some(0.072542));
        assert_eq!(m.cache_creation_tokens, Some(14210));
        assert_eq!(m.user, Some(0x7620230c471563b0));
        assert_eq!(m.team.as_ref().map(Token::as_str), Some("platform"));
        assert_eq!(m.time_ns, Some(1_764_000_000_000_000_000));
    }

    fn refused(line: &str) -> Refusal {
        parse(line.as_bytes(), None).expect_err("refused")
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
            (GOOD.replace("0.072542", "-1"), Refusal::NotSanitized),
            (GOOD.replace("\"1764000000000000000\"", "\"+1764\""), Refusal::NotSanitized),
            (GOOD.replace("\"00017953", "\"x0017953"), Refusal::NotSanitized),
            (GOOD.replace(",\"timeUnixNano\":\"1764000000000000000\"", ""), Refusal::NoTime),
            (GOOD.replace("\"input_tokens\":8", "\"input_tokens\":8,\"input_tokens\":9"), Refusal::NotSanitized),
            (GOOD[..40].to_owned(), Refusal::NotJson),
            ("[1,2]".to_owned(), Refusal::NotSanitized),
            ("not json".to_owned(), Refusal::NotJson),
        ];
        for (line, reason) in cases {
            assert_eq!(refused(&line), reason, "{line}");
        }
    }

    #[test]
    fn falls_back_to_the_cloudwatch_time() {
        let line = GOOD.replace(",\"timeUnixNano\":\"1764000000000000000\"", "");
        assert_eq!(parse(line.as_bytes(), Some(5)).unwrap().time_ns, Some(5));
    }
}
