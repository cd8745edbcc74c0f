//! ExportTableToPointInTime's job: the table as of the export time (a full export) or its
//! changes in a time range (an incremental export), from point-in-time recovery, written as
//! DynamoDB writes exports:
//!
//! ```text
//! <prefix>/AWSDynamoDB/<export id>/manifest-summary.json
//! <prefix>/AWSDynamoDB/<export id>/manifest-files.json   one line per data file
//! <prefix>/AWSDynamoDB/<export id>/data/<name>.json.gz   one JSON object per line
//! ```

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::formats::Hashing;
use super::{bucket_dir, job_id, object_path, rfc3339, Failure, JobTable, Progress};
use crate::engine::catalog::TableMeta;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::storage::codec::StoredItem;

const NAMESPACE: &str = "exports";
/// Items per data file.
const FILE_ITEMS: u64 = 250_000;

/// An incremental export's range and the images it writes (`NEW_IMAGE` or
/// `NEW_AND_OLD_IMAGES`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incremental {
    pub from: f64,
    pub to: f64,
    pub view: String,
}

/// An export: what DescribeExport shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub arn: String,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(flatten)]
    pub table: JobTable,
    #[serde(flatten)]
    pub request: Request,
    pub format: String,
    pub item_count: u64,
    pub billed_bytes: u64,
    /// The key of `manifest-summary.json`, once written.
    pub manifest: Option<String>,
}

impl Export {
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }

    pub fn export_type(&self) -> &'static str {
        if self.request.incremental.is_some() {
            "INCREMENTAL_EXPORT"
        } else {
            "FULL_EXPORT"
        }
    }

    /// `<prefix>/AWSDynamoDB/<id>/`: where its files go.
    fn folder_key(&self) -> String {
        let prefix = self
            .request
            .prefix
            .as_deref()
            .unwrap_or_default()
            .trim_matches('/');
        let root = format!("AWSDynamoDB/{}", self.id());
        if prefix.is_empty() {
            root
        } else {
            format!("{prefix}/{root}")
        }
    }
}

/// What an ExportTableToPointInTime request asks, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// A full export's instant (an incremental export's `to`).
    pub export_time: f64,
    pub incremental: Option<Incremental>,
    pub bucket: String,
    pub bucket_owner: Option<String>,
    pub prefix: Option<String>,
    pub sse_algorithm: Option<String>,
    pub kms_key: Option<String>,
    pub client_token: String,
}

pub fn all(engine: &Engine) -> Result<Vec<Export>> {
    super::load(engine, NAMESPACE)
}

impl super::Job for Export {
    fn arn(&self) -> &str {
        &self.arn
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

/// Records an export (IN_PROGRESS) and starts it; an export with the same client token is
/// returned as it is.
pub fn begin(engine: &Arc<Engine>, table: &TableMeta, request: Request) -> Result<Export> {
    if let Some(same) = all(engine)?.into_iter().find(|e| {
        e.request.client_token == request.client_token && e.table.table_arn == table.arn()
    }) {
        return Ok(same);
    }
    let now = engine.clock.epoch_seconds();
    let job = Export {
        arn: format!("{}/export/{}", table.arn(), job_id(now)),
        progress: Progress::started(now),
        table: JobTable::of(table),
        request,
        format: "DYNAMODB_JSON".into(),
        item_count: 0,
        billed_bytes: 0,
        manifest: None,
    };
    super::save(engine, NAMESPACE, &job.arn, &job)?;
    start(engine, job.clone());
    Ok(job)
}

/// Runs an export in the background and records how it ended.
pub fn start(engine: &Arc<Engine>, mut job: Export) {
    let engine = Arc::clone(engine);
    super::spawn("export", move || {
        let outcome = run(&engine, &mut job);
        let now = engine.clock.epoch_seconds();
        job.progress.ended(&job.arn, now, outcome);
        if let Err(e) = super::save(&engine, NAMESPACE, &job.arn, &job) {
            tracing::error!(export = %job.arn, error = %e, "cannot record the export's end");
        }
    });
}

fn run(engine: &Engine, job: &mut Export) -> std::result::Result<(), Failure> {
    let bucket = bucket_dir(engine, &job.request.bucket)?;
    let table = job.table.find(engine)?;
    let internal = |e: Error| Failure::new("UNKNOWN", e.to_string());
    let io = |e: std::io::Error| Failure::new("S3AccessDenied", e.to_string());
    let folder_key = job.folder_key();
    let folder = object_path(&bucket, &folder_key)
        .ok_or_else(|| Failure::new("S3InvalidKey", "The S3 prefix is not a valid key"))?;
    fs::create_dir_all(folder.join("data")).map_err(io)?;
    let mut files = DataFiles::new(&folder, &folder_key);
    match job.request.incremental.clone() {
        None => {
            engine
                .items_at(&table, job.request.export_time, |bytes| {
                    job.billed_bytes += bytes.len() as u64;
                    let mut line = b"{\"Item\":".to_vec();
                    StoredItem::new(bytes.to_vec()).write_json(&mut line)?;
                    line.extend_from_slice(b"}\n");
                    files.write(&line).map_err(Error::from)
                })
                .map_err(internal)?;
        }
        Some(range) => {
            for changed in engine
                .changes_between(&table, range.from, range.to)
                .map_err(internal)?
            {
                let line = change_line(&table, &changed, &range.view).map_err(internal)?;
                job.billed_bytes += line.len() as u64;
                files.write(&line).map_err(io)?;
            }
        }
    }
    let listed = files.finish().map_err(io)?;
    job.item_count = listed.iter().map(|f| f.items).sum();
    let manifest_files: String = listed
        .iter()
        .map(|f| {
            json!({"itemCount": f.items, "md5Checksum": f.md5, "etag": f.etag,
                   "dataFileS3Key": f.key})
            .to_string()
                + "\n"
        })
        .collect();
    write_synced(
        &folder.join("manifest-files.json"),
        manifest_files.as_bytes(),
    )
    .map_err(io)?;
    job.progress.end = Some(engine.clock.epoch_seconds());
    let summary = summary(job, &folder_key);
    write_synced(
        &folder.join("manifest-summary.json"),
        summary.to_string().as_bytes(),
    )
    .map_err(io)?;
    job.manifest = Some(format!("{folder_key}/manifest-summary.json"));
    Ok(())
}

/// Writes a file and waits until it is on disk: a COMPLETED export's files survive a crash.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// An incremental export's line: when the item last changed, its keys, its image at the end of
/// the range and (`NEW_AND_OLD_IMAGES`) at the start.
fn change_line(
    table: &TableMeta,
    changed: &crate::engine::history::Changed,
    view: &str,
) -> Result<Vec<u8>> {
    let decode = |b: &Option<Vec<u8>>| {
        b.as_ref()
            .map(|b| StoredItem::new(b.clone()).decode())
            .transpose()
    };
    let (before, after) = (decode(&changed.before)?, decode(&changed.after)?);
    let any = after
        .as_ref()
        .or(before.as_ref())
        .ok_or_else(|| Error::Internal("a change without images".into()))?;
    let mut line = json!({
        "Metadata": {"WriteTimestampMicros": {"N": changed.micros.to_string()}},
        "Keys": table.key_schema.key_item(any),
    });
    if let Some(a) = &after {
        line["NewImage"] = serde_json::to_value(a).map_err(|e| Error::Internal(e.to_string()))?;
    }
    if let (Some(b), "NEW_AND_OLD_IMAGES") = (&before, view) {
        line["OldImage"] = serde_json::to_value(b).map_err(|e| Error::Internal(e.to_string()))?;
    }
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    Ok(bytes)
}

fn summary(job: &Export, folder_key: &str) -> Value {
    let mut s = json!({
        "version": "2020-06-30",
        "exportArn": job.arn,
        "startTime": rfc3339(job.progress.start),
        "endTime": rfc3339(job.progress.end.unwrap_or(job.progress.start)),
        "tableArn": job.table.table_arn,
        "tableId": job.table.table_id,
        "exportTime": rfc3339(job.request.export_time),
        "s3Bucket": job.request.bucket,
        "s3Prefix": job.request.prefix,
        "s3SseAlgorithm": job.request.sse_algorithm.as_deref().unwrap_or("AES256"),
        "s3SseKmsKeyId": job.request.kms_key,
        "manifestFilesS3Key": format!("{folder_key}/manifest-files.json"),
        "billedSizeBytes": job.billed_bytes,
        "itemCount": job.item_count,
        "outputFormat": job.format,
        "outputView": job.request.incremental.as_ref().map(|i| i.view.as_str()),
        "exportType": job.export_type(),
    });
    if let Some(i) = &job.request.incremental {
        s["exportFromTime"] = json!(rfc3339(i.from));
        s["exportToTime"] = json!(rfc3339(i.to));
    }
    s
}

/// One data file written: its key, item count and MD5 (hex ETag and base64 checksum).
struct Listed {
    key: String,
    items: u64,
    etag: String,
    md5: String,
}

/// The data file being written.
struct OpenFile {
    key: String,
    path: PathBuf,
    items: u64,
    gz: GzEncoder<Hashing<BufWriter<File>>>,
}

/// The gzip'd data files of an export, a new one every `FILE_ITEMS` lines.
struct DataFiles<'a> {
    folder: &'a Path,
    folder_key: &'a str,
    open: Option<OpenFile>,
    done: Vec<Listed>,
}

impl<'a> DataFiles<'a> {
    fn new(folder: &'a Path, folder_key: &'a str) -> Self {
        DataFiles {
            folder,
            folder_key,
            open: None,
            done: Vec::new(),
        }
    }

    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.open.as_ref().is_some_and(|f| f.items >= FILE_ITEMS) {
            self.close()?;
        }
        let file = match self.open.take() {
            Some(f) => f,
            None => {
                let name = format!("data/{}.json.gz", uuid::Uuid::new_v4().simple());
                let path = self.folder.join(&name);
                let out = Hashing::new(BufWriter::new(File::create(&path)?));
                OpenFile {
                    key: format!("{}/{name}", self.folder_key),
                    path,
                    items: 0,
                    gz: GzEncoder::new(out, flate2::Compression::fast()),
                }
            }
        };
        let file = self.open.insert(file);
        file.gz.write_all(line)?;
        file.items += 1;
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.open.take() {
            let (etag, md5) = f.gz.finish()?.finish()?;
            File::open(&f.path)?.sync_all()?;
            self.done.push(Listed {
                key: f.key,
                items: f.items,
                etag,
                md5,
            });
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<Vec<Listed>> {
        self.close()?;
        Ok(self.done)
    }
}
