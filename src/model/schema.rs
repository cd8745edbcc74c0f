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

/// A table's or index's key. Tables and LSIs have one partition key attribute and at most one
/// sort key attribute; a GSI's partition and sort keys may each be made of up to four
/// attributes (multi-attribute keys), hashed together and ordered left to right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    #[serde(with = "key_attributes")]
    pub hash: Vec<KeyAttribute>,
    #[serde(with = "key_attributes")]
    pub range: Vec<KeyAttribute>,
}

/// The most attributes a GSI's partition key, or its sort key, may be made of.
pub const MAX_KEY_ATTRIBUTES: usize = 4;

/// Stored as before multi-attribute keys existed: `null` for no attribute, an object for one,
/// so catalogs and backups written by earlier versions read unchanged.
mod key_attributes {
    use super::KeyAttribute;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        One(KeyAttribute),
        Many(Vec<KeyAttribute>),
    }

    pub fn serialize<S: Serializer>(v: &[KeyAttribute], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [] => s.serialize_none(),
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyAttribute>, D::Error> {
        Ok(match Option::<Stored>::deserialize(d)? {
            None => Vec::new(),
            Some(Stored::One(one)) => vec![one],
            Some(Stored::Many(many)) => many,
        })
    }
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
    /// A one-attribute partition key and an optional one-attribute sort key.
    pub fn simple(hash: KeyAttribute, range: Option<KeyAttribute>) -> Self {
        KeySchema {
            hash: vec![hash],
            range: range.into_iter().collect(),
        }
    }

    /// The partition key attribute of a table or LSI (the first of a GSI's).
    pub fn hash_key(&self) -> &KeyAttribute {
        &self.hash[0]
    }

    /// The sort key attribute of a table or LSI (the first of a GSI's).
    pub fn range_key(&self) -> Option<&KeyAttribute> {
        self.range.first()
    }

    pub fn is_multi_attribute(&self) -> bool {
        self.hash.len() > 1 || self.range.len() > 1
    }

    pub fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        self.hash.iter().chain(&self.range)
    }

    /// An item's values of the partition and of the sort key attributes, in key schema order;
    /// `None` if it lacks one.
    pub fn values_in<'a>(
        &self,
        item: &'a Item,
    ) -> Option<(Vec<&'a AttributeValue>, Vec<&'a AttributeValue>)> {
        let values = |attrs: &[KeyAttribute]| -> Option<Vec<&'a AttributeValue>> {
            attrs.iter().map(|a| item.get(&a.name)).collect()
        };
        Some((values(&self.hash)?, values(&self.range)?))
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
        let hash = get(self.hash_key())?;
        let range = self.range_key().map(get).transpose()?;
        Ok(KeyValues { hash, range })
    }

    /// A `Key` parameter (GetItem, DeleteItem): exactly the schema's attributes.
    pub fn key_of_request<'a>(&self, key: &'a Item) -> Result<KeyValues<'a>> {
        let mismatch = || Error::validation("The provided key element does not match the schema");
        let expected = 1 + self.range_key().is_some() as usize;
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
        let hash = get(self.hash_key())?;
        let range = self.range_key().map(get).transpose()?;
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
    if let Some(kind) = v.empty_key_kind() {
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
        check_key_sizes(self.hash.size(), self.range.map_or(0, AttributeValue::size))
    }
}

/// DynamoDB's key size limits: a partition key at most 2048 bytes and a sort key at most 1024,
/// summed over the attributes of a multi-attribute key.
pub fn check_key_sizes(hash_bytes: usize, range_bytes: usize) -> Result<()> {
    if hash_bytes > MAX_PARTITION_KEY_BYTES {
        return Err(Error::validation(format!(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of {MAX_PARTITION_KEY_BYTES} bytes"
        )));
    }
    if range_bytes > MAX_SORT_KEY_BYTES {
        return Err(Error::validation(format!(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of {MAX_SORT_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item_from_json;
    use serde_json::json;

    fn schema() -> KeySchema {
        KeySchema::simple(
            KeyAttribute {
                name: "p".into(),
                ty: ScalarType::S,
            },
            Some(KeyAttribute {
                name: "c".into(),
                ty: ScalarType::N,
            }),
        )
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

    #[test]
    fn stored_form_reads_what_earlier_versions_wrote() {
        let old = r#"{"hash":{"name":"p","ty":"S"},"range":null}"#;
        let k: KeySchema = serde_json::from_str(old).unwrap();
        assert_eq!(k.hash.len(), 1);
        assert!(k.range.is_empty());
        assert_eq!(serde_json::to_string(&k).unwrap(), old);
        let s = schema();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"hash":{"name":"p","ty":"S"},"range":{"name":"c","ty":"N"}}"#
        );
        let mut multi = s.clone();
        multi.range.push(KeyAttribute {
            name: "d".into(),
            ty: ScalarType::B,
        });
        let back: KeySchema =
            serde_json::from_str(&serde_json::to_string(&multi).unwrap()).unwrap();
        assert_eq!(back, multi);
    }
}
