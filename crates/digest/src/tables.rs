//! The usage sections (acceptance to sizes) as tables of text, shared by the Markdown, Slack and HTML formats
//! (each renders them its own way; names are wrapped in backticks, which HTML drops).
//!
//! Trusts the report (identifiers and numbers only). Guarantees: every cell is a figure of the
//! report with its change, or a name the report holds; a row is only one the report names (or
//! its `other`, which names no group).

use super::fmt::{WEEKDAYS, int, other, percent, quantile, ratio, row_count, row_name};
use super::report::{Count, Report};
use super::sections::{OtherRow, Row, Rows};
use super::sections::{ProductivityFigures, RowHours};

/// One table: a title, an optional note, a header and rows of cells.
pub struct Table {
    pub id: &'static str,
    pub title: String,
    pub note: Option<String>,
    pub header: Vec<&'static str>,
    /// Said instead of "None in this window." when there are no rows.
    pub empty: Option<&'static str>,
    /// The named rows, and the rows after them that a format never cuts (`other`, `all`).
    pub body: (Vec<Vec<String>>, Vec<Vec<String>>),
}

fn plain(rows: Vec<Vec<String>>) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    (rows, Vec::new())
}

impl Table {
    /// What a format says when there are no rows.
    pub fn empty_text(&self) -> &'static str {
        self.empty.unwrap_or("None in this window.")
    }

    /// The first `n` rows and the tail, and how many rows were left out.
    pub fn cut(&self, n: usize) -> (Vec<&Vec<String>>, usize) {
        let shown = self.body.0.iter().take(n).chain(&self.body.1).collect();
        (shown, self.body.0.len().saturating_sub(n))
    }
}

fn count(c: &Count) -> String {
    format!("{} ({})", int(c.value), super::fmt::count_change(c))
}

/// The rows of a breakdown, then its `other`, then the total row.
fn rows<F>(
    b: &Rows<F>,
    total: Option<(&Count, &F)>,
    cells: impl Fn(&F) -> Vec<String>,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let out: Vec<Vec<String>> = b
        .rows
        .iter()
        .map(|Row { name, users, figures }| {
            let mut r = vec![row_name(name), row_count(users)];
            r.extend(cells(figures));
            r
        })
        .collect();
    let mut tail = Vec::new();
    if let Some(OtherRow { groups, users, figures }) = &b.other {
        let mut r = vec![other(*groups), row_count(users)];
        r.extend(cells(figures));
        tail.push(r);
    }
    if let Some((users, figures)) = total {
        let mut r = vec!["all".to_owned(), count(users)];
        r.extend(cells(figures));
        tail.push(r);
    }
    (out, tail)
}

fn note(k: u64) -> Option<String> {
    Some(format!(
        "Rows of at least {k} people; smaller ones are added up in \"other\" (with others, so that none can be worked out)."
    ))
}

pub fn tables(r: &Report) -> Vec<Table> {
    let k = r.groups.min_group_size;
    let mut t = Vec::new();
    let a = &r.sections.acceptance;
    let acc = |f: &super::sections::AcceptanceFigures| {
        vec![row_count(&f.decisions), row_count(&f.accepted), row_count(&f.rejected), percent(&f.acceptance_pct)]
    };
    let head = |first: &'static str, rest: &[&'static str]| {
        let mut h = vec![first, "people"];
        h.extend_from_slice(rest);
        h
    };
    let acc_head = ["decisions", "accepted", "rejected", "acceptance"];
    t.push(Table {
        id: "acceptance-tool",
        title: "Edit acceptance by tool".to_owned(),
        note: note(k),
        header: head("tool", &acc_head),
        empty: None,
        body: rows(&a.by_tool, Some((&a.users, &a.total)), acc),
    });
    t.push(Table {
        id: "acceptance-source",
        title: "Edit acceptance by decision source".to_owned(),
        note: None,
        header: head("source", &acc_head),
        empty: None,
        body: rows(&a.by_source, Some((&a.users, &a.total)), acc),
    });
    let tools = &r.sections.tools;
    t.push(Table {
        id: "tools",
        title: "Tool calls by tool".to_owned(),
        note: None,
        header: head("tool", &["calls", "success", "p50", "p95"]),
        empty: None,
        body: rows(&tools.by_tool, Some((&tools.users, &tools.total)), |f| {
            vec![
                row_count(&f.calls),
                percent(&f.success_pct),
                quantile(&f.duration_ms_p50, " ms"),
                quantile(&f.duration_ms_p95, " ms"),
            ]
        }),
    });
    let l = &r.sections.latency;
    t.push(Table {
        id: "latency",
        title: "Model latency by model".to_owned(),
        note: None,
        header: head("model", &["requests", "TTFT p50", "TTFT p95", "duration p50", "duration p95"]),
        empty: None,
        body: rows(&l.by_model, Some((&l.users, &l.total)), |f| {
            vec![
                row_count(&f.requests),
                quantile(&f.ttft_ms_p50, " ms"),
                quantile(&f.ttft_ms_p95, " ms"),
                quantile(&f.duration_ms_p50, " ms"),
                quantile(&f.duration_ms_p95, " ms"),
            ]
        }),
    });
    let s = &r.sections.subagent_runs;
    t.push(Table {
        id: "subagent-runs",
        title: "Subagent runs by type".to_owned(),
        note: None,
        header: head("type", &["runs", "tool uses", "p50", "p95"]),
        empty: None,
        body: rows(&s.by_type, Some((&s.users, &s.total)), |f| {
            vec![
                row_count(&f.runs),
                row_count(&f.tool_uses),
                quantile(&f.duration_ms_p50, " ms"),
                quantile(&f.duration_ms_p95, " ms"),
            ]
        }),
    });
    let f = &r.sections.friction;
    t.push(Table {
        id: "friction",
        title: "Friction".to_owned(),
        note: None,
        header: vec!["", "this period (change)"],
        empty: None,
        body: plain(vec![
            vec!["Refusals".to_owned(), count(&f.refusals)],
            vec!["Retries exhausted".to_owned(), count(&f.retries_exhausted)],
            vec!["Rate limited (429)".to_owned(), count(&f.status_429)],
            vec!["Overloaded (529)".to_owned(), count(&f.status_529)],
            vec!["Compactions, auto".to_owned(), count(&f.compactions_auto)],
            vec!["Compactions, manual".to_owned(), count(&f.compactions_manual)],
            vec!["Auto compactions per session".to_owned(), ratio(&f.compactions_per_session_auto)],
            vec!["Manual compactions per session".to_owned(), ratio(&f.compactions_per_session_manual)],
            vec!["Hook runs that blocked".to_owned(), count(&f.blocking_hook_runs)],
        ]),
    });
    t.push(Table {
        id: "friction-days",
        title: "429 and 529 by day".to_owned(),
        note: None,
        header: vec!["day", "429", "529"],
        empty: None,
        body: plain(f.days.iter().map(|d| vec![d.date.clone(), int(d.status_429), int(d.status_529)]).collect()),
    });
    let p = &r.sections.permissions;
    t.push(Table {
        id: "permission-modes",
        title: "Sessions by permission mode".to_owned(),
        note: Some(format!("{} sessions with a tool decision.", count(&p.sessions_with_decisions))),
        header: head("mode", &["sessions", "share of sessions", "decisions"]),
        empty: None,
        body: rows(&p.by_mode, None, |f| {
            vec![row_count(&f.sessions), percent(&f.session_share_pct), row_count(&f.decisions)]
        }),
    });
    t.push(Table {
        id: "permission-changes",
        title: "Changes of permission mode".to_owned(),
        note: Some("People are counted, never named.".to_owned()),
        header: vec!["into", "changes", "sessions", "share of sessions", "people"],
        empty: None,
        body: plain(
            p.changes
                .iter()
                .map(|c| {
                    vec![
                        format!("`{}`", c.to_mode),
                        count(&c.changes),
                        count(&c.sessions),
                        percent(&c.session_share_pct),
                        count(&c.people),
                    ]
                })
                .collect(),
        ),
    });
    let loads = |f: &super::sections::LoadFigures| vec![row_count(&f.events), row_count(&f.sessions)];
    let pl = &r.sections.plugins;
    t.push(Table {
        id: "plugins",
        title: "Plugins in use".to_owned(),
        note: note(k),
        header: head("plugin", &["loads", "sessions"]),
        empty: None,
        body: rows(&pl.by_plugin, Some((&pl.users, &pl.total)), loads),
    });
    t.push(Table {
        id: "marketplaces",
        title: "Plugin marketplaces in use".to_owned(),
        note: None,
        header: head("marketplace", &["loads", "sessions"]),
        empty: None,
        body: rows(&pl.by_marketplace, Some((&pl.users, &pl.total)), loads),
    });
    let m = &r.sections.mcp_connections;
    t.push(Table {
        id: "mcp-status",
        title: "MCP connections by status".to_owned(),
        note: Some("Server names are never kept.".to_owned()),
        header: head("status", &["connections", "sessions"]),
        empty: None,
        body: rows(&m.by_status, Some((&m.users, &m.total)), loads),
    });
    t.push(Table {
        id: "mcp-transport",
        title: "MCP connections by transport".to_owned(),
        note: None,
        header: head("transport", &["connections", "sessions"]),
        empty: None,
        body: rows(&m.by_transport, Some((&m.users, &m.total)), loads),
    });
    let h = &r.sections.hooks;
    let hook = |f: &super::sections::HookFigures| vec![row_count(&f.runs), row_count(&f.blocking_runs)];
    t.push(Table {
        id: "hooks-event",
        title: "Hook runs by event".to_owned(),
        note: None,
        header: head("hook event", &["runs", "blocked"]),
        empty: None,
        body: rows(&h.by_event, Some((&h.users, &h.total)), hook),
    });
    let mut by_source = rows(&h.by_source, Some((&h.users, &h.total)), hook);
    for (row, r) in by_source.0.iter_mut().zip(&h.by_source.rows) {
        if r.name.as_deref() == Some(super::sections::MANAGED_HOOK_SOURCE) {
            row[0].push_str(" (managed)");
        }
    }
    t.push(Table {
        id: "hooks-source",
        title: "Hook runs by source".to_owned(),
        note: Some(
            "policySettings hooks are managed by an administrator; the others are the user's or the project's."
                .to_owned(),
        ),
        header: head("source", &["runs", "blocked"]),
        empty: None,
        body: by_source,
    });
    let act = &r.sections.activity;
    let mut busiest: Vec<_> = act.cells.iter().collect();
    busiest.sort_by(|a, b| b.events.value.cmp(&a.events.value).then((a.weekday, a.hour).cmp(&(b.weekday, b.hour))));
    let activity: Vec<Vec<String>> = busiest
        .iter()
        .map(|c| {
            vec![
                format!("{} {:02}:00", WEEKDAYS.get(usize::from(c.weekday)).unwrap_or(&"?"), c.hour),
                row_count(&c.users),
                row_count(&c.events),
            ]
        })
        .collect();
    let mut activity_tail = Vec::new();
    if let Some(o) = &act.other {
        activity_tail.push(vec![
            format!("other ({} hours)", int(o.groups)),
            row_count(&o.users),
            row_count(&o.figures.events),
        ]);
    }
    t.push(Table {
        id: "activity",
        title: "Busiest hours (UTC)".to_owned(),
        note: Some(format!(
            "Team activity ({} events), never per person; hours of fewer than {k} people are added up in \"other\".",
            count(&act.events)
        )),
        header: vec!["hour", "people", "events"],
        empty: None,
        body: (activity, activity_tail),
    });
    let z = &r.sections.sizes;
    t.push(Table {
        id: "sizes",
        title: "Prompt and response sizes (characters)".to_owned(),
        note: Some("Lengths only, never text.".to_owned()),
        header: vec!["", "count", "p50", "p90", "p99"],
        empty: None,
        body: plain(
            [("Prompts", &z.prompt_length), ("Responses", &z.response_length)]
                .into_iter()
                .map(|(label, s)| {
                    vec![
                        label.to_owned(),
                        count(&s.count),
                        quantile(&s.p50, ""),
                        quantile(&s.p90, ""),
                        quantile(&s.p99, ""),
                    ]
                })
                .collect(),
        ),
    });
    t.push(Table {
        id: "size-buckets",
        title: "Sizes by bucket".to_owned(),
        note: None,
        header: vec!["characters", "prompts", "responses"],
        empty: None,
        body: plain(
            z.prompt_length
                .buckets
                .iter()
                .zip(&z.response_length.buckets)
                .map(|(p, r)| {
                    let range = match p.max {
                        Some(max) => format!("{}–{}", int(p.min), int(max)),
                        None => format!("{} or more", int(p.min)),
                    };
                    vec![range, count(&p.count), count(&r.count)]
                })
                .collect(),
        ),
    });
    productivity(&mut t, r);
    t
}

/// Hours with their change: `12.50 h (+3.0 %)`, `12.50 h (n/a)` when the previous is hidden.
fn hours(h: &RowHours) -> String {
    match h.previous {
        Some(_) => format!("{:.2} h ({})", h.value, super::fmt::change_pct(h.change_pct, h.value == 0.0)),
        None => format!("{:.2} h (n/a)", h.value),
    }
}

/// The productivity tables (metric lines), or one line saying how to get them.
fn productivity(t: &mut Vec<Table>, r: &Report) {
    let k = r.groups.min_group_size;
    let p = &r.sections.productivity;
    let Some(f) = &p.figures else {
        t.push(Table {
            id: "productivity",
            title: "Productivity".to_owned(),
            note: None,
            header: Vec::new(),
            empty: p.unavailable,
            body: plain(Vec::new()),
        });
        return;
    };
    let head = |rest: &[&'static str]| {
        let mut h = vec!["team", "people"];
        h.extend_from_slice(rest);
        h
    };
    t.push(Table {
        id: "productivity-code",
        title: "Code by team".to_owned(),
        note: Some(format!(
            "From Claude Code's metrics ({} metric lines). Teams of at least {k} people; smaller ones are added up in \"other\" (with others, so that none can be worked out).",
            int(p.metric_lines.value)
        )),
        header: head(&["lines added", "lines removed", "commits", "pull requests", "edit acceptance"]),
        empty: None,
        body: rows(&f.by_team, Some((&f.users, &f.total)), |f: &ProductivityFigures| {
            vec![
                row_count(&f.lines_added),
                row_count(&f.lines_removed),
                row_count(&f.commits),
                row_count(&f.pull_requests),
                percent(&f.edit_acceptance_pct),
            ]
        }),
    });
    t.push(Table {
        id: "productivity-time",
        title: "Active time and sessions by team".to_owned(),
        note: Some("Active time: the user's (typing, reading) and the CLI's (working); sessions by start type, without agents_view.".to_owned()),
        header: head(&["active, user", "active, CLI", "sessions", "fresh", "continue", "resume"]),
        empty: None,
        body: rows(&f.by_team, Some((&f.users, &f.total)), |f: &ProductivityFigures| {
            vec![
                hours(&f.active_hours_user),
                hours(&f.active_hours_cli),
                row_count(&f.sessions),
                row_count(&f.sessions_fresh),
                row_count(&f.sessions_continue),
                row_count(&f.sessions_resume),
            ]
        }),
    });
    let e = &f.edits;
    t.push(Table {
        id: "productivity-languages",
        title: "Code-edit decisions by language".to_owned(),
        note: None,
        header: vec!["language", "people", "decisions", "accepted", "rejected", "acceptance"],
        empty: None,
        body: rows(&e.by_language, Some((&e.users, &e.total)), |f| {
            vec![row_count(&f.decisions), row_count(&f.accepted), row_count(&f.rejected), percent(&f.acceptance_pct)]
        }),
    });
}
