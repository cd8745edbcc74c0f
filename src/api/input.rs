//! Reading request members with DynamoDB's two kinds of input errors: a member of the wrong
//! JSON kind is a SerializationException at once; constraint violations (missing, too long,
//! not in the enum...) are collected and reported together, as DynamoDB's validation layer
//! does: `2 validation errors detected: Value null at 'tableName' failed to satisfy constraint:
//! Member must not be null; ...`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::wire::{type_mismatch, JsonKind};

/// One JSON object of a request (the body, or a nested structure).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    obj: &'a Map<String, Value>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Input<'a> {
    pub fn new(body: &'a Value) -> Result<Input<'a>> {
        match body {
            Value::Object(obj) => Ok(Input { obj }),
            Value::Null => Ok(Input { obj: &EMPTY }),
            _ => Err(Error::Serialization(
                "Start of structure or map found where not expected".into(),
            )),
        }
    }

    /// A member, with JSON `null` read as absent (as DynamoDB does).
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    pub fn str(&self, name: &str) -> Result<Option<&'a str>> {
        self.raw(name)
            .map(|v| v.as_str().ok_or_else(|| type_mismatch(v, JsonKind::String)))
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.raw(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| type_mismatch(v, JsonKind::Boolean))
            })
            .transpose()
    }

    /// An integer member (`Integer` or `Long` in the service model).
    pub fn int(&self, name: &str, kind: JsonKind) -> Result<Option<i64>> {
        self.raw(name)
            .map(|v| match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f as i64))
                    .ok_or_else(|| type_mismatch(v, kind)),
                _ => Err(type_mismatch(v, kind)),
            })
            .transpose()
    }

    pub fn list(&self, name: &str) -> Result<Option<&'a Vec<Value>>> {
        self.raw(name)
            .map(|v| v.as_array().ok_or_else(|| type_mismatch(v, JsonKind::List)))
            .transpose()
    }

    pub fn map(&self, name: &str) -> Result<Option<&'a Map<String, Value>>> {
        self.raw(name)
            .map(|v| v.as_object().ok_or_else(|| type_mismatch(v, JsonKind::Map)))
            .transpose()
    }

    /// A nested structure; `class` names it in DynamoDB's error for a list in its place.
    pub fn structure(&self, name: &str, class: &'static str) -> Result<Option<Input<'a>>> {
        self.raw(name).map(|v| Input::element(v, class)).transpose()
    }

    /// An element of a list of structures.
    pub fn element(v: &'a Value, class: &'static str) -> Result<Input<'a>> {
        match v {
            Value::Object(obj) => Ok(Input { obj }),
            other => Err(type_mismatch(other, JsonKind::Structure(class))),
        }
    }

    /// A list of strings (e.g. `NonKeyAttributes`, `TagKeys`).
    pub fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>> {
        self.list(name)?
            .map(|l| {
                l.iter()
                    .map(|v| v.as_str().ok_or_else(|| type_mismatch(v, JsonKind::String)))
                    .collect()
            })
            .transpose()
    }
}

/// A member that constraint checking has already required: absent only if that check was
/// skipped, which would be a bug here, not the client's error.
pub fn present<T>(v: Option<T>) -> Result<T> {
    v.ok_or_else(|| Error::Internal("a required member passed validation absent".into()))
}

/// Collects constraint violations in request order.
#[derive(Default)]
pub struct Constraints {
    errors: Vec<String>,
}

pub const NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";

pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl Constraints {
    pub fn fail(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        let shown = match value {
            Some(v) => format!("'{v}'"),
            None => "null".into(),
        };
        self.errors.push(format!(
            "Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    pub fn not_null<T>(&mut self, value: Option<T>, path: &str) -> Option<T> {
        if value.is_none() {
            self.fail(None, path, "Member must not be null");
        }
        value
    }

    pub fn length(&mut self, value: Option<&str>, path: &str, min: usize, max: usize) {
        if let Some(v) = value {
            let n = v.chars().count();
            if n < min {
                self.fail(
                    Some(v),
                    path,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
            if n > max {
                self.fail(
                    Some(v),
                    path,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Table and index names: 3 to 255 of `[a-zA-Z0-9_.-]`.
    pub fn name(&mut self, value: Option<&str>, path: &str) {
        if let Some(v) = value {
            if !is_valid_name(v) {
                self.fail(
                    Some(v),
                    path,
                    &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
                );
            }
        }
        self.length(value, path, 3, 255);
    }

    pub fn one_of(&mut self, value: Option<&str>, path: &str, allowed: &[&str]) {
        if let Some(v) = value {
            if !allowed.contains(&v) {
                self.fail(
                    Some(v),
                    path,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub fn at_least(&mut self, value: Option<i64>, path: &str, min: i64) {
        if let Some(v) = value.filter(|&v| v < min) {
            self.fail(
                Some(&v.to_string()),
                path,
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
    }

    pub fn at_most(&mut self, value: Option<i64>, path: &str, max: i64) {
        if let Some(v) = value.filter(|&v| v > max) {
            self.fail(
                Some(&v.to_string()),
                path,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    /// Count constraints on a list or map, shown the way DynamoDB prints collections.
    pub fn count(&mut self, len: Option<usize>, shown: &str, path: &str, min: usize, max: usize) {
        if let Some(n) = len {
            if n < min {
                self.fail(
                    Some(shown),
                    path,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
            if n > max {
                self.fail(
                    Some(shown),
                    path,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        match self.errors.len() {
            0 => Ok(()),
            n => Err(Error::validation(format!(
                "{n} validation error{} detected: {}",
                if n > 1 { "s" } else { "" },
                self.errors.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregates_in_order() {
        let mut c = Constraints::default();
        c.not_null(None::<&str>, "tableName");
        c.name(Some("a;"), "indexName");
        let e = c.finish().unwrap_err().to_string();
        assert_eq!(e, "3 validation errors detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null; Value 'a;' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a;' at 'indexName' failed to satisfy constraint: Member must have length greater than or equal to 3");
        assert!(Constraints::default().finish().is_ok());
    }

    #[test]
    fn wrong_kinds_are_serialization_errors() {
        let body = json!({"TableName": 5, "Limit": "x", "Flag": null});
        let i = Input::new(&body).unwrap();
        assert_eq!(
            i.str("TableName").unwrap_err().code(),
            "SerializationException"
        );
        assert_eq!(
            i.int("Limit", JsonKind::Integer).unwrap_err().to_string(),
            "STRING_VALUE cannot be converted to Integer"
        );
        assert_eq!(i.bool("Flag").unwrap(), None);
        assert_eq!(
            Input::new(&json!([1])).err().unwrap().code(),
            "SerializationException"
        );
    }
}
