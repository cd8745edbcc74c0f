//! PutItem, UpdateItem, DeleteItem and GetItem.

use serde::Serialize;
use serde_json::Value;

use super::expressions::Expressions;
use super::input::{present, Constraints, Input, ItemMember};
use super::legacy;
use super::{to_body, Context};
use crate::capacity::{Consumed, ReturnCapacity, RETURN_CAPACITY_VALUES};
use crate::engine::catalog::TableMeta;
use crate::engine::items::{WriteCondition, WriteOutcome};
use crate::error::{Error, Result};
use crate::expr::ast::Condition;
use crate::expr::project::Projection;
use crate::expr::update;
use crate::expr::ExpressionKind;
use crate::model::Item;

const RETURN_VALUES: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];

/// Legacy and expression members of the writes, which a request may not mix.
const LEGACY_WRITE: &[&str] = &["Expected", "ConditionalOperator", "AttributeUpdates"];
const EXPRESSION_WRITE: &[&str] = &[
    "ConditionExpression",
    "UpdateExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
];

/// The write's condition: `ConditionExpression`, or the legacy `Expected`.
fn write_condition(input: Input<'_>, expressions: &mut Expressions) -> Result<Option<Condition>> {
    legacy::refuse_mixing(input, LEGACY_WRITE, EXPRESSION_WRITE)?;
    match expressions.condition(input, "ConditionExpression", ExpressionKind::Condition)? {
        Some(c) => Ok(Some(c)),
        None => legacy::condition(input, legacy::ConditionMap::Expected),
    }
}

#[derive(Serialize)]
struct WriteResponse {
    #[serde(rename = "Attributes", skip_serializing_if = "Option::is_none")]
    attributes: Option<Item>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed: Option<Value>,
    #[serde(
        rename = "ItemCollectionMetrics",
        skip_serializing_if = "Option::is_none"
    )]
    metrics: Option<Value>,
}

/// `ItemCollectionMetrics` of a write to a table with LSIs, when asked for with
/// `ReturnItemCollectionMetrics=SIZE`: the partition key and a 1 GB wide size estimate.
pub fn collection_metrics(meta: &TableMeta, key: &Item, outcome: &WriteOutcome) -> Option<Value> {
    let size = outcome.collection_size?;
    let name = &meta.key_schema.hash_key().name;
    let pk = key.get(name)?;
    let low = (size >> 30) as f64;
    Some(serde_json::json!({
        "ItemCollectionKey": {name: pk},
        "SizeEstimateRangeGB": [low, low + 1.0],
    }))
}

/// The members every single-item write shares.
struct WriteRequest<'a> {
    return_values: Option<&'a str>,
    return_item_on_failure: bool,
    capacity: ReturnCapacity,
    metrics: bool,
}

fn read_write_options<'a>(input: Input<'a>, c: &mut Constraints) -> Result<WriteRequest<'a>> {
    let return_values = input.str("ReturnValues")?;
    c.one_of(return_values, "returnValues", RETURN_VALUES);
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let metrics = input.str("ReturnItemCollectionMetrics")?;
    c.one_of(metrics, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
    let on_failure = input.str("ReturnValuesOnConditionCheckFailure")?;
    c.one_of(
        on_failure,
        "returnValuesOnConditionCheckFailure",
        &["ALL_OLD", "NONE"],
    );
    Ok(WriteRequest {
        return_values,
        return_item_on_failure: on_failure == Some("ALL_OLD"),
        capacity: ReturnCapacity::parse(capacity),
        metrics: metrics == Some("SIZE"),
    })
}

fn check_return_values(input: Input<'_>) -> Result<()> {
    match input.str("ReturnValues")? {
        None | Some("NONE") | Some("ALL_OLD") => Ok(()),
        Some(_) => Err(Error::validation(
            "ReturnValues can only be ALL_OLD or NONE",
        )),
    }
}

/// PutItem and DeleteItem: `member` holds the item (or key) the write is about.
fn single_write(
    ctx: &Context<'_>,
    input: Input<'_>,
    (member, path): (&str, &str),
    write: impl FnOnce(&TableMeta, Item, Option<WriteCondition<'_>>) -> Result<WriteOutcome>,
) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let value = c.not_null(input.item(member), path);
    let options = read_write_options(input, &mut c)?;
    let value = value.map(ItemMember::read).transpose()?;
    c.finish()?;
    check_return_values(input)?;
    let mut expressions = Expressions::read(input)?;
    let condition = write_condition(input, &mut expressions)?;
    expressions.finish()?;
    let (t, value) = (present(table)?, present(value)?);
    let meta = ctx.item_table(&t)?;
    let condition = condition.as_ref().map(|condition| WriteCondition {
        condition,
        return_item_on_failure: options.return_item_on_failure,
    });
    // The key, kept for the item collection metrics only if they were asked for.
    let key = options.metrics.then(|| meta.key_schema.key_item(&value));
    let outcome = write(&meta, value, condition)?;
    let old = match (&outcome.old, options.return_values) {
        (Some(stored), Some("ALL_OLD")) => Some(stored.decode()?),
        _ => None,
    };
    to_body(&WriteResponse {
        attributes: old,
        consumed: options.capacity.report(&meta.name, &outcome.consumed),
        metrics: key.and_then(|key| collection_metrics(&meta, &key, &outcome)),
    })
}

pub fn put_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    single_write(ctx, input, ("Item", "item"), |meta, item, condition| {
        ctx.engine.put_item(meta, item, condition)
    })
}

pub fn delete_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    single_write(ctx, input, ("Key", "key"), |meta, key, condition| {
        ctx.engine.delete_item(meta, &key, condition)
    })
}

pub fn update_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let key = c.not_null(input.item("Key"), "key");
    let options = read_write_options(input, &mut c)?;
    let key = key.map(ItemMember::read).transpose()?;
    c.finish()?;
    let mut expressions = Expressions::read(input)?;
    let actions = match expressions.update(input)? {
        Some(actions) => actions,
        None => legacy::attribute_updates(input)?.unwrap_or_default(),
    };
    let condition = write_condition(input, &mut expressions)?;
    expressions.finish()?;
    let (t, key) = (present(table)?, present(key)?);
    let meta = ctx.item_table(&t)?;
    update::validate(&actions, &meta.key_schema)?;
    let condition = condition.as_ref().map(|condition| WriteCondition {
        condition,
        return_item_on_failure: options.return_item_on_failure,
    });
    let key_item = options.metrics.then(|| meta.key_schema.key_item(&key));
    let outcome = ctx.engine.update_item(&meta, key, &actions, condition)?;

    // UPDATED_* return only what the update touched.
    let touched = update::touched(&actions)?;
    let only_touched = |item: Item| touched.apply(&item);
    let old = || -> Result<Option<Item>> {
        outcome
            .old
            .as_ref()
            .map(|s| s.decode())
            .transpose()
            .map_err(Error::from)
    };
    let attributes = match options.return_values {
        Some("ALL_OLD") => old()?,
        Some("UPDATED_OLD") => old()?.map(only_touched),
        Some("ALL_NEW") => outcome.new.clone(),
        Some("UPDATED_NEW") => outcome.new.clone().map(only_touched),
        _ => None,
    }
    .filter(|item| !item.is_empty());
    to_body(&WriteResponse {
        attributes,
        consumed: options.capacity.report(&meta.name, &outcome.consumed),
        metrics: key_item.and_then(|key| collection_metrics(&meta, &key, &outcome)),
    })
}

pub fn get_item(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let key = c.not_null(input.item("Key"), "key");
    let consistent = input.bool("ConsistentRead")?.unwrap_or(false);
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let key = key.map(ItemMember::read).transpose()?;
    c.finish()?;
    legacy::refuse_mixing(
        input,
        &["AttributesToGet"],
        &["ProjectionExpression", "ExpressionAttributeNames"],
    )?;
    let mut expressions = Expressions::read(input)?;
    let projection = match expressions.projection(input)? {
        Some(paths) => Some(paths),
        None => legacy::attributes_to_get(input)?,
    };
    expressions.finish()?;
    let projection = projection
        .map(|paths| Projection::new(&paths, "ProjectionExpression"))
        .transpose()?;
    let (t, key) = (present(table)?, present(key)?);
    let meta = ctx.item_table(&t)?;
    // Capacity is charged on the whole item, projected or not.
    let (stored, units) = ctx.engine.read_item(&meta, &key, consistent)?;

    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    if let Some(stored) = &stored {
        out.extend_from_slice(br#""Item":"#);
        match &projection {
            Some(p) => out.extend_from_slice(&to_body(&p.apply(&stored.decode()?))?),
            // Without a projection the item goes from its stored bytes straight out.
            None => stored.write_json(&mut out)?,
        }
    }
    if let Some(consumed) =
        ReturnCapacity::parse(capacity).report(&meta.name, &Consumed::table(units))
    {
        if stored.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(br#""ConsumedCapacity":"#);
        out.extend_from_slice(&to_body(&consumed)?);
    }
    out.push(b'}');
    Ok(out)
}
