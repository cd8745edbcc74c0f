//! ExportTableToPointInTime, DescribeExport, ListExports, ImportTable, DescribeImport,
//! ListImports: requests checked here, the jobs run by `crate::transfer`.

use serde_json::{json, Map, Value};

use super::backups::time;
use super::input::{present, Constraints, Input};
use super::tables::table_definition;
use super::{to_body, Context};
use crate::error::{Error, Result};
use crate::model::wire::JsonKind;
use crate::transfer::export::{self, Export, Incremental};
use crate::transfer::import::{self, CsvOptions, Import, LOG_GROUP};
use crate::transfer::Status;

/// DynamoDB's rules for an incremental export's range.
const MIN_INCREMENT: f64 = 15.0 * 60.0;
const MAX_INCREMENT: f64 = 24.0 * 3600.0;

pub fn export_table_to_point_in_time(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table_arn = c.not_null(input.str("TableArn")?, "tableArn");
    c.length(table_arn, "tableArn", 1, 1024);
    let bucket = c.not_null(input.str("S3Bucket")?, "s3Bucket");
    c.length(bucket, "s3Bucket", 0, 255);
    let owner = input.str("S3BucketOwner")?;
    let prefix = input.str("S3Prefix")?;
    c.length(prefix, "s3Prefix", 0, 1024);
    let sse = input.str("S3SseAlgorithm")?;
    c.one_of(sse, "s3SseAlgorithm", &["AES256", "KMS"]);
    let kms = input.str("S3SseKmsKeyId")?;
    let format = input.str("ExportFormat")?;
    c.one_of(format, "exportFormat", &["DYNAMODB_JSON", "ION"]);
    let kind = input.str("ExportType")?;
    c.one_of(kind, "exportType", &["FULL_EXPORT", "INCREMENTAL_EXPORT"]);
    let token = input.str("ClientToken")?;
    c.length(token, "clientToken", 0, 36);
    let export_time = time(input, "ExportTime")?;
    let spec = input.structure(
        "IncrementalExportSpecification",
        "com.amazonaws.dynamodb.v20120810.IncrementalExportSpecification",
    )?;
    let view = match spec {
        Some(s) => s.str("ExportViewType")?,
        None => None,
    };
    c.one_of(
        view,
        "incrementalExportSpecification.exportViewType",
        &["NEW_IMAGE", "NEW_AND_OLD_IMAGES"],
    );
    c.finish()?;
    let (table_arn, bucket) = (present(table_arn)?, present(bucket)?);
    if format == Some("ION") {
        return Err(Error::validation(
            "ExportFormat ION is not available: export as DYNAMODB_JSON",
        ));
    }
    let t = ctx.resolve_table(table_arn);
    let table = ctx
        .engine
        .table(t.region, t.name)
        .ok_or_else(|| Error::TableNotFound(format!("Table not found: {}", t.name)))?;
    let (earliest, now) = ctx.engine.restorable_window(&table).ok_or_else(|| {
        Error::PointInTimeRecoveryUnavailable(format!(
            "Point in time recovery is not enabled for table '{}'",
            table.name
        ))
    })?;
    let in_window = |t: f64| t >= earliest && t <= now;
    let incremental = match (kind, spec) {
        (Some("INCREMENTAL_EXPORT"), Some(spec)) => {
            let from = time(spec, "ExportFromTime")?.ok_or_else(|| {
                Error::validation("ExportFromTime is required for an incremental export")
            })?;
            let to = time(spec, "ExportToTime")?.unwrap_or(now);
            if !(in_window(from) && in_window(to)) {
                return Err(Error::InvalidExportTime(
                    "ExportFromTime and ExportToTime must be within the table's point in time recovery window".into(),
                ));
            }
            if to - from < MIN_INCREMENT || to - from > MAX_INCREMENT {
                return Err(Error::validation(
                    "The period between ExportFromTime and ExportToTime must be at least 15 minutes and at most 24 hours",
                ));
            }
            Some(Incremental {
                from,
                to,
                view: view.unwrap_or("NEW_AND_OLD_IMAGES").to_string(),
            })
        }
        (Some("INCREMENTAL_EXPORT"), None) => {
            return Err(Error::validation(
                "IncrementalExportSpecification is required for an incremental export",
            ))
        }
        (_, Some(_)) => {
            return Err(Error::validation(
                "IncrementalExportSpecification is only for an incremental export",
            ))
        }
        (_, None) => None,
    };
    let export_time = match &incremental {
        Some(i) => i.to,
        None => export_time.unwrap_or(now),
    };
    if incremental.is_none() && !in_window(export_time) {
        return Err(Error::InvalidExportTime(
            "ExportTime must be within the table's point in time recovery window".into(),
        ));
    }
    let request = export::Request {
        export_time,
        incremental,
        bucket: bucket.to_string(),
        bucket_owner: owner.map(str::to_string),
        prefix: prefix.map(str::to_string),
        sse_algorithm: sse.map(str::to_string),
        kms_key: kms.map(str::to_string),
        client_token: token
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let job = export::begin(ctx.engine, &table, request)?;
    to_body(&json!({ "ExportDescription": export_description(&job) }))
}

pub fn describe_export(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = c.not_null(input.str("ExportArn")?, "exportArn");
    c.length(arn, "exportArn", 37, 1024);
    c.finish()?;
    let arn = present(arn)?;
    let job = export::all(ctx.engine)?
        .into_iter()
        .find(|e| e.arn == arn && e.table.region == ctx.region)
        .ok_or_else(|| Error::ExportNotFound(format!("Export not found: {arn}")))?;
    to_body(&json!({ "ExportDescription": export_description(&job) }))
}

pub fn list_exports(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let (table, limit, token) = listing(input, "MaxResults", "maxResults")?;
    let jobs: Vec<Export> = export::all(ctx.engine)?
        .into_iter()
        .filter(|e| {
            e.table.region == ctx.region && table.as_ref().is_none_or(|t| e.table.table_arn == *t)
        })
        .collect();
    let (page, next) = page(&jobs, |e| &e.arn, limit, token.as_deref());
    let summaries: Vec<Value> = page
        .iter()
        .map(|e| json!({"ExportArn": e.arn, "ExportStatus": e.progress.status.as_str(), "ExportType": e.export_type()}))
        .collect();
    let mut out = json!({ "ExportSummaries": summaries });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    to_body(&out)
}

pub fn import_table(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let source = c.not_null(
        input.structure(
            "S3BucketSource",
            "com.amazonaws.dynamodb.v20120810.S3BucketSource",
        )?,
        "s3BucketSource",
    );
    let (mut bucket, mut owner, mut prefix) = (None, None, None);
    if let Some(s) = source {
        bucket = c.not_null(s.str("S3Bucket")?, "s3BucketSource.s3Bucket");
        c.length(bucket, "s3BucketSource.s3Bucket", 0, 255);
        owner = s.str("S3BucketOwner")?;
        prefix = s.str("S3KeyPrefix")?;
        c.length(prefix, "s3BucketSource.s3KeyPrefix", 0, 1024);
    }
    let format = c.not_null(input.str("InputFormat")?, "inputFormat");
    c.one_of(format, "inputFormat", &["DYNAMODB_JSON", "ION", "CSV"]);
    let compression = input.str("InputCompressionType")?;
    c.one_of(
        compression,
        "inputCompressionType",
        &["GZIP", "ZSTD", "NONE"],
    );
    let token = input.str("ClientToken")?;
    c.length(token, "clientToken", 0, 36);
    let creation = c.not_null(
        input.structure(
            "TableCreationParameters",
            "com.amazonaws.dynamodb.v20120810.TableCreationParameters",
        )?,
        "tableCreationParameters",
    );
    let csv = csv_options(input)?;
    c.finish()?;
    let (bucket, format, creation) = (present(bucket)?, present(format)?, present(creation)?);
    if format == "ION" {
        return Err(Error::validation(
            "InputFormat ION is not available: import DYNAMODB_JSON or CSV",
        ));
    }
    if csv.is_some() && format != "CSV" {
        return Err(Error::validation(
            "InputFormatOptions.Csv is only for the CSV input format",
        ));
    }
    if let Some(token) = token {
        if let Some(same) = import::all(ctx.engine)?
            .into_iter()
            .find(|i| i.request.client_token == token && i.table.region == ctx.region)
        {
            return to_body(&json!({ "ImportTableDescription": import_description(ctx, &same) }));
        }
    }
    // The table is made as CreateTable makes one, from the members they share.
    let mut request = Map::new();
    for member in [
        "TableName",
        "AttributeDefinitions",
        "KeySchema",
        "BillingMode",
        "ProvisionedThroughput",
        "OnDemandThroughput",
        "SSESpecification",
        "GlobalSecondaryIndexes",
    ] {
        if let Some(v) = creation.raw(member) {
            request.insert(member.into(), v.clone());
        }
    }
    let request = Value::Object(request);
    let mut definition = table_definition(ctx, Input::new(&request)?)?;
    let arn = import::new_arn(ctx.engine, &definition.arn());
    definition.importing = Some(arn.clone());
    let table = ctx.engine.create_table(definition)?;
    let job = import::begin(
        ctx.engine,
        &table,
        arn,
        import::Request {
            bucket: bucket.to_string(),
            bucket_owner: owner.map(str::to_string),
            key_prefix: prefix.map(str::to_string),
            format: format.to_string(),
            csv,
            compression: compression.unwrap_or("NONE").to_string(),
            creation: request,
            client_token: token
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        },
    )?;
    to_body(&json!({ "ImportTableDescription": import_description(ctx, &job) }))
}

pub fn describe_import(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = c.not_null(input.str("ImportArn")?, "importArn");
    c.length(arn, "importArn", 37, 1024);
    c.finish()?;
    let arn = present(arn)?;
    let job = import::all(ctx.engine)?
        .into_iter()
        .find(|i| i.arn == arn && i.table.region == ctx.region)
        .ok_or_else(|| Error::ImportNotFound(format!("Import not found: {arn}")))?;
    to_body(&json!({ "ImportTableDescription": import_description(ctx, &job) }))
}

pub fn list_imports(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let (table, limit, token) = listing(input, "PageSize", "pageSize")?;
    let jobs: Vec<Import> = import::all(ctx.engine)?
        .into_iter()
        .filter(|i| {
            i.table.region == ctx.region && table.as_ref().is_none_or(|t| i.table.table_arn == *t)
        })
        .collect();
    let (page, next) = page(&jobs, |i| &i.arn, limit, token.as_deref());
    let summaries: Vec<Value> = page
        .iter()
        .map(|i| {
            let mut s = json!({
                "ImportArn": i.arn,
                "ImportStatus": i.progress.status.as_str(),
                "TableArn": i.table.table_arn,
                "S3BucketSource": bucket_source(i),
                "CloudWatchLogGroupArn": log_group_arn(ctx),
                "InputFormat": i.request.format,
                "StartTime": i.progress.start,
            });
            if let Some(end) = i.progress.end {
                s["EndTime"] = json!(end);
            }
            s
        })
        .collect();
    let mut out = json!({ "ImportSummaryList": summaries });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    to_body(&out)
}

/// `InputFormatOptions.Csv`, if given.
fn csv_options(input: Input<'_>) -> Result<Option<CsvOptions>> {
    let Some(options) = input.structure(
        "InputFormatOptions",
        "com.amazonaws.dynamodb.v20120810.InputFormatOptions",
    )?
    else {
        return Ok(None);
    };
    let Some(csv) = options.structure("Csv", "com.amazonaws.dynamodb.v20120810.CsvOptions")? else {
        return Ok(None);
    };
    let mut c = Constraints::default();
    let delimiter = csv.str("Delimiter")?;
    c.length(delimiter, "inputFormatOptions.csv.delimiter", 1, 1);
    if let Some(d) = delimiter {
        if !matches!(d, "," | "\t" | ":" | ";" | "|" | " ") {
            c.fail(
                Some(d),
                "inputFormatOptions.csv.delimiter",
                "Member must satisfy regular expression pattern: [,;:|\\t ]",
            );
        }
    }
    let header = csv.strings("HeaderList")?;
    c.count(
        header.as_ref().map(Vec::len),
        "HeaderList",
        "inputFormatOptions.csv.headerList",
        1,
        255,
    );
    c.finish()?;
    Ok(Some(CsvOptions {
        delimiter: delimiter.map(str::to_string),
        header: header.map(|h| h.into_iter().map(str::to_string).collect()),
    }))
}

/// ListExports/ListImports' members: a table ARN, a page size (1 to 25) and a token.
fn listing(
    input: Input<'_>,
    size: &str,
    size_path: &str,
) -> Result<(Option<String>, usize, Option<String>)> {
    let mut c = Constraints::default();
    let table = input.str("TableArn")?;
    c.length(table, "tableArn", 1, 1024);
    let limit = input.int(size, JsonKind::Integer)?;
    c.at_least(limit, size_path, 1);
    c.at_most(limit, size_path, 25);
    let token = input.str("NextToken")?;
    c.finish()?;
    Ok((
        table.map(str::to_string),
        limit.unwrap_or(25) as usize,
        token.map(str::to_string),
    ))
}

/// One page of jobs after the one named by `token` (its ARN), and the next page's token.
fn page<'a, T>(
    jobs: &'a [T],
    arn: impl Fn(&T) -> &String,
    limit: usize,
    token: Option<&str>,
) -> (&'a [T], Option<String>) {
    let first = token
        .and_then(|t| jobs.iter().position(|j| arn(j) == t))
        .map_or(0, |i| i + 1);
    let rest = &jobs[first.min(jobs.len())..];
    let page = &rest[..limit.min(rest.len())];
    let next = (rest.len() > page.len())
        .then(|| page.last().map(|j| arn(j).clone()))
        .flatten();
    (page, next)
}

fn export_description(e: &Export) -> Value {
    let mut d = json!({
        "ExportArn": e.arn,
        "ExportStatus": e.progress.status.as_str(),
        "StartTime": e.progress.start,
        "TableArn": e.table.table_arn,
        "TableId": e.table.table_id,
        "ExportTime": e.request.export_time,
        "ClientToken": e.request.client_token,
        "S3Bucket": e.request.bucket,
        "S3SseAlgorithm": e.request.sse_algorithm.as_deref().unwrap_or("AES256"),
        "ExportFormat": e.format,
        "ExportType": e.export_type(),
    });
    let optional = [
        ("EndTime", e.progress.end.map(|t| json!(t))),
        ("ExportManifest", e.manifest.as_ref().map(|m| json!(m))),
        (
            "S3BucketOwner",
            e.request.bucket_owner.as_ref().map(|o| json!(o)),
        ),
        ("S3Prefix", e.request.prefix.as_ref().map(|p| json!(p))),
        (
            "S3SseKmsKeyId",
            e.request.kms_key.as_ref().map(|k| json!(k)),
        ),
        (
            "FailureCode",
            e.progress.failure.as_ref().map(|f| json!(f.code)),
        ),
        (
            "FailureMessage",
            e.progress.failure.as_ref().map(|f| json!(f.message)),
        ),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            d[name] = v;
        }
    }
    if e.progress.status == Status::Completed {
        d["ItemCount"] = json!(e.item_count);
        d["BilledSizeBytes"] = json!(e.billed_bytes);
    }
    if let Some(i) = &e.request.incremental {
        d["IncrementalExportSpecification"] = json!({
            "ExportFromTime": i.from, "ExportToTime": i.to, "ExportViewType": i.view,
        });
    }
    d
}

fn bucket_source(i: &Import) -> Value {
    let mut s = json!({ "S3Bucket": i.request.bucket });
    if let Some(o) = &i.request.bucket_owner {
        s["S3BucketOwner"] = json!(o);
    }
    if let Some(p) = &i.request.key_prefix {
        s["S3KeyPrefix"] = json!(p);
    }
    s
}

fn log_group_arn(ctx: &Context<'_>) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{LOG_GROUP}:*",
        ctx.region, ctx.account
    )
}

fn import_description(ctx: &Context<'_>, i: &Import) -> Value {
    let mut d = json!({
        "ImportArn": i.arn,
        "ImportStatus": i.progress.status.as_str(),
        "TableArn": i.table.table_arn,
        "TableId": i.table.table_id,
        "ClientToken": i.request.client_token,
        "S3BucketSource": bucket_source(i),
        "ErrorCount": i.error_count,
        "CloudWatchLogGroupArn": log_group_arn(ctx),
        "InputFormat": i.request.format,
        "InputCompressionType": i.request.compression,
        "TableCreationParameters": i.request.creation,
        "StartTime": i.progress.start,
        "ProcessedSizeBytes": i.processed_bytes,
        "ProcessedItemCount": i.processed_items,
        "ImportedItemCount": i.imported_items,
    });
    if let Some(csv) = &i.request.csv {
        let mut o = Map::new();
        if let Some(d) = &csv.delimiter {
            o.insert("Delimiter".into(), json!(d));
        }
        if let Some(h) = &csv.header {
            o.insert("HeaderList".into(), json!(h));
        }
        d["InputFormatOptions"] = json!({ "Csv": o });
    }
    if let Some(end) = i.progress.end {
        d["EndTime"] = json!(end);
    }
    if let Some(f) = &i.progress.failure {
        d["FailureCode"] = json!(f.code);
        d["FailureMessage"] = json!(f.message);
    }
    d
}
