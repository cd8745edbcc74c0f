//! A function as stored (one record per function: `$LATEST`, its published versions, aliases,
//! tags, policy and concurrency) and its Lambda wire shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const LATEST: &str = "$LATEST";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub region: String,
    pub account: String,
    pub latest: Version,
    /// Published versions by number.
    pub versions: BTreeMap<u32, Version>,
    pub next_version: u32,
    pub aliases: BTreeMap<String, Alias>,
    pub tags: BTreeMap<String, String>,
    /// Resource-based policy statements (AddPermission), stored and returned only.
    pub policy: Vec<Value>,
    pub policy_revision: String,
    pub reserved_concurrency: Option<u32>,
    /// PutFunctionEventInvokeConfig, by qualifier (`$LATEST`, a version or an alias).
    pub event_invoke: BTreeMap<String, EventInvokeConfig>,
    /// Function URLs, by qualifier (`$LATEST` for the unqualified function, or an alias).
    #[serde(default)]
    pub urls: BTreeMap<String, UrlConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UrlConfig {
    pub auth_type: String,
    pub cors: Option<Value>,
    pub invoke_mode: String,
    pub created: String,
    pub modified: String,
}

/// One version's configuration and code (`$LATEST` or a published number).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Version {
    pub version: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub environment: Option<BTreeMap<String, String>>,
    pub code: Code,
    pub last_modified: String,
    pub revision_id: String,
    pub dead_letter_target: Option<String>,
    pub tracing_mode: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: u32,
    pub layers: Vec<String>,
    pub log_format: String,
}

/// Where a version's code is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Code {
    /// Base64 SHA-256 of the zip as uploaded (of the folder's path for local code).
    pub sha256: String,
    pub size: u64,
    pub source: CodeSource,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum CodeSource {
    /// Unpacked once into the code store, in the folder named by this key.
    Zip(String),
    /// A folder on this machine, run in place (the development extension).
    Local(PathBuf),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub function_version: String,
    pub description: String,
    pub revision_id: String,
    /// Weighted second version (`RoutingConfig.AdditionalVersionWeights`).
    pub additional_weights: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_seconds: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub last_modified: f64,
}

impl Function {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, self.name
        )
    }

    pub fn qualified_arn(&self, qualifier: &str) -> String {
        format!("{}:{qualifier}", self.arn())
    }

    /// A published version by its number text.
    pub fn version(&self, number: &str) -> Option<&Version> {
        if number == LATEST {
            return Some(&self.latest);
        }
        number
            .parse::<u32>()
            .ok()
            .and_then(|n| self.versions.get(&n))
    }

    /// `GetFunctionConfiguration`'s shape for one version.
    pub fn configuration(&self, v: &Version) -> Value {
        let mut c = Map::new();
        c.insert("FunctionName".into(), self.name.clone().into());
        let arn = if v.version == LATEST {
            self.arn()
        } else {
            self.qualified_arn(&v.version)
        };
        c.insert("FunctionArn".into(), arn.into());
        c.insert("Runtime".into(), v.runtime.clone().into());
        c.insert("Role".into(), v.role.clone().into());
        c.insert("Handler".into(), v.handler.clone().into());
        c.insert("CodeSize".into(), v.code.size.into());
        c.insert("Description".into(), v.description.clone().into());
        c.insert("Timeout".into(), v.timeout.into());
        c.insert("MemorySize".into(), v.memory_size.into());
        c.insert("LastModified".into(), v.last_modified.clone().into());
        c.insert("CodeSha256".into(), v.code.sha256.clone().into());
        c.insert("Version".into(), v.version.clone().into());
        if let Some(vars) = &v.environment {
            c.insert("Environment".into(), json!({ "Variables": vars }));
        }
        if let Some(target) = &v.dead_letter_target {
            c.insert("DeadLetterConfig".into(), json!({ "TargetArn": target }));
        }
        c.insert("TracingConfig".into(), json!({ "Mode": v.tracing_mode }));
        c.insert("RevisionId".into(), v.revision_id.clone().into());
        if !v.layers.is_empty() {
            let layers: Vec<Value> = v
                .layers
                .iter()
                .map(|arn| json!({"Arn": arn, "CodeSize": 0}))
                .collect();
            c.insert("Layers".into(), layers.into());
        }
        // Creation is synchronous here: a function is Active as soon as it is answered.
        c.insert("State".into(), "Active".into());
        c.insert("LastUpdateStatus".into(), "Successful".into());
        c.insert("PackageType".into(), "Zip".into());
        c.insert("Architectures".into(), json!(v.architectures));
        c.insert(
            "EphemeralStorage".into(),
            json!({ "Size": v.ephemeral_storage }),
        );
        c.insert(
            "SnapStart".into(),
            json!({"ApplyOn": "None", "OptimizationStatus": "Off"}),
        );
        c.insert(
            "LoggingConfig".into(),
            json!({"LogFormat": v.log_format, "LogGroup": self.log_group()}),
        );
        Value::Object(c)
    }

    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }

    pub fn alias_configuration(&self, alias: &Alias) -> Value {
        let mut c = json!({
            "AliasArn": self.qualified_arn(&alias.name),
            "Name": alias.name,
            "FunctionVersion": alias.function_version,
            "Description": alias.description,
            "RevisionId": alias.revision_id,
        });
        if !alias.additional_weights.is_empty() {
            c["RoutingConfig"] = json!({"AdditionalVersionWeights": alias.additional_weights});
        }
        c
    }

    pub fn policy_document(&self) -> Value {
        json!({"Version": "2012-10-17", "Id": "default", "Statement": self.policy})
    }
}

/// Lambda's `LastModified`: `2026-12-05T03:37:26.123+0000`.
pub fn timestamp(at: std::time::SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

pub fn revision_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn last_modified_has_lambdas_format() {
        let at = UNIX_EPOCH + Duration::from_millis(1_764_905_846_123);
        assert_eq!(timestamp(at), "2025-12-05T03:37:26.123+0000");
    }
}
