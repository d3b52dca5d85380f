//! A minimal stand-in for the AWS Lambda Runtime API, for `scripts/bench`: cold starts of the
//! `nowplaying-lambda` binary measured the way Lambda runs it, not through `serve`.
//!
//! ```text
//! runtime_api --bin target/release/nowplaying-lambda [--runs 7] [--out FILE]
//! runtime_api proxy --upstream http://127.0.0.1:PORT --out FILE
//! ```
//!
//! `proxy` is the counting proxy alone, for the `serve` processes of the benchmark: it prints
//! `listening on URL` and keeps the count of each AWS operation forwarded so far in `--out`
//! (rewritten every 100 ms).
//!
//! For each run it serves `GET /2018-06-01/runtime/invocation/next` on a free loopback port (the
//! first call gets an API Gateway HTTP API v2 event for `GET /api/spotify`, with the headers
//! `lambda-runtime-aws-request-id` and `lambda-runtime-deadline-ms`; later calls wait), starts
//! the binary with `AWS_LAMBDA_RUNTIME_API` pointing at it and the environment inherited, and
//! times spawning → `POST .../invocation/{id}/response`. `AWS_ENDPOINT_URL` is given to the
//! binary through a counting proxy, so each run also reports the AWS operations it made
//! (`X-Amz-Target`). With `NOWPLAYING_TRACE_STARTUP=1` in the environment the binary prints its
//! start-up phases (`startup <phase> <epoch µs>`), reported as milliseconds from spawning.
//! Prints one JSON object: the runs, the median, and the process's peak memory at the answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const EVENT: &str = include_str!("../fixtures/apigw-http-v2.json");

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[derive(Default)]
struct Run {
    handed_out: bool,
    /// When the binary first asked for an invocation (its runtime loop started).
    polled: Option<Instant>,
    answered: Option<(Instant, Value)>,
    error: Option<String>,
}

type Shared = Arc<(Mutex<Run>, tokio::sync::Notify)>;

async fn next(State(s): State<Shared>) -> axum::response::Response {
    let first = {
        let mut run = s.0.lock().unwrap();
        run.polled.get_or_insert_with(Instant::now);
        !std::mem::replace(&mut run.handed_out, true)
    };
    if !first {
        // One invocation per cold start: the next poll waits until the run is over.
        std::future::pending::<()>().await;
    }
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 10_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:nowplaying"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    (headers, EVENT).into_response()
}

async fn response(State(s): State<Shared>, Path(_id): Path<String>, body: String) -> StatusCode {
    let at = Instant::now();
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    s.0.lock().unwrap().answered = Some((at, value));
    s.1.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Shared>, body: String) -> StatusCode {
    s.0.lock().unwrap().error = Some(body);
    s.1.notify_waiters();
    StatusCode::ACCEPTED
}

/// A TCP proxy in front of the AWS endpoint that records each request's `X-Amz-Target`.
async fn counting_proxy(upstream: String, ops: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (upstream, ops) = (upstream.clone(), ops.clone());
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (mut ri, mut wi) = inbound.into_split();
                let (mut ro, mut wo) = outbound.into_split();
                let up = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut line = Vec::new();
                    loop {
                        let n = match ri.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        for &b in &buf[..n] {
                            if b == b'\n' {
                                let l = String::from_utf8_lossy(&line);
                                if let Some((name, value)) = l.split_once(':') {
                                    if name.trim().eq_ignore_ascii_case("x-amz-target") {
                                        let v = value.trim();
                                        let op = v.rsplit('.').next().unwrap_or(v);
                                        ops.lock().unwrap().push(op.to_string());
                                    }
                                }
                                line.clear();
                            } else if line.len() < 256 {
                                line.push(b);
                            }
                        }
                        if wo.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = wo.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut ro, &mut wi).await;
                    let _ = wi.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    url
}

fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn one_run(bin: &str, aws_endpoint: Option<&str>) -> Value {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(shared.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let ops = Arc::new(Mutex::new(Vec::new()));
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "nowplaying")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/nowplaying")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(upstream) = aws_endpoint {
        let host = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        cmd.env("AWS_ENDPOINT_URL", counting_proxy(host, ops.clone()).await);
    }
    let notified = shared.1.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let spawned_us = epoch_us();
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start the Lambda binary");
    let pid = child.id().unwrap_or(0);
    let stderr = child.stderr.take().unwrap();
    let lines = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut reader = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(l)) = reader.next_line().await {
            out.push(l);
        }
        out
    });
    let finished = tokio::time::timeout(Duration::from_secs(20), notified)
        .await
        .is_ok();
    let peak = peak_kb(pid);
    let _ = child.kill().await;
    server.abort();
    let logs = tokio::time::timeout(Duration::from_secs(2), lines)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut phases = BTreeMap::new();
    for l in &logs {
        let mut parts = l.split_whitespace();
        if parts.next() == Some("startup") {
            if let (Some(phase), Some(at)) = (parts.next(), parts.next()) {
                if let Ok(at) = at.parse::<u64>() {
                    let ms = at.saturating_sub(spawned_us) as f64 / 1000.0;
                    phases.insert(phase.to_string(), json!(ms));
                }
            }
        }
    }
    let run = shared.0.lock().unwrap();
    if let Some(at) = run.polled {
        phases.insert(
            "runtime_polls_next".to_string(),
            json!(at.duration_since(started).as_secs_f64() * 1000.0),
        );
    }
    let (ms, status, body_name) = match (&run.answered, finished) {
        (Some((at, v)), true) => {
            let body: Value = v["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            (
                Some(at.duration_since(started).as_secs_f64() * 1000.0),
                v["statusCode"].clone(),
                body["name"].clone(),
            )
        }
        _ => (None, Value::Null, Value::Null),
    };
    let ops = ops.lock().unwrap().clone();
    json!({
        "ms": ms,
        "status": status,
        "name": body_name,
        "error": run.error,
        "aws_ops": ops,
        "peak_kb": peak,
        "phases_ms": phases,
        "stderr_tail": if ms.is_none() { json!(logs.iter().rev().take(10).collect::<Vec<_>>()) } else { Value::Null },
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("proxy") {
        let upstream = flag(&args, "--upstream").expect("--upstream");
        let out = flag(&args, "--out").expect("--out");
        let host = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let ops = Arc::new(Mutex::new(Vec::new()));
        let url = counting_proxy(host, ops.clone()).await;
        println!("listening on {url}");
        loop {
            let counts: BTreeMap<String, usize> =
                ops.lock()
                    .unwrap()
                    .iter()
                    .fold(BTreeMap::new(), |mut m, op| {
                        *m.entry(op.clone()).or_default() += 1;
                        m
                    });
            let tmp = format!("{out}.tmp");
            std::fs::write(&tmp, serde_json::to_string(&counts).unwrap()).unwrap();
            std::fs::rename(&tmp, &out).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let bin = flag(&args, "--bin").expect("--bin");
    let runs: usize = flag(&args, "--runs").map_or(7, |v| v.parse().expect("--runs"));
    let aws = std::env::var("AWS_ENDPOINT_URL").ok();
    let mut results = Vec::new();
    for _ in 0..runs {
        results.push(one_run(&bin, aws.as_deref()).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ms: Vec<f64> = results.iter().filter_map(|r| r["ms"].as_f64()).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = (!ms.is_empty()).then(|| ms[ms.len() / 2]);
    let mut ops: Vec<usize> = results
        .iter()
        .map(|r| r["aws_ops"].as_array().map_or(0, Vec::len))
        .collect();
    ops.sort_unstable();
    let out = json!({
        "runs": results,
        "n": ms.len(),
        "median_ms": median,
        "min_ms": ms.first(),
        "max_ms": ms.last(),
        "aws_calls_median": ops.get(ops.len() / 2),
        "aws_calls_max": ops.last(),
        "peak_kb_max": results.iter().filter_map(|r| r["peak_kb"].as_u64()).max(),
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    match flag(&args, "--out") {
        Some(path) => std::fs::write(path, text + "\n").expect("write --out"),
        None => println!("{text}"),
    }
}
