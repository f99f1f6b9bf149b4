//! OTLP/JSON values as stored: borrowed keys, and scalars after unwrapping one AnyValue wrapper.
//!
//! Shared by `parse` (which reads keys and recognises wrappers) and `kind` (which checks
//! scalars), so that neither depends on the other. Trusts nothing. Guarantees: exactly one level
//! of AnyValue wrapper is unwrapped, as OTLP defines it (`{"stringValue":"x"}` is the string
//! `x`; `{"stringValue":{"stringValue":"x"}}` is not a scalar); a `Scalar` holds payload content,
//! so its `Debug` prints its shape only.

use crate::counts::AttributeDrop;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Longest numeric string considered at all (digits, sign, point, exponent).
pub(crate) const MAX_NUMERIC_STRING: usize = 40;

/// The AnyValue field names of OTLP/JSON.
pub(crate) const ANY_VALUE_FIELDS: [&str; 7] =
    ["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue"];

/// A key borrowed from the message where it has no escapes. (serde's own `Cow<str>` always
/// allocates: measured, copying every attribute key was a quarter of the sanitizer's own work.)
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
    type Value = Key<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

/// A JSON value as found in a stored event, after unwrapping at most one OTLP AnyValue wrapper
/// (`{"stringValue":..}`, `{"intValue":..}`, `{"doubleValue":..}`, `{"boolValue":..}`).
#[derive(Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    /// An integer outside `i64` (only `u64` above `i64::MAX`).
    BigInt,
    Float(f64),
    Bool(bool),
    Null,
    /// An array, an object that is not an AnyValue wrapper, a wrapper around anything but a
    /// plain JSON scalar of its type, `arrayValue`, `kvlistValue`, `bytesValue`.
    Compound,
}

/// Shape only: a `Scalar` holds payload content.
impl fmt::Debug for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scalar::Str(_) => "Str(..)",
            Scalar::Int(_) => "Int(..)",
            Scalar::BigInt => "BigInt",
            Scalar::Float(_) => "Float(..)",
            Scalar::Bool(_) => "Bool(..)",
            Scalar::Null => "Null",
            Scalar::Compound => "Compound",
        })
    }
}

impl<'a> Scalar<'a> {
    /// Reads one JSON value. Never fails on well-formed JSON; malformed JSON gives `Compound`.
    pub(crate) fn from_json(json: &'a str) -> Scalar<'a> {
        Self::plain(json).unwrap_or_else(|| Self::from_json_by_serde(json))
    }

    /// The forms most kept values take, read without serde_json: a string without escapes, a
    /// small integer, a literal, and each of those as the client wraps them (`{"stringValue":..}`,
    /// `{"intValue":..}`, with no whitespace). `None` for anything else. Each gives exactly what
    /// serde_json gives (tested below against [`Scalar::from_json_by_serde`]).
    fn plain(json: &'a str) -> Option<Scalar<'a>> {
        /// `0`, or up to 18 digits without a leading zero, perhaps negative: within `i64`.
        fn integer(json: &str) -> Option<i64> {
            let digits = json.strip_prefix('-').unwrap_or(json);
            let plain = digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit());
            let canonical = digits == "0" && digits.len() == json.len() || !digits.starts_with('0');
            (plain && canonical && !digits.is_empty()).then(|| json.parse().ok()).flatten()
        }
        if let Some(inner) = json.strip_prefix(r#"{"stringValue":"#).and_then(|rest| rest.strip_suffix('}')) {
            return string(inner).map(Scalar::Str);
        }
        if let Some(inner) = json.strip_prefix(r#"{"intValue":"#).and_then(|rest| rest.strip_suffix('}')) {
            return match string(inner) {
                Some(digits) => integer(&digits),
                None => integer(inner),
            }
            .map(Scalar::Int);
        }
        match json.as_bytes().first()? {
            b'"' => string(json).map(Scalar::Str),
            b't' | b'f' | b'n' => match json {
                "true" => Some(Scalar::Bool(true)),
                "false" => Some(Scalar::Bool(false)),
                "null" => Some(Scalar::Null),
                _ => None,
            },
            _ => integer(json).map(Scalar::Int),
        }
    }

    fn from_json_by_serde(json: &'a str) -> Scalar<'a> {
        let mut de = serde_json::Deserializer::from_str(json);
        match de.deserialize_any(ScalarVisitor { unwrap: true }) {
            Ok(scalar) if de.end().is_ok() => scalar,
            _ => Scalar::Compound,
        }
    }
}

/// A JSON string (`json`, quotes included): its text, borrowed without escapes, else unescaped
/// (see [`unescape`]). `None` for anything else, and for what `unescape` leaves to serde_json.
pub(crate) fn string(json: &str) -> Option<Cow<'_, str>> {
    let text = json.strip_prefix('"')?.strip_suffix('"')?;
    match first_special(text.as_bytes()) {
        None => Some(Cow::Borrowed(text)),
        Some(at) => unescape(text, at).map(Cow::Owned),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` (eight bytes, little-endian) that is `"`, `\` or a control
/// character, exact up to the first such byte (above it, borrows may set more bits; only the
/// lowest one is used). Bytes beyond ASCII are like any other.
pub(crate) fn special(word: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | word.wrapping_sub(ONES * 0x20) & !word)
        & HIGHS
}

/// Where `bytes` has its first `"`, `\` or control character: eight bytes at a time.
pub(crate) fn first_special(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    for (i, chunk) in (&mut words).enumerate() {
        let found = chunk.first_chunk().map_or(0, |word| special(u64::from_le_bytes(*word)));
        if found != 0 {
            return Some(i * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    let rest = words.remainder();
    let at = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(bytes.len() - rest.len() + at)
}

/// The text of a JSON string's contents (`text`, between its quotes; its first quote, backslash
/// or control character at `at`) with its escapes undone, into one buffer of at most
/// `text.len()` bytes (an unescaped string is never longer than its escapes): a string of tens of
/// MB costs its own size once, where serde_json's growing scratch and the copy it hands over cost
/// up to three times. `None` for anything serde_json would refuse (a bare quote or control
/// character, an unknown escape, a lone surrogate) and leaves to it: where this gives a string,
/// it is serde_json's (tested below on generated strings).
fn unescape(text: &str, at: usize) -> Option<String> {
    fn hex4(bytes: &[u8]) -> Option<u32> {
        let digits = bytes.get(..4)?;
        digits.iter().try_fold(0u32, |n, &b| Some(n << 4 | char::from(b).to_digit(16)?))
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut from, mut i) = (0, at);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {}
            b'"' => return None,
            b if b < 0x20 => return None,
            _ => {
                i += 1;
                continue;
            }
        }
        out.push_str(&text[from..i]);
        let escape = *bytes.get(i + 1)?;
        i += 2;
        let c = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(&bytes[i..])?;
                i += 4;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if bytes.get(i..i + 2)? != b"\\u" {
                            return None;
                        }
                        let low = hex4(&bytes[i + 2..])?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return None,
                    unit => unit,
                };
                char::from_u32(code)?
            }
            _ => return None,
        };
        out.push(c);
        from = i;
    }
    out.push_str(&text[from..]);
    Some(out)
}

/// Reads a value; `unwrap` says whether an AnyValue wrapper may be opened (only at the top).
struct ScalarVisitor {
    unwrap: bool,
}

/// The value inside a wrapper: a plain JSON scalar, never another wrapper.
struct Inner;

impl<'de> de::DeserializeSeed<'de> for Inner {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scalar<'de>, D::Error> {
        deserializer.deserialize_any(ScalarVisitor { unwrap: false })
    }
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigInt, Scalar::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let key = if self.unwrap { map.next_key::<Key<'de>>()? } else { None };
        let Some(Key(key)) = key else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Scalar::Compound);
        };
        // Typed as OTLP defines them: intValue is an integer (JSON-encoded as a decimal string),
        // doubleValue a number, boolValue a boolean, stringValue a string. Anything else inside
        // a wrapper, another wrapper included, is not a scalar.
        let inner = match key.as_ref() {
            "stringValue" => match map.next_value_seed(Inner)? {
                s @ Scalar::Str(_) => s,
                _ => Scalar::Compound,
            },
            "intValue" => match map.next_value_seed(Inner)? {
                Scalar::Int(n) => Scalar::Int(n),
                Scalar::BigInt => Scalar::BigInt,
                Scalar::Str(s) => match parse_integer(&s) {
                    Ok(n) => Scalar::Int(n),
                    Err(AttributeDrop::OutOfRange) => Scalar::BigInt,
                    Err(_) => Scalar::Compound,
                },
                _ => Scalar::Compound,
            },
            "doubleValue" => match map.next_value_seed(Inner)? {
                Scalar::Float(x) => Scalar::Float(x),
                Scalar::Int(n) => Scalar::Float(n as f64),
                _ => Scalar::Compound,
            },
            "boolValue" => match map.next_value_seed(Inner)? {
                b @ Scalar::Bool(_) => b,
                _ => Scalar::Compound,
            },
            _ => {
                map.next_value::<IgnoredAny>()?;
                Scalar::Compound
            }
        };
        // A wrapper has exactly one field; anything more is a nested object.
        if map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Scalar::Compound);
        }
        Ok(inner)
    }
}

/// A decimal integer string: optional `-`, digits only.
pub(crate) fn parse_integer(s: &str) -> Result<i64, AttributeDrop> {
    if s.len() > MAX_NUMERIC_STRING {
        return Err(AttributeDrop::TooLong);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AttributeDrop::WrongKind);
    }
    s.parse::<i64>().map_err(|_| AttributeDrop::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_forms_are_read_as_serde_json_reads_them() {
        let values = [
            r#""""#,
            r#""a""#,
            r#""a b:{}""#,
            r#""a\"b""#,
            r#""é😀""#,
            r#""\u0041""#,
            "\"tab\t\"",
            r#""a"b""#,
            r#"""#,
            r#""12""#,
            r#""-3""#,
            r#""007""#,
            r#""-0""#,
            "0",
            "-0",
            "00",
            "01",
            "-01",
            "7",
            "-7",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "9223372036854775808",
            "-",
            "1.0",
            "1e3",
            "+1",
            " 1",
            "1 ",
            "true",
            "false",
            "null",
            "nul",
            "truex",
            "[]",
            "[1]",
            "{}",
            r#"{"a":1}"#,
            "",
        ];
        let mut cases: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        for wrapper in ["stringValue", "intValue", "doubleValue", "boolValue", "x"] {
            for value in values {
                for form in ["{'W':V}", "{ 'W':V}", "{'W': V }", "{'W':V,'x':1}", "{'W':V}}", "{'W':{'W':V}}"] {
                    cases.push(form.replace('\'', "\"").replace('V', value).replace('W', wrapper));
                }
            }
        }
        let mut plain = 0;
        for case in &cases {
            if let Some(fast) = Scalar::plain(case) {
                assert_eq!(fast, Scalar::from_json_by_serde(case), "{case}");
                if let (Scalar::Str(fast), Scalar::Str(Cow::Borrowed(_))) = (&fast, Scalar::from_json_by_serde(case)) {
                    assert!(matches!(fast, Cow::Borrowed(_)), "{case}");
                }
                plain += 1;
            }
            assert_eq!(Scalar::from_json(case), Scalar::from_json_by_serde(case), "{case}");
        }
        assert!(plain >= 25, "{plain} of {} read plainly", cases.len());
    }

    /// Strings with escapes, read by [`unescape`], against serde_json: pieces of valid and
    /// invalid escapes, surrogates paired and lone, bare quotes and control characters.
    #[test]
    fn strings_with_escapes_are_unescaped_as_serde_json_does() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "a",
            "é",
            "😀",
            " ",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0041",
            "\\u00e9",
            "\\u0000",
            "\\u001F",
            "\\uFFFF",
            "\\ud83d\\ude00",
            "\\uD83D\\uDE00",
            "\\ud83d",
            "\\ude00",
            "\\ud83d\\u0041",
            "\\ud83d\\",
            "\\u12",
            "\\u12G4",
            "\\x",
            "\\",
            "\"",
            "\t",
            "\u{1}",
            "\\u",
            "{\\\"k\\\":1}",
        ]);
        let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(pieces in prop::collection::vec(piece, 0..12), wrap in any::<bool>())| {
            let string = format!("\"{}\"", pieces.concat());
            let json = if wrap { format!(r#"{{"stringValue":{string}}}"#) } else { string };
            prop_assert_eq!(Scalar::from_json(&json), Scalar::from_json_by_serde(&json), "{}", json);
        });
        // Those with escapes are read without serde_json (so one buffer of the string's size).
        for json in [r#""a\"b\\c\u00e9\ud83d\ude00\n""#, r#"{"stringValue":"{\"k\":1}"}"#] {
            assert!(matches!(Scalar::plain(json), Some(Scalar::Str(Cow::Owned(_)))), "{json}");
            assert_eq!(Scalar::plain(json), Some(Scalar::from_json_by_serde(json)), "{json}");
        }
    }

    #[test]
    fn the_word_scan_finds_the_first_special_byte_as_a_byte_scan_does() {
        use proptest::prelude::*;
        // Mostly ordinary bytes, so the first special one is often past a whole word or two.
        let byte = prop_oneof![1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20, 40 => 0x20u8..=0xff];
        let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(bytes in prop::collection::vec(byte, 0..40))| {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(first_special(&bytes), naive);
        });
    }

    fn shape(json: &str) -> String {
        format!("{:?}", Scalar::from_json(json))
    }

    #[test]
    fn one_wrapper_level_is_unwrapped() {
        assert_eq!(shape(r#"{"stringValue":"x"}"#), "Str(..)");
        assert_eq!(shape(r#"{"intValue":"5"}"#), "Int(..)");
        assert_eq!(shape(r#"{"doubleValue":1.5}"#), "Float(..)");
        assert_eq!(shape(r#"{"boolValue":true}"#), "Bool(..)");
    }

    #[test]
    fn nested_wrappers_are_not_scalars() {
        for json in [
            r#"{"stringValue":{"stringValue":"x"}}"#,
            r#"{"intValue":{"intValue":"5"}}"#,
            r#"{"doubleValue":{"doubleValue":1.5}}"#,
            r#"{"boolValue":{"boolValue":true}}"#,
            r#"{"stringValue":{}}"#,
            r#"{"stringValue":["x"]}"#,
        ] {
            assert_eq!(shape(json), "Compound", "{json}");
        }
        // A 300-deep chain of wrappers: not a scalar, and no recursion beyond one level.
        let mut chain = r#""x""#.to_owned();
        for _ in 0..300 {
            chain = format!(r#"{{"stringValue":{chain}}}"#);
        }
        assert_eq!(shape(&chain), "Compound");
    }

    #[test]
    fn malformed_json_is_compound() {
        assert_eq!(shape(r#""x" trailing"#), "Compound");
        assert_eq!(shape("{"), "Compound");
    }
}
