//! The REST and JSON 1.1 services in IAM's terms: which action a request is, on which
//! resource, for authorizing a caller a policy limits (DynamoDB's requests are mapped in
//! `api::access`).
//!
//! Lambda's operations name their function's ARN (so `lambda:InvokeFunction` on
//! `...:function:thumb*` works as on AWS); the other services' operations (EventBridge,
//! Scheduler, CloudWatch Logs, SQS, event source mappings) are checked by action on `*`.
//! dynarock's own endpoints (`/dynarock/...`: stacks, HTTP APIs, the clock) are the action
//! `dynarock:Admin`.

use http::Method;

/// `service:Operation` and the resource of a request; `None` for a path no operation serves
/// (refused to a limited caller, since nothing may pass unchecked).
pub fn rest_access(
    method: &Method,
    path: &str,
    target: Option<&str>,
    (region, account): (&str, &str),
) -> Option<(String, String)> {
    let everything = || "*".to_string();
    if path == "/" {
        let (service, op) = target?.split_once('.')?;
        let service = match service {
            "AWSEvents" => "events",
            "Logs_20140328" => "logs",
            "AmazonSQS" => "sqs",
            _ => return None,
        };
        return Some((format!("{service}:{op}"), everything()));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"dynarock") {
        return Some(("dynarock:Admin".into(), everything()));
    }
    if segments.first() == Some(&"schedules") || segments.first() == Some(&"schedule-groups") {
        let noun = match segments[0] {
            "schedules" => "Schedule",
            _ => "ScheduleGroup",
        };
        let verb = match (method, segments.len()) {
            (&Method::GET, 1) => return Some((format!("scheduler:List{noun}s"), everything())),
            (&Method::GET, _) => "Get",
            (&Method::POST, _) => "Create",
            (&Method::PUT, _) => "Update",
            (&Method::DELETE, _) => "Delete",
            _ => return None,
        };
        return Some((format!("scheduler:{verb}{noun}"), everything()));
    }
    let [_version, rest @ ..] = segments.as_slice() else {
        return None;
    };
    let function = |name: &str| match name.strip_prefix("arn:") {
        Some(_) => name.to_string(),
        None => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
    };
    let lambda = |op: &str, resource: String| Some((format!("lambda:{op}"), resource));
    let m = method;
    match rest {
        ["functions"] if m == Method::POST => lambda("CreateFunction", everything()),
        ["functions"] if m == Method::GET => lambda("ListFunctions", everything()),
        ["account-settings"] => lambda("GetAccountSettings", everything()),
        ["tags", arn] => {
            let op = match *m {
                Method::GET => "ListTags",
                Method::POST => "TagResource",
                _ => "UntagResource",
            };
            lambda(op, arn.to_string())
        }
        ["event-source-mappings", ..] => {
            let op = match (m, rest.len()) {
                (&Method::POST, 1) => "CreateEventSourceMapping",
                (&Method::GET, 1) => "ListEventSourceMappings",
                (&Method::GET, _) => "GetEventSourceMapping",
                (&Method::PUT, _) => "UpdateEventSourceMapping",
                _ => "DeleteEventSourceMapping",
            };
            lambda(op, everything())
        }
        ["functions", name, tail @ ..] => {
            let op = function_operation(m, tail)?;
            lambda(op, function(name))
        }
        _ => None,
    }
}

/// The Lambda operation on one function, by what follows `/functions/{name}`.
fn function_operation(m: &Method, tail: &[&str]) -> Option<&'static str> {
    let get = *m == Method::GET;
    Some(match (tail, m.as_str()) {
        ([], "GET") => "GetFunction",
        ([], "DELETE") => "DeleteFunction",
        (["configuration"], _) if get => "GetFunctionConfiguration",
        (["configuration"], _) => "UpdateFunctionConfiguration",
        (["code"], _) => "UpdateFunctionCode",
        (["invocations"], _) => "InvokeFunction",
        (["invoke-async"], _) => "InvokeAsync",
        (["versions"], _) if get => "ListVersionsByFunction",
        (["versions"], _) => "PublishVersion",
        (["aliases"], _) if get => "ListAliases",
        (["aliases"], _) => "CreateAlias",
        (["aliases", _], "GET") => "GetAlias",
        (["aliases", _], "PUT") => "UpdateAlias",
        (["aliases", _], _) => "DeleteAlias",
        (["policy"], _) if get => "GetPolicy",
        (["policy"], _) => "AddPermission",
        (["policy", _], _) => "RemovePermission",
        (["concurrency"], "GET") => "GetFunctionConcurrency",
        (["concurrency"], "PUT") => "PutFunctionConcurrency",
        (["concurrency"], _) => "DeleteFunctionConcurrency",
        (["event-invoke-config"], "PUT") => "PutFunctionEventInvokeConfig",
        (["event-invoke-config"], "POST") => "UpdateFunctionEventInvokeConfig",
        (["event-invoke-config"], "GET") => "GetFunctionEventInvokeConfig",
        (["event-invoke-config"], _) => "DeleteFunctionEventInvokeConfig",
        (["event-invoke-config", "list"], _) => "ListFunctionEventInvokeConfigs",
        (["url"], "POST") => "CreateFunctionUrlConfig",
        (["url"], "GET") => "GetFunctionUrlConfig",
        (["url"], "PUT") => "UpdateFunctionUrlConfig",
        (["url"], _) => "DeleteFunctionUrlConfig",
        (["urls"], _) => "ListFunctionUrlConfigs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(method: Method, path: &str, target: Option<&str>) -> Option<(String, String)> {
        rest_access(&method, path, target, ("eu-west-1", "123"))
    }

    #[test]
    fn lambda_operations_name_their_function() {
        assert_eq!(
            access(
                Method::POST,
                "/2015-03-31/functions/thumb/invocations",
                None
            ),
            Some((
                "lambda:InvokeFunction".into(),
                "arn:aws:lambda:eu-west-1:123:function:thumb".into()
            ))
        );
        assert_eq!(
            access(Method::GET, "/2015-03-31/functions/", None)
                .unwrap()
                .0,
            "lambda:ListFunctions"
        );
        assert_eq!(
            access(Method::DELETE, "/2015-03-31/functions/f/aliases/live", None)
                .unwrap()
                .0,
            "lambda:DeleteAlias"
        );
        assert_eq!(access(Method::GET, "/2015-03-31/nothing", None), None);
    }

    #[test]
    fn json_services_are_named_by_their_target() {
        assert_eq!(
            access(Method::POST, "/", Some("AWSEvents.PutRule")),
            Some(("events:PutRule".into(), "*".into()))
        );
        assert_eq!(
            access(Method::POST, "/", Some("AmazonSQS.SendMessage"))
                .unwrap()
                .0,
            "sqs:SendMessage"
        );
        assert_eq!(access(Method::POST, "/", Some("Unknown.Op")), None);
        assert_eq!(
            access(Method::DELETE, "/schedules/nightly", None)
                .unwrap()
                .0,
            "scheduler:DeleteSchedule"
        );
    }
}
