//! Shared by the Kinesis tests: Kinesis Data Streams events as Lambda delivers them, moto_server's
//! Kinesis API over plain HTTP (the JSON 1.1 protocol; moto routes on the credential scope and
//! does not check the signature), and child processes for the runtime-loop test.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// One record of a Lambda Kinesis event: its sequence number and its data (raw bytes).
pub struct KinesisRecord {
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// The Kinesis Data Streams event Lambda sends for `records` (the shape of the Lambda developer
/// guide's sample event).
pub fn kinesis_event(records: &[KinesisRecord]) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "claude-code",
                    "sequenceNumber": r.sequence_number,
                    "data": STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": 1_764_000_000.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::999999999999:role/claude-otel-sanitizer",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:999999999999:stream/claude-otel-raw-events",
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

/// A record's sequence number in the form Kinesis uses (56 digits), from a small index.
pub fn sequence_number(i: u64) -> String {
    format!("49590338271490256608559692538361571095921575989136{i:06}")
}

/// The gzip bytes inside a subscription envelope (what a Kinesis record holds).
pub fn data_of(envelope: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(envelope).unwrap();
    STANDARD.decode(v["awslogs"]["data"].as_str().unwrap()).unwrap()
}

/// A gzip stream that is not valid (a truncated subscription payload).
pub fn truncated_gzip(envelope: &[u8]) -> Vec<u8> {
    let data = data_of(envelope);
    data[..data.len() / 2].to_vec()
}

/// The reachability check CloudWatch Logs sends when a subscription to a destination is made.
pub fn control_message() -> Value {
    json!({
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1_764_000_000_000i64,
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}],
    })
}

// ------------------------------------------------------------------ moto_server's Kinesis

/// One Kinesis API call to moto_server; the JSON answer (panics on a non-2xx answer).
pub fn kinesis_call(port: u16, action: &str, body: &Value) -> Value {
    let body = serde_json::to_vec(body).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("moto_server");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Kinesis_20131202.{action}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let status = String::from_utf8_lossy(&answer[..split]).into_owned();
    assert!(status.split_whitespace().nth(1).is_some_and(|c| c.starts_with('2')), "{action}: {status}");
    let body = &answer[split + 4..];
    if body.is_empty() { json!({}) } else { serde_json::from_slice(body).expect("a JSON answer") }
}

/// Every record of a one-shard stream, from the start, as the event source mapping reads them:
/// (sequence number, data bytes).
pub fn read_stream_records(port: u16, stream: &str) -> Vec<KinesisRecord> {
    let shards = kinesis_call(port, "ListShards", &json!({"StreamName": stream}));
    let shard = shards["Shards"][0]["ShardId"].as_str().expect("a shard").to_owned();
    let it = kinesis_call(
        port,
        "GetShardIterator",
        &json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
    );
    let mut iterator = it["ShardIterator"].as_str().expect("an iterator").to_owned();
    let mut out = Vec::new();
    loop {
        let got = kinesis_call(port, "GetRecords", &json!({"ShardIterator": iterator, "Limit": 100}));
        let records = got["Records"].as_array().expect("Records");
        if records.is_empty() {
            return out;
        }
        for r in records {
            out.push(KinesisRecord {
                sequence_number: r["SequenceNumber"].as_str().expect("SequenceNumber").to_owned(),
                data: STANDARD.decode(r["Data"].as_str().expect("Data")).expect("base64 Data"),
            });
        }
        iterator = got["NextShardIterator"].as_str().expect("NextShardIterator").to_owned();
    }
}
