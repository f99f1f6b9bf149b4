//! Tolerant parsing of one stored OTel log record (the `message` of a CloudWatch event).
//!
//! Trusts nothing. Accepts `attributes` as a JSON object or an OTLP KeyValue array, values plain
//! or as AnyValue wrappers, dotted keys flat or nested (`{"session":{"id":..}}` →
//! `session.id`), and ignores unknown top-level keys. Guarantees: one pass over the message;
//! values are borrowed as raw JSON slices and only the allowlisted ones are ever decoded (by the
//! sanitizer); nesting is flattened to at most [`MAX_FLATTEN_DEPTH`] levels. A `RawEvent` holds
//! payload content: its `Debug` prints counts only, and it has no `Serialize`.

use crate::kind::ANY_VALUE_FIELDS;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Nested objects deeper than this are not flattened further: the value stays a compound
/// (which no kind accepts).
pub(crate) const MAX_FLATTEN_DEPTH: usize = 8;

pub(crate) type Attributes<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// One stored record, with every value still raw JSON.
#[derive(Default)]
pub(crate) struct RawEvent<'a> {
    pub(crate) body: Option<&'a RawValue>,
    pub(crate) event_name: Option<&'a RawValue>,
    pub(crate) attributes: Attributes<'a>,
    pub(crate) resource_attributes: Attributes<'a>,
    pub(crate) time_unix_nano: Option<&'a RawValue>,
    pub(crate) observed_time_unix_nano: Option<&'a RawValue>,
}

impl fmt::Debug for RawEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEvent")
            .field("attributes", &self.attributes.len())
            .field("resource_attributes", &self.resource_attributes.len())
            .finish_non_exhaustive()
    }
}

/// The message is not JSON, not a JSON object, or repeats a top-level field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unparseable;

/// Parses one stored message.
#[cfg(test)]
pub(crate) fn parse_event(message: &str) -> Result<RawEvent<'_>, Unparseable> {
    let mut event = RawEvent::default();
    parse_event_into(message, &mut event)?;
    Ok(event)
}

/// Parses one stored message into `event`, which must be empty (as `RawEvent::default()`, or
/// emptied): the caller lends its vectors so that parsing allocates nothing of its own.
pub(crate) fn parse_event_into<'a>(message: &'a str, event: &mut RawEvent<'a>) -> Result<(), Unparseable> {
    let mut de = serde_json::Deserializer::from_str(message);
    de.deserialize_map(EventVisitor { event }).map_err(|_| Unparseable)?;
    de.end().map_err(|_| Unparseable)
}

/// Parses a JSON object (e.g. the `tool_parameters` string) into flattened attributes, appended
/// to `out`. On error `out` may hold part of the object: the caller discards it.
pub(crate) fn parse_object_into<'a>(json: &'a str, out: &mut Attributes<'a>) -> Result<(), Unparseable> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(AttributesVisitor { out, prefix: None, depth: 0 }).map_err(|_| Unparseable)?;
    de.end().map_err(|_| Unparseable)
}

/// A key borrowed from the message where it has no escapes. (serde's own `Cow<str>` always
/// allocates: measured, copying every attribute key was a quarter of the sanitizer's own work.)
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

fn set_once<'a, E: de::Error>(
    slot: &mut Option<&'a RawValue>,
    value: &'a RawValue,
    field: &'static str,
) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(field));
    }
    Ok(())
}

struct EventVisitor<'v, 'a> {
    event: &'v mut RawEvent<'a>,
}

impl<'de> Visitor<'de> for EventVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let event = self.event;
        let (mut seen_attributes, mut seen_resource) = (false, false);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "body" => set_once(&mut event.body, map.next_value()?, "body")?,
                "eventName" => set_once(&mut event.event_name, map.next_value()?, "eventName")?,
                "timeUnixNano" => set_once(&mut event.time_unix_nano, map.next_value()?, "timeUnixNano")?,
                "observedTimeUnixNano" => {
                    set_once(&mut event.observed_time_unix_nano, map.next_value()?, "observedTimeUnixNano")?
                }
                "attributes" => {
                    if std::mem::replace(&mut seen_attributes, true) {
                        return Err(de::Error::duplicate_field("attributes"));
                    }
                    map.next_value_seed(AttributesSeed { out: &mut event.attributes })?;
                }
                "resource" => {
                    if std::mem::replace(&mut seen_resource, true) {
                        return Err(de::Error::duplicate_field("resource"));
                    }
                    map.next_value_seed(ResourceSeed { out: &mut event.resource_attributes })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `resource`: an object whose `attributes` is read like the event's; other fields ignored.
struct ResourceSeed<'v, 'a> {
    out: &'v mut Attributes<'a>,
}

impl<'de> DeserializeSeed<'de> for ResourceSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResourceSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "attributes" {
                if std::mem::replace(&mut seen, true) {
                    return Err(de::Error::duplicate_field("attributes"));
                }
                map.next_value_seed(AttributesSeed { out: &mut *self.out })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `attributes`: a JSON object, an OTLP KeyValue array, or null.
struct AttributesSeed<'v, 'a> {
    out: &'v mut Attributes<'a>,
}

impl<'de> DeserializeSeed<'de> for AttributesSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(AttributesVisitor { out: self.out, prefix: None, depth: 0 })
    }
}

struct AttributesVisitor<'v, 'p, 'a> {
    out: &'v mut Attributes<'a>,
    prefix: Option<&'p str>,
    depth: usize,
}

#[derive(Deserialize)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

impl<'de> Visitor<'de> for AttributesVisitor<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute object or KeyValue array")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            push_flattened(self.out, self.prefix, key, value, self.depth);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(kv) = seq.next_element::<KeyValue<'de>>()? {
            // An absent or null value is still a key: it is reported (and dropped), not skipped.
            push_flattened(self.out, self.prefix, kv.key, kv.value.unwrap_or_else(|| null()), self.depth);
        }
        Ok(())
    }
}

/// JSON `null`, for KeyValue entries without a value.
fn null() -> &'static RawValue {
    serde_json::from_str("null").expect("null is JSON")
}

/// What an object-valued attribute turns out to be.
enum Nested<'a> {
    /// `{"stringValue": ..}` and the other single-field AnyValue wrappers: a leaf.
    Wrapper,
    /// A nested object or an OTLP `kvlistValue`: more attributes under a prefix.
    Attributes(Attributes<'a>),
}

fn nested(json: &str) -> Option<Nested<'_>> {
    // Read the direct children only (depth at the limit stops recursion); the caller recurses.
    let mut pairs = Vec::new();
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(AttributesVisitor { out: &mut pairs, prefix: None, depth: MAX_FLATTEN_DEPTH }).ok()?;
    if let [(key, value)] = pairs.as_slice() {
        if ANY_VALUE_FIELDS.contains(&key.as_ref()) {
            if key != "kvlistValue" {
                return Some(Nested::Wrapper);
            }
            // {"kvlistValue":{"values":[{key,value}..]}}
            let list: KvList<'_> = serde_json::from_str(value.get()).ok()?;
            let mut inner = Vec::new();
            for kv in list.values {
                inner.push((kv.key, kv.value.unwrap_or_else(|| null())));
            }
            return Some(Nested::Attributes(inner));
        }
    }
    Some(Nested::Attributes(pairs))
}

#[derive(Deserialize)]
struct KvList<'a> {
    #[serde(borrow, default)]
    values: Vec<KeyValue<'a>>,
}

fn push_flattened<'a>(
    out: &mut Attributes<'a>,
    prefix: Option<&str>,
    key: Cow<'a, str>,
    value: &'a RawValue,
    depth: usize,
) {
    let key = match prefix {
        Some(p) => Cow::Owned(format!("{p}.{key}")),
        None => key,
    };
    if depth < MAX_FLATTEN_DEPTH && value.get().starts_with('{') {
        if let Some(Nested::Attributes(pairs)) = nested(value.get()) {
            for (k, v) in pairs {
                push_flattened(out, Some(&key), k, v, depth + 1);
            }
            return;
        }
    }
    out.push((key, value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(message: &str) -> Vec<(String, String)> {
        let e = parse_event(message).unwrap();
        e.attributes.iter().map(|(k, v)| (k.to_string(), v.get().to_owned())).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn object_attributes_with_plain_values() {
        assert_eq!(
            attrs(r#"{"attributes":{"model":"m","input_tokens":"5"}}"#),
            pairs(&[("model", r#""m""#), ("input_tokens", r#""5""#)])
        );
    }

    #[test]
    fn key_value_array_attributes() {
        let m = r#"{"attributes":[{"key":"model","value":{"stringValue":"m"}},{"key":"n","value":{"intValue":"5"}},{"key":"empty"}]}"#;
        assert_eq!(
            attrs(m),
            pairs(&[("model", r#"{"stringValue":"m"}"#), ("n", r#"{"intValue":"5"}"#), ("empty", "null")])
        );
    }

    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let e = parse_event(r#"{"attributes":{"model":"m","mo\u0064el":"n"}}"#).unwrap();
        assert!(matches!(e.attributes[0].0, Cow::Borrowed("model")));
        assert!(matches!(&e.attributes[1].0, Cow::Owned(k) if k == "model"));
    }

    #[test]
    fn nested_dotted_keys_are_flattened() {
        let m = r#"{"attributes":{"session":{"id":"s"},"a":{"b":{"c":1}},"w":{"stringValue":"x"}}}"#;
        assert_eq!(attrs(m), pairs(&[("session.id", r#""s""#), ("a.b.c", "1"), ("w", r#"{"stringValue":"x"}"#)]));
    }

    #[test]
    fn kvlist_values_are_flattened() {
        let m = r#"{"attributes":[{"key":"user","value":{"kvlistValue":{"values":[{"key":"email","value":{"stringValue":"e"}}]}}}]}"#;
        assert_eq!(attrs(m), pairs(&[("user.email", r#"{"stringValue":"e"}"#)]));
    }

    #[test]
    fn flattening_stops_at_the_depth_limit() {
        let mut value = "1".to_owned();
        for _ in 0..20 {
            value = format!(r#"{{"k":{value}}}"#);
        }
        let got = attrs(&format!(r#"{{"attributes":{{"a":{value}}}}}"#));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, format!("a{}", ".k".repeat(MAX_FLATTEN_DEPTH)));
        assert!(got[0].1.starts_with('{'), "the rest stays a compound value");
    }

    #[test]
    fn resource_body_event_name_and_times() {
        let e = parse_event(
            r#"{"resource":{"attributes":{"service.name":"claude-code"},"droppedAttributesCount":0},"body":"claude_code.x","eventName":"x","timeUnixNano":"1","scope":{"name":"s"},"future":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(e.resource_attributes.len(), 1);
        assert_eq!(e.body.unwrap().get(), r#""claude_code.x""#);
        assert_eq!(e.event_name.unwrap().get(), r#""x""#);
        assert_eq!(e.time_unix_nano.unwrap().get(), r#""1""#);
    }

    #[test]
    fn unparseable_messages() {
        for m in [
            "",
            "CANARY",
            "[1]",
            r#""s""#,
            "{",
            r#"{"a":1} x"#,
            r#"{"attributes":"x"}"#,
            r#"{"body":1,"body":2}"#,
            r#"{"attributes":{},"attributes":{}}"#,
            r#"{"\ud800":1}"#,
        ] {
            assert_eq!(parse_event(m).unwrap_err(), Unparseable, "{m}");
        }
    }

    #[test]
    fn null_attributes_and_resource_are_empty() {
        let e = parse_event(r#"{"attributes":null,"resource":null}"#).unwrap();
        assert!(e.attributes.is_empty() && e.resource_attributes.is_empty());
    }

    #[test]
    fn debug_hides_content() {
        let e = parse_event(r#"{"attributes":{"prompt":"CANARY"}}"#).unwrap();
        assert!(!format!("{e:?}").contains("CANARY"));
    }
}
