//! `AttributeValue`, items, and their DynamoDB JSON form: reading it with DynamoDB's exact
//! serialization and validation errors, writing it back, and the item size formula.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::number::Number;
use super::wire::{type_mismatch, JsonKind};
use crate::error::{Error, Result};

pub type Item = BTreeMap<String, AttributeValue>;

/// Documents deeper than this are refused, as DynamoDB does.
pub const MAX_NESTING: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    SS(Vec<String>),
    NS(Vec<Number>),
    BS(Vec<Vec<u8>>),
    L(Vec<AttributeValue>),
    M(Item),
}

/// The scalar types a key attribute may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<ScalarType> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}

impl AttributeValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::SS(_) => "SS",
            AttributeValue::NS(_) => "NS",
            AttributeValue::BS(_) => "BS",
            AttributeValue::L(_) => "L",
            AttributeValue::M(_) => "M",
        }
    }

    /// The spelled-out type DynamoDB names in ADD/DELETE operand errors.
    pub fn type_word(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "STRING",
            AttributeValue::N(_) => "NUMBER",
            AttributeValue::B(_) => "BINARY",
            AttributeValue::Bool(_) => "BOOLEAN",
            AttributeValue::Null => "NULL",
            AttributeValue::SS(_) => "STRING_SET",
            AttributeValue::NS(_) => "NUMBER_SET",
            AttributeValue::BS(_) => "BINARY_SET",
            AttributeValue::L(_) => "LIST",
            AttributeValue::M(_) => "MAP",
        }
    }

    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self {
            AttributeValue::S(_) => Some(ScalarType::S),
            AttributeValue::N(_) => Some(ScalarType::N),
            AttributeValue::B(_) => Some(ScalarType::B),
            _ => None,
        }
    }

    /// Size of the value by DynamoDB's formula (the attribute name is counted by the caller).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::SS(v) => v.iter().map(String::len).sum(),
            AttributeValue::NS(v) => v.iter().map(number_size).sum(),
            AttributeValue::BS(v) => v.iter().map(Vec::len).sum(),
            AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + e.size()).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, e)| 1 + k.len() + e.size()).sum::<usize>()
            }
        }
    }

    /// Reads one attribute value of DynamoDB JSON (`{"S": "x"}`).
    pub fn from_json(v: &Value) -> Result<AttributeValue> {
        parse_value(v, 0)
    }
}

/// 1 byte plus one per two significant digits.
fn number_size(n: &Number) -> usize {
    (n.significant_digits() as usize).div_ceil(2) + 1
}

/// DynamoDB's item size: attribute names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Reads a map of attribute values (an `Item`, a `Key`, ...).
pub fn item_from_json(v: &Value) -> Result<Item> {
    let Value::Object(obj) = v else {
        return Err(type_mismatch(v, JsonKind::Map));
    };
    parse_map(obj, 0)
}

fn parse_map(obj: &serde_json::Map<String, Value>, depth: usize) -> Result<Item> {
    let mut item = Item::new();
    for (name, value) in obj {
        if value.is_null() {
            continue;
        }
        item.insert(name.clone(), parse_value(value, depth)?);
    }
    Ok(item)
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

fn parse_value(v: &Value, depth: usize) -> Result<AttributeValue> {
    if depth > MAX_NESTING {
        return Err(Error::validation(
            "Nesting Levels have exceeded supported limits",
        ));
    }
    let Value::Object(obj) = v else {
        return Err(Error::Serialization(
            "Unexpected value type in payload".into(),
        ));
    };
    let mut found: Option<AttributeValue> = None;
    let mut count = 0;
    for (tag, inner) in obj {
        if inner.is_null() {
            continue;
        }
        let parsed = match tag.as_str() {
            "S" => AttributeValue::S(string(inner)?.to_owned()),
            "N" => AttributeValue::N(number(string(inner)?)?),
            "B" => AttributeValue::B(binary(inner)?),
            "BOOL" => AttributeValue::Bool(boolean(inner)?),
            "NULL" => {
                if !boolean(inner)? {
                    return Err(invalid(
                        "Null attribute value types must have the value of true",
                    ));
                }
                AttributeValue::Null
            }
            "SS" => AttributeValue::SS(string_set(inner)?),
            "NS" => AttributeValue::NS(number_set(inner)?),
            "BS" => AttributeValue::BS(binary_set(inner)?),
            "L" => {
                let Value::Array(items) = inner else {
                    return Err(type_mismatch(inner, JsonKind::List));
                };
                AttributeValue::L(
                    items
                        .iter()
                        .map(|e| parse_value(e, depth + 1))
                        .collect::<Result<_>>()?,
                )
            }
            "M" => {
                let Value::Object(m) = inner else {
                    return Err(type_mismatch(inner, JsonKind::Map));
                };
                AttributeValue::M(parse_map(m, depth + 1)?)
            }
            _ => continue,
        };
        count += 1;
        found = Some(parsed);
    }
    match (count, found) {
        (1, Some(v)) => Ok(v),
        (0, _) | (_, None) => Err(Error::validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        )),
        _ => Err(Error::validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        )),
    }
}

fn string(v: &Value) -> Result<&str> {
    v.as_str().ok_or_else(|| type_mismatch(v, JsonKind::String))
}

fn boolean(v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| type_mismatch(v, JsonKind::Boolean))
}

fn number(s: &str) -> Result<Number> {
    Number::parse(s).map_err(|e| Error::validation(e.message(s)))
}

fn binary(v: &Value) -> Result<Vec<u8>> {
    let s = v.as_str().ok_or_else(|| type_mismatch(v, JsonKind::Blob))?;
    decode_base64(s)
}

pub fn decode_base64(s: &str) -> Result<Vec<u8>> {
    BASE64.decode(s).map_err(|e| {
        Error::Serialization(format!(
            "'{s}' can not be converted to a Blob: {}",
            match e {
                base64::DecodeError::InvalidLength(n) => format!(
                    "Base64 encoded length is expected a multiple of 4 bytes but found: {n}"
                ),
                base64::DecodeError::InvalidByte(_, b) =>
                    format!("Invalid Base64 character: '{}'", b as char),
                _ => "Invalid last non-pad Base64 character dectected".into(),
            }
        ))
    })
}

fn array(v: &Value) -> Result<&Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(type_mismatch(other, JsonKind::List)),
    }
}

fn string_set(v: &Value) -> Result<Vec<String>> {
    let items = array(v)?;
    if items.is_empty() {
        return Err(invalid("An string set  may not be empty"));
    }
    let set: Vec<String> = items
        .iter()
        .map(|e| string(e).map(str::to_owned))
        .collect::<Result<_>>()?;
    if has_duplicates(&set) {
        return Err(invalid(format_args!(
            "Input collection [{}] contains duplicates.",
            set.join(", ")
        )));
    }
    Ok(set)
}

fn number_set(v: &Value) -> Result<Vec<Number>> {
    let items = array(v)?;
    if items.is_empty() {
        return Err(invalid("An number set  may not be empty"));
    }
    let set: Vec<Number> = items
        .iter()
        .map(|e| string(e).and_then(number))
        .collect::<Result<_>>()?;
    if has_duplicates(&set) {
        return Err(invalid("Input collection contains duplicates"));
    }
    Ok(set)
}

fn binary_set(v: &Value) -> Result<Vec<Vec<u8>>> {
    let items = array(v)?;
    if items.is_empty() {
        return Err(invalid("Binary sets should not be empty"));
    }
    let set: Vec<Vec<u8>> = items.iter().map(binary).collect::<Result<_>>()?;
    if has_duplicates(&set) {
        let shown: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        return Err(invalid(format_args!(
            "Input collection [{}]of type BS contains duplicates.",
            shown.join(", ")
        )));
    }
    Ok(set)
}

fn has_duplicates<T: Ord>(v: &[T]) -> bool {
    let mut refs: Vec<&T> = v.iter().collect();
    refs.sort_unstable();
    refs.windows(2).any(|w| w[0] == w[1])
}

struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(self.0))
    }
}

struct Seq<I>(I);

impl<I, T> Serialize for Seq<I>
where
    I: Iterator<Item = T> + Clone,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for e in self.0.clone() {
            seq.serialize_element(&e)?;
        }
        seq.end()
    }
}

impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            AttributeValue::S(v) => m.serialize_entry("S", v)?,
            AttributeValue::N(n) => m.serialize_entry("N", &n.to_string())?,
            AttributeValue::B(b) => m.serialize_entry("B", &Base64(b))?,
            AttributeValue::Bool(b) => m.serialize_entry("BOOL", b)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::SS(v) => m.serialize_entry("SS", v)?,
            AttributeValue::NS(v) => {
                m.serialize_entry("NS", &Seq(v.iter().map(|n| n.to_string())))?
            }
            AttributeValue::BS(v) => m.serialize_entry("BS", &Seq(v.iter().map(|b| Base64(b))))?,
            AttributeValue::L(v) => m.serialize_entry("L", v)?,
            AttributeValue::M(v) => m.serialize_entry("M", v)?,
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<AttributeValue> {
        AttributeValue::from_json(&v)
    }

    fn err(v: Value) -> (String, String) {
        let e = parse(v).unwrap_err();
        (e.code().to_string(), e.to_string())
    }

    #[test]
    fn round_trips_every_type() {
        let doc = json!({"M": {
            "s": {"S": ""}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
            "z": {"NULL": true}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2e1"]},
            "bs": {"BS": ["AA=="]}, "l": {"L": [{"S": "x"}, {"L": []}]}, "m": {"M": {}}
        }});
        let v = parse(doc).unwrap();
        let out = serde_json::to_value(&v).unwrap();
        assert_eq!(out["M"]["n"], json!({"N": "1.5"}));
        assert_eq!(out["M"]["ns"], json!({"NS": ["1", "20"]}));
        assert_eq!(out["M"]["b"], json!({"B": "AAE="}));
        assert_eq!(parse(out).unwrap(), v);
    }

    #[test]
    fn wrong_json_types_are_serialization_errors() {
        assert_eq!(
            err(json!({"N": 123})),
            (
                "SerializationException".into(),
                "NUMBER_VALUE cannot be converted to String".into()
            )
        );
        assert_eq!(
            err(json!({"S": true})).1,
            "TRUE_VALUE cannot be converted to String"
        );
        assert_eq!(err(json!({"BOOL": "yes"})).0, "SerializationException");
        assert_eq!(err(json!("x")).0, "SerializationException");
    }

    #[test]
    fn semantic_errors_are_validation_errors() {
        let cases = [
            (json!({}), "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
            (json!({"S": "a", "N": "1"}), "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
            (json!({"NULL": false}), "One or more parameter values were invalid: Null attribute value types must have the value of true"),
            (json!({"SS": []}), "One or more parameter values were invalid: An string set  may not be empty"),
            (json!({"NS": []}), "One or more parameter values were invalid: An number set  may not be empty"),
            (json!({"BS": []}), "One or more parameter values were invalid: Binary sets should not be empty"),
            (json!({"SS": ["a", "a"]}), "One or more parameter values were invalid: Input collection [a, a] contains duplicates."),
            (json!({"NS": ["1", "1.0"]}), "One or more parameter values were invalid: Input collection contains duplicates"),
            (json!({"N": "dog"}), "The parameter cannot be converted to a numeric value: dog"),
            (json!({"N": "1e126"}), "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ];
        for (v, msg) in cases {
            let (code, text) = err(v.clone());
            assert_eq!(code, "ValidationException", "{v}");
            assert_eq!(text, msg, "{v}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let mut v = json!({"S": "x"});
        for _ in 0..40 {
            v = json!({"L": [v]});
        }
        assert_eq!(err(v).1, "Nesting Levels have exceeded supported limits");
    }

    #[test]
    fn size_formula() {
        let item = item_from_json(&json!({
            "ab": {"S": "xyz"}, "n": {"N": "12345"}, "l": {"L": [{"BOOL": true}]},
            "m": {"M": {"k": {"NULL": true}}}
        }))
        .unwrap();
        // ab:2+3, n:1+(3+1), l:1+3+1+1, m:1+3+1+1+1
        assert_eq!(item_size(&item), 5 + 5 + 6 + 7);
    }
}
