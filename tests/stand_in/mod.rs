//! A local HTTP stand-in for CloudWatch Logs in front of moto_server: a script answers some
//! calls itself (a status and error code, a JSON body, no answer at all) and the rest are
//! forwarded. Shared by tests/writer_faults.rs and the OTLP endpoint's tests
//! (crates/otlp-endpoint/tests), which include it by path.
// Each test binary uses a part.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the stand-in does with one call.
#[derive(Clone, Debug)]
pub enum Answer {
    Forward,
    Status(u16, &'static str),
    Json(&'static str),
    Hang,
}

/// `(operation, how many calls of it came before) -> answer`.
pub type Script = Arc<dyn Fn(&str, usize) -> Answer + Send + Sync>;

pub struct StandIn {
    pub port: u16,
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl StandIn {
    pub async fn start(upstream: u16, script: Script) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counter = calls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else { return };
                let (script, calls) = (script.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (script, calls) = (script.clone(), calls.clone());
                        async move { answer(req, upstream, &*script, &calls).await }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(conn), service).await;
                });
            }
        });
        StandIn { port, calls }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.calls.lock().unwrap().get(operation).copied().unwrap_or(0)
    }
}

async fn answer(
    req: Request<Incoming>,
    upstream: u16,
    script: &(dyn Fn(&str, usize) -> Answer + Send + Sync),
    calls: &Mutex<HashMap<String, usize>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or("")
        .to_owned();
    let n = {
        let mut calls = calls.lock().unwrap();
        let n = calls.entry(operation.clone()).or_default();
        *n += 1;
        *n - 1
    };
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let json = |status: u16, body: String| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    match script(&operation, n) {
        Answer::Hang => std::future::pending().await,
        Answer::Json(body) => json(200, body.to_owned()),
        Answer::Status(status, code) => {
            let mut r = json(status, format!("{{\"__type\":\"{code}\",\"message\":\"injected\"}}"))?;
            r.headers_mut().insert("x-amzn-errortype", code.parse().unwrap());
            Ok(r)
        }
        Answer::Forward => {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut forward = Request::builder().method(parts.method).uri(parts.uri);
            for (k, v) in &parts.headers {
                forward = forward.header(k, v);
            }
            let response = sender.send_request(forward.body(Full::new(body)).unwrap()).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
    }
}
