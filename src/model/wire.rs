//! DynamoDB's SerializationException wording for a JSON value of the wrong kind. The service is
//! written in Java and leaks Jackson's token names (`NUMBER_VALUE`, `TRUE_VALUE`, ...) into its
//! messages; SDKs and test suites match on them.

use serde_json::Value;

use crate::error::Error;

/// The kind of JSON member a request shape expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    String,
    Boolean,
    Integer,
    Long,
    Blob,
    List,
    Map,
    /// A timestamp (epoch seconds in the JSON protocols).
    Timestamp,
    /// A structure, named by its Java class for the "collection" message.
    Structure(&'static str),
}

impl JsonKind {
    fn java_class(self) -> &'static str {
        match self {
            JsonKind::String | JsonKind::Blob => "java.lang.String",
            JsonKind::Boolean => "java.lang.Boolean",
            JsonKind::Integer => "java.lang.Integer",
            JsonKind::Long => "java.lang.Long",
            JsonKind::List => "java.util.List",
            JsonKind::Map => "java.util.Map",
            JsonKind::Timestamp => "java.util.Date",
            JsonKind::Structure(class) => class,
        }
    }

    fn scalar_name(self) -> &'static str {
        match self {
            JsonKind::String => "String",
            JsonKind::Boolean => "Boolean",
            JsonKind::Integer => "Integer",
            JsonKind::Long => "Long",
            JsonKind::Blob => "Blob",
            JsonKind::Timestamp => "Timestamp",
            _ => "Object",
        }
    }
}

/// The kind of JSON value a parser met, as far as the messages tell kinds apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    True,
    False,
    Integer,
    Decimal,
    String,
    Null,
    Array,
    Object,
}

impl Found {
    pub fn of(v: &Value) -> Found {
        match v {
            Value::Bool(true) => Found::True,
            Value::Bool(false) => Found::False,
            Value::Number(n) if n.is_f64() => Found::Decimal,
            Value::Number(_) => Found::Integer,
            Value::String(_) => Found::String,
            Value::Null => Found::Null,
            Value::Array(_) => Found::Array,
            Value::Object(_) => Found::Object,
        }
    }

    fn token(self) -> &'static str {
        match self {
            Found::True => "TRUE_VALUE",
            Found::False => "FALSE_VALUE",
            Found::Decimal => "DECIMAL_VALUE",
            Found::Integer => "NUMBER_VALUE",
            Found::String => "STRING_VALUE",
            _ => "VALUE",
        }
    }
}

/// The error for `found` appearing where a member of kind `expected` belongs.
pub fn type_mismatch(found: &Value, expected: JsonKind) -> Error {
    mismatch(Found::of(found), expected)
}

/// `type_mismatch` for a value known by its kind only (read without a JSON tree).
pub fn mismatch(found: Found, expected: JsonKind) -> Error {
    let msg = match (found, expected) {
        (Found::Object, _) => "Start of structure or map found where not expected".to_string(),
        (Found::Array, JsonKind::List) => "Unexpected field type".to_string(),
        (Found::Array, k) => format!("Unrecognized collection type class {}", k.java_class()),
        (_, JsonKind::List | JsonKind::Map | JsonKind::Structure(_)) => {
            "Unexpected field type".to_string()
        }
        (Found::String, JsonKind::Boolean) => "Unexpected token received from parser".to_string(),
        (f, k) => format!("{} cannot be converted to {}", f.token(), k.scalar_name()),
    };
    Error::Serialization(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value, k: JsonKind) -> String {
        type_mismatch(&v, k).to_string()
    }

    #[test]
    fn messages_follow_dynamodb() {
        assert_eq!(
            msg(json!(1), JsonKind::String),
            "NUMBER_VALUE cannot be converted to String"
        );
        assert_eq!(
            msg(json!(1.5), JsonKind::String),
            "DECIMAL_VALUE cannot be converted to String"
        );
        assert_eq!(
            msg(json!(false), JsonKind::String),
            "FALSE_VALUE cannot be converted to String"
        );
        assert_eq!(
            msg(json!("x"), JsonKind::Long),
            "STRING_VALUE cannot be converted to Long"
        );
        assert_eq!(
            msg(json!({}), JsonKind::String),
            "Start of structure or map found where not expected"
        );
        assert_eq!(
            msg(json!([]), JsonKind::String),
            "Unrecognized collection type class java.lang.String"
        );
        assert_eq!(msg(json!("x"), JsonKind::List), "Unexpected field type");
    }
}
