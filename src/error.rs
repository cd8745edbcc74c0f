//! The one error type of the server, and the single place that decides how each error looks on
//! the wire (`__type` namespace, `message` vs `Message`, HTTP status).

use std::fmt;

/// Every failure a request can end in. Lower-layer failures (RocksDB, I/O, a corrupt record)
/// become `Internal` through `From`, so every 4xx below is a deliberate choice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("unknown operation")]
    UnknownOperation,
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key or session token is not one of the server's.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    TableNotFound(String),
    #[error("{0}")]
    TableInUse(String),
    #[error("{0}")]
    TableAlreadyExists(String),
    #[error("{0}")]
    BackupNotFound(String),
    #[error("{0}")]
    BackupInUse(String),
    #[error("{0}")]
    PointInTimeRecoveryUnavailable(String),
    #[error("{0}")]
    InvalidRestoreTime(String),
    #[error("{0}")]
    InvalidExportTime(String),
    #[error("{0}")]
    ExportNotFound(String),
    #[error("{0}")]
    ImportNotFound(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    AccessDenied(String),
    /// A write would grow an item collection (a partition of a table with LSIs) past 10 GB.
    #[error("Collection size exceeded.")]
    ItemCollectionSizeLimitExceeded,
    #[error("{0}")]
    RequestTooLarge(String),
    /// A write's condition was false; `item` is the current item (already in DynamoDB JSON)
    /// when the request asked for it with `ReturnValuesOnConditionCheckFailure=ALL_OLD`.
    #[error("The conditional request failed")]
    ConditionalCheckFailed { item: Option<serde_json::Value> },
    /// TransactWriteItems/TransactGetItems cancelled: one reason per action, in order
    /// (`{"Code": "None"}` for actions that did not fail).
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes(.reasons))]
    TransactionCanceled { reasons: Vec<serde_json::Value> },
    #[error("{0}")]
    TransactionConflict(String),
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    TrimmedDataAccess(String),
    /// A PartiQL INSERT of an item that exists.
    #[error("{0}")]
    DuplicateItem(String),
    #[error("{0}")]
    TransactionInProgress(String),
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// A table, index or partition out of capacity.
    #[error("{}", .0.message())]
    Throttled(crate::capacity::Throttled),
    #[error("{0}")]
    Internal(String),
}

fn codes(reasons: &[serde_json::Value]) -> String {
    reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where an error's `__type` lives, as real DynamoDB sends it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Namespace {
    Validate,
    Service,
    DynamoDb,
}

impl Namespace {
    fn prefix(self) -> &'static str {
        match self {
            Namespace::Validate => "com.amazon.coral.validate#",
            Namespace::Service => "com.amazon.coral.service#",
            Namespace::DynamoDb => "com.amazonaws.dynamodb.v20120810#",
        }
    }
}

impl Error {
    pub fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    /// The short error code (the part after `#` in `__type`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "ValidationException",
            Error::Serialization(_) => "SerializationException",
            Error::UnknownOperation => "UnknownOperationException",
            Error::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            Error::IncompleteSignature(_) => "IncompleteSignatureException",
            Error::UnrecognizedClient => "UnrecognizedClientException",
            Error::InvalidSignature(_) => "InvalidSignatureException",
            Error::ResourceNotFound(_) => "ResourceNotFoundException",
            Error::ResourceInUse(_) => "ResourceInUseException",
            Error::TableNotFound(_) => "TableNotFoundException",
            Error::TableInUse(_) => "TableInUseException",
            Error::TableAlreadyExists(_) => "TableAlreadyExistsException",
            Error::BackupNotFound(_) => "BackupNotFoundException",
            Error::BackupInUse(_) => "BackupInUseException",
            Error::PointInTimeRecoveryUnavailable(_) => "PointInTimeRecoveryUnavailableException",
            Error::InvalidRestoreTime(_) => "InvalidRestoreTimeException",
            Error::InvalidExportTime(_) => "InvalidExportTimeException",
            Error::ExportNotFound(_) => "ExportNotFoundException",
            Error::ImportNotFound(_) => "ImportNotFoundException",
            Error::LimitExceeded(_) => "LimitExceededException",
            Error::AccessDenied(_) => "AccessDeniedException",
            Error::ItemCollectionSizeLimitExceeded => "ItemCollectionSizeLimitExceededException",
            Error::RequestTooLarge(_) => "RequestEntityTooLarge",
            Error::ConditionalCheckFailed { .. } => "ConditionalCheckFailedException",
            Error::TransactionCanceled { .. } => "TransactionCanceledException",
            Error::TransactionConflict(_) => "TransactionConflictException",
            Error::DuplicateItem(_) => "DuplicateItemException",
            Error::ExpiredIterator(_) => "ExpiredIteratorException",
            Error::TrimmedDataAccess(_) => "TrimmedDataAccessException",
            Error::TransactionInProgress(_) => "TransactionInProgressException",
            Error::IdempotentParameterMismatch(_) => "IdempotentParameterMismatchException",
            Error::Throttled(t) => t.code(),
            Error::Internal(_) => "InternalServerError",
        }
    }

    fn namespace(&self) -> Namespace {
        match self {
            Error::Validation(_) => Namespace::Validate,
            Error::Serialization(_)
            | Error::UnknownOperation
            | Error::MissingAuthenticationToken(_)
            | Error::IncompleteSignature(_)
            | Error::UnrecognizedClient
            | Error::InvalidSignature(_)
            | Error::RequestTooLarge(_) => Namespace::Service,
            _ => Namespace::DynamoDb,
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            Error::Internal(_) => 500,
            Error::RequestTooLarge(_) => 413,
            _ => 400,
        }
    }

    /// The JSON error body. SerializationException spells its member `Message` and
    /// UnknownOperationException carries no message at all, as DynamoDB does.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = serde_json::Map::new();
        body.insert(
            "__type".into(),
            format!("{}{}", self.namespace().prefix(), self.code()).into(),
        );
        match self {
            Error::UnknownOperation => {}
            Error::Serialization(_)
            | Error::TransactionInProgress(_)
            | Error::IdempotentParameterMismatch(_) => {
                body.insert("Message".into(), self.to_string().into());
            }
            Error::TransactionCanceled { reasons } => {
                body.insert("Message".into(), self.to_string().into());
                body.insert("CancellationReasons".into(), reasons.clone().into());
            }
            Error::Internal(_) => {
                // Internal details stay in the server log, not in the client's face.
                body.insert("message".into(), "Internal server error".into());
            }
            Error::Throttled(t) => {
                body.insert("message".into(), self.to_string().into());
                body.insert(t.reasons_member().into(), t.reasons_json());
            }
            Error::ConditionalCheckFailed { item } => {
                body.insert("message".into(), self.to_string().into());
                if let Some(item) = item {
                    body.insert("Item".into(), item.clone());
                }
            }
            other => {
                body.insert("message".into(), other.to_string().into());
            }
        }
        serde_json::Value::Object(body).to_string().into_bytes()
    }
}

impl From<crate::auth::verify::AuthError> for Error {
    fn from(e: crate::auth::verify::AuthError) -> Self {
        use crate::auth::verify::AuthError;
        match e {
            AuthError::UnrecognizedClient => Error::UnrecognizedClient,
            AuthError::InvalidSignature(m) => Error::InvalidSignature(m),
            AuthError::MissingToken => Error::MissingAuthenticationToken(e.message()),
        }
    }
}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Internal(format!("storage: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(format!("io: {e}"))
    }
}

/// A stored record that does not decode: never the client's fault.
#[derive(Debug)]
pub struct CorruptRecord(pub &'static str);

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt record: {}", self.0)
    }
}

impl From<CorruptRecord> for Error {
    fn from(e: CorruptRecord) -> Self {
        Error::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &Error) -> serde_json::Value {
        serde_json::from_slice(&e.to_body()).unwrap()
    }

    #[test]
    fn namespaces_and_member_names_follow_dynamodb() {
        let v = body(&Error::validation("bad"));
        assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException");
        assert_eq!(v["message"], "bad");
        let s = body(&Error::Serialization("oops".into()));
        assert_eq!(
            s["__type"],
            "com.amazon.coral.service#SerializationException"
        );
        assert_eq!(s["Message"], "oops");
        assert!(s.get("message").is_none());
        let r = body(&Error::ResourceNotFound("gone".into()));
        assert_eq!(
            r["__type"],
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
        );
        let u = body(&Error::UnknownOperation);
        assert_eq!(u.as_object().unwrap().len(), 1);
        let c = body(&Error::ConditionalCheckFailed {
            item: Some(serde_json::json!({"p": {"S": "x"}})),
        });
        assert_eq!(
            c["__type"],
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
        );
        assert_eq!(c["message"], "The conditional request failed");
        assert_eq!(c["Item"]["p"]["S"], "x");
    }

    #[test]
    fn only_internal_errors_are_5xx() {
        assert_eq!(Error::Internal("x".into()).http_status(), 500);
        assert_eq!(Error::validation("x").http_status(), 400);
        assert_eq!(Error::ResourceInUse("x".into()).http_status(), 400);
        let b = body(&Error::Internal("rocksdb said no".into()));
        assert_eq!(b["message"], "Internal server error");
    }
}
