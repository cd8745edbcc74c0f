//! The Lambda API's REST surface: one route per operation (paths and status codes from the AWS
//! model), each handler in the module of its family.

mod config;
mod functions;
mod invoke;
mod settings;
pub mod urls;
mod versions;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;

use super::error::{function_not_found, validation, LambdaError, LambdaResult};
use super::model::Function;
use super::Functions;

/// Lambda's largest request (CreateFunction with a 50 MB zip, base64 in JSON).
pub const MAX_REQUEST_BYTES: usize = 70_167_211;

pub fn router(functions: Arc<Functions>) -> Router {
    let f = "/2015-03-31/functions/{name}";
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(functions::create).get(functions::list),
        )
        .route(f, get(functions::get).delete(functions::delete))
        .route(
            &format!("{f}/configuration"),
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(&format!("{f}/code"), put(functions::update_code))
        .route(&format!("{f}/invocations"), post(invoke::invoke))
        .route(
            "/2014-11-13/functions/{name}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            &format!("{f}/versions"),
            post(versions::publish).get(versions::list),
        )
        .route(
            &format!("{f}/aliases"),
            post(versions::create_alias).get(versions::list_aliases),
        )
        .route(
            &format!("{f}/aliases/{{alias}}"),
            get(versions::get_alias)
                .put(versions::update_alias)
                .delete(versions::delete_alias),
        )
        .route(
            &format!("{f}/policy"),
            post(settings::add_permission).get(settings::get_policy),
        )
        .route(
            &format!("{f}/policy/{{sid}}"),
            axum::routing::delete(settings::remove_permission),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(settings::put_concurrency).delete(settings::delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(settings::get_concurrency),
        )
        .route(
            "/2016-08-19/account-settings",
            get(settings::account_settings),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            get(settings::list_tags)
                .post(settings::tag)
                .delete(settings::untag),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            put(settings::put_event_invoke_config)
                .post(settings::update_event_invoke_config)
                .get(settings::get_event_invoke_config)
                .delete(settings::delete_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(settings::list_event_invoke_configs),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            post(urls::create)
                .get(urls::get)
                .put(urls::update)
                .delete(urls::delete),
        )
        .route("/2021-10-31/functions/{name}/urls", get(urls::list))
        .route(
            "/lambda-url/{target}",
            axum::routing::any(crate::functions::url_http::serve),
        )
        .route(
            "/lambda-url/{target}/",
            axum::routing::any(crate::functions::url_http::serve),
        )
        .route(
            "/lambda-url/{target}/{*rest}",
            axum::routing::any(crate::functions::url_http::serve),
        )
        .fallback(unknown_operation)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(functions)
}

/// A path of no operation served here: Lambda's answer for an unknown operation.
async fn unknown_operation() -> LambdaError {
    LambdaError::UnknownOperation
}

/// Who is calling: the region of the request's credential scope (the server's default
/// without one). The signature's shape is checked as for DynamoDB.
pub struct Caller {
    pub region: String,
}

/// A surface's state that knows the server's default region.
pub trait DefaultRegion {
    fn default_region(&self) -> &str;
}

impl DefaultRegion for Arc<Functions> {
    fn default_region(&self) -> &str {
        &self.settings.region
    }
}

impl<S: DefaultRegion + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = LambdaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> LambdaResult<Caller> {
        let region = crate::auth::check(&parts.headers, parts.uri.query())?;
        Ok(Caller {
            region: region.map_or_else(|| state.default_region().to_string(), |r| r.into_owned()),
        })
    }
}

/// A JSON body into its request shape.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> LambdaResult<T> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        LambdaError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
    })
}

/// Lambda's pattern for `FunctionName` members that may be a name, a partial ARN or an ARN.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A `FunctionName` path member: a name, `name:qualifier`, `account:function:name[:q]` or a
/// full ARN. Returns the name and the qualifier it carries.
pub fn parse_function_name(raw: &str) -> LambdaResult<(String, Option<String>)> {
    let invalid = || {
        validation(&[format!(
            "Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
        )])
    };
    if raw.is_empty() || raw.len() > 170 {
        return Err(invalid());
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => return Err(invalid()),
    };
    if name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
        return Err(invalid());
    }
    if let Some(q) = qualifier {
        if q.is_empty() || (q != "$LATEST" && !q.chars().all(is_name_char)) {
            return Err(invalid());
        }
    }
    Ok((name.to_string(), qualifier.map(str::to_string)))
}

/// A function ARN of any region: (region, name, qualifier).
pub fn parse_function_arn(arn: &str) -> Option<(String, String, Option<String>)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, _, "function", name] => {
            Some((region.to_string(), name.to_string(), None))
        }
        ["arn", _, "lambda", region, _, "function", name, q] => {
            Some((region.to_string(), name.to_string(), Some(q.to_string())))
        }
        _ => None,
    }
}

/// The qualifier of a request: the name's own, or the `Qualifier` parameter; both must agree.
pub fn qualifier(from_name: Option<String>, param: Option<String>) -> LambdaResult<Option<String>> {
    match (from_name, param) {
        (Some(a), Some(b)) if a != b => Err(LambdaError::InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
                .into(),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The named function, or Lambda's not-found error.
pub fn find(state: &Functions, caller: &Caller, name: &str) -> LambdaResult<Function> {
    state.registry.get(&caller.region, name).ok_or_else(|| {
        function_not_found(&format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            caller.region, state.settings.account
        ))
    })
}

/// Changes an existing function under the registry's lock (not found: Lambda's error).
pub async fn change<T>(
    state: &Functions,
    caller: &Caller,
    name: &str,
    edit: impl FnOnce(&mut Function) -> LambdaResult<T>,
) -> LambdaResult<T> {
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        caller.region, state.settings.account
    );
    state
        .registry
        .update(&caller.region, name, |slot| {
            edit(slot.as_mut().ok_or_else(|| function_not_found(&arn))?)
        })
        .await
}

/// Lambda's pagination: `Marker` is the position of the next item.
pub fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<usize>,
) -> LambdaResult<(Vec<T>, Option<String>)> {
    let start = match marker {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| LambdaError::InvalidParameterValue("Invalid marker".into()))?,
        None => 0,
    };
    let max = max_items.unwrap_or(50).clamp(1, 10_000);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_in_every_form() {
        assert_eq!(parse_function_name("f").unwrap(), ("f".into(), None));
        assert_eq!(
            parse_function_name("f:1").unwrap(),
            ("f".into(), Some("1".into()))
        );
        assert_eq!(
            parse_function_name("000000000000:function:f:$LATEST").unwrap(),
            ("f".into(), Some("$LATEST".into()))
        );
        assert_eq!(
            parse_function_name("arn:aws:lambda:us-east-1:000000000000:function:my-f_1:prod")
                .unwrap(),
            ("my-f_1".into(), Some("prod".into()))
        );
        for bad in ["", "a b", "arn:aws:s3:::bucket", "f:", "a:b:c:d:e"] {
            assert!(
                matches!(parse_function_name(bad), Err(LambdaError::Validation(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn pages_carry_a_marker_until_the_end() {
        let (p, next) = page((0..5).collect(), None, Some(2)).unwrap();
        assert_eq!((p, next.as_deref()), (vec![0, 1], Some("2")));
        let (p, next) = page((0..5).collect(), Some("4"), Some(2)).unwrap();
        assert_eq!((p, next), (vec![4], None));
    }
}
