//! CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup.

use serde_json::{json, Map, Value};

use super::describe::{key_schema, projection, table_description, throughput};
use super::input::{present, Constraints, Input};
use super::tables::table_definition;
use super::{to_body, Context};
use crate::engine::backups::{backup_not_found, Backup, BackupStatus};
use crate::engine::catalog::{BillingMode, TableMeta, Throughput};
use crate::error::{Error, Result};
use crate::model::wire::{type_mismatch, JsonKind};

/// DynamoDB's limit on table restores under way at once in an account.
pub(super) const CONCURRENT_RESTORES: usize = 50;

const BACKUP_TYPES: &[&str] = &["USER", "SYSTEM", "AWS_BACKUP", "ALL"];

pub fn create_backup(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let name = c.not_null(input.str("BackupName")?, "backupName");
    c.name(name, "backupName");
    c.finish()?;
    let (t, name) = (present(table)?, present(name)?);
    let backup = ctx.engine.create_backup(t.region, t.name, name)?;
    to_body(&json!({ "BackupDetails": details(&backup) }))
}

pub fn describe_backup(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let backup = named_backup(ctx, input)?;
    to_body(&json!({ "BackupDescription": description(ctx, &backup, None) }))
}

pub fn delete_backup(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let arn = named_backup(ctx, input)?.arn;
    let backup = ctx.engine.delete_backup(&arn)?;
    to_body(&json!({ "BackupDescription": description(ctx, &backup, Some("DELETED")) }))
}

pub fn list_backups(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = input.str("TableName")?;
    c.length(table, "tableName", 1, 1024);
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    c.at_most(limit, "limit", 100);
    let start = input.str("ExclusiveStartBackupArn")?;
    c.length(start, "exclusiveStartBackupArn", 37, 1024);
    let kind = input.str("BackupType")?;
    c.one_of(kind, "backupType", BACKUP_TYPES);
    let lower = time(input, "TimeRangeLowerBound")?;
    let upper = time(input, "TimeRangeUpperBound")?;
    c.finish()?;
    if let (Some(l), Some(u)) = (lower, upper) {
        if l > u {
            return Err(Error::validation(
                "TimeRangeUpperBound must be greater than or equal to TimeRangeLowerBound",
            ));
        }
    }
    let table = table.map(|t| ctx.resolve_table(t));
    // Only on-demand backups are made here: they are USER backups.
    let wanted_kind = matches!(kind, None | Some("USER") | Some("ALL"));
    let matching: Vec<Backup> = ctx
        .engine
        .backups()?
        .into_iter()
        .filter(|b| b.listed() && b.table.region == ctx.region && wanted_kind)
        .filter(|b| table.as_ref().is_none_or(|t| b.table.name == t.name))
        .filter(|b| lower.is_none_or(|l| b.created >= l))
        .filter(|b| upper.is_none_or(|u| b.created < u))
        .collect();
    let first = match start {
        Some(arn) => matching
            .iter()
            .position(|b| b.arn == arn)
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let limit = limit.unwrap_or(100) as usize;
    let page: Vec<&Backup> = matching[first..].iter().take(limit).collect();
    let mut out = json!({ "BackupSummaries": page.iter().map(|b| summary(b)).collect::<Vec<_>>() });
    if first + page.len() < matching.len() {
        if let Some(last) = page.last() {
            out["LastEvaluatedBackupArn"] = json!(last.arn);
        }
    }
    to_body(&out)
}

pub fn restore_table_from_backup(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let target = c.not_null(input.str("TargetTableName")?, "targetTableName");
    c.name(target, "targetTableName");
    let arn = c.not_null(input.str("BackupArn")?, "backupArn");
    c.length(arn, "backupArn", 37, 1024);
    check_billing_override(input, &mut c)?;
    c.finish()?;
    let (target, arn) = (present(target)?, present(arn)?);
    let backup = ctx
        .engine
        .backup(arn)?
        .filter(Backup::listed)
        .ok_or_else(|| backup_not_found(arn))?;
    let definition = restored_definition(ctx, &backup.table, target, input)?;
    let table = ctx
        .engine
        .restore_table(&backup, definition, CONCURRENT_RESTORES)?;
    to_body(&json!({ "TableDescription": table_description(ctx, &table, "CREATING")? }))
}

/// A restore's `BillingModeOverride`, checked as CreateTable checks `BillingMode`.
pub(super) fn check_billing_override(input: Input<'_>, c: &mut Constraints) -> Result<()> {
    let billing = input.str("BillingModeOverride")?;
    c.one_of(
        billing,
        "billingModeOverride",
        &["PROVISIONED", "PAY_PER_REQUEST"],
    );
    Ok(())
}

/// The definition of a restore's new table: `source` under the name `target`, with the
/// request's overrides, checked as CreateTable checks its request.
pub(super) fn restored_definition(
    ctx: &Context<'_>,
    source: &TableMeta,
    target: &str,
    input: Input<'_>,
) -> Result<TableMeta> {
    let request = restore_request(source, target, input);
    table_definition(ctx, Input::new(&request)?)
}

/// The CreateTable request a restore amounts to: the source table (as backed up) under its new
/// name, with the request's overrides (billing, throughput, indexes, encryption) in place of its,
/// and without what a restore does not bring back (tags, stream, TTL, deletion protection).
fn restore_request(t: &TableMeta, target: &str, input: Input<'_>) -> Value {
    let over = |name: &str| input.raw(name).cloned();
    let billing = over("BillingModeOverride").unwrap_or_else(|| json!(t.billing_mode.as_str()));
    let provisioned = billing == json!("PROVISIONED");
    let capacity =
        |th: &Throughput| json!({"ReadCapacityUnits": th.read, "WriteCapacityUnits": th.write});
    let index_json = |i: &crate::engine::catalog::IndexMeta, global: bool| {
        let mut v = json!({
            "IndexName": i.name,
            "KeySchema": key_schema(&i.key_schema),
            "Projection": projection(&i.projection),
        });
        if global && provisioned {
            v["ProvisionedThroughput"] = capacity(i.throughput.as_ref().unwrap_or(&t.throughput));
        }
        v
    };
    let lsis = over("LocalSecondaryIndexOverride").unwrap_or_else(|| {
        t.local_indexes
            .iter()
            .map(|i| index_json(i, false))
            .collect()
    });
    let gsis = over("GlobalSecondaryIndexOverride").unwrap_or_else(|| {
        t.global_indexes
            .iter()
            .map(|i| index_json(i, true))
            .collect()
    });
    // The backup's definitions of the attributes the table's and indexes' keys use.
    let mut used: Vec<String> = t.key_schema.attributes().map(|a| a.name.clone()).collect();
    for index in lsis.as_array().into_iter().chain(gsis.as_array()).flatten() {
        for key in index["KeySchema"].as_array().into_iter().flatten() {
            if let Some(name) = key["AttributeName"].as_str() {
                used.push(name.to_string());
            }
        }
    }
    let definitions: Vec<Value> = t
        .attribute_definitions
        .iter()
        .filter(|(name, _)| used.contains(name))
        .map(|(name, ty)| json!({"AttributeName": name, "AttributeType": ty}))
        .collect();
    let mut request = Map::new();
    request.insert("TableName".into(), json!(target));
    request.insert("KeySchema".into(), key_schema(&t.key_schema));
    request.insert("AttributeDefinitions".into(), definitions.into());
    request.insert("BillingMode".into(), billing);
    if provisioned {
        let table_capacity =
            over("ProvisionedThroughputOverride").unwrap_or_else(|| match t.billing_mode {
                BillingMode::Provisioned => capacity(&t.throughput),
                BillingMode::PayPerRequest => Value::Null,
            });
        if !table_capacity.is_null() {
            request.insert("ProvisionedThroughput".into(), table_capacity);
        }
    } else if let Some(on_demand) = over("OnDemandThroughputOverride") {
        request.insert("OnDemandThroughput".into(), on_demand);
    }
    if lsis.as_array().is_some_and(|l| !l.is_empty()) {
        request.insert("LocalSecondaryIndexes".into(), lsis);
    }
    if gsis.as_array().is_some_and(|g| !g.is_empty()) {
        request.insert("GlobalSecondaryIndexes".into(), gsis);
    }
    let sse = over("SSESpecificationOverride").or_else(|| {
        t.sse
            .as_ref()
            .map(|s| json!({"Enabled": true, "SSEType": s.sse_type, "KMSMasterKeyId": s.kms_key}))
    });
    if let Some(sse) = sse {
        request.insert("SSESpecification".into(), sse);
    }
    Value::Object(request)
}

/// A required `BackupArn`, of a backup in this region.
fn named_backup(ctx: &Context<'_>, input: Input<'_>) -> Result<Backup> {
    let mut c = Constraints::default();
    let arn = c.not_null(input.str("BackupArn")?, "backupArn");
    c.length(arn, "backupArn", 37, 1024);
    c.finish()?;
    let arn = present(arn)?;
    ctx.engine
        .backup(arn)?
        .filter(|b| b.listed() && b.table.region == ctx.region)
        .ok_or_else(|| backup_not_found(arn))
}

/// A timestamp member, as the SDKs send it (epoch seconds).
pub(super) fn time(input: Input<'_>, name: &str) -> Result<Option<f64>> {
    input
        .raw(name)
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| type_mismatch(v, JsonKind::Timestamp))
        })
        .transpose()
}

fn details(b: &Backup) -> Value {
    let mut v = json!({
        "BackupArn": b.arn,
        "BackupName": b.name,
        "BackupStatus": b.status.as_str(),
        "BackupType": "USER",
        "BackupCreationDateTime": b.created,
    });
    if b.status == BackupStatus::Available {
        v["BackupSizeBytes"] = json!(b.bytes);
    }
    v
}

fn summary(b: &Backup) -> Value {
    let mut v = details(b);
    v["TableName"] = json!(b.table.name);
    v["TableId"] = json!(b.table.uuid);
    v["TableArn"] = json!(b.table.arn());
    v
}

fn description(ctx: &Context<'_>, b: &Backup, status: Option<&str>) -> Value {
    let t: &TableMeta = &b.table;
    let mut details = details(b);
    if let Some(status) = status {
        details["BackupStatus"] = json!(status);
    }
    let mut source = json!({
        "TableName": t.name,
        "TableId": t.uuid,
        "TableArn": t.arn(),
        "TableSizeBytes": b.bytes,
        "KeySchema": key_schema(&t.key_schema),
        "TableCreationDateTime": t.created,
        "ProvisionedThroughput": {
            "ReadCapacityUnits": t.throughput.read,
            "WriteCapacityUnits": t.throughput.write,
        },
        "ItemCount": b.items,
        "BillingMode": t.billing_mode.as_str(),
    });
    if let Some(o) = &t.on_demand {
        source["OnDemandThroughput"] = json!({
            "MaxReadRequestUnits": o.max_read,
            "MaxWriteRequestUnits": o.max_write,
        });
    }
    let mut features = Map::new();
    if !t.local_indexes.is_empty() {
        let lsis: Vec<Value> = t
            .local_indexes
            .iter()
            .map(|i| json!({"IndexName": i.name, "KeySchema": key_schema(&i.key_schema), "Projection": projection(&i.projection)}))
            .collect();
        features.insert("LocalSecondaryIndexes".into(), lsis.into());
    }
    if !t.global_indexes.is_empty() {
        let gsis: Vec<Value> = t
            .global_indexes
            .iter()
            .map(|i| {
                json!({
                    "IndexName": i.name,
                    "KeySchema": key_schema(&i.key_schema),
                    "Projection": projection(&i.projection),
                    "ProvisionedThroughput": throughput(ctx, &i.throughput.clone().unwrap_or_default()),
                })
            })
            .collect();
        features.insert("GlobalSecondaryIndexes".into(), gsis.into());
    }
    if let Some(s) = t.active_stream() {
        features.insert(
            "StreamDescription".into(),
            json!({"StreamEnabled": true, "StreamViewType": s.view_type}),
        );
    }
    if let Some(ttl) = &t.ttl {
        features.insert(
            "TimeToLiveDescription".into(),
            json!({"TimeToLiveStatus": "ENABLED", "AttributeName": ttl.attribute}),
        );
    }
    if let Some(sse) = &t.sse {
        features.insert(
            "SSEDescription".into(),
            json!({"Status": "ENABLED", "SSEType": sse.sse_type}),
        );
    }
    json!({
        "BackupDetails": details,
        "SourceTableDetails": source,
        "SourceTableFeatureDetails": features,
    })
}
