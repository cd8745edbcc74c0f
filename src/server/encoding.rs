//! Content codings on DynamoDB's `POST /`: gzip request bodies, and gzip or deflate answers for
//! clients that send `Accept-Encoding`, chosen the way the live service chooses them.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::HeaderMap;

use crate::error::Error;

/// DynamoDB compresses an answer of at least this many bytes, and nothing smaller.
pub const COMPRESSION_THRESHOLD: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// The request body as JSON bytes: a gzip body inflated (bounded by `limit` once inflated);
/// no coding or `identity` as sent. `aws-chunked` framing was removed when the signature was
/// verified. DynamoDB takes no other request coding.
pub fn request_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, Error> {
    let header = headers
        .get(http::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .unwrap_or_default();
    let codings: Vec<&str> = header
        .split(',')
        .map(str::trim)
        .filter(|c| !matches!(*c, "" | "identity" | "aws-chunked"))
        .collect();
    match codings.as_slice() {
        [] => Ok(body),
        ["gzip"] => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Error::Serialization(format!("Invalid gzip request body: {e}")))?;
            if out.len() > limit {
                return Err(Error::RequestTooLarge(format!(
                    "Request size exceeds the maximum of {limit} bytes"
                )));
            }
            Ok(Bytes::from(out))
        }
        _ => Err(Error::Serialization(format!(
            "Unsupported Content-Encoding: {}; requests may only be gzip encoded",
            header.trim()
        ))),
    }
}

/// The coding an answer may use, from the request's `Accept-Encoding` (the last one, if
/// repeated). Highest quality wins; on a tie a coding named outright beats one granted by `*`,
/// then the earlier named, then gzip. A quality that does not parse counts as 1; those outside
/// 0..1 are clamped; the first `q` of an entry is its quality; `identity` and unknown codings
/// are ignored.
pub fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    let header = headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .next_back()?;
    choose(&String::from_utf8_lossy(header.as_bytes()))
}

fn choose(header: &str) -> Option<Coding> {
    // Per coding: (best quality named outright, position first named).
    let mut named: [Option<(f64, usize)>; 2] = [None, None];
    let mut star: Option<f64> = None;
    for (position, entry) in header.split(',').enumerate() {
        let mut pieces = entry.split(';');
        let name = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = pieces
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim() == "q")
            .map_or(1.0, |(_, v)| {
                v.trim().parse::<f64>().map_or(1.0, |q| q.clamp(0.0, 1.0))
            });
        let slot = match name.as_str() {
            "gzip" => &mut named[0],
            "deflate" => &mut named[1],
            "*" => {
                star = Some(star.map_or(quality, |s| s.max(quality)));
                continue;
            }
            _ => continue,
        };
        *slot = Some(match *slot {
            Some((q, first)) => (q.max(quality), first),
            None => (quality, position),
        });
    }
    // (quality, named outright, earlier, gzip first) ranks the candidates.
    let rank = |i: usize| -> Option<(
        f64,
        bool,
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<usize>,
    )> {
        let (quality, explicit, position) = match named[i] {
            Some((q, at)) => (q, true, at),
            None => (star?, false, usize::MAX),
        };
        (quality > 0.0).then_some((
            quality,
            explicit,
            std::cmp::Reverse(position),
            std::cmp::Reverse(i),
        ))
    };
    let codings = [Coding::Gzip, Coding::Deflate];
    (0..2)
        .filter_map(|i| rank(i).map(|r| (r, codings[i])))
        .max_by(|(a, _), (b, _)| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, coding)| coding)
}

/// The answer's bytes in `coding`, when it is large enough to be worth it.
pub fn compress(coding: Option<Coding>, body: Vec<u8>) -> (Vec<u8>, Option<Coding>) {
    match coding {
        Some(c) if body.len() >= COMPRESSION_THRESHOLD => match encode(c, &body) {
            Ok(packed) => (packed, Some(c)),
            Err(_) => (body, None),
        },
        _ => (body, None),
    }
}

fn encode(coding: Coding, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let out = Vec::with_capacity(body.len() / 4);
    match coding {
        Coding::Gzip => {
            let mut e = GzEncoder::new(out, Compression::fast());
            e.write_all(body)?;
            e.finish()
        }
        Coding::Deflate => {
            let mut e = ZlibEncoder::new(out, Compression::fast());
            e.write_all(body)?;
            e.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the live service answered to each `Accept-Encoding`, as recorded by a public
    /// conformance suite run against it.
    #[test]
    fn negotiation_matches_the_live_service() {
        let cases: &[(&str, Option<&str>)] = &[
            ("identity", None),
            ("", None),
            ("br", None),
            ("zstd", None),
            ("x-gzip", None),
            ("gzip, deflate", Some("gzip")),
            ("br, identity, deflate, gzip", Some("deflate")),
            ("GZIP, identity", Some("gzip")),
            ("dog, gzip ,, cat", Some("gzip")),
            ("gzip;q=0.8, deflate;q=0.5", Some("gzip")),
            (
                "br, gzip;q=0, deflate; q = 0.5 , identity;q=0",
                Some("deflate"),
            ),
            ("*", Some("gzip")),
            ("*, deflate;q=0.5", Some("gzip")),
            ("*, deflate", Some("deflate")),
            ("*, identity", Some("gzip")),
            ("*, gzip;q=0.5", Some("deflate")),
            ("gzip ;q=0", None),
            ("identity;q=0", None),
            ("*;q=0", None),
            ("*;q=0.5,identity", Some("gzip")),
            ("gzip;q=0.5,identity;q=0.8", Some("gzip")),
            ("br;q=0.8,identity;q=0.5,*;q=0", None),
            ("\"gzip\"", None),
            ("gzip br", None),
            ("gzip:q=1", None),
            ("deflate;q=0.5, gzip;q=31", Some("gzip")),
            ("gzip;q=31,deflate;q=51", Some("gzip")),
            ("deflate;q=0.5, gzip;q=0.2", Some("deflate")),
            ("deflate;q=0.5, gzip;q=1;q=0.2", Some("gzip")),
            ("deflate;q=0.5,gzip;q=0.", Some("deflate")),
            ("deflate;q=0.5,gzip;q=0.x", Some("gzip")),
            ("deflate;q=-0.5,gzip;q=0.2", Some("gzip")),
            ("gzip;nq=1;q=0 ", None),
            ("gzip;q=0, gzip;q=1, gzip;q=0", Some("gzip")),
            ("br,identity;q=0.5,gzip;q=0.0001", Some("gzip")),
        ];
        for (header, want) in cases {
            assert_eq!(choose(header).map(Coding::name), *want, "{header:?}");
        }
    }

    #[test]
    fn only_answers_of_the_threshold_are_compressed() {
        let small = vec![b'x'; COMPRESSION_THRESHOLD - 1];
        assert_eq!(compress(Some(Coding::Gzip), small.clone()), (small, None));
        let big = vec![b'x'; COMPRESSION_THRESHOLD];
        let (packed, used) = compress(Some(Coding::Deflate), big.clone());
        assert_eq!(used, Some(Coding::Deflate));
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, big);
        assert_eq!(compress(None, big.clone()), (big, None));
    }

    #[test]
    fn request_codings() {
        let mut headers = HeaderMap::new();
        let json = Bytes::from_static(b"{}");
        assert_eq!(request_body(&headers, json.clone(), 10).unwrap(), json);
        let mut two = Vec::new();
        for part in [&b"{"[..], &b"}"[..]] {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(part).unwrap();
            two.extend(e.finish().unwrap());
        }
        headers.insert(http::header::CONTENT_ENCODING, "gzip".parse().unwrap());
        // Concatenated gzip members are one body, as the gzip format allows.
        assert_eq!(request_body(&headers, Bytes::from(two), 10).unwrap(), json);
        for bad in [&b""[..], &b"{}"[..]] {
            let e = request_body(&headers, Bytes::copy_from_slice(bad), 10).unwrap_err();
            assert!(matches!(e, Error::Serialization(_)), "{e}");
        }
        headers.insert(http::header::CONTENT_ENCODING, "deflate".parse().unwrap());
        let e = request_body(&headers, json, 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unsupported Content-Encoding: deflate; requests may only be gzip encoded"
        );
    }
}
