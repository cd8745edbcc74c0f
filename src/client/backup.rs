//! `dynarock backup`, `dynarock backups` and `dynarock restore` (see `crate::backup`).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::Endpoint;
use crate::config::{BackupArgs, BackupsArgs, RestoreArgs};

/// A spinner with the elapsed time while `work` runs: neither the server nor RocksDB's backup
/// engine reports how far a backup or restore has come.
fn with_spinner<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(what.to_string());
    spinner.enable_steady_tick(Duration::from_millis(100));
    let done = work();
    spinner.finish_and_clear();
    done
}

pub fn take(args: &BackupArgs) -> Result<(), String> {
    let to = std::path::absolute(&args.to)
        .map_err(|e| format!("cannot resolve {}: {e}", args.to.display()))?;
    let endpoint = Endpoint::new(&args.server.at.endpoint, &args.server.region);
    let body = json!({"To": to});
    let taken = with_spinner(&format!("backing up to {}", to.display()), || {
        endpoint.rest("POST", "/dynarock/backup", "dynamodb", &body)
    })
    .map_err(|e| format!("backup failed: {e}"))?;
    println!(
        "backup {} added to {}: {} in {} files ({} new code packages)",
        taken["BackupId"],
        to.display(),
        size(taken["SizeBytes"].as_u64().unwrap_or(0)),
        taken["Files"],
        taken["CodePackagesCopied"]
    );
    Ok(())
}

pub fn list(args: &BackupsArgs) -> Result<(), String> {
    let backups = crate::backup::list(&args.folder)?;
    if backups.is_empty() {
        println!("no backups in {}", args.folder.display());
        return Ok(());
    }
    println!(
        "{:>4}  {:<20}  {:>10}  {:>6}",
        "ID", "TAKEN (UTC)", "SIZE", "FILES"
    );
    for b in backups {
        let taken = jiff::Timestamp::from_second(b.timestamp)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        println!(
            "{:>4}  {taken:<20}  {:>10}  {:>6}",
            b.id,
            size(b.size),
            b.files
        );
    }
    Ok(())
}

pub fn restore(args: &RestoreArgs) -> Result<(), String> {
    with_spinner(
        &format!("restoring into {}", args.data_dir.display()),
        || crate::backup::restore(&args.from, args.backup_id, &args.data_dir),
    )?;
    println!(
        "restored {} into {}: start the server with --data-dir {}",
        args.backup_id
            .map_or("the latest backup".to_string(), |id| format!("backup {id}")),
        args.data_dir.display(),
        args.data_dir.display()
    );
    Ok(())
}

fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
