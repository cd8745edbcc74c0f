//! Order-preserving key encoding (part of the on-disk format; see docs/storage-format.md).
//!
//! `items` keys are `table_id:u32be | h16 | enc(pk) | enc(sk)?`. `h16` spreads partitions over
//! the key space the way DynamoDB's hashing does (Scan order is hash-like, and parallel scan
//! segment i of n is a contiguous range), while all items of one partition stay contiguous and
//! ordered by sort key, so a Query is one range read.

use crate::model::{AttributeValue, Number, ScalarType};

/// `enc(S)`/`enc(B)`: the bytes with `0x00` escaped as `0x00 0xFF`, closed by `0x00 0x01`.
/// Byte order equals DynamoDB's unsigned byte order, and the encoding of a prefix (without its
/// terminator) is a byte prefix of the whole, so `begins_with` is a range.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_bytes_open(bytes, out);
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The escaped bytes without the terminator: the key prefix shared by every value that starts
/// with `bytes`.
pub fn encode_bytes_open(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

fn decode_bytes(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *input.get(i)?;
        if b == 0 {
            match *input.get(i + 1)? {
                0x01 => return Some((out, i + 2)),
                0xFF => out.push(0),
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// Appends the order-preserving form of a key attribute. The caller has checked that the
/// value is a scalar of the schema's type.
pub fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) => encode_bytes(s.as_bytes(), out),
        AttributeValue::B(b) => encode_bytes(b, out),
        AttributeValue::N(n) => n.encode_key(out),
        // Key attributes are validated as S, N or B before they reach here.
        _ => debug_assert!(false, "non-scalar key value"),
    }
}

/// Reads one key attribute of a known type; returns it and the bytes it used.
pub fn decode_value(ty: ScalarType, input: &[u8]) -> Option<(AttributeValue, usize)> {
    match ty {
        ScalarType::N => Number::decode_key(input).map(|(n, used)| (AttributeValue::N(n), used)),
        ScalarType::B => decode_bytes(input).map(|(b, used)| (AttributeValue::B(b), used)),
        ScalarType::S => {
            let (b, used) = decode_bytes(input)?;
            String::from_utf8(b)
                .ok()
                .map(|s| (AttributeValue::S(s), used))
        }
    }
}

/// The fixed partition hash: FNV-1a over `enc(pk)`, finished with MurmurHash3's 32-bit
/// avalanche, top 16 bits. Part of the format: never change it, never seed it.
pub fn hash16(encoded_pk: &[u8]) -> [u8; 2] {
    let mut h: u32 = 0x811c_9dc5;
    for &b in encoded_pk {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    let top = (h >> 16) as u16;
    top.to_be_bytes()
}

/// `id | h16 | enc(pk)`: the prefix every key of one partition starts with (the encoding is
/// prefix-free, so no other partition's keys share it).
pub fn partition_prefix(id: u32, pk: &AttributeValue) -> Vec<u8> {
    composite_partition_prefix(id, &[pk])
}

/// The partition prefix of a multi-attribute partition key (a GSI's): `enc(pk)` is the
/// attributes' encodings in key schema order, hashed together. One attribute gives exactly
/// `partition_prefix`'s bytes.
pub fn composite_partition_prefix(id: u32, pk: &[&AttributeValue]) -> Vec<u8> {
    let mut enc_pk = Vec::with_capacity(32);
    for v in pk {
        encode_value(v, &mut enc_pk);
    }
    let mut key = Vec::with_capacity(6 + enc_pk.len() + 48);
    key.extend_from_slice(&id.to_be_bytes());
    key.extend_from_slice(&hash16(&enc_pk));
    key.extend_from_slice(&enc_pk);
    key
}

/// The partition a table's or index's key belongs to, as one number: its id and the 16-bit
/// hash of its partition key, the first six bytes of every key (enough to tell partitions
/// apart for per-partition limits).
pub fn partition_fingerprint(key: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = key.len().min(6);
    head[2..2 + n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(head)
}

/// The `items` key of one item.
pub fn item_key(table_id: u32, pk: &AttributeValue, sk: Option<&AttributeValue>) -> Vec<u8> {
    let mut key = partition_prefix(table_id, pk);
    if let Some(sk) = sk {
        encode_value(sk, &mut key);
    }
    key
}

/// The `indexes` key of one item in one index: the index key (its partition attributes, then
/// its sort attributes, each in key schema order), then the table key, which makes entries
/// unique while index keys need not be.
pub fn index_key(
    index_id: u32,
    (ipk, isk): (&[&AttributeValue], &[&AttributeValue]),
    (pk, sk): (&AttributeValue, Option<&AttributeValue>),
) -> Vec<u8> {
    let mut key = composite_partition_prefix(index_id, ipk);
    for v in isk.iter().copied().chain([pk]).chain(sk) {
        encode_value(v, &mut key);
    }
    key
}

/// Parallel scan: segment `segment` of `total` of a table or index is the contiguous run of
/// hash prefixes `[segment * 65536 / total, (segment + 1) * 65536 / total)`.
pub fn segment_range(id: u32, segment: u32, total: u32) -> (Vec<u8>, Vec<u8>) {
    let bound = |s: u32| -> Vec<u8> {
        let h = (s as u64 * 65536 / total as u64) as u32;
        if h >= 65536 {
            return (id + 1).to_be_bytes().to_vec();
        }
        let mut k = id.to_be_bytes().to_vec();
        k.extend_from_slice(&(h as u16).to_be_bytes());
        k
    };
    (bound(segment), bound(segment + 1))
}

/// First key of a table's (or index's) id range, and the first key past it. Ids are allocated
/// below `u32::MAX`, so the successor exists.
pub fn id_range(id: u32) -> (Vec<u8>, Vec<u8>) {
    (id.to_be_bytes().to_vec(), (id + 1).to_be_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        out
    }

    #[test]
    fn segments_tile_the_id_range() {
        for total in [1u32, 2, 3, 7, 65536, 1_000_000] {
            let (first, _) = segment_range(9, 0, total);
            assert_eq!(
                first,
                id_range(9)
                    .0
                    .iter()
                    .chain(&[0, 0])
                    .copied()
                    .collect::<Vec<_>>()
            );
            let (_, last) = segment_range(9, total - 1, total);
            assert_eq!(last, id_range(9).1);
            for s in [0, total / 2, total.saturating_sub(2)] {
                if s + 1 < total {
                    assert_eq!(
                        segment_range(9, s, total).1,
                        segment_range(9, s + 1, total).0
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn bytes_order_and_round_trip(a in prop::collection::vec(any::<u8>(), 0..12),
                                      b in prop::collection::vec(any::<u8>(), 0..12)) {
            let (ea, eb) = (enc(&AttributeValue::B(a.clone())), enc(&AttributeValue::B(b.clone())));
            prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
            prop_assert_eq!(decode_value(ScalarType::B, &ea), Some((AttributeValue::B(a.clone()), ea.len())));
        }

        #[test]
        fn concatenation_keeps_order(a1 in "[a\\x00b]{0,4}", a2 in "[a\\x00b]{0,4}",
                                      b1 in "[a\\x00b]{0,4}", b2 in "[a\\x00b]{0,4}") {
            // (pk, sk) pairs order like tuples once encoded and concatenated.
            let key = |x: &str, y: &str| {
                let mut k = enc(&AttributeValue::S(x.into()));
                k.extend(enc(&AttributeValue::S(y.into())));
                k
            };
            prop_assert_eq!(key(&a1, &a2).cmp(&key(&b1, &b2)), (a1.as_bytes(), a2.as_bytes()).cmp(&(b1.as_bytes(), b2.as_bytes())));
        }

        #[test]
        fn multi_attribute_index_keys_order_like_tuples(
            a in ("[a\\x00]{0,3}", -5i32..5, "[a\\x00]{0,3}"),
            b in ("[a\\x00]{0,3}", -5i32..5, "[a\\x00]{0,3}"),
        ) {
            // Same partition (h, n); sort key (s, n) then the table key: entries order by the
            // sort attributes left to right, numbers numerically.
            let s = |x: &str| AttributeValue::S(x.into());
            let n = |x: i32| AttributeValue::N(Number::parse(&x.to_string()).unwrap());
            let key = |(s1, n1, p): &(String, i32, String)| {
                let (h, hn, s1, n1, p) = (s("h"), n(7), s(s1), n(*n1), s(p));
                index_key(3, (&[&h, &hn], &[&s1, &n1]), (&p, None))
            };
            let tuple = |(s1, n1, p): &(String, i32, String)| (s1.as_bytes().to_vec(), *n1, p.as_bytes().to_vec());
            prop_assert_eq!(key(&a).cmp(&key(&b)), tuple(&a).cmp(&tuple(&b)));
            let one = index_key(3, (&[&s("x")], &[]), (&s("p"), None));
            prop_assert_eq!(&one[..], &item_key(3, &s("x"), Some(&s("p")))[..]);
        }

        #[test]
        fn begins_with_is_a_prefix_range(s in "[a\\x00\\xff]{0,6}", p in "[a\\x00\\xff]{0,3}") {
            let mut prefix = Vec::new();
            encode_bytes_open(p.as_bytes(), &mut prefix);
            let full = enc(&AttributeValue::S(s.clone()));
            prop_assert_eq!(full.starts_with(&prefix), s.as_bytes().starts_with(p.as_bytes()));
        }
    }

    const HASH_OF_EMPTY: [u8; 2] = [0xab, 0x3e];
    const HASH_OF_ABC: [u8; 2] = [0x7b, 0xbc];

    #[test]
    fn hash_is_fixed() {
        // Part of the on-disk format: these values must never change.
        assert_eq!(hash16(b""), HASH_OF_EMPTY);
        assert_eq!(hash16(b"abc\x00\x01"), HASH_OF_ABC);
    }

    #[test]
    fn hash_spreads_partitions() {
        let mut buckets = [0u32; 16];
        for i in 0..16_000u32 {
            let mut k = Vec::new();
            encode_bytes(format!("user#{i}").as_bytes(), &mut k);
            buckets[(hash16(&k)[0] >> 4) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn id_ranges_are_adjacent() {
        let (lo, hi) = id_range(7);
        assert_eq!(lo, vec![0, 0, 0, 7]);
        assert_eq!(hi, vec![0, 0, 0, 8]);
    }
}
