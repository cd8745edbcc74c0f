//! Runs the real `dynarock` binary and talks to it over HTTP, as a client would.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Dynarock {
    pub child: Child,
    pub port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn spawn(args: &[&str], cwd: &Path) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dynarock"))
        .arg("serve")
        .args(["--port", &port.to_string(), "--log-level", "info"])
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dynarock");
    (child, port)
}

impl Dynarock {
    /// Starts a server on `data_dir` and waits until it answers.
    pub fn start(data_dir: &Path) -> Dynarock {
        Dynarock::start_with(data_dir, &[])
    }

    /// The same, with extra `serve` flags.
    pub fn start_with(data_dir: &Path, flags: &[&str]) -> Dynarock {
        let dir = data_dir.to_str().expect("utf-8 path");
        let mut args = vec!["--data-dir", dir];
        args.extend_from_slice(flags);
        let (child, port) = spawn(&args, data_dir.parent().unwrap_or(data_dir));
        let server = Dynarock { child, port };
        server.wait_ready();
        server
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ureq::get(&format!("http://127.0.0.1:{}/", self.port))
                .call()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("dynarock did not start");
    }

    /// Sends one operation; returns the HTTP status and the JSON body.
    pub fn call(&self, op: &str, body: Value) -> (u16, Value) {
        call(self.port, op, body)
    }

    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Sends SIGTERM and waits; returns the exit status and everything the server logged.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        use std::io::Read;
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let status = self.child.wait().expect("wait");
        let mut log = String::new();
        for pipe in [
            self.child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read>),
            self.child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read>),
        ]
        .into_iter()
        .flatten()
        {
            let mut pipe = pipe;
            pipe.read_to_string(&mut log).ok();
        }
        (status, log)
    }
}

impl Drop for Dynarock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A well-formed SigV4 header: the server checks its shape, not its signature.
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

pub fn call(port: u16, op: &str, body: Value) -> (u16, Value) {
    try_call(port, op, body).unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// Like `call`, with a transport failure (the server is gone) as an error.
pub fn try_call(port: u16, op: &str, body: Value) -> Result<(u16, Value), String> {
    let response = ureq::post(&format!("http://127.0.0.1:{port}/"))
        .set("Content-Type", "application/x-amz-json-1.0")
        .set("X-Amz-Target", &format!("DynamoDB_20120810.{op}"))
        .set("X-Amz-Date", "20260101T000000Z")
        .set("Authorization", AUTH)
        .send_string(&body.to_string());
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}
