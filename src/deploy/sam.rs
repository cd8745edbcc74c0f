//! The SAM transform (`AWS::Serverless-2016-10-31`): `AWS::Serverless::*` resources and their
//! `Events` expanded into the plain resources they stand for, as SAM does before CloudFormation
//! sees the template. HTTP APIs become `Dynarock::HttpApi` resources (routes on this server's
//! port); the IAM roles and Lambda permissions SAM adds are not needed here and not made.

use serde_json::{json, Map, Value};

use super::template::Template;

pub const TRANSFORM: &str = "AWS::Serverless-2016-10-31";
pub const HTTP_API: &str = "Dynarock::HttpApi";
const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";
const IMPLICIT_REST_API: &str = "ServerlessRestApi";

/// The resource types a template may use.
pub const SUPPORTED: &[&str] = &[
    "AWS::Serverless::Function",
    "AWS::Serverless::SimpleTable",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::DynamoDB::Table",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::SQS::Queue",
];

const EVENT_TYPES: &[&str] = &["DynamoDB", "Schedule", "ScheduleV2", "HttpApi", "Api"];

/// Refuses, before anything is created, what `dynarock deploy` cannot deploy: naming the
/// resource and its type (or event).
pub fn check_supported(template: &Template) -> Result<(), String> {
    let serverless = template.resources.values().any(|r| {
        r["Type"]
            .as_str()
            .is_some_and(|t| t.starts_with("AWS::Serverless::"))
    });
    if serverless && !template.transform.iter().any(|t| t == TRANSFORM) {
        return Err(format!(
            "the template uses AWS::Serverless resources without `Transform: {TRANSFORM}`"
        ));
    }
    if let Some(t) = template.transform.iter().find(|t| *t != TRANSFORM) {
        return Err(format!("Transform {t} is not supported by dynarock deploy"));
    }
    for (name, resource) in &template.resources {
        let kind = resource["Type"]
            .as_str()
            .ok_or_else(|| format!("Resource {name} has no Type"))?;
        if !SUPPORTED.contains(&kind) {
            return Err(format!(
                "Resource {name}: type {kind} is not supported by dynarock deploy (supported: {})",
                SUPPORTED.join(", ")
            ));
        }
        if kind != "AWS::Serverless::Function" {
            continue;
        }
        if resource["Properties"]["PackageType"].as_str() == Some("Image") {
            return Err(format!(
                "Resource {name}: PackageType Image is not supported by dynarock deploy (zip functions only)"
            ));
        }
        for (event, spec) in resource["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let t = spec["Type"].as_str().unwrap_or("");
            if !EVENT_TYPES.contains(&t) {
                return Err(format!(
                    "Resource {name}: event {event} of type {t} is not supported by dynarock deploy (supported: {})",
                    EVENT_TYPES.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// `base` with `over`'s members on top: maps merged member by member, lists appended, other
/// values replaced (SAM's rules for `Globals`).
fn merged(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let value = match out.get(k) {
                    Some(existing) => merged(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), value);
            }
            Value::Object(out)
        }
        (Value::Array(b), Value::Array(o)) => Value::Array(b.iter().chain(o).cloned().collect()),
        (_, o) => o.clone(),
    }
}

/// SAM's `Tags` map as CloudFormation's list of `Key`/`Value`.
fn tag_list(tags: &Value) -> Value {
    Value::Array(
        tags.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

/// Copies the members of `from` named in `keys` that are present.
fn pick(from: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| from.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The template's resources with the SAM transform applied.
pub fn transform(template: &Template) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut apis: Map<String, Value> = Map::new();
    for (name, resource) in &template.resources {
        let kind = resource["Type"].as_str().unwrap_or("");
        let props = &resource["Properties"];
        match kind {
            "AWS::Serverless::Function" => {
                let props = match template.globals.get("Function") {
                    Some(g) => merged(g, props),
                    None => props.clone(),
                };
                function(name, resource, &props, &mut out, &mut apis)?;
            }
            "AWS::Serverless::SimpleTable" => {
                let key = props
                    .get("PrimaryKey")
                    .cloned()
                    .unwrap_or(json!({"Name": "id", "Type": "String"}));
                let ty = match key["Type"].as_str().unwrap_or("String") {
                    "String" => "S",
                    "Number" => "N",
                    "Binary" => "B",
                    other => {
                        return Err(format!(
                        "Resource {name}: PrimaryKey Type {other} must be String, Number or Binary"
                    ))
                    }
                };
                let mut p = pick(props, &["TableName", "SSESpecification"]);
                p.insert(
                    "AttributeDefinitions".into(),
                    json!([{"AttributeName": key["Name"], "AttributeType": ty}]),
                );
                p.insert(
                    "KeySchema".into(),
                    json!([{"AttributeName": key["Name"], "KeyType": "HASH"}]),
                );
                match props.get("ProvisionedThroughput") {
                    Some(t) => {
                        p.insert("ProvisionedThroughput".into(), t.clone());
                    }
                    None => {
                        p.insert("BillingMode".into(), json!("PAY_PER_REQUEST"));
                    }
                }
                if let Some(tags) = props.get("Tags") {
                    p.insert("Tags".into(), tag_list(tags));
                }
                out.insert(name.clone(), plain(resource, "AWS::DynamoDB::Table", p));
            }
            "AWS::Serverless::HttpApi" | "AWS::Serverless::Api" => {
                let default_stage = if kind == "AWS::Serverless::HttpApi" {
                    "$default"
                } else {
                    "Prod"
                };
                let entry = apis
                    .entry(name.clone())
                    .or_insert_with(|| json!({"Routes": []}));
                entry["Stage"] = props
                    .get("StageName")
                    .cloned()
                    .unwrap_or(json!(default_stage));
                entry["Name"] = props.get("Name").cloned().unwrap_or(json!(name));
                entry["Declared"] = json!(true);
            }
            _ => {
                out.insert(name.clone(), resource.clone());
            }
        }
    }
    for (name, api) in apis {
        let mut api = api;
        if api.get("Declared").is_none() && api.get("Stage").is_none() {
            return Err(format!(
                "an event names the API {name}, which is not in the template"
            ));
        }
        let mut p = Map::new();
        for k in ["Name", "Stage", "Routes"] {
            p.insert(k.into(), api[k].take());
        }
        out.insert(name, json!({"Type": HTTP_API, "Properties": p}));
    }
    Ok(out)
}

/// `resource` as a plain resource of `kind`, keeping its `DependsOn` and `Condition`.
fn plain(resource: &Value, kind: &str, props: Map<String, Value>) -> Value {
    let mut r = json!({"Type": kind, "Properties": props});
    for k in ["DependsOn", "Condition"] {
        if let Some(v) = resource.get(k) {
            r[k] = v.clone();
        }
    }
    r
}

fn function(
    name: &str,
    resource: &Value,
    props: &Value,
    out: &mut Map<String, Value>,
    apis: &mut Map<String, Value>,
) -> Result<(), String> {
    let mut p = pick(
        props,
        &[
            "FunctionName",
            "Handler",
            "Runtime",
            "Description",
            "MemorySize",
            "Timeout",
            "Environment",
            "Role",
            "Architectures",
            "ReservedConcurrentExecutions",
            "EphemeralStorage",
        ],
    );
    let code = match (props.get("CodeUri"), props.get("InlineCode")) {
        (Some(Value::String(path)), None) => json!({"LocalPath": path}),
        (None, Some(inline)) => json!({"ZipFile": inline}),
        (Some(Value::String(_)), Some(_)) => {
            return Err(format!(
                "Resource {name}: give one of CodeUri and InlineCode"
            ))
        }
        (Some(_), _) => {
            return Err(format!(
                "Resource {name}: CodeUri must be a local folder for dynarock deploy"
            ))
        }
        (None, None) => json!({"LocalPath": "."}),
    };
    p.insert("Code".into(), code);
    let mut tags = props.get("Tags").cloned().unwrap_or(json!({}));
    tags["lambda:createdBy"] = json!("SAM");
    p.insert("Tags".into(), tag_list(&tags));
    if let Some(url) = props.get("FunctionUrlConfig") {
        p.insert("FunctionUrlConfig".into(), url.clone());
    }
    out.insert(
        name.to_string(),
        plain(resource, "AWS::Lambda::Function", p),
    );

    let arn = json!({"Fn::GetAtt": [name, "Arn"]});
    for (event, spec) in props["Events"].as_object().into_iter().flatten() {
        let ep = &spec["Properties"];
        let id = format!("{name}{event}");
        match spec["Type"].as_str().unwrap_or("") {
            "DynamoDB" => {
                let mut m = pick(
                    ep,
                    &[
                        "StartingPosition",
                        "StartingPositionTimestamp",
                        "BatchSize",
                        "MaximumBatchingWindowInSeconds",
                        "Enabled",
                        "ParallelizationFactor",
                        "MaximumRetryAttempts",
                        "BisectBatchOnFunctionError",
                        "MaximumRecordAgeInSeconds",
                        "TumblingWindowInSeconds",
                        "FunctionResponseTypes",
                        "FilterCriteria",
                    ],
                );
                m.insert(
                    "EventSourceArn".into(),
                    ep.get("Stream")
                        .cloned()
                        .ok_or_else(|| format!("Resource {name}: event {event} needs a Stream"))?,
                );
                m.insert("FunctionName".into(), json!({"Ref": name}));
                if let Some(d) = ep["DestinationConfig"]["OnFailure"].get("Destination") {
                    m.insert(
                        "DestinationConfig".into(),
                        json!({"OnFailure": {"Destination": d}}),
                    );
                }
                out.insert(id, plain(resource, "AWS::Lambda::EventSourceMapping", m));
            }
            "Schedule" => {
                let state = match (ep.get("State"), ep.get("Enabled")) {
                    (Some(s), _) => s.clone(),
                    (None, Some(Value::Bool(false))) => json!("DISABLED"),
                    _ => json!("ENABLED"),
                };
                let mut target = pick(ep, &["Input", "RetryPolicy"]);
                target.insert("Id".into(), json!(format!("{id}LambdaTarget")));
                target.insert("Arn".into(), arn.clone());
                if let Some(dlq) = ep["DeadLetterConfig"].get("Arn") {
                    target.insert("DeadLetterConfig".into(), json!({"Arn": dlq}));
                }
                let mut r = pick(ep, &["Name", "Description"]);
                r.insert(
                    "ScheduleExpression".into(),
                    ep.get("Schedule").cloned().ok_or_else(|| {
                        format!("Resource {name}: event {event} needs a Schedule")
                    })?,
                );
                r.insert("State".into(), state);
                r.insert("Targets".into(), json!([target]));
                out.insert(id, plain(resource, "AWS::Events::Rule", r));
            }
            "ScheduleV2" => {
                let mut target = pick(ep, &["Input", "RetryPolicy"]);
                target.insert("Arn".into(), arn.clone());
                target.insert(
                    "RoleArn".into(),
                    ep.get("RoleArn").cloned().unwrap_or(json!({
                        "Fn::Sub": format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{id}Role")
                    })),
                );
                if let Some(dlq) = ep["DeadLetterConfig"].get("Arn") {
                    target.insert("DeadLetterConfig".into(), json!({"Arn": dlq}));
                }
                let mut s = pick(
                    ep,
                    &[
                        "Name",
                        "Description",
                        "ScheduleExpression",
                        "ScheduleExpressionTimezone",
                        "GroupName",
                        "StartDate",
                        "EndDate",
                        "State",
                    ],
                );
                s.insert(
                    "FlexibleTimeWindow".into(),
                    ep.get("FlexibleTimeWindow")
                        .cloned()
                        .unwrap_or(json!({"Mode": "OFF"})),
                );
                s.insert("Target".into(), Value::Object(target));
                out.insert(id, plain(resource, "AWS::Scheduler::Schedule", s));
            }
            kind @ ("HttpApi" | "Api") => {
                let rest = kind == "Api";
                let api_ref = if rest {
                    ep.get("RestApiId")
                } else {
                    ep.get("ApiId")
                };
                let api_name = match api_ref {
                    None => (if rest {
                        IMPLICIT_REST_API
                    } else {
                        IMPLICIT_HTTP_API
                    })
                    .to_string(),
                    Some(v) => v["Ref"].as_str().map(str::to_string).ok_or_else(|| {
                        format!("Resource {name}: event {event} must name its API with !Ref")
                    })?,
                };
                let route_key = match (ep.get("Method"), ep.get("Path")) {
                    (None, None) if !rest => "$default".to_string(),
                    (Some(m), Some(p)) => {
                        let method = m.as_str().unwrap_or("").to_ascii_uppercase();
                        let method = if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                            "ANY".to_string()
                        } else {
                            method
                        };
                        format!("{method} {}", p.as_str().unwrap_or(""))
                    }
                    _ => {
                        return Err(format!(
                            "Resource {name}: event {event} needs both Method and Path"
                        ))
                    }
                };
                let payload = match ep.get("PayloadFormatVersion") {
                    Some(v) => v.clone(),
                    None if rest => json!("1.0"),
                    None => json!("2.0"),
                };
                let implicit = api_ref.is_none();
                let entry = apis
                    .entry(api_name.clone())
                    .or_insert_with(|| json!({"Routes": []}));
                if implicit && entry.get("Stage").is_none() {
                    entry["Stage"] = json!(if rest { "Prod" } else { "$default" });
                    entry["Name"] = json!(api_name);
                }
                if let Some(routes) = entry["Routes"].as_array_mut() {
                    routes.push(json!({
                        "RouteKey": route_key,
                        "FunctionArn": arn.clone(),
                        "PayloadFormatVersion": payload,
                    }));
                }
            }
            other => {
                return Err(format!(
                    "Resource {name}: event {event} of type {other} is not supported by dynarock deploy"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::template::parse;

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Environment: {Variables: {A: "1"}}
Resources:
  Images:
    Type: AWS::Serverless::SimpleTable
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Timeout: 20
      Environment: {Variables: {B: "2"}}
      Events:
        Stream:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Images.StreamArn
            StartingPosition: TRIM_HORIZON
            DestinationConfig: {OnFailure: {Type: SQS, Destination: arn:q}}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute), Enabled: false}
        Nightly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "cron(5 0 * * ? *)"}
        Upload:
          Type: HttpApi
          Properties: {Path: "/images/{name}", Method: post}
"#;

    #[test]
    fn serverless_resources_expand() {
        let t = parse(TEMPLATE).unwrap();
        check_supported(&t).unwrap();
        let r = transform(&t).unwrap();
        let f = &r["Fn"]["Properties"];
        assert_eq!(r["Fn"]["Type"], "AWS::Lambda::Function");
        assert_eq!(f["Timeout"], 20);
        assert_eq!(f["Runtime"], "python3.12");
        assert_eq!(f["Environment"]["Variables"], json!({"A": "1", "B": "2"}));
        assert_eq!(f["Code"], json!({"LocalPath": "src/"}));
        let m = &r["FnStream"]["Properties"];
        assert_eq!(
            m["EventSourceArn"],
            json!({"Fn::GetAtt": ["Images", "StreamArn"]})
        );
        assert_eq!(
            m["DestinationConfig"],
            json!({"OnFailure": {"Destination": "arn:q"}})
        );
        assert_eq!(r["FnTick"]["Properties"]["State"], "DISABLED");
        assert_eq!(
            r["FnTick"]["Properties"]["Targets"][0]["Arn"],
            json!({"Fn::GetAtt": ["Fn", "Arn"]})
        );
        assert_eq!(r["FnNightly"]["Type"], "AWS::Scheduler::Schedule");
        assert_eq!(
            r["FnNightly"]["Properties"]["FlexibleTimeWindow"],
            json!({"Mode": "OFF"})
        );
        let api = &r["ServerlessHttpApi"]["Properties"];
        assert_eq!(api["Stage"], "$default");
        assert_eq!(api["Routes"][0]["RouteKey"], "POST /images/{name}");
        assert_eq!(
            r["Images"]["Properties"]["KeySchema"],
            json!([{"AttributeName": "id", "KeyType": "HASH"}])
        );
    }

    #[test]
    fn what_cannot_be_deployed_is_named() {
        let t = parse("Resources:\n  Bucket: {Type: AWS::S3::Bucket}").unwrap();
        let e = check_supported(&t).unwrap_err();
        assert!(
            e.starts_with("Resource Bucket: type AWS::S3::Bucket is not supported"),
            "{e}"
        );
        let t = parse(&TEMPLATE.replace("Type: HttpApi", "Type: SQS")).unwrap();
        let e = check_supported(&t).unwrap_err();
        assert!(
            e.contains("event Upload of type SQS is not supported"),
            "{e}"
        );
        let t = parse(&TEMPLATE.replace("Transform: AWS::Serverless-2016-10-31", "")).unwrap();
        assert!(check_supported(&t)
            .unwrap_err()
            .contains("without `Transform"));
    }
}
