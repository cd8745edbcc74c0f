//! Point-in-time recovery: UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime.

use serde_json::{json, Value};

use super::backups::{check_billing_override, restored_definition, time, CONCURRENT_RESTORES};
use super::describe::table_description;
use super::input::{present, Constraints, Input};
use super::{to_body, Context, TableRef};
use crate::engine::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::model::wire::JsonKind;

pub fn update_continuous_backups(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let spec = c.not_null(
        input.structure(
            "PointInTimeRecoverySpecification",
            "com.amazonaws.dynamodb.v20120810.PointInTimeRecoverySpecification",
        )?,
        "pointInTimeRecoverySpecification",
    );
    let (mut enabled, mut period) = (None, None);
    if let Some(spec) = spec {
        enabled = c.not_null(
            spec.bool("PointInTimeRecoveryEnabled")?,
            "pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled",
        );
        period = spec.int("RecoveryPeriodInDays", JsonKind::Integer)?;
        let path = "pointInTimeRecoverySpecification.recoveryPeriodInDays";
        c.at_least(period, path, 1);
        c.at_most(period, path, 35);
    }
    c.finish()?;
    let (t, enabled) = (present(table)?, present(enabled)?);
    if period.is_some() && !enabled {
        return Err(Error::validation(
            "RecoveryPeriodInDays can only be set when PointInTimeRecoveryEnabled is true",
        ));
    }
    let meta = ctx
        .engine
        .set_pitr(t.region, t.name, enabled, period.map(|p| p as u32))?;
    to_body(&json!({ "ContinuousBackupsDescription": description(ctx, &meta) }))
}

pub fn describe_continuous_backups(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    c.finish()?;
    let meta = source_table(ctx, &present(table)?)?;
    to_body(&json!({ "ContinuousBackupsDescription": description(ctx, &meta) }))
}

pub fn restore_table_to_point_in_time(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let target = c.not_null(input.str("TargetTableName")?, "targetTableName");
    c.name(target, "targetTableName");
    let source_name = input.str("SourceTableName")?;
    c.name(source_name, "sourceTableName");
    let source_arn = input.str("SourceTableArn")?;
    c.length(source_arn, "sourceTableArn", 1, 1024);
    check_billing_override(input, &mut c)?;
    let latest = input.bool("UseLatestRestorableTime")?.unwrap_or(false);
    let at = time(input, "RestoreDateTime")?;
    c.finish()?;
    let target = present(target)?;
    let source = match (source_name, source_arn) {
        (Some(name), None) => ctx.resolve_table(name),
        (None, Some(arn)) => ctx.resolve_table(arn),
        (None, None) => {
            return Err(Error::validation(
                "Either SourceTableArn or SourceTableName must be provided",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Error::validation(
                "Only one of SourceTableArn or SourceTableName can be provided",
            ))
        }
    };
    let at = match (at, latest) {
        (Some(_), true) => {
            return Err(Error::validation(
                "Only one of RestoreDateTime or UseLatestRestorableTime can be provided",
            ))
        }
        (None, false) => {
            return Err(Error::validation(
                "Either RestoreDateTime or UseLatestRestorableTime must be provided",
            ))
        }
        (at, _) => at,
    };
    let meta = source_table(ctx, &source)?;
    let (earliest, now) = ctx.engine.restorable_window(&meta).ok_or_else(|| {
        Error::PointInTimeRecoveryUnavailable(format!(
            "Point in time recovery is not enabled for table '{}'",
            meta.name
        ))
    })?;
    let at = at.unwrap_or(now);
    if at < earliest || at > now {
        return Err(Error::InvalidRestoreTime(
            "RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime"
                .into(),
        ));
    }
    let definition = restored_definition(ctx, &meta, target, input)?;
    let table = ctx
        .engine
        .restore_to_point_in_time(&meta, at, definition, CONCURRENT_RESTORES)?;
    to_body(&json!({ "TableDescription": table_description(ctx, &table, "CREATING")? }))
}

/// A table named as a restore's or backup operation's source: its not-found error is
/// `TableNotFoundException`.
fn source_table(ctx: &Context<'_>, t: &TableRef<'_>) -> Result<std::sync::Arc<TableMeta>> {
    ctx.engine
        .table(t.region, t.name)
        .ok_or_else(|| Error::TableNotFound(format!("Table not found: {}", t.name)))
}

fn description(ctx: &Context<'_>, table: &TableMeta) -> Value {
    let pitr = match (ctx.engine.restorable_window(table), &table.pitr) {
        (Some((earliest, latest)), Some(spec)) => json!({
            "PointInTimeRecoveryStatus": "ENABLED",
            "RecoveryPeriodInDays": spec.period_days,
            "EarliestRestorableDateTime": earliest,
            "LatestRestorableDateTime": latest,
        }),
        _ => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
    };
    json!({
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": pitr,
    })
}
