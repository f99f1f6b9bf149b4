//! The `html` digest in a real browser: headless Chromium loads the page from a file with
//! networking off, and the test checks the page is self-contained (no script, stylesheet, image
//! or font from anywhere), that what a person sees after layout is right (each chart is drawn at
//! a readable size inside its panel, with bars, and each of its text labels lies inside it:
//! measured by `getBoundingClientRect` in a copy of the page, and shown to catch a collapsed
//! chart and a label pushed out), and that the screenshot is a real picture. The screenshot is
//! kept at target/tmp/digest-screenshot.png (in the target folder cargo uses) for a person to
//! look at. Needs `chromium` (scripts/setup.sh installs it); fails, never skips, without it.

use std::path::PathBuf;
use std::process::Command;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    // Any request the page made would fail: it has to render from itself alone.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chromium(profile: &std::path::Path, extra: &[&str], page: &std::path::Path) -> std::process::Output {
    let url = format!("file://{}", page.display());
    Command::new("chromium")
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("cannot run chromium: run scripts/setup.sh (apt-get install chromium)")
}

#[test]
fn the_html_digest_renders_offline_in_chromium() {
    let dir = std::env::temp_dir().join(format!("digest-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("digest.html");
    let corpus = root().join("fixtures/digest/two-weeks.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--until", "2026-11-30T00:00:00Z", "--format", "html", "--output"])
        .arg(&page)
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: nothing to fetch. The only URL is the SVG namespace, which is a name.
    let lower = html.to_lowercase();
    for needle in ["<script", "<link", "<img", "<iframe", "src=", "@import", "url(", "href="] {
        assert!(!lower.contains(needle), "the page references something outside itself: {needle}");
    }
    // (`http` alone is an MCP transport's name in a table; a URL has `://`.)
    assert_eq!(lower.matches("://").count(), lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    assert!(
        !lower.contains("//www.") || lower.matches("//www.").count() == lower.matches("//www.w3.org/2000/svg").count()
    );

    // What a person sees: Chromium lays the page out at the screenshot's size, and a script (in
    // a copy of the page; the page itself has none) reports each chart's rendered box and each of
    // its text labels' boxes. Every chart is drawn at a readable size inside its panel, with
    // bars, and every label lies inside its chart.
    let charts = layout(&dir, "measured", &html, "");
    for c in &charts {
        let labels = c["labels"].as_array().map_or(0, Vec::len);
        eprintln!(
            "chart {}: {} x {} px, {} bars, {labels} labels",
            c["labels"][0]["text"], c["box"]["width"], c["box"]["height"], c["bars"]
        );
    }
    let problems = layout_problems(&charts);
    assert!(problems.is_empty(), "the charts as laid out:\n{}", problems.join("\n"));
    assert_eq!(charts.len(), 8, "charts: cost, messages, tokens, models, skills, subagents, MCP, activity heatmap");
    let titles: Vec<&str> = charts.iter().map(|c| c["labels"][0]["text"].as_str().unwrap_or("")).collect();
    assert!(titles.contains(&"Cost per day (USD)") && titles.contains(&"Top MCP servers (calls)"), "{titles:?}");
    // The heatmap: drawn across the page, a cell for every hour of every weekday (shown or
    // grey), the seven weekdays and the hours as labels inside it.
    let heatmap = charts
        .iter()
        .find(|c| c["labels"][0]["text"] == "Activity by hour (UTC) and weekday")
        .expect("the activity heatmap is drawn");
    assert!(heatmap["box"]["width"].as_f64().unwrap() > 900.0, "the heatmap spans the page: {}", heatmap["box"]);
    assert!(heatmap["bars"].as_u64().unwrap() >= 168, "a cell per hour and weekday: {}", heatmap["bars"]);
    let labels: Vec<&str> = heatmap["labels"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect();
    for label in ["Mon", "Sun", "00", "23"] {
        assert!(labels.contains(&label), "heatmap label {label}: {labels:?}");
    }

    // The sections of tables (is it working, friction, used safely, sizes): each panel is laid
    // out visible, with its table inside it (nothing overflows to the side), and holds rows.
    let panels = panels_of(&dir, "panels", &html, "");
    let problems = panel_problems(&panels);
    assert!(problems.is_empty(), "the section panels as laid out:\n{}", problems.join("\n"));
    let ids: Vec<&str> = panels.iter().filter_map(|p| p["id"].as_str()).collect();
    for id in [
        "activity",
        "acceptance-tool",
        "acceptance-source",
        "tools",
        "latency",
        "subagent-runs",
        "friction",
        "friction-days",
        "permission-modes",
        "permission-changes",
        "plugins",
        "marketplaces",
        "mcp-status",
        "mcp-transport",
        "hooks-event",
        "hooks-source",
        "sizes",
        "size-buckets",
        "productivity",
    ] {
        assert!(ids.contains(&id), "section {id} is on the page: {ids:?}");
    }
    // The check can fail: a table wider than its panel is caught.
    let wide = panels_of(&dir, "wide", &html, ".panel table{min-width:1400px}");
    assert!(panel_problems(&wide).iter().any(|p| p.contains("overflows")), "a table wider than its panel passes");

    // The check can fail: the same page with its charts collapsed, or a label pushed out of its
    // chart, is caught.
    let collapsed = layout(&dir, "collapsed", &html, ".panel svg{width:0!important;height:0!important}");
    assert!(layout_problems(&collapsed).iter().any(|p| p.contains("collapsed")), "a zero-size chart passes");
    let shifted = layout(&dir, "shifted", &html, ".panel svg text{transform:translate(600px,0)}");
    assert!(layout_problems(&shifted).iter().any(|p| p.contains("outside")), "a label outside its chart passes");

    // A real picture: a PNG of the full page, of a plausible size.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("digest-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let status = chromium(&dir.join("profile-shot"), &[&arg, WINDOW], &page);
    assert!(status.status.success(), "chromium --screenshot failed");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((width, height), (1120, 1900));
    // A blank page compresses to a few kilobytes; charts, text and tables do not.
    assert!(png.len() > 60_000, "the screenshot looks empty ({} bytes)", png.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The viewport the page is measured at (the screenshot's).
const WINDOW: &str = "--window-size=1120,1900";

/// Appended to a copy of the page: after layout, writes for each chart (`svg`) its box, its
/// panel's box, its bar count, and each text label's box and whether it lies inside the chart
/// (to the pixel), as JSON in `<pre id="layout">` for `--dump-dom` to print.
const MEASURE: &str = r#"<script>
(() => {
  const box = (r) => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height});
  const within = (r, b) => r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
  const charts = [...document.querySelectorAll("svg")].map((svg) => {
    const b = svg.getBoundingClientRect();
    const panel = svg.closest(".panel");
    const labels = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim() !== "")
      .map((t) => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent.trim(), box: box(r), inside: r.width > 0 && r.height > 0 && within(r, b)};
      });
    return {
      box: box(b),
      panel: panel ? box(panel.getBoundingClientRect()) : null,
      in_panel: panel ? within(b, panel.getBoundingClientRect()) : false,
      bars: [...svg.querySelectorAll("rect")].filter((r) => { const x = r.getBoundingClientRect(); return x.width > 0 && x.height > 0 && within(x, b) && (x.width < b.width - 2 || x.height < b.height - 2); }).length,
      labels,
    };
  });
  const pre = document.createElement("pre");
  pre.id = "layout";
  pre.textContent = JSON.stringify(charts).replace(/[&<>]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  document.body.appendChild(pre);
})();
</script>"#;

/// Appended to a copy of the page: each panel with an id (a section), its box, whether its
/// content is wider than it, and how many table rows it shows, as JSON in `<pre id="panels">`.
const MEASURE_PANELS: &str = r#"<script>
(() => {
  const panels = [...document.querySelectorAll(".panel[id]")].map((p) => {
    const r = p.getBoundingClientRect();
    const tables = [...p.querySelectorAll("table")].map((t) => t.getBoundingClientRect());
    return {
      id: p.id,
      box: {left: r.left, right: r.right, width: r.width, height: r.height},
      overflow: p.scrollWidth > p.clientWidth + 1 || tables.some((t) => t.right > r.right + 1 || t.left < r.left - 1),
      rows: p.querySelectorAll("tr").length,
      charts: p.querySelectorAll("svg").length,
      text: p.textContent,
    };
  });
  const pre = document.createElement("pre");
  pre.id = "panels";
  pre.textContent = JSON.stringify(panels).replace(/[&<>]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  document.body.appendChild(pre);
})();
</script>"#;

/// Each section panel of `html` as Chromium lays it out (see [`MEASURE_PANELS`]), with `css` added.
fn panels_of(dir: &std::path::Path, name: &str, html: &str, css: &str) -> Vec<serde_json::Value> {
    let page = dir.join(format!("{name}.html"));
    let body_end = html.rfind("</body>").expect("the page has a body");
    let copy = format!("{}<style>{css}</style>{MEASURE_PANELS}{}", &html[..body_end], &html[body_end..]);
    std::fs::write(&page, copy).unwrap();
    let out = chromium(&dir.join(format!("profile-{name}")), &["--dump-dom", WINDOW], &page);
    assert!(out.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"panels\">").expect("the measuring script ran") + "<pre id=\"panels\">".len();
    let end = start + dom[start..].find("</pre>").expect("the end of the result");
    let v: serde_json::Value = serde_json::from_str(&dom[start..end]).expect("the script's JSON");
    v.as_array().expect("a list of panels").clone()
}

/// What is wrong with the section panels as laid out: a panel not visible, content wider than
/// its panel, a panel with neither rows nor a chart.
fn panel_problems(panels: &[serde_json::Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if panels.is_empty() {
        problems.push("no section panel".to_owned());
    }
    for p in panels {
        let id = p["id"].as_str().unwrap_or("?");
        let (w, h) = (p["box"]["width"].as_f64().unwrap_or(0.0), p["box"]["height"].as_f64().unwrap_or(0.0));
        if w < 200.0 || h < 40.0 {
            problems.push(format!("panel {id} is {w} x {h} px"));
        }
        if p["overflow"] != false {
            problems.push(format!("panel {id} overflows its box {}", p["box"]));
        }
        // Without metric lines, the productivity panel is the one line saying how to get them.
        let no_metrics =
            id == "productivity" && p["text"].as_str().is_some_and(|t| t.contains("through the OTLP endpoint"));
        if p["rows"].as_u64().unwrap_or(0) < 2 && p["charts"].as_u64().unwrap_or(0) == 0 && !no_metrics {
            problems.push(format!("panel {id} shows no table rows and no chart"));
        }
    }
    problems
}

/// Each chart of `html` as Chromium lays it out (see [`MEASURE`]), with `css` added to the page.
fn layout(dir: &std::path::Path, name: &str, html: &str, css: &str) -> Vec<serde_json::Value> {
    let page = dir.join(format!("{name}.html"));
    let body_end = html.rfind("</body>").expect("the page has a body");
    let copy = format!("{}<style>{css}</style>{MEASURE}{}", &html[..body_end], &html[body_end..]);
    std::fs::write(&page, copy).unwrap();
    let out = chromium(&dir.join(format!("profile-{name}")), &["--dump-dom", WINDOW], &page);
    assert!(out.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"layout\">").expect("the measuring script ran") + "<pre id=\"layout\">".len();
    let end = start + dom[start..].find("</pre>").expect("the end of the result");
    let v: serde_json::Value = serde_json::from_str(&dom[start..end]).expect("the script's JSON");
    v.as_array().expect("a list of charts").clone()
}

/// What is wrong with the charts as laid out, one line each: a chart smaller than a readable
/// size or outside its panel, a chart with no bar or label, a label outside its chart.
fn layout_problems(charts: &[serde_json::Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if charts.is_empty() {
        problems.push("no chart".to_owned());
    }
    for (i, c) in charts.iter().enumerate() {
        let title = c["labels"][0]["text"].as_str().unwrap_or("?");
        let (w, h) = (c["box"]["width"].as_f64().unwrap_or(0.0), c["box"]["height"].as_f64().unwrap_or(0.0));
        // The panels are about 500 px wide at this window: a chart under 200 x 100 px has collapsed.
        if w < 200.0 || h < 100.0 {
            problems.push(format!("chart {i} ({title}) collapsed to {w} x {h} px"));
        }
        if c["in_panel"] != true {
            problems.push(format!("chart {i} ({title}) lies outside its panel: {} in {}", c["box"], c["panel"]));
        }
        if c["bars"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("chart {i} ({title}) shows no bar"));
        }
        let labels = c["labels"].as_array().map_or(&[][..], Vec::as_slice);
        if labels.len() < 3 {
            problems.push(format!("chart {i} ({title}) has {} labels", labels.len()));
        }
        for l in labels {
            if l["inside"] != true {
                problems.push(format!(
                    "chart {i} ({title}): label {} lies outside the chart: {} in {}",
                    l["text"], l["box"], c["box"]
                ));
            }
        }
    }
    problems
}

/// With metric lines (fixtures/digest/metric-lines.ndjson, tests/digest_productivity.rs's
/// corpus) the productivity panels are laid out like the others: visible, their tables inside
/// them, with rows; the one line for a window without metrics is gone.
#[test]
fn the_productivity_panels_fit_their_boxes() {
    let dir = std::env::temp_dir().join(format!("digest-html-productivity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("digest.html");
    let out = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--until", "2026-11-30T00:00:00Z", "--format", "html", "--output"])
        .arg(&page)
        .arg(root().join("fixtures/digest/two-weeks.ndjson"))
        .arg(root().join("fixtures/digest/metric-lines.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    let panels = panels_of(&dir, "panels", &html, "");
    let problems = panel_problems(&panels);
    assert!(problems.is_empty(), "the section panels as laid out:\n{}", problems.join("\n"));
    let ids: Vec<&str> = panels.iter().filter_map(|p| p["id"].as_str()).collect();
    for id in ["productivity-code", "productivity-time", "productivity-languages"] {
        assert!(ids.contains(&id), "section {id} is on the page: {ids:?}");
    }
    assert!(!ids.contains(&"productivity"), "{ids:?}");
    std::fs::remove_dir_all(&dir).ok();
}
