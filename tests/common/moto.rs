//! A moto_server started on a free loopback port (the test fails, never skips, when it cannot
//! start), AWS SDK configuration pointing at it, and CloudWatch Logs calls to read back what a
//! test wrote.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto_server may take to answer its first request.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto_server, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let spawn = |program: &str, pre: &[&str]| {
            Command::new(program)
                .args(pre)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        let child = spawn("moto_server", &[]).or_else(|_| spawn("python3", &["-m", "moto.server"])).expect(
            "cannot start moto_server: run scripts/setup.sh, then put .venv/bin on PATH (scripts/test.sh does)",
        );
        let mut moto = Moto { child, port };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited during start-up: {status}");
            }
            if http_get_ok(self.port, "/moto-api/") {
                return;
            }
            assert!(Instant::now() < deadline, "moto_server did not answer within {MOTO_START_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.0 GET; true on a 2xx answer.
pub fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let head = String::from_utf8_lossy(&answer[..answer.len().min(16)]).into_owned();
    head.starts_with("HTTP/1.0 2") || head.starts_with("HTTP/1.1 2")
}

/// SDK configuration for a local endpoint with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new("test", "test", None, None, "test"))
        .load()
        .await
}

/// Creates a Secrets Manager secret in moto; returns its ARN.
pub async fn create_secret(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret")
        .arn()
        .expect("an ARN")
        .to_owned()
}

pub async fn logs_client(endpoint: &str) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk_config(endpoint).await)
}

pub async fn create_group(client: &aws_sdk_cloudwatchlogs::Client, group: &str) {
    client.create_log_group().log_group_name(group).send().await.expect("CreateLogGroup");
}

/// Every stream name of `group`.
pub async fn stream_names(client: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Vec<String> {
    let out = client.describe_log_streams().log_group_name(group).send().await.expect("DescribeLogStreams");
    out.log_streams().iter().filter_map(|s| s.log_stream_name().map(str::to_owned)).collect()
}

/// Every event of one stream, oldest first, as (timestamp, message), following next tokens.
pub async fn read_stream(client: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str) -> Vec<(i64, String)> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("GetLogEvents");
        let page = out.events();
        events.extend(
            page.iter().map(|e| (e.timestamp().unwrap_or_default(), e.message().unwrap_or_default().to_owned())),
        );
        let next = out.next_forward_token().map(str::to_owned);
        if page.is_empty() || next == token {
            return events;
        }
        token = next;
    }
}
