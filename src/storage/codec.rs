//! The stored form of an item: a compact, versioned binary encoding (not JSON), with the
//! DynamoDB item size in the header so capacity and limits need no re-measuring.
//!
//! ```text
//! item  = version:u8(=1) size:u32le count:varint (name value)*
//! name  = len:varint utf8
//! value = tag:u8 payload       (tags below; N payload is the order-preserving number key)
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::io::Write;

use crate::error::CorruptRecord;
use crate::model::{AttributeValue, Item, Number};

const VERSION: u8 = 1;

const T_S: u8 = 1;
const T_N: u8 = 2;
const T_B: u8 = 3;
const T_FALSE: u8 = 4;
const T_TRUE: u8 = 5;
const T_NULL: u8 = 6;
const T_SS: u8 = 7;
const T_NS: u8 = 8;
const T_BS: u8 = 9;
const T_L: u8 = 10;
const T_M: u8 = 11;

/// An item as stored, read from the database: decoded or written out as JSON on demand.
pub struct StoredItem(Vec<u8>);

impl StoredItem {
    pub fn new(bytes: Vec<u8>) -> StoredItem {
        StoredItem(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn size(&self) -> Result<usize, CorruptRecord> {
        stored_size(&self.0)
    }

    pub fn decode(&self) -> Result<Item, CorruptRecord> {
        decode_item(&self.0)
    }

    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        write_item_json(&self.0, out)
    }
}

pub fn encode_item(item: &Item, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 16);
    out.push(VERSION);
    out.extend_from_slice(&(size as u32).to_le_bytes());
    encode_map(item, &mut out);
    out
}

/// The item size recorded in a stored item's header.
pub fn stored_size(bytes: &[u8]) -> Result<usize, CorruptRecord> {
    match bytes {
        [VERSION, a, b, c, d, ..] => Ok(u32::from_le_bytes([*a, *b, *c, *d]) as usize),
        _ => Err(CorruptRecord("item header")),
    }
}

pub fn decode_item(bytes: &[u8]) -> Result<Item, CorruptRecord> {
    read_whole(bytes, Reader::map)
}

/// Writes a stored item as DynamoDB JSON straight from its stored bytes, so the read path
/// never builds the item in memory just to serialise it.
pub fn write_item_json(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
    read_whole(bytes, |r| r.map_json(out))
}

fn read_whole<'a, T>(
    bytes: &'a [u8],
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, CorruptRecord>,
) -> Result<T, CorruptRecord> {
    stored_size(bytes)?;
    let mut r = Reader { buf: bytes, pos: 5 };
    let value = read(&mut r)?;
    if r.pos != bytes.len() {
        return Err(CorruptRecord("trailing bytes"));
    }
    Ok(value)
}

fn varint(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    varint(b.len(), out);
    out.extend_from_slice(b);
}

fn encode_map(m: &Item, out: &mut Vec<u8>) {
    varint(m.len(), out);
    for (k, v) in m {
        bytes(k.as_bytes(), out);
        encode_value(v, out);
    }
}

fn encode_value(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => {
            out.push(T_S);
            bytes(s.as_bytes(), out);
        }
        AttributeValue::N(n) => {
            out.push(T_N);
            n.encode_key(out);
        }
        AttributeValue::B(b) => {
            out.push(T_B);
            bytes(b, out);
        }
        AttributeValue::Bool(b) => out.push(if *b { T_TRUE } else { T_FALSE }),
        AttributeValue::Null => out.push(T_NULL),
        AttributeValue::SS(set) => {
            out.push(T_SS);
            varint(set.len(), out);
            set.iter().for_each(|s| bytes(s.as_bytes(), out));
        }
        AttributeValue::NS(set) => {
            out.push(T_NS);
            varint(set.len(), out);
            set.iter().for_each(|n| n.encode_key(out));
        }
        AttributeValue::BS(set) => {
            out.push(T_BS);
            varint(set.len(), out);
            set.iter().for_each(|b| bytes(b, out));
        }
        AttributeValue::L(list) => {
            out.push(T_L);
            varint(list.len(), out);
            list.iter().for_each(|e| encode_value(e, out));
        }
        AttributeValue::M(m) => {
            out.push(T_M);
            encode_map(m, out);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CorruptRecord> {
        let b = *self.buf.get(self.pos).ok_or(CorruptRecord("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<usize, CorruptRecord> {
        let mut v = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as usize) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(CorruptRecord("varint"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CorruptRecord> {
        let len = self.varint()?;
        let end = self.pos.checked_add(len).ok_or(CorruptRecord("length"))?;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or(CorruptRecord("truncated"))?;
        self.pos = end;
        Ok(b)
    }

    fn str(&mut self) -> Result<&'a str, CorruptRecord> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CorruptRecord("utf8"))
    }

    fn string(&mut self) -> Result<String, CorruptRecord> {
        self.str().map(str::to_owned)
    }

    fn number(&mut self) -> Result<Number, CorruptRecord> {
        let (n, used) = Number::decode_key(&self.buf[self.pos..]).ok_or(CorruptRecord("number"))?;
        self.pos += used;
        Ok(n)
    }

    fn count(&mut self) -> Result<usize, CorruptRecord> {
        // Each element takes at least one byte: a larger count is corrupt, and checking it
        // keeps a bad length from reserving huge memory.
        let n = self.varint()?;
        if n > self.buf.len() - self.pos {
            return Err(CorruptRecord("count"));
        }
        Ok(n)
    }

    fn list<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, CorruptRecord>,
    ) -> Result<Vec<T>, CorruptRecord> {
        let n = self.count()?;
        (0..n).map(|_| f(self)).collect()
    }

    fn map(&mut self) -> Result<Item, CorruptRecord> {
        let n = self.count()?;
        let mut m = Item::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value()?;
            m.insert(k, v);
        }
        Ok(m)
    }

    fn value(&mut self) -> Result<AttributeValue, CorruptRecord> {
        Ok(match self.byte()? {
            T_S => AttributeValue::S(self.string()?),
            T_N => AttributeValue::N(self.number()?),
            T_B => AttributeValue::B(self.bytes()?.to_vec()),
            T_FALSE => AttributeValue::Bool(false),
            T_TRUE => AttributeValue::Bool(true),
            T_NULL => AttributeValue::Null,
            T_SS => AttributeValue::SS(self.list(Self::string)?),
            T_NS => AttributeValue::NS(self.list(Self::number)?),
            T_BS => AttributeValue::BS(self.list(|r| r.bytes().map(<[u8]>::to_vec))?),
            T_L => AttributeValue::L(self.list(Self::value)?),
            T_M => AttributeValue::M(self.map()?),
            _ => return Err(CorruptRecord("value tag")),
        })
    }
}

/// The JSON side of `Reader`: the same walk as `map`/`value`, writing DynamoDB JSON.
impl Reader<'_> {
    fn map_json(&mut self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        let n = self.count()?;
        out.push(b'{');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            json_str(self.str()?, out)?;
            out.push(b':');
            self.value_json(out)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn list_json(
        &mut self,
        out: &mut Vec<u8>,
        mut element: impl FnMut(&mut Self, &mut Vec<u8>) -> Result<(), CorruptRecord>,
    ) -> Result<(), CorruptRecord> {
        let n = self.count()?;
        out.push(b'[');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            element(self, out)?;
        }
        out.push(b']');
        Ok(())
    }

    fn string_json(&mut self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        json_str(self.str()?, out)
    }

    fn number_json(&mut self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        let n = self.number()?;
        out.push(b'"');
        write!(out, "{n}").map_err(|_| CorruptRecord("number"))?;
        out.push(b'"');
        Ok(())
    }

    fn binary_json(&mut self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        let b = self.bytes()?;
        out.push(b'"');
        out.extend_from_slice(BASE64.encode(b).as_bytes());
        out.push(b'"');
        Ok(())
    }

    fn value_json(&mut self, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
        match self.byte()? {
            T_S => {
                out.extend_from_slice(br#"{"S":"#);
                self.string_json(out)?;
            }
            T_N => {
                out.extend_from_slice(br#"{"N":"#);
                self.number_json(out)?;
            }
            T_B => {
                out.extend_from_slice(br#"{"B":"#);
                self.binary_json(out)?;
            }
            T_FALSE => out.extend_from_slice(br#"{"BOOL":false"#),
            T_TRUE => out.extend_from_slice(br#"{"BOOL":true"#),
            T_NULL => out.extend_from_slice(br#"{"NULL":true"#),
            T_SS => {
                out.extend_from_slice(br#"{"SS":"#);
                self.list_json(out, Self::string_json)?;
            }
            T_NS => {
                out.extend_from_slice(br#"{"NS":"#);
                self.list_json(out, Self::number_json)?;
            }
            T_BS => {
                out.extend_from_slice(br#"{"BS":"#);
                self.list_json(out, Self::binary_json)?;
            }
            T_L => {
                out.extend_from_slice(br#"{"L":"#);
                self.list_json(out, Self::value_json)?;
            }
            T_M => {
                out.extend_from_slice(br#"{"M":"#);
                self.map_json(out)?;
            }
            _ => return Err(CorruptRecord("value tag")),
        }
        out.push(b'}');
        Ok(())
    }
}

/// Whether JSON needs an escape in `s`: 16 bytes at a time, each block without an early exit
/// so the compiler turns it into SIMD compares.
fn needs_escape(s: &[u8]) -> bool {
    let special = |b: u8| u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
    let mut blocks = s.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(0, |any, &b| any | special(b)) != 0 {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| special(b) != 0)
}

fn json_str(s: &str, out: &mut Vec<u8>) -> Result<(), CorruptRecord> {
    // Most strings need no escape: a vectorised check, then a copy.
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(out, s).map_err(|_| CorruptRecord("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{item_from_json, item_size};
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut out = Vec::new();
            json_str(&s, &mut out).unwrap();
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }
    }

    #[test]
    fn round_trips_every_type() {
        let item = item_from_json(&json!({
            "s": {"S": "héllo"}, "n": {"N": "-12.5e3"}, "b": {"B": "AAEC"}, "t": {"BOOL": true},
            "f": {"BOOL": false}, "z": {"NULL": true}, "ss": {"SS": ["a", ""]},
            "ns": {"NS": ["0", "1e-130"]}, "bs": {"BS": ["AA==", "AQ=="]},
            "l": {"L": [{"M": {"x": {"L": []}}}]}, "m": {"M": {"": {"S": ""}}}
        }))
        .unwrap();
        let size = item_size(&item);
        let bytes = encode_item(&item, size);
        assert_eq!(stored_size(&bytes).unwrap(), size);
        assert_eq!(decode_item(&bytes).unwrap(), item);
    }

    #[test]
    fn json_from_stored_bytes_equals_serialising_the_decoded_item() {
        let item = item_from_json(&json!({
            "s": {"S": "quote\" backslash\\ newline\n é \u{1}"}, "n": {"N": "-12.5e3"},
            "b": {"B": "AAEC"}, "t": {"BOOL": true}, "f": {"BOOL": false}, "z": {"NULL": true},
            "ss": {"SS": ["a", ""]}, "ns": {"NS": ["0", "1e-130"]}, "bs": {"BS": ["AA==", "AQ=="]},
            "l": {"L": [{"M": {"x": {"L": []}}}, {"N": "7"}]}, "m": {"M": {"": {"S": ""}}}
        }))
        .unwrap();
        let bytes = encode_item(&item, item_size(&item));
        let mut direct = Vec::new();
        write_item_json(&bytes, &mut direct).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&direct).unwrap(),
            serde_json::to_value(&item).unwrap()
        );
        assert_eq!(direct, serde_json::to_vec(&item).unwrap());
    }

    proptest! {
        #[test]
        fn any_string_writes_as_its_json(s in any::<String>(), name in any::<String>()) {
            let mut item = Item::new();
            item.insert(name, AttributeValue::S(s));
            let bytes = encode_item(&item, item_size(&item));
            let mut direct = Vec::new();
            write_item_json(&bytes, &mut direct).unwrap();
            prop_assert_eq!(direct, serde_json::to_vec(&item).unwrap());
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_item(&bytes);
            let mut v = vec![VERSION, 0, 0, 0, 0];
            v.extend(bytes);
            let _ = decode_item(&v);
            let _ = write_item_json(&v, &mut Vec::new());
        }
    }
}
