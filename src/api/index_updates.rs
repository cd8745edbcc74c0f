//! UpdateTable's `GlobalSecondaryIndexUpdates`: creating a GSI on a live table (backfilled by
//! the engine), changing its throughput, deleting it.

use super::input::{present, Constraints, Input};
use super::table_input::{
    check_projected_attribute_total, invalid, read_index, read_on_demand, read_throughput,
    resolve_index, RawIndex, RawThroughput, MAX_GSIS,
};
use crate::engine::catalog::{BillingMode, OnDemandThroughput, TableMeta};
use crate::error::{Error, Result};

const UPDATE: &str = "com.amazonaws.dynamodb.v20120810.GlobalSecondaryIndexUpdate";

pub(super) enum IndexUpdate<'a> {
    Create(RawIndex<'a>),
    Update {
        name: Option<&'a str>,
        throughput: Option<RawThroughput>,
        on_demand: Option<OnDemandThroughput>,
    },
    Delete(Option<&'a str>),
}

pub(super) fn read_index_updates<'a>(
    input: Input<'a>,
    c: &mut Constraints,
) -> Result<Option<Vec<IndexUpdate<'a>>>> {
    let Some(list) = input.list("GlobalSecondaryIndexUpdates")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let e = Input::element(e, UPDATE)?;
        let at = format!("globalSecondaryIndexUpdates.{}.member.", i + 1);
        let class = |action: &str| -> &'static str {
            match action {
                "Create" => "com.amazonaws.dynamodb.v20120810.CreateGlobalSecondaryIndexAction",
                "Update" => "com.amazonaws.dynamodb.v20120810.UpdateGlobalSecondaryIndexAction",
                _ => "com.amazonaws.dynamodb.v20120810.DeleteGlobalSecondaryIndexAction",
            }
        };
        let actions = [
            ("Create", e.structure("Create", class("Create"))?),
            ("Update", e.structure("Update", class("Update"))?),
            ("Delete", e.structure("Delete", class("Delete"))?),
        ];
        let given: Vec<_> = actions
            .into_iter()
            .filter_map(|(n, a)| a.map(|a| (n, a)))
            .collect();
        let [(action, a)] = given.as_slice() else {
            return Err(Error::validation(
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update, or GlobalSecondaryIndexUpdate.Delete must be specified",
            ));
        };
        let at = format!("{at}{}.", action.to_lowercase());
        out.push(match *action {
            "Create" => IndexUpdate::Create(read_index(*a, &at, true, c)?),
            "Update" => {
                let name = c.not_null(a.str("IndexName")?, &format!("{at}indexName"));
                c.name(name, &format!("{at}indexName"));
                IndexUpdate::Update {
                    name,
                    throughput: read_throughput(*a, &at, c)?,
                    on_demand: read_on_demand(*a)?,
                }
            }
            _ => {
                let name = c.not_null(a.str("IndexName")?, &format!("{at}indexName"));
                c.name(name, &format!("{at}indexName"));
                IndexUpdate::Delete(name)
            }
        });
    }
    Ok(Some(out))
}

fn not_found(table: &str, index: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Table: {table}, Index: {index} not found"
    ))
}

/// Applies the updates to a table definition. `defs` are the request's
/// `AttributeDefinitions`, which new index keys may use.
pub(super) fn apply_index_updates(
    meta: &mut TableMeta,
    updates: &[IndexUpdate<'_>],
    defs: &[(String, String)],
) -> Result<()> {
    let online = updates
        .iter()
        .filter(|u| !matches!(u, IndexUpdate::Update { .. }))
        .count();
    let busy = meta.global_indexes.iter().any(|i| i.backfilling);
    if online > 1 || (online == 1 && busy) {
        return Err(Error::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
        ));
    }
    // New definitions join the table's; a redefinition must not change a type.
    let mut all_defs = meta.attribute_definitions.clone();
    for (name, ty) in defs {
        match all_defs.iter().find(|(n, _)| n == name) {
            Some((_, old)) if old != ty => {
                return Err(invalid(format_args!(
                    "Cannot change the type of attribute {name} from {old} to {ty}"
                )))
            }
            Some(_) => {}
            None => all_defs.push((name.clone(), ty.clone())),
        }
    }
    for update in updates {
        match update {
            IndexUpdate::Create(raw) => {
                let index =
                    resolve_index(raw, &all_defs, &meta.key_schema, meta.billing_mode, false)?;
                if meta.index(&index.name).is_some() {
                    return Err(invalid(format_args!(
                        "Attempting to create an index which already exists: {}",
                        index.name
                    )));
                }
                meta.global_indexes.push(index);
                if meta.global_indexes.len() > MAX_GSIS {
                    return Err(invalid(format_args!(
                        "GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GSIS}"
                    )));
                }
            }
            IndexUpdate::Update {
                name,
                throughput,
                on_demand,
            } => {
                let name = present(*name)?;
                let mode = meta.billing_mode;
                let index = meta
                    .global_indexes
                    .iter_mut()
                    .find(|i| i.name == name)
                    .ok_or_else(|| not_found(&meta.name, name))?;
                match (mode, throughput) {
                    (BillingMode::PayPerRequest, Some(_)) => {
                        return Err(invalid(
                            "ProvisionedThroughput cannot be specified when BillingMode is PAY_PER_REQUEST",
                        ))
                    }
                    (_, Some(t)) => index.throughput = Some(t.resolve()?),
                    _ => {}
                }
                if let Some(o) = on_demand {
                    index.on_demand = Some(o.clone());
                }
                // New capacity starts with a full burst, as a new index does.
                index.buckets = Default::default();
            }
            IndexUpdate::Delete(name) => {
                let name = present(*name)?;
                let at = meta
                    .global_indexes
                    .iter()
                    .position(|i| i.name == name)
                    .ok_or_else(|| not_found(&meta.name, name))?;
                meta.global_indexes.remove(at);
            }
        }
    }
    check_projected_attribute_total(meta.indexes())?;
    // The table keeps exactly the definitions its keys and indexes use.
    let used = |name: &str| {
        meta.key_schema.is_key_attribute(name)
            || meta.indexes().any(|i| i.key_schema.is_key_attribute(name))
    };
    meta.attribute_definitions = all_defs.into_iter().filter(|(n, _)| used(n)).collect();
    Ok(())
}
