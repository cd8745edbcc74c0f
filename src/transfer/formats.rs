//! The file formats of exports and imports: DynamoDB JSON lines (`{"Item": {...}}`) and CSV,
//! each plain, gzip'd or zstd'd; and the data files an export writes (gzip, with the MD5 its
//! manifest lists).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::Value;

use crate::model::{item_from_json, AttributeValue, Item, Number};

/// Opens an object for reading through its compression (`GZIP`, `ZSTD` or `NONE`).
pub fn open(path: &Path, compression: &str) -> io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    Ok(match compression {
        "GZIP" => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))),
        "ZSTD" => Box::new(BufReader::new(zstd::stream::read::Decoder::new(file)?)),
        _ => Box::new(BufReader::new(file)),
    })
}

/// One line of a DynamoDB JSON file: `{"Item": {...}}`, as exports write them.
pub fn json_line(line: &str) -> Result<Item, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("Invalid JSON: {e}"))?;
    let item = v
        .get("Item")
        .filter(|_| v.as_object().is_some_and(|o| o.len() == 1))
        .ok_or("The line is not a JSON object with one member, Item")?;
    item_from_json(item).map_err(|e| e.to_string())
}

/// How CSV rows become items: the column names, and the type of each key attribute (every
/// other column is a string, as DynamoDB imports CSV).
pub struct CsvShape<'a> {
    pub header: Vec<String>,
    pub key_types: &'a [(String, String)],
}

/// One CSV row as an item. Empty cells are left out.
pub fn csv_row(shape: &CsvShape<'_>, row: &csv::StringRecord) -> Result<Item, String> {
    if row.len() != shape.header.len() {
        return Err(format!(
            "The row has {} columns, the header {}",
            row.len(),
            shape.header.len()
        ));
    }
    let mut item = Item::new();
    for (name, cell) in shape.header.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        let kind = shape.key_types.iter().find(|(n, _)| n == name);
        let value = match kind.map(|(_, t)| t.as_str()) {
            Some("N") => AttributeValue::N(Number::parse(cell).map_err(|e| e.message(cell))?),
            Some("B") => AttributeValue::B(
                base64::engine::general_purpose::STANDARD
                    .decode(cell)
                    .map_err(|_| format!("The value of {name} is not base64"))?,
            ),
            _ => AttributeValue::S(cell.into()),
        };
        item.insert(name.clone(), value);
    }
    Ok(item)
}

/// A writer that keeps the MD5 and length of what passes through it.
pub struct Hashing<W> {
    inner: W,
    md5: Md5,
    pub len: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            md5: Md5::new(),
            len: 0,
        }
    }

    /// The MD5 in hex (an object's ETag) and base64 (the manifest's `md5Checksum`).
    pub fn finish(mut self) -> io::Result<(String, String)> {
        self.inner.flush()?;
        let digest = self.md5.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        Ok((hex, b64))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a whole small object (a manifest) as text.
pub fn read_text(path: &Path) -> io::Result<String> {
    let mut s = String::new();
    File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_items_or_say_why_not() {
        let item = json_line(r#"{"Item":{"p":{"S":"a"},"n":{"N":"1.50"}}}"#).unwrap();
        assert_eq!(item.len(), 2);
        assert!(json_line("{").unwrap_err().starts_with("Invalid JSON"));
        assert!(json_line(r#"{"Item":{"p":{"S":"a"}},"x":1}"#).is_err());
        assert!(json_line(r#"{"Item":{"p":{"Z":"a"}}}"#).is_err());
    }

    #[test]
    fn csv_rows_type_their_keys_and_leave_the_rest_strings() {
        let types = [
            ("id".to_string(), "N".to_string()),
            ("b".to_string(), "B".to_string()),
        ];
        let shape = CsvShape {
            header: vec!["id".into(), "b".into(), "name".into(), "n".into()],
            key_types: &types,
        };
        let row = csv::StringRecord::from(vec!["7", "AAE=", "x", ""]);
        let item = csv_row(&shape, &row).unwrap();
        assert_eq!(
            item.get("id"),
            Some(&AttributeValue::N(Number::parse("7").unwrap()))
        );
        assert_eq!(item.get("b"), Some(&AttributeValue::B(vec![0, 1])));
        assert_eq!(item.get("name"), Some(&AttributeValue::S("x".into())));
        assert!(!item.contains_key("n"));
        let bad = csv::StringRecord::from(vec!["seven", "AAE=", "x", ""]);
        assert!(csv_row(&shape, &bad).is_err());
        assert!(csv_row(&shape, &csv::StringRecord::from(vec!["1"])).is_err());
    }
}
