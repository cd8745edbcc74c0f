//! The Lambda API's errors, and the one place that turns them into Lambda's wire form: HTTP
//! status, the `x-amzn-ErrorType` header, and a JSON body `{"Type": "User", "Message": ...}`
//! (`message` for the throttling error, as Lambda spells it there).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// A request member outside the API model's constraints (Lambda reports these as
    /// `ValidationException`, aggregated like DynamoDB's).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceConflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    InvalidRequestContent(String),
    #[error("{0}")]
    RequestTooLarge(String),
    /// Concurrency exhausted: `reason` is Lambda's `ThrottleReason`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        reason: &'static str,
    },
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("unknown operation")]
    UnknownOperation,
    #[error("{0}")]
    Service(String),
}

pub type LambdaResult<T> = Result<T, LambdaError>;

impl LambdaError {
    pub fn code(&self) -> &'static str {
        match self {
            LambdaError::Validation(_) => "ValidationException",
            LambdaError::InvalidParameterValue(_) => "InvalidParameterValueException",
            LambdaError::ResourceNotFound(_) => "ResourceNotFoundException",
            LambdaError::ResourceConflict(_) => "ResourceConflictException",
            LambdaError::PreconditionFailed(_) => "PreconditionFailedException",
            LambdaError::InvalidRequestContent(_) => "InvalidRequestContentException",
            LambdaError::RequestTooLarge(_) => "RequestTooLargeException",
            LambdaError::TooManyRequests { .. } => "TooManyRequestsException",
            LambdaError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            LambdaError::IncompleteSignature(_) => "IncompleteSignatureException",
            LambdaError::UnknownOperation => "UnknownOperationException",
            LambdaError::Service(_) => "ServiceException",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            LambdaError::ResourceNotFound(_) | LambdaError::UnknownOperation => {
                StatusCode::NOT_FOUND
            }
            LambdaError::ResourceConflict(_) => StatusCode::CONFLICT,
            LambdaError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            LambdaError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LambdaError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            LambdaError::MissingAuthenticationToken(_) | LambdaError::IncompleteSignature(_) => {
                StatusCode::FORBIDDEN
            }
            LambdaError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error's JSON body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            LambdaError::TooManyRequests { message, reason } => serde_json::json!({
                "Type": "User", "message": message, "Reason": reason,
            }),
            LambdaError::Service(detail) => {
                tracing::error!("function service error: {detail}");
                serde_json::json!({"Type": "Service", "Message": "Internal service error"})
            }
            other => serde_json::json!({"Type": "User", "Message": other.to_string()}),
        }
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code()));
        if let LambdaError::TooManyRequests { .. } = self {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::error::Error> for LambdaError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::MissingAuthenticationToken(m) => LambdaError::MissingAuthenticationToken(m),
            Error::IncompleteSignature(m) => LambdaError::IncompleteSignature(m),
            other => LambdaError::Service(other.to_string()),
        }
    }
}

impl From<std::io::Error> for LambdaError {
    fn from(e: std::io::Error) -> Self {
        LambdaError::Service(format!("io: {e}"))
    }
}

/// Lambda's aggregated constraint message: `1 validation error detected: Value '0' at
/// 'memorySize' failed to satisfy constraint: Member must ...`.
pub fn validation(errors: &[String]) -> LambdaError {
    let n = errors.len();
    let s = if n == 1 { "" } else { "s" };
    LambdaError::Validation(format!(
        "{n} validation error{s} detected: {}",
        errors.join("; ")
    ))
}

/// A model range constraint in Lambda's words, when `value` is given and out of range.
pub fn out_of_range(value: Option<i64>, member: &str, min: i64, max: i64) -> Option<String> {
    let v = value?;
    let bound = if v < min {
        format!("greater than or equal to {min}")
    } else if v > max {
        format!("less than or equal to {max}")
    } else {
        return None;
    };
    Some(format!(
        "Value '{v}' at '{member}' failed to satisfy constraint: Member must have value {bound}"
    ))
}

pub fn function_not_found(arn: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!("Function not found: {arn}"))
}
