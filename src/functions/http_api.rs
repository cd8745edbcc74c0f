//! HTTP APIs: routes on this server's port that invoke functions, as API Gateway's HTTP APIs
//! (payload 2.0) and REST API proxy integrations (payload 1.0) do. `dynarock deploy` creates
//! them from a SAM template's `HttpApi` and `Api` events through `PUT /dynarock/apis/{id}`.
//!
//! An API is served at `/execute-api/{id}/` followed by what would follow the host on AWS:
//! the path for an HTTP API's `$default` stage, `/{stage}/path` otherwise.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::api::parse_function_arn;
use super::error::{LambdaError, LambdaResult};
use super::url_http::{event_v1, event_v2, http_response, invoke, Incoming};
use super::Functions;
use crate::engine::records::Documents;

/// Where APIs are served on this server.
pub const API_PREFIX: &str = "/execute-api/";
const NAMESPACE: &str = "http-api";

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct HttpApi {
    #[serde(default)]
    pub name: String,
    /// `$default` (served without a stage segment) or a stage name such as `Prod`.
    #[serde(default = "default_stage")]
    pub stage: String,
    pub routes: Vec<RouteTarget>,
}

fn default_stage() -> String {
    "$default".into()
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTarget {
    /// `GET /images/{name}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    pub function_arn: String,
    /// `2.0` (HTTP API) or `1.0` (REST API proxy).
    #[serde(default = "default_payload")]
    pub payload_format_version: String,
}

fn default_payload() -> String {
    "2.0".into()
}

pub struct HttpApis {
    functions: Arc<Functions>,
    apis: Documents<HttpApi>,
}

pub fn router(functions: Arc<Functions>) -> crate::error::Result<Router> {
    let apis = Arc::new(HttpApis {
        apis: Documents::load(functions.engine.clone(), NAMESPACE)?,
        functions,
    });
    Ok(Router::new()
        .route("/dynarock/apis", get(list))
        .route("/dynarock/apis/{id}", get(read).put(put).delete(delete))
        .route("/execute-api/{id}", any(serve))
        .route("/execute-api/{id}/", any(serve))
        .route("/execute-api/{id}/{*rest}", any(serve))
        .with_state(apis))
}

/// A route key's method and path segments.
struct RouteKey<'a> {
    method: &'a str,
    segments: Vec<&'a str>,
}

fn parse_route_key(key: &str) -> Option<RouteKey<'_>> {
    let (method, path) = key.split_once(' ')?;
    let known = [
        "ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
    ];
    if !known.contains(&method) || !path.starts_with('/') {
        return None;
    }
    let segments: Vec<&str> = path[1..].split('/').filter(|s| !s.is_empty()).collect();
    // A greedy `{name+}` may only end the path.
    let greedy_inside = segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| s.starts_with('{') && s.ends_with("+}"));
    (!greedy_inside).then_some(RouteKey { method, segments })
}

/// Literal segments, named segments, a method named (not `ANY`): compared in that order.
type Rank = (usize, usize, bool);

/// How well a route matches: literal segments first, then parameters over a greedy tail, then
/// a method named over `ANY` (API Gateway's order of preference). `None`: no match.
fn matches(key: &RouteKey, method: &str, path: &[&str]) -> Option<(Rank, Map<String, Value>)> {
    if key.method != "ANY" && key.method != method {
        return None;
    }
    let mut params = Map::new();
    let (mut literal, mut named) = (0, 0);
    for (i, segment) in key.segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if i >= path.len() {
                return None;
            }
            params.insert(name.to_string(), path[i..].join("/").into());
            return Some(((literal, named, key.method != "ANY"), params));
        }
        let value = path.get(i)?;
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                named += 1;
                params.insert(name.to_string(), decode(value).into());
            }
            None if segment == value => literal += 1,
            None => return None,
        }
    }
    (key.segments.len() == path.len()).then_some(((literal, named, key.method != "ANY"), params))
}

fn decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// The route a request takes, with its path parameters (`$default` when nothing else matches).
fn choose<'a>(
    api: &'a HttpApi,
    method: &str,
    path: &str,
) -> Option<(&'a RouteTarget, Map<String, Value>)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    api.routes
        .iter()
        .filter_map(|r| {
            let key = parse_route_key(&r.route_key)?;
            let (rank, params) = matches(&key, method, &segments)?;
            Some((rank, r, params))
        })
        .max_by_key(|(rank, _, _)| *rank)
        .map(|(_, r, params)| (r, params))
        .or_else(|| {
            api.routes
                .iter()
                .find(|r| r.route_key == "$default")
                .map(|r| (r, Map::new()))
        })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

async fn serve(
    State(apis): State<Arc<HttpApis>>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = params.first().map(|(_, v)| v.as_str()).unwrap_or_default();
    let Some(api) = apis.apis.get(id) else {
        return not_found();
    };
    let below = uri
        .path()
        .strip_prefix(API_PREFIX)
        .and_then(|p| p.strip_prefix(id))
        .unwrap_or("");
    let path = if api.stage == "$default" {
        below
    } else {
        match below
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(api.stage.as_str()))
        {
            Some(p) if p.is_empty() || p.starts_with('/') => p,
            _ => return forbidden(),
        }
    };
    let path = if path.is_empty() { "/" } else { path };
    let Some((route, path_parameters)) = choose(&api, method.as_str(), path) else {
        return not_found();
    };
    let Some((region, name, qualifier)) = parse_function_arn(&route.function_arn) else {
        return not_found();
    };
    let Some(function) = apis.functions.registry.get(&region, &name) else {
        return internal_error();
    };
    let incoming = Incoming {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
        raw_path: path,
        now: apis.functions.engine.clock.now(),
    };
    let rest = route.payload_format_version == "1.0";
    let event = if rest {
        let resource = route.route_key.split_once(' ').map_or("/", |(_, p)| p);
        event_v1(&incoming, id, resource, &api.stage, &path_parameters)
    } else {
        event_v2(
            &incoming,
            id,
            &route.route_key,
            &api.stage,
            &path_parameters,
        )
    };
    match invoke(&apis.functions, &function, qualifier.as_deref(), &event).await {
        // A REST API's proxy integration needs an object with a status code.
        Ok(payload) if rest && !has_status(&payload) => internal_error(),
        Ok(payload) => http_response(&payload),
        Err(_) => internal_error(),
    }
}

fn has_status(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload).is_ok_and(|v| v["statusCode"].is_u64())
}

/// What API Gateway answers when the function fails or answers what it cannot use.
fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"message": "Internal Server Error"})),
    )
        .into_response()
}

/// What a REST API answers for a path outside its stages.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"message": "Missing Authentication Token"})),
    )
        .into_response()
}

fn shown(id: &str, api: &HttpApi, headers: &HeaderMap) -> Value {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    json!({
        "ApiId": id,
        "Name": api.name,
        "Stage": api.stage,
        "Routes": api.routes,
        "ApiEndpoint": format!("http://{host}{API_PREFIX}{id}"),
    })
}

async fn list(State(apis): State<Arc<HttpApis>>, headers: HeaderMap) -> Response {
    let items: Vec<Value> = apis
        .apis
        .list("")
        .iter()
        .map(|(id, api)| shown(id, api, &headers))
        .collect();
    Json(json!({ "Items": items })).into_response()
}

async fn read(
    State(apis): State<Arc<HttpApis>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> LambdaResult<Response> {
    let api = apis.apis.get(&id).ok_or_else(|| missing(&id))?;
    Ok(Json(shown(&id, &api, &headers)).into_response())
}

fn missing(id: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!("Invalid API identifier specified {id}"))
}

/// Checks an API before it is stored: an id of letters and digits, route keys API Gateway
/// accepts, and functions named by ARN.
fn check(id: &str, api: &HttpApi) -> LambdaResult<()> {
    let invalid = |m: String| Err(LambdaError::InvalidParameterValue(m));
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return invalid(format!(
            "Invalid API identifier {id}: letters and digits only"
        ));
    }
    if api.stage.is_empty() || api.stage.contains('/') {
        return invalid(format!("Invalid stage name {}", api.stage));
    }
    for r in &api.routes {
        if r.route_key != "$default" && parse_route_key(&r.route_key).is_none() {
            return invalid(format!(
                "Invalid route key {}: expected METHOD /path (a greedy {{name+}} only last) or $default",
                r.route_key
            ));
        }
        if parse_function_arn(&r.function_arn).is_none() {
            return invalid(format!("Invalid function ARN {}", r.function_arn));
        }
        if r.payload_format_version != "1.0" && r.payload_format_version != "2.0" {
            return invalid(format!(
                "Invalid payload format version {}: 1.0 or 2.0",
                r.payload_format_version
            ));
        }
    }
    Ok(())
}

async fn put(
    State(apis): State<Arc<HttpApis>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> LambdaResult<Response> {
    let api: HttpApi = serde_json::from_slice(&body)
        .map_err(|e| LambdaError::InvalidRequestContent(format!("Could not parse the API: {e}")))?;
    check(&id, &api)?;
    apis.apis.put(&id, Some(api.clone())).await?;
    Ok(Json(shown(&id, &api, &headers)).into_response())
}

async fn delete(
    State(apis): State<Arc<HttpApis>>,
    Path(id): Path<String>,
) -> LambdaResult<Response> {
    match apis.apis.put(&id, None).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(missing(&id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(keys: &[&str]) -> HttpApi {
        HttpApi {
            name: "a".into(),
            stage: "$default".into(),
            routes: keys
                .iter()
                .map(|k| RouteTarget {
                    route_key: k.to_string(),
                    function_arn: format!(
                        "arn:aws:lambda:us-east-1:000000000000:function:{}",
                        k.len()
                    ),
                    payload_format_version: "2.0".into(),
                })
                .collect(),
        }
    }

    fn chosen(api: &HttpApi, method: &str, path: &str) -> Option<(String, Value)> {
        choose(api, method, path).map(|(r, p)| (r.route_key.clone(), Value::Object(p)))
    }

    #[test]
    fn the_most_specific_route_wins() {
        let a = api(&[
            "GET /images/{name}",
            "GET /images/latest",
            "ANY /images/{name}",
            "ANY /{proxy+}",
        ]);
        assert_eq!(
            chosen(&a, "GET", "/images/latest").unwrap().0,
            "GET /images/latest"
        );
        assert_eq!(
            chosen(&a, "GET", "/images/cat%20one.png").unwrap(),
            ("GET /images/{name}".into(), json!({"name": "cat one.png"}))
        );
        assert_eq!(
            chosen(&a, "POST", "/images/cat").unwrap().0,
            "ANY /images/{name}"
        );
        assert_eq!(
            chosen(&a, "DELETE", "/a/b/c").unwrap(),
            ("ANY /{proxy+}".into(), json!({"proxy": "a/b/c"}))
        );
        assert!(chosen(&api(&["GET /images/{name}"]), "GET", "/images").is_none());
        assert_eq!(
            chosen(&api(&["GET /x", "$default"]), "GET", "/y")
                .unwrap()
                .0,
            "$default"
        );
    }

    #[test]
    fn route_keys_are_checked() {
        assert!(parse_route_key("GET /a/{b}").is_some());
        assert!(parse_route_key("GET /{p+}/x").is_none());
        assert!(parse_route_key("FETCH /a").is_none());
        assert!(parse_route_key("GET a").is_none());
        assert!(check("bad id", &api(&[])).is_err());
        assert!(check("abc123", &api(&["GET /a", "$default"])).is_ok());
    }
}
