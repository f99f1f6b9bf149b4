//! The digest's other AWS edge: read both windows from the sanitized data lake on S3 (the
//! sanitized group's Firehose delivery, README "The data lake") into a [`Digest`].
//!
//! ```text
//! s3://bucket/prefix ─▶ day prefixes of the windows (+1 day of delivery delay), both layouts
//!                    ─▶ ListObjectsV2, concurrently ─▶ GetObject, `concurrency` at a time
//!                    ─▶ gunzip (any number of members) ─▶ lines | subscription envelopes
//!                    ─▶ Digest::add_line, the tally every input goes through
//! ```
//!
//! Trusts the SDK client it is given (region, credentials, endpoint) and nothing in an object:
//! each message is a line the tally checks against the allowlist, as from a file. Guarantees:
//! - Only the objects of the windows are read: under `dt=YYYY-MM-DD/` (the template's Firehose
//!   prefix) or `YYYY/MM/DD/` (Firehose's default), for each UTC day from the previous window's
//!   first to the day after the current window's last. Firehose names an object by the time it
//!   arrived, never before the event, and at most [`DELIVERY_DAYS`] later for what this reads.
//! - An object holds either one sanitized message per line (Firehose's CloudWatch Logs message
//!   extraction, as the template configures it) or the subscription's own gzip JSON documents one
//!   after the other (a delivery stream without extraction, as moto_server writes); it may be
//!   gzip or plain. Either way each message goes through [`Digest::add_line`], so the figures are
//!   those of the same lines read from a file, by construction. Firehose delivers at least once:
//!   the tally drops duplicates by `sourceEventId`.
//! - Memory: at most `concurrency` objects, compressed, plus one line (or one subscription
//!   document, at most a few MB); an object over [`MAX_OBJECT_BYTES`] is refused. Objects are
//!   fetched on the runtime's worker threads while this task tallies the one before.
//! - The calls are `ListObjectsV2` on the bucket under the prefix and `GetObject` on its objects:
//!   `s3:ListBucket` (with an `s3:prefix` condition) and `s3:GetObject` are the whole permission.
//!   An error names the call and the service's error code, never a key or any object content.

use super::lines;
use super::tally::{Digest, MAX_LINE_BYTES, Window};
use std::io::{self, BufRead, BufReader, Read};
use tokio::task::JoinSet;

/// Days after an event's own day in which its Firehose object is still read: Firehose buffers
/// for at most 900 s and the subscription delivers within minutes, so a day covers it with room.
pub const DELIVERY_DAYS: u64 = 1;

/// Objects fetched at once by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Larger objects are refused: Firehose writes at most 128 MiB of input per object, compressed.
pub const MAX_OBJECT_BYTES: i64 = 512 << 20;

/// An object inflating to more is refused (a gzip bomb would otherwise cost time without bound;
/// memory is one line either way): eight times Firehose's largest buffer.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Where the lake is: `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without a leading or trailing `/`; may be empty.
    pub prefix: String,
}

/// `--s3` or `DIGEST_S3` is not an `s3://bucket/prefix` location.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an s3://bucket/prefix location (a bucket name is 3 to 63 characters of a-z, 0-9, '.' and '-')")]
pub struct LocationError;

impl std::str::FromStr for Location {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Location, LocationError> {
        let rest = s.strip_prefix("s3://").ok_or(LocationError)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix.len() <= 512 && !prefix.contains("//") && !prefix.chars().any(char::is_control);
        if bucket_ok && prefix_ok {
            Ok(Location { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
        } else {
            Err(LocationError)
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The key prefixes of the objects that can hold events of `window`'s two windows, in order:
/// for each UTC day, `dt=YYYY-MM-DD/` and `YYYY/MM/DD/` under the location's prefix.
pub fn day_prefixes(location: &Location, window: &Window) -> Vec<String> {
    let first = window.previous_start_ns() / NS_PER_DAY;
    let last = window.end_ns.saturating_sub(1) / NS_PER_DAY + DELIVERY_DAYS;
    let base = if location.prefix.is_empty() { String::new() } else { format!("{}/", location.prefix) };
    let mut out = Vec::new();
    for day in first..=last {
        let Some(date) = i64::try_from(day * 86_400)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .map(|t| t.date())
        else {
            break;
        };
        let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
        out.push(format!("{base}dt={y:04}-{m:02}-{d:02}/"));
        out.push(format!("{base}{y:04}/{m:02}/{d:02}/"));
    }
    out
}

/// An S3 client for `sdk`. With an endpoint of its own (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_S3`: an S3-compatible server such as moto_server or MinIO), requests name
/// the bucket in the path, since such a server has no DNS name per bucket.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let own_endpoint = sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(own_endpoint).build())
}

/// What was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LakeRead {
    pub objects: u64,
    /// Bytes fetched (compressed, as stored).
    pub bytes: u64,
}

/// Why the lake could not be read. Nothing from a key or an object.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("ListObjectsV2 failed: {code}")]
    List { code: String },
    #[error("GetObject failed: {code}")]
    Get { code: String },
    #[error("a lake object is over {MAX_OBJECT_BYTES} bytes")]
    TooLarge,
    #[error("a lake object could not be read: {0}")]
    Read(io::ErrorKind),
    #[error("a lake object inflates to over {MAX_INFLATED_BYTES} bytes")]
    TooLargeInflated,
}

fn code(e: &impl aws_sdk_s3::error::ProvideErrorMetadata) -> String {
    e.code().unwrap_or("no error code").to_owned()
}

/// Every key under `prefix`, with its size.
async fn list(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Result<Vec<(String, i64)>, LakeError> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| LakeError::List { code: code(&e) })?;
        for object in page.contents() {
            if let Some(key) = object.key()
                && !key.ends_with('/')
            {
                keys.push((key.to_owned(), object.size().unwrap_or(0)));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) && !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(keys),
        }
    }
}

/// One object's bytes, as stored.
async fn get(client: aws_sdk_s3::Client, bucket: String, key: String) -> Result<Vec<u8>, LakeError> {
    let object =
        client.get_object().bucket(bucket).key(key).send().await.map_err(|e| LakeError::Get { code: code(&e) })?;
    if object.content_length().unwrap_or(0) > MAX_OBJECT_BYTES {
        return Err(LakeError::TooLarge);
    }
    let mut body = object.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(|_| LakeError::Read(io::ErrorKind::ConnectionAborted))? {
        if (bytes.len() + chunk.len()) as i64 > MAX_OBJECT_BYTES {
            return Err(LakeError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Feeds every event of the lake at `location` in the digest's two windows, fetching
/// `concurrency` objects at a time (at least one).
pub async fn read_lake(
    client: &aws_sdk_s3::Client,
    location: &Location,
    digest: &mut Digest,
    concurrency: usize,
) -> Result<LakeRead, LakeError> {
    let mut listing = JoinSet::new();
    for prefix in day_prefixes(location, &digest.window) {
        listing.spawn(list(client.clone(), location.bucket.clone(), prefix));
    }
    let mut keys = Vec::new();
    while let Some(listed) = listing.join_next().await {
        keys.extend(listed.map_err(|_| LakeError::List { code: "task failed".to_owned() })??);
    }
    if keys.iter().any(|(_, size)| *size > MAX_OBJECT_BYTES) {
        return Err(LakeError::TooLarge);
    }
    // The same key under both layouts is listed once per layout only if it is two objects.
    keys.sort_unstable();
    keys.dedup();
    let mut pending = keys.into_iter().map(|(key, _)| key);
    let mut fetching = JoinSet::new();
    let mut read = LakeRead::default();
    for key in pending.by_ref().take(concurrency.max(1)) {
        fetching.spawn(get(client.clone(), location.bucket.clone(), key));
    }
    while let Some(fetched) = fetching.join_next().await {
        let bytes = fetched.map_err(|_| LakeError::Get { code: "task failed".to_owned() })??;
        if let Some(key) = pending.next() {
            fetching.spawn(get(client.clone(), location.bucket.clone(), key));
        }
        read.objects += 1;
        read.bytes += bytes.len() as u64;
        feed_object(&bytes, digest).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge => LakeError::TooLargeInflated,
            kind => LakeError::Read(kind),
        })?;
    }
    Ok(read)
}

/// Feeds one object: gzip (any number of members) or plain; lines or subscription documents.
/// An object inflating past [`MAX_INFLATED_BYTES`] ends with an error of kind `FileTooLarge`.
pub fn feed_object(bytes: &[u8], digest: &mut Digest) -> io::Result<()> {
    const CAPACITY: usize = 1 << 16;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        feed_text(BufReader::with_capacity(CAPACITY, Capped { inner: gunzip(bytes), left: MAX_INFLATED_BYTES }), digest)
    } else {
        feed_text(bytes, digest)
    }
}

#[allow(clippy::disallowed_types, reason = "capped: read through `Capped`, which refuses past MAX_INFLATED_BYTES")]
fn gunzip(bytes: &[u8]) -> impl Read + '_ {
    flate2::bufread::MultiGzDecoder::new(bytes)
}

/// A reader that fails (`FileTooLarge`) once more than `left` bytes came through it.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or(io::ErrorKind::FileTooLarge)?;
        Ok(n)
    }
}

fn feed_text(mut reader: impl BufRead, digest: &mut Digest) -> io::Result<()> {
    if is_subscription_document(reader.fill_buf()?) {
        feed_documents(reader, digest)
    } else {
        lines::feed(reader, digest)
    }
}

/// Whether the text starts with a CloudWatch Logs subscription document (its first key is one
/// of the document's), not a sanitized message (whose keys are the allowlist's outputs).
fn is_subscription_document(start: &[u8]) -> bool {
    const KEYS: [&[u8]; 6] =
        [b"messageType", b"logEvents", b"owner", b"logGroup", b"logStream", b"subscriptionFilters"];
    let rest = start.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"{") else { return false };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"\"") else { return false };
    KEYS.iter().any(|k| rest.strip_prefix(*k).is_some_and(|r| r.starts_with(b"\"")))
}

/// A subscription document, as much of it as the digest needs.
#[derive(serde::Deserialize)]
struct Document {
    #[serde(rename = "messageType", default)]
    message_type: String,
    #[serde(rename = "logEvents", default)]
    log_events: Vec<LogEvent>,
}

#[derive(serde::Deserialize)]
struct LogEvent {
    #[serde(default)]
    timestamp: Option<i64>,
    message: String,
}

/// Feeds the messages of subscription documents written one after the other. A document that
/// is not one ends the object's input, counted as one refused `not_json` line (what follows it
/// cannot be found again); an I/O error is returned.
fn feed_documents(reader: impl BufRead, digest: &mut Digest) -> io::Result<()> {
    for document in serde_json::Deserializer::from_reader(reader).into_iter::<Document>() {
        let document = match document {
            Ok(d) => d,
            Err(e) if e.is_io() => return Err(io::Error::from(e)),
            Err(_) => {
                digest.refuse_not_json();
                return Ok(());
            }
        };
        if document.message_type == "CONTROL_MESSAGE" {
            continue;
        }
        for event in document.log_events {
            let fallback = event.timestamp.and_then(|ms| u64::try_from(ms).ok()).and_then(super::group::ms_to_ns);
            let message = event.message.trim_end();
            if message.len() > MAX_LINE_BYTES {
                digest.refuse_too_long();
            } else {
                digest.add_line(message.as_bytes(), fallback);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schema;

    fn window(until: &str, days: u32) -> Window {
        let t = time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339).unwrap();
        Window { end_ns: t.unix_timestamp_nanos() as u64, days }
    }

    #[test]
    fn locations_are_checked() {
        let l: Location = "s3://my-lake.example/sanitized/".parse().unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("my-lake.example", "sanitized"));
        assert_eq!("s3://bkt".parse::<Location>().unwrap().prefix, "");
        for bad in ["bkt/x", "s3://", "s3://ab", "s3://Upper/x", "s3://-bkt/x", "s3://bkt/a//b", "s3://bkt_/x"] {
            assert_eq!(bad.parse::<Location>(), Err(LocationError), "{bad}");
        }
    }

    #[test]
    fn the_windows_days_and_one_more_are_listed_in_both_layouts() {
        let l: Location = "s3://lake-bucket/sanitized".parse().unwrap();
        let p = day_prefixes(&l, &window("2026-12-01T00:00:00Z", 7));
        // 14 days of windows, Nov 17 .. Nov 30, and Dec 1 for what arrived after midnight.
        assert_eq!(p.len(), 2 * 15);
        assert_eq!(p[0], "sanitized/dt=2026-11-17/");
        assert_eq!(p[1], "sanitized/2026/11/17/");
        assert_eq!(p[28], "sanitized/dt=2026-12-01/");
        let p = day_prefixes(&"s3://lake-bucket".parse().unwrap(), &window("2026-12-01T12:00:00Z", 1));
        // Both one-day windows: Nov 29 12:00 .. Dec 1 12:00, and the day after.
        let days: Vec<_> = p.iter().step_by(2).map(String::as_str).collect();
        assert_eq!(days, ["dt=2026-11-29/", "dt=2026-11-30/", "dt=2026-12-01/", "dt=2026-12-02/"]);
        assert_eq!(p[7], "2026/12/02/");
    }

    #[test]
    fn subscription_documents_are_told_from_sanitized_lines() {
        assert!(is_subscription_document(br#" {"messageType":"DATA_MESSAGE","logEvents":[]}"#));
        assert!(is_subscription_document(br#"{ "logEvents": [], "logGroup": "g"}"#));
        assert!(!is_subscription_document(br#"{"body":"claude_code.api_request","attributes":{}}"#));
        assert!(!is_subscription_document(br#"{"logEventsX":1}"#));
        assert!(!is_subscription_document(b""));
    }

    fn digest() -> Digest {
        Digest::new(window("2026-12-01T00:00:00Z", 7), Schema::embedded())
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_broken_document_is_one_refused_line_and_a_control_message_none() {
        let mut d = digest();
        let mut object =
            gzip(br#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"x"}]}"#);
        object.extend(gzip(
            br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"not json"}]}"#,
        ));
        object.extend(gzip(br#"{"messageType":"DATA_MESSAGE","logEvents":[{"#));
        feed_object(&object, &mut d).unwrap();
        assert_eq!((d.counts.lines, d.counts.used, d.counts.refused()), (2, 0, 2));
    }

    #[test]
    fn an_object_inflating_past_the_cap_is_refused() {
        let mut capped = Capped { inner: &[0u8; 100][..], left: 99 };
        let mut out = Vec::new();
        assert_eq!(capped.read_to_end(&mut out).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
        let mut exact = Capped { inner: &[0u8; 100][..], left: 100 };
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 100);
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_count() {
        let mut object = gzip(b"{\"body\":1}\n");
        let n = object.len();
        object[n / 2] ^= 0xff;
        assert!(feed_object(&object, &mut digest()).is_err());
    }
}
