//! Whole-database backups with RocksDB's backup engine: online (after a flush, while writes go
//! on), incremental (a backup folder shares the files its backups have in common), restored
//! into an empty data directory.

use std::path::Path;

use rocksdb::backup::{BackupEngine, BackupEngineOptions, RestoreOptions};
use rocksdb::Env;

use super::Store;
use crate::error::{Error, Result};

/// One whole-database backup in a backup folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseBackup {
    pub id: u32,
    /// Epoch seconds.
    pub timestamp: i64,
    /// Bytes of its files (shared with other backups of the folder).
    pub size: u64,
    pub files: u32,
}

fn engine_at(folder: &Path) -> Result<BackupEngine> {
    let options = BackupEngineOptions::new(folder)?;
    Ok(BackupEngine::open(&options, &Env::new()?)?)
}

fn listed(engine: &BackupEngine) -> Vec<DatabaseBackup> {
    engine
        .get_backup_info()
        .into_iter()
        .map(|b| DatabaseBackup {
            id: b.backup_id,
            timestamp: b.timestamp,
            size: b.size,
            files: b.num_files,
        })
        .collect()
}

/// The database backups of a folder, oldest first.
pub fn database_backups(folder: &Path) -> Result<Vec<DatabaseBackup>> {
    Ok(listed(&engine_at(folder)?))
}

/// Restores a database backup (the latest without `id`) into `data_dir`, which must hold no
/// database.
pub fn restore_database(folder: &Path, id: Option<u32>, data_dir: &Path) -> Result<()> {
    let mut engine = engine_at(folder)?;
    let options = RestoreOptions::default();
    match id {
        Some(id) => engine.restore_from_backup(data_dir, data_dir, &options, id)?,
        None => engine.restore_from_latest_backup(data_dir, data_dir, &options)?,
    }
    Ok(())
}

impl Store {
    /// Adds a backup of the whole database to `folder` (RocksDB's backup engine: files already
    /// in the folder are shared, so each backup copies only what changed), taken online after a
    /// flush; returns it.
    pub fn back_up(&self, folder: &Path) -> Result<DatabaseBackup> {
        if !self.persistent {
            return Err(Error::validation(
                "An in-memory server has no database files to back up",
            ));
        }
        let mut engine = engine_at(folder)?;
        self.db.flush_wal(true)?;
        engine.create_new_backup_flush(&*self.db, true)?;
        listed(&engine)
            .pop()
            .ok_or_else(|| Error::Internal("the backup engine lists no backup".into()))
    }
}
