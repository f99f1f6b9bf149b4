//! What OTLP/JSON `opentelemetry-proto`'s serde accepts, case by case: the forms the real client
//! sends and the specification requires (ids in hex, 64-bit integers as strings or numbers,
//! enums as numbers, unknown fields ignored, an empty AnyValue), and the forms it refuses today,
//! each refused body a 400 (the whole request). The refused cases are pinned so that an upgrade
//! that accepts them shows here and the docs can say so.

use sanitizer_otlp::{BodyError, decode_logs};

fn with_value(value: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{{"key":"k","value":{value}}}]}}]}}]}}]}}"#
    )
}

fn with_record(record: &str) -> String {
    format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{record}]}}]}}]}}"#)
}

fn accepted(body: &str) -> bool {
    match decode_logs(body.as_bytes(), 1 << 20) {
        Ok(_) => true,
        Err(e) => {
            assert!(matches!(e, BodyError::Json { .. }) && e.http_status() == 400, "{e}");
            false
        }
    }
}

#[test]
fn forms_the_client_and_the_specification_use_are_accepted() {
    for value in [
        r#"{"intValue":142}"#,
        r#"{"intValue":"142"}"#,
        r#"{"intValue":"-9223372036854775808"}"#,
        r#"{"doubleValue":0.5}"#,
        r#"{"doubleValue":5}"#,
        r#"{"boolValue":true}"#,
        r#"{"arrayValue":{"values":[]}}"#,
        r#"{"kvlistValue":{"values":[{"key":"a","value":{"stringValue":"b"}}]}}"#,
        r#"{"bytesValue":"AP8="}"#,
        r#"{}"#,
        r#"{"intValue":null}"#,
        r#"{"futureValue":1,"stringValue":"x"}"#,
        r#"null"#,
    ] {
        assert!(accepted(&with_value(value)), "{value}");
    }
    for record in [
        r#"{"timeUnixNano":"1796312672780000000","observedTimeUnixNano":1796312672780000000}"#,
        r#"{"severityNumber":9,"severityText":"INFO","flags":1}"#,
        r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}"#,
        r#"{"traceId":"","spanId":""}"#,
        r#"{"body":{},"eventName":"x","futureField":{"a":[1]}}"#,
    ] {
        assert!(accepted(&with_record(record)), "{record}");
    }
    for body in [r#"{}"#, r#"{"resourceLogs":[{"resource":{}}]}"#, r#"{"resourceLogs":[],"futureField":1}"#] {
        assert!(accepted(body), "{body}");
    }
}

/// Refused by opentelemetry-proto 0.33.1 although ProtoJSON allows them. None is what Claude
/// Code's exporter sends (it writes `{"values":[]}` for an empty array), except perhaps a lone
/// surrogate escape: a JavaScript string cut in a surrogate pair is written as `\ud83d`, which
/// serde_json refuses; the protobuf exporter writes such a string as valid UTF-8 instead.
#[test]
fn forms_refused_today_are_a_400_for_the_whole_request() {
    for value in [
        r#"{"arrayValue":{}}"#,
        r#"{"kvlistValue":{}}"#,
        r#"{"stringValue":"\ud83d"}"#,
        r#"{"doubleValue":"NaN"}"#,
        r#"{"doubleValue":"Infinity"}"#,
        r#"{"bytesValue":"AP8"}"#,
    ] {
        assert!(!accepted(&with_value(value)), "{value}");
    }
    for record in [r#"{"severityNumber":"SEVERITY_NUMBER_INFO"}"#, r#"{"flags":null}"#, r#"{"attributes":null}"#] {
        assert!(!accepted(&with_record(record)), "{record}");
    }
}
