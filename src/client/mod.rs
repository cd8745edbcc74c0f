//! Commands that drive a running server through its public APIs over HTTP, as any client
//! would (`dynarock logs`, `dynarock mappings`, `dynarock deploy`, `dynarock backup`). Requests are signed with
//! SigV4 like an SDK's, with the credentials of the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), so they pass a server that verifies them.

pub mod backup;
pub mod logs;
pub mod mappings;

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// Why a call did not succeed: the service's own error, or no answer at all.
#[derive(Debug, Clone)]
pub enum ClientError {
    Service {
        code: String,
        status: u16,
        message: String,
    },
    Transport(String),
}

impl ClientError {
    /// The service's error code (`ResourceNotFoundException`, ...), if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Service { code, .. } => Some(code),
            ClientError::Transport(_) => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Service {
                code,
                status,
                message,
            } => write!(f, "{code} (HTTP {status}): {message}"),
            ClientError::Transport(e) => f.write_str(e),
        }
    }
}

impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}

/// A server to call, in one region, with one identity.
pub struct Endpoint {
    pub url: String,
    pub region: String,
    credentials: Credentials,
}

/// Whether the server at `url` answers `GET /ready` with 200 within two seconds.
pub fn ready(url: &str) -> Result<(), String> {
    let probe = format!("{}/ready", url.trim_end_matches('/'));
    match ureq::get(&probe)
        .timeout(std::time::Duration::from_secs(2))
        .call()
    {
        Ok(r) if r.status() == 200 => Ok(()),
        Ok(r) => Err(format!("{probe}: {}", r.status())),
        Err(e) => Err(format!("{probe}: {e}")),
    }
}

impl Endpoint {
    pub fn new(url: &str, region: &str) -> Endpoint {
        let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            region: region.to_string(),
            credentials: Credentials::new(
                var("AWS_ACCESS_KEY_ID", "dynarock"),
                var("AWS_SECRET_ACCESS_KEY", "dynarock"),
                std::env::var("AWS_SESSION_TOKEN").ok(),
                None,
                "environment",
            ),
        }
    }

    /// A signed request; the answer's JSON (`null` for an empty body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.url);
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ClientError::Transport(format!("cannot sign: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| ClientError::Transport(format!("cannot sign {url}: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ClientError::Transport(format!("cannot sign {url}: {e}")))?
            .into_parts();
        let mut request = ureq::request(method, &url);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        for header in instructions.headers() {
            request = request.set(header.0, header.1);
        }
        let response = if body.is_empty() && method != "POST" && method != "PUT" {
            request.call()
        } else {
            request.send_bytes(body)
        };
        self.answer(response)
    }

    /// A JSON 1.1 call (`X-Amz-Target: <target>`).
    pub fn json11(&self, service: &str, target: &str, body: &Value) -> Result<Value, ClientError> {
        self.json_call("application/x-amz-json-1.1", service, target, body)
    }

    /// A JSON 1.0 call (DynamoDB's protocol).
    pub fn json10(&self, service: &str, target: &str, body: &Value) -> Result<Value, ClientError> {
        self.json_call("application/x-amz-json-1.0", service, target, body)
    }

    fn json_call(
        &self,
        content_type: &str,
        service: &str,
        target: &str,
        body: &Value,
    ) -> Result<Value, ClientError> {
        let headers = [("content-type", content_type), ("x-amz-target", target)];
        self.call("POST", "/", service, &headers, body.to_string().as_bytes())
    }

    /// A REST call with a JSON body (none for `Value::Null`).
    pub fn rest(
        &self,
        method: &str,
        path: &str,
        service: &str,
        body: &Value,
    ) -> Result<Value, ClientError> {
        if body.is_null() {
            return self.call(method, path, service, &[], b"");
        }
        let headers = [("content-type", "application/json")];
        self.call(method, path, service, &headers, body.to_string().as_bytes())
    }

    fn answer(&self, response: Result<ureq::Response, ureq::Error>) -> Result<Value, ClientError> {
        let text = match response {
            Ok(r) => r
                .into_string()
                .map_err(|e| ClientError::Transport(e.to_string()))?,
            Err(ureq::Error::Status(status, r)) => {
                let header_code = r.header("x-amzn-errortype").map(str::to_string);
                let body: Value = serde_json::from_str(&r.into_string().unwrap_or_default())
                    .unwrap_or(Value::Null);
                let code = header_code
                    .as_deref()
                    .or(body["__type"].as_str())
                    .or(body["Type"].as_str())
                    .unwrap_or("error");
                // `com.amazonaws.dynamodb.v20120810#ResourceNotFoundException` and
                // `ResourceNotFoundException:http://...` both name the same error.
                let code = code.rsplit('#').next().unwrap_or(code);
                let code = code.split(':').next().unwrap_or(code).to_string();
                let message = body["message"]
                    .as_str()
                    .or(body["Message"].as_str())
                    .unwrap_or("")
                    .to_string();
                return Err(ClientError::Service {
                    code,
                    status,
                    message,
                });
            }
            Err(e) => {
                return Err(ClientError::Transport(format!(
                    "cannot reach {}: {e}",
                    self.url
                )))
            }
        };
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Transport(format!("unreadable answer: {e}")))
    }
}
