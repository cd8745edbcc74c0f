//! A function's code as Lambda takes it: a zip of its `CodeUri` folder, with the packages of a
//! `requirements.txt` beside it installed into the zip as `sam build` does. The zip is the same
//! bytes for the same files (entries sorted, one fixed time), so its SHA-256 tells a redeploy
//! whether the code changed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// A zip and its SHA-256 in base64 (Lambda's `CodeSha256`).
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256: String,
}

impl Package {
    fn of(zip: Vec<u8>) -> Package {
        let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
        Package { zip, sha256 }
    }
}

/// Files under `dir`, as (path in the zip, path on disk), sorted; caches left out.
fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "__pycache__" || name == ".git" || name.ends_with(".pyc") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Zips `folders` into one archive (a later folder's file wins over an earlier one's).
fn zip_folders(folders: &[PathBuf]) -> Result<Vec<u8>, String> {
    let mut all = std::collections::BTreeMap::new();
    for folder in folders {
        for (name, path) in files(folder)? {
            all.insert(name, path);
        }
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, path) in all {
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mode = file_mode(&path);
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(mode);
        writer
            .start_file(name.as_str(), options)
            .and_then(|_| writer.write_all(&data).map_err(Into::into))
            .map_err(|e| format!("cannot zip {name}: {e}"))?;
    }
    writer
        .finish()
        .map(|c| c.into_inner())
        .map_err(|e| format!("cannot finish the zip: {e}"))
}

fn file_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            return if m.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
        }
    }
    0o644
}

/// The code of `folder`; with `build`, its `requirements.txt` installed beside it for the
/// function's `runtime`.
pub fn folder(folder: &Path, build: bool, runtime: &str) -> Result<Package, String> {
    if !folder.is_dir() {
        return Err(format!("CodeUri {} is not a folder", folder.display()));
    }
    let mut folders = Vec::new();
    let requirements = folder.join("requirements.txt");
    if build && requirements.is_file() {
        folders.push(install_requirements(&requirements, runtime)?);
    }
    folders.push(folder.to_path_buf());
    Ok(Package::of(zip_folders(&folders)?))
}

/// Inline code (`InlineCode`, `Code.ZipFile`): one file named as CloudFormation names it.
pub fn inline(source: &str, runtime: &str) -> Result<Package, String> {
    let name = if runtime.starts_with("nodejs") {
        "index.js"
    } else {
        "index.py"
    };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
    writer
        .start_file(name, options)
        .and_then(|_| writer.write_all(source.as_bytes()).map_err(Into::into))
        .map_err(|e| format!("cannot zip inline code: {e}"))?;
    let zip = writer
        .finish()
        .map(|c| c.into_inner())
        .map_err(|e| format!("cannot finish the zip: {e}"))?;
    Ok(Package::of(zip))
}

/// The Python that runs a function of `runtime` here (as the server chooses: `python3.12` when
/// the machine has it, else `python3`), so compiled packages match it.
fn python_for(runtime: &str) -> String {
    if let Ok(p) = std::env::var("DYNAROCK_PYTHON") {
        return p;
    }
    let runs = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runtime.starts_with("python") && runs(runtime) {
        runtime.to_string()
    } else {
        "python3".to_string()
    }
}

/// Installs `requirements` with pip into a folder kept per file content and interpreter
/// (under the user's cache), so a redeploy with the same requirements installs nothing.
fn install_requirements(requirements: &Path, runtime: &str) -> Result<PathBuf, String> {
    let text = std::fs::read(requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let python = python_for(runtime);
    let version = Command::new(&python)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let key = hex(&Sha256::digest([&text[..], version.as_bytes()].concat())[..8]);
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("dynarock")
        .join("requirements");
    let target = cache.join(&key);
    if target.join(".complete").is_file() {
        return Ok(target);
    }
    let partial = cache.join(format!("{key}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    eprintln!("installing {} ...", requirements.display());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .arg("-t")
        .arg(&partial)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    if !status.success() {
        return Err(format!(
            "pip could not install {} ({status})",
            requirements.display()
        ));
    }
    std::fs::write(partial.join(".complete"), b"").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&partial, &target).map_err(|e| e.to_string())?;
    Ok(target)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_files_give_the_same_zip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/__pycache__")).unwrap();
        std::fs::write(dir.path().join("app.py"), "def handler(e, c): return 1\n").unwrap();
        std::fs::write(dir.path().join("pkg/mod.py"), "X = 1\n").unwrap();
        std::fs::write(dir.path().join("pkg/__pycache__/mod.pyc"), "junk").unwrap();
        let a = folder(dir.path(), false, "python3.12").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = folder(dir.path(), false, "python3.12").unwrap();
        assert_eq!(a.sha256, b.sha256);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a.zip)).unwrap();
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(archive.by_name("pkg/mod.py").is_ok());
        std::fs::write(dir.path().join("app.py"), "def handler(e, c): return 2\n").unwrap();
        assert_ne!(
            folder(dir.path(), false, "python3.12").unwrap().sha256,
            b.sha256
        );
        assert!(folder(&dir.path().join("nope"), false, "python3.12").is_err());
    }
}
