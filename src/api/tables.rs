//! CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::describe::table_description;
use super::input::{present, Constraints, Input};
use super::{to_body, Context};
use crate::engine::catalog::{
    BillingMode, IndexMeta, OnDemandThroughput, Projection, SseSpec, StreamSpec, TableMeta,
    Throughput,
};
use crate::engine::table_not_found;
use crate::error::{Error, Result};
use crate::model::schema::{KeyAttribute, KeySchema};
use crate::model::wire::JsonKind;
use crate::model::ScalarType;

const MAX_LSIS: usize = 5;
const MAX_GSIS: usize = 20;
const MAX_PROJECTED_ATTRIBUTES: usize = 100;
const MAX_THROUGHPUT: i64 = 1_000_000_000_000;
pub const MAX_TAGS: usize = 50;

const KSE: &str = "com.amazonaws.dynamodb.v20120810.KeySchemaElement";
const ATTR_DEF: &str = "com.amazonaws.dynamodb.v20120810.AttributeDefinition";
const THROUGHPUT: &str = "com.amazonaws.dynamodb.v20120810.ProvisionedThroughput";
const PROJECTION: &str = "com.amazonaws.dynamodb.v20120810.Projection";
const LSI: &str = "com.amazonaws.dynamodb.v20120810.LocalSecondaryIndex";
const GSI: &str = "com.amazonaws.dynamodb.v20120810.GlobalSecondaryIndex";
const STREAM_SPEC: &str = "com.amazonaws.dynamodb.v20120810.StreamSpecification";
const SSE_SPEC: &str = "com.amazonaws.dynamodb.v20120810.SSESpecification";
const ON_DEMAND: &str = "com.amazonaws.dynamodb.v20120810.OnDemandThroughput";
pub const TAG: &str = "com.amazonaws.dynamodb.v20120810.Tag";

const STREAM_VIEW_TYPES: &[&str] = &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];
const TABLE_CLASSES: &[&str] = &["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// A key schema as written in the request, before it is checked against definitions.
struct RawKeySchema<'a> {
    elements: Vec<(Option<&'a str>, Option<&'a str>)>,
}

fn read_key_schema<'a>(
    input: Input<'a>,
    path: &str,
    c: &mut Constraints,
) -> Result<Option<RawKeySchema<'a>>> {
    let Some(list) = c.not_null(input.list("KeySchema")?, &format!("{path}keySchema")) else {
        return Ok(None);
    };
    c.count(
        Some(list.len()),
        &format!("{list:?}"),
        &format!("{path}keySchema"),
        1,
        2,
    );
    let mut elements = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let e = Input::element(e, KSE)?;
        let at = format!("{path}keySchema.{}.member", i + 1);
        let name = c.not_null(e.str("AttributeName")?, &format!("{at}.attributeName"));
        c.length(name, &format!("{at}.attributeName"), 1, 255);
        let kind = c.not_null(e.str("KeyType")?, &format!("{at}.keyType"));
        c.one_of(kind, &format!("{at}.keyType"), &["HASH", "RANGE"]);
        elements.push((name, kind));
    }
    Ok(Some(RawKeySchema { elements }))
}

impl RawKeySchema<'_> {
    fn names(&self) -> Vec<&str> {
        self.elements.iter().filter_map(|(n, _)| *n).collect()
    }

    /// DynamoDB's semantic checks, in its order, then the typed schema.
    fn resolve(&self, defs: &[(String, String)]) -> Result<KeySchema> {
        let names = self.names();
        let def_names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
        if names.iter().any(|n| !def_names.contains(n)) {
            return Err(invalid(format_args!(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                names.join(", "),
                def_names.join(", ")
            )));
        }
        if names.len() == 2 && names[0] == names[1] {
            return Err(Error::validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
        if self.elements[0].1 != Some("HASH") {
            return Err(Error::validation(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            ));
        }
        if self.elements.len() == 2 && self.elements[1].1 != Some("RANGE") {
            return Err(Error::validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ));
        }
        let attr = |name: &str| -> KeyAttribute {
            let ty = defs
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, t)| ScalarType::parse(t))
                .unwrap_or(ScalarType::S);
            KeyAttribute {
                name: name.to_string(),
                ty,
            }
        };
        Ok(KeySchema {
            hash: attr(names[0]),
            range: names.get(1).map(|n| attr(n)),
        })
    }
}

struct RawThroughput {
    read: Option<i64>,
    write: Option<i64>,
}

fn read_throughput(
    input: Input<'_>,
    path: &str,
    c: &mut Constraints,
) -> Result<Option<RawThroughput>> {
    let Some(t) = input.structure("ProvisionedThroughput", THROUGHPUT)? else {
        return Ok(None);
    };
    let read = t.int("ReadCapacityUnits", JsonKind::Long)?;
    let write = t.int("WriteCapacityUnits", JsonKind::Long)?;
    let at = format!("{path}provisionedThroughput");
    c.not_null(read, &format!("{at}.readCapacityUnits"));
    c.at_least(read, &format!("{at}.readCapacityUnits"), 1);
    c.not_null(write, &format!("{at}.writeCapacityUnits"));
    c.at_least(write, &format!("{at}.writeCapacityUnits"), 1);
    Ok(Some(RawThroughput { read, write }))
}

impl RawThroughput {
    fn resolve(&self) -> Result<Throughput> {
        let (read, write) = (self.read.unwrap_or(0), self.write.unwrap_or(0));
        for (value, what) in [(read, "ReadCapacityUnits"), (write, "WriteCapacityUnits")] {
            if value > MAX_THROUGHPUT {
                return Err(Error::validation(format!(
                    "Given value {value} for {what} is out of bounds"
                )));
            }
        }
        Ok(Throughput {
            read,
            write,
            ..Default::default()
        })
    }
}

/// `BillingMode` and `ProvisionedThroughput`, read alike by CreateTable and UpdateTable.
fn read_billing<'a>(
    input: Input<'a>,
    c: &mut Constraints,
) -> Result<(Option<&'a str>, Option<RawThroughput>)> {
    let billing_mode = input.str("BillingMode")?;
    c.one_of(
        billing_mode,
        "billingMode",
        &["PROVISIONED", "PAY_PER_REQUEST"],
    );
    Ok((billing_mode, read_throughput(input, "", c)?))
}

struct RawIndex<'a> {
    name: Option<&'a str>,
    keys: Option<RawKeySchema<'a>>,
    projection: Option<(Option<&'a str>, Option<Vec<&'a str>>)>,
    throughput: Option<RawThroughput>,
    on_demand: Option<OnDemandThroughput>,
}

fn read_indexes<'a>(
    input: Input<'a>,
    member: &str,
    path: &str,
    class: &'static str,
    c: &mut Constraints,
) -> Result<Option<Vec<RawIndex<'a>>>> {
    let Some(list) = input.list(member)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let e = Input::element(e, class)?;
        let at = format!("{path}.{}.member.", i + 1);
        let name = c.not_null(e.str("IndexName")?, &format!("{at}indexName"));
        c.name(name, &format!("{at}indexName"));
        let keys = read_key_schema(e, &at, c)?;
        let projection = match c.not_null(
            e.structure("Projection", PROJECTION)?,
            &format!("{at}projection"),
        ) {
            Some(p) => {
                let kind = p.str("ProjectionType")?;
                c.one_of(
                    kind,
                    &format!("{at}projection.projectionType"),
                    &["ALL", "KEYS_ONLY", "INCLUDE"],
                );
                let non_key = p.strings("NonKeyAttributes")?;
                c.count(
                    non_key.as_ref().map(Vec::len),
                    "[]",
                    &format!("{at}projection.nonKeyAttributes"),
                    1,
                    usize::MAX,
                );
                Some((kind, non_key))
            }
            None => None,
        };
        let throughput = read_throughput(e, &at, c)?;
        let on_demand = read_on_demand(e)?;
        out.push(RawIndex {
            name,
            keys,
            projection,
            throughput,
            on_demand,
        });
    }
    Ok(Some(out))
}

fn read_on_demand(input: Input<'_>) -> Result<Option<OnDemandThroughput>> {
    let Some(o) = input.structure("OnDemandThroughput", ON_DEMAND)? else {
        return Ok(None);
    };
    let max_read = o.int("MaxReadRequestUnits", JsonKind::Long)?;
    let max_write = o.int("MaxWriteRequestUnits", JsonKind::Long)?;
    for (v, what) in [
        (max_read, "MaxReadRequestUnits"),
        (max_write, "MaxWriteRequestUnits"),
    ] {
        if let Some(v) = v.filter(|&v| v < 1 && v != -1) {
            return Err(invalid(format_args!(
                "{what} must be at least 1 or -1 (no limit), got {v}"
            )));
        }
    }
    Ok(Some(OnDemandThroughput {
        max_read,
        max_write,
    }))
}

fn read_stream_spec(input: Input<'_>, c: &mut Constraints) -> Result<Option<StreamSpec>> {
    let Some(s) = input.structure("StreamSpecification", STREAM_SPEC)? else {
        return Ok(None);
    };
    let enabled = c.not_null(
        s.bool("StreamEnabled")?,
        "streamSpecification.streamEnabled",
    );
    let view_type = s.str("StreamViewType")?;
    c.one_of(
        view_type,
        "streamSpecification.streamViewType",
        STREAM_VIEW_TYPES,
    );
    let enabled = enabled.unwrap_or(false);
    if enabled && view_type.is_none() {
        return Err(invalid(
            "You must specify a StreamViewType when enabling a stream",
        ));
    }
    if !enabled && view_type.is_some() {
        return Err(invalid(
            "You cannot specify a StreamViewType when disabling a stream",
        ));
    }
    Ok(Some(StreamSpec {
        enabled,
        view_type: view_type.map(str::to_string),
        label: None,
    }))
}

fn read_sse(input: Input<'_>, c: &mut Constraints) -> Result<Option<SseSpec>> {
    let Some(s) = input.structure("SSESpecification", SSE_SPEC)? else {
        return Ok(None);
    };
    let enabled = s.bool("Enabled")?;
    let sse_type = s.str("SSEType")?;
    c.one_of(sse_type, "sSESpecification.sSEType", &["AES256", "KMS"]);
    let kms_key = s.str("KMSMasterKeyId")?;
    if enabled == Some(false) {
        if kms_key.is_some() || sse_type.is_some() {
            return Err(invalid(
                "SSEType and KMSMasterKeyId cannot be specified when SSE is disabled",
            ));
        }
        return Ok(None);
    }
    Ok(Some(SseSpec {
        sse_type: sse_type.unwrap_or("KMS").to_string(),
        kms_key: kms_key.map(str::to_string),
    }))
}

/// Reads and checks a `Tags` list (CreateTable and TagResource share the rules).
pub fn read_tags(list: &[Value]) -> Result<Vec<(String, String)>> {
    let mut tags = Vec::with_capacity(list.len());
    for e in list {
        let e = Input::element(e, TAG)?;
        let key = e.str("Key")?;
        let value = e.str("Value")?;
        let mut c = Constraints::default();
        c.not_null(key, "tags.member.key");
        c.not_null(value, "tags.member.value");
        c.finish()?;
        let (key, value) = (key.unwrap_or_default(), value.unwrap_or_default());
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid("Tag key must be between 1 and 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(invalid("Tag value must be between 0 and 256 characters"));
        }
        if key.starts_with("aws:") {
            return Err(invalid(
                "Tag keys starting with 'aws:' are reserved for system use",
            ));
        }
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(tags)
}

pub fn create_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let defs_list = c.not_null(input.list("AttributeDefinitions")?, "attributeDefinitions");
    let mut defs_raw = Vec::new();
    for (i, e) in defs_list.into_iter().flatten().enumerate() {
        let e = Input::element(e, ATTR_DEF)?;
        let at = format!("attributeDefinitions.{}.member", i + 1);
        let name = c.not_null(e.str("AttributeName")?, &format!("{at}.attributeName"));
        c.length(name, &format!("{at}.attributeName"), 1, 255);
        let ty = c.not_null(e.str("AttributeType")?, &format!("{at}.attributeType"));
        c.one_of(ty, &format!("{at}.attributeType"), &["B", "N", "S"]);
        defs_raw.push((name, ty));
    }
    let name = c.not_null(input.str("TableName")?, "tableName");
    c.name(name, "tableName");
    let key_schema = read_key_schema(input, "", &mut c)?;
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
    let defs: Vec<(String, String)> = defs_raw
        .iter()
        .filter_map(|(n, t)| Some(((*n)?.to_string(), (*t)?.to_string())))
        .collect();

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
    if lsis.is_some() && schema.range.is_none() && !lsis.as_ref().is_some_and(Vec::is_empty) {
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
    };
    let meta = ctx.engine.create_table(meta)?;
    to_body(&json!({ "TableDescription": table_description(ctx, &meta, "CREATING")? }))
}

fn check_projected_attribute_total<'a>(indexes: impl Iterator<Item = &'a IndexMeta>) -> Result<()> {
    let mut all = std::collections::HashSet::new();
    for i in indexes {
        all.extend(i.projection.non_key_attributes.iter());
    }
    if all.len() > MAX_PROJECTED_ATTRIBUTES {
        return Err(invalid(format_args!(
            "The number of projected attributes in all indexes exceeds the limit of {MAX_PROJECTED_ATTRIBUTES}, provided: {}",
            all.len()
        )));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IndexKind {
    Local,
    Global,
}

/// What every index of a new table is checked against.
struct IndexSet<'a> {
    defs: &'a [(String, String)],
    table: &'a KeySchema,
    mode: BillingMode,
}

impl IndexSet<'_> {
    /// Resolves one `LocalSecondaryIndexes`/`GlobalSecondaryIndexes` list, with DynamoDB's
    /// checks on the list as a whole; index names must be unique across both lists.
    fn resolve(
        &self,
        raws: Option<Vec<RawIndex<'_>>>,
        kind: IndexKind,
        names: &mut std::collections::HashSet<String>,
    ) -> Result<Vec<IndexMeta>> {
        let Some(raws) = raws else {
            return Ok(Vec::new());
        };
        let (list, limit_message, limit) = match kind {
            IndexKind::Local => (
                "LocalSecondaryIndexes",
                format!("Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LSIS}"),
                MAX_LSIS,
            ),
            IndexKind::Global => (
                "GlobalSecondaryIndexes",
                format!("GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GSIS}"),
                MAX_GSIS,
            ),
        };
        if raws.is_empty() {
            return Err(invalid(format_args!("List of {list} is empty")));
        }
        let mut indexes = Vec::with_capacity(raws.len());
        for raw in &raws {
            let index = resolve_index(
                raw,
                self.defs,
                self.table,
                self.mode,
                kind == IndexKind::Local,
            )?;
            if !names.insert(index.name.clone()) {
                return Err(invalid(format_args!(
                    "Duplicate index name: {}",
                    index.name
                )));
            }
            indexes.push(index);
        }
        if indexes.len() > limit {
            return Err(invalid(limit_message));
        }
        Ok(indexes)
    }
}

fn resolve_index(
    raw: &RawIndex<'_>,
    defs: &[(String, String)],
    table: &KeySchema,
    mode: BillingMode,
    local: bool,
) -> Result<IndexMeta> {
    let (name, keys) = (present(raw.name)?, present(raw.keys.as_ref())?);
    let (kind, non_key) = present(raw.projection.as_ref())?;
    let key_schema = keys.resolve(defs)?;
    if local {
        if key_schema.range.is_none() {
            return Err(invalid(format_args!(
                "Index KeySchema does not have a range key for index: {name}"
            )));
        }
        if key_schema.hash.name != table.hash.name {
            return Err(invalid(format_args!(
                "Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. index hash key: {}, table hash key: {}",
                key_schema.hash.name, table.hash.name
            )));
        }
    }
    let Some(kind) = kind else {
        return Err(invalid("Unknown ProjectionType: null"));
    };
    if non_key.is_some() && *kind != "INCLUDE" {
        return Err(invalid(format_args!(
            "ProjectionType is {kind}, but NonKeyAttributes is specified"
        )));
    }
    let non_key: Vec<String> = non_key.iter().flatten().map(|s| s.to_string()).collect();
    if *kind == "INCLUDE" && non_key.is_empty() {
        return Err(invalid(
            "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ));
    }
    let throughput = match (local, mode, &raw.throughput) {
        (true, _, Some(_)) => {
            return Err(invalid(format_args!(
                "ProvisionedThroughput cannot be specified for local secondary index: {name}"
            )))
        }
        (false, BillingMode::PayPerRequest, Some(_)) => {
            return Err(invalid(format_args!(
                "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
            )))
        }
        (false, BillingMode::Provisioned, None) => {
            return Err(invalid(format_args!(
                "ProvisionedThroughput must be specified for index: {name}"
            )))
        }
        (false, BillingMode::Provisioned, Some(t)) => Some(t.resolve()?),
        _ => None,
    };
    Ok(IndexMeta {
        id: 0,
        name: name.to_string(),
        key_schema,
        projection: Projection {
            kind: kind.to_string(),
            non_key_attributes: non_key,
        },
        throughput,
        on_demand: raw.on_demand.clone(),
    })
}

/// A stream label: the creation time as ISO-8601 with milliseconds, as DynamoDB labels them.
fn stream_label(epoch_seconds: f64) -> String {
    super::describe::iso8601_millis(epoch_seconds)
}

pub fn describe_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = ctx.table_ref(input, &mut c)?;
    c.finish()?;
    let t = present(table)?;
    let meta = ctx
        .engine
        .table(t.region, t.name)
        .ok_or_else(|| table_not_found(t.name))?;
    to_body(&json!({ "Table": table_description(ctx, &meta, "ACTIVE")? }))
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
    c.finish()?;
    let t = present(table)?;
    for unbuilt in [
        "GlobalSecondaryIndexUpdates",
        "StreamSpecification",
        "SSESpecification",
        "ReplicaUpdates",
    ] {
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
                    next.last_decrease = Some(now);
                    next.decreases_today += 1;
                }
                meta.throughput = next;
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
