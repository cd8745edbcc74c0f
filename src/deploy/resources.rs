//! Each resource type's create, update and delete, as the public API calls that do them.
//! A resource's properties arrive resolved (no intrinsic functions left).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::intrinsics::Referable;
use super::package::{self, Package};
use super::sam::HTTP_API;
use crate::client::{ClientError, Endpoint};

/// A resource as deployed: what `Ref` and `Fn::GetAtt` give, and the properties it was last
/// given (to tell what a redeploy changes).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Deployed {
    #[serde(rename = "Type")]
    pub kind: String,
    pub physical_id: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    pub properties: Value,
    /// A function's code (`CodeSha256` of its zip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
}

impl Referable for Deployed {
    fn reference(&self) -> &str {
        &self.physical_id
    }
    fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name)
    }
}

/// What an update did.
pub enum Updated {
    Unchanged,
    Changed(Deployed),
    /// The change needs a new resource (a new name, key schema, event source, ...).
    Replace,
}

pub struct Ctx<'a> {
    pub endpoint: &'a Endpoint,
    pub stack: &'a str,
    pub account: &'a str,
    /// The template's folder: `CodeUri` paths are relative to it.
    pub base: PathBuf,
    /// Install `requirements.txt` into function zips.
    pub build: bool,
}

type Result<T> = std::result::Result<T, String>;

fn err(what: &str, e: ClientError) -> String {
    format!("{what}: {e}")
}

/// CloudFormation's name for a resource without one: stack, logical id and a suffix that is
/// the same on every deploy of the stack, within `max` characters.
pub fn generated_name(stack: &str, logical: &str, max: usize) -> String {
    let digest = Sha256::digest(format!("{stack}/{logical}").as_bytes());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let suffix: String = digest[..12]
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect();
    let room = max.saturating_sub(suffix.len() + 1);
    let mut head = format!("{stack}-{logical}");
    head.truncate(room);
    format!("{head}-{suffix}")
}

/// Template values that are strings where the APIs want numbers or booleans (parameters are
/// strings), converted by member name.
pub fn typed(v: &mut Value) {
    const NUMBERS: &[&str] = &[
        "ReadCapacityUnits",
        "WriteCapacityUnits",
        "MaxReadRequestUnits",
        "MaxWriteRequestUnits",
        "Timeout",
        "MemorySize",
        "Size",
        "ReservedConcurrentExecutions",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "ParallelizationFactor",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "TumblingWindowInSeconds",
        "MaximumEventAgeInSeconds",
        "MaximumWindowInMinutes",
    ];
    const BOOLEANS: &[&str] = &[
        "Enabled",
        "BisectBatchOnFunctionError",
        "SSEEnabled",
        "DeletionProtectionEnabled",
    ];
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if let Value::String(s) = x {
                    if NUMBERS.contains(&k.as_str()) {
                        if let Ok(n) = s.parse::<i64>() {
                            *x = json!(n);
                        }
                    } else if BOOLEANS.contains(&k.as_str()) {
                        if let Ok(b) = s.to_ascii_lowercase().parse::<bool>() {
                            *x = json!(b);
                        }
                    }
                } else {
                    typed(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(typed),
        _ => {}
    }
}

fn pick(from: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| from.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn changed(old: &Value, new: &Value, keys: &[&str]) -> bool {
    keys.iter().any(|k| old.get(*k) != new.get(*k))
}

pub fn create(ctx: &Ctx, logical: &str, kind: &str, props: &Value) -> Result<Deployed> {
    match kind {
        "AWS::DynamoDB::Table" => table::create(ctx, logical, props),
        "AWS::Lambda::Function" => function::create(ctx, logical, props),
        "AWS::Lambda::EventSourceMapping" => mapping::create(ctx, props),
        "AWS::Lambda::Permission" => permission::create(ctx, logical, props),
        "AWS::Events::Rule" => rule::put(ctx, logical, props, None),
        "AWS::Scheduler::Schedule" => schedule::create(ctx, logical, props),
        "AWS::SQS::Queue" => queue::create(ctx, logical, props),
        HTTP_API => http_api::put(ctx, logical, props),
        other => Err(format!("{other} cannot be deployed")),
    }
}

pub fn update(ctx: &Ctx, logical: &str, old: &Deployed, props: &Value) -> Result<Updated> {
    if old.kind == "AWS::Lambda::Function" {
        // The code may change with the same properties.
        return function::update(ctx, logical, old, props);
    }
    if old.properties == *props {
        return Ok(Updated::Unchanged);
    }
    let changed = match old.kind.as_str() {
        "AWS::DynamoDB::Table" => return table::update(ctx, old, props),
        "AWS::Lambda::EventSourceMapping" => return mapping::update(ctx, old, props),
        "AWS::Lambda::Permission" => return Ok(Updated::Replace),
        "AWS::Events::Rule" => {
            if changed(&old.properties, props, &["Name", "EventBusName"]) {
                return Ok(Updated::Replace);
            }
            rule::put(ctx, logical, props, Some(old))?
        }
        "AWS::Scheduler::Schedule" => {
            if changed(&old.properties, props, &["Name", "GroupName"]) {
                return Ok(Updated::Replace);
            }
            schedule::update(ctx, old, props)?
        }
        "AWS::SQS::Queue" => {
            if changed(&old.properties, props, &["QueueName", "FifoQueue"]) {
                return Ok(Updated::Replace);
            }
            queue::update(ctx, old, props)?
        }
        HTTP_API => http_api::put(ctx, logical, props)?,
        other => return Err(format!("{other} cannot be updated")),
    };
    Ok(Updated::Changed(changed))
}

/// Deletes a resource; one already gone counts as deleted.
pub fn delete(ctx: &Ctx, d: &Deployed) -> Result<()> {
    let result = match d.kind.as_str() {
        "AWS::DynamoDB::Table" => table::delete(ctx, d),
        "AWS::Lambda::Function" => ctx.endpoint.rest(
            "DELETE",
            &format!("/2015-03-31/functions/{}", d.physical_id),
            "lambda",
            &Value::Null,
        ),
        "AWS::Lambda::EventSourceMapping" => ctx.endpoint.rest(
            "DELETE",
            &format!("/2015-03-31/event-source-mappings/{}", d.physical_id),
            "lambda",
            &Value::Null,
        ),
        "AWS::Lambda::Permission" => permission::delete(ctx, d),
        "AWS::Events::Rule" => rule::delete(ctx, d),
        "AWS::Scheduler::Schedule" => ctx.endpoint.rest(
            "DELETE",
            &format!(
                "/schedules/{}?groupName={}",
                d.physical_id,
                d.properties["GroupName"].as_str().unwrap_or("default")
            ),
            "scheduler",
            &Value::Null,
        ),
        "AWS::SQS::Queue" => ctx.endpoint.json10(
            "sqs",
            "AmazonSQS.DeleteQueue",
            &json!({"QueueUrl": d.physical_id}),
        ),
        HTTP_API => ctx.endpoint.rest(
            "DELETE",
            &format!("/dynarock/apis/{}", d.physical_id),
            "execute-api",
            &Value::Null,
        ),
        other => return Err(format!("{other} cannot be deleted")),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                Some("ResourceNotFoundException")
                    | Some("QueueDoesNotExist")
                    | Some("AWS.SimpleQueueService.NonExistentQueue")
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(err(&format!("cannot delete {}", d.physical_id), e)),
    }
}

mod table {
    use super::*;

    const CREATE_KEYS: &[&str] = &[
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "BillingMode",
        "ProvisionedThroughput",
        "OnDemandThroughput",
        "SSESpecification",
        "DeletionProtectionEnabled",
        "TableClass",
        "Tags",
    ];

    fn stream(props: &Value) -> Value {
        match props["StreamSpecification"].get("StreamViewType") {
            Some(view) => json!({"StreamEnabled": true, "StreamViewType": view}),
            None => Value::Null,
        }
    }

    fn describe(ctx: &Ctx, name: &str) -> Result<Value> {
        ctx.endpoint
            .json10(
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                &json!({ "TableName": name }),
            )
            .map(|v| v["Table"].clone())
            .map_err(|e| err(&format!("cannot describe table {name}"), e))
    }

    /// Waits (bounded) until the table and its indexes are ACTIVE: DynamoDB takes one index
    /// change at a time.
    fn wait_active(ctx: &Ctx, name: &str) -> Result<Value> {
        for _ in 0..600 {
            let t = describe(ctx, name)?;
            let indexes_active = t["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|i| i["IndexStatus"] == "ACTIVE");
            if t["TableStatus"] == "ACTIVE" && indexes_active {
                return Ok(t);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(format!("table {name} did not become ACTIVE within 60 s"))
    }

    fn call(ctx: &Ctx, op: &str, body: Value) -> Result<Value> {
        ctx.endpoint
            .json10("dynamodb", &format!("DynamoDB_20120810.{op}"), &body)
            .map_err(|e| err(op, e))
    }

    fn deployed(ctx: &Ctx, name: &str, props: &Value) -> Result<Deployed> {
        let t = wait_active(ctx, name)?;
        let mut attributes = Map::new();
        attributes.insert("Arn".into(), t["TableArn"].clone());
        if let Some(s) = t.get("LatestStreamArn") {
            attributes.insert("StreamArn".into(), s.clone());
        }
        Ok(Deployed {
            kind: "AWS::DynamoDB::Table".into(),
            physical_id: name.to_string(),
            attributes,
            properties: props.clone(),
            code_sha256: None,
        })
    }

    fn ttl(ctx: &Ctx, name: &str, old: &Value, new: &Value) -> Result<()> {
        let (o, n) = (
            &old["TimeToLiveSpecification"],
            &new["TimeToLiveSpecification"],
        );
        if o == n {
            return Ok(());
        }
        if o["Enabled"] == true
            && (n["Enabled"] != true || o["AttributeName"] != n["AttributeName"])
        {
            call(
                ctx,
                "UpdateTimeToLive",
                json!({"TableName": name, "TimeToLiveSpecification": {"AttributeName": o["AttributeName"], "Enabled": false}}),
            )?;
        }
        if n["Enabled"] == true {
            call(
                ctx,
                "UpdateTimeToLive",
                json!({"TableName": name, "TimeToLiveSpecification": {"AttributeName": n["AttributeName"], "Enabled": true}}),
            )?;
        }
        Ok(())
    }

    /// `PointInTimeRecoverySpecification`, applied with UpdateContinuousBackups when it changes
    /// (absent: off).
    fn pitr(ctx: &Ctx, name: &str, old: &Value, new: &Value) -> Result<()> {
        let spec = |props: &Value| {
            let s = &props["PointInTimeRecoverySpecification"];
            let mut spec =
                json!({"PointInTimeRecoveryEnabled": s["PointInTimeRecoveryEnabled"] == true});
            if s["PointInTimeRecoveryEnabled"] == true && !s["RecoveryPeriodInDays"].is_null() {
                spec["RecoveryPeriodInDays"] = s["RecoveryPeriodInDays"].clone();
            }
            spec
        };
        let (o, n) = (spec(old), spec(new));
        if o == n {
            return Ok(());
        }
        call(
            ctx,
            "UpdateContinuousBackups",
            json!({"TableName": name, "PointInTimeRecoverySpecification": n}),
        )
        .map(drop)
    }

    pub fn create(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let name = props["TableName"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| generated_name(ctx.stack, logical, 255));
        let mut body = pick(props, CREATE_KEYS);
        body.insert("TableName".into(), json!(name));
        let s = stream(props);
        if !s.is_null() {
            body.insert("StreamSpecification".into(), s);
        }
        call(ctx, "CreateTable", Value::Object(body))?;
        ttl(ctx, &name, &Value::Null, props)?;
        pitr(ctx, &name, &Value::Null, props)?;
        deployed(ctx, &name, props)
    }

    fn by_name(props: &Value, key: &str) -> Map<String, Value> {
        props[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i["IndexName"].as_str()?.to_string(), i.clone())))
            .collect()
    }

    pub fn update(ctx: &Ctx, old: &Deployed, new: &Value) -> Result<Updated> {
        let o = &old.properties;
        let name = old.physical_id.as_str();
        if new["TableName"].as_str().is_some_and(|n| n != name)
            || changed(o, new, &["KeySchema", "LocalSecondaryIndexes"])
        {
            return Ok(Updated::Replace);
        }
        let settings = [
            "BillingMode",
            "ProvisionedThroughput",
            "OnDemandThroughput",
            "DeletionProtectionEnabled",
            "TableClass",
            "SSESpecification",
        ];
        if changed(o, new, &settings) {
            let mut body = pick(new, &settings);
            body.insert("TableName".into(), json!(name));
            if new.get("BillingMode").is_none() && o.get("BillingMode").is_some() {
                body.insert("BillingMode".into(), json!("PROVISIONED"));
            }
            call(ctx, "UpdateTable", Value::Object(body))?;
            wait_active(ctx, name)?;
        }
        let (os, ns) = (stream(o), stream(new));
        if os != ns {
            if !os.is_null() {
                call(
                    ctx,
                    "UpdateTable",
                    json!({"TableName": name, "StreamSpecification": {"StreamEnabled": false}}),
                )?;
            }
            if !ns.is_null() {
                call(
                    ctx,
                    "UpdateTable",
                    json!({"TableName": name, "StreamSpecification": ns}),
                )?;
            }
        }
        let (oi, ni) = (
            by_name(o, "GlobalSecondaryIndexes"),
            by_name(new, "GlobalSecondaryIndexes"),
        );
        for index in oi.keys().filter(|k| !ni.contains_key(*k)) {
            call(
                ctx,
                "UpdateTable",
                json!({"TableName": name, "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index}}]}),
            )?;
            wait_active(ctx, name)?;
        }
        for (index, spec) in &ni {
            let update = match oi.get(index) {
                None => json!({"Create": spec}),
                Some(before) if before == spec => continue,
                Some(before) if changed(before, spec, &["KeySchema", "Projection"]) => {
                    return Err(format!(
                        "table {name}: index {index} changes its keys or projection; CloudFormation cannot update an index in place: rename it"
                    ))
                }
                Some(_) => json!({"Update": pick(spec, &["IndexName", "ProvisionedThroughput", "OnDemandThroughput"])}),
            };
            call(
                ctx,
                "UpdateTable",
                json!({"TableName": name, "AttributeDefinitions": new["AttributeDefinitions"], "GlobalSecondaryIndexUpdates": [update]}),
            )?;
            wait_active(ctx, name)?;
        }
        ttl(ctx, name, o, new)?;
        pitr(ctx, name, o, new)?;
        if o["Tags"] != new["Tags"] {
            let arn = old.attributes["Arn"].clone();
            let keys: Vec<Value> = o["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["Key"].clone())
                .collect();
            if !keys.is_empty() {
                call(
                    ctx,
                    "UntagResource",
                    json!({"ResourceArn": arn, "TagKeys": keys}),
                )?;
            }
            if new["Tags"].as_array().is_some_and(|t| !t.is_empty()) {
                call(
                    ctx,
                    "TagResource",
                    json!({"ResourceArn": arn, "Tags": new["Tags"]}),
                )?;
            }
        }
        deployed(ctx, name, new).map(Updated::Changed)
    }

    pub fn delete(ctx: &Ctx, d: &Deployed) -> std::result::Result<Value, ClientError> {
        ctx.endpoint.json10(
            "dynamodb",
            "DynamoDB_20120810.DeleteTable",
            &json!({"TableName": d.physical_id}),
        )
    }
}

mod function {
    use super::*;

    const CONFIG: &[&str] = &[
        "Runtime",
        "Handler",
        "Role",
        "Description",
        "Timeout",
        "MemorySize",
        "Environment",
        "EphemeralStorage",
    ];

    fn code(ctx: &Ctx, props: &Value) -> Result<Package> {
        let code = &props["Code"];
        if let Some(path) = code["LocalPath"].as_str() {
            let runtime = props["Runtime"].as_str().unwrap_or("");
            return package::folder(&ctx.base.join(path), ctx.build, runtime);
        }
        if let Some(source) = code["ZipFile"].as_str() {
            return package::inline(source, props["Runtime"].as_str().unwrap_or(""));
        }
        Err("Code must be a local folder (CodeUri) or inline source (ZipFile); S3 locations are not supported by dynarock deploy".into())
    }

    fn path(name: &str, rest: &str) -> String {
        format!("/2015-03-31/functions/{name}{rest}")
    }

    fn config(ctx: &Ctx, logical: &str, props: &Value) -> Map<String, Value> {
        let mut body = pick(props, CONFIG);
        body.entry("Role").or_insert_with(|| {
            json!(format!(
                "arn:aws:iam::{}:role/{}",
                ctx.account,
                generated_name(ctx.stack, &format!("{logical}Role"), 64)
            ))
        });
        body
    }

    fn concurrency(ctx: &Ctx, name: &str, old: &Value, new: &Value) -> Result<()> {
        let key = "ReservedConcurrentExecutions";
        if old.get(key) == new.get(key) {
            return Ok(());
        }
        let path = format!("/2017-10-31/functions/{name}/concurrency");
        let r = match new.get(key) {
            Some(n) => ctx
                .endpoint
                .rest("PUT", &path, "lambda", &json!({ key: n })),
            None => ctx.endpoint.rest("DELETE", &path, "lambda", &Value::Null),
        };
        r.map(|_| ())
            .map_err(|e| err(&format!("cannot set {name}'s concurrency"), e))
    }

    fn url(ctx: &Ctx, name: &str, old: &Value, new: &Value) -> Result<()> {
        let key = "FunctionUrlConfig";
        if old.get(key) == new.get(key) {
            return Ok(());
        }
        let path = format!("/2021-10-31/functions/{name}/url");
        let r = match (old.get(key), new.get(key)) {
            (None, Some(c)) => ctx.endpoint.rest("POST", &path, "lambda", c),
            (Some(_), Some(c)) => ctx.endpoint.rest("PUT", &path, "lambda", c),
            (_, None) => ctx.endpoint.rest("DELETE", &path, "lambda", &Value::Null),
        };
        r.map(|_| ())
            .map_err(|e| err(&format!("cannot set {name}'s URL"), e))
    }

    fn deployed(name: &str, arn: Value, props: &Value, sha: String) -> Deployed {
        let mut attributes = Map::new();
        attributes.insert("Arn".into(), arn);
        Deployed {
            kind: "AWS::Lambda::Function".into(),
            physical_id: name.to_string(),
            attributes,
            properties: props.clone(),
            code_sha256: Some(sha),
        }
    }

    pub fn create(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let name = props["FunctionName"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| generated_name(ctx.stack, logical, 64));
        let package = code(ctx, props)?;
        let mut body = config(ctx, logical, props);
        body.insert("FunctionName".into(), json!(name));
        body.insert("Code".into(), json!({"ZipFile": base64_of(&package.zip)}));
        if let Some(a) = props.get("Architectures") {
            body.insert("Architectures".into(), a.clone());
        }
        let tags: Map<String, Value> = props["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["Key"].as_str()?.to_string(), t["Value"].clone())))
            .collect();
        if !tags.is_empty() {
            body.insert("Tags".into(), Value::Object(tags));
        }
        let created = ctx
            .endpoint
            .rest(
                "POST",
                "/2015-03-31/functions",
                "lambda",
                &Value::Object(body),
            )
            .map_err(|e| err(&format!("cannot create function {name}"), e))?;
        concurrency(ctx, &name, &Value::Null, props)?;
        url(ctx, &name, &Value::Null, props)?;
        Ok(deployed(
            &name,
            created["FunctionArn"].clone(),
            props,
            package.sha256,
        ))
    }

    pub fn update(ctx: &Ctx, logical: &str, old: &Deployed, props: &Value) -> Result<Updated> {
        let name = old.physical_id.as_str();
        if props["FunctionName"].as_str().is_some_and(|n| n != name)
            || changed(&old.properties, props, &["Architectures"])
        {
            return Ok(Updated::Replace);
        }
        let package = code(ctx, props)?;
        let code_changed = old.code_sha256.as_deref() != Some(package.sha256.as_str());
        if !code_changed && old.properties == *props {
            return Ok(Updated::Unchanged);
        }
        if code_changed {
            ctx.endpoint
                .rest(
                    "PUT",
                    &path(name, "/code"),
                    "lambda",
                    &json!({"ZipFile": base64_of(&package.zip)}),
                )
                .map_err(|e| err(&format!("cannot update {name}'s code"), e))?;
        }
        if changed(&old.properties, props, CONFIG) {
            let mut body = config(ctx, logical, props);
            // Members taken out of the template go back to Lambda's defaults.
            for (k, default) in [
                ("Description", json!("")),
                ("Timeout", json!(3)),
                ("MemorySize", json!(128)),
                ("Environment", json!({"Variables": {}})),
            ] {
                body.entry(k).or_insert(default);
            }
            ctx.endpoint
                .rest(
                    "PUT",
                    &path(name, "/configuration"),
                    "lambda",
                    &Value::Object(body),
                )
                .map_err(|e| err(&format!("cannot update {name}'s configuration"), e))?;
        }
        concurrency(ctx, name, &old.properties, props)?;
        url(ctx, name, &old.properties, props)?;
        Ok(Updated::Changed(deployed(
            name,
            old.attributes["Arn"].clone(),
            props,
            package.sha256,
        )))
    }

    fn base64_of(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

mod mapping {
    use super::*;

    /// What UpdateEventSourceMapping changes.
    const MUTABLE: &[&str] = &[
        "Enabled",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "ParallelizationFactor",
        "MaximumRetryAttempts",
        "BisectBatchOnFunctionError",
        "MaximumRecordAgeInSeconds",
        "TumblingWindowInSeconds",
        "DestinationConfig",
        "FunctionResponseTypes",
        "FilterCriteria",
    ];

    /// Lambda's value of a mutable member the template leaves out.
    fn lambda_default(member: &str) -> Value {
        match member {
            "Enabled" => json!(true),
            "BatchSize" => json!(100),
            "ParallelizationFactor" => json!(1),
            "MaximumRetryAttempts" | "MaximumRecordAgeInSeconds" => json!(-1),
            "BisectBatchOnFunctionError" => json!(false),
            "DestinationConfig" => json!({"OnFailure": {}}),
            "FunctionResponseTypes" => json!([]),
            "FilterCriteria" => json!({"Filters": []}),
            _ => json!(0),
        }
    }

    fn deployed(answer: &Value, props: &Value) -> Deployed {
        let uuid = answer["UUID"].as_str().unwrap_or_default().to_string();
        let mut attributes = Map::new();
        attributes.insert("Id".into(), json!(uuid));
        Deployed {
            kind: "AWS::Lambda::EventSourceMapping".into(),
            physical_id: uuid,
            attributes,
            properties: props.clone(),
            code_sha256: None,
        }
    }

    pub fn create(ctx: &Ctx, props: &Value) -> Result<Deployed> {
        let answer = ctx
            .endpoint
            .rest("POST", "/2015-03-31/event-source-mappings", "lambda", props)
            .map_err(|e| err("cannot create the event source mapping", e))?;
        Ok(deployed(&answer, props))
    }

    pub fn update(ctx: &Ctx, old: &Deployed, props: &Value) -> Result<Updated> {
        if changed(
            &old.properties,
            props,
            &[
                "EventSourceArn",
                "StartingPosition",
                "StartingPositionTimestamp",
            ],
        ) {
            return Ok(Updated::Replace);
        }
        let mut body = Map::new();
        body.insert("FunctionName".into(), props["FunctionName"].clone());
        for k in MUTABLE {
            let value = props.get(*k).cloned().unwrap_or_else(|| lambda_default(k));
            body.insert(k.to_string(), value);
        }
        let answer = ctx
            .endpoint
            .rest(
                "PUT",
                &format!("/2015-03-31/event-source-mappings/{}", old.physical_id),
                "lambda",
                &Value::Object(body),
            )
            .map_err(|e| err("cannot update the event source mapping", e))?;
        Ok(Updated::Changed(deployed(&answer, props)))
    }
}

mod permission {
    use super::*;

    pub fn create(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let function = props["FunctionName"].as_str().unwrap_or_default();
        let function = function.rsplit(':').next().unwrap_or(function);
        let sid = generated_name(ctx.stack, logical, 100);
        let mut body = pick(
            props,
            &["Action", "Principal", "SourceArn", "SourceAccount"],
        );
        body.insert("StatementId".into(), json!(sid));
        ctx.endpoint
            .rest(
                "POST",
                &format!("/2015-03-31/functions/{function}/policy"),
                "lambda",
                &Value::Object(body),
            )
            .map_err(|e| err(&format!("cannot add permission to {function}"), e))?;
        Ok(Deployed {
            kind: "AWS::Lambda::Permission".into(),
            physical_id: sid,
            attributes: Map::new(),
            properties: props.clone(),
            code_sha256: None,
        })
    }

    pub fn delete(ctx: &Ctx, d: &Deployed) -> std::result::Result<Value, ClientError> {
        let function = d.properties["FunctionName"].as_str().unwrap_or_default();
        let function = function.rsplit(':').next().unwrap_or(function);
        ctx.endpoint.rest(
            "DELETE",
            &format!("/2015-03-31/functions/{function}/policy/{}", d.physical_id),
            "lambda",
            &Value::Null,
        )
    }
}

mod rule {
    use super::*;

    fn call(ctx: &Ctx, op: &str, body: Value) -> Result<Value> {
        ctx.endpoint
            .json11("events", &format!("AWSEvents.{op}"), &body)
            .map_err(|e| err(op, e))
    }

    /// Creates or updates (PutRule and PutTargets are both), removing targets taken out.
    pub fn put(
        ctx: &Ctx,
        logical: &str,
        props: &Value,
        old: Option<&Deployed>,
    ) -> Result<Deployed> {
        let name = match old {
            Some(d) => d.physical_id.clone(),
            None => props["Name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| generated_name(ctx.stack, logical, 64)),
        };
        let mut body = pick(
            props,
            &[
                "ScheduleExpression",
                "State",
                "Description",
                "EventBusName",
                "RoleArn",
            ],
        );
        body.insert("Name".into(), json!(name));
        if let Some(p) = props.get("EventPattern") {
            body.insert("EventPattern".into(), json!(p.to_string()));
        }
        let answer = call(ctx, "PutRule", Value::Object(body))?;
        let targets: Vec<Value> = props["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let mut t = t.clone();
                if let Some(input) = t.get("Input").filter(|i| !i.is_string()).cloned() {
                    t["Input"] = json!(input.to_string());
                }
                t
            })
            .collect();
        if let Some(old) = old {
            let kept: Vec<&Value> = targets.iter().map(|t| &t["Id"]).collect();
            let gone: Vec<Value> = old.properties["Targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["Id"].clone())
                .filter(|id| !kept.contains(&id))
                .collect();
            if !gone.is_empty() {
                call(ctx, "RemoveTargets", json!({"Rule": name, "Ids": gone}))?;
            }
        }
        if !targets.is_empty() {
            let r = call(ctx, "PutTargets", json!({"Rule": name, "Targets": targets}))?;
            if r["FailedEntryCount"].as_i64().unwrap_or(0) > 0 {
                return Err(format!("PutTargets on {name}: {}", r["FailedEntries"]));
            }
        }
        let mut attributes = Map::new();
        attributes.insert("Arn".into(), answer["RuleArn"].clone());
        Ok(Deployed {
            kind: "AWS::Events::Rule".into(),
            physical_id: name,
            attributes,
            properties: props.clone(),
            code_sha256: None,
        })
    }

    pub fn delete(ctx: &Ctx, d: &Deployed) -> std::result::Result<Value, ClientError> {
        let ids: Vec<Value> = d.properties["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["Id"].clone())
            .collect();
        if !ids.is_empty() {
            ctx.endpoint.json11(
                "events",
                "AWSEvents.RemoveTargets",
                &json!({"Rule": d.physical_id, "Ids": ids}),
            )?;
        }
        ctx.endpoint.json11(
            "events",
            "AWSEvents.DeleteRule",
            &json!({"Name": d.physical_id}),
        )
    }
}

mod schedule {
    use super::*;

    fn body(props: &Value) -> Result<Value> {
        let mut body = pick(
            props,
            &[
                "ScheduleExpression",
                "ScheduleExpressionTimezone",
                "FlexibleTimeWindow",
                "Target",
                "State",
                "Description",
                "GroupName",
            ],
        );
        for k in ["StartDate", "EndDate"] {
            if let Some(v) = props.get(k) {
                let seconds = match v {
                    Value::String(s) => s
                        .parse::<jiff::Timestamp>()
                        .map_err(|e| format!("{k} {s}: {e}"))?
                        .as_second(),
                    other => other.as_i64().unwrap_or(0),
                };
                body.insert(k.into(), json!(seconds));
            }
        }
        if let Some(input) = body
            .get_mut("Target")
            .and_then(|t| t.get_mut("Input"))
            .filter(|i| !i.is_string())
        {
            *input = json!(input.to_string());
        }
        Ok(Value::Object(body))
    }

    fn deployed(name: String, answer: &Value, props: &Value) -> Deployed {
        let mut attributes = Map::new();
        attributes.insert("Arn".into(), answer["ScheduleArn"].clone());
        Deployed {
            kind: "AWS::Scheduler::Schedule".into(),
            physical_id: name,
            attributes,
            properties: props.clone(),
            code_sha256: None,
        }
    }

    pub fn create(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let name = props["Name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| generated_name(ctx.stack, logical, 64));
        let answer = ctx
            .endpoint
            .rest(
                "POST",
                &format!("/schedules/{name}"),
                "scheduler",
                &body(props)?,
            )
            .map_err(|e| err(&format!("cannot create schedule {name}"), e))?;
        Ok(deployed(name, &answer, props))
    }

    pub fn update(ctx: &Ctx, old: &Deployed, props: &Value) -> Result<Deployed> {
        let name = old.physical_id.clone();
        let answer = ctx
            .endpoint
            .rest(
                "PUT",
                &format!("/schedules/{name}"),
                "scheduler",
                &body(props)?,
            )
            .map_err(|e| err(&format!("cannot update schedule {name}"), e))?;
        Ok(deployed(name, &answer, props))
    }
}

mod queue {
    use super::*;

    /// The queue's attributes as SQS takes them: strings.
    fn attributes(props: &Value) -> Value {
        let mut out = Map::new();
        for (k, v) in props.as_object().into_iter().flatten() {
            if k == "QueueName" || k == "Tags" {
                continue;
            }
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), json!(text));
        }
        Value::Object(out)
    }

    fn deployed(ctx: &Ctx, url: String, props: &Value) -> Result<Deployed> {
        let a = ctx
            .endpoint
            .json10(
                "sqs",
                "AmazonSQS.GetQueueAttributes",
                &json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
            )
            .map_err(|e| err("GetQueueAttributes", e))?;
        let arn = a["Attributes"]["QueueArn"].clone();
        let name = arn
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .unwrap_or_default()
            .to_string();
        let mut attributes = Map::new();
        attributes.insert("Arn".into(), arn);
        attributes.insert("QueueName".into(), json!(name));
        attributes.insert("QueueUrl".into(), json!(url));
        Ok(Deployed {
            kind: "AWS::SQS::Queue".into(),
            physical_id: url,
            attributes,
            properties: props.clone(),
            code_sha256: None,
        })
    }

    pub fn create(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let fifo = props["FifoQueue"] == true || props["FifoQueue"] == "true";
        let name = props["QueueName"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                let base = generated_name(ctx.stack, logical, if fifo { 75 } else { 80 });
                if fifo {
                    format!("{base}.fifo")
                } else {
                    base
                }
            });
        let answer = ctx
            .endpoint
            .json10(
                "sqs",
                "AmazonSQS.CreateQueue",
                &json!({"QueueName": name, "Attributes": attributes(props)}),
            )
            .map_err(|e| err(&format!("cannot create queue {name}"), e))?;
        deployed(
            ctx,
            answer["QueueUrl"].as_str().unwrap_or_default().to_string(),
            props,
        )
    }

    pub fn update(ctx: &Ctx, old: &Deployed, props: &Value) -> Result<Deployed> {
        ctx.endpoint
            .json10(
                "sqs",
                "AmazonSQS.SetQueueAttributes",
                &json!({"QueueUrl": old.physical_id, "Attributes": attributes(props)}),
            )
            .map_err(|e| err("SetQueueAttributes", e))?;
        deployed(ctx, old.physical_id.clone(), props)
    }
}

mod http_api {
    use super::*;

    pub fn put(ctx: &Ctx, logical: &str, props: &Value) -> Result<Deployed> {
        let digest = Sha256::digest(format!("{}/{logical}", ctx.stack).as_bytes());
        let id: String = digest[..10]
            .iter()
            .map(|b| b"abcdefghijklmnopqrstuvwxyz0123456789"[*b as usize % 36] as char)
            .collect();
        let answer = ctx
            .endpoint
            .rest("PUT", &format!("/dynarock/apis/{id}"), "execute-api", props)
            .map_err(|e| err(&format!("cannot create the HTTP API {logical}"), e))?;
        let mut attributes = Map::new();
        attributes.insert("ApiId".into(), json!(id));
        attributes.insert("ApiEndpoint".into(), answer["ApiEndpoint"].clone());
        Ok(Deployed {
            kind: HTTP_API.into(),
            physical_id: id,
            attributes,
            properties: props.clone(),
            code_sha256: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_stable_and_fit() {
        let a = generated_name("thumbnails", "ThumbnailFunction", 64);
        assert_eq!(a, generated_name("thumbnails", "ThumbnailFunction", 64));
        assert!(a.starts_with("thumbnails-ThumbnailFunction-"), "{a}");
        assert_ne!(a, generated_name("other", "ThumbnailFunction", 64));
        let long = generated_name(&"s".repeat(60), "ThumbnailFunction", 64);
        assert_eq!(long.len(), 64);
    }

    #[test]
    fn parameter_strings_become_numbers_and_booleans() {
        let mut v = json!({"Timeout": "30", "Events": [{"Enabled": "False", "BatchSize": "10"}], "Handler": "1"});
        typed(&mut v);
        assert_eq!(
            v,
            json!({"Timeout": 30, "Events": [{"Enabled": false, "BatchSize": 10}], "Handler": "1"})
        );
    }
}
