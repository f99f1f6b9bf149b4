//! The `digest` and `pseudonym` commands: thin readers and writers around
//! [`sanitizer_digest`].
//!
//! `digest` streams sanitized lines (files, stdin, the sanitized data lake on S3, or the
//! sanitized group through `FilterLogEvents`) into a [`Digest`], renders the report, and writes it only when all input
//! was read (an I/O error prints nothing). stderr gets one JSON line of line counts: refused
//! lines are counted by reason, never echoed. `pseudonym` reads identities on stdin and prints
//! their pseudonyms, one per line; its errors name a line number, never an identity.

use clap::{Args, ValueEnum};
use sanitizer_core::{Allowlist, PseudonymKey};
use sanitizer_digest::message::Refusal;
use sanitizer_digest::{self as digest, Digest, Format, Report, Schema, Window, identity};
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// (exit code, one-line message without payload content).
pub type Failure = (u8, String);

const EXIT_INPUT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_CONFIG: u8 = 3;

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Markdown,
    Slack,
    Json,
    Html,
}

#[derive(Args)]
pub struct DigestArgs {
    /// Files of sanitized messages, one per line, as `sanitize` prints them; none or `-` reads stdin.
    #[arg(conflicts_with_all = ["log_group", "s3"])]
    files: Vec<PathBuf>,
    /// Length of the window in days (compared with the same number of days before it).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// End of the window (exclusive), RFC 3339 such as 2026-12-01T00:00:00Z. Default: now.
    #[arg(long, value_name = "RFC3339")]
    until: Option<String>,
    #[arg(long, value_enum, default_value_t = FormatArg::Markdown)]
    format: FormatArg,
    /// Write the digest to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Teams, departments and cost centers with fewer distinct users are folded into "other".
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    min_group_size: u64,
    /// Read the sanitized group itself (FilterLogEvents over both windows; standard AWS
    /// configuration: region, credentials, `AWS_ENDPOINT_URL`).
    /// Refused before the first page when the windows would take longer than --max-read-seconds
    /// at the account's 5 FilterLogEvents requests per second (then use --s3).
    #[arg(long, value_name = "NAME", conflicts_with = "s3")]
    log_group: Option<String>,
    /// With --log-group: the longest the read may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, requires = "log_group")]
    max_read_seconds: u64,
    /// Read the sanitized data lake: every object of both windows under s3://bucket/prefix (the
    /// template's Firehose layout dt=YYYY-MM-DD/, or Firehose's default YYYY/MM/DD/), fetched
    /// concurrently (standard AWS configuration).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    s3: Option<String>,
    /// The allowlist the sanitizer wrote the messages with (default: the embedded one): a line
    /// is counted only when its keys and values are what this allowlist writes.
    #[arg(long, value_name = "PATH")]
    allowlist: Option<PathBuf>,
}

#[derive(Args)]
pub struct PseudonymArgs {
    /// The allowlist whose pseudonym settings to use (default: the embedded one).
    #[arg(long, value_name = "PATH")]
    allowlist: Option<PathBuf>,
    /// File holding the pseudonym key (HMAC secret).
    #[arg(long, value_name = "PATH", conflicts_with = "pseudonym_key")]
    pseudonym_key_file: Option<PathBuf>,
    #[arg(long, env = "PSEUDONYM_KEY", hide_env_values = true, hide = true)]
    pseudonym_key: Option<String>,
}

pub fn digest(args: &DigestArgs) -> Result<(), Failure> {
    let end = match &args.until {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| (EXIT_USAGE, "--until: not an RFC 3339 time such as 2026-12-01T00:00:00Z".to_owned()))?,
        None => OffsetDateTime::now_utc(),
    };
    let end_ns =
        u64::try_from(end.unix_timestamp_nanos()).map_err(|_| (EXIT_USAGE, "--until: before 1970".to_owned()))?;
    let schema = Schema::new(&load_allowlist(args.allowlist.as_ref())?);
    let mut digest = Digest::new(Window { end_ns, days: args.days }, schema);
    if let Some(group) = &args.log_group {
        sanitizer_aws::config::check_log_group(group).map_err(|e| (EXIT_USAGE, format!("--log-group: {e}")))?;
        read_group(group, args.max_read_seconds, &mut digest)?;
    } else if let Some(s3) = &args.s3 {
        let location = s3.parse().map_err(|e| (EXIT_USAGE, format!("--s3: {e}")))?;
        read_lake(&location, &mut digest)?;
    } else {
        let stdin = [PathBuf::from("-")];
        let files = if args.files.is_empty() { &stdin[..] } else { &args.files[..] };
        for path in files {
            if path.as_os_str() == "-" {
                digest::lines::feed(io::stdin().lock(), &mut digest)
                    .map_err(|e| (EXIT_INPUT, format!("stdin: {}", e.kind())))?;
            } else {
                let file =
                    std::fs::File::open(path).map_err(|e| (EXIT_INPUT, format!("{}: {}", path.display(), e.kind())))?;
                digest::lines::feed(BufReader::with_capacity(1 << 16, file), &mut digest)
                    .map_err(|e| (EXIT_INPUT, format!("{}: {}", path.display(), e.kind())))?;
            }
        }
    }
    let report = Report::new(&digest, args.min_group_size);
    let format = match args.format {
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Slack => Format::Slack,
        FormatArg::Json => Format::Json,
        FormatArg::Html => Format::Html,
    };
    let text = digest::render(&report, format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| (EXIT_INPUT, format!("{}: {}", path.display(), e.kind())))?
        }
        None => {
            let mut out = io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
                && e.kind() != io::ErrorKind::BrokenPipe
            {
                return Err((EXIT_INPUT, format!("stdout: {}", e.kind())));
            }
        }
    }
    let _ = writeln!(io::stderr().lock(), "{}", counts_line(&digest));
    Ok(())
}

/// One JSON line of what happened to the lines: numbers and reason names only.
fn counts_line(d: &Digest) -> String {
    let c = &d.counts;
    let refused: serde_json::Map<String, serde_json::Value> =
        Refusal::ALL.iter().map(|r| (r.name().to_owned(), c.refused_for(*r).into())).collect();
    serde_json::json!({
        "lines": c.lines, "used": c.used, "duplicates": c.duplicates, "outside_window": c.outside_window,
        "refused": refused,
    })
    .to_string()
}

/// Reads both windows of the sanitized group (the library's reader, as the Lambda uses it),
/// after checking they can be paged through within `budget_seconds`.
fn read_group(group: &str, budget_seconds: u64, digest: &mut Digest) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| (EXIT_CONFIG, format!("tokio runtime: {}", e.kind())))?;
    runtime.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let input = |e: digest::group::ReadError| (EXIT_INPUT, e.to_string());
        digest::group::check_size(&client, group, &digest.window, budget_seconds).await.map_err(input)?;
        digest::group::read_group(&client, group, digest).await.map_err(input)
    })
}

/// Reads both windows from the data lake (the library's reader, as the Lambda uses it).
fn read_lake(location: &digest::lake::Location, digest: &mut Digest) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| (EXIT_CONFIG, format!("tokio runtime: {}", e.kind())))?;
    runtime.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = digest::lake::client(&sdk);
        digest::lake::read_lake(&client, location, digest, digest::lake::DEFAULT_CONCURRENCY)
            .await
            .map(drop)
            .map_err(|e| (EXIT_INPUT, e.to_string()))
    })
}

/// The embedded allowlist, or the one at `path`.
fn load_allowlist(path: Option<&PathBuf>) -> Result<Allowlist, Failure> {
    match path {
        None => Ok(Allowlist::embedded()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| (EXIT_CONFIG, format!("allowlist {}: {}", path.display(), e.kind())))?;
            Allowlist::from_toml(&text).map_err(|e| (EXIT_CONFIG, format!("allowlist {}: {e}", path.display())))
        }
    }
}

pub fn pseudonym(args: &PseudonymArgs) -> Result<(), Failure> {
    let allowlist = load_allowlist(args.allowlist.as_ref())?;
    let (output, hex_chars) =
        identity::pseudonym_output(&allowlist).ok_or((EXIT_CONFIG, "the allowlist keeps no pseudonym".to_owned()))?;
    let secret = match (&args.pseudonym_key_file, &args.pseudonym_key) {
        (Some(path), _) => std::fs::read(path)
            .map_err(|e| (EXIT_CONFIG, format!("pseudonym key file {}: {}", path.display(), e.kind())))?,
        (None, Some(value)) => value.as_bytes().to_vec(),
        (None, None) => {
            return Err((EXIT_CONFIG, "no pseudonym key: set PSEUDONYM_KEY or --pseudonym-key-file".to_owned()));
        }
    };
    let key = PseudonymKey::new(&secret).map_err(|e| (EXIT_CONFIG, e.to_string()))?;
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).map_err(|e| (EXIT_INPUT, format!("stdin: {}", e.kind())))?;
    // Check every line before printing anything.
    let text = std::str::from_utf8(&input).map_err(|e| {
        let line = input[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        (EXIT_INPUT, format!("stdin line {line}: not UTF-8"))
    })?;
    let mut out = String::new();
    for (i, identity) in text.lines().enumerate() {
        if identity.trim().is_empty() {
            return Err((EXIT_INPUT, format!("stdin line {}: empty identity", i + 1)));
        }
        out.push_str(&identity::pseudonym(&key, output, hex_chars, identity));
        out.push('\n');
    }
    let mut stdout = io::stdout().lock();
    match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err((EXIT_INPUT, format!("stdout: {}", e.kind()))),
        _ => Ok(()),
    }
}
