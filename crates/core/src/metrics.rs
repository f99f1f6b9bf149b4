//! Metric data points: one OTLP data point in, one sanitized metric line or a reason out.
//!
//! The OTLP endpoint's `/v1/metrics` reads a request (crate `sanitizer-otlp`) and hands each
//! data point here as a [`MetricPoint`]: plain borrowed values, so this crate stays free of the
//! OTLP types. What is kept is what `[metrics]` of the allowlist names (see
//! [`crate::Allowlist::metric_names`]); resource attributes follow `[resource_attributes]`, and
//! identity becomes the same keyed pseudonym as on event lines (`[pseudonyms]`, read from the
//! data point's attributes), so one person has one pseudonym across events and metrics.
//!
//! A kept point becomes one line, keys in this order, attributes in output order:
//!
//! ```text
//! {"metric":"claude_code.commit.count","value":1,"attributes":{"session.id":"…","user.pseudonym":"…"},
//!  "resource":{"attributes":{"service.name":"claude-code","team.id":"platform"}},
//!  "startTimeUnixNano":"…","timeUnixNano":"…","sourceEventId":"<39 digits>"}
//! ```
//!
//! Trusts nothing in the point. Guarantees: a point is written only if its metric is named, it
//! is a **delta** sum (a cumulative point re-sends every series at every export, so summing
//! them would count the same work many times: dropped as `cumulative_temporality`), and its
//! value has the metric's kind; every other point is counted as dropped with its reason. An
//! attribute is written only if named for that metric and of its kind; a key that arrives twice
//! is dropped (`duplicate`), never one of the two picked.

use crate::allowlist::{MetricRule, Rule};
use crate::counts::{AttributeDrop, EventDrop};
use crate::kind::Kept;
use crate::sanitize::Sanitizer;
use crate::value::Scalar;
use std::borrow::Cow;
use std::fmt;

/// The longest identity value that is pseudonymised, as for event attributes.
const MAX_PSEUDONYM_SOURCE_LEN: usize = 1024;

/// What kind of metric a data point belongs to, as OTLP says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricShape {
    /// A sum; `delta`: aggregation temporality DELTA (anything else is not delta).
    Sum {
        delta: bool,
    },
    Gauge,
    Histogram,
    ExponentialHistogram,
    Summary,
    /// A metric with no data of any kind.
    Empty,
}

/// A data point's value.
#[derive(Clone, Copy, PartialEq)]
pub enum PointValue {
    Double(f64),
    Int(i64),
    /// The point carries no value (OTLP's `value` oneof unset).
    Missing,
}

/// Shape only: a value is payload content.
impl fmt::Debug for PointValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PointValue(..)")
    }
}

/// One attribute value, as OTLP's `AnyValue` carries it.
#[derive(Clone, Copy, PartialEq)]
pub enum AttributeValue<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An array, a key-value list, bytes, or no value: never kept.
    Other,
}

/// Shape only: a value is payload content.
impl fmt::Debug for AttributeValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttributeValue(..)")
    }
}

impl<'a> AttributeValue<'a> {
    fn scalar(self) -> Scalar<'a> {
        match self {
            AttributeValue::Str(s) => Scalar::Str(Cow::Borrowed(s)),
            AttributeValue::Bool(b) => Scalar::Bool(b),
            AttributeValue::Int(n) => Scalar::Int(n),
            AttributeValue::Double(x) => Scalar::Float(x),
            AttributeValue::Other => Scalar::Compound,
        }
    }
}

/// One data point with what surrounds it in the request.
#[derive(Clone, Copy)]
pub struct MetricPoint<'a> {
    /// The metric's name (`claude_code.commit.count`).
    pub name: &'a str,
    pub shape: MetricShape,
    pub value: PointValue,
    /// The data point's attributes, in the order received.
    pub attributes: &'a [(&'a str, AttributeValue<'a>)],
    /// The resource's attributes, in the order received.
    pub resource: &'a [(&'a str, AttributeValue<'a>)],
    /// 0 when unset.
    pub start_time_unix_nano: u64,
    /// 0 when unset.
    pub time_unix_nano: u64,
}

/// Names and shape only: a point holds payload content.
impl fmt::Debug for MetricPoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricPoint")
            .field("shape", &self.shape)
            .field("attributes", &self.attributes.len())
            .field("resource", &self.resource.len())
            .finish_non_exhaustive()
    }
}

/// Attribute verdicts of one point: how many input attributes were dropped, by reason.
pub(crate) type AttributeDrops = [u64; AttributeDrop::ALL.len()];

impl Sanitizer {
    /// The metric line of `point` with `id` as its `sourceEventId`, or why the point is dropped;
    /// `drops` hears of every input attribute (data point and resource) not written.
    pub(crate) fn sanitize_point(
        &self,
        point: &MetricPoint<'_>,
        id: &str,
        drops: &mut AttributeDrops,
    ) -> Result<String, EventDrop> {
        let rules = &self.allowlist().metrics;
        let metric = rules.metric(point.name).ok_or(EventDrop::MetricNotAllowed)?;
        match point.shape {
            MetricShape::Sum { delta: true } => {}
            MetricShape::Sum { delta: false } => return Err(EventDrop::CumulativeTemporality),
            _ => return Err(EventDrop::MetricTypeNotKept),
        }
        let value = match point.value {
            PointValue::Double(x) => Scalar::Float(x),
            PointValue::Int(n) => Scalar::Int(n),
            PointValue::Missing => return Err(EventDrop::WrongValue),
        };
        let value = rules.values[metric].check(value).map_err(|_| EventDrop::WrongValue)?;

        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"metric\":");
        // A kept name is [a-z0-9_.]: no escapes.
        Kept::Plain(Cow::Borrowed(&rules.names[metric])).write_json(&mut out);
        out.extend_from_slice(b",\"value\":");
        write_value(&value, &mut out);
        out.extend_from_slice(b",\"attributes\":{");
        let mut first = true;
        let mut used = vec![false; point.attributes.len()];
        for output in rules.outputs.iter().filter(|o| o.on.contains(metric)) {
            let kept = match &output.rule {
                MetricRule::Copy { input, kind } => {
                    single(point.attributes, input, &mut used, drops).and_then(|v| match kind.check(v.scalar()) {
                        Ok(kept) => Some(kept),
                        Err(reason) => {
                            drops[reason as usize] += 1;
                            None
                        }
                    })
                }
                MetricRule::Pseudonym { sources, hex_chars } => {
                    self.point_pseudonym(point.attributes, &output.key, sources, *hex_chars, &mut used, drops)
                }
            };
            if let Some(kept) = kept {
                out.extend_from_slice(if first { b"" } else { b"," });
                first = false;
                out.extend_from_slice(&output.key_json);
                kept.write_json(&mut out);
            }
        }
        out.push(b'}');
        drops[AttributeDrop::NotAllowlisted as usize] += used.iter().filter(|u| !**u).count() as u64;

        let mut used = vec![false; point.resource.len()];
        let mut first = true;
        for output in &self.allowlist().resource_outputs {
            let Rule::Copy { slot, kind } = &output.rule else { continue };
            let key = &self.allowlist().resource_slots.keys[*slot];
            let Some(v) = single(point.resource, key, &mut used, drops) else { continue };
            match kind.check(v.scalar()) {
                Ok(kept) => {
                    out.extend_from_slice(if first { b",\"resource\":{\"attributes\":{" } else { b"," });
                    first = false;
                    out.extend_from_slice(&output.key_json);
                    kept.write_json(&mut out);
                }
                Err(reason) => drops[reason as usize] += 1,
            }
        }
        if !first {
            out.extend_from_slice(b"}}");
        }
        drops[AttributeDrop::NotAllowlisted as usize] += used.iter().filter(|u| !**u).count() as u64;

        for (key, nanos) in [("startTimeUnixNano", point.start_time_unix_nano), ("timeUnixNano", point.time_unix_nano)]
        {
            if nanos != 0 {
                out.extend_from_slice(format!(",\"{key}\":\"{nanos}\"").as_bytes());
            }
        }
        out.extend_from_slice(b",\"sourceEventId\":");
        serde_json::to_writer(&mut out, id).map_err(|_| EventDrop::Unparseable)?;
        out.push(b'}');
        // Written from valid UTF-8 pieces only.
        String::from_utf8(out).map_err(|_| EventDrop::Unparseable)
    }

    /// The keyed pseudonym of the first source present, marking every source seen as used.
    fn point_pseudonym(
        &self,
        attributes: &[(&str, AttributeValue<'_>)],
        output: &str,
        sources: &[Box<str>],
        hex_chars: usize,
        used: &mut [bool],
        drops: &mut AttributeDrops,
    ) -> Option<Kept<'static>> {
        let mut result = None;
        for source in sources {
            let Some(value) = single(attributes, source, used, drops) else { continue };
            let reason = match (value, self.key()) {
                _ if result.is_some() => AttributeDrop::Superseded,
                (AttributeValue::Str(s), _) if s.trim().is_empty() => AttributeDrop::WrongKind,
                (AttributeValue::Str(s), _) if s.len() > MAX_PSEUDONYM_SOURCE_LEN => AttributeDrop::TooLong,
                (AttributeValue::Str(_), None) => AttributeDrop::NoPseudonymKey,
                (AttributeValue::Str(s), Some(key)) => {
                    result = Some(Kept::Plain(Cow::Owned(key.pseudonym(output, s, hex_chars))));
                    continue;
                }
                _ => AttributeDrop::WrongKind,
            };
            drops[reason as usize] += 1;
        }
        result
    }
}

/// The one value of `key` among `attributes`, marking it used. A key present more than once is
/// dropped, every copy counted as `duplicate`.
fn single<'a>(
    attributes: &[(&str, AttributeValue<'a>)],
    key: &str,
    used: &mut [bool],
    drops: &mut AttributeDrops,
) -> Option<AttributeValue<'a>> {
    let mut found = None;
    let mut copies = 0u64;
    for (i, (k, v)) in attributes.iter().enumerate() {
        if *k == key {
            used[i] = true;
            copies += 1;
            found = Some(*v);
        }
    }
    if copies > 1 {
        drops[AttributeDrop::Duplicate as usize] += copies;
        return None;
    }
    found
}

/// A value as JSON; a whole double (the client sends counts as doubles) without a fraction.
fn write_value(value: &Kept<'_>, out: &mut Vec<u8>) {
    match value {
        Kept::Float(x) if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 => {
            Kept::Int(*x as i64).write_json(out);
        }
        other => other.write_json(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Allowlist, PseudonymKey, SanitizedPayload};

    const ALLOWLIST: &str = r#"events = ["api_request"]
[resource_attributes]
"team.id" = { kind = "token", max_len = 64 }
[pseudonyms."user.pseudonym"]
from = ["user.email", "user.id"]
[metrics.values]
"claude_code.commit.count" = { kind = "integer", min = 0, max = 1000 }
"claude_code.lines_of_code.count" = { kind = "integer", min = 0, max = 1000000 }
"claude_code.cost.usage" = { kind = "number", min = 0, max = 1000 }
[metrics.attributes]
"type" = { kind = "enum", values = ["added", "removed"], metrics = ["claude_code.lines_of_code.count"] }
"session.id" = { kind = "uuid" }
"#;

    fn sanitizer(key: bool) -> Sanitizer {
        let key = key.then(|| PseudonymKey::new(b"0123456789abcdef0123").unwrap());
        Sanitizer::new(Allowlist::from_toml(ALLOWLIST).unwrap(), key)
    }

    fn point<'a>(
        name: &'a str,
        value: PointValue,
        attributes: &'a [(&'a str, AttributeValue<'a>)],
        resource: &'a [(&'a str, AttributeValue<'a>)],
    ) -> MetricPoint<'a> {
        MetricPoint {
            name,
            shape: MetricShape::Sum { delta: true },
            value,
            attributes,
            resource,
            start_time_unix_nano: 1_000_000_000,
            time_unix_nano: 2_000_000_000,
        }
    }

    fn run(sanitizer: &Sanitizer, points: &[MetricPoint<'_>]) -> SanitizedPayload {
        let mut batch = sanitizer.batch();
        for (i, p) in points.iter().enumerate() {
            batch.push_point(p, &format!("{i:039}"), 5);
        }
        batch.finish()
    }

    const SESSION: &str = "c3d13a59-864e-4258-b964-ce349f844911";

    #[test]
    fn a_kept_point_is_one_line_in_the_documented_order() {
        let attrs = [
            ("type", AttributeValue::Str("added")),
            ("user.email", AttributeValue::Str("Canary.Person@example.com")),
            ("session.id", AttributeValue::Str("C3D13A59-864E-4258-B964-CE349F844911")),
        ];
        let resource = [("team.id", AttributeValue::Str("platform")), ("host.name", AttributeValue::Str("CANARY"))];
        let s = sanitizer(true);
        let out = run(&s, &[point("claude_code.lines_of_code.count", PointValue::Double(10.0), &attrs, &resource)]);
        let pseudonym = PseudonymKey::new(b"0123456789abcdef0123").unwrap().pseudonym(
            "user.pseudonym",
            "canary.person@example.com",
            16,
        );
        assert_eq!(
            out.events[0].message,
            format!(
                r#"{{"metric":"claude_code.lines_of_code.count","value":10,"attributes":{{"session.id":"{SESSION}","type":"added","user.pseudonym":"{pseudonym}"}},"resource":{{"attributes":{{"team.id":"platform"}}}},"startTimeUnixNano":"1000000000","timeUnixNano":"2000000000","sourceEventId":"{:039}"}}"#,
                0
            )
        );
        assert_eq!(out.events[0].timestamp, 2_000);
        assert_eq!((out.counts.received, out.counts.written), (1, 1));
        assert_eq!(out.counts.attributes_dropped(AttributeDrop::NotAllowlisted), 1, "host.name");
        // The same email under another spelling is the same person as on event lines.
        assert!(!out.events[0].message.to_ascii_lowercase().contains("canary"));
    }

    #[test]
    fn points_are_dropped_whole_with_their_reason() {
        let s = sanitizer(true);
        let none: [(&str, AttributeValue<'_>); 0] = [];
        let mut cumulative = point("claude_code.commit.count", PointValue::Double(1.0), &none, &none);
        cumulative.shape = MetricShape::Sum { delta: false };
        let mut gauge = point("claude_code.commit.count", PointValue::Double(1.0), &none, &none);
        gauge.shape = MetricShape::Gauge;
        let mut histogram = gauge;
        histogram.shape = MetricShape::ExponentialHistogram;
        let cases = [
            (point("claude_code.other", PointValue::Double(1.0), &none, &none), EventDrop::MetricNotAllowed),
            (cumulative, EventDrop::CumulativeTemporality),
            (gauge, EventDrop::MetricTypeNotKept),
            (histogram, EventDrop::MetricTypeNotKept),
            (point("claude_code.commit.count", PointValue::Missing, &none, &none), EventDrop::WrongValue),
            (point("claude_code.commit.count", PointValue::Double(f64::NAN), &none, &none), EventDrop::WrongValue),
            (point("claude_code.commit.count", PointValue::Double(-1.0), &none, &none), EventDrop::WrongValue),
            (point("claude_code.commit.count", PointValue::Double(1.5), &none, &none), EventDrop::WrongValue),
            (point("claude_code.commit.count", PointValue::Int(1001), &none, &none), EventDrop::WrongValue),
            (point("claude_code.cost.usage", PointValue::Double(f64::INFINITY), &none, &none), EventDrop::WrongValue),
        ];
        for (p, reason) in cases {
            let out = run(&s, &[p]);
            assert!(out.events.is_empty(), "{reason:?}");
            assert_eq!((out.counts.received, out.counts.dropped(reason)), (1, 1), "{reason:?}");
        }
        let kept = run(&s, &[point("claude_code.cost.usage", PointValue::Double(0.0123), &none, &none)]);
        assert!(kept.events[0].message.contains(r#""value":0.0123,"#), "{}", kept.events[0].message);
    }

    #[test]
    fn only_the_key_stops_a_canary_shaped_to_pass_the_kind() {
        // Every value here passes the kind of some kept key: only the key, or the metric the key
        // is kept on, stops it.
        let attrs = [
            ("vcs.repository.name", AttributeValue::Str("added")),
            ("organization.id", AttributeValue::Str(SESSION)),
            ("team.id", AttributeValue::Str("canaryteam")),
            ("type", AttributeValue::Str("removed")),
            ("enduser.id", AttributeValue::Str("canarytoken")),
        ];
        let resource =
            [("owner.email", AttributeValue::Str("platform")), ("project.codename", AttributeValue::Str("x"))];
        let s = sanitizer(true);
        let out = run(&s, &[point("claude_code.commit.count", PointValue::Int(1), &attrs, &resource)]);
        assert_eq!(
            out.events[0].message,
            format!(
                r#"{{"metric":"claude_code.commit.count","value":1,"attributes":{{}},"startTimeUnixNano":"1000000000","timeUnixNano":"2000000000","sourceEventId":"{:039}"}}"#,
                0
            )
        );
        assert_eq!(out.counts.attributes_dropped(AttributeDrop::NotAllowlisted), 7);
    }

    #[test]
    fn a_key_sent_twice_is_dropped_and_so_are_values_of_the_wrong_kind() {
        let attrs = [
            ("type", AttributeValue::Str("added")),
            ("type", AttributeValue::Str("removed")),
            ("session.id", AttributeValue::Str("not-a-uuid CANARY")),
            ("user.email", AttributeValue::Int(7)),
            ("user.id", AttributeValue::Str("install-id")),
        ];
        let s = sanitizer(true);
        let out = run(&s, &[point("claude_code.lines_of_code.count", PointValue::Int(3), &attrs, &[])]);
        let line = &out.events[0].message;
        assert!(!line.contains("\"type\"") && !line.contains("session.id") && !line.contains("CANARY"), "{line}");
        assert!(line.contains("user.pseudonym"), "the next identity source is used: {line}");
        assert_eq!(out.counts.attributes_dropped(AttributeDrop::Duplicate), 2);
        assert_eq!(out.counts.attributes_dropped(AttributeDrop::WrongKind), 2);
        // Without a key, identity is dropped, never written raw.
        let out = run(&sanitizer(false), &[point("claude_code.lines_of_code.count", PointValue::Int(3), &attrs, &[])]);
        assert!(!out.events[0].message.contains("user.pseudonym") && !out.events[0].message.contains("install-id"));
        assert_eq!(out.counts.attributes_dropped(AttributeDrop::NoPseudonymKey), 1);
    }

    #[test]
    fn the_metrics_section_is_checked_like_the_rest() {
        use crate::AllowlistErrorKind::*;
        let refused =
            |extra: &str| Allowlist::from_toml(&format!("events = [\"api_request\"]\n{extra}")).unwrap_err().kind;
        assert_eq!(refused("[metrics.values]\n\"c.x\" = { kind = \"token\", max_len = 4 }\n"), MetricValueKind);
        assert_eq!(
            refused("[metrics.values]\n\"C X\" = { kind = \"integer\", min = 0, max = 1 }\n"),
            BadMetricName("C X".into())
        );
        assert_eq!(
            refused(
                "[metrics.values]\n\"c.x\" = { kind = \"integer\", min = 0, max = 1 }\n[metrics.attributes]\n\"t\" = { kind = \"uuid\", metrics = [\"c.y\"] }\n"
            ),
            MetricNotKept("c.y".into())
        );
        assert_eq!(
            refused(
                "[metrics.values]\n\"c.x\" = { kind = \"integer\", min = 0, max = 1 }\n[metrics.attributes]\n\"user.email\" = { kind = \"token\", max_len = 9 }\n"
            ),
            NeverKeptRaw("user.email".into())
        );
        assert_eq!(refused("[attributes]\n\"t\" = { kind = \"uuid\", metrics = [\"c.x\"] }\n"), MisplacedMetricsField);
        assert_eq!(
            refused(
                "[metrics.values]\n\"c.x\" = { kind = \"integer\", min = 0, max = 1 }\n[metrics.attributes]\n\"t\" = { kind = \"uuid\", events = [\"api_request\"] }\n"
            ),
            MisplacedMetricsField
        );
        // No [metrics]: no metric is kept.
        let s = Sanitizer::new(Allowlist::from_toml("events = [\"api_request\"]\n").unwrap(), None);
        let out = run(&s, &[point("claude_code.commit.count", PointValue::Int(1), &[], &[])]);
        assert_eq!(out.counts.dropped(EventDrop::MetricNotAllowed), 1);
    }
}
