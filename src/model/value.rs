//! `AttributeValue`, items, and their DynamoDB JSON form: reading it with DynamoDB's exact
//! serialization and validation errors, writing it back, and the item size formula.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::number::Number;
use crate::error::{Error, Result};

pub type Item = BTreeMap<String, AttributeValue>;

/// How many maps and lists may enclose a value: 31 are accepted, 32 refused, as the live
/// service answers (for items and expression values alike).
pub const MAX_NESTING: usize = 31;

/// Attribute names are under 64 KB: 65535 bytes are accepted, 65536 refused.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65535;

/// An attribute name in an item, an expression's names or a legacy parameter, held to the limit.
pub fn check_attribute_name(name: &str) -> Result<()> {
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(Error::validation(
            "Attribute name is too large, must be less than 65536 bytes",
        ));
    }
    Ok(())
}

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
    /// A key value as text, as IAM conditions compare it: a string as is, a number's digits,
    /// a binary's base64. `None` for other types (never a key).
    pub fn key_text(&self) -> Option<String> {
        match self {
            AttributeValue::S(s) => Some(s.clone()),
            AttributeValue::N(n) => Some(n.to_string()),
            AttributeValue::B(b) => Some(BASE64.encode(b)),
            _ => None,
        }
    }

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

    /// `"string"` or `"binary"` for an empty S or B, which no key attribute may hold.
    pub fn empty_key_kind(&self) -> Option<&'static str> {
        match self {
            AttributeValue::S(s) if s.is_empty() => Some("string"),
            AttributeValue::B(b) if b.is_empty() => Some("binary"),
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
        super::parse::value_from_json(v)
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
    use crate::model::item_from_json;
    use serde_json::json;

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
