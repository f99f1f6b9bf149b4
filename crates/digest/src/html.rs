//! The `html` format: one self-contained page (inline CSS and inline SVG charts, no script, no
//! external resource), so it opens offline and can be mailed or archived as is.
//!
//! Charts are drawn by `plotters`' SVG backend, the page by `maud` (which escapes every
//! interpolated value). Trusts the report. Guarantees: the page holds the report's figures and
//! names only, and references nothing outside itself.

use super::fmt::WEEKDAYS;
use super::fmt::{amount_change, count_change, group_change, int, other, pct, pp_change, usd};
use super::report::{Breakdown, Count, NameRow, Report};
use super::tables::{Table, tables};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use plotters::prelude::*;

/// Bars per "top" chart.
pub const BARS: usize = 8;

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px}
.sub{color:#5b6577;margin:0 0 20px}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin-bottom:20px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:22px;font-weight:600}.card .l{color:#5b6577;font-size:13px}
.up{color:#1a7f37}.down{color:#b42318}.same{color:#5b6577}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px;margin-bottom:14px}
.panel{background:#fff;border-radius:8px;padding:14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.panel svg{width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:5px 8px;border-bottom:1px solid #e6e8ec;text-align:right}
th:first-child,td:first-child{text-align:left}
code{font-size:13px}
footer{color:#5b6577;font-size:12px;margin-top:16px}
.wide{grid-column:1/-1}
.panel table{font-size:13px}.panel td,.panel th{white-space:nowrap}
h2.part{font-size:20px;margin:22px 0 10px}
.note{color:#5b6577;font-size:12px;margin:6px 0 0}
";

const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xd8);
const BAR_ALT: RGBColor = RGBColor(0xd9, 0x77, 0x06);

pub fn render(r: &Report) -> String {
    let last_day = r.days.last().map_or(&r.window.start[..10], |d| d.date.as_str());
    let title = format!("Claude Code usage, {} to {}", &r.window.start[..10], last_day);
    let t = &r.totals;
    let labels: Vec<String> = r.days.iter().map(|d| d.date[5..].to_owned()).collect();
    let cost_days = columns("Cost per day (USD)", &labels, &r.days.iter().map(|d| d.cost_usd).collect::<Vec<_>>(), BAR);
    let message_days =
        columns("Messages per day", &labels, &r.days.iter().map(|d| d.messages as f64).collect::<Vec<_>>(), BAR_ALT);
    let k = &r.tokens;
    let tokens = bars(
        "Tokens by type",
        &[
            ("input".to_owned(), k.input.value as f64),
            ("output".to_owned(), k.output.value as f64),
            ("cache read".to_owned(), k.cache_read.value as f64),
            ("cache creation".to_owned(), k.cache_creation.value as f64),
        ],
    );
    let models: Vec<(String, f64)> = r
        .models
        .iter()
        .filter(|m| m.requests.value > 0)
        .take(BARS)
        .map(|m| (m.model.clone(), m.cost_usd.value))
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { main {
                h1 { (title) }
                p.sub { (r.window.days) " days ending " (r.window.end) "; changes against the " (r.window.days) " days before." }
                div.cards {
                    (card("Active users", &int(t.active_users.value), &count_change(&t.active_users), t.active_users.change))
                    (card("Sessions", &int(t.sessions.value), &count_change(&t.sessions), t.sessions.change))
                    (card("Messages", &int(t.messages.value), &count_change(&t.messages), t.messages.change))
                    (card("Requests", &int(t.requests.value), &count_change(&t.requests), t.requests.change))
                    (card("Cost", &usd(t.cost_usd.value), &amount_change(&t.cost_usd), sign(t.cost_usd.change)))
                    (card("Skill activations", &int(t.skill_activations.value), &count_change(&t.skill_activations), t.skill_activations.change))
                    (card("Subagent runs", &int(t.subagent_runs.value), &count_change(&t.subagent_runs), t.subagent_runs.change))
                    (card("MCP calls", &int(t.mcp_calls.value), &count_change(&t.mcp_calls), t.mcp_calls.change))
                    (card("Rate-limited (429)", &int(t.rate_limited_requests.value), &count_change(&t.rate_limited_requests), 0))
                    (card("Cache hit", &pct(t.cache_hit_pct.value), &pp_change(&t.cache_hit_pct), t.cache_hit_pct.change_pp.map_or(0, sign)))
                }
                div.grid {
                    div.panel { (PreEscaped(cost_days)) }
                    div.panel { (PreEscaped(message_days)) }
                    div.panel { (PreEscaped(tokens)) }
                    div.panel { (PreEscaped(bars("Cost by model (USD)", &models))) }
                    div.panel { (PreEscaped(bars("Top skills (activations)", &top(&r.skills)))) }
                    div.panel { (PreEscaped(bars("Top subagents (runs)", &top(&r.subagents)))) }
                    div.panel { (PreEscaped(bars("Top MCP servers (calls)", &top(&r.mcp_servers)))) }
                    div.panel { (top_users(r)) }
                }
                div.grid {
                    div.panel { (groups("team", r.groups.min_group_size, &r.groups.team)) }
                    div.panel { (groups("department", r.groups.min_group_size, &r.groups.department)) }
                    div.panel { (groups("cost center", r.groups.min_group_size, &r.groups.cost_center)) }
                    div.panel { (tokens_table(r)) }
                }
                (sections(r))
                footer {
                    (int(r.input.lines)) " lines read, " (int(r.input.used)) " used, " (int(r.input.duplicates))
                    " duplicates, " (int(r.input.outside_window)) " outside the window, " (int(r.input.refused)) " refused. "
                    "Generated by claude-otel-sanitizer digest from the sanitized log group only."
                }
            } }
        }
    };
    let mut s = page.into_string();
    s.push('\n');
    s
}

fn sign(x: f64) -> i64 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

fn card(label: &str, value: &str, change: &str, direction: i64) -> Markup {
    let class = match direction.signum() {
        1 => "up",
        -1 => "down",
        _ => "same",
    };
    html! { div.card { div.l { (label) } div.v { (value) } div class=(class) { (change) } } }
}

fn top(rows: &[NameRow]) -> Vec<(String, f64)> {
    rows.iter().filter(|r| r.count.value > 0).take(BARS).map(|r| (r.name.clone(), r.count.value as f64)).collect()
}

fn top_users(r: &Report) -> Markup {
    html! {
        h2 { "Most sessions" }
        @if r.top_users.is_empty() { p { "No sessions in this window." } } @else {
            table {
                tr { th { "pseudonym" } th { "sessions" } th { "messages" } th { "cost" } }
                @for u in &r.top_users {
                    tr { td { code { (u.pseudonym) } } td { (int(u.sessions)) } td { (int(u.messages)) } td { (usd(u.cost_usd)) } }
                }
            }
        }
    }
}

fn tokens_table(r: &Report) -> Markup {
    let k = &r.tokens;
    let rows: [(&str, &Count); 4] = [
        ("input", &k.input),
        ("output", &k.output),
        ("cache read", &k.cache_read),
        ("cache creation", &k.cache_creation),
    ];
    html! {
        h2 { "Tokens" }
        table {
            tr { th { "type" } th { "this period" } th { "previous" } th { "change" } }
            @for (label, c) in rows {
                tr { td { (label) } td { (int(c.value)) } td { (int(c.previous)) } td { (count_change(c)) } }
            }
        }
    }
}

fn groups(title: &str, k: u64, b: &Breakdown) -> Markup {
    html! {
        h2 { "Cost by " (title) }
        @if b.groups.is_empty() && b.other.is_none() { p { "No group of at least " (k) " people to show." } } @else {
            table {
                tr { th { (title) } th { "people" } th { "cost" } th { "change" } }
                @for g in &b.groups {
                    tr {
                        td { @if let Some(n) = &g.name { code { (n) } } @else { "(not set)" } }
                        td { (int(g.users)) } td { (usd(g.cost_usd.value)) } td { (group_change(&g.cost_usd)) }
                    }
                }
                @if let Some(o) = &b.other {
                    tr {
                        td { (other(o.groups)) } td { (int(o.users)) }
                        td { (usd(o.cost_usd.value)) } td { (group_change(&o.cost_usd)) }
                    }
                }
            }
            p.sub { "Groups of fewer than " (k) " people are added up in \"other\", with others where needed so that none can be worked out." }
        }
    }
}

/// The parts of the page after the usage figures: the heatmap, then a table per section.
fn sections(r: &Report) -> Markup {
    let all = tables(r);
    let part = |ids: &[&str]| -> Vec<&Table> { all.iter().filter(|t| ids.contains(&t.id)).collect() };
    let parts = [
        ("Is it working", part(&["acceptance-tool", "acceptance-source", "tools", "latency", "subagent-runs"])),
        ("Friction", part(&["friction", "friction-days"])),
        (
            "Used safely",
            part(&[
                "permission-modes",
                "permission-changes",
                "plugins",
                "marketplaces",
                "mcp-status",
                "mcp-transport",
                "hooks-event",
                "hooks-source",
            ]),
        ),
        ("Prompt and response sizes", part(&["sizes", "size-buckets"])),
        ("Productivity", part(&["productivity", "productivity-code", "productivity-time", "productivity-languages"])),
    ];
    let k = r.groups.min_group_size;
    html! {
        h2.part { "When the team works" }
        div.grid {
            div.panel.wide id="activity" {
                (PreEscaped(heatmap(r)))
                p.note { "Events per hour of day (UTC) and weekday, for the team as a whole, never per person. Darker is busier; grey hours hold fewer than " (k) " people and are not shown." }
            }
        }
        @for (title, tables) in parts {
            h2.part { (title) }
            div.grid {
                @for t in tables {
                    div class=(if t.header.len() > 4 { "panel wide" } else { "panel" }) id=(t.id) { (table(t)) }
                }
            }
        }
    }
}

/// A table: names (in backticks in the shared text) as code.
fn table(t: &Table) -> Markup {
    let (rows, left) = t.cut(super::markdown::ROWS);
    let cell = |v: &str| -> Markup {
        match v.strip_prefix('`').and_then(|v| v.split_once('`')) {
            Some((name, rest)) => html! { code { (name) } (rest) },
            None => html! { (v) },
        }
    };
    html! {
        h2 { (t.title) }
        @if rows.is_empty() { p { (t.empty_text()) } } @else {
            table {
                tr { @for h in &t.header { th { (h) } } }
                @for row in rows {
                    tr { @for v in row { td { (cell(v)) } } }
                }
            }
            @if left > 0 { p.note { "…and " (left) " more." } }
        }
        @if let Some(note) = &t.note { p.note { (note) } }
    }
}

/// The activity heatmap: a cell per weekday (rows, Monday at the top) and hour (columns), its
/// shade by events; hours not shown (fewer than K people) grey.
fn heatmap(r: &Report) -> String {
    let title = "Activity by hour (UTC) and weekday";
    let cells = &r.sections.activity.cells;
    let max = cells.iter().map(|c| c.events.value).max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (1020, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d((0..23_u32).into_segmented(), (0..6_u32).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(24)
            .y_labels(7)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(h) => format!("{h:02}"),
                _ => String::new(),
            })
            .y_label_formatter(&|v| match v {
                // Monday at the top: weekday d is drawn in row 6 - d.
                SegmentValue::CenterOf(row) if *row < 7 => WEEKDAYS[6 - *row as usize].to_owned(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 12))
            .draw()?;
        let hidden = RGBColor(0xe6, 0xe8, 0xec);
        let shade = |events: u64| {
            let f = (events as f64 / max).clamp(0.0, 1.0);
            let mix = |lo: u8, hi: u8| (f64::from(lo) + (f64::from(hi) - f64::from(lo)) * f).round() as u8;
            RGBColor(mix(0xdb, 0x1e), mix(0xe7, 0x4f), mix(0xfb, 0xb8))
        };
        let mut rects = Vec::with_capacity(168);
        for d in 0..7_u32 {
            for h in 0..24_u32 {
                let shown = cells.iter().find(|c| u32::from(c.weekday) == d && u32::from(c.hour) == h);
                let color = shown.map_or(hidden, |c| shade(c.events.value));
                let row = 6 - d;
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(h), SegmentValue::Exact(row)),
                        (SegmentValue::Exact(h + 1), SegmentValue::Exact(row + 1)),
                    ],
                    color.filled(),
                );
                rect.set_margin(1, 1, 1, 1);
                rects.push(rect);
            }
        }
        chart.draw_series(rects)?;
        root.present()?;
        Ok(())
    })()
    .is_ok();
    if drawn { svg } else { unavailable(title) }
}

/// The largest value a chart draws. plotters' tick search does not end for an axis near
/// `f64::MAX` (a cost of 1e303 once made `--format html` spin forever); report amounts are at
/// most `report::MAX_AMOUNT` and token sums at most `u64::MAX`, far below this, and a chart with
/// a value above it (or not finite) is not drawn.
const MAX_CHART_VALUE: f64 = 1e20;

fn drawable(values: impl Iterator<Item = f64>) -> bool {
    values.into_iter().all(|v| v.is_finite() && v.abs() <= MAX_CHART_VALUE)
}

/// Largest value of a chart axis: a little above the data, never 0.
fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

fn label_value(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A vertical bar per label (days).
fn columns(title: &str, labels: &[String], values: &[f64], color: RGBColor) -> String {
    if !drawable(values.iter().copied()) {
        return unavailable(title);
    }
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (520, 260)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = values.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..axis_max(values.iter().copied()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| label_value(*v))
            .label_style(("sans-serif", 12))
            .draw()?;
        // Rectangles drawn in data order (plotters' Histogram aggregates through a HashMap,
        // so its output order would change from run to run).
        chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            let mut bar =
                Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)], color.filled());
            bar.set_margin(0, 0, 6, 6);
            bar
        }))?;
        root.present()?;
        Ok(())
    })()
    .is_ok();
    if drawn { svg } else { unavailable(title) }
}

/// A horizontal bar per (name, value), largest first.
fn bars(title: &str, rows: &[(String, f64)]) -> String {
    if rows.is_empty() {
        return html! { h2 { (title) } p { "None in this window." } }.into_string();
    }
    if !drawable(rows.iter().map(|r| r.1)) {
        return unavailable(title);
    }
    let mut svg = String::new();
    let n = rows.len();
    let height = 70 + 30 * n as u32;
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (520, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..axis_max(rows.iter().map(|r| r.1)), (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                // Largest at the top: row 0 is drawn at the highest segment.
                SegmentValue::CenterOf(i) if *i < n => rows[n - 1 - *i].0.clone(),
                _ => String::new(),
            })
            .x_labels(5)
            .x_label_formatter(&|v| label_value(*v))
            .label_style(("sans-serif", 12))
            .draw()?;
        chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
            let row = n - 1 - i;
            let mut bar =
                Rectangle::new([(0.0, SegmentValue::Exact(row)), (r.1, SegmentValue::Exact(row + 1))], BAR.filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        root.present()?;
        Ok(())
    })()
    .is_ok();
    if drawn { svg } else { unavailable(title) }
}

fn unavailable(title: &str) -> String {
    html! { h2 { (title) } p { "Chart unavailable." } }.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_of_values_beyond_the_bound_are_not_drawn() {
        let rows = [("a".to_owned(), 1e303), ("b".to_owned(), 1.0)];
        assert!(bars("t", &rows).contains("Chart unavailable"));
        assert!(columns("t", &["d".to_owned()], &[f64::INFINITY], BAR).contains("Chart unavailable"));
        assert!(bars("t", &[("a".to_owned(), 1.8e19)]).contains("<svg"));
    }
}
