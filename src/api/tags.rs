//! TagResource, UntagResource, ListTagsOfResource.

use serde_json::json;

use super::input::{present, Constraints, Input};
use super::table_input::{read_tags, MAX_TAGS};
use super::{empty_body, parse_table_arn, to_body, Context};
use crate::error::{Error, Result};

/// Reads `ResourceArn` and checks that it names an existing table; returns (region, name).
fn resource<'i>(ctx: &Context<'_>, arn: &'i str) -> Result<(&'i str, &'i str)> {
    if !arn.starts_with("arn:") {
        return Err(Error::validation(format!(
            "Invalid TableArn: ARNs must start with 'arn:': {arn}"
        )));
    }
    let (region, name) = parse_table_arn(arn).ok_or_else(|| {
        Error::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        ))
    })?;
    if ctx.engine.table(region, name).is_none() {
        return Err(Error::ResourceNotFound(format!(
            "Requested resource not found: ResourcArn: {arn} not found"
        )));
    }
    Ok((region, name))
}

fn read_arn<'i>(input: Input<'i>, c: &mut Constraints) -> Result<Option<&'i str>> {
    let arn = c.not_null(input.str("ResourceArn")?, "resourceArn");
    c.length(arn, "resourceArn", 1, 1283);
    Ok(arn)
}

pub fn tag_resource(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = read_arn(input, &mut c)?;
    let tags = c.not_null(input.list("Tags")?, "tags");
    c.finish()?;
    let (arn, tags) = (present(arn)?, present(tags)?);
    let tags = read_tags(tags)?;
    if tags.is_empty() {
        return Err(Error::validation(
            "Atleast one Tag needs to be provided as Input.",
        ));
    }
    let (region, name) = resource(ctx, arn)?;
    ctx.engine.update_table(region, name, |meta| {
        meta.tags.extend(tags);
        if meta.tags.len() > MAX_TAGS {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: The number of tags exceeds the limit of {MAX_TAGS}"
            )));
        }
        Ok(())
    })?;
    Ok(empty_body())
}

pub fn untag_resource(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = read_arn(input, &mut c)?;
    let keys = c.not_null(input.strings("TagKeys")?, "tagKeys");
    c.finish()?;
    let (arn, keys) = (present(arn)?, present(keys)?);
    if keys.is_empty() {
        return Err(Error::validation(
            "Atleast one Tag Key needs to be provided as Input.",
        ));
    }
    let (region, name) = resource(ctx, arn)?;
    ctx.engine.update_table(region, name, |meta| {
        for k in keys {
            meta.tags.remove(k);
        }
        Ok(())
    })?;
    Ok(empty_body())
}

pub fn list_tags_of_resource(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = read_arn(input, &mut c)?;
    input.str("NextToken")?;
    c.finish()?;
    let (region, name) = resource(ctx, present(arn)?)?;
    let meta = ctx
        .engine
        .table(region, name)
        .ok_or_else(|| Error::ResourceNotFound("Requested resource not found".into()))?;
    let tags: Vec<_> = meta
        .tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    to_body(&json!({ "Tags": tags }))
}
