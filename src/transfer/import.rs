//! ImportTable's job: a new table (CREATING until the import ends) filled from every object
//! under a bucket prefix, in DynamoDB JSON or CSV, plain, gzip'd or zstd'd. A row that is not
//! an item of the table (bad JSON, a missing or mistyped key, an item too large) is counted in
//! `ErrorCount` and logged, as DynamoDB logs it to CloudWatch, without failing the import.
//! Pointed at the folder of an export (the one holding `manifest-files.json`), the import reads
//! the data files the manifest lists.

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::formats::{self, CsvShape};
use super::{bucket_dir, job_id, object_path, Failure, JobTable, Progress};
use crate::engine::catalog::TableMeta;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::Item;

const NAMESPACE: &str = "imports";
/// Rows between two saves of an import's counts (what DescribeImport shows while it runs).
const PROGRESS_EVERY: u64 = 50_000;
/// DynamoDB's log group for import errors.
pub const LOG_GROUP: &str = "/aws-dynamodb/imports";

/// `InputFormatOptions.Csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CsvOptions {
    pub delimiter: Option<String>,
    pub header: Option<Vec<String>>,
}

/// An import: what DescribeImport shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    pub arn: String,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(flatten)]
    pub table: JobTable,
    #[serde(flatten)]
    pub request: Request,
    pub processed_bytes: u64,
    pub processed_items: u64,
    pub imported_items: u64,
    pub error_count: u64,
}

/// What an ImportTable request asks, checked; the table is made by the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub bucket: String,
    pub bucket_owner: Option<String>,
    pub key_prefix: Option<String>,
    pub format: String,
    pub csv: Option<CsvOptions>,
    pub compression: String,
    /// `TableCreationParameters` as given.
    pub creation: Value,
    pub client_token: String,
}

pub fn all(engine: &Engine) -> Result<Vec<Import>> {
    super::load(engine, NAMESPACE)
}

impl super::Job for Import {
    fn arn(&self) -> &str {
        &self.arn
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

/// The ARN an import into `table` gets (the table is created with it, marked as importing).
pub fn new_arn(engine: &Engine, table_arn: &str) -> String {
    format!(
        "{table_arn}/import/{}",
        job_id(engine.clock.epoch_seconds())
    )
}

/// Records an import into the just-created `table` (IN_PROGRESS) and starts it.
pub fn begin(
    engine: &Arc<Engine>,
    table: &TableMeta,
    arn: String,
    request: Request,
) -> Result<Import> {
    let job = Import {
        arn,
        progress: Progress::started(engine.clock.epoch_seconds()),
        table: JobTable::of(table),
        request,
        processed_bytes: 0,
        processed_items: 0,
        imported_items: 0,
        error_count: 0,
    };
    super::save(engine, NAMESPACE, &job.arn, &job)?;
    start(engine, job.clone());
    Ok(job)
}

/// Runs an import in the background: fills the table, makes it ACTIVE (or deletes it, if the
/// import failed), and records how it ended.
pub fn start(engine: &Arc<Engine>, mut job: Import) {
    let engine = Arc::clone(engine);
    super::spawn("import", move || {
        // Started over after a crash: counted again from the first row.
        (job.processed_bytes, job.processed_items) = (0, 0);
        (job.imported_items, job.error_count) = (0, 0);
        let outcome = run(&engine, &mut job).and_then(|()| job.table.find(&engine).map(drop));
        let t = &job.table;
        let finished = match &outcome {
            Ok(()) => engine.update_table(&t.region, &t.table_name, |m| {
                m.importing = None;
                Ok(())
            }),
            // As DynamoDB does, a failed import leaves no table behind.
            Err(_) => engine.delete_table(&t.region, &t.table_name, |meta| {
                if meta.uuid == t.table_id {
                    Ok(())
                } else {
                    Err(crate::error::Error::Internal("another table".into()))
                }
            }),
        };
        if let Err(e) = finished {
            tracing::warn!(import = %job.arn, error = %e, "the import's table was not finished");
        }
        let now = engine.clock.epoch_seconds();
        job.progress.ended(&job.arn, now, outcome);
        if let Err(e) = super::save(&engine, NAMESPACE, &job.arn, &job) {
            tracing::error!(import = %job.arn, error = %e, "cannot record the import's end");
        }
    });
}

fn run(engine: &Engine, job: &mut Import) -> std::result::Result<(), Failure> {
    let bucket = bucket_dir(engine, &job.request.bucket)?;
    let prefix = job.request.key_prefix.clone().unwrap_or_default();
    let objects = objects(&bucket, &prefix)?;
    if objects.is_empty() {
        return Err(Failure::new(
            "S3NoSuchKey",
            format!(
                "No objects found under the prefix {prefix:?} in bucket {}",
                job.request.bucket
            ),
        ));
    }
    for (key, path) in objects {
        let table = job.table.find(engine)?;
        let reader = formats::open(&path, &job.request.compression)
            .map_err(|e| Failure::new("S3AccessDenied", format!("{key}: {e}")))?;
        match job.request.format.as_str() {
            "CSV" => import_csv(engine, job, &table, &key, reader)?,
            _ => import_json(engine, job, &table, &key, reader)?,
        }
    }
    Ok(())
}

/// The objects to import, sorted by key: the data files an export's manifest lists, when the
/// prefix is an export's folder; otherwise every object under the prefix.
fn objects(bucket: &Path, prefix: &str) -> std::result::Result<Vec<(String, PathBuf)>, Failure> {
    let folder = object_path(bucket, prefix)
        .ok_or_else(|| Failure::new("S3NoSuchKey", "The key prefix is not a valid key"))?;
    let manifest = folder.join("manifest-files.json");
    if manifest.is_file() {
        return listed_in(bucket, &manifest);
    }
    let mut found = Vec::new();
    walk(bucket, bucket, &mut found).map_err(|e| Failure::new("S3AccessDenied", e.to_string()))?;
    found.retain(|(key, _)| key.starts_with(prefix));
    found.sort();
    Ok(found)
}

/// The data files of an export, as its `manifest-files.json` lists them.
fn listed_in(
    bucket: &Path,
    manifest: &Path,
) -> std::result::Result<Vec<(String, PathBuf)>, Failure> {
    let bad = |why: String| Failure::new("InvalidManifest", format!("manifest-files.json: {why}"));
    let text = formats::read_text(manifest).map_err(|e| bad(e.to_string()))?;
    let mut files = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let key = entry["dataFileS3Key"]
            .as_str()
            .ok_or_else(|| bad("an entry without dataFileS3Key".into()))?;
        let path = object_path(bucket, key).ok_or_else(|| bad(format!("bad key {key}")))?;
        if !path.is_file() {
            return Err(bad(format!("{key} does not exist")));
        }
        files.push((key.to_string(), path));
    }
    Ok(files)
}

/// Every file under `dir`, as (object key, path).
fn walk(bucket: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(bucket, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(bucket) {
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((key, path));
        }
    }
    Ok(())
}

fn import_json(
    engine: &Engine,
    job: &mut Import,
    table: &TableMeta,
    key: &str,
    reader: Box<dyn BufRead>,
) -> std::result::Result<(), Failure> {
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Failure::new("ItemValidationError", format!("{key}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        job.processed_bytes += line.len() as u64 + 1;
        let item = formats::json_line(&line);
        put(engine, job, table, key, index, item);
    }
    Ok(())
}

fn import_csv(
    engine: &Engine,
    job: &mut Import,
    table: &TableMeta,
    key: &str,
    reader: Box<dyn BufRead>,
) -> std::result::Result<(), Failure> {
    let options = job.request.csv.clone().unwrap_or_default();
    let delimiter = options
        .delimiter
        .as_deref()
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    let mut rows = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(options.header.is_none())
        .flexible(true)
        .from_reader(reader);
    let header = match options.header {
        Some(h) => h,
        None => rows
            .headers()
            .map_err(|e| Failure::new("ItemValidationError", format!("{key}: {e}")))?
            .iter()
            .map(str::to_string)
            .collect(),
    };
    let shape = CsvShape {
        header,
        key_types: &table.attribute_definitions,
    };
    for (index, row) in rows.records().enumerate() {
        let item = match row {
            Ok(row) => {
                job.processed_bytes += row.as_slice().len() as u64 + row.len() as u64;
                formats::csv_row(&shape, &row)
            }
            Err(e) => Err(e.to_string()),
        };
        put(engine, job, table, key, index, item);
    }
    Ok(())
}

/// Writes one parsed row, or counts and logs why it is not an item of the table.
fn put(
    engine: &Engine,
    job: &mut Import,
    table: &TableMeta,
    key: &str,
    index: usize,
    item: std::result::Result<Item, String>,
) {
    job.processed_items += 1;
    let written = item.and_then(|item| engine.import_item(table, item).map_err(|e| e.to_string()));
    // Progress, for DescribeImport while it runs.
    if job.processed_items.is_multiple_of(PROGRESS_EVERY) {
        if let Err(e) = super::save(engine, NAMESPACE, &job.arn, job) {
            tracing::warn!(import = %job.arn, error = %e, "cannot record the import's progress");
        }
    }
    match written {
        Ok(()) => job.imported_items += 1,
        Err(message) => {
            job.error_count += 1;
            // The shape of DynamoDB's CloudWatch entry for a row it could not import.
            let entry = json!({
                "itemS3Pointer": {"bucket": job.request.bucket, "key": key, "itemIndex": index},
                "importArn": job.arn,
                "errorMessages": [message],
            });
            tracing::warn!(log_group = LOG_GROUP, "{entry}");
        }
    }
}
