//! The principals a server accepts: a file in the AWS shared-credentials format, one section per
//! principal (`aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token`, and
//! optional `policy`: an IAM policy file, relative to this one, that limits the principal),
//! reloaded on SIGHUP. With no file, signatures are checked for shape only.
//!
//! A section named by a role ARN (`[arn:aws:iam::123456789012:role/thumbnails]`) holds only the
//! role's `policy`: functions with that `Role` get short-lived keys of their own for it
//! (`session`), as Lambda gives a function its execution role's, and act as
//! `arn:aws:sts::<account>:assumed-role/<role>/<function>`. A role with no section may do
//! nothing, as an IAM role without policies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// A principal a policy limits: who it is and the policy.
#[derive(Debug, PartialEq)]
pub struct Caller {
    pub identity: Identity,
    pub policy: Arc<Policy>,
}

/// Whom a request comes from, as IAM names it.
#[derive(Debug, PartialEq)]
pub enum Identity {
    /// A section of the credentials file: an IAM user of the server's account.
    User(String),
    /// A function acting with its role: `role` is the role's ARN, `session` the function's name.
    AssumedRole { role: String, session: String },
}

impl Identity {
    /// The principal's ARN, as AWS's errors give it.
    pub fn arn(&self, account: &str) -> String {
        match self {
            Identity::User(name) => format!("arn:aws:iam::{account}:user/{name}"),
            Identity::AssumedRole { role, session } => {
                // arn:aws:iam::<account>:role/<path/name>
                let account = role.split(':').nth(4).unwrap_or(account);
                let name = role.rsplit('/').next().unwrap_or(role);
                format!("arn:aws:sts::{account}:assumed-role/{name}/{session}")
            }
        }
    }

    /// What `${aws:username}` stands for in its policies (a role session's name).
    fn name(&self) -> &str {
        match self {
            Identity::User(name) => name,
            Identity::AssumedRole { session, .. } => session,
        }
    }
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
        let why = match self.policy.evaluate(&request, self.identity.name()) {
            super::policy::Decision::Allow => return Ok(()),
            super::policy::Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            super::policy::Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Err(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            self.identity.arn(account)
        ))
    }
}

/// Access key id to principal.
pub type Keys = HashMap<String, Principal>;

/// Role ARN to the role's policy (`None`: the role may do everything).
pub type Roles = HashMap<String, Option<Arc<Policy>>>;

/// What a credentials file gives: its principals' keys and its roles.
#[derive(Debug, Default)]
pub struct File {
    pub keys: Keys,
    pub roles: Roles,
}

/// Reads a credentials file; a malformed one is refused with the section and reason.
pub fn read(path: &Path) -> Result<File, String> {
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

/// `arn:aws:iam::<12 digits>:role/<name>`, the section name of a role (wildcards allowed).
fn is_role_arn(name: &str) -> bool {
    let parts: Vec<&str> = name.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", account, rest]
        if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && rest.strip_prefix("role/").is_some_and(|n| !n.is_empty()))
}

fn parse(text: &str, dir: &Path) -> Result<File, String> {
    let ini = ini::Ini::load_from_str(text).map_err(|e| e.to_string())?;
    let mut file = File::default();
    for (section, props) in ini.iter() {
        let Some(name) = section else {
            if props.iter().next().is_some() {
                return Err("keys outside a [section]".into());
            }
            continue;
        };
        let get = |k: &str| props.get(k).map(str::trim).filter(|v| !v.is_empty());
        let role = is_role_arn(name);
        for key in props.iter().map(|(k, _)| k) {
            match key {
                "policy" => {}
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" if role => {
                    return Err(format!(
                        "[{name}]: a role has no keys of its own (its functions get short-lived ones): give only its policy"
                    ))
                }
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => {}
                other => return Err(format!("[{name}]: unknown key {other}")),
            }
        }
        let policy = get("policy")
            .map(|file| read_policy(dir, file))
            .transpose()
            .map_err(|e| format!("[{name}]: {e}"))?
            .map(Arc::new);
        if role {
            file.roles.insert(name.to_string(), policy);
            continue;
        }
        let id = get("aws_access_key_id")
            .ok_or_else(|| format!("[{name}]: aws_access_key_id is missing"))?;
        let secret = get("aws_secret_access_key")
            .ok_or_else(|| format!("[{name}]: aws_secret_access_key is missing"))?;
        let principal = Principal {
            name: name.to_string(),
            secret: secret.to_string(),
            session_token: get("aws_session_token").map(str::to_string),
            caller: policy.map(|policy| {
                Arc::new(Caller {
                    identity: Identity::User(name.to_string()),
                    policy,
                })
            }),
        };
        if file.keys.insert(id.to_string(), principal).is_some() {
            return Err(format!("[{name}]: access key {id} is given twice"));
        }
    }
    if file.keys.is_empty() {
        return Err("no principals: give at least one [section] with keys".into());
    }
    Ok(file)
}

/// The section of a role: the one its ARN names, or else the longest whose name matches it with
/// wildcards (`role/thumbnails-*` for the roles a stack's deployment names).
fn role_section<'r>(roles: &'r Roles, role: &str) -> Option<&'r Option<Arc<Policy>>> {
    roles.get(role).or_else(|| {
        roles
            .iter()
            .filter(|(pattern, _)| super::policy::glob(pattern, role, false))
            .max_by_key(|(pattern, _)| pattern.len())
            .map(|(_, policy)| policy)
    })
}

/// The short-lived keys a function acts with: what its environment carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionKeys {
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
}

/// A function's session: its role ARN and name, and its keys.
struct Session {
    role: String,
    function: String,
    keys: SessionKeys,
}

impl Session {
    /// The principal the session's keys stand for, under the roles of `roles`.
    fn principal(&self, roles: &Roles) -> Principal {
        let identity = Identity::AssumedRole {
            role: self.role.clone(),
            session: self.function.clone(),
        };
        // A role with no section may do nothing; one whose section has no policy, anything.
        let policy = match role_section(roles, &self.role) {
            None => Some(Arc::new(Policy::default())),
            Some(policy) => policy.clone(),
        };
        Principal {
            name: self.function.clone(),
            secret: self.keys.secret.clone(),
            session_token: Some(self.keys.token.clone()),
            caller: policy.map(|policy| Arc::new(Caller { identity, policy })),
        }
    }
}

/// Random characters of `alphabet`.
fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(alphabet[usize::from(*b) % alphabet.len()] as char);
            }
        }
    }
    out
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The loaded file, replaced whole on reload, and the sessions minted for functions.
pub struct Credentials {
    path: PathBuf,
    /// The file's principals and every session's, as verification looks them up.
    keys: ArcSwap<Keys>,
    roles: ArcSwap<Roles>,
    /// Function and role to session. Held while `keys` is replaced, so that a reload and a new
    /// session do not lose each other's changes.
    sessions: Mutex<HashMap<(String, String), Session>>,
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Arc<Credentials>, String> {
        let file = read(path)?;
        Ok(Arc::new(Credentials {
            path: path.to_path_buf(),
            keys: ArcSwap::from_pointee(file.keys),
            roles: ArcSwap::from_pointee(file.roles),
            sessions: Mutex::new(HashMap::new()),
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
    ) -> Result<super::verify::Verified, super::verify::AuthError> {
        let now = std::time::SystemTime::now();
        super::verify::verify(&self.keys(), now, method.as_str(), uri, headers, body)
    }

    /// The keys function `function` acts with under `role`: minted on first use, the same
    /// for every instance after, valid while the server runs.
    pub fn session(&self, role: &str, function: &str) -> SessionKeys {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let id = (function.to_string(), role.to_string());
        if let Some(s) = sessions.get(&id) {
            return s.keys.clone();
        }
        let session = Session {
            role: role.to_string(),
            function: function.to_string(),
            keys: SessionKeys {
                access_key_id: format!("ASIA{}", random_text(UPPER_DIGITS, 16)),
                secret: random_text(SECRET_CHARS, 40),
                token: random_text(SECRET_CHARS, 96),
            },
        };
        let mut keys = Keys::clone(&self.keys.load());
        keys.insert(
            session.keys.access_key_id.clone(),
            session.principal(&self.roles.load()),
        );
        self.keys.store(Arc::new(keys));
        let minted = session.keys.clone();
        sessions.insert(id, session);
        minted
    }

    /// Reads the file again; a bad file leaves the loaded principals in place. Sessions stay,
    /// under their roles' new policies.
    pub fn reload(&self) -> Result<usize, String> {
        let File { mut keys, roles } = read(&self.path)?;
        let n = keys.len();
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for s in sessions.values() {
            keys.insert(s.keys.access_key_id.clone(), s.principal(&roles));
        }
        self.roles.store(Arc::new(roles));
        self.keys.store(Arc::new(keys));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_here(text: &str) -> Result<Keys, String> {
        parse(text, Path::new(".")).map(|f| f.keys)
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

    #[test]
    fn roles_are_sections_named_by_their_arn_with_a_policy_only() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/thumbs"));
        assert!(is_role_arn("arn:aws:iam::123456789012:role/path/thumbs"));
        for not_role in [
            "arn:aws:iam::123456789012:user/thumbs",
            "arn:aws:iam::12345:role/thumbs",
            "arn:aws:iam::123456789012:role/",
            "thumbs",
        ] {
            assert!(!is_role_arn(not_role), "{not_role}");
        }
        let file = parse(
            "[u]\naws_access_key_id=A\naws_secret_access_key=s\n[arn:aws:iam::123456789012:role/r]\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            file.roles.get("arn:aws:iam::123456789012:role/r"),
            Some(&None)
        );
        let mut roles = Roles::new();
        let (any, thumbs) = (Arc::new(Policy::default()), Arc::new(Policy::default()));
        roles.insert("arn:aws:iam::1:role/*".into(), Some(any));
        roles.insert("arn:aws:iam::1:role/thumbs-*".into(), Some(thumbs.clone()));
        roles.insert("arn:aws:iam::1:role/thumbs-exact".into(), None);
        assert_eq!(
            role_section(&roles, "arn:aws:iam::1:role/thumbs-exact"),
            Some(&None)
        );
        let found = role_section(&roles, "arn:aws:iam::1:role/thumbs-Fn-ABC");
        assert!(Arc::ptr_eq(found.unwrap().as_ref().unwrap(), &thumbs));
        assert_eq!(role_section(&roles, "arn:aws:iam::2:role/x"), None);
        assert_eq!(file.keys.len(), 1);
    }

    #[test]
    fn sessions_are_minted_once_per_function_and_role_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let role = "arn:aws:iam::123456789012:role/r";
        std::fs::write(&path, "[u]\naws_access_key_id=A\naws_secret_access_key=s\n").unwrap();
        let credentials = Credentials::load(&path).unwrap();
        let keys = credentials.session(role, "f");
        assert_eq!(credentials.session(role, "f"), keys);
        assert_ne!(credentials.session(role, "g"), keys);
        assert!(keys.access_key_id.starts_with("ASIA") && keys.access_key_id.len() == 20);
        let principal = credentials.keys()[&keys.access_key_id].clone();
        assert_eq!(
            principal.session_token.as_deref(),
            Some(keys.token.as_str())
        );
        // No section for the role: a caller whose policy allows nothing.
        let caller = principal.caller.unwrap();
        assert_eq!(caller.policy.as_ref(), &Policy::default());
        assert_eq!(
            caller.identity.arn("000000000000"),
            "arn:aws:sts::123456789012:assumed-role/r/f"
        );
        // The role gets a section without a policy: the same keys may now do everything.
        std::fs::write(
            &path,
            format!("[u]\naws_access_key_id=A\naws_secret_access_key=s\n[{role}]\n"),
        )
        .unwrap();
        credentials.reload().unwrap();
        assert_eq!(credentials.keys()[&keys.access_key_id].caller, None);
        assert_eq!(credentials.session(role, "f"), keys);
    }
}
