//! Reading DynamoDB JSON (`{"S": "x"}` and maps of them) with DynamoDB's exact errors. One
//! serde reader serves both sources: request bytes, read straight into an item without a JSON
//! tree in between (a PutItem's item is most of its bytes), and a `serde_json::Value` already
//! parsed (keys, expression values, items nested in batches).
//!
//! A semantic error (a bad number, an empty set...) does not stop the JSON parse: it is kept in
//! place of the value, so the request's other members are still read and its errors reported
//! in DynamoDB's order. Within an item the first error in document order is the one reported.

use std::fmt;
use std::result::Result as StdResult;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::number::Number;
use super::value::{check_attribute_name, decode_base64, AttributeValue, Item, MAX_NESTING};
use super::wire::{mismatch, Found, JsonKind};
use crate::error::{Error, Result};

/// Reads a map of attribute values (an `Item`, a `Key`, ...).
pub fn item_from_json(v: &Value) -> Result<Item> {
    item(read(Expecting(Fields { depth: 0 }), v)?)
}

/// Reads one attribute value.
pub fn value_from_json(v: &Value) -> Result<AttributeValue> {
    attribute(read(Expecting(Attribute { depth: 0 }), v)?, 0)
}

/// The seed reading an item from request bytes (see `item` for its result).
pub fn item_seed() -> Expecting<Fields> {
    Expecting(Fields { depth: 0 })
}

/// An item as read by `item_seed`, or the error it stands for.
pub fn item(got: Got<Result<Item>>) -> Result<Item> {
    match got {
        Got::Value(item) => item,
        Got::Null => Err(mismatch(Found::Null, JsonKind::Map)),
        Got::Other(found) => Err(mismatch(found, JsonKind::Map)),
    }
}

fn read<'a, E: Expect<'a>>(seed: Expecting<E>, v: &'a Value) -> Result<Got<E::Out>> {
    // Reading a tree raises no serde error of its own, and the reader raises none.
    seed.deserialize(v)
        .map_err(|e| Error::Internal(format!("reading an attribute value: {e}")))
}

/// A JSON value read as expected, or the kind it turned out to be.
pub enum Got<T> {
    Null,
    Value(T),
    Other(Found),
}

/// What a reader accepts; every other kind of value is consumed and reported as `Got::Other`.
pub trait Expect<'de>: Sized {
    type Out;
    fn bool(self, _: bool) -> Option<Self::Out> {
        None
    }
    fn string(self, _: String) -> Option<Self::Out> {
        None
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> StdResult<Option<Self::Out>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> StdResult<Option<Self::Out>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The one visitor: dispatches each kind of JSON value to the expectation.
#[derive(Clone, Copy)]
pub struct Expecting<E>(E);

fn got<T>(out: Option<T>, found: Found) -> Got<T> {
    out.map_or(Got::Other(found), Got::Value)
}

impl<'de, E: Expect<'de>> Visitor<'de> for Expecting<E> {
    type Value = Got<E::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<Er: de::Error>(self, b: bool) -> StdResult<Self::Value, Er> {
        Ok(got(
            self.0.bool(b),
            if b { Found::True } else { Found::False },
        ))
    }

    fn visit_i64<Er: de::Error>(self, _: i64) -> StdResult<Self::Value, Er> {
        Ok(Got::Other(Found::Integer))
    }

    fn visit_u64<Er: de::Error>(self, _: u64) -> StdResult<Self::Value, Er> {
        Ok(Got::Other(Found::Integer))
    }

    fn visit_f64<Er: de::Error>(self, _: f64) -> StdResult<Self::Value, Er> {
        Ok(Got::Other(Found::Decimal))
    }

    fn visit_str<Er: de::Error>(self, s: &str) -> StdResult<Self::Value, Er> {
        Ok(got(self.0.string(s.to_owned()), Found::String))
    }

    fn visit_string<Er: de::Error>(self, s: String) -> StdResult<Self::Value, Er> {
        Ok(got(self.0.string(s), Found::String))
    }

    fn visit_unit<Er: de::Error>(self) -> StdResult<Self::Value, Er> {
        Ok(Got::Null)
    }

    fn visit_none<Er: de::Error>(self) -> StdResult<Self::Value, Er> {
        Ok(Got::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> StdResult<Self::Value, A::Error> {
        Ok(got(self.0.seq(seq)?, Found::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> StdResult<Self::Value, A::Error> {
        Ok(got(self.0.map(map)?, Found::Object))
    }
}

impl<'de, E: Expect<'de>> DeserializeSeed<'de> for Expecting<E> {
    type Value = Got<E::Out>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> StdResult<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[derive(Clone, Copy)]
struct Str;

impl Expect<'_> for Str {
    type Out = String;
    fn string(self, s: String) -> Option<String> {
        Some(s)
    }
}

#[derive(Clone, Copy)]
struct Bool;

impl Expect<'_> for Bool {
    type Out = bool;
    fn bool(self, b: bool) -> Option<bool> {
        Some(b)
    }
}

/// A list whose elements `S` reads.
#[derive(Clone, Copy)]
struct List<S>(S);

impl<'de, S: DeserializeSeed<'de> + Copy> Expect<'de> for List<S> {
    type Out = Vec<S::Value>;
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> StdResult<Option<Self::Out>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(e) = seq.next_element_seed(self.0)? {
            out.push(e);
        }
        Ok(Some(out))
    }
}

/// A map of attribute values; JSON nulls in it are left out, as DynamoDB does.
#[derive(Clone, Copy)]
pub struct Fields {
    depth: usize,
}

impl<'de> Expect<'de> for Fields {
    type Out = Result<Item>;
    fn map<A: MapAccess<'de>>(self, mut map: A) -> StdResult<Option<Self::Out>, A::Error> {
        let mut item = Item::new();
        let mut error = None;
        while let Some(name) = map.next_key::<String>()? {
            let value = Expecting(Attribute { depth: self.depth });
            match map.next_value_seed(value)? {
                Got::Null => {}
                got => match check_attribute_name(&name).and(attribute(got, self.depth)) {
                    Ok(v) => {
                        item.insert(name, v);
                    }
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                },
            }
        }
        Ok(Some(error.map_or(Ok(item), Err)))
    }
}

/// One attribute value: an object with exactly one type tag.
#[derive(Clone, Copy)]
struct Attribute {
    depth: usize,
}

impl<'de> Expect<'de> for Attribute {
    type Out = Result<AttributeValue>;
    fn map<A: MapAccess<'de>>(self, mut map: A) -> StdResult<Option<Self::Out>, A::Error> {
        let mut found: Option<AttributeValue> = None;
        let (mut count, mut error) = (0, None);
        while let Some(tag) = map.next_key::<Tag>()? {
            let parsed = match tag {
                Tag::S => {
                    next_string(&mut map, JsonKind::String)?.map(|s| s.map(AttributeValue::S))
                }
                Tag::N => next_string(&mut map, JsonKind::String)?
                    .and_then(|s| s.map(|s| number(&s).map(AttributeValue::N)).transpose()),
                Tag::B => next_string(&mut map, JsonKind::Blob)?.and_then(|s| {
                    s.map(|s| decode_base64(&s).map(AttributeValue::B))
                        .transpose()
                }),
                Tag::Bool => boolean(map.next_value_seed(Expecting(Bool))?)
                    .map(|b| b.map(AttributeValue::Bool)),
                Tag::Null => boolean(map.next_value_seed(Expecting(Bool))?).and_then(|b| match b {
                    Some(false) => Err(invalid(
                        "Null attribute value types must have the value of true",
                    )),
                    b => Ok(b.map(|_| AttributeValue::Null)),
                }),
                Tag::SS => next_set(&mut map, JsonKind::String)?
                    .and_then(|s| s.map(string_set).transpose()),
                Tag::NS => next_set(&mut map, JsonKind::String)?
                    .and_then(|s| s.map(number_set).transpose()),
                Tag::BS => {
                    next_set(&mut map, JsonKind::Blob)?.and_then(|s| s.map(binary_set).transpose())
                }
                Tag::L => {
                    let element = Expecting(Attribute {
                        depth: self.depth + 1,
                    });
                    list(map.next_value_seed(Expecting(List(element)))?).and_then(|l| {
                        l.map(|l| {
                            l.into_iter()
                                .map(|e| attribute(e, self.depth + 1))
                                .collect::<Result<_>>()
                                .map(AttributeValue::L)
                        })
                        .transpose()
                    })
                }
                Tag::M => {
                    let fields = Expecting(Fields {
                        depth: self.depth + 1,
                    });
                    match map.next_value_seed(fields)? {
                        Got::Null => Ok(None),
                        got => item(got).map(|m| Some(AttributeValue::M(m))),
                    }
                }
                Tag::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match parsed {
                Ok(Some(v)) => {
                    count += 1;
                    found = Some(v);
                }
                Ok(None) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        Ok(Some(match (error, count, found) {
            (Some(e), _, _) => Err(e),
            (None, 1, Some(v)) => Ok(v),
            (None, 0, _) | (None, _, None) => Err(Error::validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            )),
            _ => Err(Error::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            )),
        }))
    }
}

/// The next map value as a string member (`None` for JSON null).
fn next_string<'de, A: MapAccess<'de>>(
    map: &mut A,
    kind: JsonKind,
) -> StdResult<Result<Option<String>>, A::Error> {
    Ok(string(map.next_value_seed(Expecting(Str))?, kind))
}

/// The next map value as the elements of a set (`None` for JSON null).
fn next_set<'de, A: MapAccess<'de>>(
    map: &mut A,
    kind: JsonKind,
) -> StdResult<Result<Option<Vec<String>>>, A::Error> {
    Ok(strings(
        map.next_value_seed(Expecting(List(Expecting(Str))))?,
        kind,
    ))
}

const NESTING_TOO_DEEP: &str = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";

/// An attribute value read at `depth`; anything but an object is refused (nesting first).
fn attribute(got: Got<Result<AttributeValue>>, depth: usize) -> Result<AttributeValue> {
    if depth > MAX_NESTING {
        return Err(Error::validation(NESTING_TOO_DEEP));
    }
    match got {
        Got::Value(v) => v,
        Got::Null | Got::Other(_) => Err(Error::Serialization(
            "Unexpected value type in payload".into(),
        )),
    }
}

/// The type tag of an attribute value, read without allocating.
enum Tag {
    S,
    N,
    B,
    Bool,
    Null,
    SS,
    NS,
    BS,
    L,
    M,
    Unknown,
}

impl<'de> serde::Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> StdResult<Tag, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = Tag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute value type")
            }
            fn visit_str<Er: de::Error>(self, s: &str) -> StdResult<Tag, Er> {
                Ok(match s {
                    "S" => Tag::S,
                    "N" => Tag::N,
                    "B" => Tag::B,
                    "BOOL" => Tag::Bool,
                    "NULL" => Tag::Null,
                    "SS" => Tag::SS,
                    "NS" => Tag::NS,
                    "BS" => Tag::BS,
                    "L" => Tag::L,
                    "M" => Tag::M,
                    _ => Tag::Unknown,
                })
            }
        }
        d.deserialize_str(TagVisitor)
    }
}

fn invalid(msg: impl fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// A string member; `None` for JSON null (the member is then left out).
fn string(got: Got<String>, kind: JsonKind) -> Result<Option<String>> {
    match got {
        Got::Value(s) => Ok(Some(s)),
        Got::Null => Ok(None),
        Got::Other(found) => Err(mismatch(found, kind)),
    }
}

fn boolean(got: Got<bool>) -> Result<Option<bool>> {
    match got {
        Got::Value(b) => Ok(Some(b)),
        Got::Null => Ok(None),
        Got::Other(found) => Err(mismatch(found, JsonKind::Boolean)),
    }
}

fn list<T>(got: Got<Vec<T>>) -> Result<Option<Vec<T>>> {
    match got {
        Got::Value(l) => Ok(Some(l)),
        Got::Null => Ok(None),
        Got::Other(found) => Err(mismatch(found, JsonKind::List)),
    }
}

/// The elements of a set, each a string (a null element included is refused).
fn strings(got: Got<Vec<Got<String>>>, kind: JsonKind) -> Result<Option<Vec<String>>> {
    list(got)?
        .map(|l| {
            l.into_iter()
                .map(|e| match e {
                    Got::Value(s) => Ok(s),
                    Got::Null => Err(mismatch(Found::Null, kind)),
                    Got::Other(found) => Err(mismatch(found, kind)),
                })
                .collect()
        })
        .transpose()
}

fn number(s: &str) -> Result<Number> {
    Number::parse(s).map_err(|e| Error::validation(e.message(s)))
}

fn string_set(set: Vec<String>) -> Result<AttributeValue> {
    if set.is_empty() {
        return Err(invalid("An string set  may not be empty"));
    }
    if has_duplicates(&set) {
        return Err(invalid(format_args!(
            "Input collection [{}] contains duplicates.",
            set.join(", ")
        )));
    }
    Ok(AttributeValue::SS(set))
}

fn number_set(set: Vec<String>) -> Result<AttributeValue> {
    if set.is_empty() {
        return Err(invalid("An number set  may not be empty"));
    }
    let set: Vec<Number> = set.iter().map(|s| number(s)).collect::<Result<_>>()?;
    if has_duplicates(&set) {
        return Err(invalid("Input collection contains duplicates"));
    }
    Ok(AttributeValue::NS(set))
}

fn binary_set(set: Vec<String>) -> Result<AttributeValue> {
    if set.is_empty() {
        return Err(invalid("Binary sets should not be empty"));
    }
    let decoded: Vec<Vec<u8>> = set
        .iter()
        .map(|s| decode_base64(s))
        .collect::<Result<_>>()?;
    if has_duplicates(&decoded) {
        return Err(invalid(format_args!(
            "Input collection [{}]of type BS contains duplicates.",
            set.join(", ")
        )));
    }
    Ok(AttributeValue::BS(decoded))
}

fn has_duplicates<T: Ord>(v: &[T]) -> bool {
    let mut refs: Vec<&T> = v.iter().collect();
    refs.sort_unstable();
    refs.windows(2).any(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads `v` from a JSON tree and, as an item's attribute, from bytes: both must agree.
    fn parse(v: Value) -> Result<AttributeValue> {
        let from_tree = value_from_json(&v);
        let bytes = serde_json::to_vec(&json!({ "a": v })).unwrap();
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let from_bytes = item(item_seed().deserialize(&mut de).unwrap()).and_then(|mut i| {
            i.remove("a")
                .ok_or_else(|| Error::Internal("absent".into()))
        });
        match (&from_tree, &from_bytes) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!((a.code(), a.to_string()), (b.code(), b.to_string())),
            _ => panic!("{v}: {from_tree:?} from a tree, {from_bytes:?} from bytes"),
        }
        from_tree
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
        assert_eq!(err(v).1, NESTING_TOO_DEEP);
        // The boundary: 31 enclosing maps or lists are accepted, 32 are not.
        let wrapped = |n: usize, kind: &str| {
            let mut v = json!({"S": "leaf"});
            for _ in 0..n {
                v = if kind == "M" {
                    json!({"M": {"n": v}})
                } else {
                    json!({"L": [v]})
                };
            }
            json!({"a": v})
        };
        for kind in ["M", "L"] {
            assert!(item_from_json(&wrapped(31, kind)).is_ok());
            assert!(item_from_json(&wrapped(32, kind)).is_err());
        }
    }

    #[test]
    fn nulls_are_left_out_of_maps_and_refused_elsewhere() {
        let item = item_from_json(&json!({"a": null, "b": {"S": null, "N": "1"}})).unwrap();
        assert_eq!(item.len(), 1);
        assert_eq!(item["b"], AttributeValue::N(Number::parse("1").unwrap()));
        assert_eq!(
            err(json!({"L": [null]})).1,
            "Unexpected value type in payload"
        );
        assert_eq!(
            err(json!({"SS": ["a", null]})).1,
            "VALUE cannot be converted to String"
        );
        assert_eq!(
            item_from_json(&json!([])).unwrap_err().to_string(),
            "Unrecognized collection type class java.util.Map"
        );
    }

    #[test]
    fn the_first_error_in_document_order_is_reported() {
        let bytes = br#"{"z": {"N": "x"}, "a": {"S": 1}}"#;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let e = item(item_seed().deserialize(&mut de).unwrap()).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
    }
}
