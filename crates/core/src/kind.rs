//! Value kinds: the shape a kept value must have.
//!
//! Trusts nothing about the value. Guarantees: a value is kept only in the normalised form of its
//! kind (JSON numbers for numeric kinds, canonical UUIDs, strings from a narrow alphabet or a
//! listed set), so an allowed key cannot carry free text, nested data or an over-long string.

use crate::counts::AttributeDrop;
use crate::value::{MAX_NUMERIC_STRING, Scalar, parse_integer};
use regex::Regex;
use std::borrow::Cow;
use std::fmt;

/// Integers that a JSON double represents exactly: ±2^53.
const MAX_EXACT_INTEGER_F64: f64 = 9_007_199_254_740_992.0;

/// A value that passed its kind check, in normalised form.
#[derive(Clone, PartialEq)]
pub(crate) enum Kept<'a> {
    /// A string that may need JSON escapes (a pattern's match, a source id).
    Str(Cow<'a, str>),
    /// A string whose kind admits no quote, backslash or control character (a token, a
    /// pseudonym, an enum value without them): written between quotes as it is.
    Plain(Cow<'a, str>),
    /// A UUID, written hyphenated in lower case.
    Uuid(uuid::Uuid),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Debug for Kept<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kept(..)")
    }
}

impl Kept<'_> {
    /// Appends the value as JSON. Only a string that may need escapes, and a float, go through
    /// serde_json; the other forms are written as they are (measured: serde_json's writer per
    /// value and per key was 5 % of the full path).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // Writing to a Vec cannot fail, and every kept float is finite.
            Kept::Str(s) => drop(serde_json::to_writer(&mut *out, s.as_ref())),
            Kept::Float(x) => drop(serde_json::to_writer(&mut *out, x)),
            Kept::Plain(s) => {
                debug_assert!(needs_no_escape(s));
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Kept::Uuid(id) => {
                let mut quoted = [b'"'; 38];
                id.hyphenated().encode_lower(&mut quoted[1..37]);
                out.extend_from_slice(&quoted);
            }
            Kept::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            Kept::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
}

/// The kind of an allowlisted value, with its bounds.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A whole number in `min..=max`: JSON integer, integral double, or decimal string.
    Integer { min: i64, max: i64 },
    /// A finite number in `min..=max`: JSON number or decimal string; kept as a JSON number.
    Number { min: f64, max: f64 },
    /// `true`/`false`, or the strings `"true"`/`"false"`.
    Boolean,
    /// A UUID in any of its usual spellings; kept hyphenated lower-case.
    Uuid,
    /// A short identifier: 1..=`max_len` characters from `[A-Za-z0-9._:-]`.
    Token { max_len: usize },
    /// One of the listed strings, exactly. `longest`: the longest's length; `plain`: none of
    /// them needs a JSON escape (both made once, with the allowlist).
    Enum { values: Vec<String>, longest: usize, plain: bool },
    /// A string of 1..=`max_len` characters matching the whole of `regex`.
    Pattern { regex: Regex, max_len: usize },
}

impl Kind {
    /// An `enum` of `values`.
    pub(crate) fn enumeration(values: Vec<String>) -> Kind {
        let longest = values.iter().map(String::len).max().unwrap_or(0);
        let plain = values.iter().all(|v| needs_no_escape(v));
        Kind::Enum { values, longest, plain }
    }

    /// Checks `value` and returns its normalised form, or why it is dropped.
    pub(crate) fn check<'a>(&self, value: Scalar<'a>) -> Result<Kept<'a>, AttributeDrop> {
        match self {
            Kind::Integer { min, max } => {
                let n = match value {
                    Scalar::Int(n) => n,
                    Scalar::Float(x) if x.is_finite() && x.fract() == 0.0 && x.abs() <= MAX_EXACT_INTEGER_F64 => {
                        x as i64
                    }
                    Scalar::Float(_) => return Err(AttributeDrop::WrongKind),
                    Scalar::BigInt => return Err(AttributeDrop::OutOfRange),
                    Scalar::Str(s) => parse_integer(&s)?,
                    _ => return Err(AttributeDrop::WrongKind),
                };
                if n < *min || n > *max {
                    return Err(AttributeDrop::OutOfRange);
                }
                Ok(Kept::Int(n))
            }
            Kind::Number { min, max } => {
                let x = match value {
                    Scalar::Int(n) => n as f64,
                    Scalar::Float(x) => x,
                    Scalar::BigInt => return Err(AttributeDrop::OutOfRange),
                    Scalar::Str(s) => parse_number(&s)?,
                    _ => return Err(AttributeDrop::WrongKind),
                };
                if !x.is_finite() {
                    return Err(AttributeDrop::WrongKind);
                }
                if x < *min || x > *max {
                    return Err(AttributeDrop::OutOfRange);
                }
                Ok(Kept::Float(x))
            }
            Kind::Boolean => match value {
                Scalar::Bool(b) => Ok(Kept::Bool(b)),
                Scalar::Str(s) if s == "true" => Ok(Kept::Bool(true)),
                Scalar::Str(s) if s == "false" => Ok(Kept::Bool(false)),
                _ => Err(AttributeDrop::WrongKind),
            },
            Kind::Uuid => {
                let s = string(value, 45)?;
                let id = uuid::Uuid::try_parse(&s).map_err(|_| AttributeDrop::WrongKind)?;
                Ok(Kept::Uuid(id))
            }
            Kind::Token { max_len } => {
                let s = string(value, *max_len)?;
                if s.is_empty() || !s.bytes().all(is_token_byte) {
                    return Err(AttributeDrop::WrongKind);
                }
                Ok(Kept::Plain(s))
            }
            Kind::Enum { values, longest, plain } => {
                let s = string(value, *longest)?;
                match values.iter().any(|v| *v == s) {
                    true if *plain => Ok(Kept::Plain(s)),
                    true => Ok(Kept::Str(s)),
                    false => Err(AttributeDrop::WrongKind),
                }
            }
            Kind::Pattern { regex, max_len } => {
                let s = string(value, *max_len)?;
                if s.is_empty() || !regex.is_match(&s) {
                    return Err(AttributeDrop::WrongKind);
                }
                Ok(Kept::Str(s))
            }
        }
    }
}

impl Kind {
    /// Checks a value as the sanitizer writes it (the normalised form only: a JSON integer for
    /// `integer`, a JSON number for `number`, a hyphenated lower-case UUID, ...), for readers of
    /// sanitized output.
    pub(crate) fn check_written(&self, value: Written<'_>) -> Result<(), AttributeDrop> {
        match (self, value) {
            (Kind::Integer { min, max }, Written::Int(n)) => in_range(n >= *min && n <= *max),
            (Kind::Integer { .. }, Written::UInt(_)) => Err(AttributeDrop::OutOfRange),
            (Kind::Number { min, max }, Written::Int(n)) => in_range((n as f64) >= *min && (n as f64) <= *max),
            (Kind::Number { min, max }, Written::UInt(n)) => in_range((n as f64) >= *min && (n as f64) <= *max),
            (Kind::Number { min, max }, Written::Float(x)) if x.is_finite() => in_range(x >= *min && x <= *max),
            (Kind::Boolean, Written::Bool(_)) => Ok(()),
            (Kind::Uuid, Written::Str(s)) => {
                let mut buf = [0u8; 36];
                let canonical = s.len() == 36
                    && uuid::Uuid::try_parse(s).is_ok_and(|id| *id.hyphenated().encode_lower(&mut buf) == *s);
                if canonical { Ok(()) } else { Err(AttributeDrop::WrongKind) }
            }
            (Kind::Token { max_len }, Written::Str(s)) => {
                if s.len() > *max_len {
                    Err(AttributeDrop::TooLong)
                } else if s.is_empty() || !s.bytes().all(is_token_byte) {
                    Err(AttributeDrop::WrongKind)
                } else {
                    Ok(())
                }
            }
            (Kind::Enum { values, .. }, Written::Str(s)) => {
                if values.iter().any(|v| v == s) {
                    Ok(())
                } else {
                    Err(AttributeDrop::WrongKind)
                }
            }
            (Kind::Pattern { regex, max_len }, Written::Str(s)) => {
                if s.len() > *max_len {
                    Err(AttributeDrop::TooLong)
                } else if s.is_empty() || !regex.is_match(s) {
                    Err(AttributeDrop::WrongKind)
                } else {
                    Ok(())
                }
            }
            _ => Err(AttributeDrop::WrongKind),
        }
    }

    /// The largest value of a numeric kind (`integer`, `number`).
    pub(crate) fn max(&self) -> Option<f64> {
        match self {
            Kind::Integer { max, .. } => Some(*max as f64),
            Kind::Number { max, .. } => Some(*max),
            _ => None,
        }
    }
}

fn in_range(ok: bool) -> Result<(), AttributeDrop> {
    if ok { Ok(()) } else { Err(AttributeDrop::OutOfRange) }
}

/// One JSON scalar of a sanitized message, as a reader got it from its JSON parser.
#[derive(Clone, Copy, PartialEq)]
pub enum Written<'a> {
    Str(&'a str),
    /// A JSON integer that fits `i64`.
    Int(i64),
    /// A JSON integer above `i64::MAX`.
    UInt(u64),
    /// A JSON number with a fraction or an exponent.
    Float(f64),
    Bool(bool),
}

impl fmt::Debug for Written<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Written(..)")
    }
}

impl<'a> Written<'a> {
    /// The scalar of a JSON value; `None` for `null`, arrays and objects.
    pub fn from_json(value: &'a serde_json::Value) -> Option<Written<'a>> {
        Some(match value {
            serde_json::Value::String(s) => Written::Str(s),
            serde_json::Value::Bool(b) => Written::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Written::Int(i),
                (None, Some(u), _) => Written::UInt(u),
                (None, None, Some(x)) => Written::Float(x),
                _ => return None,
            },
            _ => return None,
        })
    }
}

/// Whether JSON writes `s` between quotes as it is: no quote, backslash or control character.
pub(crate) fn needs_no_escape(s: &str) -> bool {
    crate::value::first_special(s.as_bytes()).is_none()
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

/// The value as a string of at most `max_len` bytes.
fn string(value: Scalar<'_>, max_len: usize) -> Result<Cow<'_, str>, AttributeDrop> {
    match value {
        Scalar::Str(s) if s.len() > max_len => Err(AttributeDrop::TooLong),
        Scalar::Str(s) => Ok(s),
        _ => Err(AttributeDrop::WrongKind),
    }
}

/// A decimal number string in JSON's number grammar (no `NaN`, `inf`, hex, `+`, or spaces),
/// parsed by serde_json itself so the grammar is exactly JSON's.
fn parse_number(s: &str) -> Result<f64, AttributeDrop> {
    if s.len() > MAX_NUMERIC_STRING {
        return Err(AttributeDrop::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')) {
        return Err(AttributeDrop::WrongKind);
    }
    match serde_json::from_str::<f64>(s) {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(AttributeDrop::OutOfRange),
        // Includes magnitudes beyond f64 (`1e400`), which serde_json refuses.
        Err(_) => Err(AttributeDrop::WrongKind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttributeDrop::*;

    #[test]
    fn each_form_is_written_as_serde_json_writes_its_value() {
        let id = uuid::Uuid::parse_str("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap();
        let cases: Vec<(Kept<'_>, serde_json::Value)> = vec![
            (Kept::Plain("claude-opus-4-1:x_y.z".into()), "claude-opus-4-1:x_y.z".into()),
            (Kept::Plain("é😀 a b".into()), "é😀 a b".into()),
            (Kept::Str("a\"b\\c\n\u{1}é".into()), "a\"b\\c\n\u{1}é".into()),
            (Kept::Uuid(id), id.to_string().into()),
            (Kept::Int(i64::MIN), i64::MIN.into()),
            (Kept::Int(0), 0.into()),
            (Kept::Int(i64::MAX), i64::MAX.into()),
            (Kept::Float(0.1), 0.1.into()),
            (Kept::Bool(true), true.into()),
            (Kept::Bool(false), false.into()),
        ];
        for (kept, value) in cases {
            let mut out = Vec::new();
            kept.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
    }

    #[test]
    fn an_enum_value_that_needs_escapes_is_written_escaped() {
        let kind = Kind::enumeration(vec!["plain".into(), "say \"hi\"".into()]);
        assert_eq!(check(&kind, r#""say \"hi\"""#), Ok(r#""say \"hi\"""#.to_owned()));
        assert_eq!(check(&kind, r#""plain""#), Ok(r#""plain""#.to_owned()));
        assert_eq!(check(&kind, r#""plain ""#), Err(WrongKind));
    }

    fn check(kind: &Kind, json: &str) -> Result<String, AttributeDrop> {
        kind.check(Scalar::from_json(json)).map(|k| {
            let mut out = Vec::new();
            k.write_json(&mut out);
            String::from_utf8(out).unwrap()
        })
    }

    /// One `#[test]` per row: `name: kind, input JSON => expected output JSON or drop reason`.
    macro_rules! checks {
        ($($name:ident: $kind:expr, $input:expr => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                let expected: Result<&str, AttributeDrop> = $expected;
                assert_eq!(check(&$kind, $input), expected.map(str::to_owned));
            }
        )*};
    }

    fn int() -> Kind {
        Kind::Integer { min: 0, max: 1000 }
    }
    fn num() -> Kind {
        Kind::Number { min: 0.0, max: 100.0 }
    }
    fn token() -> Kind {
        Kind::Token { max_len: 8 }
    }
    fn pattern() -> Kind {
        Kind::Pattern { regex: Regex::new("^(?:[a-z]+-[0-9]+)$").unwrap(), max_len: 10 }
    }
    fn colors() -> Kind {
        Kind::enumeration(vec!["red".into(), "green".into()])
    }

    checks! {
        integer_number: int(), "42" => Ok("42");
        integer_string: int(), r#""42""# => Ok("42");
        integer_any_value: int(), r#"{"intValue":"42"}"# => Ok("42");
        integer_integral_double: int(), "42.0" => Ok("42");
        integer_fraction: int(), "4.5" => Err(WrongKind);
        integer_string_fraction: int(), r#""4.5""# => Err(WrongKind);
        integer_below: int(), "-1" => Err(OutOfRange);
        integer_above: int(), r#""1001""# => Err(OutOfRange);
        integer_huge: int(), "123456789012345678901234567890" => Err(WrongKind);
        integer_huge_u64: int(), "18446744073709551615" => Err(OutOfRange);
        integer_huge_string: int(), r#""99999999999999999999""# => Err(OutOfRange);
        integer_long_string: int(), &format!("\"{}\"", "1".repeat(41)) => Err(TooLong);
        integer_plus: int(), r#""+5""# => Err(WrongKind);
        integer_spaces: int(), r#"" 5""# => Err(WrongKind);
        integer_object: int(), r#"{"a":1}"# => Err(WrongKind);
        integer_array: int(), "[1]" => Err(WrongKind);
        integer_null: int(), "null" => Err(WrongKind);
        integer_bool: int(), "true" => Err(WrongKind);
        number_string: num(), r#""0.098271""# => Ok("0.098271");
        number_integer: num(), "5" => Ok("5.0");
        number_double_value: num(), r#"{"doubleValue":1.5}"# => Ok("1.5");
        number_exponent: num(), r#""1e1""# => Ok("10.0");
        number_nan: num(), r#""NaN""# => Err(WrongKind);
        number_infinity: num(), r#""Infinity""# => Err(WrongKind);
        number_inf: num(), r#""inf""# => Err(WrongKind);
        number_overflow: num(), r#""1e400""# => Err(WrongKind);
        number_overflow_literal: num(), "1e400" => Err(WrongKind);
        number_hex: num(), r#""0x10""# => Err(WrongKind);
        number_leading_zero: num(), r#""01""# => Err(WrongKind);
        number_out_of_range: num(), "100.5" => Err(OutOfRange);
        number_negative: num(), r#""-0.5""# => Err(OutOfRange);
        number_text: num(), r#""CANARY 1""# => Err(WrongKind);
        boolean_true: Kind::Boolean, "true" => Ok("true");
        boolean_string: Kind::Boolean, r#""false""# => Ok("false");
        boolean_any_value: Kind::Boolean, r#"{"boolValue":true}"# => Ok("true");
        boolean_yes: Kind::Boolean, r#""yes""# => Err(WrongKind);
        boolean_number: Kind::Boolean, "1" => Err(WrongKind);
        uuid_canonical: Kind::Uuid, r#""846AB649-1C1F-4E55-9E3B-6F1F2B0C9D11""# => Ok(r#""846ab649-1c1f-4e55-9e3b-6f1f2b0c9d11""#);
        uuid_simple: Kind::Uuid, r#""846ab6491c1f4e559e3b6f1f2b0c9d11""# => Ok(r#""846ab649-1c1f-4e55-9e3b-6f1f2b0c9d11""#);
        uuid_text: Kind::Uuid, r#""CANARY-not-a-uuid""# => Err(WrongKind);
        uuid_long: Kind::Uuid, &format!("\"{}\"", "a".repeat(46)) => Err(TooLong);
        token_plain: token(), r#""Bash""# => Ok(r#""Bash""#);
        token_punctuation: token(), r#""a.b:c-d""# => Ok(r#""a.b:c-d""#);
        token_space: token(), r#""a b""# => Err(WrongKind);
        token_slash: token(), r#""a/b""# => Err(WrongKind);
        token_at: token(), r#""a@b""# => Err(WrongKind);
        token_quote: token(), r#""a\"b""# => Err(WrongKind);
        token_unicode: token(), r#""é""# => Err(WrongKind);
        token_empty: token(), r#""""# => Err(WrongKind);
        token_too_long: token(), r#""abcdefghi""# => Err(TooLong);
        token_array: token(), r#"["a"]"# => Err(WrongKind);
        token_array_value: token(), r#"{"arrayValue":{"values":[]}}"# => Err(WrongKind);
        token_kvlist_value: token(), r#"{"kvlistValue":{"values":[]}}"# => Err(WrongKind);
        token_number: token(), "5" => Err(WrongKind);
        token_wrapper_with_extra_field: token(), r#"{"stringValue":"a","x":1}"# => Err(WrongKind);
        token_string_value: token(), r#"{"stringValue":"Read"}"# => Ok(r#""Read""#);
        token_int_value: token(), r#"{"intValue":"5"}"# => Err(WrongKind);
        integer_int_value_number: int(), r#"{"intValue":7}"# => Ok("7");
        integer_int_value_text: int(), r#"{"intValue":"7x"}"# => Err(WrongKind);
        integer_int_value_huge: int(), r#"{"intValue":"99999999999999999999"}"# => Err(OutOfRange);
        integer_string_value_number: int(), r#"{"stringValue":5}"# => Err(WrongKind);
        number_double_value_nan: num(), r#"{"doubleValue":"NaN"}"# => Err(WrongKind);
        number_int_value: num(), r#"{"intValue":"3"}"# => Ok("3.0");
        boolean_bool_value_string: Kind::Boolean, r#"{"boolValue":"true"}"# => Err(WrongKind);
        enum_listed: colors(), r#""red""# => Ok(r#""red""#);
        enum_case: colors(), r#""Red""# => Err(WrongKind);
        enum_other: colors(), r#""blue""# => Err(WrongKind);
        enum_long: colors(), r#""greenish""# => Err(TooLong);
        pattern_match: pattern(), r#""abc-12""# => Ok(r#""abc-12""#);
        pattern_partial: pattern(), r#""abc-12 CANARY""# => Err(TooLong);
        pattern_no_match: pattern(), r#""abc""# => Err(WrongKind);
        pattern_prefix_only: pattern(), r#""x abc-1""# => Err(WrongKind);
    }

    #[test]
    fn scalar_debug_hides_content() {
        let s = Scalar::from_json(r#""CANARY""#);
        assert!(!format!("{s:?}").contains("CANARY"));
        let k = Kind::Token { max_len: 10 }.check(s).unwrap();
        assert!(!format!("{k:?}").contains("CANARY"));
    }
}
