//! The `html` digest in a real browser: headless Chromium loads the page from a file with
//! networking off, and the test checks the page is self-contained (no script, stylesheet, image
//! or font from anywhere), that Chromium renders every chart (its DOM after layout holds the
//! SVGs and their bars), and that the screenshot is a real picture. The screenshot is kept at
//! target/digest-screenshot.png for a person to look at. Needs `chromium` (scripts/setup.sh
//! installs it); fails, never skips, without it.

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
    assert_eq!(lower.matches("http").count(), lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());

    // Rendered: Chromium's DOM after load holds the nine charts and the tables.
    let dom = chromium(&dir.join("profile-dom"), &["--dump-dom"], &page);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), 7, "charts: cost, messages, tokens, models, skills, subagents, MCP");
    assert!(dom.contains("Cost per day (USD)") && dom.contains("Top MCP servers (calls)"));
    assert!(dom.contains("platform") && dom.contains("Most sessions"));
    assert!(dom.matches("<rect").count() > 30, "the charts have bars");

    // A real picture: a PNG of the full page, of a plausible size.
    let shot = root().join("target/digest-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let status = chromium(&dir.join("profile-shot"), &[&arg, "--window-size=1120,1900"], &page);
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
