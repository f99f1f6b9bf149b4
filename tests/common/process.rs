//! Child processes for the runtime-loop tests: a process whose output is collected and which is
//! killed on drop, and the Lambda runtime emulator (`cargo lambda watch`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process killed on drop, its stdout and stderr collected.
pub struct Proc {
    pub child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (run scripts/setup.sh)"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        Proc { child, output, readers }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output contains `needle` (or panics with the output so far).
    pub fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.text().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("process exited ({status}) before printing {needle:?}:\n{}", self.text());
            }
            assert!(Instant::now() < deadline, "no {needle:?} within {within:?}:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit (or panics); its success and all its output.
    pub fn finish(mut self, within: Duration) -> (bool, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for reader in std::mem::take(&mut self.readers) {
                    let _ = reader.join();
                }
                return (status.success(), self.text());
            }
            assert!(Instant::now() < deadline, "process did not finish:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis` on a free port, run from a scratch folder outside
/// the crate (nothing it could watch changes).
pub fn start_emulator(scratch: &Path) -> (Proc, u16) {
    let port = super::free_port();
    let mut watch = Proc::spawn(
        Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .arg("--manifest-path")
            .arg(super::root().join("Cargo.toml"))
            .current_dir(scratch),
    );
    watch.wait_for("starting Runtime server", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "cargo lambda watch is not listening:\n{}", watch.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    (watch, port)
}

/// A function binary started as the Lambda runtime starts it: a clean environment (only `PATH`),
/// the runtime API of the emulator on `port`, test credentials, and the AWS endpoint (moto_server)
/// at `endpoint`. The caller adds the function's own configuration.
pub fn function_command(binary: &str, port: u16, endpoint: &str, memory_mb: u32) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint);
    cmd
}

/// How long one `cargo lambda invoke` may take before the test fails (instead of hanging).
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// `cargo lambda invoke --data-file` against the emulator on `port`; returns (succeeded, output).
pub fn invoke(port: u16, data_file: &Path) -> (bool, String) {
    Proc::spawn(
        Command::new("cargo")
            .args(["lambda", "invoke", "--data-file"])
            .arg(data_file)
            .args(["-A", "127.0.0.1", "-P"])
            .arg(port.to_string()),
    )
    .finish(INVOKE_TIMEOUT)
}

/// A line of this process's `/proc/self/status` in KiB (`VmHWM`: the peak resident set size).
pub fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// The CLI binary. From the root package's own tests, the one cargo built for them; from a
/// binary crate's tests (crates/*/tests), the one `cargo test --workspace` built beside them
/// in the same target folder (cargo names another package's binaries to no test).
pub fn cli_bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_claude-otel-sanitizer") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").join("claude-otel-sanitizer");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh)",
        bin.display()
    );
    bin
}
