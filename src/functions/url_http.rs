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
use super::model::{Function, LATEST};
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
    let prefix = format!("{URL_PREFIX}{target}");
    let incoming = Incoming {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
        raw_path: uri
            .path()
            .strip_prefix(&prefix)
            .filter(|p| !p.is_empty())
            .unwrap_or("/"),
        now: state.engine.clock.now(),
    };
    let event = event_v2(&incoming, &target, "$default", "$default", &Map::new());
    let qualifier = (q != LATEST).then_some(q.as_str());
    match invoke(&state, &function, qualifier, &event).await {
        Ok(payload) => http_response(&payload),
        Err(response) => response,
    }
}

/// Runs the function (`qualifier`: a version or alias) with `event` as its payload; its answer,
/// or the HTTP response that stands for its failure.
pub async fn invoke(
    state: &Functions,
    function: &Function,
    qualifier: Option<&str>,
    event: &Value,
) -> Result<Bytes, Response> {
    let version = resolve(function, qualifier)
        .map_err(|_| plain(StatusCode::NOT_FOUND, "Not Found"))?
        .clone();
    let payload = event.to_string();
    if payload.len() > MAX_BODY {
        return Err(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes",
        ));
    }
    let request = Request {
        payload: Bytes::from(payload),
        client_context: None,
        invoked_arn: match qualifier {
            None => function.arn(),
            Some(q) => function.qualified_arn(q),
        },
    };
    match state.run(function, &version, request).await {
        Ok(invoked) if !invoked.function_error => Ok(invoked.payload),
        Ok(_) => Err(plain(StatusCode::BAD_GATEWAY, "Internal Server Error")),
        Err(e) => Err(e.into_response()),
    }
}

/// An HTTP request, as the API Gateway events describe it.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    /// The path below the API's (or URL's) own prefix.
    pub raw_path: &'a str,
    pub now: std::time::SystemTime,
}

/// Values of repeated names joined with commas, as payload 2.0 gives them.
fn joined<'a>(pairs: impl Iterator<Item = (String, String)> + 'a) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        let entry = map.entry(k).or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(&v);
        }
    }
    map
}

/// Values of repeated names as lists, as payload 1.0's `multiValue...` members give them.
fn listed(pairs: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        if let Value::Array(list) = map.entry(k).or_insert_with(|| json!([])) {
            list.push(v.into());
        }
    }
    map
}

impl Incoming<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn header_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.headers.iter().map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
    }

    fn query_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
    }

    fn is_text(&self) -> bool {
        is_text(self.header("content-type"))
    }

    /// The body as the event carries it: text as it is, anything else in base64.
    fn body_value(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else if self.is_text() {
            String::from_utf8_lossy(self.body).into_owned().into()
        } else {
            base64::engine::general_purpose::STANDARD
                .encode(self.body)
                .into()
        }
    }

    fn time(&self) -> jiff::Timestamp {
        jiff::Timestamp::try_from(self.now).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    fn host(&self) -> &str {
        self.header("host").unwrap_or("localhost")
    }
}

/// API Gateway's HTTP API payload format 2.0 (what function URLs and HTTP APIs send).
pub fn event_v2(
    req: &Incoming,
    api_id: &str,
    route_key: &str,
    stage: &str,
    path_parameters: &Map<String, Value>,
) -> Value {
    let mut cookies = Vec::new();
    let headers = joined(req.header_pairs().filter(|(name, value)| {
        if name != http::header::COOKIE.as_str() {
            return true;
        }
        cookies.extend(
            value
                .split(';')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
        );
        false
    }));
    let query = joined(req.query_pairs());
    let time = req.time();
    let host = req.host();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(host),
            "http": {
                "method": req.method.as_str(),
                "path": req.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": req.header("user-agent").unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": time.as_millisecond(),
        },
        "isBase64Encoded": !req.body.is_empty() && !req.is_text(),
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(path_parameters.clone());
    }
    let body = req.body_value();
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// API Gateway's REST API proxy payload (format 1.0), for `Api` events. `path` is the request's
/// path under the stage, `resource` the route's path template.
pub fn event_v1(
    req: &Incoming,
    api_id: &str,
    resource: &str,
    stage: &str,
    path_parameters: &Map<String, Value>,
) -> Value {
    let headers = listed(req.header_pairs());
    let query = listed(req.query_pairs());
    let last = |m: &Map<String, Value>| -> Value {
        if m.is_empty() {
            return Value::Null;
        }
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_array()
                        .and_then(|l| l.last())
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect::<Map<_, _>>()
            .into()
    };
    let time = req.time();
    let or_null = |m: &Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m.clone())
        }
    };
    json!({
        "resource": resource,
        "path": req.raw_path,
        "httpMethod": req.method.as_str(),
        "headers": last(&headers),
        "multiValueHeaders": or_null(&headers),
        "queryStringParameters": last(&query),
        "multiValueQueryStringParameters": or_null(&query),
        "pathParameters": or_null(path_parameters),
        "stageVariables": null,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": api_id,
            "domainName": req.host(),
            "httpMethod": req.method.as_str(),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": req.header("user-agent")},
            "path": format!("/{stage}{}", req.raw_path),
            "protocol": "HTTP/1.1",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "requestTimeEpoch": time.as_millisecond(),
            "resourcePath": resource,
            "stage": stage,
        },
        "body": req.body_value(),
        "isBase64Encoded": !req.body.is_empty() && !req.is_text(),
    })
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
    for (k, list) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for v in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v))
            {
                h.append(name, value);
            }
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
        let body = Bytes::from_static(b"\x89PNG");
        let req = Incoming {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: &body,
            raw_path: "/images/cat",
            now: std::time::UNIX_EPOCH,
        };
        let e = event_v2(&req, "f", "$default", "$default", &Map::new());
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
