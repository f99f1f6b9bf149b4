//! The CLI: the local face of the code path the Lambda runs.
//!
//! `sanitize` prints exactly the messages that would be written to the sanitized group, one per
//! line, in write order; a summary of counts goes to stderr. With `--log-group` it writes the same
//! messages to CloudWatch Logs instead, through the Lambda's writer (`plan` + `sink`). Exit codes:
//! 0 success; 1 an input could not be read or decoded (nothing is printed or written); 2 usage;
//! 3 invalid allowlist or key; 4 a write to CloudWatch Logs finally failed.

use clap::{Args, Parser, Subcommand};
use claude_otel_sanitizer::handler::StreamNamer;
use claude_otel_sanitizer::sink::{CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, RetrySettings, write_plan};
use claude_otel_sanitizer::{
    Allowlist, Counts, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, SanitizedPayload, Sanitizer, config,
    decode_envelope, plan,
};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

mod digest_cmd;

const EXIT_INPUT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_CONFIG: u8 = 3;
const EXIT_WRITE: u8 = 4;

#[derive(Parser)]
#[command(version, about = "Keeps only the allowlisted fields of Claude Code OpenTelemetry log events")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print exactly the messages that would be written to the sanitized group, one per line.
    Sanitize(SanitizeArgs),
    /// Per event, which keys would be kept and which dropped, and why (key names only).
    Explain(InputArgs),
    /// Validate an allowlist (default: the embedded one) and print what it keeps.
    CheckAllowlist {
        /// The allowlist to check.
        path: Option<PathBuf>,
    },
    /// Usage figures for the last N days from sanitized messages (markdown, slack, json, html).
    Digest(digest_cmd::DigestArgs),
    /// Print the pseudonym of each identity read on stdin (needs the pseudonym key).
    Pseudonym(digest_cmd::PseudonymArgs),
}

#[derive(Args)]
struct SanitizeArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Write to this CloudWatch Logs group instead of stdout (standard AWS configuration:
    /// region, credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`).
    #[arg(long, value_name = "NAME")]
    log_group: Option<String>,
    /// Destination stream (default: one per source stream, named as the Lambda names it).
    #[arg(long, value_name = "NAME", requires = "log_group")]
    log_stream: Option<String>,
}

#[derive(Args)]
struct InputArgs {
    /// Subscription payload files (the JSON a Lambda receives); none or `-` reads stdin.
    files: Vec<PathBuf>,
    /// Use this allowlist instead of the embedded `allowlist.toml`.
    #[arg(long, value_name = "PATH")]
    allowlist: Option<PathBuf>,
    /// Inputs hold raw stored event messages, one per line, instead of subscription payloads.
    #[arg(long)]
    ndjson: bool,
    /// File holding the pseudonym key (HMAC secret). Without a key, identity attributes are dropped.
    #[arg(long, value_name = "PATH", conflicts_with = "pseudonym_key")]
    pseudonym_key_file: Option<PathBuf>,
    /// The pseudonym key itself (prefer the environment variable or a file).
    #[arg(long, env = "PSEUDONYM_KEY", hide_env_values = true, hide = true)]
    pseudonym_key: Option<String>,
    /// Refuse payloads that decompress to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: usize,
}

/// An error for the user: one line, exit code. Never carries payload content.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: String) -> Self {
        Failure { code: EXIT_INPUT, message }
    }
    fn config(message: String) -> Self {
        Failure { code: EXIT_CONFIG, message }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sanitize(args) => sanitize(&args),
        Command::Explain(args) => explain(&args),
        Command::CheckAllowlist { path } => check_allowlist(path.as_deref()),
        Command::Digest(args) => digest_cmd::digest(&args).map_err(|(code, message)| Failure { code, message }),
        Command::Pseudonym(args) => digest_cmd::pseudonym(&args).map_err(|(code, message)| Failure { code, message }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let _ = writeln!(io::stderr().lock(), "error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn sanitize(args: &SanitizeArgs) -> Result<(), Failure> {
    if let Some(group) = &args.log_group {
        return sanitize_to_cloudwatch(args, group);
    }
    let args = &args.input;
    let sanitizer = sanitizer(args)?;
    // Decode and sanitize every input before printing anything: bad input prints nothing.
    let outputs = read_inputs(args)?
        .iter()
        .map(|(name, bytes)| sanitize_input(&sanitizer, args, name, bytes))
        .collect::<Result<Vec<SanitizedPayload>, Failure>>()?;
    let mut counts = Counts::default();
    let mut out = BufWriter::new(io::stdout().lock());
    for output in &outputs {
        counts.merge(&output.counts);
        for event in &output.events {
            write_line(&mut out, &event.message)?;
        }
    }
    out.flush().or_else(ignore_broken_pipe)?;
    let _ = writeln!(io::stderr().lock(), "{counts}");
    Ok(())
}

fn explain(args: &InputArgs) -> Result<(), Failure> {
    let sanitizer = sanitizer(args)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for (name, bytes) in read_inputs(args)? {
        let explanations = if args.ndjson {
            sanitizer.explain_ndjson(&bytes)
        } else {
            let payload = decode_envelope(&bytes, args.max_decompressed_bytes)
                .map_err(|e| Failure::input(format!("{name}: {e}")))?;
            if payload.is_control_message() {
                write_line(&mut out, &format!("{name}: CONTROL_MESSAGE (skipped)"))?;
            }
            sanitizer.explain_payload(&payload)
        };
        for explanation in explanations {
            write_line(&mut out, &format!("{name}: {explanation}"))?;
        }
    }
    out.flush().or_else(ignore_broken_pipe)
}

fn check_allowlist(path: Option<&Path>) -> Result<(), Failure> {
    let allowlist = load_allowlist(path)?;
    let mut out = io::stdout().lock();
    let name = path.map_or_else(|| "embedded allowlist.toml".to_owned(), |p| p.display().to_string());
    write_line(&mut out, &format!("{name}: valid"))?;
    out.write_all(allowlist.describe().as_bytes()).or_else(ignore_broken_pipe)
}

fn sanitize_input(
    sanitizer: &Sanitizer,
    args: &InputArgs,
    name: &str,
    bytes: &[u8],
) -> Result<SanitizedPayload, Failure> {
    if args.ndjson {
        return Ok(sanitizer.sanitize_ndjson(bytes, now_ms()));
    }
    let payload =
        decode_envelope(bytes, args.max_decompressed_bytes).map_err(|e| Failure::input(format!("{name}: {e}")))?;
    Ok(sanitizer.sanitize_payload(&payload))
}

/// `sanitize --log-group`: decode and sanitize every input first (bad input writes nothing),
/// then write each through the same planner and CloudWatch sink as the Lambda.
fn sanitize_to_cloudwatch(args: &SanitizeArgs, group: &str) -> Result<(), Failure> {
    let usage = |message: String| Failure { code: EXIT_USAGE, message };
    config::check_log_group(group).map_err(|e| usage(format!("--log-group: {e}")))?;
    if let Some(stream) = &args.log_stream {
        config::check_log_stream(stream).map_err(|e| usage(format!("--log-stream: {e}")))?;
    } else if args.input.ndjson {
        return Err(usage("--ndjson with --log-group needs --log-stream".to_owned()));
    }
    let secret = pseudonym_secret(&args.input)?;
    let sanitizer = sanitizer(&args.input)?;
    let namer = StreamNamer::new(secret.as_deref());
    let mut jobs = Vec::new();
    for (name, bytes) in read_inputs(&args.input)? {
        if args.input.ndjson {
            jobs.push((
                args.log_stream.clone().unwrap_or_default(),
                sanitize_input(&sanitizer, &args.input, &name, &bytes)?,
            ));
        } else {
            let payload = decode_envelope(&bytes, args.input.max_decompressed_bytes)
                .map_err(|e| Failure::input(format!("{name}: {e}")))?;
            let stream = args.log_stream.clone().unwrap_or_else(|| namer.for_payload(&payload));
            jobs.push((stream, sanitizer.sanitize_payload(&payload)));
        }
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| Failure::config(format!("tokio runtime: {}", e.kind())))?;
    runtime.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sink = CloudWatchSink::new(&sdk, group, &RetrySettings::default());
        let (mut counts, mut written, mut rejected) = (Counts::default(), 0, 0);
        for (stream, output) in jobs {
            counts.merge(&output.counts);
            let plan = plan::plan(output.events);
            rejected += plan.too_large + plan.empty;
            let report = write_plan(&sink, &stream, &plan, DEFAULT_WRITE_CONCURRENCY, None).await;
            written += report.accepted;
            rejected += report.rejected.total();
            if let Some(e) = report.error {
                let _ = writeln!(io::stderr().lock(), "{counts}");
                return Err(Failure { code: EXIT_WRITE, message: e.to_string() });
            }
        }
        let _ = writeln!(io::stderr().lock(), "{counts}");
        let _ = writeln!(io::stderr().lock(), "{{\"stored\":{written},\"rejected\":{rejected}}}");
        Ok(())
    })
}

fn pseudonym_secret(args: &InputArgs) -> Result<Option<Vec<u8>>, Failure> {
    Ok(match (&args.pseudonym_key_file, &args.pseudonym_key) {
        (Some(path), _) => Some(
            std::fs::read(path)
                .map_err(|e| Failure::config(format!("pseudonym key file {}: {}", path.display(), e.kind())))?,
        ),
        (None, Some(value)) => Some(value.as_bytes().to_vec()),
        (None, None) => None,
    })
}

fn sanitizer(args: &InputArgs) -> Result<Sanitizer, Failure> {
    let allowlist = load_allowlist(args.allowlist.as_deref())?;
    let secret = pseudonym_secret(args)?;
    let key = secret.map(|s| PseudonymKey::new(&s)).transpose().map_err(|e| Failure::config(e.to_string()))?;
    Ok(Sanitizer::new(allowlist, key))
}

fn load_allowlist(path: Option<&Path>) -> Result<Allowlist, Failure> {
    let Some(path) = path else {
        return Ok(Allowlist::embedded());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::config(format!("allowlist {}: {}", path.display(), e.kind())))?;
    Allowlist::from_toml(&text).map_err(|e| Failure::config(format!("allowlist {}: {e}", path.display())))
}

/// Every input as (display name, bytes); stdin when no file (or `-`) is given.
fn read_inputs(args: &InputArgs) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let stdin = [PathBuf::from("-")];
    let files = if args.files.is_empty() { &stdin[..] } else { &args.files[..] };
    files
        .iter()
        .map(|path| {
            if path.as_os_str() == "-" {
                let mut bytes = Vec::new();
                io::stdin().read_to_end(&mut bytes).map_err(|e| Failure::input(format!("stdin: {}", e.kind())))?;
                Ok(("stdin".to_owned(), bytes))
            } else {
                let bytes =
                    std::fs::read(path).map_err(|e| Failure::input(format!("{}: {}", path.display(), e.kind())))?;
                Ok((path.display().to_string(), bytes))
            }
        })
        .collect()
}

fn write_line(out: &mut impl Write, line: &str) -> Result<(), Failure> {
    writeln!(out, "{line}").or_else(ignore_broken_pipe)
}

/// A closed stdout (`| head`) ends output quietly; other write errors are failures.
fn ignore_broken_pipe(e: io::Error) -> Result<(), Failure> {
    if e.kind() == io::ErrorKind::BrokenPipe { Ok(()) } else { Err(Failure::input(format!("stdout: {}", e.kind()))) }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
