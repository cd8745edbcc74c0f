//! CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use std::collections::BTreeMap;

use serde_json::json;

use super::describe::table_description;
use super::index_updates::{apply_index_updates, read_index_updates};
use super::input::{present, Constraints, Input};
use super::table_input::{
    check_projected_attribute_total, complete_definitions, invalid, read_attribute_definitions,
    read_billing, read_indexes, read_key_schema, read_on_demand, read_sse, read_stream_spec,
    read_tags, IndexKind, IndexSet, GSI, LSI, MAX_TAGS, TABLE_CLASSES, TABLE_KEY_ELEMENTS,
};
use super::{to_body, Context};
use crate::engine::catalog::{BillingMode, StreamSpec, TableMeta, Throughput};
use crate::error::{Error, Result};
use crate::model::wire::JsonKind;

pub fn create_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let meta = ctx.engine.create_table(table_definition(ctx, input)?)?;
    to_body(&json!({ "TableDescription": table_description(ctx, &meta, "CREATING")? }))
}

/// A table definition read and checked from a CreateTable request (restores build one too).
pub(super) fn table_definition(ctx: &Context<'_>, input: Input<'_>) -> Result<TableMeta> {
    let mut c = Constraints::default();
    // CreateTable reports a missing name on its own, before any other constraint.
    let name = input.str("TableName")?;
    if name.is_none() {
        return Err(Error::validation(
            "The parameter 'TableName' is required but was not present in the request",
        ));
    }
    let defs_raw = read_attribute_definitions(input, &mut c)?;
    c.not_null(defs_raw.as_ref(), "attributeDefinitions");
    c.name(name, "tableName");
    let key_schema = read_key_schema(input, "", TABLE_KEY_ELEMENTS, &mut c)?;
    let lsis = read_indexes(
        input,
        "LocalSecondaryIndexes",
        "localSecondaryIndexes",
        LSI,
        &mut c,
    )?;
    let gsis = read_indexes(
        input,
        "GlobalSecondaryIndexes",
        "globalSecondaryIndexes",
        GSI,
        &mut c,
    )?;
    let (billing_mode, throughput) = read_billing(input, &mut c)?;
    let stream = read_stream_spec(input, &mut c)?;
    let sse = read_sse(input, &mut c)?;
    let tags = input.list("Tags")?;
    let table_class = input.str("TableClass")?;
    c.one_of(table_class, "tableClass", TABLE_CLASSES);
    let deletion_protection = input.bool("DeletionProtectionEnabled")?.unwrap_or(false);
    let on_demand = read_on_demand(input)?;
    c.finish()?;

    // Everything below is only reached with all required members present.
    let (name, key_schema) = (present(name)?, present(key_schema)?);
    let defs = complete_definitions(&defs_raw.unwrap_or_default());

    let mode = match billing_mode {
        Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
        _ => BillingMode::Provisioned,
    };
    let table_throughput = match (mode, &throughput) {
        (BillingMode::PayPerRequest, Some(_)) => {
            return Err(invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        (BillingMode::PayPerRequest, None) => Throughput::default(),
        (BillingMode::Provisioned, None) => {
            return Err(invalid(
                "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ))
        }
        (BillingMode::Provisioned, Some(t)) => t.resolve()?,
    };
    if mode == BillingMode::Provisioned && on_demand.is_some() {
        return Err(invalid(
            "OnDemandThroughput can only be specified when BillingMode is PAY_PER_REQUEST",
        ));
    }

    let table_keys = key_schema.names();
    if table_keys.len() > defs.len() {
        return Err(Error::validation(
            "Invalid KeySchema: Some index key attribute have no definition",
        ));
    }
    let schema = key_schema.resolve(&defs)?;
    let mut seen_defs = std::collections::HashSet::new();
    if let Some((dup, _)) = defs.iter().find(|(n, _)| !seen_defs.insert(n.as_str())) {
        return Err(invalid(format_args!(
            "Duplicate AttributeName in AttributeDefinitions: {dup}"
        )));
    }

    let mut index_names = std::collections::HashSet::new();
    if lsis.is_some() && schema.range.is_empty() && !lsis.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        ));
    }
    let index_set = IndexSet {
        defs: &defs,
        table: &schema,
        mode,
    };
    let local_indexes = index_set.resolve(lsis, IndexKind::Local, &mut index_names)?;
    let global_indexes = index_set.resolve(gsis, IndexKind::Global, &mut index_names)?;
    check_projected_attribute_total(local_indexes.iter().chain(&global_indexes))?;

    // Every definition must be used by a key of the table or an index.
    let used: std::collections::BTreeSet<&str> = schema
        .attributes()
        .chain(
            local_indexes
                .iter()
                .chain(&global_indexes)
                .flat_map(|i| i.key_schema.attributes()),
        )
        .map(|a| a.name.as_str())
        .collect();
    if used.len() != defs.len() {
        return Err(if local_indexes.is_empty() && global_indexes.is_empty() {
            invalid("Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
        } else {
            invalid(format_args!(
                "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                used.into_iter().collect::<Vec<_>>().join(", ")
            ))
        });
    }

    let tags = read_tags(tags.map(Vec::as_slice).unwrap_or_default())?;
    if tags.len() > MAX_TAGS {
        return Err(invalid(format_args!(
            "The number of tags exceeds the limit of {MAX_TAGS}"
        )));
    }
    let now = ctx.engine.clock.epoch_seconds();
    let meta = TableMeta {
        id: 0,
        name: name.to_string(),
        region: ctx.region.to_string(),
        account: ctx.account.to_string(),
        uuid: String::new(),
        created: 0.0,
        key_schema: schema,
        attribute_definitions: defs,
        billing_mode: mode,
        billing_mode_given: billing_mode.is_some(),
        last_update_to_pay_per_request: (mode == BillingMode::PayPerRequest).then_some(now),
        throughput: table_throughput,
        on_demand,
        local_indexes,
        global_indexes,
        stream: stream.filter(|s| s.enabled).map(|s| StreamSpec {
            label: Some(stream_label(now)),
            ..s
        }),
        sse,
        table_class: table_class.map(str::to_string),
        deletion_protection,
        tags: tags.into_iter().collect::<BTreeMap<_, _>>(),
        past_streams: Vec::new(),
        ttl: None,
        restore: None,
        pitr: None,
        importing: None,
        buckets: Default::default(),
        stats: Default::default(),
    };
    Ok(meta)
}

/// Enables, disables or re-enables a table's stream with DynamoDB's rules: a stream is
/// enabled or disabled once; a re-enabled stream is a new stream (new label, new records).
fn update_stream(meta: &mut TableMeta, spec: &StreamSpec, now: f64) -> Result<()> {
    let enabled = meta.stream.as_ref().is_some_and(|s| s.enabled);
    match (spec.enabled, enabled) {
        (true, true) => Err(Error::validation(format!(
            "Table already has an enabled stream: TableName: {}",
            meta.name
        ))),
        (false, false) => Err(Error::validation(format!(
            "Table does not have an enabled stream: TableName: {}",
            meta.name
        ))),
        (true, false) => {
            if let Some(old) = meta.stream.take().filter(|s| s.id != 0) {
                meta.past_streams.push(old);
            }
            meta.stream = Some(StreamSpec {
                label: Some(stream_label(now)),
                ..spec.clone()
            });
            Ok(())
        }
        (false, true) => {
            if let Some(s) = meta.stream.as_mut() {
                s.enabled = false;
                s.disabled_at = Some(now);
            }
            Ok(())
        }
    }
}

/// A stream label: the creation time as ISO-8601 with milliseconds, as DynamoDB labels them.
fn stream_label(epoch_seconds: f64) -> String {
    super::describe::iso8601_millis(epoch_seconds)
}

pub fn describe_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let meta = ctx.named_table(input)?;
    let status = if meta.filling() { "CREATING" } else { "ACTIVE" };
    to_body(&json!({ "Table": table_description(ctx, &meta, status)? }))
}

pub fn list_tables(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let start = input.str("ExclusiveStartTableName")?;
    c.name(start, "exclusiveStartTableName");
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    c.at_most(limit, "limit", 100);
    c.finish()?;
    let limit = limit.unwrap_or(100) as usize;
    let names = ctx.engine.table_names(ctx.region);
    let first = match start {
        Some(s) => names.partition_point(|n| n.as_str() <= s),
        None => 0,
    };
    let page: Vec<&String> = names[first..].iter().take(limit).collect();
    let mut out = json!({ "TableNames": page });
    if first + page.len() < names.len() {
        if let Some(last) = page.last() {
            out["LastEvaluatedTableName"] = json!(last);
        }
    }
    to_body(&out)
}

pub fn update_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let (billing_mode, throughput) = read_billing(input, &mut c)?;
    let table_class = input.str("TableClass")?;
    c.one_of(table_class, "tableClass", TABLE_CLASSES);
    let deletion_protection = input.bool("DeletionProtectionEnabled")?;
    let on_demand = read_on_demand(input)?;
    let defs = read_attribute_definitions(input, &mut c)?;
    let index_updates = read_index_updates(input, &mut c)?;
    let stream = read_stream_spec(input, &mut c)?;
    c.finish()?;
    let t = present(table)?;
    for unbuilt in ["SSESpecification", "ReplicaUpdates"] {
        if input.has(unbuilt) {
            return Err(Error::validation(format!(
                "{unbuilt} is not supported by this server version"
            )));
        }
    }
    if billing_mode.is_none()
        && throughput.is_none()
        && table_class.is_none()
        && deletion_protection.is_none()
        && on_demand.is_none()
        && index_updates.is_none()
        && stream.is_none()
    {
        return Err(Error::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let now = ctx.engine.clock.epoch_seconds();
    let meta = ctx.engine.update_table(t.region, t.name, |meta| {
        let mode = match billing_mode {
            Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
            Some(_) => BillingMode::Provisioned,
            None => meta.billing_mode,
        };
        match (mode, &throughput) {
            (BillingMode::PayPerRequest, Some(_)) => {
                return Err(invalid(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ))
            }
            (BillingMode::Provisioned, None) if meta.billing_mode == BillingMode::PayPerRequest => {
                return Err(invalid(
                    "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                ))
            }
            (BillingMode::Provisioned, Some(t)) => {
                let new = t.resolve()?;
                let old = &meta.throughput;
                if meta.billing_mode == BillingMode::Provisioned
                    && billing_mode.is_none()
                    && new.read == old.read
                    && new.write == old.write
                    && table_class.is_none()
                    && deletion_protection.is_none()
                {
                    return Err(Error::validation(format!(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                        old.read, new.read, old.write, new.write
                    )));
                }
                let mut next = Throughput {
                    last_increase: old.last_increase,
                    last_decrease: old.last_decrease,
                    decreases_today: old.decreases_today,
                    ..new
                };
                if next.read > old.read || next.write > old.write {
                    next.last_increase = Some(now);
                }
                if next.read < old.read || next.write < old.write {
                    next.decrease(now)?;
                }
                meta.throughput = next;
                // New capacity starts with a full burst.
                meta.buckets = Default::default();
            }
            _ => {}
        }
        if mode == BillingMode::PayPerRequest {
            if meta.billing_mode != BillingMode::PayPerRequest {
                meta.last_update_to_pay_per_request = Some(now);
            }
            meta.throughput = Throughput::default();
        } else if on_demand.is_some() {
            return Err(invalid(
                "OnDemandThroughput can only be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        if billing_mode.is_some() {
            meta.billing_mode_given = true;
        }
        if mode != meta.billing_mode || on_demand.is_some() {
            meta.buckets = Default::default();
        }
        meta.billing_mode = mode;
        if let Some(o) = &on_demand {
            meta.on_demand = Some(o.clone());
        }
        if let Some(class) = table_class {
            meta.table_class = Some(class.to_string());
        }
        if let Some(p) = deletion_protection {
            meta.deletion_protection = p;
        }
        if let Some(spec) = &stream {
            update_stream(meta, spec, now)?;
        }
        if let Some(updates) = &index_updates {
            let defs = complete_definitions(defs.as_deref().unwrap_or_default());
            apply_index_updates(meta, updates, &defs)?;
        }
        Ok(())
    })?;
    to_body(&json!({ "TableDescription": table_description(ctx, &meta, "UPDATING")? }))
}

pub fn delete_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    c.finish()?;
    let t = present(table)?;
    // Describe before the data goes, so the response carries the final counts.
    let mut description = None;
    ctx.engine.delete_table(t.region, t.name, |meta| {
        if meta.deletion_protection {
            return Err(Error::validation(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
            ));
        }
        description = Some(table_description(ctx, meta, "DELETING")?);
        Ok(())
    })?;
    to_body(&json!({ "TableDescription": present(description)? }))
}
