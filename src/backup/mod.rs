//! Whole-server backups, for people who run dynarock: a running server adds a backup of
//! everything it stores to a folder (`dynarock backup --to DIR`, `POST /dynarock/backup`): the
//! database, online and incremental (RocksDB's backup engine), and the functions' unpacked code,
//! each package copied once. `dynarock backups DIR` lists a folder's backups; with the server
//! stopped, `dynarock restore --from DIR --data-dir D` restores one into an empty data
//! directory. The folder holds `database/` (the backup engine's) and `code/<sha256>/`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::storage::backup::{database_backups, restore_database, DatabaseBackup};

/// The functions' code folder inside a data directory.
pub fn code_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("functions").join("code")
}

/// Adds a backup of the server to `folder`: first the code packages it does not hold yet, then
/// the database (so that no database backup names code the folder lacks).
pub fn take(engine: &Engine, data_dir: Option<&Path>, folder: &Path) -> Result<Value, String> {
    if !folder.is_absolute() {
        return Err(format!(
            "The backup folder must be an absolute path on the server's machine: {}",
            folder.display()
        ));
    }
    let code = folder.join("code");
    std::fs::create_dir_all(&code).map_err(|e| format!("cannot create {}: {e}", code.display()))?;
    let mut copied = 0;
    if let Some(source) = data_dir.map(code_dir).filter(|d| d.is_dir()) {
        for entry in read_dir(&source)? {
            let target = code.join(entry.file_name());
            if !target.exists() {
                copy_folder(&entry.path(), &target)?;
                copied += 1;
            }
        }
    }
    let database = folder.join("database");
    let backup = engine.back_up(&database).map_err(|e| e.to_string())?;
    Ok(json!({
        "BackupId": backup.id,
        "Timestamp": backup.timestamp,
        "SizeBytes": backup.size,
        "Files": backup.files,
        "CodePackagesCopied": copied,
    }))
}

/// The backups of a folder, oldest first.
pub fn list(folder: &Path) -> Result<Vec<DatabaseBackup>, String> {
    database_backups(&database_folder(folder)?).map_err(|e| e.to_string())
}

/// The backup engine's folder inside a backup folder, which must exist (opening the engine
/// would create it).
fn database_folder(folder: &Path) -> Result<PathBuf, String> {
    let database = folder.join("database");
    if !database.is_dir() {
        return Err(format!(
            "{} is not a backup folder (it has no database/ folder)",
            folder.display()
        ));
    }
    Ok(database)
}

/// Restores a backup (the latest without `id`) into `data_dir`, which must hold no database.
pub fn restore(folder: &Path, id: Option<u32>, data_dir: &Path) -> Result<(), String> {
    if data_dir.join("CURRENT").exists() {
        return Err(format!(
            "{} holds a database already: restore into an empty or new folder",
            data_dir.display()
        ));
    }
    let database = database_folder(folder)?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    restore_database(&database, id, data_dir).map_err(|e| e.to_string())?;
    let code = folder.join("code");
    if code.is_dir() {
        let target = code_dir(data_dir);
        std::fs::create_dir_all(&target)
            .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        for entry in read_dir(&code)? {
            let to = target.join(entry.file_name());
            if !to.exists() {
                copy_folder(&entry.path(), &to)?;
            }
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, String> {
    std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))
}

/// Copies a folder under a temporary name, then renames it: a crash leaves either the whole
/// folder or a `.partial` one that the next copy replaces.
fn copy_folder(from: &Path, to: &Path) -> Result<(), String> {
    let partial = to.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    copy_tree(from, &partial)?;
    std::fs::rename(&partial, to).map_err(|e| format!("cannot rename to {}: {e}", to.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for entry in read_dir(from)? {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
    }
    Ok(())
}
