//! The server as a process: durability across `kill -9`, clean shutdown, one server per data
//! directory, and in-memory mode leaving nothing behind.

mod common;

use common::{spawn, Dynarock};
use serde_json::json;

fn create_table(server: &Dynarock, name: &str) {
    let (status, body) = server.call(
        "CreateTable",
        json!({
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]
        }),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    writes_survive_kill_9(&[]);
}

#[test]
fn acknowledged_writes_survive_kill_9_in_sync_mode() {
    writes_survive_kill_9(&["--sync"]);
}

fn writes_survive_kill_9(flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start_with(&data, flags);
    create_table(&server, "durable");
    let port = server.port;
    // Concurrent writers; every write that got a 200 must be there after the crash.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| {
                        let p = format!("w{w}-{i}");
                        let (status, body) = common::call(
                            port,
                            "PutItem",
                            json!({"TableName": "durable", "Item": {"p": {"S": p}, "n": {"N": i.to_string()}}}),
                        );
                        assert_eq!(status, 200, "{body}");
                        p
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let written: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    server.kill_9();

    let server = Dynarock::start(&data);
    for p in &written {
        let (status, body) = server.call(
            "GetItem",
            json!({"TableName": "durable", "Key": {"p": {"S": p}}, "ConsistentRead": true}),
        );
        assert_eq!(status, 200);
        assert_eq!(body["Item"]["p"]["S"], json!(p), "lost {p}");
    }
    let (_, d) = server.call("DescribeTable", json!({"TableName": "durable"}));
    assert_eq!(d["Table"]["ItemCount"], json!(written.len()));
}

#[test]
fn transactions_survive_kill_9_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start(&data);
    create_table(&server, "ledger");
    let port = server.port;
    // Each transaction writes four items; the server is killed while they stream in.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let puts: Vec<_> = ["a", "b", "c", "d"]
                        .iter()
                        .map(|s| json!({"Put": {"TableName": "ledger", "Item": {"p": {"S": format!("t{w}-{i}-{s}")}}}}))
                        .collect();
                    match common::try_call(port, "TransactWriteItems", json!({"TransactItems": puts})) {
                        Ok((200, _)) => acknowledged.push(i),
                        // Past the table's quota a transaction is cancelled whole: it must
                        // then be absent, like any transaction not acknowledged.
                        Ok((400, body)) if body.to_string().contains("ThrottlingError") => {}
                        Ok((status, body)) => panic!("{status} {body}"),
                        Err(_) => return (acknowledged, i),
                    }
                }
                unreachable!()
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(700));
    server.kill_9();
    let outcomes: Vec<(Vec<u32>, u32)> = writers.into_iter().map(|w| w.join().unwrap()).collect();

    let server = Dynarock::start(&data);
    let mut present = std::collections::HashSet::new();
    let mut request = json!({"TableName": "ledger"});
    loop {
        let (_, page) = server.call("Scan", request.clone());
        for item in page["Items"].as_array().unwrap() {
            present.insert(item["p"]["S"].as_str().unwrap().to_string());
        }
        match page.get("LastEvaluatedKey") {
            Some(last) => request["ExclusiveStartKey"] = last.clone(),
            None => break,
        }
    }
    let mut acked_total = 0;
    for (w, (acknowledged, attempted)) in outcomes.iter().enumerate() {
        acked_total += acknowledged.len();
        for i in 0..=*attempted {
            let parts = ["a", "b", "c", "d"].map(|s| present.contains(&format!("t{w}-{i}-{s}")));
            assert!(
                parts.iter().all(|p| *p) || parts.iter().all(|p| !p),
                "transaction {w}-{i} half applied: {parts:?}"
            );
            if acknowledged.contains(&i) {
                assert!(parts[0], "acknowledged transaction {w}-{i} lost");
            }
        }
    }
    assert!(acked_total > 0, "the crash came before any transaction");
}

/// Polls `done` for up to ten seconds.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    (0..500).any(|_| {
        done() || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            false
        }
    })
}

#[test]
fn backups_and_restores_end_complete_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start(&data);
    create_table(&server, "big");
    let count = 3000;
    for first in (0..count).step_by(25) {
        let puts: Vec<_> = (first..first + 25)
            .map(|i| json!({"PutRequest": {"Item": {"p": {"S": format!("k{i}")}, "v": {"S": "x".repeat(200)}}}}))
            .collect();
        let (status, body) = server.call("BatchWriteItem", json!({"RequestItems": {"big": puts}}));
        assert_eq!(
            (status, &body["UnprocessedItems"]),
            (200, &json!({})),
            "{body}"
        );
    }
    // Killed while the backup is being taken.
    let (status, body) = server.call(
        "CreateBackup",
        json!({"TableName": "big", "BackupName": "crash"}),
    );
    assert_eq!(status, 200, "{body}");
    let arn = body["BackupDetails"]["BackupArn"].clone();
    server.kill_9();

    let server = Dynarock::start(&data);
    let described = || server.call("DescribeBackup", json!({"BackupArn": arn})).1;
    assert!(eventually(|| described()["BackupDescription"]
        ["BackupDetails"]["BackupStatus"]
        == "AVAILABLE"));
    assert_eq!(
        described()["BackupDescription"]["SourceTableDetails"]["ItemCount"],
        json!(count)
    );
    // Killed while a table is being restored.
    let (status, body) = server.call(
        "RestoreTableFromBackup",
        json!({"TargetTableName": "again", "BackupArn": arn}),
    );
    assert_eq!(status, 200, "{body}");
    server.kill_9();

    let server = Dynarock::start(&data);
    let table = || {
        server
            .call("DescribeTable", json!({"TableName": "again"}))
            .1
    };
    assert!(eventually(|| table()["Table"]["TableStatus"] == "ACTIVE"));
    assert_eq!(table()["Table"]["ItemCount"], json!(count));
    for i in [0, count / 2, count - 1] {
        let (_, got) = server.call(
            "GetItem",
            json!({"TableName": "again", "Key": {"p": {"S": format!("k{i}")}}}),
        );
        assert_eq!(got["Item"]["v"]["S"], json!("x".repeat(200)), "k{i}");
    }
    let (_, scanned) = server.call("Scan", json!({"TableName": "again", "Select": "COUNT"}));
    assert_eq!(scanned["Count"], json!(count));
}

#[test]
fn a_point_in_time_restore_ends_complete_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start(&data);
    create_table(&server, "history");
    let (status, body) = server.call(
        "UpdateContinuousBackups",
        json!({"TableName": "history", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}}),
    );
    assert_eq!(status, 200, "{body}");
    let write_all = |value: &str, range: std::ops::Range<usize>| {
        for first in range.step_by(25) {
            let puts: Vec<_> = (first..first + 25)
                .map(|i| json!({"PutRequest": {"Item": {"p": {"S": format!("k{i}")}, "v": {"S": value}}}}))
                .collect();
            let (status, body) =
                server.call("BatchWriteItem", json!({"RequestItems": {"history": puts}}));
            assert_eq!(
                (status, &body["UnprocessedItems"]),
                (200, &json!({})),
                "{body}"
            );
        }
    };
    let count = 2000;
    write_all("before", 0..count);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let instant = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    std::thread::sleep(std::time::Duration::from_millis(5));
    write_all("after", 0..count / 2);
    // Killed while the table is restored to the instant before the second writes.
    let (status, body) = server.call(
        "RestoreTableToPointInTime",
        json!({"SourceTableName": "history", "TargetTableName": "then", "RestoreDateTime": instant}),
    );
    assert_eq!(status, 200, "{body}");
    server.kill_9();

    let server = Dynarock::start(&data);
    let table = || server.call("DescribeTable", json!({"TableName": "then"})).1;
    assert!(eventually(|| table()["Table"]["TableStatus"] == "ACTIVE"));
    assert_eq!(table()["Table"]["ItemCount"], json!(count));
    let (_, scanned) = server.call(
        "Scan",
        json!({"TableName": "then", "FilterExpression": "v = :v",
               "ExpressionAttributeValues": {":v": {"S": "before"}}, "Select": "COUNT"}),
    );
    assert_eq!(scanned["Count"], json!(count), "every item as it was then");
    // The source's history survived the crash too.
    let (_, pitr) = server.call("DescribeContinuousBackups", json!({"TableName": "history"}));
    let window = &pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
    assert_eq!(window["PointInTimeRecoveryStatus"], "ENABLED");
    assert!(window["EarliestRestorableDateTime"].as_f64().unwrap() < instant);
}

#[test]
fn an_import_ends_complete_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The default S3 folder is `s3` in the data directory; one bucket, one file of rows.
    let bucket = data.join("s3").join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    // Big enough that the kill comes while rows are still being written.
    let count = 100_000;
    let rows: String = (0..count)
        .map(|i| {
            format!(
                "{{\"Item\":{{\"p\":{{\"S\":\"k{i}\"}},\"v\":{{\"S\":\"{}\"}}}}}}\n",
                "x".repeat(100)
            )
        })
        .collect();
    std::fs::write(bucket.join("rows.json"), rows).unwrap();
    let server = Dynarock::start(&data);
    let (status, body) = server.call(
        "ImportTable",
        json!({"S3BucketSource": {"S3Bucket": "bucket"}, "InputFormat": "DYNAMODB_JSON",
               "TableCreationParameters": {"TableName": "imported", "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]}}),
    );
    assert_eq!(status, 200, "{body}");
    let arn = body["ImportTableDescription"]["ImportArn"].clone();
    std::thread::sleep(std::time::Duration::from_millis(50));
    server.kill_9();

    let server = Dynarock::start(&data);
    let described = || {
        server.call("DescribeImport", json!({"ImportArn": arn})).1["ImportTableDescription"].clone()
    };
    assert!(
        eventually(|| described()["ImportStatus"] == "COMPLETED"),
        "{}",
        described()
    );
    assert_eq!(described()["ImportedItemCount"], json!(count));
    assert_eq!(described()["ErrorCount"], json!(0));
    let (_, table) = server.call("DescribeTable", json!({"TableName": "imported"}));
    assert_eq!(table["Table"]["TableStatus"], "ACTIVE");
    assert_eq!(table["Table"]["ItemCount"], json!(count));
}

#[test]
fn ttl_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start(&data);
    create_table(&server, "expiring");
    let (status, body) = server.call(
        "UpdateTimeToLive",
        json!({"TableName": "expiring", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
    );
    assert_eq!(status, 200, "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Expires while the server is down; lives on; has no usable expiry.
    for (p, exp) in [
        ("soon", json!({"N": (now + 2).to_string()})),
        ("later", json!({"N": (now + 3600).to_string()})),
        ("never", json!({"S": "0"})),
    ] {
        let (status, _) = server.call(
            "PutItem",
            json!({"TableName": "expiring", "Item": {"p": {"S": p}, "exp": exp}}),
        );
        assert_eq!(status, 200);
    }
    server.kill_9();
    std::thread::sleep(std::time::Duration::from_secs(3));

    let server = Dynarock::start(&data);
    let present = |p: &str| {
        let (_, body) = server.call(
            "GetItem",
            json!({"TableName": "expiring", "Key": {"p": {"S": p}}}),
        );
        body.get("Item").is_some()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while present("soon") {
        assert!(
            std::time::Instant::now() < deadline,
            "an expired item was kept"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(present("later") && present("never"));
}

#[test]
fn sigterm_shuts_down_cleanly_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Dynarock::start(&data);
    create_table(&server, "kept");
    server.call(
        "PutItem",
        json!({"TableName": "kept", "Item": {"p": {"S": "x"}}}),
    );
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");

    let server = Dynarock::start(&data);
    let (_, body) = server.call(
        "GetItem",
        json!({"TableName": "kept", "Key": {"p": {"S": "x"}}}),
    );
    assert_eq!(body["Item"]["p"]["S"], "x");
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_without_waiting_for_them() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Dynarock::start(&dir.path().join("data"));
    // A client that made a request and keeps its connection open, as SDK pools do.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));

    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(server.terminate()));
    let (status, log) = finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the server kept running for an idle connection");
    assert!(status.success() && log.contains("stopped cleanly"), "{log}");
    idle.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    assert_eq!(idle.read(&mut answer).unwrap(), 0, "connection closed");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _first = Dynarock::start(&data);
    let (mut second, _) = spawn(&["--data-dir", data.to_str().unwrap()], dir.path());
    let status = second.wait().unwrap();
    assert!(!status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut second.stdout.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("in use by another dynarock server"), "{log}");
}

#[test]
fn in_memory_mode_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port) = spawn(&["--in-memory"], dir.path());
    let server = Dynarock { child, port };
    server.wait_ready();
    create_table(&server, "ephemeral");
    let (status, _) = server.terminate();
    assert!(status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_table_quota_is_enforced_per_region() {
    let dir = tempfile::tempdir().unwrap();
    let server = Dynarock::start_with(&dir.path().join("data"), &["--max-tables", "2"]);
    create_table(&server, "one");
    create_table(&server, "two");
    let (status, body) = server.call(
        "CreateTable",
        json!({
            "TableName": "three", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]
        }),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazonaws.dynamodb.v20120810#LimitExceededException"
    );
    // Deleting a table frees its place.
    let (status, _) = server.call("DeleteTable", json!({"TableName": "one"}));
    assert_eq!(status, 200);
    create_table(&server, "three");
}
