//! TransactWriteItems and TransactGetItems.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::expressions::Expressions;
use super::input::{Constraints, Input};
use super::items::collection_metrics;
use super::{to_body, Context};
use crate::capacity::{Consumed, Op, ReturnCapacity, TableUnits, RETURN_CAPACITY_VALUES};
use crate::engine::catalog::TableMeta;
use crate::engine::items::{Change, WriteCondition};
use crate::engine::transact::{fingerprint, TxWrite};
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, UpdateAction};
use crate::expr::project::Projection;
use crate::expr::{update, ExpressionKind};
use crate::model::{item_from_json, item_size, Item};

const MAX_ACTIONS: usize = 100;
/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_BYTES: usize = 4 << 20;

const ACTIONS: [(&str, &str); 4] = [
    (
        "ConditionCheck",
        "com.amazonaws.dynamodb.v20120810.ConditionCheck",
    ),
    ("Put", "com.amazonaws.dynamodb.v20120810.Put"),
    ("Delete", "com.amazonaws.dynamodb.v20120810.Delete"),
    ("Update", "com.amazonaws.dynamodb.v20120810.Update"),
];

fn transact_items<'a>(input: Input<'a>, c: &mut Constraints) -> Result<Option<&'a Vec<Value>>> {
    let items = input.list("TransactItems")?;
    c.not_null(items, "transactItems");
    c.count(
        items.map(Vec::len),
        "[...]",
        "transactItems",
        1,
        MAX_ACTIONS,
    );
    Ok(items)
}

/// One parsed write action.
struct Action {
    kind: &'static str,
    table: Arc<TableMeta>,
    /// The item (Put) or the key.
    key: Item,
    condition: Option<Condition>,
    actions: Vec<UpdateAction>,
    return_item_on_failure: bool,
}

fn read_action(ctx: &Context<'_>, element: &Value) -> Result<Action> {
    let e = Input::element(
        element,
        "com.amazonaws.dynamodb.v20120810.TransactWriteItem",
    )?;
    let mut given = Vec::new();
    for (name, class) in ACTIONS {
        if let Some(a) = e.structure(name, class)? {
            given.push((name, a));
        }
    }
    let [(kind, a)] = given.as_slice() else {
        return Err(Error::validation(
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ));
    };
    let (kind, a) = (*kind, *a);
    let mut c = Constraints::default();
    let table = ctx.table_ref(a, &mut c)?;
    let member = if kind == "Put" { "Item" } else { "Key" };
    let value = c.not_null(a.raw(member), &member.to_lowercase());
    let on_failure = a.str("ReturnValuesOnConditionCheckFailure")?;
    c.one_of(
        on_failure,
        "returnValuesOnConditionCheckFailure",
        &["ALL_OLD", "NONE"],
    );
    if kind == "ConditionCheck" {
        c.not_null(a.str("ConditionExpression")?, "conditionExpression");
    }
    if kind == "Update" {
        c.not_null(a.str("UpdateExpression")?, "updateExpression");
    }
    c.finish()?;
    let (Some(table), Some(value)) = (table, value) else {
        return Err(Error::Internal("required members were checked".into()));
    };
    let key = item_from_json(value)?;
    let mut expressions = Expressions::read(a)?;
    let actions = expressions.update(a)?.unwrap_or_default();
    let condition = expressions.condition(a, "ConditionExpression", ExpressionKind::Condition)?;
    expressions.finish()?;
    let table = ctx.item_table(&table)?;
    if kind == "Update" {
        update::validate(&actions, &table.key_schema)?;
    }
    Ok(Action {
        kind,
        table,
        key,
        condition,
        actions,
        return_item_on_failure: on_failure == Some("ALL_OLD"),
    })
}

pub fn transact_write_items(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let items = transact_items(input, &mut c)?;
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let metrics = input.str("ReturnItemCollectionMetrics")?;
    c.one_of(metrics, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
    let token = input.str("ClientRequestToken")?;
    c.length(token, "clientRequestToken", 1, 36);
    c.finish()?;
    let capacity = ReturnCapacity::parse(capacity);

    let actions: Vec<Action> = items
        .into_iter()
        .flatten()
        .map(|e| read_action(ctx, e))
        .collect::<Result<_>>()?;
    let mut total = 0;
    for a in &actions {
        let size = if a.kind == "Put" {
            ctx.engine.check_put(&a.table, &a.key)?
        } else {
            item_size(&a.key)
        };
        total += size;
    }
    if total > MAX_TRANSACTION_BYTES {
        return Err(Error::validation(
            "Transaction request size exceeds the maximum allowed size of 4 MB",
        ));
    }
    let print = token.map(|_| {
        let items = input.raw("TransactItems").cloned().unwrap_or(Value::Null);
        fingerprint(items.to_string().as_bytes())
    });
    let writes = actions
        .iter()
        .map(|a| TxWrite {
            table: a.table.clone(),
            key: &a.key,
            change: match a.kind {
                "Put" => Change::Put(a.key.clone(), item_size(&a.key)),
                "Delete" => Change::Delete,
                "Update" => Change::Update {
                    key: a.key.clone(),
                    actions: &a.actions,
                },
                _ => Change::Check,
            },
            condition: a.condition.as_ref().map(|condition| WriteCondition {
                condition,
                return_item_on_failure: a.return_item_on_failure,
            }),
        })
        .collect();
    let token = token.zip(print.as_deref());
    let outcomes = ctx.engine.transact_write(writes, token)?;

    let mut body = json!({});
    if let Some(outcomes) = outcomes {
        // Transactional writes cost two write units per KB.
        let mut units = TableUnits::default();
        let mut collections = Map::new();
        for (a, outcome) in actions.iter().zip(&outcomes) {
            units.add(&a.table.name, &outcome.consumed.clone().doubled());
            if metrics == Some("SIZE") && a.kind != "ConditionCheck" {
                let key = a.table.key_schema.key_item(&a.key);
                if let Some(m) = collection_metrics(&a.table, &key, outcome) {
                    let list = collections
                        .entry(a.table.name.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(l) = list {
                        l.push(m);
                    }
                }
            }
        }
        if let Some(c) = capacity.report_transaction(units, Op::Write) {
            body["ConsumedCapacity"] = c;
        }
        if metrics == Some("SIZE") {
            body["ItemCollectionMetrics"] = Value::Object(collections);
        }
    }
    to_body(&body)
}

pub fn transact_get_items(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let items = transact_items(input, &mut c)?;
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    c.finish()?;
    let capacity = ReturnCapacity::parse(capacity);
    let mut gets = Vec::new();
    for e in items.into_iter().flatten() {
        let e = Input::element(e, "com.amazonaws.dynamodb.v20120810.TransactGetItem")?;
        let mut c = Constraints::default();
        let get = c.not_null(
            e.structure("Get", "com.amazonaws.dynamodb.v20120810.Get")?,
            "get",
        );
        c.finish()?;
        let Some(get) = get else {
            return Err(Error::Internal("required members were checked".into()));
        };
        let mut c = Constraints::default();
        let table = ctx.table_ref(get, &mut c)?;
        let key = c.not_null(get.raw("Key"), "key");
        c.finish()?;
        let (Some(table), Some(key)) = (table, key) else {
            return Err(Error::Internal("required members were checked".into()));
        };
        let key = item_from_json(key)?;
        let mut expressions = Expressions::read(get)?;
        let projection = expressions.projection(get)?;
        expressions.finish()?;
        let projection = projection
            .map(|p| Projection::new(&p, "ProjectionExpression"))
            .transpose()?;
        gets.push((ctx.item_table(&table)?, key, projection));
    }
    let reads: Vec<(Arc<TableMeta>, &Item)> = gets.iter().map(|(t, k, _)| (t.clone(), k)).collect();
    let found = ctx.engine.transact_get(&reads)?;
    let mut responses = Vec::with_capacity(found.len());
    let mut units = TableUnits::default();
    for ((table, _, projection), (stored, cost)) in gets.iter().zip(found) {
        let response = match stored {
            Some(stored) => {
                let item = stored.decode()?;
                let item = match projection {
                    Some(p) => p.apply(&item),
                    None => item,
                };
                json!({ "Item": item })
            }
            None => json!({}),
        };
        responses.push(response);
        units.add(&table.name, &Consumed::table(cost));
    }
    let mut body = json!({ "Responses": responses });
    if let Some(c) = capacity.report_transaction(units, Op::Read) {
        body["ConsumedCapacity"] = c;
    }
    to_body(&body)
}
