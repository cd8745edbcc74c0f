//! On-demand backups and restores. A backup is the table as of one instant: its items, index
//! entries and item-collection sizes, read from a snapshot on a background thread (writes go
//! on) and copied as one ingested file into the `backups` column family, where it outlives the
//! table. A restore creates the new table (CREATING) and copies the backup's entries under the
//! new table's ids the same way; indexes the restore redefines are backfilled instead. Records
//! of both live in `meta`; a restart takes again a backup that was CREATING and restores again a
//! table whose restore had not finished, so each ends complete.

use std::sync::mpsc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::catalog::{collection_key, counter_key, IndexMeta, TableMeta};
use super::history::PointInTime;
use super::Engine;
use crate::error::{Error, Result};
use crate::storage::copy::{RangeCopy, Snapshot};
use crate::storage::{decode_counter, encode_counter, keys, Batch, Cf};

const BACKUP_PREFIX: &[u8] = b"b\x00";

/// The part of a backup holding item-collection sizes (parts 1..=n are its indexes).
const COLLECTIONS: u8 = 0xFF;
/// Where a collection key's table id starts (after `collection_key`'s own prefix).
const COLLECTION_ID_AT: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupStatus {
    Creating,
    Available,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Creating => "CREATING",
            BackupStatus::Available => "AVAILABLE",
        }
    }
}

/// One backup: what DescribeBackup shows, and where its copy lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// Its entries' key prefix in `backups`.
    pub id: u32,
    pub arn: String,
    pub name: String,
    pub status: BackupStatus,
    pub created: f64,
    /// The source table's definition when the backup was taken.
    pub table: TableMeta,
    /// The table's item count and size, and each index's (in `table.indexes()` order), at the
    /// backup's instant.
    pub items: i64,
    pub bytes: i64,
    pub index_usage: Vec<(i64, i64)>,
    /// Set on the snapshot a restore to a point in time starts from (never listed).
    #[serde(default)]
    pub point: Option<PointInTime>,
}

/// A restore's progress, shown as the table's `RestoreSummary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub backup_arn: String,
    pub source_table_arn: String,
    pub date: f64,
    pub in_progress: bool,
    /// A restore to a point in time (`date`), rather than from a backup.
    #[serde(default)]
    pub point_in_time: bool,
}

fn backup_key(arn: &str) -> Vec<u8> {
    let mut k = BACKUP_PREFIX.to_vec();
    k.extend_from_slice(arn.as_bytes());
    k
}

fn part_prefix(backup: u32, part: u8) -> Vec<u8> {
    let mut p = backup.to_be_bytes().to_vec();
    p.push(part);
    p
}

/// The backup's whole key range in `backups`.
fn backup_range(backup: u32) -> (Vec<u8>, Vec<u8>) {
    keys::id_range(backup)
}

/// DynamoDB's backup ARN: the table's, `/backup/`, the creation time in milliseconds and a
/// random suffix.
fn backup_arn(table: &TableMeta, created: f64) -> String {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!(
        "{}/backup/{:014}-{suffix}",
        table.arn(),
        (created * 1000.0) as u64
    )
}

impl Engine {
    /// Adds a backup of the whole database to a backup engine folder (`crate::backup`).
    pub fn back_up(
        &self,
        folder: &std::path::Path,
    ) -> Result<crate::storage::backup::DatabaseBackup> {
        self.store.back_up(folder)
    }

    /// Every backup, in creation order.
    pub fn backups(&self) -> Result<Vec<Backup>> {
        let mut all = self
            .store
            .scan_prefix(Cf::Meta, BACKUP_PREFIX)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice::<Backup>(&v)
                    .map_err(|e| Error::Internal(format!("backup record: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.arn.cmp(&b.arn)));
        Ok(all)
    }

    pub fn backup(&self, arn: &str) -> Result<Option<Backup>> {
        self.store
            .get(Cf::Meta, &backup_key(arn))?
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| Error::Internal(format!("backup record: {e}")))
            })
            .transpose()
    }

    fn save_backup(&self, batch: &mut Batch, backup: &Backup) -> Result<()> {
        let bytes = serde_json::to_vec(backup).map_err(|e| Error::Internal(e.to_string()))?;
        self.store
            .put(batch, Cf::Meta, &backup_key(&backup.arn), &bytes)
    }

    /// Starts a backup of a table and returns it (CREATING) once its instant is fixed: what was
    /// acknowledged before this call is in it, what is written after is not.
    pub fn create_backup(
        self: &Arc<Self>,
        region: &str,
        table: &str,
        name: &str,
    ) -> Result<Backup> {
        let change = self.catalog.begin();
        let meta = change
            .get(region, table)
            .ok_or_else(|| Error::TableNotFound(format!("Table not found: {table}")))?;
        if meta.filling() {
            return Err(Error::TableInUse(format!(
                "Table is being restored, and cannot be backed up: {table}"
            )));
        }
        let backup = self.new_backup(&change, &meta, name, None)?;
        drop(change);
        let (taken, instant) = mpsc::sync_channel(1);
        let record = backup.clone();
        self.in_background(format!("backup-{table}"), move |engine| {
            engine.take_backup(record, Some(taken)).map(drop)
        });
        // The snapshot is the backup's instant: the answer waits for it (microseconds).
        instant
            .recv()
            .map_err(|_| Error::Internal("the backup could not start".into()))?;
        Ok(backup)
    }

    /// Records a new backup of `table`, CREATING.
    fn new_backup(
        &self,
        change: &super::catalog::CatalogChange<'_>,
        table: &TableMeta,
        name: &str,
        point: Option<PointInTime>,
    ) -> Result<Backup> {
        let mut batch = Batch::default();
        let id = change.allocate_ids(&self.store, &mut batch, 1)?;
        let created = self.clock.epoch_seconds();
        let backup = Backup {
            id,
            arn: backup_arn(table, created),
            name: name.to_string(),
            status: BackupStatus::Creating,
            created,
            table: table.clone(),
            items: 0,
            bytes: 0,
            index_usage: Vec::new(),
            point,
        };
        self.save_backup(&mut batch, &backup)?;
        self.store.write(batch)?;
        Ok(backup)
    }

    /// Copies a table, as of a snapshot taken now, into the backup, and marks it AVAILABLE.
    fn take_backup(
        &self,
        mut backup: Backup,
        taken: Option<mpsc::SyncSender<()>>,
    ) -> Result<Backup> {
        yield_to_requests();
        let (snapshot, seq) = self.at_sequence(|seq| (self.store.snapshot(), seq));
        if let Some(point) = backup.point.as_mut() {
            point.seq = seq;
        }
        if let Some(taken) = taken {
            let _ = taken.send(());
        }
        let table = &backup.table;
        let (from, to) = keys::id_range(table.id);
        let mut ranges = vec![RangeCopy {
            from: Cf::Items,
            lower: from.clone(),
            upper: to.clone(),
            strip: 4,
            prefix: part_prefix(backup.id, 0),
        }];
        for (i, index) in table.indexes().enumerate() {
            let (lower, upper) = keys::id_range(index.id);
            ranges.push(RangeCopy {
                from: Cf::Indexes,
                lower,
                upper,
                strip: 4,
                prefix: part_prefix(backup.id, 1 + i as u8),
            });
        }
        if !table.local_indexes.is_empty() {
            ranges.push(RangeCopy {
                from: Cf::Meta,
                lower: collection_key(&from),
                upper: collection_key(&to),
                strip: COLLECTION_ID_AT + 4,
                prefix: part_prefix(backup.id, COLLECTIONS),
            });
        }
        let copied = self.store.copy(Some(&snapshot), &ranges, Cf::Backups)?;
        let usage = |s: &Snapshot, id: u32| -> Result<(i64, i64)> {
            Ok(s.get(Cf::Meta, &counter_key(id))?
                .map(|v| decode_counter(&v))
                .unwrap_or((0, 0)))
        };
        (backup.items, backup.bytes) = usage(&snapshot, table.id)?;
        backup.index_usage = table
            .indexes()
            .map(|i| usage(&snapshot, i.id))
            .collect::<Result<_>>()?;
        drop(snapshot);
        backup.status = BackupStatus::Available;
        let mut batch = Batch::default();
        self.save_backup(&mut batch, &backup)?;
        // Lost in a crash, the backup would be taken again at a later instant.
        self.store.write_durably(batch)?;
        tracing::info!(
            backup = %backup.arn,
            items = backup.items,
            entries = copied.entries,
            "backup available"
        );
        Ok(backup)
    }

    /// Deletes an AVAILABLE backup; returns it.
    pub fn delete_backup(&self, arn: &str) -> Result<Backup> {
        let _change = self.catalog.begin();
        let backup = self.backup(arn)?.ok_or_else(|| backup_not_found(arn))?;
        if backup.status == BackupStatus::Creating || self.restoring_from(arn) {
            return Err(backup_in_use());
        }
        self.remove_backup(&backup)?;
        Ok(backup)
    }

    fn remove_backup(&self, backup: &Backup) -> Result<()> {
        let mut batch = Batch::default();
        self.store
            .delete(&mut batch, Cf::Meta, &backup_key(&backup.arn))?;
        self.store.write(batch)?;
        let (from, to) = backup_range(backup.id);
        if !self.store.is_empty(Cf::Backups, &from, &to)? {
            self.store.delete_range(Cf::Backups, &from, &to)?;
        }
        Ok(())
    }

    fn restoring_from(&self, arn: &str) -> bool {
        self.catalog.all().iter().any(|t| {
            t.restore
                .as_ref()
                .is_some_and(|r| r.in_progress && r.backup_arn == arn)
        })
    }

    /// Creates `target` (a definition made from the backup's, under its new name) and fills it
    /// from the backup in the background; the table is CREATING until then.
    pub fn restore_table(
        self: &Arc<Self>,
        backup: &Backup,
        mut target: TableMeta,
        concurrent_limit: usize,
    ) -> Result<Arc<TableMeta>> {
        if backup.status != BackupStatus::Available {
            return Err(backup_in_use());
        }
        self.check_restore(&target, concurrent_limit)?;
        target.restore = Some(RestoreSummary {
            backup_arn: backup.arn.clone(),
            source_table_arn: backup.table.arn(),
            date: self.clock.epoch_seconds(),
            in_progress: true,
            point_in_time: false,
        });
        let created = self.create_restored(backup, target)?;
        // A DeleteBackup between the check above and the table's creation: the table, now
        // listed as restoring from the backup, keeps any later one from deleting it.
        if self.backup(&backup.arn)?.is_none() {
            self.delete_table(&created.region, &created.name, |_| Ok(()))?;
            return Err(backup_not_found(&backup.arn));
        }
        self.start_restore(&created, backup.clone());
        Ok(created)
    }

    /// Creates `target` as `source` was at `time` (within its PITR window): the restore copies a
    /// snapshot of `source` taken when it starts, then puts back the items changed since `time`
    /// (`history`).
    pub fn restore_to_point_in_time(
        self: &Arc<Self>,
        source: &TableMeta,
        time: f64,
        mut target: TableMeta,
        concurrent_limit: usize,
    ) -> Result<Arc<TableMeta>> {
        self.check_restore(&target, concurrent_limit)?;
        let point = PointInTime { time, seq: 0 };
        let backup = {
            let change = self.catalog.begin();
            self.new_backup(&change, source, "point-in-time restore", Some(point))?
        };
        target.restore = Some(RestoreSummary {
            backup_arn: backup.arn.clone(),
            source_table_arn: source.arn(),
            date: time,
            in_progress: true,
            point_in_time: true,
        });
        let created = self
            .create_restored(&backup, target)
            .or_else(|e| self.remove_backup(&backup).and(Err(e)))?;
        self.start_restore(&created, backup);
        Ok(created)
    }

    fn check_restore(&self, target: &TableMeta, concurrent_limit: usize) -> Result<()> {
        let underway = self.catalog.all().iter().filter(|t| t.restoring()).count();
        if underway >= concurrent_limit {
            return Err(Error::LimitExceeded(format!(
                "There is a limit of {concurrent_limit} concurrent table restores in progress"
            )));
        }
        if self.table(&target.region, &target.name).is_some() {
            return Err(Error::TableAlreadyExists(format!(
                "Table already exists: {}",
                target.name
            )));
        }
        Ok(())
    }

    /// Creates a restore's table, CREATING; global indexes it redefines are to be built from
    /// the restored items.
    fn create_restored(&self, backup: &Backup, mut target: TableMeta) -> Result<Arc<TableMeta>> {
        for index in target.global_indexes.iter_mut() {
            index.backfilling = !backup.table.indexes().any(|old| same_index(old, index));
        }
        self.create_table(target)
    }

    fn start_restore(self: &Arc<Self>, table: &TableMeta, backup: Backup) {
        let (region, name) = (table.region.clone(), table.name.clone());
        // The restore starts index backfills, which need the engine itself.
        let engine = Arc::clone(self);
        self.in_background(format!("restore-{name}"), move |_| {
            engine.fill_from_backup(&region, &name, &backup)
        });
    }

    /// Restarts what a previous run left unfinished: backups still CREATING are taken again
    /// (their table as it is now), restores are started over.
    pub fn resume_backups(self: &Arc<Self>) -> Result<()> {
        for backup in self.backups()? {
            // A point-in-time restore's snapshot is its restore's to take, and to drop after.
            if backup.point.is_some() {
                if !self.restoring_from(&backup.arn) {
                    self.remove_backup(&backup)?;
                }
                continue;
            }
            if backup.status != BackupStatus::Creating {
                continue;
            }
            let (from, to) = backup_range(backup.id);
            self.store.delete_range(Cf::Backups, &from, &to)?;
            match self.table(&backup.table.region, &backup.table.name) {
                Some(table) if table.id == backup.table.id => {
                    tracing::warn!(backup = %backup.arn, "backup interrupted: taken again");
                    let engine = Arc::clone(self);
                    self.in_background(format!("backup-{}", table.name), move |_| {
                        engine.take_backup(backup, None).map(drop)
                    });
                }
                _ => {
                    tracing::error!(backup = %backup.arn, "backup interrupted and its table is gone: removed");
                    let mut batch = Batch::default();
                    self.store
                        .delete(&mut batch, Cf::Meta, &backup_key(&backup.arn))?;
                    self.store.write(batch)?;
                }
            }
        }
        for table in self.catalog.all() {
            let Some(summary) = table.restore.as_ref().filter(|r| r.in_progress) else {
                continue;
            };
            match self.backup(&summary.backup_arn)? {
                Some(backup) => {
                    tracing::warn!(table = %table.name, "restore interrupted: started over");
                    self.start_restore(&table, backup);
                }
                None => {
                    tracing::error!(table = %table.name, "restore interrupted and its backup is gone");
                }
            }
        }
        Ok(())
    }

    /// Copies a backup's entries under the restored table's ids (after clearing whatever an
    /// interrupted attempt left), sets its counters, and makes it ACTIVE; indexes that differ
    /// from the backup's are backfilled.
    fn fill_from_backup(self: &Arc<Self>, region: &str, name: &str, backup: &Backup) -> Result<()> {
        yield_to_requests();
        let Some(table) = self.table(region, name) else {
            return Ok(());
        };
        let backup = &match backup.status {
            // A point-in-time restore's snapshot, taken now (again, after a crash).
            BackupStatus::Creating => {
                let (from, to) = backup_range(backup.id);
                if !self.store.is_empty(Cf::Backups, &from, &to)? {
                    self.store.delete_range(Cf::Backups, &from, &to)?;
                }
                self.take_backup(backup.clone(), None)?
            }
            BackupStatus::Available => backup.clone(),
        };
        let (from, to) = keys::id_range(table.id);
        let mut ranges = vec![(Cf::Items, from.clone(), to.clone())];
        for index in table.indexes() {
            let (lower, upper) = keys::id_range(index.id);
            ranges.push((Cf::Indexes, lower, upper));
        }
        if !table.local_indexes.is_empty() {
            ranges.push((Cf::Meta, collection_key(&from), collection_key(&to)));
        }
        // What an interrupted attempt copied. A first attempt finds nothing, and deletes
        // nothing: a range deletion would flush and compact what the range overlaps.
        for (cf, lower, upper) in ranges {
            if !self.store.is_empty(cf, &lower, &upper)? {
                self.store.delete_range(cf, &lower, &upper)?;
            }
        }
        // Part `n` of the backup, its keys under `prefix`, into `to`.
        let copy_part = |n: u8, prefix: Vec<u8>, to: Cf| -> Result<()> {
            let lower = part_prefix(backup.id, n);
            let mut upper = lower.clone();
            crate::storage::increment(&mut upper);
            let range = RangeCopy {
                from: Cf::Backups,
                lower,
                upper,
                strip: 5,
                prefix,
            };
            self.store.copy(None, &[range], to).map(|_| ())
        };
        copy_part(0, table.id.to_be_bytes().to_vec(), Cf::Items)?;
        let mut counters = Batch::default();
        let set = |batch: &mut Batch, id: u32, (items, bytes): (i64, i64)| -> Result<()> {
            self.store.delete(batch, Cf::Meta, &counter_key(id))?;
            self.store.merge(
                batch,
                Cf::Meta,
                &counter_key(id),
                &encode_counter(items, bytes),
            )
        };
        set(&mut counters, table.id, (backup.items, backup.bytes))?;
        for index in table.indexes() {
            let source = backup
                .table
                .indexes()
                .enumerate()
                .find(|(_, old)| same_index(old, index));
            let Some((ordinal, _)) = source else {
                continue;
            };
            copy_part(
                1 + ordinal as u8,
                index.id.to_be_bytes().to_vec(),
                Cf::Indexes,
            )?;
            let usage = backup.index_usage.get(ordinal).copied().unwrap_or((0, 0));
            set(&mut counters, index.id, usage)?;
        }
        if !table.local_indexes.is_empty() {
            let mut prefix = collection_key(&[]);
            prefix.extend_from_slice(&table.id.to_be_bytes());
            copy_part(COLLECTIONS, prefix, Cf::Meta)?;
        }
        self.store.write(counters)?;
        if let Some(point) = &backup.point {
            let changed = self.put_back(&table, &backup.table, point)?;
            tracing::info!(
                table = name,
                changed,
                "items put back to their point-in-time images"
            );
        }
        let change = self.catalog.begin();
        let Some(current) = change.get(region, name).filter(|t| t.id == table.id) else {
            return Ok(());
        };
        let mut meta = (*current).clone();
        if let Some(r) = meta.restore.as_mut() {
            r.in_progress = false;
        }
        let saved = change.save(&self.store, Batch::default(), meta)?;
        for index in saved.global_indexes.iter().filter(|i| i.backfilling) {
            self.start_backfill(&saved, index.id);
        }
        if backup.point.is_some() {
            self.remove_backup(backup)?;
        }
        tracing::info!(table = name, backup = %backup.arn, "restore finished");
        Ok(())
    }
}

/// Lowers the calling thread's CPU priority to the least (nice 19): a copy takes whatever CPU the
/// requests leave, rather than half of it.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (its kernel thread id) changes nothing else.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 19);
    }
}

/// Whether a restored table's index is the backup's, entry for entry.
fn same_index(old: &IndexMeta, new: &IndexMeta) -> bool {
    old.name == new.name && old.key_schema == new.key_schema && old.projection == new.projection
}

pub fn backup_not_found(arn: &str) -> Error {
    Error::BackupNotFound(format!("Backup not found for the given BackupARN: {arn}"))
}

fn backup_in_use() -> Error {
    Error::BackupInUse(
        "There is another ongoing conflicting backup control plane operation on the table. The backup is either being created, deleted or restored to a table.".into(),
    )
}

impl Backup {
    /// Whether the backup is the user's (listed, described, deletable, restorable).
    pub fn listed(&self) -> bool {
        self.point.is_none()
    }
}

impl TableMeta {
    /// A restored table whose items are still being copied in (CREATING).
    pub fn restoring(&self) -> bool {
        self.restore.as_ref().is_some_and(|r| r.in_progress)
    }

    /// A table still being filled by a restore or an import: CREATING, its items not served.
    pub fn filling(&self) -> bool {
        self.restoring() || self.importing.is_some()
    }
}
