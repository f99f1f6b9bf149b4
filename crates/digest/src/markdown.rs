//! The `markdown` format: a message a person reads.
//!
//! Trusts the report (identifiers and numbers only). Guarantees: prints nothing but the
//! report's figures and names, each list cut to its [`ROWS`] largest rows.

use super::fmt::{amount_change, count_change, group_change, int, other, pct, pp_change, usd};
use super::report::{Breakdown, Count, NameRow, Report};
use super::tables::{Table, tables};
use std::fmt::Write as _;

/// Rows shown per list (the JSON has them all).
pub const ROWS: usize = 10;

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let last_day = r.days.last().map_or(&r.window.start[..10], |d| d.date.as_str());
    let _ = writeln!(s, "# Claude Code usage, {} to {}\n", &r.window.start[..10], last_day);
    let _ = writeln!(
        s,
        "{} days ending {}, compared with the {} days before.\n",
        r.window.days, r.window.end, r.window.days
    );
    let t = &r.totals;
    s.push_str("| | this period | previous | change |\n|---|---:|---:|---:|\n");
    let rows: [(&str, &Count); 4] = [
        ("Active users", &t.active_users),
        ("Sessions", &t.sessions),
        ("Messages", &t.messages),
        ("Requests", &t.requests),
    ];
    for (label, c) in rows {
        count_row(&mut s, label, c);
    }
    let _ = writeln!(
        s,
        "| Cost | {} | {} | {} |",
        usd(t.cost_usd.value),
        usd(t.cost_usd.previous),
        amount_change(&t.cost_usd)
    );
    let rows: [(&str, &Count); 4] = [
        ("Skill activations", &t.skill_activations),
        ("Subagent runs", &t.subagent_runs),
        ("MCP calls", &t.mcp_calls),
        ("Rate-limited requests (429)", &t.rate_limited_requests),
    ];
    for (label, c) in rows {
        count_row(&mut s, label, c);
    }
    let c = &t.cache_hit_pct;
    let _ = writeln!(s, "| Cache hit | {} | {} | {} |", pct(c.value), pct(c.previous), pp_change(c));

    s.push_str("\n## Tokens\n\n| type | this period | previous | change |\n|---|---:|---:|---:|\n");
    let k = &r.tokens;
    for (label, c) in [
        ("input", &k.input),
        ("output", &k.output),
        ("cache read", &k.cache_read),
        ("cache creation", &k.cache_creation),
    ] {
        count_row(&mut s, label, c);
    }

    let models: Vec<_> = r.models.iter().filter(|m| m.requests.value > 0).collect();
    if !models.is_empty() {
        s.push_str("\n## Models\n\n| model | cost | change | requests | change |\n|---|---:|---:|---:|---:|\n");
        for m in models.iter().take(ROWS) {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                m.model,
                usd(m.cost_usd.value),
                amount_change(&m.cost_usd),
                int(m.requests.value),
                count_change(&m.requests)
            );
        }
        more(&mut s, models.len());
    }
    names(&mut s, "Skills", "skill", "activations", &r.skills);
    names(&mut s, "Subagents", "type", "runs", &r.subagents);
    names(&mut s, "MCP servers", "server", "calls", &r.mcp_servers);

    let g = &r.groups;
    for (title, b) in [("team", &g.team), ("department", &g.department), ("cost center", &g.cost_center)] {
        breakdown(&mut s, title, g.min_group_size, b);
    }

    for t in tables(r) {
        table(&mut s, &t);
    }

    if !r.top_users.is_empty() {
        s.push_str("\n## Most sessions\n\n");
        for (i, u) in r.top_users.iter().enumerate() {
            let _ = writeln!(
                s,
                "{}. `{}`: {} sessions, {} messages, {}",
                i + 1,
                u.pseudonym,
                int(u.sessions),
                int(u.messages),
                usd(u.cost_usd)
            );
        }
    }

    let i = &r.input;
    let _ = write!(
        s,
        "\n_Input: {} lines, {} used, {} duplicates, {} outside the window, {} refused",
        int(i.lines),
        int(i.used),
        int(i.duplicates),
        int(i.outside_window),
        int(i.refused)
    );
    if !i.refused_by_reason.is_empty() {
        let reasons: Vec<String> = i.refused_by_reason.iter().map(|(k, v)| format!("{k} {}", int(*v))).collect();
        let _ = write!(s, " ({})", reasons.join(", "));
    }
    s.push_str("._\n");
    s
}

fn count_row(s: &mut String, label: &str, c: &Count) {
    let _ = writeln!(s, "| {label} | {} | {} | {} |", int(c.value), int(c.previous), count_change(c));
}

fn more(s: &mut String, total: usize) {
    if total > ROWS {
        let _ = writeln!(s, "\n…and {} more.", total - ROWS);
    }
}

fn names(s: &mut String, title: &str, what: &str, count: &str, rows: &[NameRow]) {
    let rows: Vec<_> = rows.iter().filter(|r| r.count.value > 0).collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(s, "\n## {title}\n\n| {what} | {count} | change | people |\n|---|---:|---:|---:|\n");
    for r in rows.iter().take(ROWS) {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            r.name,
            int(r.count.value),
            count_change(&r.count),
            int(r.users.value)
        );
    }
    more(s, rows.len());
}

fn breakdown(s: &mut String, title: &str, k: u64, b: &Breakdown) {
    if b.groups.is_empty() && b.other.is_none() {
        return;
    }
    let _ = write!(
        s,
        "\n## Cost by {title}\n\nGroups of at least {k} people; smaller ones are added up in \"other\" (with others, so that none can be worked out).\n\n| {title} | people | cost | change |\n|---|---:|---:|---:|\n"
    );
    for g in &b.groups {
        let name = g.name.as_deref().map_or_else(|| "(not set)".to_owned(), |n| format!("`{n}`"));
        let _ =
            writeln!(s, "| {name} | {} | {} | {} |", int(g.users), usd(g.cost_usd.value), group_change(&g.cost_usd));
    }
    if let Some(o) = &b.other {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            other(o.groups),
            int(o.users),
            usd(o.cost_usd.value),
            group_change(&o.cost_usd)
        );
    }
}

fn table(s: &mut String, t: &Table) {
    let (rows, left) = t.cut(ROWS);
    let _ = write!(s, "\n## {}\n\n", t.title);
    if let Some(note) = &t.note {
        let _ = write!(s, "{note}\n\n");
    }
    if rows.is_empty() {
        let _ = writeln!(s, "{}", t.empty_text());
        return;
    }
    let _ = writeln!(s, "| {} |", t.header.join(" | "));
    let align: Vec<&str> = (0..t.header.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
    let _ = writeln!(s, "|{}|", align.join("|"));
    for row in rows {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    if left > 0 {
        let _ = writeln!(s, "\n…and {left} more.");
    }
}
