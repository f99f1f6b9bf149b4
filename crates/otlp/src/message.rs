//! Message: one decoded log record, with its resource and scope, as the stored message the
//! sanitizer reads, in the kvlist shape `fixtures/record/convert.py` builds from the same record
//! in OTLP/JSON: `resource`, `scope`, then the record's fields in convert.py's `RECORD_FIELDS`
//! order, attributes as OTLP KeyValue arrays, values in AnyValue wrappers.
//!
//! Written in the real client's JSON form (the OpenTelemetry JS exporter's, which the
//! recordings hold): `timeUnixNano` and `observedTimeUnixNano` as decimal strings, `intValue`
//! as a JSON number, trace and span ids in lower-case hex, `droppedAttributesCount` always,
//! other fields only when set. For the client's own records the message is byte for byte what
//! convert.py stores (tested), and it is the same whether the record came as protobuf or JSON,
//! so its digest (the record's id) is too.
//!
//! Trusts nothing; guarantees a JSON object whose size is linear in the record's (each string
//! escaped once by serde_json, each nested value written once).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Writes the stored message of `record` into `out` (cleared first).
pub(crate) fn write(
    out: &mut Vec<u8>,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
    record: &LogRecord,
) {
    out.clear();
    out.extend_from_slice(b"{\"resource\":");
    write_resource(out, resource);
    out.extend_from_slice(b",\"scope\":");
    write_scope(out, scope);
    let r = record;
    field(out, "timeUnixNano");
    decimal_string(out, r.time_unix_nano);
    field(out, "observedTimeUnixNano");
    decimal_string(out, r.observed_time_unix_nano);
    if r.severity_number != 0 {
        field(out, "severityNumber");
        out.extend_from_slice(itoa::Buffer::new().format(r.severity_number).as_bytes());
    }
    if !r.severity_text.is_empty() {
        field(out, "severityText");
        string(out, &r.severity_text);
    }
    if let Some(body) = &r.body {
        field(out, "body");
        any_value(out, body);
    }
    field(out, "attributes");
    key_values(out, &r.attributes);
    field(out, "droppedAttributesCount");
    out.extend_from_slice(itoa::Buffer::new().format(r.dropped_attributes_count).as_bytes());
    if !r.event_name.is_empty() {
        field(out, "eventName");
        string(out, &r.event_name);
    }
    if r.flags != 0 {
        field(out, "flags");
        out.extend_from_slice(itoa::Buffer::new().format(r.flags).as_bytes());
    }
    if !r.trace_id.is_empty() {
        field(out, "traceId");
        string(out, &hex::encode(&r.trace_id));
    }
    if !r.span_id.is_empty() {
        field(out, "spanId");
        string(out, &hex::encode(&r.span_id));
    }
    out.push(b'}');
}

/// `{"attributes":[...],"droppedAttributesCount":N}`, or `{}` for a record without a resource.
fn write_resource(out: &mut Vec<u8>, resource: Option<&Resource>) {
    let Some(resource) = resource else {
        out.extend_from_slice(b"{}");
        return;
    };
    out.extend_from_slice(b"{\"attributes\":");
    key_values(out, &resource.attributes);
    out.extend_from_slice(b",\"droppedAttributesCount\":");
    out.extend_from_slice(itoa::Buffer::new().format(resource.dropped_attributes_count).as_bytes());
    out.push(b'}');
}

/// `{"name":...,"version":...}` (version, attributes and their dropped count when set), or `{}`.
fn write_scope(out: &mut Vec<u8>, scope: Option<&InstrumentationScope>) {
    let Some(scope) = scope else {
        out.extend_from_slice(b"{}");
        return;
    };
    out.extend_from_slice(b"{\"name\":");
    string(out, &scope.name);
    if !scope.version.is_empty() {
        field(out, "version");
        string(out, &scope.version);
    }
    if !scope.attributes.is_empty() {
        field(out, "attributes");
        key_values(out, &scope.attributes);
    }
    if scope.dropped_attributes_count != 0 {
        field(out, "droppedAttributesCount");
        out.extend_from_slice(itoa::Buffer::new().format(scope.dropped_attributes_count).as_bytes());
    }
    out.push(b'}');
}

/// `,"name":` (every field but an object's first).
fn field(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A JSON string, escaped by serde_json.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serializing a string into a Vec cannot fail (no I/O, no map keys to check).
    let _ = serde_json::to_writer(&mut *out, s);
}

fn decimal_string(out: &mut Vec<u8>, n: u64) {
    out.push(b'"');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.push(b'"');
}

/// `[{"key":...,"value":{...}},...]`; a KeyValue without a value has no `value`.
fn key_values(out: &mut Vec<u8>, kvs: &[KeyValue]) {
    out.push(b'[');
    for (i, kv) in kvs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        string(out, &kv.key);
        if let Some(value) = &kv.value {
            field(out, "value");
            any_value(out, value);
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// An AnyValue as OTLP/JSON's one-member object; an empty one (or a profiles-only string
/// reference, which no log record carries) as `{}`. Nesting is bounded by the decoders (prost's
/// and serde_json's recursion limits).
fn any_value(out: &mut Vec<u8>, value: &AnyValue) {
    let Some(value) = &value.value else {
        out.extend_from_slice(b"{}");
        return;
    };
    match value {
        Value::StringValue(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            string(out, s);
        }
        Value::BoolValue(b) => {
            out.extend_from_slice(if *b { b"{\"boolValue\":true" } else { b"{\"boolValue\":false" });
        }
        Value::IntValue(n) => {
            out.extend_from_slice(b"{\"intValue\":");
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
        }
        Value::DoubleValue(x) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            double(out, *x);
        }
        Value::ArrayValue(array) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for (i, v) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any_value(out, v);
            }
            out.extend_from_slice(b"]}");
        }
        Value::KvlistValue(list) => {
            out.extend_from_slice(b"{\"kvlistValue\":{\"values\":");
            key_values(out, &list.values);
            out.push(b'}');
        }
        Value::BytesValue(bytes) => {
            out.extend_from_slice(b"{\"bytesValue\":");
            string(out, &base64_simd::STANDARD.encode_to_string(bytes));
        }
        Value::StringValueStrindex(_) => {
            out.extend_from_slice(b"{}");
            return;
        }
    }
    out.push(b'}');
}

/// A double as the client's JSON has it: a whole number without a fraction (`5`, as
/// JavaScript's `JSON.stringify` writes `5.0`), others as their shortest round-trip form, and
/// exponents with their sign (`1e+21`, as JavaScript), the non-finite as OTLP/JSON's strings (`"NaN"`, `"Infinity"`, `"-Infinity"`), which no
/// number kind accepts.
fn double(out: &mut Vec<u8>, x: f64) {
    /// Below this, JavaScript writes whole numbers in plain digits.
    const PLAIN_DIGITS_BELOW: f64 = 1e21;
    if x.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
    } else if x == 0.0 {
        out.push(b'0');
    } else if x.fract() == 0.0 && x.abs() < PLAIN_DIGITS_BELOW {
        out.extend_from_slice(format!("{x:.0}").as_bytes());
    } else {
        // serde_json writes finite doubles in their shortest round-trip form.
        let _ = serde_json::to_writer(&mut *out, &x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
    }

    fn written(record: &LogRecord) -> String {
        let mut out = Vec::new();
        write(&mut out, None, None, record);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_value_kind_in_otlp_json() {
        let record = LogRecord {
            time_unix_nano: 1_796_312_672_780_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(Value::StringValue("claude_code.x".into())) }),
            attributes: vec![
                kv("s", Value::StringValue("a\"b\n".into())),
                kv("b", Value::BoolValue(false)),
                kv("i", Value::IntValue(-9_007_199_254_740_993)),
                kv("d", Value::DoubleValue(0.072702)),
                kv("w", Value::DoubleValue(5.0)),
                kv("n", Value::DoubleValue(f64::NAN)),
                kv("a", Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: None }] })),
                kv("k", Value::KvlistValue(KeyValueList { values: vec![kv("x", Value::IntValue(1))] })),
                kv("y", Value::BytesValue(vec![0, 255])),
                KeyValue { key: "none".into(), value: None, key_strindex: 0 },
            ],
            event_name: "x".into(),
            flags: 1,
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            ..LogRecord::default()
        };
        assert_eq!(
            written(&record),
            concat!(
                r#"{"resource":{},"scope":{},"timeUnixNano":"1796312672780000000","observedTimeUnixNano":"0","#,
                r#""severityNumber":9,"severityText":"INFO","body":{"stringValue":"claude_code.x"},"attributes":["#,
                r#"{"key":"s","value":{"stringValue":"a\"b\n"}},{"key":"b","value":{"boolValue":false}},"#,
                r#"{"key":"i","value":{"intValue":-9007199254740993}},{"key":"d","value":{"doubleValue":0.072702}},"#,
                r#"{"key":"w","value":{"doubleValue":5}},{"key":"n","value":{"doubleValue":"NaN"}},"#,
                r#"{"key":"a","value":{"arrayValue":{"values":[{}]}}},"#,
                r#"{"key":"k","value":{"kvlistValue":{"values":[{"key":"x","value":{"intValue":1}}]}}},"#,
                r#"{"key":"y","value":{"bytesValue":"AP8="}},{"key":"none"}],"droppedAttributesCount":0,"#,
                r#""eventName":"x","flags":1,"traceId":"abababababababababababababababab","spanId":"0101010101010101"}"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&written(&record)).unwrap();
        assert!(parsed.is_object());
    }

    #[test]
    fn doubles_as_the_client_writes_them() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (-2.5, "-2.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
        ] {
            let mut out = Vec::new();
            double(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), text, "{x}");
        }
    }
}
