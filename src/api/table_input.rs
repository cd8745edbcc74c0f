//! Reading the parts of a table definition (key schemas, throughput, indexes, streams,
//! encryption, tags) with DynamoDB's constraint messages and semantic checks, for CreateTable,
//! UpdateTable and TagResource.

use serde_json::Value;

use super::input::{present, Constraints, Input};
use crate::engine::catalog::{
    BillingMode, IndexMeta, OnDemandThroughput, Projection, SseSpec, StreamSpec, Throughput,
};
use crate::error::{Error, Result};
use crate::model::schema::{KeyAttribute, KeySchema, MAX_KEY_ATTRIBUTES};
use crate::model::wire::JsonKind;
use crate::model::ScalarType;

pub(super) const MAX_LSIS: usize = 5;
pub(super) const MAX_GSIS: usize = 20;
pub(super) const MAX_PROJECTED_ATTRIBUTES: usize = 100;
pub(super) const MAX_THROUGHPUT: i64 = 1_000_000_000_000;
pub(super) const MAX_TAGS: usize = 50;

pub(super) const KSE: &str = "com.amazonaws.dynamodb.v20120810.KeySchemaElement";
pub(super) const ATTR_DEF: &str = "com.amazonaws.dynamodb.v20120810.AttributeDefinition";
pub(super) const THROUGHPUT: &str = "com.amazonaws.dynamodb.v20120810.ProvisionedThroughput";
pub(super) const PROJECTION: &str = "com.amazonaws.dynamodb.v20120810.Projection";
pub(super) const LSI: &str = "com.amazonaws.dynamodb.v20120810.LocalSecondaryIndex";
pub(super) const GSI: &str = "com.amazonaws.dynamodb.v20120810.GlobalSecondaryIndex";
pub(super) const STREAM_SPEC: &str = "com.amazonaws.dynamodb.v20120810.StreamSpecification";
pub(super) const SSE_SPEC: &str = "com.amazonaws.dynamodb.v20120810.SSESpecification";
pub(super) const ON_DEMAND: &str = "com.amazonaws.dynamodb.v20120810.OnDemandThroughput";
pub(super) const TAG: &str = "com.amazonaws.dynamodb.v20120810.Tag";

pub(super) const STREAM_VIEW_TYPES: &[&str] =
    &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];
pub(super) const TABLE_CLASSES: &[&str] = &["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

pub(super) fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// A key schema as written in the request, before it is checked against definitions.
pub(super) struct RawKeySchema<'a> {
    elements: Vec<(Option<&'a str>, Option<&'a str>)>,
    /// A GSI's key, which may have several HASH and several RANGE elements.
    multi_attribute: bool,
}

/// Tables and LSIs have at most a partition and a sort key attribute.
pub(super) const TABLE_KEY_ELEMENTS: usize = 2;
/// A GSI's multi-attribute key: up to four partition and four sort key attributes.
pub(super) const GSI_KEY_ELEMENTS: usize = 2 * MAX_KEY_ATTRIBUTES;

pub(super) fn read_key_schema<'a>(
    input: Input<'a>,
    path: &str,
    most: usize,
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
        most,
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
    Ok(Some(RawKeySchema {
        elements,
        multi_attribute: most > TABLE_KEY_ELEMENTS,
    }))
}

impl RawKeySchema<'_> {
    pub(super) fn names(&self) -> Vec<&str> {
        self.elements.iter().filter_map(|(n, _)| *n).collect()
    }

    /// DynamoDB's semantic checks, in its order, then the typed schema.
    pub(super) fn resolve(&self, defs: &[(String, String)]) -> Result<KeySchema> {
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
        if let Some(twice) = names
            .iter()
            .enumerate()
            .find_map(|(i, n)| names[..i].contains(n).then_some(n))
        {
            return Err(Error::validation(format!(
                "Invalid KeySchema: Duplicate attribute name in the KeySchema: {twice}"
            )));
        }
        let kinds: Vec<Option<&str>> = self.elements.iter().map(|(_, k)| *k).collect();
        if kinds[0] != Some("HASH") {
            return Err(Error::validation(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            ));
        }
        if !self.multi_attribute && kinds.len() == 2 && kinds[1] != Some("RANGE") {
            return Err(Error::validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ));
        }
        let hashes = kinds.iter().take_while(|k| **k == Some("HASH")).count();
        if kinds[hashes..].contains(&Some("HASH")) {
            return Err(Error::validation(
                "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema",
            ));
        }
        for (kind, count) in [("HASH", hashes), ("RANGE", kinds.len() - hashes)] {
            if count > MAX_KEY_ATTRIBUTES {
                return Err(Error::validation(format!(
                    "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of {kind} key attributes"
                )));
            }
        }
        let attr = |name: &&str| -> KeyAttribute {
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
            hash: names[..hashes].iter().map(attr).collect(),
            range: names[hashes..].iter().map(attr).collect(),
        })
    }
}

pub(super) struct RawThroughput {
    read: Option<i64>,
    write: Option<i64>,
}

pub(super) fn read_throughput(
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
    pub(super) fn resolve(&self) -> Result<Throughput> {
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
pub(super) fn read_billing<'a>(
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

pub(super) struct RawIndex<'a> {
    name: Option<&'a str>,
    keys: Option<RawKeySchema<'a>>,
    projection: Option<(Option<&'a str>, Option<Vec<&'a str>>)>,
    throughput: Option<RawThroughput>,
    on_demand: Option<OnDemandThroughput>,
}

pub(super) fn read_indexes<'a>(
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
        out.push(read_index(
            e,
            &format!("{path}.{}.member.", i + 1),
            class == GSI,
            c,
        )?);
    }
    Ok(Some(out))
}

/// One index definition (CreateTable's lists, UpdateTable's `Create` action); `at` prefixes
/// constraint paths.
pub(super) fn read_index<'a>(
    e: Input<'a>,
    at: &str,
    global: bool,
    c: &mut Constraints,
) -> Result<RawIndex<'a>> {
    let name = c.not_null(e.str("IndexName")?, &format!("{at}indexName"));
    c.name(name, &format!("{at}indexName"));
    let most = if global {
        GSI_KEY_ELEMENTS
    } else {
        TABLE_KEY_ELEMENTS
    };
    let keys = read_key_schema(e, at, most, c)?;
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
            c.each_length(
                non_key.as_deref(),
                &format!("{at}projection.nonKeyAttributes"),
                1,
                255,
            );
            Some((kind, non_key))
        }
        None => None,
    };
    let throughput = read_throughput(e, at, c)?;
    let on_demand = read_on_demand(e)?;
    Ok(RawIndex {
        name,
        keys,
        projection,
        throughput,
        on_demand,
    })
}

/// An attribute definition as written: name and type, either possibly missing.
pub(super) type RawDefinition<'a> = (Option<&'a str>, Option<&'a str>);

pub(super) fn read_attribute_definitions<'a>(
    input: Input<'a>,
    c: &mut Constraints,
) -> Result<Option<Vec<RawDefinition<'a>>>> {
    let Some(list) = input.list("AttributeDefinitions")? else {
        return Ok(None);
    };
    let mut defs = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let e = Input::element(e, ATTR_DEF)?;
        let at = format!("attributeDefinitions.{}.member", i + 1);
        let name = c.not_null(e.str("AttributeName")?, &format!("{at}.attributeName"));
        c.length(name, &format!("{at}.attributeName"), 1, 255);
        let ty = c.not_null(e.str("AttributeType")?, &format!("{at}.attributeType"));
        c.one_of(ty, &format!("{at}.attributeType"), &["B", "N", "S"]);
        defs.push((name, ty));
    }
    Ok(Some(defs))
}

/// The definitions whose members are all present (constraint checking reported the others).
pub(super) fn complete_definitions(raw: &[RawDefinition<'_>]) -> Vec<(String, String)> {
    raw.iter()
        .filter_map(|(n, t)| Some(((*n)?.to_string(), (*t)?.to_string())))
        .collect()
}

pub(super) fn read_on_demand(input: Input<'_>) -> Result<Option<OnDemandThroughput>> {
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

pub(super) fn read_stream_spec(
    input: Input<'_>,
    c: &mut Constraints,
) -> Result<Option<StreamSpec>> {
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
        id: 0,
        created: 0.0,
        disabled_at: None,
    }))
}

pub(super) fn read_sse(input: Input<'_>, c: &mut Constraints) -> Result<Option<SseSpec>> {
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
pub(super) fn read_tags(list: &[Value]) -> Result<Vec<(String, String)>> {
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
        // AWS's tag alphabet: letters, numbers, spaces and `_ . : / = + - @`.
        let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        if let Some(bad) = [key, value].into_iter().find(|t| !t.chars().all(allowed)) {
            return Err(invalid(format_args!(
                "Tags may only contain letters, numbers, spaces and _ . : / = + - @: {bad}"
            )));
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

pub(super) fn check_projected_attribute_total<'a>(
    indexes: impl Iterator<Item = &'a IndexMeta>,
) -> Result<()> {
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
pub(super) enum IndexKind {
    Local,
    Global,
}

/// What every index of a new table is checked against.
pub(super) struct IndexSet<'a> {
    pub(super) defs: &'a [(String, String)],
    pub(super) table: &'a KeySchema,
    pub(super) mode: BillingMode,
}

impl IndexSet<'_> {
    /// Resolves one `LocalSecondaryIndexes`/`GlobalSecondaryIndexes` list, with DynamoDB's
    /// checks on the list as a whole; index names must be unique across both lists.
    pub(super) fn resolve(
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

pub(super) fn resolve_index(
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
        if key_schema.range.is_empty() {
            return Err(invalid(format_args!(
                "Index KeySchema does not have a range key for index: {name}"
            )));
        }
        let (index_hash, table_hash) = (&key_schema.hash_key().name, &table.hash_key().name);
        if index_hash != table_hash {
            return Err(invalid(format_args!(
                "Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. index hash key: {index_hash}, table hash key: {table_hash}"
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
        backfilling: false,
        buckets: Default::default(),
    })
}
