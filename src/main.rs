//! The CLI: the local face of the code path the Lambda runs.
//!
//! `sanitize` runs the Lambda's [`Handler`]: with [`StdoutSink`] it prints exactly the messages
//! that would be written to the sanitized group, one per line, in write order; with
//! `--log-group` the same handler writes them to CloudWatch Logs through [`CloudWatchSink`].
//! `sanitize --otlp` reads OTLP/HTTP logs and metrics request bodies through the receiver's own
//! path ([`Receiver`], then the same handler), so it prints what the endpoint would write.
//! Every input (a subscription envelope, or a Kinesis event of them: one input per record) is
//! decoded and sanitized ([`Handler::prepare_event`]) before anything is written, so
//! bad input prints and writes nothing. A summary of counts goes to stderr. Exit codes:
//! 0 success; 1 an input could not be read or decoded (nothing is printed or written), or stdout
//! failed; 2 usage; 3 invalid allowlist or key; 4 a write to CloudWatch Logs finally failed.

use clap::{Args, Parser, Subcommand};
use sanitizer_aws::config;
use sanitizer_aws::handler::{Handler, HandlerError, HandlerSettings, Prepared};
use sanitizer_aws::key_source::KeySource;
use sanitizer_aws::sink::{
    CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, FailureKind, RetrySettings, Sink, SinkError, StdoutSink,
};
use sanitizer_core::{Allowlist, Counts, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer, StreamNamer};
use sanitizer_otlp::{DEFAULT_MAX_REQUEST_BYTES, Receiver};
use std::io::{self, BufWriter, Read, Seek as _, Write};
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
    /// Per event (or per event type), which keys would be kept and which dropped, and why.
    ///
    /// Prints key names of a schema key's shape, known event names, reasons and counts, never
    /// values; keys found inside values are only counted.
    Explain(ExplainArgs),
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
    /// Inputs are OTLP/HTTP request bodies as the client sends them to the endpoint, logs
    /// (`/v1/logs`) or metrics (`/v1/metrics`), protobuf or JSON, gzip or not, all told apart by
    /// their content; prints what the endpoint would write.
    #[arg(long, conflicts_with = "ndjson")]
    otlp: bool,
    /// With --otlp: refuse request bodies over this many bytes, or that decompress to more (the
    /// endpoint's cap; a decoded request takes many times its encoded size).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_REQUEST_BYTES, requires = "otlp")]
    max_request_bytes: usize,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Sum over all inputs, per event type: how often each key was kept or dropped, and why.
    #[arg(long)]
    summary: bool,
}

#[derive(Args)]
struct InputArgs {
    /// Subscription payload files or Kinesis events of them (the JSON a Lambda receives; `explain`
    /// reads subscription payloads only); none or `-` reads stdin.
    files: Vec<PathBuf>,
    /// Use this allowlist instead of the embedded `allowlist.toml`.
    #[arg(long, value_name = "PATH")]
    allowlist: Option<PathBuf>,
    /// Inputs hold raw stored event messages, one per line, instead of subscription payloads.
    #[arg(long)]
    ndjson: bool,
    /// File holding the pseudonym key (HMAC secret). Without a key, identity attributes are dropped.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["pseudonym_key", "pseudonym_key_secret_arn"])]
    pseudonym_key_file: Option<PathBuf>,
    /// Secrets Manager secret holding the pseudonym key (what the Lambda's
    /// `PSEUDONYM_KEY_SECRET_ARN` names), read with the standard AWS configuration.
    #[arg(long, value_name = "ARN", conflicts_with = "pseudonym_key")]
    pseudonym_key_secret_arn: Option<String>,
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
    let usage = |message: String| Failure { code: EXIT_USAGE, message };
    if let Some(group) = &args.log_group {
        config::check_log_group(group).map_err(|e| usage(format!("--log-group: {e}")))?;
        if let Some(stream) = &args.log_stream {
            config::check_log_stream(stream).map_err(|e| usage(format!("--log-stream: {e}")))?;
        } else if args.input.ndjson {
            return Err(usage("--ndjson with --log-group needs --log-stream".to_owned()));
        } else if args.otlp {
            return Err(usage("--otlp with --log-group needs --log-stream".to_owned()));
        }
    }
    let input = &args.input;
    let allowlist = load_allowlist(input.allowlist.as_deref())?;
    let runtime = runtime()?;
    // The key is read once and gives both keyed digests: pseudonyms and stream names.
    let key = runtime.block_on(load_key(input))?;
    let streams = StreamNamer::new(key.as_ref());
    let otlp = args.otlp.then(|| Receiver::new(key.as_ref(), args.max_request_bytes));
    let sanitizer = Sanitizer::new(allowlist, key);
    let settings = HandlerSettings {
        max_decompressed: input.max_decompressed_bytes,
        log_stream: args.log_stream.clone(),
        concurrency: DEFAULT_WRITE_CONCURRENCY,
    };
    match &args.log_group {
        None => {
            // 64 KiB at a time: a few hundred writes for a large payload's lines, not thousands.
            let stdout = BufWriter::with_capacity(64 << 10, io::stdout());
            let handler = Handler::new(sanitizer, StdoutSink::new(stdout), streams, settings);
            let inputs = prepare_all(&handler, input, otlp.as_ref(), None)?;
            let written = runtime.block_on(write_all(&handler, inputs));
            match &written.error {
                // A closed stdout (`| head`) ends output quietly.
                Some(HandlerError::Write(e)) if e.kind == FailureKind::Io(io::ErrorKind::BrokenPipe) => {}
                Some(HandlerError::Write(SinkError { kind: FailureKind::Io(kind), .. })) => {
                    return Err(Failure::input(format!("stdout: {kind}")));
                }
                Some(e) => return Err(Failure::input(format!("stdout: {e}"))),
                None => {}
            }
            let _ = writeln!(io::stderr().lock(), "{}", written.counts);
            if written.rejected > 0 {
                // Events no PutLogEvents batch could hold: not printed, so not silently lost.
                let _ = writeln!(io::stderr().lock(), "{}", written.stored_line());
            }
            Ok(())
        }
        Some(group) => runtime.block_on(async {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let sink = CloudWatchSink::new(&sdk, group, &RetrySettings::default());
            let handler = Handler::new(sanitizer, sink, streams, settings);
            let inputs = prepare_all(&handler, input, otlp.as_ref(), args.log_stream.as_deref())?;
            let written = write_all(&handler, inputs).await;
            let _ = writeln!(io::stderr().lock(), "{}", written.counts);
            match written.error {
                None => {
                    let _ = writeln!(io::stderr().lock(), "{}", written.stored_line());
                    Ok(())
                }
                // The sink's own line (`PutLogEvents failed: ...`), without the handler's prefix.
                Some(HandlerError::Write(e)) => Err(Failure { code: EXIT_WRITE, message: e.to_string() }),
                Some(e) => Err(Failure { code: EXIT_WRITE, message: e.to_string() }),
            }
        }),
    }
}

/// Decodes and sanitizes every input, in the order given, before anything is written: the
/// first bad input fails the run with nothing printed or stored. `otlp`: inputs are OTLP/HTTP
/// request bodies (logs or metrics), read by this receiver. `fixed_stream`: where raw messages and request
/// bodies go (they name no source stream; stdout ignores it).
fn prepare_all<S: Sink>(
    handler: &Handler<S>,
    args: &InputArgs,
    otlp: Option<&Receiver>,
    fixed_stream: Option<&str>,
) -> Result<Vec<Prepared>, Failure> {
    let mut prepared = Vec::new();
    for path in input_paths(args) {
        let mut input = open_input(path)?;
        // A regular file holding a subscription envelope is read a piece at a time, as it is
        // decoded; when the streamed reader leaves it to the usual path, the file is read again
        // from its start. Anything else (stdin, a pipe or FIFO such as `/dev/stdin` or
        // `<(cat ...)`, NDJSON, OTLP request bodies) is read once, whole, and prepared as the
        // function would: a pipe cannot be read twice, so it gives exactly what stdin gives.
        if let Input::File { name, file, regular: true } = &mut input
            && !args.ndjson
            && otlp.is_none()
        {
            if let Some(p) = handler.prepare_reader(file) {
                prepared.push(p);
                continue;
            }
            file.rewind().map_err(|e| Failure::input(format!("{name}: {}", e.kind())))?;
        }
        let (name, bytes) = input.read_whole()?;
        let stream = || fixed_stream.unwrap_or("stdout").to_owned();
        if let Some(receiver) = otlp {
            // One request body: the endpoint's path, its records' time else the time read.
            let sanitize = |sanitizer: &Sanitizer| receiver.sanitize_any(sanitizer, &bytes, now_ms());
            prepared
                .push(handler.prepare_with(stream(), sanitize).map_err(|e| Failure::input(format!("{name}: {e}")))?);
        } else if args.ndjson {
            prepared.push(handler.prepare_ndjson(&bytes, now_ms(), stream()));
        } else {
            // A subscription envelope, or a Kinesis event of them (one prepared input per record).
            prepared.extend(handler.prepare_event(&bytes).map_err(|e| Failure::input(format!("{name}: {e}")))?);
        }
    }
    Ok(prepared)
}

/// What writing every prepared input did, summed.
struct Written {
    counts: Counts,
    stored: u64,
    rejected: u64,
    error: Option<HandlerError>,
}

impl Written {
    fn stored_line(&self) -> String {
        format!("{{\"stored\":{},\"rejected\":{}}}", self.stored, self.rejected)
    }
}

/// Runs [`Handler::handle_payload`] for each prepared input in turn; stops at the first failure
/// (the counts then cover the inputs handled so far, the failed one included).
async fn write_all<S: Sink>(handler: &Handler<S>, inputs: Vec<Prepared>) -> Written {
    let mut written = Written { counts: Counts::default(), stored: 0, rejected: 0, error: None };
    for prepared in inputs {
        let report = handler.handle_payload(prepared, None).await;
        written.counts.merge(&report.counts);
        written.stored += report.written();
        written.rejected += report.rejected();
        if report.error.is_some() {
            written.error = report.error;
            break;
        }
    }
    written
}

/// One input of `explain`: raw stored messages, or the payloads an event holds, explained.
enum ExplainSource<'a> {
    Ndjson(&'a [u8]),
    Payloads(Vec<sanitizer_core::Explained>),
}

/// `explain`: decode every input first (bad input prints nothing), then print one explanation
/// per event as it is made, or only the summary. Input names are printed escaped.
fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    use sanitizer_core::{Summary, escape};
    let input = &args.input;
    let sanitizer = sanitizer(input)?;
    let inputs = read_inputs(input)?;
    let sources = inputs
        .iter()
        .map(|(name, bytes)| {
            let name = escape(name).to_string();
            if input.ndjson {
                return Ok((name, ExplainSource::Ndjson(bytes)));
            }
            // A subscription envelope, or a Kinesis event of them (one payload per record).
            let payloads = sanitizer
                .explain_event(bytes, input.max_decompressed_bytes)
                .map_err(|e| Failure::input(format!("{name}: {e}")))?;
            Ok((name, ExplainSource::Payloads(payloads)))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut summary = Summary::default();
    for (name, source) in &sources {
        summary.add_input();
        match source {
            ExplainSource::Ndjson(bytes) => {
                show(&mut out, &mut summary, args.summary, name, sanitizer.explain_ndjson(bytes))?;
            }
            ExplainSource::Payloads(payloads) => {
                for payload in payloads {
                    let name = payload.record.map_or_else(|| name.clone(), |i| format!("{name} record {i}"));
                    if payload.control_message {
                        summary.add_control_message();
                        if !args.summary {
                            writeln!(out, "{name}: CONTROL_MESSAGE (skipped)").or_else(ignore_broken_pipe)?;
                        }
                    }
                    show(&mut out, &mut summary, args.summary, &name, payload.events.iter().cloned())?;
                }
            }
        }
    }
    if args.summary {
        writeln!(out, "{summary}").or_else(ignore_broken_pipe)?;
    }
    out.flush().or_else(ignore_broken_pipe)
}

/// Prints each explanation of one input (or adds it to the summary only).
fn show(
    out: &mut impl Write,
    summary: &mut sanitizer_core::Summary,
    summary_only: bool,
    name: &str,
    explanations: impl Iterator<Item = sanitizer_core::Explanation>,
) -> Result<(), Failure> {
    for explanation in explanations {
        if summary_only {
            summary.add(&explanation);
        } else {
            writeln!(out, "{name}: {explanation}").or_else(ignore_broken_pipe)?;
        }
    }
    Ok(())
}

fn check_allowlist(path: Option<&Path>) -> Result<(), Failure> {
    let allowlist = load_allowlist(path)?;
    let mut out = io::stdout().lock();
    let name = path.map_or_else(|| "embedded allowlist.toml".to_owned(), |p| p.display().to_string());
    write_line(&mut out, &format!("{name}: valid"))?;
    out.write_all(allowlist.describe().as_bytes()).or_else(ignore_broken_pipe)
}

/// Where the key comes from, as the options say: a file, the environment variable, a Secrets
/// Manager secret, or none.
fn key_source(args: &InputArgs) -> Result<KeySource, Failure> {
    Ok(match (&args.pseudonym_key_file, &args.pseudonym_key_secret_arn, &args.pseudonym_key) {
        (Some(path), _, _) => KeySource::File(path.clone()),
        (None, Some(arn), _) => KeySource::Secret(arn.clone()),
        (None, None, Some(value)) => {
            KeySource::Value(PseudonymKey::new(value.as_bytes()).map_err(|e| Failure::config(e.to_string()))?)
        }
        (None, None, None) => KeySource::None,
    })
}

/// Reads the pseudonym key once, through the same loader as the Lambda.
async fn load_key(args: &InputArgs) -> Result<Option<PseudonymKey>, Failure> {
    key_source(args)?
        .load(async || aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        .await
        .map_err(|e| Failure::config(e.to_string()))
}

/// A single-threaded runtime: the handler's futures (and the SDK's) need no more.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::config(format!("tokio runtime: {}", e.kind())))
}

fn sanitizer(args: &InputArgs) -> Result<Sanitizer, Failure> {
    let allowlist = load_allowlist(args.allowlist.as_deref())?;
    let runtime = runtime()?;
    let key = runtime.block_on(load_key(args))?;
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
    input_paths(args).into_iter().map(read_input).collect()
}

/// The files given, in order, or `-` (stdin) when none is.
fn input_paths(args: &InputArgs) -> Vec<&Path> {
    if args.files.is_empty() { vec![Path::new("-")] } else { args.files.iter().map(PathBuf::as_path).collect() }
}

/// One input, whole, with the name its errors give (`-`: stdin). Opened and read once.
fn read_input(path: &Path) -> Result<(String, Vec<u8>), Failure> {
    open_input(path)?.read_whole()
}

/// One input, opened once: stdin, or a file (a regular file, or anything else a path can name:
/// a FIFO, `/dev/stdin`, a process substitution's `/dev/fd/N`).
enum Input {
    Stdin,
    File { name: String, file: std::fs::File, regular: bool },
}

/// Opens `path` (`-`: stdin). Whether it is a regular file is asked of the open file itself.
fn open_input(path: &Path) -> Result<Input, Failure> {
    if path.as_os_str() == "-" {
        return Ok(Input::Stdin);
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Failure::input(format!("{name}: {}", e.kind())))?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    Ok(Input::File { name, file, regular })
}

impl Input {
    /// (name, every byte from the current position to the end), read from the handle already open.
    fn read_whole(self) -> Result<(String, Vec<u8>), Failure> {
        let mut bytes = Vec::new();
        let (name, read) = match self {
            Input::Stdin => ("stdin".to_owned(), io::stdin().lock().read_to_end(&mut bytes)),
            Input::File { name, mut file, .. } => {
                let read = file.read_to_end(&mut bytes);
                (name, read)
            }
        };
        read.map_err(|e| Failure::input(format!("{name}: {}", e.kind())))?;
        Ok((name, bytes))
    }
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
