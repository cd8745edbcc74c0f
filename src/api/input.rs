//! Reading request members with DynamoDB's two kinds of input errors: a member of the wrong
//! JSON kind is a SerializationException at once; constraint violations (missing, too long,
//! not in the enum...) are collected and reported together, as DynamoDB's validation layer
//! does: `2 validation errors detected: Value null at 'tableName' failed to satisfy constraint:
//! Member must not be null; ...`.

use std::cell::Cell;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::item_from_json;
use crate::model::parse::{self, Got};
use crate::model::wire::{type_mismatch, JsonKind};
use crate::model::{AttributeValue, Item};

/// The top-level members holding an item: PutItem's `Item` (most of a write's bytes) and the
/// `Key` of GetItem, UpdateItem and DeleteItem. A `Body` reads them without a JSON tree.
const ITEM_MEMBERS: [&str; 2] = ["Item", "Key"];

/// An item member read from the body, until a handler takes it.
type ReadItem = Cell<Option<Result<Item>>>;

/// A request body: its members as JSON, except the item members, which are read straight into
/// items (absent if null).
pub struct Body {
    json: Value,
    items: [Option<ReadItem>; ITEM_MEMBERS.len()],
}

impl Body {
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Body> {
        serde_json::from_slice(bytes)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Body, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl BodyVisitor {
    fn json<E>(json: Value) -> std::result::Result<Body, E> {
        Ok(Body {
            json,
            items: Default::default(),
        })
    }
}

/// Anything but an object is kept as JSON, for `Input::body` to refuse as it would any body.
impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON request body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Body, A::Error> {
        let (mut members, mut items) = (
            Map::new(),
            <[Option<ReadItem>; ITEM_MEMBERS.len()]>::default(),
        );
        while let Some(name) = map.next_key::<String>()? {
            match ITEM_MEMBERS.iter().position(|m| *m == name) {
                Some(i) => {
                    items[i] = match map.next_value_seed(parse::item_seed())? {
                        Got::Null => None,
                        got => Some(Cell::new(Some(parse::item(got)))),
                    }
                }
                None => {
                    members.insert(name, map.next_value()?);
                }
            }
        }
        Ok(Body {
            json: Value::Object(members),
            items,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Body, A::Error> {
        let seq = serde::de::value::SeqAccessDeserializer::new(seq);
        Self::json(Value::Array(Vec::deserialize(seq)?))
    }

    fn visit_bool<E>(self, b: bool) -> std::result::Result<Body, E> {
        Self::json(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> std::result::Result<Body, E> {
        Self::json(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> std::result::Result<Body, E> {
        Self::json(n.into())
    }

    fn visit_f64<E>(self, n: f64) -> std::result::Result<Body, E> {
        Self::json(n.into())
    }

    fn visit_str<E>(self, s: &str) -> std::result::Result<Body, E> {
        Self::json(s.into())
    }

    fn visit_unit<E>(self) -> std::result::Result<Body, E> {
        Self::json(Value::Null)
    }
}

/// One JSON object of a request (the body, or a nested structure).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    obj: &'a Map<String, Value>,
    /// The body's item members, read already (see `Body`).
    items: Option<&'a [Option<ReadItem>; ITEM_MEMBERS.len()]>,
}

/// A member holding an item, read on demand.
pub enum ItemMember<'a> {
    Json(&'a Value),
    Read(&'a ReadItem),
}

impl ItemMember<'_> {
    /// The item's top-level attribute names, and the value of `key` as text (a string, a
    /// number's digits, a binary's base64), for authorization: the item stays for the handler.
    /// An item that does not read gives nothing (the handler refuses it).
    pub fn names_and_key(&self, key: &str) -> (Vec<String>, Option<String>) {
        match self {
            ItemMember::Json(v) => {
                let Some(obj) = v.as_object() else {
                    return (Vec::new(), None);
                };
                let text = obj
                    .get(key)
                    .and_then(Value::as_object)
                    .and_then(|typed| typed.values().next())
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (obj.keys().cloned().collect(), text)
            }
            ItemMember::Read(cell) => {
                let held = cell.take();
                let seen = match &held {
                    Some(Ok(item)) => (
                        item.keys().cloned().collect(),
                        item.get(key).and_then(AttributeValue::key_text),
                    ),
                    _ => (Vec::new(), None),
                };
                cell.set(held);
                seen
            }
        }
    }

    pub fn read(self) -> Result<Item> {
        match self {
            ItemMember::Json(v) => item_from_json(v),
            ItemMember::Read(item) => item
                .take()
                .unwrap_or_else(|| Err(Error::Internal("an item member read twice".into()))),
        }
    }
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Input<'a> {
    /// The request body.
    pub fn body(body: &'a Body) -> Result<Input<'a>> {
        Ok(Input {
            items: Some(&body.items),
            ..Input::new(&body.json)?
        })
    }

    pub fn new(body: &'a Value) -> Result<Input<'a>> {
        let obj = |obj| Input { obj, items: None };
        match body {
            Value::Object(o) => Ok(obj(o)),
            Value::Null => Ok(obj(&EMPTY)),
            _ => Err(Error::Serialization(
                "Start of structure or map found where not expected".into(),
            )),
        }
    }

    /// The members as JSON (the body's item members are not among them: see `item`).
    pub fn object(&self) -> &'a Map<String, Value> {
        self.obj
    }

    /// A member, with JSON `null` read as absent (as DynamoDB does).
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// A member holding an item (`Item`, `Key`), with JSON `null` read as absent.
    pub fn item(&self, name: &str) -> Option<ItemMember<'a>> {
        let read = ITEM_MEMBERS.iter().position(|m| *m == name);
        match (self.items, read) {
            (Some(items), Some(i)) => items[i].as_ref().map(ItemMember::Read),
            _ => self.raw(name).map(ItemMember::Json),
        }
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
            Value::Object(obj) => Ok(Input { obj, items: None }),
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

    /// Length constraints on every string of a list, reported once for the list as DynamoDB
    /// reports them.
    pub fn each_length(&mut self, values: Option<&[&str]>, path: &str, min: usize, max: usize) {
        let Some(values) = values else {
            return;
        };
        let outside = |v: &&str| !(min..=max).contains(&v.chars().count());
        if values.iter().any(outside) {
            self.fail(
                Some(&format!("[{}]", values.join(", "))),
                path,
                &format!("Member must satisfy constraint: [Member must have length less than or equal to {max}, Member must have length greater than or equal to {min}]"),
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

    #[test]
    fn the_body_items_are_read_straight_and_the_rest_kept_as_json() {
        let body = Body::parse(
            br#"{"TableName": "t", "Item": {"k": {"S": "v"}}, "Key": {"k": {"N": "1"}}}"#,
        )
        .unwrap();
        let input = Input::body(&body).unwrap();
        assert_eq!(input.str("TableName").unwrap(), Some("t"));
        let item = input.item("Item").unwrap().read().unwrap();
        assert_eq!(item_from_json(&json!({"k": {"S": "v"}})).unwrap(), item);
        let key = input.item("Key").unwrap().read().unwrap();
        assert_eq!(item_from_json(&json!({"k": {"N": "1"}})).unwrap(), key);
        assert!(input.raw("Key").is_none(), "not kept twice");
        // A nested structure's `Key` (a batch's or a transaction's) stays JSON, read on demand.
        let nested = json!({"Key": {"k": {"S": "v"}}});
        let nested = Input::new(&nested).unwrap();
        assert!(matches!(nested.item("Key"), Some(ItemMember::Json(_))));
        // A null item is absent; an item of the wrong kind fails when read, not when parsed.
        let body = Body::parse(br#"{"Item": null}"#).unwrap();
        assert!(Input::body(&body).unwrap().item("Item").is_none());
        let body = Body::parse(br#"{"Item": "x", "TableName": 5}"#).unwrap();
        let input = Input::body(&body).unwrap();
        assert_eq!(
            input.str("TableName").unwrap_err().code(),
            "SerializationException"
        );
        let e = input.item("Item").unwrap().read().unwrap_err();
        assert_eq!(e.to_string(), "Unexpected field type");
        // Bodies that are not objects fail as they did as JSON trees.
        for bytes in [&b"[1]"[..], b"5", b"\"x\"", b"true"] {
            let body = Body::parse(bytes).unwrap();
            assert_eq!(
                Input::body(&body).err().unwrap().code(),
                "SerializationException"
            );
        }
        assert!(Input::body(&Body::parse(b"null").unwrap()).is_ok());
    }
}
