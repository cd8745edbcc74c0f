//! Functions across crashes: definitions, code and queued asynchronous invocations survive
//! kill -9 of the server, and no instance outlives it.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use common::Dynarock;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

/// One Lambda REST call; returns the status and the JSON body (Null when empty).
fn lambda(server: &Dynarock, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = ureq::request(method, &format!("http://127.0.0.1:{}{path}", server.port))
        .set("X-Amz-Date", "20260101T000000Z")
        .set("Authorization", AUTH);
    let response = match body {
        Some(b) => request.send_string(&b.to_string()),
        None => request.call(),
    };
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A `provided` function whose bootstrap appends each event (one JSON line) to `$OUT` and
/// answers it (after 3 s when the event mentions `sleep`).
fn recorder_zip() -> String {
    let bootstrap = r#"#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  H="$(mktemp)"
  EVENT=$(curl -sS -D "$H" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
  printf '%s\n' "$EVENT" >> "$OUT"
  case "$EVENT" in *sleep*) sleep 3;; esac
  curl -sS -X POST "$API/invocation/$ID/response" -d '"ok"' >/dev/null
  rm -f "$H"
done
"#;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    w.start_file("bootstrap", options).expect("zip entry");
    w.write_all(bootstrap.as_bytes()).expect("zip write");
    let bytes = w.finish().expect("zip").into_inner();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn create_recorder(server: &Dynarock, name: &str, out: &std::path::Path) -> Value {
    let (status, created) = lambda(
        server,
        "POST",
        "/2015-03-31/functions",
        Some(json!({
            "FunctionName": name, "Runtime": "provided.al2023", "Handler": "x",
            "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": recorder_zip()},
            "Environment": {"Variables": {"OUT": out.to_str().expect("utf-8 path")}},
        })),
    );
    assert_eq!(status, 201, "{created}");
    created
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn functions_survive_kill_9_and_leave_no_instance_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = dir.path().join("events");
    let server = Dynarock::start(&data);
    let created = create_recorder(&server, "keeper", &out);
    let (status, _) = lambda(
        &server,
        "POST",
        "/2015-03-31/functions/keeper/versions",
        Some(json!({})),
    );
    assert_eq!(status, 201);
    let (status, _) = lambda(
        &server,
        "POST",
        "/2015-03-31/functions/keeper/invocations",
        Some(json!({"n": 1})),
    );
    assert_eq!(status, 200);
    assert_eq!(lines(&out), 1);
    server.kill_9();
    // The instance died with the server: its bootstrap no longer appends anything.
    wait_for("the orphaned instance to die", || {
        !instance_running(&created)
    });

    let server = Dynarock::start(&data);
    let (status, got) = lambda(&server, "GET", "/2015-03-31/functions/keeper", None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["Configuration"]["CodeSha256"], created["CodeSha256"],
        "{got}"
    );
    let (status, versions) = lambda(
        &server,
        "GET",
        "/2015-03-31/functions/keeper/versions",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(versions["Versions"].as_array().map(Vec::len), Some(2));
    let (status, _) = lambda(
        &server,
        "POST",
        "/2015-03-31/functions/keeper/invocations?Qualifier=1",
        Some(json!({"n": 2})),
    );
    assert_eq!(status, 200);
    assert_eq!(lines(&out), 2);
}

/// True while a process whose environment names this function's code runs.
fn instance_running(created: &Value) -> bool {
    let name = created["FunctionName"].as_str().unwrap_or_default();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("environ")).ok())
        .any(|env| {
            env.split(|b| *b == 0)
                .any(|var| var == format!("AWS_LAMBDA_FUNCTION_NAME={name}").as_bytes())
        })
}

#[test]
fn queued_invocations_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = dir.path().join("events");
    let server = Dynarock::start(&data);
    create_recorder(&server, "queued", &out);
    // With no concurrency the events stay queued (throttled, not failed).
    let (status, _) = lambda(
        &server,
        "PUT",
        "/2017-10-31/functions/queued/concurrency",
        Some(json!({"ReservedConcurrentExecutions": 0})),
    );
    assert_eq!(status, 200);
    for n in 0..20 {
        let request = ureq::post(&format!(
            "http://127.0.0.1:{}/2015-03-31/functions/queued/invocations",
            server.port
        ))
        .set("X-Amz-Date", "20260101T000000Z")
        .set("Authorization", AUTH)
        .set("X-Amz-Invocation-Type", "Event");
        let response = request
            .send_string(&json!({ "n": n }).to_string())
            .expect("queue");
        assert_eq!(response.status(), 202);
    }
    server.kill_9();
    assert_eq!(lines(&out), 0);

    let server = Dynarock::start(&data);
    let (status, _) = lambda(
        &server,
        "DELETE",
        "/2017-10-31/functions/queued/concurrency",
        None,
    );
    assert_eq!(status, 204);
    wait_for("every queued event to run", || lines(&out) >= 20);
    let seen: std::collections::BTreeSet<i64> = std::fs::read_to_string(&out)
        .expect("events")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["n"].as_i64())
        .collect();
    assert_eq!(seen, (0..20).collect());
}

#[test]
fn a_busy_function_never_blocks_dynamodb_and_sigterm_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = dir.path().join("events");
    let server = Dynarock::start(&data);
    let created = create_recorder(&server, "busy", &out);
    let port = server.port;
    let slow = std::thread::spawn(move || {
        let body = json!({"sleep": 3}).to_string();
        ureq::post(&format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/busy/invocations"
        ))
        .set("X-Amz-Date", "20260101T000000Z")
        .set("Authorization", AUTH)
        .send_string(&body)
        .map(|r| r.status())
        .map_err(|e| e.to_string())
    });
    wait_for("the function to start", || instance_running(&created));
    for _ in 0..50 {
        let started = Instant::now();
        let (status, _) = server.call("ListTables", json!({}));
        assert_eq!(status, 200);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    assert_eq!(slow.join().expect("invoker").expect("invoke"), 200);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(!instance_running(&created));
}

/// Writes `(key, n)` items from `next` on until `until` or the server stops answering; returns
/// the writes it saw acknowledged.
fn write_counters(port: u16, table: &str, range: std::ops::Range<u64>) -> Vec<(u64, u64)> {
    let mut acked = Vec::new();
    for i in range {
        let (key, n) = (i % 20, i / 20);
        let item = json!({"TableName": table, "Item": {"p": {"S": format!("k{key}")}, "n": {"N": n.to_string()}}});
        match common::try_call(port, "PutItem", item) {
            Ok((200, _)) => acked.push((key, n)),
            _ => break,
        }
    }
    acked
}

#[test]
fn a_mapping_delivers_every_acknowledged_write_across_kill_9_in_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = dir.path().join("events");
    let server = Dynarock::start(&data);
    let (status, body) = server.call(
        "CreateTable",
        json!({"TableName": "counters", "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
               "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}}),
    );
    assert_eq!(status, 200, "{body}");
    let stream = body["TableDescription"]["LatestStreamArn"].clone();
    let (status, created) = lambda(
        &server,
        "POST",
        "/2015-03-31/functions",
        Some(json!({
            "FunctionName": "appender", "Runtime": "provided.al2023", "Handler": "x",
            "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": recorder_zip()},
            "Environment": {"Variables": {"OUT": out.to_str().expect("utf-8 path")}},
        })),
    );
    assert_eq!(status, 201, "{created}");
    let (status, mapping) = lambda(
        &server,
        "POST",
        "/2015-03-31/event-source-mappings",
        Some(json!({"FunctionName": "appender", "EventSourceArn": stream,
                    "StartingPosition": "TRIM_HORIZON", "BatchSize": 100})),
    );
    assert_eq!(status, 202, "{mapping}");

    // Kill the server in the middle of the writes, from another thread.
    let port = server.port;
    let writer = std::thread::spawn(move || write_counters(port, "counters", 0..10_000));
    wait_for("some writes to be delivered", || lines(&out) >= 5);
    server.kill_9();
    let mut acked = writer.join().expect("writer");
    assert!(
        acked.len() < 10_000,
        "the server died before the writes ended"
    );

    let server = Dynarock::start(&data);
    let resumed = acked.len() as u64;
    acked.extend(write_counters(server.port, "counters", resumed..10_000));
    assert_eq!(acked.len(), 10_000);

    let delivered = || -> Vec<(u64, u64)> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .flat_map(|event| event["Records"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| {
                let image = &r["dynamodb"]["NewImage"];
                let key = image["p"]["S"].as_str()?.strip_prefix('k')?.parse().ok()?;
                let n = image["n"]["N"].as_str()?.parse().ok()?;
                Some((key, n))
            })
            .collect()
    };
    wait_for("every acknowledged write to be delivered", || {
        let seen: std::collections::HashSet<(u64, u64)> = delivered().into_iter().collect();
        acked.iter().all(|w| seen.contains(w))
    });
    // Per key, in order: a record may come again (the batch in flight at the crash), but
    // nothing new arrives before an older record of its key.
    let all = delivered();
    let mut next: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut duplicates = 0;
    for (key, n) in &all {
        let expected = next.entry(*key).or_insert(0);
        if *n < *expected {
            duplicates += 1;
        } else {
            assert_eq!(*n, *expected, "key {key}: {n} arrived before {expected}");
            *expected += 1;
        }
    }
    assert!(
        duplicates <= 100,
        "{duplicates} records came twice: more than a batch"
    );
    eprintln!("acknowledged before the crash: {resumed}, delivered twice: {duplicates}");
    let (status, got) = lambda(
        &server,
        "GET",
        &format!(
            "/2015-03-31/event-source-mappings/{}",
            mapping["UUID"].as_str().unwrap_or_default()
        ),
        None,
    );
    assert_eq!((status, got["State"].as_str()), (200, Some("Enabled")));
}

/// Moves a manual-clock server's clock.
fn set_clock(server: &Dynarock, to: &str) {
    let response = ureq::post(&format!("http://127.0.0.1:{}/dynarock/clock", server.port))
        .send_string(&json!({ "set": to }).to_string())
        .expect("clock");
    assert_eq!(response.status(), 200);
}

fn events_call(server: &Dynarock, op: &str, body: Value) {
    let response = ureq::post(&format!("http://127.0.0.1:{}/", server.port))
        .set("Content-Type", "application/x-amz-json-1.1")
        .set("X-Amz-Target", &format!("AWSEvents.{op}"))
        .set("X-Amz-Date", "20260101T000000Z")
        .set("Authorization", AUTH)
        .send_string(&body.to_string())
        .unwrap_or_else(|e| panic!("{op}: {e}"));
    assert_eq!(response.status(), 200, "{op}");
}

/// The (scheduled time, firing id) of each event the recorder saw, in order.
fn fired(out: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["time"].as_str()?.to_string(),
                v["id"].as_str()?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn a_restart_never_fires_a_scheduled_instant_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = dir.path().join("events");
    let server = Dynarock::start_with(&data, &["--manual-clock"]);
    set_clock(&server, "2031-01-01T00:00:30Z");
    create_recorder(&server, "ticker", &out);
    events_call(
        &server,
        "PutRule",
        json!({"Name": "tick", "ScheduleExpression": "cron(* * * * ? *)"}),
    );
    events_call(
        &server,
        "PutTargets",
        json!({"Rule": "tick", "Targets": [{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:ticker"}]}),
    );
    set_clock(&server, "2031-01-01T00:03:30Z");
    wait_for("three firings", || fired(&out).len() >= 3);
    server.kill_9();

    // The restarted clock reads the real time again, long before the last firing.
    let server = Dynarock::start_with(&data, &["--manual-clock"]);
    set_clock(&server, "2031-01-01T00:05:30Z");
    let expected =
        ["00:01", "00:02", "00:03", "00:04", "00:05"].map(|t| format!("2031-01-01T{t}:00Z"));
    let firings = || {
        let mut ids: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for (time, id) in fired(&out) {
            ids.entry(time).or_default().insert(id);
        }
        ids
    };
    wait_for("two more firings", || firings().len() >= 5);
    std::thread::sleep(Duration::from_millis(300));
    // Each instant fired once: one envelope id each. (Queued invocations run in any order, and
    // one in flight at the crash may run again with the same id: Lambda's at-least-once.)
    let firings = firings();
    assert_eq!(firings.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(firings.values().all(|ids| ids.len() == 1), "{firings:?}");
}
