//! The `TableDescription` structure, as DescribeTable and the other table operations return it.

use serde_json::{json, Map, Value};

use super::Context;
use crate::engine::catalog::{BillingMode, IndexMeta, Projection, TableMeta, Throughput};
use crate::error::Result;
use crate::model::schema::KeySchema;

pub fn key_schema(k: &KeySchema) -> Value {
    let hash = k.hash.iter().map(|a| (a, "HASH"));
    let range = k.range.iter().map(|a| (a, "RANGE"));
    hash.chain(range)
        .map(|(a, kind)| json!({"AttributeName": a.name, "KeyType": kind}))
        .collect()
}

pub fn projection(p: &Projection) -> Value {
    let mut v = json!({"ProjectionType": p.kind});
    if !p.non_key_attributes.is_empty() {
        v["NonKeyAttributes"] = json!(p.non_key_attributes);
    }
    v
}

pub fn throughput(ctx: &Context<'_>, t: &Throughput) -> Value {
    let mut v = json!({
        "NumberOfDecreasesToday": t.decreases_on_day_of(ctx.engine.clock.epoch_seconds()),
        "ReadCapacityUnits": t.read,
        "WriteCapacityUnits": t.write,
    });
    if let Some(at) = t.last_increase {
        v["LastIncreaseDateTime"] = json!(at);
    }
    if let Some(at) = t.last_decrease {
        v["LastDecreaseDateTime"] = json!(at);
    }
    v
}

/// One index's description; `described` adds what only DescribeTable and UpdateTable report.
fn index(
    ctx: &Context<'_>,
    table: &TableMeta,
    i: &IndexMeta,
    global: bool,
    described: bool,
) -> Result<Value> {
    let usage = ctx.engine.usage(i.id)?;
    let mut v = json!({
        "IndexName": i.name,
        "KeySchema": key_schema(&i.key_schema),
        "Projection": projection(&i.projection),
        "IndexSizeBytes": usage.bytes,
        "ItemCount": usage.items,
        "IndexArn": format!("{}/index/{}", table.arn(), i.name),
    });
    if global {
        if i.backfilling {
            v["IndexStatus"] = json!("CREATING");
            v["Backfilling"] = json!(true);
        } else {
            v["IndexStatus"] = json!("ACTIVE");
        }
        v["ProvisionedThroughput"] = throughput(ctx, &i.throughput.clone().unwrap_or_default());
        if let Some(o) = &i.on_demand {
            v["OnDemandThroughput"] = on_demand(o);
        }
        if described {
            v["WarmThroughput"] = warm_throughput(table.billing_mode, i.throughput.as_ref());
        }
    }
    Ok(v)
}

/// What a table or GSI is ready to serve at once: an on-demand table's initial 12,000 reads and
/// 4,000 writes a second, or a provisioned one's capacity, as DescribeTable reports it.
fn warm_throughput(mode: BillingMode, provisioned: Option<&Throughput>) -> Value {
    let (read, write) = match (mode, provisioned) {
        (BillingMode::Provisioned, Some(t)) => (t.read, t.write),
        _ => (12_000, 4_000),
    };
    json!({"ReadUnitsPerSecond": read, "WriteUnitsPerSecond": write, "Status": "ACTIVE"})
}

fn on_demand(o: &crate::engine::catalog::OnDemandThroughput) -> Value {
    let mut v = Map::new();
    if let Some(r) = o.max_read {
        v.insert("MaxReadRequestUnits".into(), json!(r));
    }
    if let Some(w) = o.max_write {
        v.insert("MaxWriteRequestUnits".into(), json!(w));
    }
    Value::Object(v)
}

/// The `TableDescription` of a table in `status`, with the members DynamoDB gives in it:
/// CreateTable's (`CREATING`) omit what the table has not had time to acquire, DeleteTable's
/// (`DELETING`) are a short summary, DescribeTable's and UpdateTable's are complete.
pub fn table_description(ctx: &Context<'_>, t: &TableMeta, status: &str) -> Result<Value> {
    let usage = ctx.engine.usage(t.id)?;
    let mut d = json!({
        "TableName": t.name,
        "TableStatus": status,
        "ProvisionedThroughput": throughput(ctx, &t.throughput),
        "TableSizeBytes": usage.bytes,
        "ItemCount": usage.items,
        "TableArn": t.arn(),
        "TableId": t.uuid,
        "DeletionProtectionEnabled": t.deletion_protection,
    });
    if status == "DELETING" {
        if t.billing_mode == BillingMode::PayPerRequest {
            d["BillingModeSummary"] = json!({"BillingMode": t.billing_mode.as_str()});
        }
        return Ok(d);
    }
    let described = status != "CREATING";
    d["AttributeDefinitions"] = t
        .attribute_definitions
        .iter()
        .map(|(n, ty)| json!({"AttributeName": n, "AttributeType": ty}))
        .collect();
    d["KeySchema"] = key_schema(&t.key_schema);
    d["CreationDateTime"] = json!(t.created);
    if t.billing_mode_given || t.billing_mode == BillingMode::PayPerRequest {
        let mut summary = json!({"BillingMode": t.billing_mode.as_str()});
        if let Some(at) = t.last_update_to_pay_per_request.filter(|_| described) {
            summary["LastUpdateToPayPerRequestDateTime"] = json!(at);
        }
        d["BillingModeSummary"] = summary;
    }
    if described {
        d["WarmThroughput"] = warm_throughput(t.billing_mode, Some(&t.throughput));
    }
    if !t.local_indexes.is_empty() {
        d["LocalSecondaryIndexes"] = t
            .local_indexes
            .iter()
            .map(|i| index(ctx, t, i, false, described))
            .collect::<Result<Vec<_>>>()?
            .into();
    }
    if !t.global_indexes.is_empty() {
        d["GlobalSecondaryIndexes"] = t
            .global_indexes
            .iter()
            .map(|i| index(ctx, t, i, true, described))
            .collect::<Result<Vec<_>>>()?
            .into();
    }
    if let Some(s) = &t.stream {
        d["StreamSpecification"] = if s.enabled {
            json!({"StreamEnabled": true, "StreamViewType": s.view_type})
        } else {
            json!({"StreamEnabled": false})
        };
        if let Some(label) = &s.label {
            d["LatestStreamLabel"] = json!(label);
            d["LatestStreamArn"] = json!(t.stream_arn(label));
        }
    }
    if let Some(sse) = &t.sse {
        let key = sse.kms_key.clone().unwrap_or_else(|| "aws/dynamodb".into());
        let arn = if key.starts_with("arn:") {
            key
        } else {
            format!("arn:aws:kms:{}:{}:key/{key}", t.region, t.account)
        };
        d["SSEDescription"] =
            json!({"Status": "ENABLED", "SSEType": sse.sse_type, "KMSMasterKeyArn": arn});
    }
    if let Some(class) = &t.table_class {
        d["TableClassSummary"] = json!({"TableClass": class});
    }
    if let Some(r) = &t.restore {
        d["RestoreSummary"] = json!({
            "SourceTableArn": r.source_table_arn,
            "RestoreDateTime": r.date,
            "RestoreInProgress": r.in_progress,
        });
        // A point-in-time restore's snapshot is no backup of the user's.
        if !r.point_in_time {
            d["RestoreSummary"]["SourceBackupArn"] = json!(r.backup_arn);
        }
    }
    if let Some(o) = &t.on_demand {
        d["OnDemandThroughput"] = on_demand(o);
    }
    Ok(d)
}

/// `2026-11-28T06:59:01.123`: DynamoDB's stream label format (UTC, milliseconds).
pub fn iso8601_millis(epoch_seconds: f64) -> String {
    let millis = (epoch_seconds * 1000.0).round() as i64;
    let (secs, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_millis(0.0), "1970-01-01T00:00:00.000");
        assert_eq!(iso8601_millis(1_795_849_141.5), "2026-11-28T06:59:01.500");
        assert_eq!(iso8601_millis(951_782_400.0), "2000-02-29T00:00:00.000");
    }
}
