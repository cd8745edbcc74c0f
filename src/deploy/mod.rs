//! `dynarock deploy template.yaml`: a SAM (or plain CloudFormation) template deployed to a
//! running server through its public APIs, like a CloudFormation stack. The stack's record
//! (each resource's physical id, attributes and last properties) is kept by the server, so a
//! redeploy changes only what changed: a table keeps its items when a function's code changes.
//!
//! There is no rollback: a failed deploy keeps what it created in the stack's record; fixing
//! the template and deploying again carries on, and `--delete` removes it all.

mod intrinsics;
mod package;
mod resources;
mod sam;
mod template;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::client::Endpoint;
use crate::config::DeployArgs;
use intrinsics::{Referable, Resolver};
use resources::{Ctx, Deployed, Updated};

/// What the server keeps of a stack.
#[derive(Serialize, Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct StackRecord {
    stack_name: String,
    status: String,
    /// Logical id to resource, in the order they were deployed.
    resources: BTreeMap<String, Deployed>,
    order: Vec<String>,
    /// Resources replaced or taken out whose deletion has not finished.
    #[serde(default)]
    to_delete: Vec<Deployed>,
    #[serde(default)]
    outputs: Map<String, Value>,
    last_updated_time: String,
}

pub fn run(args: &DeployArgs) -> Result<(), String> {
    let endpoint = Endpoint::new(&args.server.at.endpoint, &args.server.region);
    let template_path = Path::new(&args.template);
    let stack = match &args.stack_name {
        Some(s) => s.clone(),
        None => default_stack_name(template_path)?,
    };
    let account = std::env::var("DYNAROCK_ACCOUNT_ID").unwrap_or_else(|_| "000000000000".into());
    let ctx = Ctx {
        endpoint: &endpoint,
        stack: &stack,
        account: &account,
        base: template_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        build: !args.no_build,
    };
    let previous = load(&endpoint, &stack)?;
    if args.delete {
        return delete_stack(&ctx, previous);
    }
    let text = std::fs::read_to_string(template_path)
        .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    let overrides = parse_overrides(&args.parameter_overrides)?;
    deploy(&ctx, &text, &overrides, previous.unwrap_or_default())
}

/// The template folder's name, as a stack name.
fn default_stack_name(template: &Path) -> Result<String, String> {
    let folder = std::fs::canonicalize(template)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let name: String = folder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Ok(name)
    } else {
        Err("give the stack a name with --stack-name".into())
    }
}

/// `K=V` and `ParameterKey=K,ParameterValue=V` (the forms `sam deploy` takes), several to an
/// argument when separated by spaces; a word without `=` continues the value before it
/// (`Schedule=rate(1 day)`), and quotes around a value are dropped.
fn parse_overrides(given: &[String]) -> Result<HashMap<String, String>, String> {
    let mut items: Vec<String> = Vec::new();
    for arg in given {
        for word in arg.split_whitespace() {
            match items.last_mut() {
                Some(last) if !word.contains('=') => {
                    last.push(' ');
                    last.push_str(word);
                }
                _ => items.push(word.to_string()),
            }
        }
    }
    let mut out = HashMap::new();
    for item in &items {
        let (k, v) = match item.strip_prefix("ParameterKey=") {
            Some(rest) => rest
                .split_once(",ParameterValue=")
                .ok_or_else(|| format!("cannot read the parameter override {item}"))?,
            None => item
                .split_once('=')
                .ok_or_else(|| format!("a parameter override is Key=Value, not {item}"))?,
        };
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn load(endpoint: &Endpoint, stack: &str) -> Result<Option<StackRecord>, String> {
    match endpoint.rest(
        "GET",
        &format!("/dynarock/stacks/{stack}"),
        "cloudformation",
        &Value::Null,
    ) {
        Ok(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| format!("the record of stack {stack} is unreadable: {e}")),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(format!("cannot read stack {stack}: {e}")),
    }
}

fn save(endpoint: &Endpoint, record: &mut StackRecord) -> Result<(), String> {
    record.last_updated_time = jiff::Timestamp::now().to_string();
    let body = serde_json::to_value(&*record).map_err(|e| e.to_string())?;
    endpoint
        .rest(
            "PUT",
            &format!("/dynarock/stacks/{}", record.stack_name),
            "cloudformation",
            &body,
        )
        .map(|_| ())
        .map_err(|e| format!("cannot save stack {}: {e}", record.stack_name))
}

/// Pseudo parameters, as CloudFormation gives them.
fn pseudo(ctx: &Ctx) -> HashMap<String, Value> {
    let region = &ctx.endpoint.region;
    [
        ("AWS::Region", json!(region)),
        ("AWS::AccountId", json!(ctx.account)),
        ("AWS::StackName", json!(ctx.stack)),
        (
            "AWS::StackId",
            json!(format!(
                "arn:aws:cloudformation:{region}:{}:stack/{}/{}",
                ctx.account,
                ctx.stack,
                resources::generated_name(ctx.stack, "StackId", 40).to_lowercase()
            )),
        ),
        ("AWS::Partition", json!("aws")),
        ("AWS::URLSuffix", json!("amazonaws.com")),
        ("AWS::NotificationARNs", json!([])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The resources in an order where each comes after what it refers to.
fn deploy_order(
    resources: &Map<String, Value>,
    params: &HashMap<String, Value>,
) -> Result<Vec<String>, String> {
    let mut needs: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, r) in resources {
        let mut refs = BTreeSet::new();
        intrinsics::references(&r["Properties"], &mut refs);
        match &r["DependsOn"] {
            Value::String(d) => {
                refs.insert(d.clone());
            }
            Value::Array(list) => {
                refs.extend(list.iter().filter_map(|d| d.as_str().map(str::to_string)))
            }
            _ => {}
        }
        refs.retain(|r| !params.contains_key(r) && r != "AWS::NoValue");
        if let Some(unknown) = refs.iter().find(|r| !resources.contains_key(*r)) {
            return Err(format!(
                "Template format error: Unresolved resource dependencies [{unknown}] in the Resources block of the template (used by {name})"
            ));
        }
        needs.insert(name, refs);
    }
    let mut order: Vec<String> = Vec::new();
    while order.len() < resources.len() {
        let ready: Vec<String> = needs
            .iter()
            .filter(|(n, deps)| {
                !order.iter().any(|o| o == *n) && deps.iter().all(|d| order.contains(d))
            })
            .map(|(n, _)| n.to_string())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = needs
                .keys()
                .copied()
                .filter(|n| !order.iter().any(|o| o == n))
                .collect();
            return Err(format!(
                "Template format error: Circular dependency between resources: [{}]",
                stuck.join(", ")
            ));
        }
        order.extend(ready);
    }
    Ok(order)
}

fn deploy(
    ctx: &Ctx,
    text: &str,
    overrides: &HashMap<String, String>,
    mut record: StackRecord,
) -> Result<(), String> {
    let template = template::parse(text)?;
    sam::check_supported(&template)?;
    let mut params = template::parameter_values(&template, overrides)?;
    params.extend(pseudo(ctx));
    let conditions = intrinsics::evaluate_conditions::<Deployed>(
        &template.conditions,
        &params,
        &template.mappings,
    )?;
    let mut kept = template.clone();
    kept.resources
        .retain(|name, r| match r["Condition"].as_str() {
            Some(c) => conditions.get(c).copied().unwrap_or_else(|| {
                eprintln!("resource {name} names unknown condition {c}: left out");
                false
            }),
            None => true,
        });
    let resources = sam::transform(&kept)?;
    let order = deploy_order(&resources, &params)?;

    println!(
        "Deploying stack {} to {} ({})",
        ctx.stack, ctx.endpoint.url, ctx.endpoint.region
    );
    record.stack_name = ctx.stack.to_string();
    record.status = "UPDATE_IN_PROGRESS".into();
    let previous = std::mem::take(&mut record.resources);
    let mut deployed: BTreeMap<String, Deployed> = BTreeMap::new();
    for logical in &order {
        let resource = &resources[logical];
        let kind = resource["Type"].as_str().unwrap_or_default();
        let resolver = Resolver {
            params: &params,
            conditions: &conditions,
            mappings: &template.mappings,
            resources: &deployed,
        };
        let mut props = resolver
            .resolve(&resource["Properties"])
            .map_err(|e| format!("{logical}: {e}"))?
            .unwrap_or(json!({}));
        resources::typed(&mut props);
        let old = previous.get(logical).filter(|d| d.kind == kind);
        let (action, result) = match old {
            None => ("CREATE", resources::create(ctx, logical, kind, &props)?),
            Some(old) => match resources::update(ctx, logical, old, &props)? {
                Updated::Unchanged => ("UNCHANGED", old.clone()),
                Updated::Changed(d) => ("UPDATE", d),
                Updated::Replace => {
                    let created = resources::create(ctx, logical, kind, &props)?;
                    record.to_delete.push(old.clone());
                    ("REPLACE", created)
                }
            },
        };
        println!("  {action:<9} {logical} ({kind}) {}", result.physical_id);
        let changed = action != "UNCHANGED";
        deployed.insert(logical.clone(), result);
        if changed {
            // What exists is recorded as it comes, so a failure later loses track of nothing.
            record.resources = previous
                .iter()
                .filter(|(k, _)| !deployed.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(deployed.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
            save(ctx.endpoint, &mut record)?;
        }
    }
    // Taken out of the template: deleted, the last deployed first.
    let mut gone: Vec<Deployed> = record
        .order
        .iter()
        .rev()
        .filter(|k| !deployed.contains_key(*k))
        .filter_map(|k| previous.get(k).cloned())
        .collect();
    gone.extend(
        previous
            .iter()
            .filter(|(k, _)| !deployed.contains_key(*k) && !record.order.contains(k))
            .map(|(_, v)| v.clone()),
    );
    gone.extend(std::mem::take(&mut record.to_delete));
    for d in &gone {
        resources::delete(ctx, d)?;
        println!("  {:<9} {} {}", "DELETE", d.kind, d.physical_id);
    }
    record.resources = deployed;
    record.order = order;
    record.outputs = outputs(ctx, &template, &params, &conditions, &record.resources)?;
    record.status = "UPDATE_COMPLETE".into();
    save(ctx.endpoint, &mut record)?;
    print_outputs(&record);
    Ok(())
}

/// The template's outputs; an API Gateway URL of an API deployed here becomes its URL on this
/// server, so the printed URLs work as they are.
fn outputs(
    ctx: &Ctx,
    template: &template::Template,
    params: &HashMap<String, Value>,
    conditions: &HashMap<String, bool>,
    deployed: &BTreeMap<String, Deployed>,
) -> Result<Map<String, Value>, String> {
    let resolver = Resolver {
        params,
        conditions,
        mappings: &template.mappings,
        resources: deployed,
    };
    let mut out = Map::new();
    for (name, spec) in &template.outputs {
        if let Some(c) = spec["Condition"].as_str() {
            if !conditions.get(c).copied().unwrap_or(false) {
                continue;
            }
        }
        let value = resolver
            .value(&spec["Value"])
            .map_err(|e| format!("Output {name}: {e}"))?;
        let value = match value {
            Value::String(s) => Value::String(local_url(ctx, &s, deployed)),
            other => other,
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// `https://{api}.execute-api.{region}.amazonaws.com/rest` → this server's URL of that API.
fn local_url(ctx: &Ctx, s: &str, deployed: &BTreeMap<String, Deployed>) -> String {
    let Some(after) = s.strip_prefix("https://") else {
        return s.to_string();
    };
    let (host, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
    let Some((id, domain)) = host.split_once(".execute-api.") else {
        return s.to_string();
    };
    let ours = deployed
        .values()
        .any(|d| d.kind == sam::HTTP_API && d.reference() == id);
    if !ours || !domain.ends_with("amazonaws.com") {
        return s.to_string();
    }
    format!("{}/execute-api/{id}{rest}", ctx.endpoint.url)
}

fn print_outputs(record: &StackRecord) {
    if record.outputs.is_empty() {
        return;
    }
    println!("Outputs:");
    for (k, v) in &record.outputs {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        println!("  {k} = {text}");
    }
}

fn delete_stack(ctx: &Ctx, record: Option<StackRecord>) -> Result<(), String> {
    let Some(mut record) = record else {
        return Err(format!("Stack with id {} does not exist", ctx.stack));
    };
    println!("Deleting stack {} from {}", ctx.stack, ctx.endpoint.url);
    record.status = "DELETE_IN_PROGRESS".into();
    let mut doomed: Vec<(String, Deployed)> = record
        .order
        .iter()
        .rev()
        .filter_map(|k| record.resources.get(k).map(|d| (k.clone(), d.clone())))
        .collect();
    doomed.extend(
        record
            .resources
            .iter()
            .filter(|(k, _)| !record.order.contains(k))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    for d in std::mem::take(&mut record.to_delete) {
        doomed.push((String::new(), d));
    }
    for (logical, d) in doomed {
        resources::delete(ctx, &d)?;
        println!("  {:<9} {logical} ({}) {}", "DELETE", d.kind, d.physical_id);
        record.resources.remove(&logical);
        save(ctx.endpoint, &mut record)?;
    }
    ctx.endpoint
        .rest(
            "DELETE",
            &format!("/dynarock/stacks/{}", ctx.stack),
            "cloudformation",
            &Value::Null,
        )
        .map_err(|e| format!("cannot delete stack {}: {e}", ctx.stack))?;
    println!("Stack {} deleted", ctx.stack);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_come_after_what_they_use() {
        let r = json!({
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"T": {"Ref": "Table"}}}}},
            "Map": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {"FunctionName": {"Ref": "Fn"}, "EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]}}},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Ref": "Name"}}},
            "Late": {"Type": "AWS::SQS::Queue", "DependsOn": "Map"},
        });
        let params: HashMap<String, Value> = [("Name".to_string(), json!("t"))].into();
        let order = deploy_order(r.as_object().unwrap(), &params).unwrap();
        assert_eq!(order, vec!["Table", "Fn", "Map", "Late"]);
        let cyclic = json!({"A": {"Properties": {"x": {"Ref": "B"}}}, "B": {"Properties": {"x": {"Ref": "A"}}}});
        assert!(deploy_order(cyclic.as_object().unwrap(), &params)
            .unwrap_err()
            .contains("Circular dependency"));
        let unknown = json!({"A": {"Properties": {"x": {"Ref": "Nope"}}}});
        assert!(deploy_order(unknown.as_object().unwrap(), &params)
            .unwrap_err()
            .contains("[Nope]"));
    }

    #[test]
    fn overrides_take_both_forms() {
        let o = parse_overrides(&["A=1 B=x=y".into(), "ParameterKey=C,ParameterValue=3".into()])
            .unwrap();
        assert_eq!(
            (o["A"].as_str(), o["B"].as_str(), o["C"].as_str()),
            ("1", "x=y", "3")
        );
        assert!(parse_overrides(&["nope".into()]).is_err());
    }
}
