//! SigV4. Every request must carry a well-formed signature (header or query string), whose
//! credential scope picks the region; with a credentials file (`serve --credentials`) the
//! signature is also verified (`verify`). Without one it is not, as DynamoDB Local does.

pub mod chunked;
pub mod credentials;
pub mod policy;
pub mod verify;

use std::borrow::Cow;

use http::{HeaderMap, HeaderName};

use crate::error::{Error, Result};

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");

/// Checks the signature's presence and shape; returns the credential scope's region, if any.
pub fn check<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Result<Option<Cow<'a, str>>> {
    // UTF-8 validation runs a word at a time, unlike `HeaderValue::to_str`'s per-byte check:
    // this header is long and on every request.
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::trim);
    let Some(auth) = auth.filter(|a| a.starts_with("AWS4-")) else {
        return query_signature(query);
    };
    // One pass over `Credential=..., SignedHeaders=..., Signature=...` (commas, spaces or
    // both between them, as DynamoDB reads them).
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    let params = auth.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
    let parts = params.split([',', ' ']).filter_map(|p| p.split_once('='));
    for (k, v) in parts {
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(v).filter(|v| !v.is_empty());
    }
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !headers.contains_key(X_AMZ_DATE) && !headers.contains_key(http::header::DATE) {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(Error::IncompleteSignature(format!(
            "{missing}Authorization={auth}"
        )));
    }
    Ok(credential_region(credential.unwrap_or(""))?.map(Cow::Borrowed))
}

/// A presigned request: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Signature` in the URL.
fn query_signature(query: Option<&str>) -> Result<Option<Cow<'_, str>>> {
    let pairs: Vec<(&str, &str)> = query
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    const REQUIRED: [&str; 5] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ];
    let given = REQUIRED.map(|k| get(k).is_some_and(|v| !v.is_empty()));
    if given.iter().all(|g| !g) {
        return Err(Error::MissingAuthenticationToken(
            "Request is missing Authentication Token".into(),
        ));
    }
    if given.iter().any(|g| !g) {
        return Err(Error::IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders' and 'X-Amz-Date'. Re-examine the query-string parameters.".into(),
        ));
    }
    let cred = get("X-Amz-Credential").unwrap_or("").replace("%2F", "/");
    Ok(credential_region(&cred)?.map(|r| Cow::Owned(r.to_string())))
}

/// `AKID/20250101/us-west-2/dynamodb/aws4_request` → `us-west-2`.
fn credential_region(credential: &str) -> Result<Option<&str>> {
    let trimmed = credential.trim_end_matches('/');
    // One pass over the bytes, noting the slashes around the region (the third element).
    let (mut slashes, mut region) = (0, 0..0);
    for (i, b) in trimmed.bytes().enumerate() {
        if b == b'/' {
            slashes += 1;
            match slashes {
                2 => region = i + 1..i + 1,
                3 => region.end = i,
                _ => {}
            }
        }
    }
    if slashes != 4 {
        return Err(Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    }
    Ok(Some(&trimmed[region]).filter(|r| !r.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>, date: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        if date {
            h.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
        }
        h
    }

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    #[test]
    fn well_formed_signatures_pass_and_give_the_region() {
        assert_eq!(
            check(&headers(Some(GOOD), true), None).unwrap().as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn missing_and_malformed_signatures_fail_like_dynamodb() {
        assert_eq!(
            check(&headers(None, true), None).unwrap_err().code(),
            "MissingAuthenticationTokenException"
        );
        let e = check(
            &headers(Some("AWS4-HMAC-SHA256 Signature=abc"), false),
            None,
        )
        .unwrap_err();
        assert_eq!(e.code(), "IncompleteSignatureException");
        assert!(e.to_string().starts_with("Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."), "{e}");
        for scope in ["/x", "/eu-west-1/dynamodb/aws4_request/extra"] {
            let bad = GOOD.replace("/eu-west-1/dynamodb/aws4_request", scope);
            assert_eq!(
                check(&headers(Some(&bad), true), None).unwrap_err().code(),
                "IncompleteSignatureException"
            );
        }
    }

    #[test]
    fn components_may_be_separated_by_spaces_or_commas() {
        for auth in [
            GOOD.replace(", ", " "),
            GOOD.replace(", ", ","),
            GOOD.replace(", ", " , "),
        ] {
            assert_eq!(
                check(&headers(Some(&auth), true), None).unwrap().as_deref(),
                Some("eu-west-1"),
                "{auth}"
            );
        }
    }

    const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fap-south-1%2Fdynamodb%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ff";

    #[test]
    fn presigned_query_strings_count() {
        assert_eq!(
            check(&HeaderMap::new(), Some(PRESIGNED))
                .unwrap()
                .as_deref(),
            Some("ap-south-1")
        );
        // Every one of the five parameters is needed.
        for missing in ["X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"] {
            let q: Vec<&str> = PRESIGNED
                .split('&')
                .filter(|p| !p.starts_with(missing))
                .collect();
            let e = check(&HeaderMap::new(), Some(&q.join("&"))).unwrap_err();
            assert_eq!(e.code(), "IncompleteSignatureException", "{missing}");
        }
        // A signed header wins over a query string that also signs.
        assert_eq!(
            check(&headers(Some(GOOD), true), Some(PRESIGNED))
                .unwrap()
                .as_deref(),
            Some("eu-west-1")
        );
    }
}
