//! The code store: each uploaded zip is unpacked once, into a folder named after its SHA-256,
//! and shared by every version that has the same code. Lambda's package limits are enforced
//! while unpacking, so a zip bomb or an entry escaping the folder never reaches the disk.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::error::{LambdaError, LambdaResult};
use super::model::{Code, CodeSource};

/// Lambda's limit on a package's unzipped size.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Lambda's limit on a zip uploaded in the request.
pub const MAX_ZIP_BYTES: usize = 50 * 1024 * 1024;

/// `Code.S3Bucket` that names a folder on this machine (`S3Key`, an absolute path) as the code:
/// run in place, so an edited file needs no new zip. No S3 bucket can have this name (S3 bucket
/// names have no capitals), so a template that deploys to AWS never means it by accident.
pub const LOCAL_CODE_BUCKET: &str = "DynarockLocal";

pub struct CodeStore {
    root: PathBuf,
}

impl CodeStore {
    pub fn new(root: PathBuf) -> CodeStore {
        CodeStore { root }
    }

    /// The folder a version runs from.
    pub fn path(&self, code: &Code) -> PathBuf {
        match &code.source {
            CodeSource::Zip(key) => self.root.join(key),
            CodeSource::Local(path) => path.clone(),
        }
    }

    /// Stores a zip (unless the same zip is stored already) and describes it.
    pub fn put_zip(&self, zip: &[u8]) -> LambdaResult<Code> {
        if zip.len() > MAX_ZIP_BYTES {
            return Err(LambdaError::RequestTooLarge(format!(
                "Zipped size must be smaller than {MAX_ZIP_BYTES} bytes"
            )));
        }
        let digest = Sha256::digest(zip);
        let sha256 = base64::engine::general_purpose::STANDARD.encode(digest);
        let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.root.join(&key);
        if !dir.exists() {
            // Unpack beside the final folder and rename, so a crash never leaves half a package
            // where a version would run it.
            let partial = self
                .root
                .join(format!("{key}.partial-{}", uuid::Uuid::new_v4()));
            let unpacked = unpack(zip, &partial);
            if let Err(e) = unpacked {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
            if let Err(e) = std::fs::rename(&partial, &dir) {
                let _ = std::fs::remove_dir_all(&partial);
                if !dir.exists() {
                    return Err(e.into());
                }
            }
        }
        Ok(Code {
            sha256,
            size: zip.len() as u64,
            source: CodeSource::Zip(key),
        })
    }

    /// Describes a local folder as code.
    pub fn local(&self, path: &str) -> LambdaResult<Code> {
        let path = PathBuf::from(path);
        if !path.is_absolute() || !path.is_dir() {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Local code (S3Bucket {LOCAL_CODE_BUCKET}) needs S3Key to be the absolute path of a folder on the server: {}",
                path.display()
            )));
        }
        let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
        Ok(Code {
            sha256: base64::engine::general_purpose::STANDARD.encode(digest),
            size: 0,
            source: CodeSource::Local(path),
        })
    }

    /// Removes stored packages no version uses any more (and half-unpacked ones).
    pub fn retain(&self, used: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn unzip_error() -> LambdaError {
    LambdaError::InvalidParameterValue(
        "Could not unzip uploaded file. Please check your file, then try to upload again.".into(),
    )
}

/// Unpacks `zip` into `dir`, keeping execute bits, refusing entries that would land outside
/// `dir` and stopping as soon as the bytes written pass Lambda's unzipped limit (the sizes a
/// zip declares are not trusted).
fn unpack(zip: &[u8], dir: &Path) -> LambdaResult<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|_| unzip_error())?;
    std::fs::create_dir_all(dir)?;
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|_| unzip_error())?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(unzip_error());
        };
        let target = dir.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&target)?;
        loop {
            let n = entry.read(&mut buf).map_err(|_| unzip_error())?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > MAX_UNZIPPED_BYTES {
                return Err(LambdaError::InvalidParameterValue(format!(
                    "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                )));
            }
            out.write_all(&buf[..n])?;
        }
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data, mode) in files {
            w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn store() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path().to_path_buf());
        (dir, store)
    }

    #[test]
    fn unpacks_once_per_content_with_modes() {
        let (_dir, store) = store();
        let zip = zip_of(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755),
            ("a/b.txt", b"x", 0o644),
        ]);
        let code = store.put_zip(&zip).unwrap();
        let again = store.put_zip(&zip).unwrap();
        assert_eq!(code, again);
        assert_eq!(code.size, zip.len() as u64);
        let path = store.path(&code);
        assert_eq!(std::fs::read(path.join("a/b.txt")).unwrap(), b"x");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path.join("bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn refuses_escaping_entries_and_garbage() {
        let (dir, store) = store();
        let zip = zip_of(&[("../evil", b"x", 0o644)]);
        assert!(matches!(
            store.put_zip(&zip),
            Err(LambdaError::InvalidParameterValue(_))
        ));
        assert!(!dir.path().parent().unwrap().join("evil").exists());
        assert!(matches!(
            store.put_zip(b"not a zip"),
            Err(LambdaError::InvalidParameterValue(_))
        ));
        // Nothing half-unpacked is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn stops_a_zip_bomb_at_the_unzipped_limit() {
        let (dir, store) = store();
        // Zeros compress ~1000:1, so the zip stays small while its content passes the limit.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("zeros", SimpleFileOptions::default()).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..(MAX_UNZIPPED_BYTES >> 20) + 2 {
            w.write_all(&chunk).unwrap();
        }
        let zip = w.finish().unwrap().into_inner();
        assert!(zip.len() < MAX_ZIP_BYTES);
        match store.put_zip(&zip) {
            Err(LambdaError::InvalidParameterValue(m)) => assert!(m.starts_with("Unzipped size")),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
