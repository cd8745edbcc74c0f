//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionConfiguration, UpdateFunctionCode and DeleteFunction.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::ConfigInput;
use super::{
    find, page, parse_body, parse_function_name, qualifier, Caller, FUNCTION_NAME_PATTERN,
};
use crate::functions::code::LOCAL_CODE_BUCKET;
use crate::functions::error::{function_not_found, validation, LambdaError, LambdaResult};
use crate::functions::invoke::{function_key, resolve};
use crate::functions::model::{self, Code, Function, Version, LATEST};
use crate::functions::Functions;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    function_name: Option<String>,
    code: Option<CodeInput>,
    publish: Option<bool>,
    package_type: Option<String>,
    architectures: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    config: ConfigInput,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CodeInput {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    s3_key: Option<String>,
    image_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeInput {
    #[serde(flatten)]
    code: CodeInput,
    publish: Option<bool>,
    revision_id: Option<String>,
    architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    pub qualifier: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
}

/// Stores the code a request names: an uploaded zip, or a local folder.
fn store_code(state: &Functions, code: CodeInput) -> LambdaResult<Code> {
    if code.image_uri.is_some() {
        return Err(LambdaError::InvalidParameterValue(
            "Container images are not supported here: use a .zip file archive (ZipFile) or a local folder".into(),
        ));
    }
    if let Some(zip) = code.zip_file {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zip.as_bytes())
            .map_err(|_| LambdaError::InvalidParameterValue("Could not unzip uploaded file. Please check your file, then try to upload again.".into()))?;
        return state.code.put_zip(&bytes);
    }
    match (code.s3_bucket.as_deref(), code.s3_key.as_deref()) {
        (Some(LOCAL_CODE_BUCKET), Some(path)) => state.code.local(path),
        (Some(bucket), _) => Err(LambdaError::InvalidParameterValue(format!(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist: {bucket}. Use ZipFile, or S3Bucket {LOCAL_CODE_BUCKET} with S3Key a local folder"
        ))),
        (None, _) => Err(LambdaError::InvalidParameterValue(
            "Please provide a source for function code.".into(),
        )),
    }
}

fn check_architectures(architectures: &Option<Vec<String>>) -> LambdaResult<Vec<String>> {
    match architectures {
        None => Ok(vec!["x86_64".into()]),
        Some(list) if list.len() == 1 && (list[0] == "x86_64" || list[0] == "arm64") => Ok(list.clone()),
        Some(list) => Err(validation(&[format!(
            "Value '[{}]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1, Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            list.join(", ")
        )])),
    }
}

pub async fn create(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: CreateInput = parse_body(&body)?;
    let mut errors = Vec::new();
    let name = input.function_name.clone().unwrap_or_default();
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if input.function_name.is_none() {
        errors.push(
            "Value null at 'functionName' failed to satisfy constraint: Member must not be null"
                .to_string(),
        );
    } else if !name_ok {
        // Only a plain name may be created (an ARN names an existing function).
        errors.push(format!(
            "Value '{name}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
        ));
    }
    if input.config.role.is_none() {
        errors.push(
            "Value null at 'role' failed to satisfy constraint: Member must not be null"
                .to_string(),
        );
    }
    if input.code.is_none() {
        errors.push(
            "Value null at 'code' failed to satisfy constraint: Member must not be null"
                .to_string(),
        );
    }
    input.config.constraint_errors(&mut errors);
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(LambdaError::InvalidParameterValue(
            "Container images (PackageType Image) are not supported here: use PackageType Zip"
                .into(),
        ));
    }
    if input.config.runtime.is_none() || input.config.handler.is_none() {
        return Err(LambdaError::InvalidParameterValue(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.".into(),
        ));
    }
    let architectures = check_architectures(&input.architectures)?;
    if state.registry.get(&caller.region, &name).is_some() {
        return Err(LambdaError::ResourceConflict(format!(
            "Function already exist: {name}"
        )));
    }
    let code = store_code(&state, input.code.unwrap_or_default())?;
    let mut latest = Version {
        version: LATEST.into(),
        runtime: String::new(),
        role: String::new(),
        handler: String::new(),
        description: String::new(),
        timeout: 3,
        memory_size: 128,
        environment: None,
        code,
        last_modified: model::timestamp(state.engine.clock.now()),
        revision_id: model::revision_id(),
        dead_letter_target: None,
        tracing_mode: "PassThrough".into(),
        architectures,
        ephemeral_storage: 512,
        layers: vec![],
        log_format: "Text".into(),
    };
    input.config.apply(&mut latest)?;
    let function = Function {
        name: name.clone(),
        region: caller.region.clone(),
        account: state.settings.account.clone(),
        latest,
        versions: BTreeMap::new(),
        next_version: 1,
        aliases: BTreeMap::new(),
        tags: input.tags.unwrap_or_default(),
        policy: vec![],
        policy_revision: model::revision_id(),
        reserved_concurrency: None,
        event_invoke: BTreeMap::new(),
        urls: BTreeMap::new(),
    };
    let publish = input.publish.unwrap_or(false);
    let created = state
        .registry
        .update(&caller.region, &name, |slot| {
            if slot.is_some() {
                return Err(LambdaError::ResourceConflict(format!(
                    "Function already exist: {name}"
                )));
            }
            let mut f = function;
            let shown = super::versions::shown_after_change(&mut f, publish);
            let mut config = f.configuration(&shown);
            // Lambda answers CreateFunction while the function is still being created; here it
            // is ready by then, so the next read shows it Active.
            config["State"] = "Pending".into();
            config["StateReason"] = "The function is being created.".into();
            config["StateReasonCode"] = "Creating".into();
            *slot = Some(f);
            Ok(config)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn list(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> LambdaResult<Json<Value>> {
    if let Some(v) = q.function_version.as_deref().filter(|v| *v != "ALL") {
        return Err(validation(&[format!(
            "Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
        )]));
    }
    let all_versions = q.function_version.is_some();
    let configs: Vec<Value> = state
        .registry
        .list(&caller.region)
        .iter()
        .flat_map(|f| {
            let mut shown = vec![f.configuration(&f.latest)];
            if all_versions {
                shown.extend(f.versions.values().map(|v| f.configuration(v)));
            }
            shown
        })
        .collect();
    let (functions, next) = page(configs, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Functions": functions });
    if let Some(next) = next {
        out["NextMarker"] = next.into();
    }
    Ok(Json(out))
}

/// The function and version a `{name}` path and `Qualifier` name.
fn lookup(
    state: &Functions,
    caller: &Caller,
    raw: &str,
    param: Option<String>,
) -> LambdaResult<(Function, Version)> {
    let (name, from_name) = parse_function_name(raw)?;
    let q = qualifier(from_name, param)?;
    let function = find(state, caller, &name)?;
    let version = resolve(&function, q.as_deref())?.clone();
    Ok((function, version))
}

pub async fn get(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Json<Value>> {
    let (function, version) = lookup(&state, &caller, &raw, q.qualifier)?;
    let location = match &version.code.source {
        model::CodeSource::Zip(_) => format!("file://{}", state.code.path(&version.code).display()),
        model::CodeSource::Local(path) => format!("file://{}", path.display()),
    };
    let mut out = json!({
        "Configuration": function.configuration(&version),
        "Code": {"RepositoryType": "S3", "Location": location},
    });
    if !function.tags.is_empty() {
        out["Tags"] = json!(function.tags);
    }
    if let Some(n) = function.reserved_concurrency {
        out["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
    }
    Ok(Json(out))
}

pub async fn get_configuration(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Json<Value>> {
    let (function, version) = lookup(&state, &caller, &raw, q.qualifier)?;
    Ok(Json(function.configuration(&version)))
}

/// Lambda's check of an expected `RevisionId`.
pub fn check_revision(expected: Option<&str>, actual: &str) -> LambdaResult<()> {
    match expected {
        Some(e) if e != actual => Err(LambdaError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

/// Runs `edit` on `$LATEST` of an existing function (no qualifier allowed), stamps a new
/// revision, stops the old revision's idle instances, and answers the new configuration.
async fn edit_latest(
    state: &Functions,
    caller: &Caller,
    raw: &str,
    edit: impl FnOnce(&mut Function) -> LambdaResult<bool>,
) -> LambdaResult<Json<Value>> {
    let (name, q) = parse_function_name(raw)?;
    if q.is_some() {
        return Err(LambdaError::InvalidParameterValue(
            "Qualifiers are not supported for this operation: it changes $LATEST".into(),
        ));
    }
    let now = model::timestamp(state.engine.clock.now());
    let account = state.settings.account.clone();
    let region = caller.region.clone();
    let config = state
        .registry
        .update(&caller.region, &name, |slot| {
            let f = slot.as_mut().ok_or_else(|| {
                function_not_found(&format!(
                    "arn:aws:lambda:{region}:{account}:function:{name}"
                ))
            })?;
            let publish = edit(f)?;
            f.latest.last_modified = now;
            f.latest.revision_id = model::revision_id();
            let shown = super::versions::shown_after_change(f, publish);
            let mut config = f.configuration(&shown);
            // As Lambda answers an update in progress; the next read shows it Successful.
            config["LastUpdateStatus"] = "InProgress".into();
            config["LastUpdateStatusReason"] = "The function is being created.".into();
            config["LastUpdateStatusReasonCode"] = "Creating".into();
            Ok((config, function_key(f)))
        })
        .await?;
    state.pool.evict(&config.1);
    Ok(Json(config.0))
}

pub async fn update_configuration(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    let input: ConfigInput = parse_body(&body)?;
    let mut errors = Vec::new();
    input.constraint_errors(&mut errors);
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    edit_latest(&state, &caller, &raw, |f| {
        check_revision(input.revision_id.as_deref(), &f.latest.revision_id)?;
        input.apply(&mut f.latest)?;
        Ok(false)
    })
    .await
}

pub async fn update_code(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    let input: UpdateCodeInput = parse_body(&body)?;
    let (name, _) = parse_function_name(&raw)?;
    let existing = find(&state, &caller, &name)?;
    check_revision(input.revision_id.as_deref(), &existing.latest.revision_id)?;
    let architectures = match input.architectures {
        Some(_) => Some(check_architectures(&input.architectures)?),
        None => None,
    };
    let code = store_code(&state, input.code)?;
    let publish = input.publish.unwrap_or(false);
    edit_latest(&state, &caller, &raw, |f| {
        check_revision(input.revision_id.as_deref(), &f.latest.revision_id)?;
        f.latest.code = code;
        if let Some(a) = architectures {
            f.latest.architectures = a;
        }
        Ok(publish)
    })
    .await
}

pub async fn delete(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Response> {
    let (name, from_name) = parse_function_name(&raw)?;
    let qualifier = qualifier(from_name, q.qualifier)?;
    let function = find(&state, &caller, &name)?;
    let arn = function.arn();
    state
        .registry
        .update(&caller.region, &name, |slot| {
            let Some(f) = slot.as_mut() else {
                return Err(function_not_found(&arn));
            };
            match qualifier.as_deref() {
                None => *slot = None,
                Some(LATEST) => {
                    return Err(LambdaError::InvalidParameterValue(
                        "$LATEST version cannot be deleted without deleting the function.".into(),
                    ))
                }
                Some(q) => {
                    let number = q.parse::<u32>().ok().filter(|n| f.versions.contains_key(n));
                    let Some(number) = number else {
                        return Err(function_not_found(&f.qualified_arn(q)));
                    };
                    if let Some(alias) = f.aliases.values().find(|a| a.function_version == q) {
                        return Err(LambdaError::ResourceConflict(format!(
                            "Unable to delete version because the following aliases reference it: [{}]",
                            alias.name
                        )));
                    }
                    f.versions.remove(&number);
                }
            }
            Ok(())
        })
        .await?;
    if qualifier.is_none() {
        state.pool.evict(&function_key(&function));
        state.pool.set_reserved(&function_key(&function), None);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
