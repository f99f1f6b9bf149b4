//! The one edge of the digest that calls AWS: read both windows of the sanitized group with
//! `FilterLogEvents`, page by page, into a [`Digest`].
//!
//! Trusts the SDK client it is given (region, credentials, endpoint). Guarantees: pages are fed
//! and dropped one at a time (memory as for files); the only call made is `FilterLogEvents` on
//! the named group, so `logs:FilterLogEvents` on that group is the whole permission needed; an
//! error names the service's error code, never a message.

use super::tally::{Digest, MAX_LINE_BYTES};
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata as _;

/// A CloudWatch timestamp (ms) in ns; `None` past `u64::MAX` ns (year 2554), so a forged
/// timestamp is a message without a time, not a wrapped one.
pub fn ms_to_ns(ms: u64) -> Option<u64> {
    ms.checked_mul(1_000_000)
}

/// `FilterLogEvents` failed: the error code (such as `ResourceNotFoundException`).
#[derive(Debug, thiserror::Error)]
#[error("FilterLogEvents failed: {code}")]
pub struct ReadError {
    pub code: String,
}

/// Feeds every event of `group` in the digest's two windows; the CloudWatch timestamp stands in
/// for a message without `timeUnixNano`.
pub async fn read_group(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    digest: &mut Digest,
) -> Result<(), ReadError> {
    let start_ms = i64::try_from(digest.window.previous_start_ns() / 1_000_000).unwrap_or(0);
    let end_ms = i64::try_from(digest.window.end_ns / 1_000_000).unwrap_or(i64::MAX);
    let mut token: Option<String> = None;
    loop {
        let page = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .end_time(end_ms)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| ReadError { code: e.code().unwrap_or("no error code").to_owned() })?;
        for event in page.events() {
            let fallback = event.timestamp().and_then(|ms| u64::try_from(ms).ok()).and_then(ms_to_ns);
            match event.message() {
                Some(m) if m.len() <= MAX_LINE_BYTES => digest.add_line(m.trim_end().as_bytes(), fallback),
                _ => digest.refuse_too_long(),
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_timestamp_past_u64_nanoseconds_does_not_wrap() {
        assert_eq!(super::ms_to_ns(1_764_000_000_000), Some(1_764_000_000_000_000_000));
        assert_eq!(super::ms_to_ns(u64::MAX / 1_000_000 + 1), None);
        assert_eq!(super::ms_to_ns(i64::MAX as u64), None);
    }
}
