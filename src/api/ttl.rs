//! UpdateTimeToLive and DescribeTimeToLive.

use serde_json::json;

use super::input::{present, Constraints, Input};
use super::{to_body, Context};
use crate::engine::catalog::TtlSpec;
use crate::error::{Error, Result};

pub fn update_time_to_live(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    let spec = c.not_null(
        input.structure(
            "TimeToLiveSpecification",
            "com.amazonaws.dynamodb.v20120810.TimeToLiveSpecification",
        )?,
        "timeToLiveSpecification",
    );
    let (mut enabled, mut attribute) = (None, None);
    if let Some(spec) = spec {
        enabled = c.not_null(spec.bool("Enabled")?, "timeToLiveSpecification.enabled");
        attribute = c.not_null(
            spec.str("AttributeName")?,
            "timeToLiveSpecification.attributeName",
        );
        c.length(attribute, "timeToLiveSpecification.attributeName", 1, 255);
    }
    c.finish()?;
    let (t, enabled, attribute) = (present(table)?, present(enabled)?, present(attribute)?);
    ctx.engine.update_table(t.region, t.name, |meta| {
        match (&meta.ttl, enabled) {
            (Some(_), true) => Err(Error::validation("TimeToLive is already enabled")),
            (None, false) => Err(Error::validation("TimeToLive is already disabled")),
            (Some(current), false) if current.attribute != attribute => {
                Err(Error::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {}",
                    current.attribute
                )))
            }
            (_, true) => {
                meta.ttl = Some(TtlSpec {
                    attribute: attribute.to_string(),
                    backfilling: true,
                });
                Ok(())
            }
            (_, false) => {
                meta.ttl = None;
                Ok(())
            }
        }
    })?;
    to_body(&json!({
        "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}
    }))
}

pub fn describe_time_to_live(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let meta = ctx.named_table(input)?;
    let description = match &meta.ttl {
        Some(ttl) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": ttl.attribute}),
        None => json!({"TimeToLiveStatus": "DISABLED"}),
    };
    to_body(&json!({ "TimeToLiveDescription": description }))
}
