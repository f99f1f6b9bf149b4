//! sanitizer-digest: usage figures for a window of days, from sanitized messages only.
//!
//! ```text
//! sanitized lines ─▶ message  parse + check the sanitized shape (refuse, count, never echo)
//!                 ─▶ tally    stream into two windows (current, previous), de-duplicated
//!                 ─▶ report   the figures: changes, K-anonymous groups, top 3 users
//!                 ─▶ markdown | slack | json | html
//! ```
//!
//! Trusts nothing about its input, and the allowlist for what a sanitized message is (see
//! [`message`]: the keys and kinds are the compiled allowlist's, never a copy). Guarantees: only
//! sanitized messages are counted, with every figure within its allowlist kind; every string a
//! digest prints is an identifier checked by [`message`] (model, skill, subagent type, MCP
//! server, group name, pseudonym, tool, decision source, permission mode, plugin, marketplace,
//! MCP status and transport, hook event and source) or text of this module; a key is accepted
//! only on the events the allowlist writes it on; refused lines are counted by reason and never
//! echoed; no group of fewer than K people can be read or subtracted out of any format, neither
//! an org group nor a row of the usage sections' breakdowns ([`suppress`], [`sections`]); every renderer's work is bounded (lists cut to a fixed number of rows,
//! amounts clamped to [`report::MAX_AMOUNT`]). All of it is pure but [`group`] (the sanitized group, read with
//! `FilterLogEvents`) and [`deliver`] (Slack, through a webhook from Secrets Manager); the
//! CLI and the digest function read and write.

pub mod deliver;
pub mod group;
mod html;
pub mod identity;
pub mod lake;
pub mod lines;
mod markdown;
pub mod message;
pub mod report;
pub mod sections;
mod slack;
pub mod suppress;
mod tables;
pub mod tally;

pub use message::Schema;
pub use report::Report;
pub use tally::{Digest, LineCounts, MAX_LINE_BYTES, Window};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Slack,
    Json,
    Html,
}

/// Renders a report; the text ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => markdown::render(report),
        Format::Slack => slack::render(report),
        Format::Json => json(report),
        Format::Html => html::render(report),
    }
}

fn json(report: &Report) -> String {
    // A Report holds numbers and checked identifiers only: serializing it cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// Number formatting shared by the text formats.
pub(crate) mod fmt {
    use super::report::{Amount, Count, GroupAmount, Percent};
    use super::sections::{Quantile, Ratio, RowCount};

    /// `1234567` → `1,234,567`.
    pub fn int(n: u64) -> String {
        let s = n.to_string();
        let mut out = String::with_capacity(s.len() + s.len() / 3);
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    pub fn usd(x: f64) -> String {
        // Report amounts are finite and at most report::MAX_AMOUNT; `as` saturates anyway.
        if x.abs() >= 100.0 { format!("${}", int(x.round() as u64)) } else { format!("${x:.2}") }
    }

    /// `+12.5 %`, `-3.0 %`, `new` (previous was 0), `=` (both 0).
    pub fn change_pct(pct: Option<f64>, value_is_zero: bool) -> String {
        match pct {
            Some(p) if p > 0.0 => format!("+{p:.1} %"),
            Some(p) => format!("{p:.1} %"),
            None if value_is_zero => "=".to_owned(),
            None => "new".to_owned(),
        }
    }

    pub fn count_change(c: &Count) -> String {
        change_pct(c.change_pct, c.value == 0)
    }

    pub fn amount_change(a: &Amount) -> String {
        change_pct(a.change_pct, a.value == 0.0)
    }

    /// As [`amount_change`]; `n/a` when the previous figure is not shown.
    pub fn group_change(a: &GroupAmount) -> String {
        match a.previous {
            Some(_) => change_pct(a.change_pct, a.value == 0.0),
            None => "n/a".to_owned(),
        }
    }

    /// `other (1 group)`, `other (3 groups)`.
    pub fn other(groups: u64) -> String {
        format!("other ({groups} group{})", if groups == 1 { "" } else { "s" })
    }

    pub fn pct(p: Option<f64>) -> String {
        p.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1} %"))
    }

    /// A row's count: `12 (+3.0 %)`, `12 (n/a)` when its previous figure is hidden.
    pub fn row_count(c: &RowCount) -> String {
        match c.previous {
            Some(_) => format!("{} ({})", int(c.value), change_pct(c.change_pct, c.value == 0)),
            None => format!("{} (n/a)", int(c.value)),
        }
    }

    /// A percentile: `1,234 ms (+5.0 %)`, `n/a` without values.
    pub fn quantile(q: &Quantile, unit: &str) -> String {
        match q.value {
            None => "n/a".to_owned(),
            Some(v) => {
                let change = match (q.previous, q.change_pct) {
                    (Some(_), Some(p)) => change_pct(Some(p), false),
                    (Some(_), None) => "=".to_owned(),
                    (None, _) => "n/a".to_owned(),
                };
                format!("{}{unit} ({change})", int(v))
            }
        }
    }

    /// A percentage with its change: `85.0 % (+1.2 pp)`.
    pub fn percent(p: &Percent) -> String {
        format!("{} ({})", pct(p.value), pp_change(p))
    }

    /// A ratio with its change: `0.125 (+0.010)`.
    pub fn ratio(r: &Ratio) -> String {
        let v = r.value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"));
        match r.change {
            Some(c) if c > 0.0 => format!("{v} (+{c:.3})"),
            Some(c) => format!("{v} ({c:.3})"),
            None => format!("{v} (n/a)"),
        }
    }

    /// A row name: `` `Edit` ``, or `(not set)`.
    pub fn row_name(name: &Option<String>) -> String {
        name.as_deref().map_or_else(|| "(not set)".to_owned(), |n| format!("`{n}`"))
    }

    pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

    pub fn pp_change(p: &Percent) -> String {
        match p.change_pp {
            Some(d) if d > 0.0 => format!("+{d:.1} pp"),
            Some(d) => format!("{d:.1} pp"),
            None => "n/a".to_owned(),
        }
    }
}
