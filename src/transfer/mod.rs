//! Export to S3 and import from S3, with a local folder standing in for S3: bucket `B` is the
//! folder `<s3 dir>/B`, an object key is a path under it. Files are written and read in the
//! layout and formats DynamoDB uses, so an export downloaded from AWS imports here unchanged and
//! an export made here is read by tools written for AWS's.
//!
//! Exports and imports are jobs: a record in `meta` (what Describe/List show, kept durably at
//! each change of status) and a background thread doing the work. A job under way when the
//! server stops is run again from the start at the next start.

pub mod export;
mod formats;
pub mod import;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::catalog::TableMeta;
use crate::engine::Engine;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    InProgress,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
        }
    }
}

/// Why a job failed: DynamoDB's `FailureCode` and `FailureMessage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The table a job reads or fills.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobTable {
    pub region: String,
    pub table_name: String,
    pub table_arn: String,
    /// The table's id (`TableId`): a table re-created under the name is another table.
    pub table_id: String,
}

impl JobTable {
    fn of(table: &TableMeta) -> JobTable {
        JobTable {
            region: table.region.clone(),
            table_name: table.name.clone(),
            table_arn: table.arn(),
            table_id: table.uuid.clone(),
        }
    }

    /// The table, if it still exists.
    fn find(&self, engine: &Engine) -> std::result::Result<Arc<TableMeta>, Failure> {
        engine
            .table(&self.region, &self.table_name)
            .filter(|t| t.uuid == self.table_id)
            .ok_or_else(|| {
                Failure::new(
                    "TableNotFound",
                    format!("Table not found: {}", self.table_name),
                )
            })
    }
}

/// Where a job is: what Describe shows of every export and import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub status: Status,
    pub start: f64,
    pub end: Option<f64>,
    pub failure: Option<Failure>,
}

impl Progress {
    fn started(now: f64) -> Progress {
        Progress {
            status: Status::InProgress,
            start: now,
            end: None,
            failure: None,
        }
    }

    /// Records how the job `arn` ended (a failure is logged too).
    fn ended(&mut self, arn: &str, now: f64, outcome: std::result::Result<(), Failure>) {
        self.end = Some(now);
        match outcome {
            Ok(()) => self.status = Status::Completed,
            Err(failure) => {
                tracing::error!(job = %arn, code = %failure.code, message = %failure.message, "job failed");
                self.status = Status::Failed;
                self.failure = Some(failure);
            }
        }
    }
}

/// Runs a job's work on a thread of its own.
fn spawn(what: &str, work: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(what.into()).spawn(work) {
        tracing::error!(error = %e, "cannot start an {what}");
    }
}

/// The folder standing in for a bucket, which must exist.
fn bucket_dir(engine: &Engine, bucket: &str) -> std::result::Result<PathBuf, Failure> {
    let no_bucket = || Failure::new("S3NoSuchBucket", "The specified bucket does not exist");
    let root = engine.s3_dir().ok_or_else(|| {
        Failure::new(
            "S3NoSuchBucket",
            "No folder stands in for S3: start dynarock with --s3-dir",
        )
    })?;
    // A bucket name is one path segment.
    if bucket.is_empty() || bucket.contains(['/', '\\']) || bucket == "." || bucket == ".." {
        return Err(no_bucket());
    }
    let dir = root.join(bucket);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(no_bucket())
    }
}

/// The path of object `key` in a bucket folder; `None` for a key that would leave it.
fn object_path(bucket: &Path, key: &str) -> Option<PathBuf> {
    let mut path = bucket.to_path_buf();
    for part in key.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// `<milliseconds, 14 digits>-<8 hex>`: the id ending export and import ARNs, as DynamoDB's.
fn job_id(now: f64) -> String {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{:014}-{suffix}", (now * 1000.0) as u64)
}

/// RFC 3339 in UTC with milliseconds, as the manifests write times.
fn rfc3339(epoch_seconds: f64) -> String {
    jiff::Timestamp::from_millisecond((epoch_seconds * 1000.0).round() as i64)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

/// Saves a job's record durably under its ARN.
fn save<T: Serialize>(engine: &Engine, namespace: &str, arn: &str, job: &T) -> Result<()> {
    let bytes = serde_json::to_vec(job).map_err(|e| Error::Internal(e.to_string()))?;
    engine.put_record_durably(namespace, arn.as_bytes(), Some(&bytes))
}

/// What every job has: an ARN and its progress.
pub trait Job {
    fn arn(&self) -> &str;
    fn progress(&self) -> &Progress;
}

/// Every job of a namespace, in the order they started.
fn load<T: Job + for<'de> Deserialize<'de>>(engine: &Engine, namespace: &str) -> Result<Vec<T>> {
    let mut all = engine
        .records(namespace, b"")?
        .into_iter()
        .map(|(_, v)| {
            serde_json::from_slice::<T>(&v)
                .map_err(|e| Error::Internal(format!("{namespace}: {e}")))
        })
        .collect::<Result<Vec<T>>>()?;
    all.sort_by(|a, b| {
        (a.progress().start)
            .total_cmp(&b.progress().start)
            .then(a.arn().cmp(b.arn()))
    });
    Ok(all)
}

/// Runs again the jobs a previous run left under way.
pub fn resume(engine: &Arc<Engine>) -> Result<()> {
    for job in export::all(engine)? {
        if job.progress.status == Status::InProgress {
            tracing::warn!(export = %job.arn, "export interrupted: run again");
            export::start(engine, job);
        }
    }
    let imports = import::all(engine)?;
    for job in &imports {
        if job.progress.status == Status::InProgress {
            tracing::warn!(import = %job.arn, "import interrupted: run again");
            import::start(engine, job.clone());
        }
    }
    // A table made for an import whose record was never saved (a crash in between): the import
    // never started, and its table goes.
    for table in engine.all_tables() {
        let Some(arn) = &table.importing else {
            continue;
        };
        if !imports.iter().any(|j| &j.arn == arn) {
            tracing::warn!(table = %table.name, "import never started: its table removed");
            engine.delete_table(&table.region, &table.name, |_| Ok(()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_stay_in_their_bucket() {
        let b = Path::new("/s3/bucket");
        assert_eq!(
            object_path(b, "a/b//c.json.gz"),
            Some(PathBuf::from("/s3/bucket/a/b/c.json.gz"))
        );
        assert_eq!(object_path(b, "a/../../etc"), None);
    }

    #[test]
    fn ids_and_times_are_dynamodbs() {
        let id = job_id(1_764_936_000.123);
        assert!(id.starts_with("01764936000123-") && id.len() == 23, "{id}");
        assert_eq!(rfc3339(1_764_936_000.5), "2025-12-05T12:00:00.500Z");
    }
}
