//! dynarock's load generator, for any DynamoDB endpoint: creates and preloads its tables, runs a
//! workload closed-loop (each connection sends its next request when the last one answered) or
//! open-loop at a fixed rate (latency measured from when a request was due, so a stalled server
//! cannot hide its stall: no coordinated omission), signs every request with SigV4, and reports
//! req/s, latency percentiles and errors, optionally as JSON.

mod client;
mod keys;
mod sigv4;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use client::Client;
use keys::{Keys, Zipfian};

// The client shares the cores with the server under test: the cheaper its requests, the less it
// bounds the measurement.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    Put,
    Get,
    /// Query of one partition of 10 items.
    Query,
    /// UpdateItem `SET n = n + :one`.
    Update,
    /// BatchWriteItem of 25 items.
    BatchWrite,
    /// 90% GetItem, 10% PutItem.
    Mix,
    /// YCSB A: 50% read, 50% update.
    YcsbA,
    /// YCSB B: 95% read, 5% update.
    YcsbB,
    /// YCSB C: reads only.
    YcsbC,
    /// YCSB D: 95% read of recent inserts, 5% insert.
    YcsbD,
    /// YCSB E: 95% short range scans (Query with Limit 1-100), 5% insert.
    YcsbE,
    /// YCSB F: 50% read, 50% read-modify-write.
    YcsbF,
    /// Lambda Invoke (synchronous) of `--function`, which must exist: setup creates nothing.
    Invoke,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Distribution {
    Uniform,
    Zipfian,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Load generator for DynamoDB-compatible endpoints")]
struct Args {
    /// Endpoint, e.g. http://127.0.0.1:8000
    endpoint: String,
    #[arg(long, value_enum, default_value = "get")]
    workload: Workload,
    #[arg(long, value_enum, default_value = "uniform")]
    distribution: Distribution,
    /// Items in the key-value table (and partitions x 10 in the query table / 100 for YCSB E).
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// Approximate item size in bytes.
    #[arg(long, default_value_t = 200)]
    item_size: usize,
    /// Concurrent connections, each with at most one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Threads the connections share.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Total requests per second, open-loop; 0 runs closed-loop as fast as answers come.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Skip creating and preloading the tables.
    #[arg(long)]
    no_setup: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<String>,
    /// The function the `invoke` workload calls.
    #[arg(long, default_value = "loadgen_fn")]
    function: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "AKIDLOADGEN")]
    access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", default_value = "loadgen-secret")]
    secret_key: String,
}

const KV: &str = "loadgen_kv";
const Q: &str = "loadgen_q";

/// Whether a BatchWriteItem answer left nothing unprocessed.
fn all_processed(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("UnprocessedItems")?.as_object().map(|m| m.is_empty()))
        .unwrap_or(false)
}

/// Whether an answer is DynamoDB throttling the request (any of its three throttling
/// exceptions).
fn is_throttled(status: u16, body: &[u8]) -> bool {
    let answer = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let kinds = [
        "ProvisionedThroughputExceeded",
        "Throttling",
        "RequestLimitExceeded",
    ];
    let kind = answer["__type"].as_str().unwrap_or_default();
    status == 400 && kinds.iter().any(|k| kind.contains(k))
}

/// What a BatchWriteItem answer says is left to send: `None` when everything was written,
/// the next request's body otherwise (its `UnprocessedItems`, or the same body again when the
/// whole call was throttled). Anything else is an error.
fn left_to_write(status: u16, sent: String, body: &[u8]) -> Result<Option<String>, String> {
    let answer = serde_json::from_slice::<Value>(body).unwrap_or_default();
    match answer.get("UnprocessedItems").and_then(Value::as_object) {
        Some(left) if status == 200 && left.is_empty() => Ok(None),
        Some(left) if status == 200 => Ok(Some(json!({ "RequestItems": left }).to_string())),
        _ if is_throttled(status, body) => Ok(Some(sent)),
        _ => Err(format!(
            "preload: {status} {}",
            String::from_utf8_lossy(body)
        )),
    }
}

// Request bodies are written as JSON text directly: building `Value`s cost the client more than
// the server spends parsing them. Keys and payloads are letters and digits, never escaped.

fn kv_key(i: u64) -> String {
    format!(r#"{{"pk":{{"S":"k{i:010}"}}}}"#)
}

fn payload(size: usize, rng: &mut impl Rng) -> String {
    (0..size.saturating_sub(30))
        .map(|_| rng.gen_range(b'a'..=b'z') as char)
        .collect()
}

fn kv_item(i: u64, size: usize, rng: &mut impl Rng) -> String {
    let n = rng.gen_range(0..1_000_000);
    let data = payload(size, rng);
    format!(r#"{{"pk":{{"S":"k{i:010}"}},"n":{{"N":"{n}"}},"data":{{"S":"{data}"}}}}"#)
}

/// A BatchWriteItem body putting `items` into `table`.
fn batch_write(table: &str, items: impl Iterator<Item = String>) -> String {
    let puts: Vec<String> = items
        .map(|item| format!(r#"{{"PutRequest":{{"Item":{item}}}}}"#))
        .collect();
    format!(r#"{{"RequestItems":{{"{table}":[{}]}}}}"#, puts.join(","))
}

/// Creates the tables if missing and loads them with BatchWriteItem from all connections.
async fn setup(args: &Arc<Args>, client: &Client) -> Result<(), String> {
    let mut connection = client.connection();
    for (name, keys) in [
        (KV, vec![("pk", "HASH")]),
        (Q, vec![("pk", "HASH"), ("sk", "RANGE")]),
    ] {
        let schema: Vec<Value> = keys
            .iter()
            .map(|(n, t)| json!({"AttributeName": n, "KeyType": t}))
            .collect();
        let defs: Vec<Value> = keys
            .iter()
            .map(|(n, _)| json!({"AttributeName": n, "AttributeType": if *n == "sk" { "N" } else { "S" }}))
            .collect();
        let create = json!({"TableName": name, "KeySchema": schema, "AttributeDefinitions": defs,
                            "BillingMode": "PAY_PER_REQUEST"});
        let (status, body) = connection.call("CreateTable", create.to_string()).await?;
        let body = String::from_utf8_lossy(&body);
        if status != 200 && !body.contains("ResourceInUseException") {
            return Err(format!("CreateTable {name}: {status} {body}"));
        }
        for _ in 0..600 {
            let describe = json!({"TableName": name}).to_string();
            let (_, d) = connection.call("DescribeTable", describe).await?;
            let table = serde_json::from_slice::<Value>(&d).unwrap_or_default();
            if table["Table"]["TableStatus"] == "ACTIVE" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let started = Instant::now();
    let partitions = (args.items / 10).max(1);
    let batches: u64 = args.items.div_ceil(25) + (partitions * 10).div_ceil(25);
    let loaders: Vec<_> = (0..args.concurrency as u64)
        .map(|t| {
            let (args, client) = (args.clone(), client.clone());
            tokio::spawn(async move {
                let mut connection = client.connection();
                let mut rng = StdRng::seed_from_u64(t);
                let kv_batches = args.items.div_ceil(25);
                for b in (t..batches).step_by(args.concurrency) {
                    let body = if b < kv_batches {
                        let items = (b * 25..((b + 1) * 25).min(args.items))
                            .map(|i| kv_item(i, args.item_size, &mut rng));
                        batch_write(KV, items)
                    } else {
                        let first = (b - kv_batches) * 25;
                        let items = (first..(first + 25).min(partitions * 10)).map(|i| {
                            let (p, s, data) = (i / 10, i % 10, payload(args.item_size, &mut rng));
                            format!(r#"{{"pk":{{"S":"p{p:08}"}},"sk":{{"N":"{s}"}},"data":{{"S":"{data}"}}}}"#)
                        });
                        batch_write(Q, items)
                    };
                    // Throttled writes are sent again after a pause, as an SDK's batch
                    // writer does.
                    let mut next = Some(body);
                    while let Some(body) = next.take() {
                        let (status, answer) =
                            connection.call("BatchWriteItem", body.clone()).await?;
                        next = left_to_write(status, body, &answer)?;
                        if next.is_some() {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for loader in loaders {
        loader
            .await
            .map_err(|_| "preload task panicked".to_string())??;
    }
    eprintln!(
        "preloaded {} + {} items in {:.1} s",
        args.items,
        partitions * 10,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The requests of one workload step (YCSB F's read-modify-write is two).
fn step(
    args: &Args,
    keys: &Keys,
    inserted: &std::sync::atomic::AtomicU64,
    rng: &mut StdRng,
) -> Vec<(&'static str, String)> {
    let read = |k: u64| {
        let key = kv_key(k);
        ("GetItem", format!(r#"{{"TableName":"{KV}","Key":{key}}}"#))
    };
    let update = |k: u64| {
        let key = kv_key(k);
        let body = format!(
            r#"{{"TableName":"{KV}","Key":{key},"UpdateExpression":"SET n = n + :one","ExpressionAttributeValues":{{":one":{{"N":"1"}}}}}}"#
        );
        ("UpdateItem", body)
    };
    let put = |k: u64, rng: &mut StdRng| {
        let item = kv_item(k, args.item_size, rng);
        (
            "PutItem",
            format!(r#"{{"TableName":"{KV}","Item":{item}}}"#),
        )
    };
    let insert = |rng: &mut StdRng| {
        let k = inserted.fetch_add(1, Ordering::Relaxed);
        put(k, rng)
    };
    let query = |p: u64, limit: Option<u64>| {
        let limit = limit
            .map(|l| format!(r#","Limit":{l}"#))
            .unwrap_or_default();
        let body = format!(
            r#"{{"TableName":"{Q}","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{{":p":{{"S":"p{p:08}"}}}}{limit}}}"#
        );
        ("Query", body)
    };
    let roll: f64 = rng.gen();
    let k = keys.next(rng);
    match args.workload {
        Workload::Put => vec![put(k, rng)],
        Workload::Get | Workload::YcsbC => vec![read(k)],
        Workload::Query => vec![query(k % (args.items / 10).max(1), None)],
        Workload::Update => vec![update(k)],
        Workload::BatchWrite => {
            let items =
                (0..25u64).map(|i| kv_item((k + i * 3989) % args.items, args.item_size, rng));
            vec![("BatchWriteItem", batch_write(KV, items))]
        }
        Workload::Mix => vec![if roll < 0.9 { read(k) } else { put(k, rng) }],
        Workload::YcsbA => vec![if roll < 0.5 { read(k) } else { update(k) }],
        Workload::YcsbB => vec![if roll < 0.95 { read(k) } else { update(k) }],
        Workload::YcsbD => {
            if roll < 0.95 {
                // Recent items are the hot ones: count back from the newest insert.
                let newest = inserted.load(Ordering::Relaxed);
                vec![read(newest.saturating_sub(1 + k % 1000))]
            } else {
                vec![insert(rng)]
            }
        }
        Workload::YcsbE => {
            if roll < 0.95 {
                vec![query(
                    k % (args.items / 10).max(1),
                    Some(rng.gen_range(1..=100)),
                )]
            } else {
                vec![insert(rng)]
            }
        }
        Workload::YcsbF => {
            if roll < 0.5 {
                vec![read(k)]
            } else {
                vec![read(k), update(k)]
            }
        }
        Workload::Invoke => vec![(INVOKE, format!(r#"{{"n":{k}}}"#))],
    }
}

/// The step name of a Lambda invocation (not a DynamoDB operation).
const INVOKE: &str = "Invoke";

struct ConnectionResult {
    latencies: Histogram<u64>,
    requests: u64,
    /// Requests the server throttled (or batches it left partly unprocessed): the server's
    /// capacity limits at work, not failures.
    throttled: u64,
    errors: u64,
    first_error: Option<String>,
}

async fn run(args: &Arc<Args>, client: &Client) -> Result<Vec<ConnectionResult>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let inserted = Arc::new(std::sync::atomic::AtomicU64::new(args.items));
    let keys = Arc::new(match args.distribution {
        Distribution::Uniform => Keys::Uniform(args.items),
        Distribution::Zipfian => Keys::Zipfian(Zipfian::new(args.items)),
    });
    let start = Instant::now();
    let connections: Vec<_> = (0..args.concurrency)
        .map(|t| {
            let (args, client, stop, keys, inserted) = (
                args.clone(),
                client.clone(),
                stop.clone(),
                keys.clone(),
                inserted.clone(),
            );
            tokio::spawn(async move {
                let mut connection = client.connection();
                let mut rng = StdRng::seed_from_u64(1000 + t as u64);
                let mut result = ConnectionResult {
                    latencies: Histogram::new_with_bounds(1, 60_000_000, 3)
                        .expect("histogram bounds"),
                    requests: 0,
                    throttled: 0,
                    errors: 0,
                    first_error: None,
                };
                // Open loop: this connection's share of the rate, at evenly spaced due times.
                let interval = (args.rate > 0.0)
                    .then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
                let mut due = start;
                while !stop.load(Ordering::Relaxed) {
                    // A request is timed from when it was due if the connection was still busy
                    // then (the server's stall), else from when the timer let it go.
                    let sent = match interval {
                        Some(i) => {
                            due += i;
                            if due > Instant::now() {
                                tokio::time::sleep_until(due.into()).await;
                                Instant::now()
                            } else {
                                due
                            }
                        }
                        None => Instant::now(),
                    };
                    for (op, body) in step(&args, &keys, &inserted, &mut rng) {
                        let outcome = if op == INVOKE {
                            connection.invoke(&args.function, body).await
                        } else {
                            connection.call(op, body).await
                        };
                        result.requests += 1;
                        match &outcome {
                            Ok((200, b)) if op != "BatchWriteItem" || all_processed(b) => {}
                            Ok((200, _)) => result.throttled += 1,
                            Ok((status, b)) if is_throttled(*status, b) => result.throttled += 1,
                            _ => {
                                result.errors += 1;
                                result
                                    .first_error
                                    .get_or_insert_with(|| format!("{op}: {outcome:?}"));
                            }
                        }
                    }
                    let micros = sent.elapsed().as_micros().max(1) as u64;
                    result.latencies.saturating_record(micros);
                }
                result
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::with_capacity(connections.len());
    for connection in connections {
        results.push(
            connection
                .await
                .map_err(|_| "connection task panicked".to_string())?,
        );
    }
    Ok(results)
}

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {error}");
    std::process::exit(1);
}

fn main() {
    let args = Arc::new(Args::parse());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("cannot start the runtime", e));
    let client = Client::new(
        &args.endpoint,
        &args.access_key,
        &args.secret_key,
        &args.region,
    )
    .unwrap_or_else(|e| fail("bad endpoint", e));
    if !args.no_setup && args.workload != Workload::Invoke {
        runtime
            .block_on(setup(&args, &client))
            .unwrap_or_else(|e| fail("setup failed", e));
    }
    let started = Instant::now();
    let results = runtime
        .block_on(run(&args, &client))
        .unwrap_or_else(|e| fail("run failed", e));
    let seconds = started.elapsed().as_secs_f64();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let (mut requests, mut throttled, mut errors, mut first_error) = (0, 0, 0, None);
    for r in results {
        all.add(&r.latencies).expect("histograms share bounds");
        requests += r.requests;
        throttled += r.throttled;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
    }
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    let report = json!({
        "workload": format!("{:?}", args.workload), "distribution": format!("{:?}", args.distribution),
        "concurrency": args.concurrency, "rate": args.rate, "seconds": seconds, "requests": requests,
        "requests_per_second": requests as f64 / seconds, "throttled": throttled, "errors": errors,
        "latency_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p99.9": ms(0.999),
                       "max": all.max() as f64 / 1000.0},
    });
    println!(
        "{:?} {:?}: {:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, throttled {}, errors {}",
        args.workload,
        args.distribution,
        requests as f64 / seconds,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        all.max() as f64 / 1000.0,
        throttled,
        errors
    );
    if let Some(e) = first_error {
        eprintln!("first error: {e}");
    }
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, report.to_string()) {
            fail(&format!("cannot write {path}"), e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_workload_sends_the_requests_it_names() {
        let base = Args::parse_from(["loadgen", "http://localhost", "--items", "1000"]);
        for &workload in Workload::value_variants() {
            let args = Args {
                workload,
                ..base.clone()
            };
            let (keys, inserted) = (Keys::Uniform(1000), AtomicU64::new(1000));
            let mut rng = StdRng::seed_from_u64(7);
            for _ in 0..50 {
                for (op, body) in step(&args, &keys, &inserted, &mut rng) {
                    let v: Value = serde_json::from_str(&body)
                        .unwrap_or_else(|e| panic!("{workload:?} {op}: {e}: {body}"));
                    let key = |v: &Value| v["pk"]["S"].as_str().map(str::len);
                    match op {
                        "GetItem" | "UpdateItem" => {
                            assert_eq!(v["TableName"], KV);
                            assert_eq!(key(&v["Key"]), Some(11), "{body}");
                        }
                        "PutItem" => {
                            let item = &v["Item"];
                            assert_eq!(key(item), Some(11), "{body}");
                            assert!(item["n"]["N"].as_str().unwrap().parse::<u32>().is_ok());
                            assert_eq!(item["data"]["S"].as_str().unwrap().len(), 200 - 30);
                        }
                        "Query" => {
                            assert_eq!(v["TableName"], Q);
                            let p = &v["ExpressionAttributeValues"][":p"]["S"];
                            assert!(p.as_str().unwrap().starts_with('p'), "{body}");
                            if workload == Workload::YcsbE {
                                assert!((1..=100).contains(&v["Limit"].as_u64().unwrap()));
                            }
                        }
                        "BatchWriteItem" => {
                            let puts = v["RequestItems"][KV].as_array().unwrap();
                            assert_eq!(puts.len(), 25);
                            assert_eq!(key(&puts[0]["PutRequest"]["Item"]), Some(11));
                        }
                        INVOKE => assert!(v["n"].as_u64().unwrap() < 1000, "{body}"),
                        other => panic!("unexpected operation {other}"),
                    }
                }
            }
        }
    }
}
