//! ExecuteStatement, BatchExecuteStatement and ExecuteTransaction. A statement is parsed onto
//! the expression AST and runs through the same reads and write pipeline as the API: a SELECT
//! with an equality on the partition key is a Query, any other a Scan; writes name their item
//! by an equality on every key attribute in WHERE, the rest of WHERE is their condition.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::input::{present, Constraints, Input};
use super::read::{answer, output, resolve_source, start_position, Read};
use super::{to_body, Context};
use crate::capacity::{Consumed, Op, ReturnCapacity, TableUnits, RETURN_CAPACITY_VALUES};
use crate::engine::catalog::TableMeta;
use crate::engine::items::{Change, WriteCondition, WriteOutcome};
use crate::engine::transact::{fingerprint, TxWrite};
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, Function, Operand, Path, PathStep, UpdateAction};
use crate::expr::key_condition::{self, SortCondition, Term};
use crate::expr::project::Projection;
use crate::expr::update;
use crate::model::schema::KeySchema;
use crate::model::wire::JsonKind;
use crate::model::{item_from_json, item_size, AttributeValue, Item};
use crate::partiql::parser::{parse, Returning, Statement};

/// The parts of a WHERE clause joined by AND at its top level.
fn conjuncts(condition: Option<Condition>, out: &mut Vec<Condition>) {
    match condition {
        Some(Condition::And(a, b)) => {
            conjuncts(Some(*a), out);
            conjuncts(Some(*b), out);
        }
        Some(c) => out.push(c),
        None => {}
    }
}

fn and_all(conditions: Vec<Condition>) -> Option<Condition> {
    conditions
        .into_iter()
        .reduce(|a, b| Condition::And(Box::new(a), Box::new(b)))
}

fn attr_path(name: &str) -> Operand {
    Operand::Path(Path {
        steps: vec![PathStep::Attribute(name.to_string())],
    })
}

/// A conjunct that constrains one attribute as a key condition can (`k = v`, `k < v`,
/// `k BETWEEN a AND b`, `begins_with(k, v)`, either side of a comparison).
fn as_term(c: &Condition) -> Option<Term> {
    let mut terms = key_condition::terms_of_expression(c).ok()?;
    (terms.len() == 1).then(|| terms.remove(0))
}

fn is_equality_on(c: &Condition, name: &str) -> bool {
    matches!(as_term(c), Some((n, SortCondition::Eq(_))) if n == name)
}

fn is_term_on(c: &Condition, name: &str) -> bool {
    matches!(as_term(c), Some((n, _)) if n == name)
}

/// Removes the first part that `which` picks and returns it as a key condition term.
fn take_term(parts: &mut Vec<Condition>, which: impl Fn(&Condition) -> bool) -> Option<Term> {
    let at = parts.iter().position(which)?;
    as_term(&parts.remove(at))
}

/// Takes the key of a write out of its WHERE clause: an equality on every key attribute.
/// Returns the key and what is left of the clause.
fn key_of_where(schema: &KeySchema, filter: Option<Condition>) -> Result<(Item, Vec<Condition>)> {
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    let mut key = Item::new();
    for attr in schema.attributes() {
        match take_term(&mut parts, |c| is_equality_on(c, &attr.name)) {
            Some((name, SortCondition::Eq(v))) => {
                key.insert(name, v);
            }
            _ => {
                return Err(Error::validation(
                    "Where clause does not contain a mandatory equality on all key attributes",
                ))
            }
        }
    }
    Ok((key, parts))
}

fn table_of(ctx: &Context<'_>, name: &str) -> Result<Arc<TableMeta>> {
    ctx.item_table(&ctx.resolve_table(name))
}

fn parameters(input: Input<'_>) -> Result<Vec<AttributeValue>> {
    input
        .list("Parameters")?
        .map(|l| l.iter().map(AttributeValue::from_json).collect())
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A parsed write statement, ready for the write pipeline.
struct WritePlan {
    table: Arc<TableMeta>,
    key: Item,
    change: PlannedChange,
    condition: Option<Condition>,
    returning: Option<Returning>,
}

enum PlannedChange {
    Put,
    Update(Vec<UpdateAction>),
    Delete,
    /// EXISTS: the item must exist and match; nothing is written.
    Check,
}

fn plan_write(ctx: &Context<'_>, statement: Statement) -> Result<WritePlan> {
    let table = table_of(ctx, statement.table())?;
    let hash = table.key_schema.hash_key().name.clone();
    Ok(match statement {
        Statement::Insert { item, .. } => {
            for attr in table.key_schema.attributes() {
                match item.get(&attr.name) {
                    None => {
                        return Err(Error::validation(format!(
                            "Key attribute should be present in the item: Key {}",
                            attr.name
                        )))
                    }
                    Some(v) if v.scalar_type() != Some(attr.ty) => {
                        return Err(Error::validation(format!(
                            "Key attribute's data type should match its data type in table's schema: Key {}",
                            attr.name
                        )))
                    }
                    Some(_) => {}
                }
            }
            WritePlan {
                condition: Some(Condition::Call(
                    Function::AttributeNotExists,
                    vec![attr_path(&hash)],
                )),
                table,
                key: item,
                change: PlannedChange::Put,
                returning: None,
            }
        }
        Statement::Update {
            actions,
            filter,
            returning,
            ..
        } => {
            let (key, mut rest) = key_of_where(&table.key_schema, filter)?;
            update::validate(&actions, &table.key_schema)?;
            rest.push(Condition::Call(
                Function::AttributeExists,
                vec![attr_path(&hash)],
            ));
            WritePlan {
                key,
                change: PlannedChange::Update(actions),
                condition: and_all(rest),
                returning,
                table,
            }
        }
        Statement::Delete {
            filter, returning, ..
        } => {
            let (key, rest) = key_of_where(&table.key_schema, filter)?;
            WritePlan {
                key,
                change: PlannedChange::Delete,
                condition: and_all(rest),
                returning,
                table,
            }
        }
        Statement::Exists { filter, .. } => {
            let (key, mut rest) = key_of_where(&table.key_schema, filter).map_err(|_| {
                Error::validation(
                    "EXISTS() must contain a single item read with additional condition",
                )
            })?;
            rest.push(Condition::Call(
                Function::AttributeExists,
                vec![attr_path(&hash)],
            ));
            WritePlan {
                key,
                change: PlannedChange::Check,
                condition: and_all(rest),
                returning: None,
                table,
            }
        }
        Statement::Select { .. } => return Err(Error::Internal("a read is not a write".into())),
    })
}

impl WritePlan {
    fn change(&self) -> Change<'_> {
        match &self.change {
            PlannedChange::Put => Change::Put(self.key.clone(), item_size(&self.key)),
            PlannedChange::Update(actions) => Change::Update {
                key: self.key.clone(),
                actions,
            },
            PlannedChange::Delete => Change::Delete,
            PlannedChange::Check => Change::Check,
        }
    }

    /// The items a `RETURNING` clause asks for.
    fn returned(&self, outcome: &WriteOutcome) -> Result<Vec<Item>> {
        let touched = match &self.change {
            PlannedChange::Update(actions) => Some(update::touched(actions)?),
            _ => None,
        };
        let only_touched =
            |item: Item| -> Item { touched.as_ref().map_or_else(Item::new, |t| t.apply(&item)) };
        let old = || outcome.old.as_ref().map(|s| s.decode()).transpose();
        Ok(match self.returning {
            None => None,
            Some(Returning::AllOld) => old()?,
            Some(Returning::ModifiedOld) => old()?.map(only_touched),
            Some(Returning::AllNew) => outcome.new.clone(),
            Some(Returning::ModifiedNew) => outcome.new.clone().map(only_touched),
        }
        .into_iter()
        .collect())
    }
}

fn run_write(
    ctx: &Context<'_>,
    plan: &WritePlan,
    return_on_failure: bool,
) -> Result<(Vec<Item>, Consumed)> {
    let condition = plan.condition.as_ref().map(|condition| WriteCondition {
        condition,
        return_item_on_failure: return_on_failure,
    });
    let outcome = match &plan.change {
        PlannedChange::Put => ctx
            .engine
            .put_item(&plan.table, plan.key.clone(), condition)
            .map_err(|e| match e {
                Error::ConditionalCheckFailed { .. } => {
                    Error::DuplicateItem("Duplicate primary key exists in table".into())
                }
                other => other,
            })?,
        PlannedChange::Update(actions) => {
            ctx.engine
                .update_item(&plan.table, plan.key.clone(), actions, condition)?
        }
        PlannedChange::Delete => ctx.engine.delete_item(&plan.table, &plan.key, condition)?,
        PlannedChange::Check => {
            return Err(Error::validation(
                "EXISTS can only be used in ExecuteTransaction write requests.",
            ))
        }
    };
    Ok((plan.returned(&outcome)?, outcome.consumed))
}

/// A SELECT, as a Query when WHERE pins the partition key, else as a Scan.
fn run_select(
    ctx: &Context<'_>,
    statement: Statement,
    limit: Option<usize>,
    next_token: Option<&str>,
    consistent: bool,
) -> Result<(Vec<u8>, Option<Item>, Consumed, String)> {
    let Statement::Select {
        projection,
        table,
        index,
        filter,
        descending,
        order_by,
    } = statement
    else {
        return Err(Error::Internal("a write is not a read".into()));
    };
    let meta = table_of(ctx, &table)?;
    let source = resolve_source(&meta, index.as_deref(), consistent).map_err(|e| match e {
        Error::Validation(m) if m.starts_with("Consistent reads") => Error::validation(
            "Strongly consistent read is not supported on Global Secondary Indexes",
        ),
        other => other,
    })?;
    let schema = source.key_schema();
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    let keyed = schema
        .hash
        .iter()
        .all(|a| parts.iter().any(|c| is_equality_on(c, &a.name)));
    if let Some(path) = &order_by {
        let is_key =
            matches!(path.steps.as_slice(), [PathStep::Attribute(a)] if schema.is_key_attribute(a));
        if !is_key {
            let shown: Vec<String> = path.steps.iter().map(ToString::to_string).collect();
            return Err(Error::validation(format!(
                "Variable reference {} in ORDER BY clause must be part of the primary key",
                shown.join(".")
            )));
        }
        if !keyed {
            return Err(Error::validation(
                "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause.",
            ));
        }
    }
    // Equalities on the whole partition key make the SELECT a Query; the sort key's conditions
    // narrow it left to right, and whatever is left filters.
    let range = if keyed {
        let mut terms = Vec::new();
        for attr in &schema.hash {
            terms.extend(take_term(&mut parts, |c| is_equality_on(c, &attr.name)));
        }
        for attr in &schema.range {
            let Some(term) = take_term(&mut parts, |c| is_term_on(c, &attr.name)) else {
                break;
            };
            let last = !matches!(term.1, SortCondition::Eq(_));
            terms.push(term);
            if last {
                break;
            }
        }
        let key = key_condition::plan(terms, schema)?;
        source.query_range(&key, !descending)
    } else {
        source.scan_range(0, 1)
    };
    let start = next_token
        .map(|t| {
            let invalid = || Error::validation("Invalid NextToken");
            let bytes = BASE64.decode(t).map_err(|_| invalid())?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
            start_position(source, &item_from_json(&value).map_err(|_| invalid())?)
        })
        .transpose()?;
    let read = Read {
        source,
        range,
        start,
        limit,
        filter: and_all(parts).map(|c| (c, "Statement")),
        output: output(
            source,
            None,
            projection.map(|p| (p, "ProjectionExpression")),
        )?,
        consistent,
        capacity: ReturnCapacity::None,
        partition: None,
    };
    let a = answer(ctx, &read)?;
    Ok((a.items, a.last_key, a.consumed, meta.name.clone()))
}

/// Statements in IAM's terms: `dynamodb:PartiQLSelect`, `PartiQLInsert`, `PartiQLUpdate` or
/// `PartiQLDelete` on the table, with the partition key value the statement names. A statement
/// that does not parse is left to the operation to refuse.
pub(super) fn accesses<'a>(
    ctx: &Context<'_>,
    statements: impl Iterator<Item = Input<'a>>,
) -> Vec<super::access::Access> {
    statements
        .filter_map(|e| {
            let statement = statement_of(e).ok()?;
            let action = match &statement {
                Statement::Select { .. } | Statement::Exists { .. } => "PartiQLSelect",
                Statement::Insert { .. } => "PartiQLInsert",
                Statement::Update { .. } => "PartiQLUpdate",
                Statement::Delete { .. } => "PartiQLDelete",
            };
            let t = ctx.resolve_table(statement.table());
            let resource = crate::engine::catalog::table_arn(t.region, ctx.account, t.name);
            let meta = ctx.engine.table(t.region, t.name);
            let leading = meta.and_then(|meta| {
                let hash = &meta.key_schema.hash_key().name;
                match statement {
                    Statement::Insert { item, .. } => item.get(hash)?.key_text(),
                    Statement::Select { filter, .. }
                    | Statement::Update { filter, .. }
                    | Statement::Delete { filter, .. }
                    | Statement::Exists { filter, .. } => {
                        let mut parts = Vec::new();
                        conjuncts(filter, &mut parts);
                        parts.iter().find_map(|c| match as_term(c)? {
                            (name, SortCondition::Eq(v)) if name == *hash => v.key_text(),
                            _ => None,
                        })
                    }
                }
            });
            let keys = leading
                .map(|k| vec![("dynamodb:leadingkeys", vec![k])])
                .unwrap_or_default();
            Some(super::access::Access {
                action: format!("dynamodb:{action}"),
                resource,
                keys,
            })
        })
        .collect()
}

pub fn execute_statement(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let statement = c.not_null(input.str("Statement")?, "statement");
    c.length(statement, "statement", 1, 8192);
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let on_failure = input.str("ReturnValuesOnConditionCheckFailure")?;
    c.one_of(
        on_failure,
        "returnValuesOnConditionCheckFailure",
        &["ALL_OLD", "NONE"],
    );
    let next_token = input.str("NextToken")?;
    let consistent = input.bool("ConsistentRead")?.unwrap_or(false);
    c.finish()?;
    let statement = parse(present(statement)?, &parameters(input)?)?;
    let capacity = ReturnCapacity::parse(capacity);
    if statement.is_read() {
        let (items, last, consumed, table) = run_select(
            ctx,
            statement,
            limit.map(|l| l as usize),
            next_token,
            consistent,
        )?;
        let mut out = br#"{"Items":["#.to_vec();
        out.extend_from_slice(&items);
        out.push(b']');
        if let Some(last) = last {
            let token = BASE64.encode(to_body(&last)?);
            out.extend_from_slice(format!(r#","NextToken":"{token}""#).as_bytes());
        }
        if let Some(consumed) = capacity.report(&table, &consumed) {
            out.extend_from_slice(br#","ConsumedCapacity":"#);
            out.extend_from_slice(&to_body(&consumed)?);
        }
        out.push(b'}');
        return Ok(out);
    }
    let plan = plan_write(ctx, statement)?;
    let (items, consumed) = run_write(ctx, &plan, on_failure == Some("ALL_OLD"))?;
    let mut body = json!({ "Items": items });
    if let Some(c) = capacity.report(&plan.table.name, &consumed) {
        body["ConsumedCapacity"] = c;
    }
    to_body(&body)
}

/// The `ReturnConsumedCapacity` of a batch or transaction of statements.
fn return_capacity(input: Input<'_>) -> Result<ReturnCapacity> {
    let mut c = Constraints::default();
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    c.finish()?;
    Ok(ReturnCapacity::parse(capacity))
}

/// A SELECT in a batch or transaction must name one item by its full key.
fn single_get(
    ctx: &Context<'_>,
    statement: Statement,
) -> Result<(Arc<TableMeta>, Item, Option<Vec<Path>>)> {
    let Statement::Select {
        projection,
        table,
        index,
        filter,
        ..
    } = statement
    else {
        return Err(Error::Internal("a write is not a read".into()));
    };
    if index.is_some() {
        return Err(Error::validation(
            "Reads on indices are not supported within transactions.",
        ));
    }
    let meta = table_of(ctx, &table)?;
    let must_name_key = || {
        Error::validation(
            "Select statements within ExecuteTransaction must specify the primary key in the where clause.",
        )
    };
    let (key, rest) = key_of_where(&meta.key_schema, filter).map_err(|_| must_name_key())?;
    if !rest.is_empty() {
        return Err(must_name_key());
    }
    Ok((meta, key, projection))
}

fn statements<'a>(
    input: Input<'a>,
    member: &str,
    path: &str,
    max: usize,
) -> Result<Vec<Input<'a>>> {
    let mut c = Constraints::default();
    let list = input.list(member)?;
    c.not_null(list, path);
    c.count(list.map(Vec::len), "[...]", path, 1, max);
    c.finish()?;
    list.into_iter()
        .flatten()
        .map(|v| Input::element(v, "com.amazonaws.dynamodb.v20120810.BatchStatementRequest"))
        .collect()
}

fn statement_of(e: Input<'_>) -> Result<Statement> {
    let mut c = Constraints::default();
    let text = c.not_null(e.str("Statement")?, "statement");
    c.finish()?;
    parse(present(text)?, &parameters(e)?)
}

fn error_entry(e: &Error) -> Value {
    let code = match e.code() {
        "ThrottlingException" => "ThrottlingError",
        other => other.trim_end_matches("Exception"),
    };
    json!({"Code": code, "Message": e.to_string()})
}

pub fn batch_execute_statement(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let entries = statements(input, "Statements", "statements", 25)?;
    let capacity = return_capacity(input)?;
    let mut units = TableUnits::default();
    let parsed: Vec<Result<Statement>> = entries.iter().map(|e| statement_of(*e)).collect();
    let reads = parsed
        .iter()
        .filter(|s| matches!(s, Ok(s) if s.is_read()))
        .count();
    if reads != 0 && reads != parsed.iter().filter(|s| s.is_ok()).count() {
        return Err(Error::validation(
            "Statements in a batch must either be all reads or all writes.",
        ));
    }
    let mut responses = Vec::with_capacity(parsed.len());
    for (statement, e) in parsed.into_iter().zip(&entries) {
        let table = statement.as_ref().ok().map(|s| s.table().to_string());
        let result = statement.and_then(|s| {
            if s.is_read() {
                let (meta, key, projection) = single_get(ctx, s)?;
                let consistent = e.bool("ConsistentRead")?.unwrap_or(false);
                let (stored, cost) = ctx.engine.read_item(&meta, &key, consistent)?;
                units.add(&meta.name, &Consumed::table(cost));
                let item = stored.map(|s| s.decode()).transpose()?;
                let item = match (item, projection) {
                    (Some(item), Some(paths)) => {
                        Some(Projection::new(&paths, "ProjectionExpression")?.apply(&item))
                    }
                    (item, _) => item,
                };
                Ok(item)
            } else {
                let on_failure = e.str("ReturnValuesOnConditionCheckFailure")? == Some("ALL_OLD");
                let plan = plan_write(ctx, s)?;
                let (_, consumed) = run_write(ctx, &plan, on_failure)?;
                units.add(&plan.table.name, &consumed);
                Ok(None)
            }
        });
        let mut entry = json!({});
        if let Some(t) = table {
            entry["TableName"] = json!(t);
        }
        match result {
            Ok(Some(item)) => {
                entry["Item"] =
                    serde_json::to_value(item).map_err(|e| Error::Internal(e.to_string()))?
            }
            Ok(None) => {}
            Err(Error::Internal(m)) => return Err(Error::Internal(m)),
            Err(err) => {
                let mut error = error_entry(&err);
                if let Error::ConditionalCheckFailed { item: Some(item) } = &err {
                    error["Item"] = item.clone();
                }
                entry["Error"] = error;
            }
        }
        responses.push(entry);
    }
    let mut body = json!({ "Responses": responses });
    if let Some(c) = capacity.report_tables(units) {
        body["ConsumedCapacity"] = c;
    }
    to_body(&body)
}

pub fn execute_transaction(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let entries = statements(input, "TransactStatements", "transactStatements", 100)?;
    let mut c = Constraints::default();
    let token = input.str("ClientRequestToken")?;
    c.length(token, "clientRequestToken", 1, 36);
    c.finish()?;
    let capacity = return_capacity(input)?;
    let mut units = TableUnits::default();
    let parsed: Vec<Statement> = entries
        .iter()
        .map(|e| statement_of(*e))
        .collect::<Result<_>>()?;
    let reads = parsed.iter().filter(|s| s.is_read()).count();
    if reads == parsed.len() {
        let gets: Vec<_> = parsed
            .into_iter()
            .map(|s| single_get(ctx, s))
            .collect::<Result<_>>()?;
        let reads: Vec<(Arc<TableMeta>, &Item)> =
            gets.iter().map(|(t, k, _)| (t.clone(), k)).collect();
        let found = ctx.engine.transact_get(&reads)?;
        let mut responses = Vec::with_capacity(found.len());
        for ((table, _, projection), (stored, cost)) in gets.iter().zip(found) {
            units.add(&table.name, &Consumed::table(cost));
            responses.push(match stored {
                Some(stored) => {
                    let item = stored.decode()?;
                    let item = match projection {
                        Some(paths) => Projection::new(paths, "ProjectionExpression")?.apply(&item),
                        None => item,
                    };
                    json!({ "Item": item })
                }
                None => json!({}),
            });
        }
        let mut body = json!({ "Responses": responses });
        if let Some(c) = capacity.report_transaction(units, Op::Read) {
            body["ConsumedCapacity"] = c;
        }
        return to_body(&body);
    }
    if reads != 0 {
        return Err(Error::validation(
            "Transaction statements must either be all reads or all writes.",
        ));
    }
    let plans: Vec<(WritePlan, bool)> = parsed
        .into_iter()
        .zip(&entries)
        .map(|(s, e)| {
            let on_failure = e.str("ReturnValuesOnConditionCheckFailure")? == Some("ALL_OLD");
            Ok((plan_write(ctx, s)?, on_failure))
        })
        .collect::<Result<_>>()?;
    let writes = plans
        .iter()
        .map(|(p, on_failure)| TxWrite {
            table: p.table.clone(),
            key: &p.key,
            change: p.change(),
            condition: p.condition.as_ref().map(|condition| WriteCondition {
                condition,
                return_item_on_failure: *on_failure,
            }),
        })
        .collect();
    let print = token.map(|_| {
        let statements = input
            .raw("TransactStatements")
            .cloned()
            .unwrap_or(Value::Null);
        fingerprint(statements.to_string().as_bytes())
    });
    // An INSERT's failed condition means the item exists.
    let result = ctx
        .engine
        .transact_write(writes, token.zip(print.as_deref()));
    if let Err(Error::TransactionCanceled { mut reasons }) = result {
        for (reason, (plan, _)) in reasons.iter_mut().zip(&plans) {
            if matches!(plan.change, PlannedChange::Put)
                && reason["Code"] == "ConditionalCheckFailed"
            {
                *reason = json!({"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"});
            }
        }
        return Err(Error::TransactionCanceled { reasons });
    }
    let mut body = json!({});
    if let Some(outcomes) = result? {
        for ((plan, _), outcome) in plans.iter().zip(&outcomes) {
            units.add(&plan.table.name, &outcome.consumed.clone().doubled());
        }
        if let Some(c) = capacity.report_transaction(units, Op::Write) {
            body["ConsumedCapacity"] = c;
        }
    }
    to_body(&body)
}
