//! The digest's edge on CloudWatch Logs: read both windows of the sanitized group with
//! `FilterLogEvents`, page by page, into a [`Digest`], after checking that the account's
//! `FilterLogEvents` rate can page through them in time.
//!
//! Trusts the SDK client it is given (region, credentials, endpoint). Guarantees: pages are fed
//! and dropped one at a time (memory as for files); before the first page, [`check_size`]
//! estimates the pages the windows need from the group's stored bytes (`DescribeLogGroups`) and
//! refuses, naming the data lake (`--s3`), when they would take longer than the caller's budget
//! at 5 requests per second (AWS's account-wide limit, not adjustable). The calls are
//! `DescribeLogGroups` and `FilterLogEvents` on the named group; an error names the call and the
//! service's error code, never a message.

use super::tally::{Digest, MAX_LINE_BYTES, Window};

/// `FilterLogEvents` requests per second, per account and Region (not adjustable), and the most
/// a page returns.
pub const FILTER_REQUESTS_PER_SECOND: u64 = 5;
pub const PAGE_BYTES: u64 = 1_000_000;

/// A group's `storedBytes` is what CloudWatch stores, compressed; AWS's pricing calculator takes
/// archived data as 15 % of what was ingested. Pages are of events as ingested: the estimate
/// multiplies stored bytes by 100/15 (a refusal errs towards the lake, never towards a timeout).
pub const INGESTED_PER_STORED: (u64, u64) = (100, 15);

/// What reading both windows from the group would take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The group's `storedBytes`.
    pub stored_bytes: u64,
    /// Of which the windows', as ingested.
    pub window_bytes: u64,
    pub pages: u64,
    pub seconds: u64,
}

/// The estimate for `window` of a group storing `stored_bytes` with `retention_days` (`None`:
/// never expires, so all of it may be in the windows). The windows' share of the group is their
/// days over the retention's, at most all of it.
pub fn estimate(stored_bytes: u64, retention_days: Option<u32>, window: &Window) -> Estimate {
    let (ingested, stored) = INGESTED_PER_STORED;
    let all = u128::from(stored_bytes) * u128::from(ingested) / u128::from(stored);
    let span = 2 * u128::from(window.days);
    let window_bytes = match retention_days.map(u128::from) {
        Some(r) if r > span => all * span / r,
        _ => all,
    };
    let window_bytes = u64::try_from(window_bytes).unwrap_or(u64::MAX);
    let pages = window_bytes.div_ceil(PAGE_BYTES).max(1);
    Estimate { stored_bytes, window_bytes, pages, seconds: pages.div_ceil(FILTER_REQUESTS_PER_SECOND) }
}

/// A CloudWatch timestamp (ms) in ns; `None` past `u64::MAX` ns (year 2554), so a forged
/// timestamp is a message without a time, not a wrapped one.
pub fn ms_to_ns(ms: u64) -> Option<u64> {
    ms.checked_mul(1_000_000)
}

/// Why the group was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A call failed: its name and the error code (such as `ResourceNotFoundException`).
    #[error("{call} failed: {code}")]
    Call { call: &'static str, code: String },
    /// The windows are too large to page through in time.
    #[error(
        "the sanitized group holds about {} MB for these windows: about {} FilterLogEvents pages, {} s at the \
         account's 5 requests per second, over the {budget} s this digest may take; read the data lake instead \
         (--s3 s3://bucket/prefix, or DIGEST_S3 for the digest function)",
        estimate.window_bytes / 1_000_000, estimate.pages, estimate.seconds
    )]
    TooLarge { estimate: Estimate, budget: u64 },
}

fn call_error(call: &'static str) -> impl Fn(&dyn aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata) -> ReadError {
    move |e| ReadError::Call { call, code: e.code().unwrap_or("no error code").to_owned() }
}

/// Estimates the pages both windows of `group` need ([`estimate`]) and refuses them when they
/// would take more than `budget_seconds`.
pub async fn check_size(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    window: &Window,
    budget_seconds: u64,
) -> Result<Estimate, ReadError> {
    let mut token: Option<String> = None;
    loop {
        let page = client
            .describe_log_groups()
            .log_group_name_prefix(group)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| call_error("DescribeLogGroups")(&e))?;
        if let Some(found) = page.log_groups().iter().find(|g| g.log_group_name() == Some(group)) {
            let stored = found.stored_bytes().and_then(|b| u64::try_from(b).ok()).unwrap_or(0);
            let retention = found.retention_in_days().and_then(|d| u32::try_from(d).ok());
            let estimate = estimate(stored, retention, window);
            if estimate.seconds > budget_seconds {
                return Err(ReadError::TooLarge { estimate, budget: budget_seconds });
            }
            return Ok(estimate);
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => {
                return Err(ReadError::Call {
                    call: "DescribeLogGroups",
                    code: "ResourceNotFoundException".to_owned(),
                });
            }
        }
    }
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
            .map_err(|e| call_error("FilterLogEvents")(&e))?;
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
    use super::*;

    fn week() -> Window {
        Window { end_ns: 1_764_547_200_000_000_000, days: 7 }
    }

    #[test]
    fn the_estimate_takes_the_windows_share_of_the_group_as_ingested() {
        // 15 MB stored is 100 MB ingested; 14 of 90 retained days are the windows'.
        let e = estimate(15_000_000, Some(90), &week());
        assert_eq!((e.window_bytes, e.pages, e.seconds), (15_555_555, 16, 4));
        // Never expiring, or kept for less than both windows: all of it.
        assert_eq!(estimate(15_000_000, None, &week()).window_bytes, 100_000_000);
        assert_eq!(estimate(15_000_000, Some(7), &week()).window_bytes, 100_000_000);
        // An empty group is still one page; the plan's 1 GB a day kept 90 days, 14 of them read:
        // 14 GB, 2,800 s (issue 23).
        assert_eq!(estimate(0, Some(90), &week()).pages, 1);
        let plan = estimate(90 * 150_000_000, Some(90), &week());
        assert_eq!((plan.window_bytes, plan.seconds), (14_000_000_000, 2_800));
        assert_eq!(estimate(u64::MAX, None, &week()).window_bytes, u64::MAX);
    }

    #[test]
    fn the_refusal_names_the_lake_and_no_group() {
        let e = ReadError::TooLarge { estimate: estimate(90 * 150_000_000, Some(90), &week()), budget: 240 };
        let text = e.to_string();
        assert!(text.contains("14000 MB") && text.contains("2800 s") && text.contains("--s3"), "{text}");
    }

    #[test]
    fn a_timestamp_past_u64_nanoseconds_does_not_wrap() {
        assert_eq!(super::ms_to_ns(1_764_000_000_000), Some(1_764_000_000_000_000_000));
        assert_eq!(super::ms_to_ns(u64::MAX / 1_000_000 + 1), None);
        assert_eq!(super::ms_to_ns(i64::MAX as u64), None);
    }
}
