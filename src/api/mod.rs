//! The DynamoDB API: one table from operation name to handler, and one module per operation
//! family. Handlers read the request with `input`, call the engine, and return the response
//! body.

pub mod access;
mod backups;
mod batch;
mod describe;
mod expressions;
mod index_updates;
pub mod input;
mod items;
mod legacy;
mod limits;
mod partiql;
mod pitr;
mod read;
mod streams;
mod table_input;
mod tables;
mod tags;
mod transact;
mod transfer;
mod ttl;

use serde::Serialize;

use crate::engine::catalog::TableMeta;
use crate::engine::Engine;
use crate::error::{Error, Result};
use input::{Constraints, Input};
use std::sync::Arc;

/// Who is asking, and where: the region comes from the request's credential scope.
pub struct Context<'a> {
    pub engine: &'a Arc<Engine>,
    pub region: &'a str,
    pub account: &'a str,
    /// The `Host` the client used to reach this server.
    pub host: &'a str,
}

pub type Handler = fn(&Context<'_>, Input<'_>) -> Result<Vec<u8>>;

/// Every operation served, by its `X-Amz-Target` name. Anything else is an
/// UnknownOperationException: an operation answers for real or not at all.
const DYNAMODB_OPERATIONS: &[(&str, Handler)] = &[
    ("CreateTable", tables::create_table),
    ("DescribeTable", tables::describe_table),
    ("ListTables", tables::list_tables),
    ("UpdateTable", tables::update_table),
    ("DeleteTable", tables::delete_table),
    ("PutItem", items::put_item),
    ("GetItem", items::get_item),
    ("DeleteItem", items::delete_item),
    ("UpdateItem", items::update_item),
    ("BatchGetItem", batch::batch_get_item),
    ("BatchWriteItem", batch::batch_write_item),
    ("TransactWriteItems", transact::transact_write_items),
    ("TransactGetItems", transact::transact_get_items),
    ("ExecuteStatement", partiql::execute_statement),
    ("BatchExecuteStatement", partiql::batch_execute_statement),
    ("ExecuteTransaction", partiql::execute_transaction),
    ("Query", read::query),
    ("Scan", read::scan),
    ("UpdateTimeToLive", ttl::update_time_to_live),
    ("DescribeTimeToLive", ttl::describe_time_to_live),
    ("TagResource", tags::tag_resource),
    ("UntagResource", tags::untag_resource),
    ("ListTagsOfResource", tags::list_tags_of_resource),
    ("DescribeLimits", limits::describe_limits),
    ("DescribeEndpoints", limits::describe_endpoints),
    ("CreateBackup", backups::create_backup),
    ("DescribeBackup", backups::describe_backup),
    ("ListBackups", backups::list_backups),
    ("DeleteBackup", backups::delete_backup),
    ("RestoreTableFromBackup", backups::restore_table_from_backup),
    ("UpdateContinuousBackups", pitr::update_continuous_backups),
    (
        "DescribeContinuousBackups",
        pitr::describe_continuous_backups,
    ),
    (
        "RestoreTableToPointInTime",
        pitr::restore_table_to_point_in_time,
    ),
    (
        "ExportTableToPointInTime",
        transfer::export_table_to_point_in_time,
    ),
    ("DescribeExport", transfer::describe_export),
    ("ListExports", transfer::list_exports),
    ("ImportTable", transfer::import_table),
    ("DescribeImport", transfer::describe_import),
    ("ListImports", transfer::list_imports),
];

/// The DynamoDB Streams API, served on the same endpoint.
const STREAMS_OPERATIONS: &[(&str, Handler)] = &[
    ("ListStreams", streams::list_streams),
    ("DescribeStream", streams::describe_stream),
    ("GetShardIterator", streams::get_shard_iterator),
    ("GetRecords", streams::get_records),
];

/// How many operations there are: an operation's metrics are kept at its place among them.
pub const OPERATION_COUNT: usize = DYNAMODB_OPERATIONS.len() + STREAMS_OPERATIONS.len();

/// Every operation's name, at its place.
pub fn operation_names() -> Vec<&'static str> {
    DYNAMODB_OPERATIONS
        .iter()
        .chain(STREAMS_OPERATIONS)
        .map(|(n, _)| *n)
        .collect()
}

/// The place of a DynamoDB operation.
pub fn operation_index(name: &str) -> Option<usize> {
    DYNAMODB_OPERATIONS.iter().position(|(n, _)| *n == name)
}

/// Finds the handler for an `X-Amz-Target` header value, and the operation's place.
pub fn operation(target: &str) -> Option<(usize, Handler)> {
    let (service, name) = target.split_once('.')?;
    let (table, first) = match service {
        "DynamoDB_20120810" => (DYNAMODB_OPERATIONS, 0),
        "DynamoDBStreams_20120810" => (STREAMS_OPERATIONS, DYNAMODB_OPERATIONS.len()),
        _ => return None,
    };
    let i = table.iter().position(|(n, _)| *n == name)?;
    Some((first + i, table[i].1))
}

pub fn to_body(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("response encoding: {e}")))
}

pub fn empty_body() -> Vec<u8> {
    b"{}".to_vec()
}

/// A table named by name or ARN, in the request's region (or the ARN's).
pub struct TableRef<'a> {
    pub region: &'a str,
    pub name: &'a str,
}

impl<'a> Context<'a> {
    /// Reads a required `TableName` member (a name or a table ARN).
    pub fn table_ref<'i>(
        &self,
        input: Input<'i>,
        c: &mut Constraints,
    ) -> Result<Option<TableRef<'i>>>
    where
        'a: 'i,
    {
        let name = c.not_null(input.str("TableName")?, "tableName");
        // A table's ARN may stand for its name; a name is held to the name's pattern and length
        // before the table is looked up, as DynamoDB holds it.
        match name {
            Some(arn) if arn.starts_with("arn:") => c.length(name, "tableName", 1, 1024),
            _ => c.name(name, "tableName"),
        }
        Ok(name.map(|n| self.resolve_table(n)))
    }

    pub fn resolve_table<'i>(&self, name: &'i str) -> TableRef<'i>
    where
        'a: 'i,
    {
        match parse_table_arn(name) {
            Some((region, table)) => TableRef {
                region,
                name: table,
            },
            None => TableRef {
                region: self.region,
                name,
            },
        }
    }

    /// The table named by a request's only required member, `TableName`, for a table-level
    /// operation (whose not-found message names the table).
    pub fn named_table(&self, input: Input<'_>) -> Result<Arc<TableMeta>> {
        let mut c = Constraints::default();
        let table = self.table_ref(input, &mut c)?;
        c.finish()?;
        let t = input::present(table)?;
        self.engine
            .table(t.region, t.name)
            .ok_or_else(|| crate::engine::table_not_found(t.name))
    }

    /// The table for an item operation; DynamoDB's message there names no table.
    pub fn item_table(&self, t: &TableRef<'_>) -> Result<Arc<TableMeta>> {
        self.engine
            .table(t.region, t.name)
            // A table being restored has no items to serve yet.
            .filter(|t| !t.filling())
            .ok_or_else(|| Error::ResourceNotFound("Requested resource not found".into()))
    }
}

/// `arn:aws:dynamodb:<region>:<account>:table/<name>` → (region, name).
pub fn parse_table_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let _partition = parts.next()?;
    if parts.next()? != "dynamodb" {
        return None;
    }
    let region = parts.next()?;
    let _account = parts.next()?;
    let name = parts.next()?.strip_prefix("table/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((region, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_to_handlers() {
        assert!(operation("DynamoDB_20120810.GetItem").is_some());
        assert!(operation("DynamoDB_20120810.Nope").is_none());
        assert!(operation("DynamoDB_20111205.GetItem").is_none());
        assert!(operation("GetItem").is_none());
    }

    #[test]
    fn table_arns_parse() {
        assert_eq!(
            parse_table_arn("arn:aws:dynamodb:eu-west-1:123456789012:table/Music"),
            Some(("eu-west-1", "Music"))
        );
        assert_eq!(
            parse_table_arn("arn:aws:dynamodb:eu-west-1:1:table/M/index/x"),
            None
        );
        assert_eq!(parse_table_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(parse_table_arn("Music"), None);
    }
}
