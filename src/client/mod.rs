//! Commands that drive a running server through its public APIs over HTTP, as any client
//! would (`dynarock logs`, `dynarock mappings`).

pub mod logs;
pub mod mappings;

use serde_json::Value;

/// A request to `endpoint`'s `path`. The server checks a request's signature shape, so it
/// carries a well-formed SigV4 header for `service` in `region`.
fn request(method: &str, endpoint: &str, path: &str, region: &str, service: &str) -> ureq::Request {
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=dynarock/{}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        &date[..8]
    );
    ureq::request(method, &format!("{}{path}", endpoint.trim_end_matches('/')))
        .set("X-Amz-Date", &date)
        .set("Authorization", &auth)
}

/// A JSON 1.1 call (`X-Amz-Target: <target>`).
pub fn call_json11(
    endpoint: &str,
    region: &str,
    service: &str,
    target: &str,
    body: &Value,
) -> Result<Value, String> {
    let response = request("POST", endpoint, "/", region, service)
        .set("Content-Type", "application/x-amz-json-1.1")
        .set("X-Amz-Target", target)
        .send_string(&body.to_string());
    answer(endpoint, response)
}

/// A GET of a REST path.
pub fn get(endpoint: &str, region: &str, service: &str, path: &str) -> Result<Value, String> {
    answer(
        endpoint,
        request("GET", endpoint, path, region, service).call(),
    )
}

/// The JSON answer, or the service's error as `Code (HTTP status): message`.
fn answer(endpoint: &str, response: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
    let text = match response {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(status, r)) => {
            let body: Value =
                serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null);
            let code = body["__type"].as_str().unwrap_or("error");
            let message = body["message"]
                .as_str()
                .or(body["Message"].as_str())
                .unwrap_or("");
            return Err(format!("{code} (HTTP {status}): {message}"));
        }
        Err(e) => return Err(format!("cannot reach {endpoint}: {e}")),
    };
    serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))
}
