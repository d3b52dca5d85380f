//! A bare DynamoDB `GetItem` loop with the service's own SDK configuration
//! ([`nowplaying::app::aws_config`]), for `scripts/bench`: the floor under a cache hit.
//!
//! ```text
//! getitem --table T [--key answer:now] [--n 500] [--c 1] [--out FILE]
//! ```
//!
//! Reads the key as the service does (consistent read), after a short warm-up so the connection
//! exists; `--c` workers share the `--n` calls, each worker one call after another. Prints
//! p50/p90/p99 in milliseconds as JSON.

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let table = flag(&args, "--table").expect("--table");
    let key = flag(&args, "--key").unwrap_or_else(|| "answer:now".into());
    let n: usize = flag(&args, "--n").map_or(500, |v| v.parse().expect("--n"));
    let c: usize = flag(&args, "--c").map_or(1, |v| v.parse().expect("--c"));

    let config = nowplaying::app::aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let get = |client: aws_sdk_dynamodb::Client, table: String, key: String| async move {
        let start = Instant::now();
        let out = client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(key))
            .consistent_read(true)
            .send()
            .await;
        (start.elapsed().as_micros() as u64, out.is_ok())
    };
    for _ in 0..10 {
        get(client.clone(), table.clone(), key.clone()).await;
    }
    let started = Instant::now();
    let workers: Vec<_> = (0..c)
        .map(|w| {
            let (client, table, key) = (client.clone(), table.clone(), key.clone());
            let calls = n / c + usize::from(w < n % c);
            tokio::spawn(async move {
                let mut us = Vec::with_capacity(calls);
                let mut errors = 0u64;
                for _ in 0..calls {
                    let (t, ok) = get(client.clone(), table.clone(), key.clone()).await;
                    us.push(t);
                    errors += u64::from(!ok);
                }
                (us, errors)
            })
        })
        .collect();
    let mut us = Vec::with_capacity(n);
    let mut errors = 0;
    for w in workers {
        let (u, e) = w.await.expect("worker");
        us.extend(u);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    us.sort_unstable();
    let pct = |p: f64| {
        let rank = ((p / 100.0) * us.len() as f64).ceil().max(1.0) as usize;
        us[rank.min(us.len()) - 1] as f64 / 1000.0
    };
    let out = json!({
        "n": us.len(),
        "c": c,
        "errors": errors,
        "per_s": us.len() as f64 / seconds,
        "p50_ms": pct(50.0),
        "p90_ms": pct(90.0),
        "p99_ms": pct(99.0),
        "max_ms": us.last().map(|m| *m as f64 / 1000.0),
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    match flag(&args, "--out") {
        Some(path) => std::fs::write(path, text + "\n").expect("write --out"),
        None => println!("{text}"),
    }
}
