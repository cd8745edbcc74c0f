//! BatchGetItem and BatchWriteItem: many single-item reads or writes over several tables.
//! Everything is validated before anything is read or written, so a refused batch changes
//! nothing.

use serde_json::{json, Map, Value};

use super::expressions::Expressions;
use super::input::{Constraints, Input};
use super::items::collection_metrics;
use super::legacy;
use super::{to_body, Context};
use crate::capacity::{Consumed, ReturnCapacity, TableUnits, RETURN_CAPACITY_VALUES};
use crate::engine::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::expr::project::Projection;
use crate::model::wire::{type_mismatch, JsonKind};
use crate::model::{item_from_json, Item};
use crate::storage::keys;

const MAX_GET_KEYS: usize = 100;
const MAX_WRITES: usize = 25;
/// BatchGetItem answers at most 16 MB of items; the rest come back as `UnprocessedKeys`.
const MAX_GET_BYTES: usize = 16 << 20;

fn request_items<'a>(
    input: Input<'a>,
    c: &mut Constraints,
) -> Result<Option<&'a Map<String, Value>>> {
    let items = c.not_null(input.map("RequestItems")?, "requestItems");
    if items.is_some_and(|m| m.is_empty()) {
        c.count(Some(0), "{}", "requestItems", 1, usize::MAX);
    }
    for name in items.into_iter().flat_map(|m| m.keys()) {
        c.name(Some(name), "requestItems.key");
    }
    Ok(items)
}

fn duplicates() -> Error {
    Error::validation("Provided list of item keys contains duplicates")
}

/// One table's part of a BatchGetItem.
struct GetTable<'a> {
    meta: std::sync::Arc<TableMeta>,
    name: &'a str,
    /// The request's `KeysAndAttributes`, echoed with the keys left unprocessed.
    raw: &'a Value,
    keys: Vec<Item>,
    projection: Option<Projection>,
    consistent: bool,
}

pub fn batch_get_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let items = request_items(input, &mut c)?;
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let mut specs = Vec::new();
    for (name, spec) in items.into_iter().flatten() {
        let raw = spec;
        let spec = Input::element(spec, "com.amazonaws.dynamodb.v20120810.KeysAndAttributes")?;
        let key_list = spec.list("Keys")?;
        let at = format!("requestItems.{name}.member.keys");
        c.not_null(key_list, &at);
        c.count(key_list.map(Vec::len), "[]", &at, 1, MAX_GET_KEYS);
        specs.push((name, raw, spec, key_list));
    }
    c.finish()?;
    let capacity = ReturnCapacity::parse(capacity);

    let mut tables = Vec::with_capacity(specs.len());
    let mut total = 0;
    for (name, raw, spec, key_list) in specs {
        legacy::refuse_mixing(
            spec,
            &["AttributesToGet"],
            &["ProjectionExpression", "ExpressionAttributeNames"],
        )?;
        let mut keys = Vec::new();
        for k in key_list.into_iter().flatten() {
            keys.push(item_from_json(k)?);
            total += 1;
            if total > MAX_GET_KEYS {
                return Err(Error::validation(
                    "Too many items requested for the BatchGetItem call",
                ));
            }
        }
        let mut expressions = Expressions::read(spec)?;
        let paths = match expressions.projection(spec)? {
            Some(p) => Some(p),
            None => legacy::attributes_to_get(spec)?,
        };
        expressions.finish()?;
        let projection = paths
            .map(|p| Projection::new(&p, "ProjectionExpression"))
            .transpose()?;
        let meta = ctx.item_table(&ctx.resolve_table(name))?;
        let mut seen = std::collections::HashSet::new();
        for key in &keys {
            let kv = meta.key_schema.key_of_request(key)?;
            if !seen.insert(keys::item_key(meta.id, kv.hash, kv.range)) {
                return Err(duplicates());
            }
        }
        tables.push(GetTable {
            meta,
            name,
            raw,
            keys,
            projection,
            consistent: spec.bool("ConsistentRead")?.unwrap_or(false),
        });
    }

    let mut responses = Map::new();
    let mut unprocessed = Map::new();
    let mut per_table = TableUnits::default();
    let mut bytes = 0usize;
    // Keys a throttled table could not serve come back unprocessed; the call fails only
    // when no key could be read.
    let mut throttled = None;
    let mut read = 0usize;
    for t in tables {
        let mut found = Vec::new();
        let mut left = Vec::new();
        let mut units = 0.0;
        for key in t.keys {
            if bytes >= MAX_GET_BYTES {
                left.push(key);
                continue;
            }
            let (stored, cost) = match ctx.engine.read_item(&t.meta, &key, t.consistent) {
                Ok(read) => read,
                Err(e @ Error::Throttled(_)) => {
                    throttled.get_or_insert(e);
                    left.push(key);
                    continue;
                }
                Err(e) => return Err(e),
            };
            read += 1;
            units += cost;
            let Some(stored) = stored else {
                continue;
            };
            bytes += stored.size()?;
            let item = stored.decode()?;
            found.push(match &t.projection {
                Some(p) => p.apply(&item),
                None => item,
            });
        }
        per_table.add(&t.meta.name, &Consumed::table(units));
        responses.insert(
            t.name.to_string(),
            serde_json::to_value(found).map_err(internal)?,
        );
        if !left.is_empty() {
            let mut spec = t.raw.as_object().cloned().unwrap_or_default();
            spec.insert("Keys".into(), serde_json::to_value(left).map_err(internal)?);
            unprocessed.insert(t.name.to_string(), Value::Object(spec));
        }
    }
    if let (0, Some(e)) = (read, throttled) {
        return Err(e);
    }
    let mut body = json!({"Responses": responses, "UnprocessedKeys": unprocessed});
    if let Some(c) = capacity.report_tables(per_table) {
        body["ConsumedCapacity"] = c;
    }
    to_body(&body)
}

fn internal(e: serde_json::Error) -> Error {
    Error::Internal(e.to_string())
}

/// One validated write of a BatchWriteItem.
enum Write {
    Put(Item),
    Delete(Item),
}

pub fn batch_write_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let items = request_items(input, &mut c)?;
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let metrics = input.str("ReturnItemCollectionMetrics")?;
    c.one_of(metrics, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
    let mut lists = Vec::new();
    for (name, list) in items.into_iter().flatten() {
        let list = list
            .as_array()
            .ok_or_else(|| type_mismatch(list, JsonKind::List))?;
        if list.is_empty() || list.len() > MAX_WRITES {
            c.fail(
                Some(&format!("{{{name}=[...]}}")),
                "requestItems",
                "Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            );
        }
        lists.push((name, list));
    }
    c.finish()?;
    let capacity = ReturnCapacity::parse(capacity);
    if lists.iter().map(|(_, l)| l.len()).sum::<usize>() > MAX_WRITES {
        return Err(Error::validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }

    let mut planned = Vec::new();
    for (name, list) in lists {
        let meta = ctx.item_table(&ctx.resolve_table(name))?;
        let mut seen = std::collections::HashSet::new();
        let mut writes = Vec::with_capacity(list.len());
        for raw in list {
            let request = Input::element(raw, "com.amazonaws.dynamodb.v20120810.WriteRequest")?;
            let put =
                request.structure("PutRequest", "com.amazonaws.dynamodb.v20120810.PutRequest")?;
            let delete = request.structure(
                "DeleteRequest",
                "com.amazonaws.dynamodb.v20120810.DeleteRequest",
            )?;
            let write = match (put, delete) {
                (Some(p), None) => {
                    let item = item_from_json(present_member(p.raw("Item"), "Item")?)?;
                    ctx.engine.check_put(&meta, &item).map_err(schema_message)?;
                    Write::Put(item)
                }
                (None, Some(d)) => {
                    let key = item_from_json(present_member(d.raw("Key"), "Key")?)?;
                    meta.key_schema.key_of_request(&key)?;
                    Write::Delete(key)
                }
                _ => {
                    return Err(Error::validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ))
                }
            };
            let key_item = match &write {
                Write::Put(item) | Write::Delete(item) => item,
            };
            let kv = meta.key_schema.key_of_item(key_item)?;
            if !seen.insert(keys::item_key(meta.id, kv.hash, kv.range)) {
                return Err(duplicates());
            }
            writes.push((write, raw));
        }
        planned.push((name, meta, writes));
    }

    let mut per_table = TableUnits::default();
    let mut collections = Map::new();
    // Writes a throttled table or partition refused come back unprocessed, as they were
    // sent; the call fails only when none could be written.
    let mut unprocessed = Map::new();
    let mut throttled = None;
    let mut written = 0usize;
    for (name, meta, writes) in planned {
        let mut units = Consumed::default();
        let mut table_metrics = Vec::new();
        let mut left = Vec::new();
        for (write, raw) in writes {
            let (result, key) = match write {
                Write::Put(item) => {
                    let key = meta.key_schema.key_item(&item);
                    (ctx.engine.put_item(&meta, item, None), key)
                }
                Write::Delete(key) => (ctx.engine.delete_item(&meta, &key, None), key),
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(e @ Error::Throttled(_)) => {
                    throttled.get_or_insert(e);
                    left.push(raw.clone());
                    continue;
                }
                Err(e) => return Err(e),
            };
            written += 1;
            units.add(&outcome.consumed);
            if metrics == Some("SIZE") {
                table_metrics.extend(collection_metrics(&meta, &key, &outcome));
            }
        }
        if !table_metrics.is_empty() {
            collections.insert(meta.name.clone(), Value::Array(table_metrics));
        }
        if !left.is_empty() {
            unprocessed.insert(name.to_string(), Value::Array(left));
        }
        per_table.add(&meta.name, &units);
    }
    if let (0, Some(e)) = (written, throttled) {
        return Err(e);
    }
    let mut body = json!({"UnprocessedItems": unprocessed});
    if let Some(c) = capacity.report_tables(per_table) {
        body["ConsumedCapacity"] = c;
    }
    if metrics == Some("SIZE") {
        body["ItemCollectionMetrics"] = Value::Object(collections);
    }
    to_body(&body)
}

fn present_member<'a>(v: Option<&'a Value>, member: &str) -> Result<&'a Value> {
    v.ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            member.to_lowercase()
        ))
    })
}

/// BatchWriteItem names key problems of a put the way it does for deletes.
fn schema_message(e: Error) -> Error {
    match e {
        Error::Validation(m)
            if m.contains("Missing the key") || m.contains("Type mismatch for key") =>
        {
            Error::validation("The provided key element does not match the schema")
        }
        other => other,
    }
}
