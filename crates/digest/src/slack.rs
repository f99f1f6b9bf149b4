//! The `slack` format: a Block Kit payload for an incoming webhook (`{"text":..,"blocks":[..]}`).
//!
//! Trusts the report. Guarantees: stays inside Block Kit's limits (at most 50 blocks, 10 fields
//! per section, 3,000 characters per text, 150 per header) by cutting each list to [`ROWS`]
//! rows; prints the report's figures and names only.

use super::fmt::{amount_change, count_change, group_change, int, other, pct, pp_change, usd};
use super::report::{Count, NameRow, Report};
use super::tables::{Table, tables};
use serde_json::{Value, json};

/// Rows per list.
pub const ROWS: usize = 5;

pub fn render(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&payload(r)).unwrap_or_default();
    s.push('\n');
    s
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

fn count_field(label: &str, c: &Count) -> Value {
    mrkdwn(format!("*{label}*\n{} ({})", int(c.value), count_change(c)))
}

pub fn payload(r: &Report) -> Value {
    let t = &r.totals;
    let last_day = r.days.last().map_or(&r.window.start[..10], |d| d.date.as_str());
    let title = format!("Claude Code usage, {} to {}", &r.window.start[..10], last_day);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title}}),
        json!({"type": "context", "elements": [mrkdwn(format!("{} days ending {}, changes against the {} days before", r.window.days, r.window.end, r.window.days))]}),
        json!({"type": "section", "fields": [
            count_field("Active users", &t.active_users),
            count_field("Sessions", &t.sessions),
            count_field("Messages", &t.messages),
            count_field("Requests", &t.requests),
            mrkdwn(format!("*Cost*\n{} ({})", usd(t.cost_usd.value), amount_change(&t.cost_usd))),
            mrkdwn(format!("*Cache hit*\n{} ({})", pct(t.cache_hit_pct.value), pp_change(&t.cache_hit_pct))),
            count_field("Skill activations", &t.skill_activations),
            count_field("Subagent runs", &t.subagent_runs),
            count_field("MCP calls", &t.mcp_calls),
            count_field("Rate-limited (429)", &t.rate_limited_requests),
        ]}),
    ];
    let k = &r.tokens;
    blocks.push(section(format!(
        "*Tokens*: input {} ({}), output {} ({}), cache read {} ({}), cache creation {} ({})",
        int(k.input.value),
        count_change(&k.input),
        int(k.output.value),
        count_change(&k.output),
        int(k.cache_read.value),
        count_change(&k.cache_read),
        int(k.cache_creation.value),
        count_change(&k.cache_creation)
    )));
    let models: Vec<String> = r
        .models
        .iter()
        .filter(|m| m.requests.value > 0)
        .take(ROWS)
        .map(|m| {
            format!(
                "• `{}`: {} ({}), {} requests",
                m.model,
                usd(m.cost_usd.value),
                amount_change(&m.cost_usd),
                int(m.requests.value)
            )
        })
        .collect();
    if !models.is_empty() {
        blocks.push(section(format!("*Models*\n{}", models.join("\n"))));
    }
    for (title, unit, rows) in [
        ("Skills", "activations", &r.skills),
        ("Subagents", "runs", &r.subagents),
        ("MCP servers", "calls", &r.mcp_servers),
    ] {
        if let Some(text) = names(title, unit, rows) {
            blocks.push(section(text));
        }
    }
    let g = &r.groups;
    for (title, b) in [("team", &g.team), ("department", &g.department), ("cost center", &g.cost_center)] {
        let mut lines: Vec<String> = b
            .groups
            .iter()
            .take(ROWS)
            .map(|row| {
                let name = row.name.as_deref().map_or_else(|| "(not set)".to_owned(), |n| format!("`{n}`"));
                format!(
                    "• {name}: {} ({}), {} people",
                    usd(row.cost_usd.value),
                    group_change(&row.cost_usd),
                    int(row.users)
                )
            })
            .collect();
        if let Some(o) = &b.other {
            lines.push(format!(
                "• {}: {} ({}), {} people",
                other(o.groups),
                usd(o.cost_usd.value),
                group_change(&o.cost_usd),
                int(o.users)
            ));
        }
        if !lines.is_empty() {
            blocks.push(section(format!(
                "*Cost by {title}* (groups of at least {} people)\n{}",
                g.min_group_size,
                lines.join("\n")
            )));
        }
    }
    for t in tables(r) {
        blocks.push(section(table(&t)));
    }
    if !r.top_users.is_empty() {
        let lines: Vec<String> = r
            .top_users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                format!("{}. `{}`: {} sessions, {} messages", i + 1, u.pseudonym, int(u.sessions), int(u.messages))
            })
            .collect();
        blocks.push(section(format!("*Most sessions*\n{}", lines.join("\n"))));
    }
    let i = &r.input;
    blocks.push(json!({"type": "context", "elements": [mrkdwn(format!(
        "{} lines read, {} used, {} duplicates, {} outside the window, {} refused",
        int(i.lines), int(i.used), int(i.duplicates), int(i.outside_window), int(i.refused)
    ))]}));
    let text = format!(
        "{title}: {} active users, {} sessions, {} messages, {} ({})",
        int(t.active_users.value),
        int(t.sessions.value),
        int(t.messages.value),
        usd(t.cost_usd.value),
        amount_change(&t.cost_usd)
    );
    json!({"text": text, "blocks": blocks})
}

fn names(title: &str, unit: &str, rows: &[NameRow]) -> Option<String> {
    let lines: Vec<String> = rows
        .iter()
        .filter(|r| r.count.value > 0)
        .take(ROWS)
        .map(|r| {
            format!(
                "• `{}`: {} {unit} ({}), {} people",
                r.name,
                int(r.count.value),
                count_change(&r.count),
                int(r.users.value)
            )
        })
        .collect();
    (!lines.is_empty()).then(|| format!("*{title}*\n{}", lines.join("\n")))
}

/// One table as a section: a line per row (`• name: header value, ...`), cut to [`ROWS`] rows
/// (plus `other` and `all`), so its text stays far below Block Kit's 3,000 characters.
fn table(t: &Table) -> String {
    let (rows, left) = t.cut(ROWS);
    let mut text = format!("*{}*", t.title);
    if rows.is_empty() {
        text.push_str(&format!("\n{}", t.empty_text()));
    }
    for row in rows {
        let first = row.first().map_or("", String::as_str);
        let rest: Vec<String> = t
            .header
            .iter()
            .zip(row)
            .skip(1)
            .map(|(h, v)| if h.is_empty() || h.starts_with("this period") { v.clone() } else { format!("{h} {v}") })
            .collect();
        text.push_str(&format!("\n• {first}: {}", rest.join(", ")));
    }
    if left > 0 {
        text.push_str(&format!("\n…and {left} more."));
    }
    text
}
