//! A DynamoDB request in IAM's terms, and its authorization against the caller's policy.
//!
//! Each request becomes one or more accesses: an action (`dynamodb:GetItem`; per table for
//! batches; per action for transactions; `dynamodb:PartiQLSelect` and its siblings for PartiQL),
//! a resource (the table's ARN, an index's for a Query or Scan of one, a stream's) and the
//! condition keys of fine-grained access control: `dynamodb:LeadingKeys` (the partition key
//! values touched), `dynamodb:Attributes` (the attribute names requested or written),
//! `dynamodb:Select`, `dynamodb:ReturnValues` and `dynamodb:ReturnConsumedCapacity`. They are
//! read leniently from the raw request: what is malformed is left out here and refused by the
//! operation itself, once the request is allowed.

use serde_json::{Map, Value};

use super::input::Input;
use super::partiql;
use super::streams::iterator_stream;
use super::{parse_table_arn, Context};
use crate::auth::credentials::Caller;
use crate::engine::catalog::{table_arn, TableMeta};
use crate::error::{Error, Result};

/// One thing a request does, in IAM's terms.
#[derive(Debug, PartialEq)]
pub struct Access {
    pub action: String,
    pub resource: String,
    pub keys: Vec<(&'static str, Vec<String>)>,
}

/// Refuses the request with DynamoDB's `AccessDeniedException` unless the caller's policy
/// allows everything it does.
pub fn authorize(
    ctx: &Context<'_>,
    operation: &str,
    input: Input<'_>,
    caller: &Caller,
) -> Result<()> {
    for a in accesses(ctx, operation, input) {
        caller
            .authorize(ctx.account, &a.action, &a.resource, &a.keys)
            .map_err(Error::AccessDenied)?;
    }
    Ok(())
}

/// Operations on no particular resource.
const ACCOUNT_WIDE: &[&str] = &[
    "ListTables",
    "DescribeLimits",
    "DescribeEndpoints",
    "ListStreams",
    "ListBackups",
    "ListExports",
    "ListImports",
];

pub fn accesses(ctx: &Context<'_>, operation: &str, input: Input<'_>) -> Vec<Access> {
    let obj = input.object();
    let simple = |resource: String| {
        vec![Access {
            action: format!("dynamodb:{operation}"),
            resource,
            keys: Vec::new(),
        }]
    };
    match operation {
        "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan" => {
            vec![item_access(ctx, operation, input)]
        }
        "BatchGetItem" | "BatchWriteItem" => batch(ctx, operation, obj),
        "TransactWriteItems" | "TransactGetItems" => transaction(ctx, obj),
        "ExecuteStatement" => partiql::accesses(ctx, [input].into_iter()),
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let member = match operation {
                "BatchExecuteStatement" => "Statements",
                _ => "TransactStatements",
            };
            let statements = list(obj, member).iter().filter_map(|s| {
                Input::element(s, "com.amazonaws.dynamodb.v20120810.BatchStatementRequest").ok()
            });
            partiql::accesses(ctx, statements)
        }
        "TagResource" | "UntagResource" | "ListTagsOfResource" => {
            simple(text(obj, "ResourceArn").unwrap_or("*").to_string())
        }
        "DescribeStream" | "GetShardIterator" => {
            simple(text(obj, "StreamArn").unwrap_or("*").to_string())
        }
        "GetRecords" => simple(
            text(obj, "ShardIterator")
                .and_then(iterator_stream)
                .unwrap_or_else(|| "*".into()),
        ),
        "DescribeBackup" | "DeleteBackup" => {
            simple(text(obj, "BackupArn").unwrap_or("*").to_string())
        }
        // The backup read and the table made.
        "RestoreTableFromBackup" => {
            let mut both = simple(text(obj, "BackupArn").unwrap_or("*").to_string());
            both.extend(simple(resource_of(
                ctx,
                text(obj, "TargetTableName").unwrap_or_default(),
            )));
            both
        }
        // The source table read and the table made.
        "RestoreTableToPointInTime" => {
            let source = text(obj, "SourceTableArn").or_else(|| text(obj, "SourceTableName"));
            let mut both = simple(resource_of(ctx, source.unwrap_or_default()));
            both.extend(simple(resource_of(
                ctx,
                text(obj, "TargetTableName").unwrap_or_default(),
            )));
            both
        }
        "ExportTableToPointInTime" => {
            simple(resource_of(ctx, text(obj, "TableArn").unwrap_or_default()))
        }
        "DescribeExport" => simple(text(obj, "ExportArn").unwrap_or("*").to_string()),
        "DescribeImport" => simple(text(obj, "ImportArn").unwrap_or("*").to_string()),
        // The table it makes.
        "ImportTable" => {
            let name = obj
                .get("TableCreationParameters")
                .and_then(|p| p.get("TableName"))
                .and_then(Value::as_str);
            simple(resource_of(ctx, name.unwrap_or_default()))
        }
        op if ACCOUNT_WIDE.contains(&op) => simple("*".into()),
        // Every other operation is on the table it names.
        _ => simple(resource_of(ctx, text(obj, "TableName").unwrap_or_default())),
    }
}

fn text<'a>(obj: &'a Map<String, Value>, member: &str) -> Option<&'a str> {
    obj.get(member).and_then(Value::as_str)
}

fn list<'a>(obj: &'a Map<String, Value>, member: &str) -> &'a [Value] {
    obj.get(member)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The ARN of a table named by name or ARN.
fn resource_of(ctx: &Context<'_>, name: &str) -> String {
    match parse_table_arn(name) {
        Some(_) => name.to_string(),
        None => table_arn(ctx.region, ctx.account, name),
    }
}

fn table(ctx: &Context<'_>, name: &str) -> Option<std::sync::Arc<TableMeta>> {
    let t = ctx.resolve_table(name);
    ctx.engine.table(t.region, t.name)
}

/// A key attribute's value as IAM compares it: the string, the number's text, the binary's
/// base64 (all as the request spells them).
fn key_text(value: &Value) -> Option<String> {
    let (_, v) = value.as_object()?.iter().next()?;
    v.as_str().map(str::to_string)
}

/// The partition key value of an item or key (raw JSON), if the table is known.
fn leading_key(meta: Option<&TableMeta>, item: Option<&Value>) -> Option<String> {
    key_text(item?.get(&meta?.key_schema.hash_key().name)?)
}

/// The top-level attribute named by each path of a projection expression.
fn projected(obj: &Map<String, Value>) -> Option<Vec<String>> {
    if let Some(names) = obj.get("AttributesToGet").and_then(Value::as_array) {
        return Some(
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
        );
    }
    let expression = text(obj, "ProjectionExpression")?;
    let names = obj
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    Some(
        expression
            .split(',')
            .filter_map(|path| {
                let head = path.trim().split(['.', '[']).next()?.trim();
                match head.strip_prefix('#') {
                    Some(_) => names?.get(head)?.as_str().map(str::to_string),
                    None => Some(head.to_string()),
                }
            })
            .collect(),
    )
}

/// The attributes an UpdateItem names in its `UpdateExpression` (or `AttributeUpdates`): the
/// first name of every path (not after a `.`, not a function called with `(`, not a value
/// placeholder, an index or a clause keyword).
fn updated(obj: &Map<String, Value>) -> Vec<String> {
    if let Some(updates) = obj.get("AttributeUpdates").and_then(Value::as_object) {
        return updates.keys().cloned().collect();
    }
    let Some(expression) = text(obj, "UpdateExpression") else {
        return Vec::new();
    };
    let names = obj
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    let chars: Vec<char> = expression.chars().collect();
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '#' | ':');
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_name(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_name(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let before = chars[..start].iter().rev().find(|c| !c.is_whitespace());
        let after = chars[i..].iter().find(|c| !c.is_whitespace());
        let keyword = ["SET", "REMOVE", "ADD", "DELETE"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&word));
        if keyword
            || word.starts_with(':')
            || word.starts_with(|c: char| c.is_ascii_digit())
            || matches!(before, Some('.' | '['))
            || after == Some(&'(')
        {
            continue;
        }
        let name = match word.strip_prefix('#') {
            Some(_) => names
                .and_then(|n| n.get(&word))
                .and_then(Value::as_str)
                .map(str::to_string),
            None => Some(word),
        };
        if let Some(n) = name.filter(|n| !out.contains(n)) {
            out.push(n);
        }
    }
    out
}

/// The partition key value a Query's key condition fixes.
fn queried_key(meta: &TableMeta, obj: &Map<String, Value>) -> Option<String> {
    let hash = match text(obj, "IndexName") {
        Some(name) => &meta.index(name)?.0.key_schema.hash_key().name,
        None => &meta.key_schema.hash_key().name,
    };
    if let Some(conditions) = obj.get("KeyConditions").and_then(Value::as_object) {
        let c = conditions.get(hash)?;
        return key_text(c.get("AttributeValueList")?.get(0)?);
    }
    let expression = text(obj, "KeyConditionExpression")?;
    let names = obj
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    let values = obj
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object)?;
    let resolve = |side: &str| -> String {
        let side = side.trim().trim_matches(|c| c == '(' || c == ')').trim();
        match names.and_then(|n| n.get(side)).and_then(Value::as_str) {
            Some(name) => name.to_string(),
            None => side.to_string(),
        }
    };
    // Terms joined by AND (a BETWEEN's own AND splits a sort key term, which has no `=`); the
    // partition key's is `name = :value`, either way round.
    let upper = expression.to_ascii_uppercase();
    let mut terms = Vec::new();
    let mut at = 0;
    for (i, _) in upper.match_indices(" AND ") {
        terms.push(&expression[at..i]);
        at = i + 5;
    }
    terms.push(&expression[at..]);
    terms.into_iter().find_map(|term| {
        let (left, right) = term.split_once('=')?;
        if left.ends_with(['<', '>']) || right.starts_with(['<', '>']) {
            return None;
        }
        let (left, right) = (resolve(left), resolve(right));
        let placeholder = match (left == *hash, right == *hash) {
            (true, _) => right,
            (_, true) => left,
            _ => return None,
        };
        key_text(values.get(&placeholder)?)
    })
}

fn item_access(ctx: &Context<'_>, operation: &str, input: Input<'_>) -> Access {
    let obj = input.object();
    let name = text(obj, "TableName").unwrap_or_default();
    let meta = table(ctx, name);
    let mut resource = resource_of(ctx, name);
    let mut keys: Vec<(&'static str, Vec<String>)> = Vec::new();
    let hash = meta
        .as_ref()
        .map_or("", |m| m.key_schema.hash_key().name.as_str());
    // The item (PutItem) or key (the others) named: its attribute names and partition key.
    let member = if operation == "PutItem" {
        "Item"
    } else {
        "Key"
    };
    let (names, key) = input
        .item(member)
        .map(|m| m.names_and_key(hash))
        .unwrap_or_default();
    let leading = match operation {
        "Query" => meta.as_deref().and_then(|m| queried_key(m, obj)),
        "Scan" => None,
        _ => key,
    };
    if let Some(k) = leading {
        keys.push(("dynamodb:leadingkeys", vec![k]));
    }
    let attributes = match operation {
        "PutItem" => Some(names),
        "UpdateItem" => {
            let mut names = names;
            let more: Vec<String> = updated(obj)
                .into_iter()
                .filter(|n| !names.contains(n))
                .collect();
            names.extend(more);
            Some(names)
        }
        "DeleteItem" | "ConditionCheckItem" => None,
        _ => projected(obj),
    };
    if let Some(a) = attributes {
        keys.push(("dynamodb:attributes", a));
    }
    for (member, key) in [
        ("Select", "dynamodb:select"),
        ("ReturnValues", "dynamodb:returnvalues"),
        ("ReturnConsumedCapacity", "dynamodb:returnconsumedcapacity"),
    ] {
        if let Some(v) = text(obj, member) {
            keys.push((key, vec![v.to_string()]));
        }
    }
    if let (Some(index), "Query" | "Scan") = (text(obj, "IndexName"), operation) {
        resource = format!("{resource}/index/{index}");
    }
    Access {
        action: format!("dynamodb:{operation}"),
        resource,
        keys,
    }
}

/// BatchGetItem and BatchWriteItem: one access per table, with every key it touches.
fn batch(ctx: &Context<'_>, operation: &str, obj: &Map<String, Value>) -> Vec<Access> {
    let Some(tables) = obj.get("RequestItems").and_then(Value::as_object) else {
        return Vec::new();
    };
    tables
        .iter()
        .map(|(name, spec)| {
            let meta = table(ctx, name);
            let mut leading = Vec::new();
            let mut attributes: Vec<String> = Vec::new();
            let mut note = |item: Option<&Value>, all_names: bool| {
                leading.extend(leading_key(meta.as_deref(), item));
                if let (true, Some(item)) = (all_names, item.and_then(Value::as_object)) {
                    for name in item.keys() {
                        if !attributes.contains(name) {
                            attributes.push(name.clone());
                        }
                    }
                }
            };
            match spec {
                Value::Array(writes) => {
                    for w in writes {
                        note(w.pointer("/PutRequest/Item"), true);
                        note(w.pointer("/DeleteRequest/Key"), false);
                    }
                }
                Value::Object(get) => {
                    for k in list(get, "Keys") {
                        note(Some(k), false);
                    }
                    attributes.extend(projected(get).unwrap_or_default());
                }
                _ => {}
            }
            let mut keys = vec![("dynamodb:leadingkeys", leading)];
            if !attributes.is_empty() {
                keys.push(("dynamodb:attributes", attributes));
            }
            Access {
                action: format!("dynamodb:{operation}"),
                resource: resource_of(ctx, name),
                keys,
            }
        })
        .collect()
}

/// TransactWriteItems and TransactGetItems: each action is checked as the single-item
/// operation it is (`ConditionCheck` as `dynamodb:ConditionCheckItem`).
fn transaction(ctx: &Context<'_>, obj: &Map<String, Value>) -> Vec<Access> {
    list(obj, "TransactItems")
        .iter()
        .filter_map(|a| a.as_object()?.iter().next())
        .filter_map(|(kind, action)| {
            let operation = match kind.as_str() {
                "Get" => "GetItem",
                "Put" => "PutItem",
                "Update" => "UpdateItem",
                "Delete" => "DeleteItem",
                "ConditionCheck" => "ConditionCheckItem",
                _ => return None,
            };
            let action =
                Input::element(action, "com.amazonaws.dynamodb.v20120810.TransactItem").ok()?;
            Some(item_access(ctx, operation, action))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_expressions_name_their_top_level_attributes() {
        let obj = json!({"UpdateExpression": "SET a.b = :v, #n = if_not_exists(#n, :z) + :one REMOVE c[2] ADD d :s DELETE e :t",
                         "ExpressionAttributeNames": {"#n": "count"}});
        assert_eq!(
            updated(obj.as_object().unwrap()),
            vec!["a", "count", "c", "d", "e"]
        );
    }

    #[test]
    fn projections_name_their_top_level_attributes() {
        let obj = json!({"ProjectionExpression": "a.b, #x[1], c", "ExpressionAttributeNames": {"#x": "ex"}});
        assert_eq!(
            projected(obj.as_object().unwrap()).unwrap(),
            vec!["a", "ex", "c"]
        );
    }
}
