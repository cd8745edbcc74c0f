//! A deployed stack across kill -9: its record, its HTTP API and the messages on its queue are
//! durable, so a redeploy after the crash changes nothing and the API still answers.

mod common;

use std::process::Command;

use serde_json::{json, Value};

use common::Dynarock;

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Notes:
    Type: AWS::Serverless::SimpleTable
  Failures:
    Type: AWS::SQS::Queue
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: unused
      CodeUri: hello/
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/hello/{who}", Method: get}
Outputs:
  Url: {Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/hello"}
  Queue: {Value: !Ref Failures}
"#;

/// A `provided` function answering every event with a fixed HTTP response.
const BOOTSTRAP: &str = r#"#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  ID=$(curl -sSi "$API/invocation/next" | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  curl -sS -X POST "$API/invocation/$ID/response" -d '{"statusCode": 200, "body": "hello"}' >/dev/null
done
"#;

fn deploy(server: &Dynarock, dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dynarock"))
        .args(["deploy", "template.yaml", "--stack-name", "crash"])
        .args(["--endpoint", &format!("http://127.0.0.1:{}", server.port)])
        .current_dir(dir)
        .output()
        .expect("run dynarock deploy");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn output(stdout: &str, name: &str) -> String {
    let prefix = format!("  {name} = ");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no output {name} in {stdout}"))
        .to_string()
}

fn sqs(server: &Dynarock, op: &str, body: Value) -> Value {
    let r = ureq::post(&format!("http://127.0.0.1:{}/", server.port))
        .set("Content-Type", "application/x-amz-json-1.0")
        .set("X-Amz-Target", &format!("AmazonSQS.{op}"))
        .set("X-Amz-Date", "20260101T000000Z")
        .set(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        )
        .send_string(&body.to_string())
        .unwrap_or_else(|e| panic!("{op}: {e}"));
    serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null)
}

#[test]
fn a_stack_its_api_and_its_queued_messages_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("hello")).expect("mkdir");
    std::fs::write(project.join("template.yaml"), TEMPLATE).expect("write template");
    let bootstrap = project.join("hello/bootstrap");
    std::fs::write(&bootstrap, BOOTSTRAP).expect("write bootstrap");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let data = dir.path().join("data");

    let server = Dynarock::start(&data);
    let first = deploy(&server, &project);
    let url = output(&first, "Url");
    let queue = output(&first, "Queue");
    assert_eq!(
        ureq::get(&format!("{url}/you"))
            .call()
            .expect("GET")
            .into_string()
            .unwrap(),
        "hello"
    );
    for i in 0..20 {
        sqs(
            &server,
            "SendMessage",
            json!({"QueueUrl": queue, "MessageBody": format!("m{i}")}),
        );
    }
    server.kill_9();

    let server = Dynarock::start(&data);
    let again = deploy(&server, &project);
    let changed: Vec<&str> = again
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains(" = ") && !l.contains("UNCHANGED"))
        .collect();
    assert!(
        changed.is_empty(),
        "a redeploy after the crash changed {changed:?}"
    );
    let (status, tables) = server.call("ListTables", json!({}));
    assert_eq!(status, 200);
    assert!(
        tables["TableNames"].to_string().contains("crash-Notes-"),
        "{tables}"
    );
    // The server listens on a new port: the outputs name it.
    let url = output(&again, "Url");
    let queue = output(&again, "Queue");
    assert_eq!(
        ureq::get(&format!("{url}/again"))
            .call()
            .expect("GET")
            .into_string()
            .unwrap(),
        "hello"
    );
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let got = sqs(
            &server,
            "ReceiveMessage",
            json!({"QueueUrl": queue, "MaxNumberOfMessages": 10}),
        );
        bodies.extend(
            got["Messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["Body"].as_str().unwrap_or("").to_string()),
        );
    }
    bodies.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(bodies, want);
    let (status, _) = server.terminate();
    assert!(status.success());
}
