//! The principals a server accepts: a file in the AWS shared-credentials format, one section per
//! principal (`aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token`, and
//! optional `policy`: an IAM policy file, relative to this one, that limits the principal),
//! reloaded on SIGHUP. With no file, signatures are checked for shape only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::policy::Policy;

/// One principal's secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub name: String,
    pub secret: String,
    pub session_token: Option<String>,
    /// Set when a policy limits the principal (one without may do everything).
    pub caller: Option<Arc<Caller>>,
}

/// A principal a policy limits: its name (the IAM user in its ARN) and the policy.
#[derive(Debug, PartialEq)]
pub struct Caller {
    pub user: String,
    pub policy: Policy,
}

impl Caller {
    /// Whether the policy allows `action` on `resource`; if not, the message AWS gives (naming
    /// the principal's ARN, the action, the resource and why).
    pub fn authorize(
        &self,
        account: &str,
        action: &str,
        resource: &str,
        keys: &[(&str, Vec<String>)],
    ) -> Result<(), String> {
        let request = super::policy::Request {
            action,
            resource,
            keys,
        };
        let why = match self.policy.evaluate(&request, &self.user) {
            super::policy::Decision::Allow => return Ok(()),
            super::policy::Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            super::policy::Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Err(format!(
            "User: arn:aws:iam::{account}:user/{} is not authorized to perform: {action} on resource: {resource} {why}",
            self.user
        ))
    }
}

/// Access key id to principal.
pub type Keys = HashMap<String, Principal>;

/// Reads a credentials file; a malformed one is refused with the section and reason.
pub fn read(path: &Path) -> Result<Keys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the credentials file {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a principal's policy file (relative to the credentials file's folder).
fn read_policy(dir: &Path, file: &str) -> Result<Policy, String> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the policy {}: {e}", path.display()))?;
    Policy::parse(&text).map_err(|e| format!("policy {}: {e}", path.display()))
}

fn parse(text: &str, dir: &Path) -> Result<Keys, String> {
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
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" | "policy" => {}
                other => return Err(format!("[{name}]: unknown key {other}")),
            }
        }
        let id = get("aws_access_key_id")
            .ok_or_else(|| format!("[{name}]: aws_access_key_id is missing"))?;
        let secret = get("aws_secret_access_key")
            .ok_or_else(|| format!("[{name}]: aws_secret_access_key is missing"))?;
        let caller = get("policy")
            .map(|file| read_policy(dir, file))
            .transpose()
            .map_err(|e| format!("[{name}]: {e}"))?
            .map(|policy| {
                Arc::new(Caller {
                    user: name.to_string(),
                    policy,
                })
            });
        let principal = Principal {
            name: name.to_string(),
            secret: secret.to_string(),
            session_token: get("aws_session_token").map(str::to_string),
            caller,
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
    ) -> Result<Option<Arc<Caller>>, super::verify::AuthError> {
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

    fn parse_here(text: &str) -> Result<Keys, String> {
        parse(text, Path::new("."))
    }

    #[test]
    fn principals_are_read_and_checked() {
        let keys = parse_here(
            "[admin]\naws_access_key_id = AKIDADMIN\naws_secret_access_key = s3cret\n\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=x\naws_session_token=tok\n",
        )
        .unwrap();
        assert_eq!(keys["AKIDADMIN"].secret, "s3cret");
        assert_eq!(keys["AKIDCI"].session_token.as_deref(), Some("tok"));
        assert!(parse_here("[a]\naws_access_key_id=A\n")
            .unwrap_err()
            .contains("[a]: aws_secret_access_key is missing"));
        assert!(
            parse_here("[a]\naws_access_key_id=A\naws_secret_access_key=s\nnope=1\n")
                .unwrap_err()
                .contains("unknown key nope")
        );
        assert!(parse_here(
            "[a]\naws_access_key_id=A\naws_secret_access_key=s\npolicy=missing.json\n"
        )
        .unwrap_err()
        .starts_with("[a]: cannot read the policy"));
        assert!(parse_here("[a]\naws_access_key_id=A\naws_secret_access_key=s\n[b]\naws_access_key_id=A\naws_secret_access_key=t\n").unwrap_err().contains("given twice"));
        assert!(parse_here("").unwrap_err().contains("no principals"));
    }
}
