//! Signed `aws-chunked` bodies (`x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD`):
//! the body comes in chunks `<hex size>;chunk-signature=<signature>\r\n<data>\r\n`, ending with
//! an empty one, and each chunk's signature chains from the one before it, the first from the
//! request's own (the seed). Every signature is checked and the data joined, so what is served
//! is the body the client signed.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::verify::{hex, AuthError};

pub const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/// The SHA-256 of nothing, in hex: every chunk's string to sign has it.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What every chunk's signature is computed with.
pub struct Chain<'a> {
    pub key: [u8; 32],
    /// `YYYYMMDDTHHMMSSZ`, the request's.
    pub amz_date: &'a str,
    /// `date/region/service/aws4_request`.
    pub scope: String,
    /// The request's signature.
    pub seed: &'a str,
}

fn malformed(why: &str) -> AuthError {
    AuthError::InvalidSignature(format!("The aws-chunked request body is malformed: {why}."))
}

/// The body the chunks carry, once every chunk's signature is found right.
pub fn decode(body: &[u8], chain: &Chain) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(body.len());
    let mut previous = chain.seed.to_string();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| malformed("a chunk header does not end with CRLF"))?;
        let line = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| malformed("a chunk header is not text"))?;
        let (size, signature) = line
            .split_once(";chunk-signature=")
            .ok_or_else(|| malformed("a chunk header has no chunk-signature"))?;
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| malformed("a chunk size is not hexadecimal"))?;
        let data_start = line_end + 2;
        let data = rest
            .get(data_start..data_start.saturating_add(size))
            .ok_or_else(|| malformed("a chunk is shorter than its size"))?;
        if rest.get(data_start + size..data_start + size + 2) != Some(b"\r\n") {
            return Err(malformed("a chunk does not end with CRLF"));
        }
        let expected = chunk_signature(chain, &previous, data);
        if !super::verify::same(expected.as_bytes(), signature.as_bytes()) {
            return Err(AuthError::InvalidSignature(
                super::verify::MISMATCH.to_string(),
            ));
        }
        out.extend_from_slice(data);
        rest = &rest[data_start + size + 2..];
        if size == 0 {
            if !rest.is_empty() {
                return Err(malformed("data follows the final chunk"));
            }
            return Ok(out);
        }
        previous = signature.to_string();
    }
}

fn chunk_signature(chain: &Chain, previous: &str, data: &[u8]) -> String {
    let mut text = String::with_capacity(256);
    for part in [
        "AWS4-HMAC-SHA256-PAYLOAD\n",
        chain.amz_date,
        "\n",
        &chain.scope,
        "\n",
        previous,
        "\n",
        EMPTY_SHA256,
        "\n",
        &hex(&Sha256::digest(data)),
    ] {
        text.push_str(part);
    }
    // A 32-byte key is a valid HMAC key.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&chain.key) else {
        return String::new();
    };
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Chain<'static> {
        Chain {
            key: [7; 32],
            amz_date: "20260101T000000Z",
            scope: "20260101/us-east-1/lambda/aws4_request".into(),
            seed: "seed",
        }
    }

    /// Chunks of `data` of at most `size` bytes, signed as a client signs them.
    fn encode(data: &[u8], size: usize) -> Vec<u8> {
        let c = chain();
        let mut previous = c.seed.to_string();
        let mut out = Vec::new();
        for piece in data.chunks(size).chain(std::iter::once(&[][..])) {
            let signature = chunk_signature(&c, &previous, piece);
            out.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
            );
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
            previous = signature;
        }
        out
    }

    #[test]
    fn signed_chunks_give_the_body_and_any_change_is_refused() {
        let data = b"a body in several chunks, signed one after another";
        let encoded = encode(data, 8);
        assert_eq!(decode(&encoded, &chain()).unwrap(), data);
        assert_eq!(decode(&encode(b"", 8), &chain()).unwrap(), b"");
        for i in 0..encoded.len() {
            let mut changed = encoded.clone();
            changed[i] ^= 1;
            assert!(decode(&changed, &chain()).is_err(), "byte {i} changed");
        }
        // Truncated: the final chunk missing.
        assert!(decode(&encoded[..encoded.len() - 10], &chain()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_body_round_trips(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            size in 1usize..300,
        ) {
            proptest::prop_assert_eq!(decode(&encode(&data, size), &chain()).unwrap(), data);
        }
    }
}
