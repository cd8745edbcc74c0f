//! The configuration members CreateFunction and UpdateFunctionConfiguration share, checked
//! against Lambda's limits with Lambda's messages.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::functions::error::{out_of_range, validation, LambdaError, LambdaResult};
use crate::functions::model::Version;
use crate::functions::runtimes;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigInput {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<EnvironmentInput>,
    pub dead_letter_config: Option<DeadLetterInput>,
    pub tracing_config: Option<TracingInput>,
    pub layers: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralInput>,
    pub logging_config: Option<LoggingInput>,
    pub revision_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentInput {
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterInput {
    pub target_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingInput {
    pub mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralInput {
    pub size: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingInput {
    pub log_format: Option<String>,
}

/// Lambda's limit on the environment, measured as the JSON of the variables.
const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// Variables Lambda sets itself and refuses from users.
const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

impl ConfigInput {
    /// Constraint violations of the model, in Lambda's words (reported together).
    pub fn constraint_errors(&self, errors: &mut Vec<String>) {
        let size = self.ephemeral_storage.as_ref().map(|e| e.size);
        errors.extend(
            [
                out_of_range(self.timeout, "timeout", 1, 900),
                out_of_range(self.memory_size, "memorySize", 128, 10240),
                out_of_range(size, "ephemeralStorage.size", 512, 10240),
            ]
            .into_iter()
            .flatten(),
        );
        if let Some(d) = &self.description {
            if d.chars().count() > 256 {
                errors.push(format!("Value '{d}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"));
            }
        }
        if let Some(h) = &self.handler {
            if h.len() > 128 || h.is_empty() || h.chars().any(char::is_whitespace) {
                errors.push(format!(
                    "Value '{h}' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"
                ));
            }
        }
        if let Some(role) = &self.role {
            if !valid_role(role) {
                errors.push(format!("Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"));
            }
        }
        if let Some(mode) = self.tracing_config.as_ref().and_then(|t| t.mode.as_ref()) {
            if mode != "Active" && mode != "PassThrough" {
                errors.push(format!("Value '{mode}' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]"));
            }
        }
    }

    /// Applies the members given to `v`, checking what the model's constraints cannot.
    pub fn apply(self, v: &mut Version) -> LambdaResult<()> {
        if let Some(runtime) = self.runtime {
            runtimes::parse(&runtime)?;
            v.runtime = runtime;
        }
        if let Some(role) = self.role {
            v.role = role;
        }
        if let Some(handler) = self.handler {
            v.handler = handler;
        }
        if let Some(d) = self.description {
            v.description = d;
        }
        if let Some(t) = self.timeout {
            v.timeout = t as u32;
        }
        if let Some(m) = self.memory_size {
            v.memory_size = m as u32;
        }
        if let Some(env) = self.environment {
            let vars = env.variables.unwrap_or_default();
            check_environment(&vars)?;
            v.environment = Some(vars);
        }
        if let Some(dlq) = self.dead_letter_config {
            v.dead_letter_target = dlq.target_arn.filter(|t| !t.is_empty());
        }
        if let Some(mode) = self.tracing_config.and_then(|t| t.mode) {
            v.tracing_mode = mode;
        }
        if let Some(layers) = self.layers {
            v.layers = layers;
        }
        if let Some(e) = self.ephemeral_storage {
            v.ephemeral_storage = e.size as u32;
        }
        if let Some(format) = self.logging_config.and_then(|l| l.log_format) {
            if format != "Text" && format != "JSON" {
                return Err(validation(&[format!("Value '{format}' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]")]));
            }
            v.log_format = format;
        }
        Ok(())
    }
}

fn valid_role(role: &str) -> bool {
    let Some(rest) = role.strip_prefix("arn:") else {
        return false;
    };
    let mut parts = rest.splitn(5, ':');
    let (Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("role")
            .map(|r| r.trim_start_matches('/'))
            .is_some_and(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
            })
}

fn check_environment(vars: &BTreeMap<String, String>) -> LambdaResult<()> {
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_VARIABLES.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for key in vars.keys() {
        let mut chars = key.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && key.len() >= 2
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(validation(&["Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]".to_string()]));
        }
    }
    let size = serde_json::to_string(vars).map(|s| s.len()).unwrap_or(0);
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {}",
            serde_json::to_string(vars).unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_iams_pattern() {
        assert!(valid_role("arn:aws:iam::123456789012:role/lambda-role"));
        assert!(valid_role(
            "arn:aws:iam::000000000000:role/service-role/x.y@z"
        ));
        assert!(!valid_role("arn:aws:iam::12345:role/r"));
        assert!(!valid_role("role/r"));
        assert!(!valid_role("arn:aws:iam::123456789012:user/u"));
    }

    #[test]
    fn environment_limits() {
        let mut vars = BTreeMap::new();
        vars.insert("OK_1".to_string(), "x".repeat(4000));
        assert!(check_environment(&vars).is_ok());
        vars.insert("MORE".to_string(), "x".repeat(100));
        assert!(
            matches!(check_environment(&vars), Err(LambdaError::InvalidParameterValue(m)) if m.contains("4KB"))
        );
        let reserved = BTreeMap::from([("AWS_REGION".to_string(), "x".to_string())]);
        assert!(
            matches!(check_environment(&reserved), Err(LambdaError::InvalidParameterValue(m)) if m.ends_with("AWS_REGION"))
        );
        let bad = BTreeMap::from([("1X".to_string(), "x".to_string())]);
        assert!(matches!(
            check_environment(&bad),
            Err(LambdaError::Validation(_))
        ));
    }
}
