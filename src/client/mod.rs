//! Commands that drive a running server through its public APIs over HTTP, as any client
//! would (`dynarock logs`; later `dynarock deploy`).

pub mod logs;

use serde_json::Value;

/// A JSON 1.1 call (`X-Amz-Target: <target>`) to `endpoint`. The server checks a request's
/// signature shape, so it carries a well-formed SigV4 header for `service` in `region`.
pub fn call_json11(
    endpoint: &str,
    region: &str,
    service: &str,
    target: &str,
    body: &Value,
) -> Result<Value, String> {
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=dynarock/{}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        &date[..8]
    );
    let response = ureq::post(&format!("{}/", endpoint.trim_end_matches('/')))
        .set("Content-Type", "application/x-amz-json-1.1")
        .set("X-Amz-Target", target)
        .set("X-Amz-Date", &date)
        .set("Authorization", &auth)
        .send_string(&body.to_string());
    let text = match response {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(status, r)) => {
            let body: Value =
                serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null);
            let code = body["__type"].as_str().unwrap_or("error");
            let message = body["message"].as_str().unwrap_or("");
            return Err(format!("{code} (HTTP {status}): {message}"));
        }
        Err(e) => return Err(format!("cannot reach {endpoint}: {e}")),
    };
    serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))
}
