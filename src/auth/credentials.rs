//! The principals a server accepts: a file in the AWS shared-credentials format, one section per
//! principal (`aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token`),
//! reloaded on SIGHUP. With no file, signatures are checked for shape only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// One principal's secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub name: String,
    pub secret: String,
    pub session_token: Option<String>,
}

/// Access key id to principal.
pub type Keys = HashMap<String, Principal>;

/// Reads a credentials file; a malformed one is refused with the section and reason.
pub fn read(path: &Path) -> Result<Keys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the credentials file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Result<Keys, String> {
    let ini = ini::Ini::load_from_str(text).map_err(|e| e.to_string())?;
    let mut keys = Keys::new();
    for (section, props) in ini.iter() {
        let Some(name) = section else {
            if props.iter().next().is_some() {
                return Err("keys outside a [section]".into());
            }
            continue;
        };
        let get = |k: &str| props.get(k).map(str::trim).filter(|v| !v.is_empty());
        for key in props.iter().map(|(k, _)| k) {
            match key {
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => {}
                "policy" => {
                    return Err(format!(
                        "[{name}]: policy files are not evaluated by this version; remove `policy` (the principal may then do everything)"
                    ))
                }
                other => return Err(format!("[{name}]: unknown key {other}")),
            }
        }
        let id = get("aws_access_key_id")
            .ok_or_else(|| format!("[{name}]: aws_access_key_id is missing"))?;
        let secret = get("aws_secret_access_key")
            .ok_or_else(|| format!("[{name}]: aws_secret_access_key is missing"))?;
        let principal = Principal {
            name: name.to_string(),
            secret: secret.to_string(),
            session_token: get("aws_session_token").map(str::to_string),
        };
        if keys.insert(id.to_string(), principal).is_some() {
            return Err(format!("[{name}]: access key {id} is given twice"));
        }
    }
    if keys.is_empty() {
        return Err("no principals: give at least one [section] with keys".into());
    }
    Ok(keys)
}

/// The loaded file, replaced whole on reload.
pub struct Credentials {
    path: PathBuf,
    keys: ArcSwap<Keys>,
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Arc<Credentials>, String> {
        let keys = read(path)?;
        Ok(Arc::new(Credentials {
            path: path.to_path_buf(),
            keys: ArcSwap::from_pointee(keys),
        }))
    }

    pub fn keys(&self) -> arc_swap::Guard<Arc<Keys>> {
        self.keys.load()
    }

    /// Verifies a request's signature against the loaded principals, now.
    pub fn verify(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), super::verify::AuthError> {
        let now = std::time::SystemTime::now();
        super::verify::verify(&self.keys(), now, method.as_str(), uri, headers, body)
    }

    /// Reads the file again; a bad file leaves the loaded principals in place.
    pub fn reload(&self) -> Result<usize, String> {
        let keys = read(&self.path)?;
        let n = keys.len();
        self.keys.store(Arc::new(keys));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_read_and_checked() {
        let keys = parse(
            "[admin]\naws_access_key_id = AKIDADMIN\naws_secret_access_key = s3cret\n\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=x\naws_session_token=tok\n",
        )
        .unwrap();
        assert_eq!(keys["AKIDADMIN"].secret, "s3cret");
        assert_eq!(keys["AKIDCI"].session_token.as_deref(), Some("tok"));
        assert!(parse("[a]\naws_access_key_id=A\n")
            .unwrap_err()
            .contains("[a]: aws_secret_access_key is missing"));
        assert!(
            parse("[a]\naws_access_key_id=A\naws_secret_access_key=s\nnope=1\n")
                .unwrap_err()
                .contains("unknown key nope")
        );
        assert!(
            parse("[a]\naws_access_key_id=A\naws_secret_access_key=s\npolicy=p.json\n")
                .unwrap_err()
                .contains("not evaluated")
        );
        assert!(parse("[a]\naws_access_key_id=A\naws_secret_access_key=s\n[b]\naws_access_key_id=A\naws_secret_access_key=t\n").unwrap_err().contains("given twice"));
        assert!(parse("").unwrap_err().contains("no principals"));
    }
}
