//! A table's (or index's) primary key: which attributes, of which types. Extracting and
//! checking an item's key against it lives here, with DynamoDB's messages.

use serde::{Deserialize, Serialize};

use super::value::{AttributeValue, Item, ScalarType};
use crate::error::{Error, Result};

pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttribute {
    pub name: String,
    #[serde(with = "scalar_type_serde")]
    pub ty: ScalarType,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
}

mod scalar_type_serde {
    use super::ScalarType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &ScalarType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ScalarType, D::Error> {
        let s = String::deserialize(d)?;
        ScalarType::parse(&s).ok_or_else(|| serde::de::Error::custom("bad scalar type"))
    }
}

/// The key values of one item, borrowed from it.
pub struct KeyValues<'a> {
    pub hash: &'a AttributeValue,
    pub range: Option<&'a AttributeValue>,
}

impl KeySchema {
    pub fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.hash).chain(self.range.as_ref())
    }

    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.attributes().any(|a| a.name == name)
    }

    /// The key attributes of an item (those it has).
    pub fn key_item(&self, item: &Item) -> Item {
        self.attributes()
            .filter_map(|a| Some((a.name.clone(), item.get(&a.name)?.clone())))
            .collect()
    }

    /// The key of a full item (PutItem): every key attribute present, of the right type,
    /// within the size limits.
    pub fn key_of_item<'a>(&self, item: &'a Item) -> Result<KeyValues<'a>> {
        let get = |attr: &KeyAttribute| -> Result<&'a AttributeValue> {
            let v = item.get(&attr.name).ok_or_else(|| {
                Error::validation(format!(
                    "One or more parameter values were invalid: Missing the key {} in the item",
                    attr.name
                ))
            })?;
            check_key_value(attr, v)?;
            Ok(v)
        };
        let hash = get(&self.hash)?;
        let range = self.range.as_ref().map(get).transpose()?;
        Ok(KeyValues { hash, range })
    }

    /// A `Key` parameter (GetItem, DeleteItem): exactly the schema's attributes.
    pub fn key_of_request<'a>(&self, key: &'a Item) -> Result<KeyValues<'a>> {
        let mismatch = || Error::validation("The provided key element does not match the schema");
        let expected = 1 + self.range.is_some() as usize;
        if key.len() != expected {
            return Err(mismatch());
        }
        let get = |attr: &KeyAttribute| -> Result<&'a AttributeValue> {
            let v = key.get(&attr.name).ok_or_else(mismatch)?;
            if v.scalar_type() != Some(attr.ty) {
                return Err(mismatch());
            }
            check_key_value(attr, v)?;
            Ok(v)
        };
        let hash = get(&self.hash)?;
        let range = self.range.as_ref().map(get).transpose()?;
        let kv = KeyValues { hash, range };
        // Reads and deletes are held to the sizes writes are.
        kv.check_sizes()?;
        Ok(kv)
    }
}

/// Type, emptiness and size of one key attribute value.
fn check_key_value(attr: &KeyAttribute, v: &AttributeValue) -> Result<()> {
    if v.scalar_type() != Some(attr.ty) {
        return Err(Error::validation(format!(
            "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
            attr.name,
            attr.ty.as_str(),
            v.type_name()
        )));
    }
    let empty_kind = match v {
        AttributeValue::S(s) if s.is_empty() => Some("string"),
        AttributeValue::B(b) if b.is_empty() => Some("binary"),
        _ => None,
    };
    if let Some(kind) = empty_kind {
        return Err(Error::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
            attr.name
        )));
    }
    Ok(())
}

impl KeyValues<'_> {
    /// DynamoDB's key size limits, checked for keys that are about to be stored.
    pub fn check_sizes(&self) -> Result<()> {
        if self.hash.size() > MAX_PARTITION_KEY_BYTES {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of {MAX_PARTITION_KEY_BYTES} bytes"
            )));
        }
        if self.range.is_some_and(|r| r.size() > MAX_SORT_KEY_BYTES) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of {MAX_SORT_KEY_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item_from_json;
    use serde_json::json;

    fn schema() -> KeySchema {
        KeySchema {
            hash: KeyAttribute {
                name: "p".into(),
                ty: ScalarType::S,
            },
            range: Some(KeyAttribute {
                name: "c".into(),
                ty: ScalarType::N,
            }),
        }
    }

    fn msg(r: Result<KeyValues<'_>>) -> String {
        r.err().unwrap().to_string()
    }

    #[test]
    fn item_keys_are_checked() {
        let s = schema();
        let item = item_from_json(&json!({"p": {"S": "a"}})).unwrap();
        assert_eq!(
            msg(s.key_of_item(&item)),
            "One or more parameter values were invalid: Missing the key c in the item"
        );
        let item = item_from_json(&json!({"p": {"N": "1"}, "c": {"N": "1"}})).unwrap();
        assert_eq!(msg(s.key_of_item(&item)), "One or more parameter values were invalid: Type mismatch for key p expected: S actual: N");
        let item = item_from_json(&json!({"p": {"S": ""}, "c": {"N": "1"}})).unwrap();
        assert_eq!(msg(s.key_of_item(&item)), "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: p");
        let item =
            item_from_json(&json!({"p": {"S": "a"}, "c": {"N": "1"}, "x": {"S": ""}})).unwrap();
        assert!(s.key_of_item(&item).is_ok());
    }

    #[test]
    fn request_keys_must_match_exactly() {
        let s = schema();
        for k in [
            json!({"p": {"S": "a"}}),
            json!({"p": {"S": "a"}, "c": {"S": "1"}}),
            json!({"p": {"S": "a"}, "c": {"N": "1"}, "x": {"N": "1"}}),
        ] {
            let key = item_from_json(&k).unwrap();
            assert_eq!(
                msg(s.key_of_request(&key)),
                "The provided key element does not match the schema"
            );
        }
    }

    #[test]
    fn size_limits() {
        let s = schema();
        let big = "x".repeat(2049);
        let item = item_from_json(&json!({"p": {"S": big}, "c": {"N": "1"}})).unwrap();
        let kv = s.key_of_item(&item).unwrap();
        assert!(kv
            .check_sizes()
            .unwrap_err()
            .to_string()
            .contains("Size of hashkey"));
    }
}
