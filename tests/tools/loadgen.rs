//! The load client of `scripts/bench`: records every request's latency and status.
//!
//! ```text
//! loadgen run --urls http://127.0.0.1:A,http://127.0.0.1:B --c 64 --t 30 [--path /api/spotify] [--out FILE]
//! loadgen coldstart --bin target/release/nowplaying --runs 5 [--out FILE]
//! ```
//!
//! `run` drives `--c` clients for `--t` seconds, client `i` on URL `i % K` (so the load spreads
//! evenly over the K processes), each with its own keep-alive connection, one request after
//! another, and prints one JSON object: counts, statuses, latency percentiles of all `200`s and
//! of cache hits. A cache hit is a `200` whose `timestamp` (when the service read Spotify) is
//! older than the moment the request was sent: the answer was already there, this request did
//! not wait for Spotify. The rest of the `200`s (the lease holder and the callers that waited on
//! its fetch, or every request of the naive baseline) are misses.
//!
//! `coldstart` starts the binary `--runs` times (`serve --addr` on a free port, the environment
//! inherited), polls `GET /api/spotify` every millisecond and prints the time from spawning to
//! the first `200`, and the process's peak memory (VmHWM) at that moment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Percentile by the nearest-rank method, in milliseconds with microsecond precision.
fn pct(sorted_us: &[u64], p: f64) -> Value {
    if sorted_us.is_empty() {
        return Value::Null;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil().max(1.0) as usize;
    json!(sorted_us[rank.min(sorted_us.len()) - 1] as f64 / 1000.0)
}

fn summary(mut us: Vec<u64>) -> Value {
    us.sort_unstable();
    json!({
        "n": us.len(),
        "p50_ms": pct(&us, 50.0),
        "p90_ms": pct(&us, 90.0),
        "p99_ms": pct(&us, 99.0),
        "max_ms": us.last().map(|m| *m as f64 / 1000.0),
    })
}

#[derive(Default)]
struct Tally {
    all_ok_us: Vec<u64>,
    hit_us: Vec<u64>,
    miss_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    transport_errors: u64,
    stale: u64,
    null_bodies: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.all_ok_us.extend(o.all_ok_us);
        self.hit_us.extend(o.hit_us);
        self.miss_us.extend(o.miss_us);
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.transport_errors += o.transport_errors;
        self.stale += o.stale;
        self.null_bodies += o.null_bodies;
    }
}

async fn client_loop(url: String, deadline: Instant) -> Tally {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut t = Tally::default();
    while Instant::now() < deadline {
        let sent_ms = epoch_ms();
        let start = Instant::now();
        let result = match http.get(&url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                r.bytes().await.map(|b| (status, b))
            }
            Err(e) => Err(e),
        };
        let us = start.elapsed().as_micros() as u64;
        match result {
            Ok((status, body)) => {
                *t.statuses.entry(status.to_string()).or_default() += 1;
                if status == 200 {
                    t.all_ok_us.push(us);
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if v.is_null() {
                        t.null_bodies += 1;
                    }
                    if v.get("stale").and_then(Value::as_bool) == Some(true) {
                        t.stale += 1;
                    }
                    match v.get("timestamp").and_then(Value::as_u64) {
                        Some(read_at) if read_at < sent_ms => t.hit_us.push(us),
                        _ => t.miss_us.push(us),
                    }
                }
            }
            Err(_) => {
                t.transport_errors += 1;
                // A refused connection returns at once; don't spin on it.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    t
}

async fn run(urls: Vec<String>, c: usize, t_s: f64) -> Value {
    let deadline = Instant::now() + Duration::from_secs_f64(t_s);
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| tokio::spawn(client_loop(urls[i % urls.len()].clone(), deadline)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests: u64 = total.statuses.values().sum::<u64>() + total.transport_errors;
    let ok = total.statuses.get("200").copied().unwrap_or(0);
    json!({
        "urls": urls.len(),
        "clients": c,
        "seconds": elapsed,
        "requests": requests,
        "ok_200": ok,
        "non_200": requests - ok,
        "statuses": total.statuses,
        "transport_errors": total.transport_errors,
        "stale_answers": total.stale,
        "null_answers": total.null_bodies,
        "requests_per_s": requests as f64 / elapsed,
        "latency_ok": summary(total.all_ok_us),
        "latency_hit": summary(total.hit_us),
        "latency_miss": summary(total.miss_us),
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn coldstart(bin: String, runs: usize) -> Value {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/api/spotify");
        let start = Instant::now();
        let mut child = tokio::process::Command::new(&bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the service");
        let pid = child.id().unwrap_or(0);
        let mut first_ok = None;
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(r) = http.get(&url).send().await {
                if r.status() == 200 {
                    first_ok = Some(start.elapsed());
                    break;
                }
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let hwm = vm_hwm_kb(pid);
        let _ = child.kill().await;
        samples.push(json!({
            "ms": first_ok.map(|d| d.as_secs_f64() * 1000.0),
            "vm_hwm_kb": hwm,
        }));
    }
    let mut ms: Vec<f64> = samples.iter().filter_map(|s| s["ms"].as_f64()).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if ms.is_empty() {
        None
    } else {
        Some(ms[ms.len() / 2])
    };
    json!({
        "runs": runs,
        "failed": runs - ms.len(),
        "median_ms": median,
        "min_ms": ms.first(),
        "max_ms": ms.last(),
        "samples": samples,
    })
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.first().map(String::as_str) {
        Some("run") => {
            // Another route of the same binary (`/widget.js`: a static answer, the floor of a hit).
            let path = flag(&args, "--path").unwrap_or_else(|| "/api/spotify".into());
            let urls: Vec<String> = flag(&args, "--urls")
                .expect("--urls")
                .split(',')
                .map(|u| format!("{}{path}", u.trim_end_matches('/')))
                .collect();
            let c = flag(&args, "--c").map_or(64, |v| v.parse().expect("--c"));
            let t = flag(&args, "--t").map_or(30.0, |v| v.parse().expect("--t"));
            run(urls, c, t).await
        }
        Some("coldstart") => {
            let bin = flag(&args, "--bin").expect("--bin");
            let runs = flag(&args, "--runs").map_or(5, |v| v.parse().expect("--runs"));
            coldstart(bin, runs).await
        }
        _ => {
            eprintln!("usage: loadgen run --urls U1,U2 --c 64 --t 30 | loadgen coldstart --bin PATH --runs 5 [--out FILE]");
            std::process::exit(2);
        }
    };
    let text = serde_json::to_string_pretty(&out).unwrap();
    match flag(&args, "--out") {
        Some(path) => std::fs::write(path, text + "\n").expect("write --out"),
        None => println!("{text}"),
    }
}
