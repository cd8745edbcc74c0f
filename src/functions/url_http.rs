//! What a function URL serves: an HTTP request becomes API Gateway's HTTP API payload 2.0
//! (the event function URLs send), and the function's answer becomes the HTTP response: an
//! object with `statusCode` gives the status, headers, cookies and body (base64 when
//! `isBase64Encoded`); any other answer is a 200 with it as the JSON body, as Lambda does.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::api::urls::URL_PREFIX;
use super::invoke::{resolve, Request};
use super::model::LATEST;
use super::Functions;

/// The largest request body a function URL takes (Lambda's synchronous payload limit).
const MAX_BODY: usize = 6 * 1024 * 1024;

fn plain(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "Message": message }))).into_response()
}

/// Content types whose bodies go to the function as text; others are base64.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(t) = content_type else { return true };
    let t = t.to_ascii_lowercase();
    t.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "yaml",
            "csv",
        ]
        .iter()
        .any(|k| t.contains(k))
}

pub async fn serve(
    State(state): State<Arc<Functions>>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = params.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let (name, q) = match target.split_once(':') {
        Some((n, q)) => (n.to_string(), q.to_string()),
        None => (target.clone(), LATEST.to_string()),
    };
    let region = state.settings.region.clone();
    let Some(function) = state
        .registry
        .get(&region, &name)
        .filter(|f| f.urls.contains_key(&q))
    else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    if function.urls[&q].auth_type != "NONE" {
        // AWS_IAM URLs need signed requests: refused until signatures are verified here.
        return plain(StatusCode::FORBIDDEN, "Forbidden");
    }
    let version = match resolve(&function, (q != LATEST).then_some(q.as_str())) {
        Ok(v) => v.clone(),
        Err(_) => return plain(StatusCode::NOT_FOUND, "Not Found"),
    };
    if body.len() > MAX_BODY {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes",
        );
    }
    let event = http_event(
        &target,
        &method,
        &uri,
        &headers,
        &body,
        state.engine.clock.now(),
    );
    let request = Request {
        payload: Bytes::from(event.to_string()),
        client_context: None,
        invoked_arn: if q == LATEST {
            function.arn()
        } else {
            function.qualified_arn(&q)
        },
    };
    match state.run(&function, &version, request).await {
        Ok(invoked) if !invoked.function_error => http_response(&invoked.payload),
        Ok(_) => plain(StatusCode::BAD_GATEWAY, "Internal Server Error"),
        Err(e) => e.into_response(),
    }
}

/// API Gateway's HTTP API payload format 2.0.
pub fn http_event(
    target: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    now: std::time::SystemTime,
) -> Value {
    let prefix = format!("{URL_PREFIX}{target}");
    let raw_path = uri
        .path()
        .strip_prefix(&prefix)
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let raw_query = uri.query().unwrap_or("");
    let mut header_map = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        let entry = header_map
            .entry(name.as_str().to_string())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(&value);
        }
    }
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        let entry = query
            .entry(k.into_owned())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(&v);
        }
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let text = is_text(header("content-type"));
    let time = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let host = header("host").unwrap_or("localhost");
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": target,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(host),
            "http": {
                "method": method.as_str(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": header("user-agent").unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": time.as_millisecond(),
        },
        "isBase64Encoded": !body.is_empty() && !text,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_empty() {
        event["body"] = if text {
            String::from_utf8_lossy(body).into_owned().into()
        } else {
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into()
        };
    }
    event
}

/// The function's answer as an HTTP response.
pub fn http_response(payload: &[u8]) -> Response {
    let answer: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        // Not JSON: passed through as it is.
        Err(_) => return (StatusCode::OK, Body::from(payload.to_vec())).into_response(),
    };
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        let mut r = (StatusCode::OK, Body::from(answer.to_string())).into_response();
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return r;
    };
    let body = match answer.get("body") {
        Some(Value::String(s)) if answer["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .unwrap_or_default()
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = r.headers_mut();
    for (k, v) in answer["headers"].as_object().into_iter().flatten() {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(text),
        ) {
            h.insert(name, value);
        }
    }
    for cookie in answer["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(value) = HeaderValue::try_from(cookie) {
            h.append(http::header::SET_COOKIE, value);
        }
    }
    if !h.contains_key(http::header::CONTENT_TYPE) {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_payload_2() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost:8000"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-multi", HeaderValue::from_static("two"));
        headers.insert("content-type", HeaderValue::from_static("image/png"));
        let uri: Uri = "/lambda-url/f/images/cat?size=2&size=3".parse().unwrap();
        let e = http_event(
            "f",
            &Method::POST,
            &uri,
            &headers,
            &Bytes::from_static(b"\x89PNG"),
            std::time::UNIX_EPOCH,
        );
        assert_eq!(e["rawPath"], "/images/cat");
        assert_eq!(e["rawQueryString"], "size=2&size=3");
        assert_eq!(e["queryStringParameters"]["size"], "2,3");
        assert_eq!(e["headers"]["x-multi"], "one,two");
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(
            (e["isBase64Encoded"].as_bool(), e["body"].as_str()),
            (Some(true), Some("iVBORw=="))
        );
    }

    #[test]
    fn answers_become_responses() {
        let r = http_response(
            br#"{"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["c=1"], "body": "hi"}"#,
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.headers()["set-cookie"], "c=1");
        let r = http_response(br#"{"statusCode": 200, "isBase64Encoded": true, "body": "iVBORw==", "headers": {"content-type": "image/png"}}"#);
        assert_eq!(r.headers()["content-type"], "image/png");
        let r = http_response(br#"{"hello": "world"}"#);
        assert_eq!(
            (r.status(), r.headers()["content-type"].to_str().unwrap()),
            (StatusCode::OK, "application/json")
        );
    }
}
