//! Query and Scan: reading the request (key condition or segment, filter, projection, Select,
//! paging members), planning one key range, and writing the page out.

use super::expressions::Expressions;
use super::input::{present, Constraints, Input};
use super::legacy::{self, ConditionMap};
use super::{to_body, Context};
use crate::capacity::{read_units, Consumed, ReturnCapacity, RETURN_CAPACITY_VALUES};
use crate::engine::catalog::TableMeta;
use crate::engine::read::Source;
use crate::engine::throttle::ReadTarget;
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, Operand, Path, PathStep};
use crate::expr::key_condition::{self, KeyCondition};
use crate::expr::project::Projection;
use crate::expr::{eval, ExpressionKind};
use crate::model::wire::JsonKind;
use crate::model::{item_from_json, Item};
use crate::storage::codec::StoredItem;
use crate::storage::{keys, KeyRange};

const SELECT_VALUES: &[&str] = &[
    "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES",
    "SPECIFIC_ATTRIBUTES",
    "COUNT",
];

/// The members Query and Scan share.
struct Common<'a> {
    index: Option<&'a str>,
    limit: Option<usize>,
    select: Option<&'a str>,
    consistent: bool,
    capacity: ReturnCapacity,
    start_key: Option<Item>,
}

fn read_common<'a>(input: Input<'a>, c: &mut Constraints) -> Result<Common<'a>> {
    let index = input.str("IndexName")?;
    c.name(index, "indexName");
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    let select = input.str("Select")?;
    c.one_of(select, "select", SELECT_VALUES);
    let consistent = input.bool("ConsistentRead")?.unwrap_or(false);
    let capacity = input.str("ReturnConsumedCapacity")?;
    c.one_of(capacity, "returnConsumedCapacity", RETURN_CAPACITY_VALUES);
    let start_key = input
        .raw("ExclusiveStartKey")
        .map(|v| {
            item_from_json(v).map_err(|e| match e {
                Error::Validation(m) => {
                    Error::validation(format!("The provided starting key is invalid: {m}"))
                }
                other => other,
            })
        })
        .transpose()?;
    Ok(Common {
        index,
        limit: limit.map(|l| l.max(1) as usize),
        select,
        consistent,
        capacity: ReturnCapacity::parse(capacity),
        start_key,
    })
}

/// What each matching item becomes in the response.
pub(super) enum Output {
    /// `Select=COUNT`.
    Count,
    Items {
        projection: Option<Projection>,
        /// An LSI read that needs attributes its entries do not hold reads them from the table.
        from_table: bool,
    },
}

pub(super) fn output(
    source: Source<'_>,
    select: Option<&str>,
    projection: Option<(Vec<Path>, &str)>,
) -> Result<Output> {
    if let (Some(select), Some((_, member))) = (select, &projection) {
        if select != "SPECIFIC_ATTRIBUTES" {
            let what = if select == "COUNT" {
                "only the Count"
            } else {
                select
            };
            return Err(Error::validation(format!(
                "Cannot specify the {member} when choosing to get {what}"
            )));
        }
    }
    if select == Some("SPECIFIC_ATTRIBUTES") && projection.is_none() {
        return Err(Error::validation(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ));
    }
    let index = source.index;
    if select == Some("ALL_PROJECTED_ATTRIBUTES") && index.is_none() {
        return Err(Error::validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ));
    }
    if select == Some("COUNT") {
        return Ok(Output::Count);
    }
    let projection = projection
        .map(|(paths, member)| {
            let member = if member == "AttributesToGet" {
                "ProjectionExpression"
            } else {
                member
            };
            Projection::new(&paths, member).map(|p| (p, paths))
        })
        .transpose()?;
    let from_table = match index {
        Some(index) if index.projection.kind != "ALL" => {
            let global = source
                .table
                .index(&index.name)
                .is_some_and(|(_, global)| global);
            let wants_all = select == Some("ALL_ATTRIBUTES");
            if wants_all && global {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    index.name
                )));
            }
            let missing = projection.as_ref().is_some_and(|(_, paths)| {
                paths
                    .iter()
                    .any(|p| !index.projects(&source.table.key_schema, top(p)))
            });
            // A GSI answers with what it holds; an LSI fetches the rest from the table.
            !global && (wants_all || missing)
        }
        _ => false,
    };
    Ok(Output::Items {
        projection: projection.map(|(p, _)| p),
        from_table,
    })
}

fn top(path: &Path) -> &str {
    match path.steps.first() {
        Some(PathStep::Attribute(a)) => a,
        _ => "",
    }
}

/// The top-level attributes a condition reads.
fn attributes(condition: &Condition, out: &mut Vec<String>) {
    let mut operand = |o: &Operand| {
        if let Operand::Path(p) | Operand::Size(p) = o {
            out.push(top(p).to_string());
        }
    };
    match condition {
        Condition::Compare(a, _, b) => {
            operand(a);
            operand(b);
        }
        Condition::Between(a, b, c) => [a, b, c].into_iter().for_each(operand),
        Condition::In(a, list) => std::iter::once(a).chain(list).for_each(operand),
        Condition::Call(_, args) => args.iter().for_each(operand),
        Condition::Not(c) => attributes(c, out),
        Condition::And(a, b) | Condition::Or(a, b) => {
            attributes(a, out);
            attributes(b, out);
        }
    }
}

/// The source a request reads: the table, or the index it names.
fn source<'a>(table: &'a TableMeta, common: &Common<'_>) -> Result<Source<'a>> {
    resolve_source(table, common.index, common.consistent)
}

/// The table, or the index `name` of it, checked for a consistent read.
pub(super) fn resolve_source<'a>(
    table: &'a TableMeta,
    index: Option<&str>,
    consistent: bool,
) -> Result<Source<'a>> {
    let Some(name) = index else {
        return Ok(Source { table, index: None });
    };
    let (index, global) = table.index(name).ok_or_else(|| {
        Error::validation(format!(
            "The table does not have the specified index: {name}"
        ))
    })?;
    if global && consistent {
        return Err(Error::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    Ok(Source {
        table,
        index: Some(index),
    })
}

/// The position an `ExclusiveStartKey` names: exactly the table's key attributes (and the
/// index's, on an index), of the right types.
pub(super) fn start_position(source: Source<'_>, key: &Item) -> Result<Vec<u8>> {
    let invalid = || {
        Error::validation(
            "The provided starting key is invalid: The provided key element does not match the schema",
        )
    };
    let mut expected: Vec<_> = source.table.key_schema.attributes().collect();
    if let Some(index) = source.index {
        for a in index.key_schema.attributes() {
            if !expected.iter().any(|e| e.name == a.name) {
                expected.push(a);
            }
        }
    }
    let types_match = expected
        .iter()
        .all(|a| key.get(&a.name).and_then(|v| v.scalar_type()) == Some(a.ty));
    if key.len() != expected.len() || !types_match {
        return Err(invalid());
    }
    source.storage_key(key).ok_or_else(invalid)
}

/// The key attributes of a read item: its `LastEvaluatedKey`.
fn key_of(source: Source<'_>, item: &Item) -> Item {
    let index_keys = source.index.map(|i| &i.key_schema);
    item.iter()
        .filter(|(name, _)| {
            source.table.key_schema.is_key_attribute(name)
                || index_keys.is_some_and(|k| k.is_key_attribute(name))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A planned read, ready to run.
pub(super) struct Read<'a> {
    pub source: Source<'a>,
    pub range: KeyRange,
    pub start: Option<Vec<u8>>,
    pub limit: Option<usize>,
    pub filter: Option<(Condition, &'static str)>,
    pub output: Output,
    pub consistent: bool,
    pub capacity: ReturnCapacity,
    /// The partition a Query reads (for its per-partition limit).
    pub partition: Option<u64>,
}

/// A page of a Query or Scan, its matching items already written as JSON.
pub(super) struct Answer {
    /// The matching items, as JSON objects separated by commas.
    pub items: Vec<u8>,
    pub count: usize,
    pub scanned: usize,
    pub consumed: Consumed,
    pub last_key: Option<Item>,
}

/// Reads a page, after checking the source has capacity left (a Query or Scan is refused
/// before it reads, never cut short), and charges what it read: the bytes of the entries
/// read before any filter, rounded up once, plus, for an LSI read of unprojected
/// attributes, each item fetched from the table.
pub(super) fn answer(ctx: &Context<'_>, read: &Read<'_>) -> Result<Answer> {
    let target = ReadTarget {
        table: read.source.table,
        index: read.source.gsi(),
        partition: read.partition,
    };
    ctx.engine.admit_read(target)?;
    let page = ctx
        .engine
        .read_page(read.range.clone(), read.start.clone(), read.limit)?;
    let mut fetched = 0.0;
    let mut out = Vec::with_capacity(page.bytes + 128);
    let mut count = 0usize;
    let decode = read.filter.is_some()
        || matches!(
            read.output,
            Output::Items {
                projection: Some(_),
                ..
            } | Output::Items {
                from_table: true,
                ..
            }
        );
    for stored in &page.items {
        let item = if decode { Some(stored.decode()?) } else { None };
        if let (Some((filter, member)), Some(item)) = (&read.filter, &item) {
            if !eval::evaluate(filter, item, member)? {
                continue;
            }
        }
        count += 1;
        let Output::Items {
            projection,
            from_table,
        } = &read.output
        else {
            continue;
        };
        if count > 1 {
            out.push(b',');
        }
        let full = match (from_table, &item) {
            (true, Some(item)) => {
                let key = key_of(
                    Source {
                        table: read.source.table,
                        index: None,
                    },
                    item,
                );
                let stored = ctx.engine.get_item(read.source.table, &key)?;
                let size = stored.as_ref().map(StoredItem::size).transpose()?;
                fetched += read_units(size.unwrap_or(0), read.consistent);
                stored.map(|s| s.decode()).transpose()?
            }
            _ => None,
        };
        match (projection, full.as_ref().or(item.as_ref())) {
            (Some(p), Some(item)) => out.extend_from_slice(&to_body(&p.apply(item))?),
            (None, Some(item)) if full.is_some() => out.extend_from_slice(&to_body(item)?),
            _ => stored.write_json(&mut out)?,
        }
    }
    let last_key = match (page.truncated, page.items.last()) {
        (true, Some(last)) => Some(key_of(read.source, &last.decode()?)),
        _ => None,
    };
    let units = read_units(page.bytes, read.consistent);
    let consumed = match read.source.index {
        Some(index) => {
            let mut c = Consumed::table(fetched);
            c.add_index(&index.name, target.index.is_some(), units);
            c
        }
        None => Consumed::table(units),
    };
    ctx.engine.charge_read(target, consumed.total());
    Ok(Answer {
        items: out,
        count,
        scanned: page.items.len(),
        consumed,
        last_key,
    })
}

/// Runs a Query or Scan (`operation`, for its metrics) and writes its answer.
fn run(ctx: &Context<'_>, operation: &str, read: Read<'_>) -> Result<Vec<u8>> {
    let a = answer(ctx, &read)?;
    if let Some(index) = super::operation_index(operation) {
        read.source.table.stats.returned(index, a.count);
    }
    let mut out = Vec::with_capacity(a.items.len() + 128);
    out.push(b'{');
    if matches!(read.output, Output::Items { .. }) {
        out.extend_from_slice(br#""Items":["#);
        out.extend_from_slice(&a.items);
        out.extend_from_slice(b"],");
    }
    out.extend_from_slice(
        format!(r#""Count":{},"ScannedCount":{}"#, a.count, a.scanned).as_bytes(),
    );
    if let Some(last) = &a.last_key {
        out.extend_from_slice(br#","LastEvaluatedKey":"#);
        out.extend_from_slice(&to_body(last)?);
    }
    if let Some(consumed) = read.capacity.report(&read.source.table.name, &a.consumed) {
        out.extend_from_slice(br#","ConsumedCapacity":"#);
        out.extend_from_slice(&to_body(&consumed)?);
    }
    out.push(b'}');
    Ok(out)
}

/// Filter and projection members, expression or legacy (never both).
struct Shaping {
    filter: Option<(Condition, &'static str)>,
    projection: Option<(Vec<Path>, &'static str)>,
}

fn shaping(
    input: Input<'_>,
    expressions: &mut Expressions,
    legacy_filter: ConditionMap,
) -> Result<Shaping> {
    let filter = match expressions.condition(input, "FilterExpression", ExpressionKind::Filter)? {
        Some(c) => Some((c, "FilterExpression")),
        None => legacy::condition(input, legacy_filter)?.map(|c| (c, "FilterExpression")),
    };
    let projection = match expressions.projection(input)? {
        Some(p) => Some((p, "ProjectionExpression")),
        None => legacy::attributes_to_get(input)?.map(|p| (p, "AttributesToGet")),
    };
    Ok(Shaping { filter, projection })
}

pub fn query(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let common = read_common(input, &mut c)?;
    let forward = input.bool("ScanIndexForward")?.unwrap_or(true);
    c.finish()?;
    let mut legacy_members = vec!["AttributesToGet", "QueryFilter", "ConditionalOperator"];
    // KeyConditions may go with the other expressions, not with KeyConditionExpression.
    if input.has("KeyConditionExpression") {
        legacy_members.push("KeyConditions");
    }
    legacy::refuse_mixing(
        input,
        &legacy_members,
        &[
            "ProjectionExpression",
            "FilterExpression",
            "KeyConditionExpression",
        ],
    )?;
    let mut expressions = Expressions::read(input)?;
    let key_condition = expressions.condition(
        input,
        "KeyConditionExpression",
        ExpressionKind::KeyCondition,
    )?;
    let shaping = shaping(input, &mut expressions, ConditionMap::QueryFilter)?;
    expressions.finish()?;
    let legacy = key_condition.is_none();
    let terms = match key_condition {
        Some(c) => key_condition::terms_of_expression(&c)?,
        None => legacy::key_conditions(input)?.ok_or_else(|| {
            Error::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            )
        })?,
    };
    let meta = ctx.item_table(&present(table)?)?;
    let source = source(&meta, &common)?;
    if legacy && source.key_schema().is_multi_attribute() {
        return Err(Error::validation(
            "KeyConditions cannot query an index with a multi-attribute key: use KeyConditionExpression",
        ));
    }
    let key = key_condition::plan(terms, source.key_schema())?;
    if let Some((filter, _)) = &shaping.filter {
        let mut names = Vec::new();
        attributes(filter, &mut names);
        if let Some(k) = names
            .iter()
            .find(|n| source.key_schema().is_key_attribute(n))
        {
            let member = if input.has("QueryFilter") {
                "QueryFilter"
            } else {
                "Filter Expression"
            };
            return Err(Error::validation(format!(
                "{member} can only contain non-primary key attributes: Primary key attribute: {k}"
            )));
        }
    }
    let output = output(source, common.select, shaping.projection)?;
    let start = common
        .start_key
        .as_ref()
        .map(|k| query_start(source, &key, k))
        .transpose()?;
    let range = source.query_range(&key, forward);
    run(
        ctx,
        "Query",
        Read {
            source,
            partition: Some(keys::partition_fingerprint(&range.lower)),
            range,
            start,
            limit: common.limit,
            filter: shaping.filter,
            output,
            consistent: common.consistent,
            capacity: common.capacity,
        },
    )
}

/// A Query's `ExclusiveStartKey` must lie inside what the key condition selects.
fn query_start(source: Source<'_>, key: &KeyCondition, start: &Item) -> Result<Vec<u8>> {
    let position = start_position(source, start)?;
    let schema = source.key_schema();
    if let (Some(sort), Some(attr)) = (&key.sort, schema.range.get(key.sort_prefix.len())) {
        if !start.get(&attr.name).is_some_and(|v| sort.matches(v)) {
            return Err(Error::validation(
                "The provided starting key does not match the range key predicate",
            ));
        }
    }
    let fixed = key.partition.iter().zip(&schema.hash);
    let prefix = key.sort_prefix.iter().zip(&schema.range);
    if fixed
        .chain(prefix)
        .any(|(value, attr)| start.get(&attr.name) != Some(value))
    {
        return Err(Error::validation(
            "The provided starting key is outside query boundaries based on provided conditions",
        ));
    }
    Ok(position)
}

pub fn scan(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let common = read_common(input, &mut c)?;
    let segment = input.int("Segment", JsonKind::Integer)?;
    c.at_least(segment, "segment", 0);
    c.at_most(segment, "segment", 999_999);
    let total = input.int("TotalSegments", JsonKind::Integer)?;
    c.at_least(total, "totalSegments", 1);
    c.at_most(total, "totalSegments", 1_000_000);
    c.finish()?;
    legacy::refuse_mixing(
        input,
        &["AttributesToGet", "ScanFilter", "ConditionalOperator"],
        &["ProjectionExpression", "FilterExpression"],
    )?;
    let (segment, total) = match (segment, total) {
        (None, None) => (0, 1),
        (Some(_), None) => return Err(Error::validation(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
        )),
        (None, Some(_)) => return Err(Error::validation(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
        )),
        (Some(s), Some(t)) if s >= t => return Err(Error::validation(format!(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
        ))),
        (Some(s), Some(t)) => (s as u32, t as u32),
    };
    let mut expressions = Expressions::read(input)?;
    let shaping = shaping(input, &mut expressions, ConditionMap::ScanFilter)?;
    expressions.finish()?;
    let meta = ctx.item_table(&present(table)?)?;
    let source = source(&meta, &common)?;
    let output = output(source, common.select, shaping.projection)?;
    let range = source.scan_range(segment, total);
    let start = match &common.start_key {
        Some(k) => {
            let position = start_position(source, k)?;
            if position < range.lower || position >= range.upper {
                return Err(Error::validation(
                    "The provided Exclusive start key does not map to the provided Segment and TotalSegments values.",
                ));
            }
            Some(position)
        }
        None => None,
    };
    run(
        ctx,
        "Scan",
        Read {
            source,
            range,
            start,
            limit: common.limit,
            filter: shaping.filter,
            output,
            consistent: common.consistent,
            capacity: common.capacity,
            partition: None,
        },
    )
}
