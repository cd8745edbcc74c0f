//! SigV4 verified for real: the signature a request carries is computed again from the request
//! as received and the principal's secret, and compared in constant time. Header-signed
//! requests, hashed or `UNSIGNED-PAYLOAD` bodies, session tokens. `aws-sigv4`'s signer does it
//! for any request; `POST /` (every JSON protocol, the hot path) builds its canonical request
//! here, with the crate's key derivation and final HMAC, and keeps the key per thread.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials as SigningCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderName, Uri};
use sha2::{Digest, Sha256};

use super::chunked;
use super::credentials::{Caller, Keys, Principal};
use std::sync::Arc;

/// How far a request's time may be from the server's (DynamoDB's window).
const SKEW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    /// The access key (or its session token) is not one of the server's.
    UnrecognizedClient,
    InvalidSignature(String),
    MissingToken,
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::UnrecognizedClient => "UnrecognizedClientException",
            AuthError::InvalidSignature(_) => "InvalidSignatureException",
            AuthError::MissingToken => "MissingAuthenticationTokenException",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthError::UnrecognizedClient => {
                "The security token included in the request is invalid.".into()
            }
            AuthError::InvalidSignature(m) => m.clone(),
            AuthError::MissingToken => "Request is missing Authentication Token".into(),
        }
    }
}

pub(super) const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

// Known names, so that looking them up does not parse them.
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// `Credential=...`, `SignedHeaders=...`, `Signature=...` of an `Authorization` header.
fn parts(auth: &str) -> Option<(&str, &str, &str)> {
    let (mut credential, mut signed, mut signature) = (None, None, None);
    let params = auth.split_once(' ')?.1;
    for (k, v) in params.split(',').filter_map(|p| p.trim().split_once('=')) {
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    Some((credential?, signed?, signature?))
}

fn amz_time(text: &str) -> Option<SystemTime> {
    // `YYYYMMDDTHHMMSSZ`, read by hand: it is on every request, and a format parser costs more
    // than the rest of the date's handling.
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0i16, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i16::from(d - b'0'))
        })
    };
    let part = |from: usize| number(from, from + 2).and_then(|n| i8::try_from(n).ok());
    let t = jiff::civil::DateTime::new(
        number(0, 4)?,
        part(4)?,
        part(6)?,
        part(9)?,
        part(11)?,
        part(13)?,
        0,
    )
    .ok()?;
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(t).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(ts.as_second()).ok()?))
}

fn amz_format(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the content: the length is not secret.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A credential scope's key id, date, region and service, and the principal of the key, whose
/// session token must be the one the request carries.
fn principal_of<'a, 'k>(
    keys: &'k Keys,
    credential: &'a str,
    token: Option<&str>,
) -> Result<([&'a str; 4], &'k Principal), AuthError> {
    let mut parts = credential.split('/');
    let mut next = || parts.next();
    let (Some(key_id), Some(date), Some(region), Some(service), Some("aws4_request"), None) =
        (next(), next(), next(), next(), next(), next())
    else {
        return Err(AuthError::InvalidSignature(MISMATCH.into()));
    };
    let principal = keys.get(key_id).ok_or(AuthError::UnrecognizedClient)?;
    if token != principal.session_token.as_deref() {
        return Err(AuthError::UnrecognizedClient);
    }
    Ok(([key_id, date, region, service], principal))
}

/// Verifies a request's signature against `keys` at time `now`.
pub fn verify(
    keys: &Keys,
    now: SystemTime,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, AuthError> {
    let auth = header(headers, http::header::AUTHORIZATION);
    let Some(auth) = auth.filter(|a| a.starts_with("AWS4-")) else {
        if uri.query().is_some_and(|q| q.contains("X-Amz-Signature=")) {
            return verify_presigned(keys, now, method, uri, headers, body);
        }
        return Err(AuthError::MissingToken);
    };
    let (credential, signed_headers, signature) =
        parts(auth).ok_or_else(|| AuthError::InvalidSignature(MISMATCH.into()))?;
    let token = header(headers, X_AMZ_SECURITY_TOKEN);
    let (scope, principal) = principal_of(keys, credential, token)?;
    let [key_id, date, region, service] = scope;
    let amz_date = header(headers, X_AMZ_DATE).unwrap_or("");
    let Some(signed_at) = amz_time(amz_date) else {
        return Err(AuthError::InvalidSignature(MISMATCH.into()));
    };
    if signed_at + SKEW < now {
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            amz_format(now - SKEW),
            amz_format(now)
        )));
    }
    if signed_at > now + SKEW {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            amz_format(now + SKEW),
            amz_format(now)
        )));
    }
    if !amz_date.starts_with(date) {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
            &amz_date[..8.min(amz_date.len())]
        )));
    }
    let mut signed = signed_values(headers, signed_headers)?;
    signed.sort_by(|a, b| a.0.cmp(b.0));
    let payload_hash = header(headers, X_AMZ_CONTENT_SHA256);
    let streaming = payload_hash == Some(chunked::STREAMING);
    // A signed hash stands for the body only when it is the body's.
    if let Some(hash) = payload_hash.filter(|h| *h != "UNSIGNED-PAYLOAD" && !streaming) {
        if !same(hash.as_bytes(), hex(&Sha256::digest(body)).as_bytes()) {
            return Err(AuthError::InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .into(),
            ));
        }
    }
    let expected = if method == "POST" && uri.path() == "/" && uri.query().is_none() {
        let token = principal.session_token.as_deref();
        json_post_signature(
            &principal.secret,
            &scope,
            (amz_date, signed_at),
            token,
            signed,
            payload_hash,
            body,
        )
    } else {
        let s = SignatureScope {
            key_id,
            secret: &principal.secret,
            token: principal.session_token.as_deref(),
            region,
            service,
            signed_at,
        };
        // Any other request: the signer normalises its path and query.
        signer_signature(&s, method, uri, headers, &signed, payload_hash, body)?
    };
    if !same(expected.as_bytes(), signature.as_bytes()) {
        return Err(AuthError::InvalidSignature(MISMATCH.into()));
    }
    let body = match streaming {
        false => None,
        true => {
            let chain = chunked::Chain {
                key: signing_key(&principal.secret, &scope, signed_at),
                amz_date,
                scope: format!("{date}/{region}/{service}/aws4_request"),
                seed: signature,
            };
            let decoded = chunked::decode(body, &chain)?;
            let declared = header(headers, "x-amz-decoded-content-length");
            if declared.is_some_and(|n| n.parse() != Ok(decoded.len())) {
                return Err(AuthError::InvalidSignature(
                    "The x-amz-decoded-content-length header does not match the decoded body's length.".into(),
                ));
            }
            Some(decoded)
        }
    };
    Ok(Verified {
        caller: principal.caller.clone(),
        body,
    })
}

/// A verified request: the caller when a policy limits it, and the body the client signed when
/// it came `aws-chunked` (the request's own body otherwise).
#[derive(Debug, PartialEq)]
pub struct Verified {
    pub caller: Option<Arc<Caller>>,
    pub body: Option<Vec<u8>>,
}

/// The headers the client signed, as it sent them: one pass over the request's headers (no
/// name parsed again), several values of one name joined with commas.
fn signed_values<'h>(
    headers: &'h HeaderMap,
    names: &'h str,
) -> Result<Vec<(&'h str, Cow<'h, str>)>, AuthError> {
    let mut signed: Vec<(&str, Option<Cow<str>>)> = names.split(';').map(|n| (n, None)).collect();
    for (name, value) in headers {
        let Some((_, slot)) = signed.iter_mut().find(|(n, _)| *n == name.as_str()) else {
            continue;
        };
        let Ok(value) = value.to_str() else { continue };
        *slot = Some(match slot.take() {
            None => Cow::Borrowed(value),
            Some(before) => Cow::Owned(format!("{before},{value}")),
        });
    }
    signed
        .into_iter()
        .map(|(n, v)| v.map(|v| (n, v)))
        .collect::<Option<_>>()
        .ok_or_else(|| AuthError::InvalidSignature(MISMATCH.into()))
}

/// A presigned request: the signature and its scope in the query string (`X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`), valid from its date
/// for `X-Amz-Expires` seconds.
fn verify_presigned(
    keys: &Keys,
    now: SystemTime,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, AuthError> {
    let mismatch = || AuthError::InvalidSignature(MISMATCH.into());
    let query = uri.query().unwrap_or("");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (
        Some("AWS4-HMAC-SHA256"),
        Some(credential),
        Some(amz_date),
        Some(expires),
        Some(names),
        Some(signature),
    ) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-Expires"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
    )
    else {
        return Err(mismatch());
    };
    let (scope, principal) = principal_of(keys, credential, get("X-Amz-Security-Token"))?;
    let [key_id, date, region, service] = scope;
    let signed_at = amz_time(amz_date).ok_or_else(mismatch)?;
    let expires = Duration::from_secs(expires.parse().map_err(|_| mismatch())?);
    if !amz_date.starts_with(date) || signed_at > now + SKEW {
        return Err(mismatch());
    }
    if signed_at + expires < now {
        return Err(AuthError::InvalidSignature("Request has expired".into()));
    }
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in names.split(';') {
        signed.push((name, header(headers, name).ok_or_else(mismatch)?));
    }
    // The query without the signature's own members, which the signer adds back.
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-"))
        .collect();
    let host = header(headers, "host").unwrap_or("localhost");
    let url = match rest.is_empty() {
        true => format!("http://{host}{}", uri.path()),
        false => format!("http://{host}{}?{}", uri.path(), rest.join("&")),
    };
    let request = SignableRequest::new(
        method,
        &url,
        signed.into_iter().filter(|(k, _)| *k != "x-amz-date"),
        SignableBody::Bytes(body),
    )
    .map_err(|_| mismatch())?;
    let scope = SignatureScope {
        key_id,
        secret: &principal.secret,
        token: principal.session_token.as_deref(),
        region,
        service,
        signed_at,
    };
    let expected = signature_by_signer(&scope, request, Some(expires))?;
    if same(expected.as_bytes(), signature.as_bytes()) {
        Ok(Verified {
            caller: principal.caller.clone(),
            body: None,
        })
    } else {
        Err(mismatch())
    }
}

/// Who signed, for what, and when: the credential scope with the principal's secret.
struct SignatureScope<'a> {
    key_id: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    signed_at: SystemTime,
}

/// The signature `aws-sigv4`'s signer computes for a header-signed request: any method, path
/// and query.
fn signer_signature(
    s: &SignatureScope,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    signed: &[(&str, Cow<str>)],
    payload_hash: Option<&str>,
    body: &[u8],
) -> Result<String, AuthError> {
    let mismatch = || AuthError::InvalidSignature(MISMATCH.into());
    let host = header(headers, "host").unwrap_or("localhost");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{host}{path}");
    let payload = match payload_hash {
        Some(hash) => SignableBody::Precomputed(hash.to_string()),
        None => SignableBody::Bytes(body),
    };
    // The signer adds the date and the session token itself.
    let passed = signed
        .iter()
        .filter(|(k, _)| *k != "x-amz-date" && *k != "x-amz-security-token")
        .map(|(k, v)| (*k, v.as_ref()));
    let request = SignableRequest::new(method, &url, passed, payload).map_err(|_| mismatch())?;
    signature_by_signer(s, request, None)
}

/// What `aws-sigv4`'s signer makes of `request` for this scope: a header signature, or with
/// `presigned_for` a query-string one valid that long.
fn signature_by_signer(
    s: &SignatureScope,
    request: SignableRequest,
    presigned_for: Option<Duration>,
) -> Result<String, AuthError> {
    let mismatch = || AuthError::InvalidSignature(MISMATCH.into());
    let identity = SigningCredentials::new(
        s.key_id,
        s.secret.to_string(),
        s.token.map(str::to_string),
        None,
        "dynarock",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Exactly the headers the client signed, none dropped.
    settings.excluded_headers = Some(Vec::new());
    if let Some(expires) = presigned_for {
        settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(s.region)
        .name(s.service)
        .time(s.signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    Ok(sign(request, &params)
        .map_err(|_| mismatch())?
        .into_parts()
        .1)
}

/// A derived signing key and what it was derived from.
struct CachedKey {
    secret: String,
    scope: [String; 3],
    key: [u8; 32],
}

thread_local! {
    /// The last signing key derived on this thread: a client signs every request of a day with
    /// the same key.
    static SIGNING_KEY: std::cell::RefCell<Option<CachedKey>> =
        const { std::cell::RefCell::new(None) };
}

/// The signing key of a secret and credential scope (`date/region/service`), derived once per
/// thread and scope.
fn signing_key(secret: &str, scope: &[&str], signed_at: SystemTime) -> [u8; 32] {
    SIGNING_KEY.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some(c) = cached.as_ref() {
            if c.secret == secret && c.scope.iter().zip(&scope[1..4]).all(|(a, b)| a == b) {
                return c.key;
            }
        }
        let mut key = [0u8; 32];
        let derived = v4::generate_signing_key(secret, signed_at, scope[2], scope[3]);
        key.copy_from_slice(&derived.as_ref()[..32]);
        *cached = Some(CachedKey {
            secret: secret.to_string(),
            scope: [
                scope[1].to_string(),
                scope[2].to_string(),
                scope[3].to_string(),
            ],
            key,
        });
        key
    })
}

/// The signature of a `POST /` without a query string (the JSON protocols: DynamoDB, SQS,
/// CloudWatch Logs, EventBridge), with the canonical request built here: the path and query
/// need no normalising, so only the signed headers and the body's hash go into it, and the
/// signing key comes from the per-thread cache. It equals the signer's (a property test says
/// so).
fn json_post_signature(
    secret: &str,
    scope: &[&str],
    (amz_date, signed_at): (&str, SystemTime),
    token: Option<&str>,
    signed: Vec<(&str, Cow<str>)>,
    payload_hash: Option<&str>,
    body: &[u8],
) -> String {
    use hmac::{KeyInit, Mac};
    // The date and token are the signer's own, as the signer uses them.
    let mut signed = signed;
    signed.retain(|(k, _)| *k != "x-amz-date" && *k != "x-amz-security-token");
    signed.push(("x-amz-date", Cow::Borrowed(amz_date)));
    if let Some(t) = token {
        signed.push(("x-amz-security-token", Cow::Borrowed(t)));
    }
    signed.sort_by(|a, b| a.0.cmp(b.0));
    let mut canonical = String::with_capacity(512);
    canonical.push_str("POST\n/\n\n");
    for (name, value) in &signed {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&trim_all(value));
        canonical.push('\n');
    }
    canonical.push('\n');
    for (i, (name, _)) in signed.iter().enumerate() {
        if i > 0 {
            canonical.push(';');
        }
        canonical.push_str(name);
    }
    canonical.push('\n');
    match payload_hash {
        Some(h) => canonical.push_str(h),
        None => canonical.push_str(&hex(&Sha256::digest(body))),
    }
    let mut string_to_sign = String::with_capacity(160);
    for part in [
        "AWS4-HMAC-SHA256\n",
        amz_date,
        "\n",
        scope[1],
        "/",
        scope[2],
        "/",
        scope[3],
        "/aws4_request\n",
        &hex(&Sha256::digest(canonical.as_bytes())),
    ] {
        string_to_sign.push_str(part);
    }
    let key = signing_key(secret, scope, signed_at);
    // A 32-byte key is a valid HMAC key.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&key) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A header value as SigV4 canonicalises it: spaces trimmed at both ends and runs of spaces
/// made one.
fn trim_all(value: &str) -> std::borrow::Cow<'_, str> {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verified request with no policy and its body as sent.
    const PASSED: Verified = Verified {
        caller: None,
        body: None,
    };
    use crate::auth::credentials::Principal;

    fn keys() -> Keys {
        [(
            "AKIDTEST".to_string(),
            Principal {
                name: "t".into(),
                secret: "secret".into(),
                session_token: None,
                caller: None,
            },
        )]
        .into()
    }

    /// A request signed by the same crate a client would use: (headers, uri).
    fn signed(secret: &str, at: SystemTime, body: &[u8]) -> (HeaderMap, Uri) {
        let url = "http://localhost:8000/2015-03-31/functions?MaxItems=5";
        let base = [
            ("host", "localhost:8000"),
            ("content-type", "application/json"),
        ];
        let headers = sign_as_client(secret, at, ("GET", url, "lambda"), &base, body);
        (headers, url.parse().unwrap())
    }

    /// The headers a client sends for `(method, url, service)` with `base` headers, signed by
    /// `aws-sigv4` as of `at`.
    fn sign_as_client(
        secret: &str,
        at: SystemTime,
        (method, url, service): (&str, &str, &str),
        base: &[(&str, &str)],
        body: &[u8],
    ) -> HeaderMap {
        let identity = SigningCredentials::new("AKIDTEST", secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request =
            SignableRequest::new(method, url, base.iter().copied(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        for (k, v) in base {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        for (k, v) in instructions.headers() {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn good_signatures_pass_and_others_do_not() {
        let now = SystemTime::now();
        let (h, uri) = signed("secret", now, b"{}");
        assert_eq!(verify(&keys(), now, "GET", &uri, &h, b"{}"), Ok(PASSED));
        // Another body, method or secret: a mismatch.
        assert!(
            matches!(verify(&keys(), now, "GET", &uri, &h, b"{ }"), Err(AuthError::InvalidSignature(m)) if m == MISMATCH)
        );
        assert!(verify(&keys(), now, "POST", &uri, &h, b"{}").is_err());
        let (h2, _) = signed("wrong", now, b"{}");
        assert!(matches!(
            verify(&keys(), now, "GET", &uri, &h2, b"{}"),
            Err(AuthError::InvalidSignature(_))
        ));
        // An unknown key, and no signature at all.
        assert_eq!(
            verify(&Keys::new(), now, "GET", &uri, &h, b"{}"),
            Err(AuthError::UnrecognizedClient)
        );
        assert_eq!(
            verify(&keys(), now, "GET", &uri, &HeaderMap::new(), b""),
            Err(AuthError::MissingToken)
        );
    }

    #[test]
    fn signatures_outside_the_window_are_refused() {
        let now = SystemTime::now();
        let (h, uri) = signed("secret", now - Duration::from_secs(16 * 60), b"");
        let e = verify(&keys(), now, "GET", &uri, &h, b"").unwrap_err();
        assert!(e.message().starts_with("Signature expired: "), "{e:?}");
        let (h, uri) = signed("secret", now + Duration::from_secs(16 * 60), b"");
        let e = verify(&keys(), now, "GET", &uri, &h, b"").unwrap_err();
        assert!(
            e.message().starts_with("Signature not yet current: "),
            "{e:?}"
        );
        let (h, uri) = signed("secret", now - Duration::from_secs(14 * 60), b"");
        assert_eq!(verify(&keys(), now, "GET", &uri, &h, b""), Ok(PASSED));
    }

    /// A URL presigned by the crate a client would use, at `at`, valid for `expires`.
    fn presigned(at: SystemTime, expires: u64) -> Uri {
        let identity = SigningCredentials::new("AKIDTEST", "secret", None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = "http://localhost:8000/2015-03-31/functions?MaxItems=5";
        let request = SignableRequest::new(
            "GET",
            url,
            [("host", "localhost:8000")].into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut query = String::from("MaxItems=5");
        for (k, v) in instructions.params() {
            let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            query.push_str(&format!("&{k}={v}"));
        }
        format!("/2015-03-31/functions?{query}").parse().unwrap()
    }

    #[test]
    fn presigned_urls_hold_until_they_expire() {
        let now = SystemTime::now();
        let mut h = HeaderMap::new();
        h.insert("host", "localhost:8000".parse().unwrap());
        assert_eq!(
            verify(&keys(), now, "GET", &presigned(now, 60), &h, b""),
            Ok(PASSED)
        );
        let old = presigned(now - Duration::from_secs(600), 60);
        assert_eq!(
            verify(&keys(), now, "GET", &old, &h, b""),
            Err(AuthError::InvalidSignature("Request has expired".into()))
        );
        let other = presigned(now, 60)
            .to_string()
            .replace("MaxItems=5", "MaxItems=6");
        assert!(verify(&keys(), now, "GET", &other.parse().unwrap(), &h, b"").is_err());
    }

    proptest::proptest! {
        /// The canonical request built for `POST /` gives the signer's signature, and a change
        /// of one byte of the body is refused.
        #[test]
        fn json_posts_sign_as_the_signer_does(
            target in "[A-Za-z0-9_.]{1,40}",
            extra in "[ -~]{0,30}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            token in proptest::option::of("[A-Za-z0-9/+=]{1,40}"),
            flip in proptest::prelude::any::<usize>(),
        ) {
            let now = SystemTime::now();
            let scope = ["AKIDTEST", "20260101", "us-east-1", "dynamodb", "aws4_request"];
            let amz_date = amz_format(now);
            let scope = [scope[0], &amz_date[..8], scope[2], scope[3], scope[4]];
            let mut signed: Vec<(&str, Cow<str>)> = vec![
                ("content-type", "application/x-amz-json-1.0".into()),
                ("host", "localhost:8000".into()),
                ("x-amz-date", amz_date.as_str().into()),
                ("x-amz-target", target.as_str().into()),
                ("x-custom", extra.as_str().into()),
            ];
            if let Some(t) = &token {
                signed.push(("x-amz-security-token", t.as_str().into()));
            }
            signed.sort_by(|a, b| a.0.cmp(b.0));
            let s = SignatureScope {
                key_id: scope[0], secret: "secret", token: token.as_deref(),
                region: scope[2], service: scope[3], signed_at: amz_time(&amz_date).unwrap(),
            };
            let uri: Uri = "/".parse().unwrap();
            let mut headers = HeaderMap::new();
            for (k, v) in &signed {
                headers.insert(*k, v.parse().unwrap());
            }
            let by_signer = signer_signature(&s, "POST", &uri, &headers, &signed, None, &body).unwrap();
            let at = (amz_date.as_str(), amz_time(&amz_date).unwrap());
            let here = json_post_signature("secret", &scope, at, token.as_deref(), signed.clone(), None, &body);
            proptest::prop_assert_eq!(&by_signer, &here);

            let names: Vec<&str> = signed.iter().map(|(k, _)| *k).collect();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={here}",
                scope[0], scope[1], scope[2], scope[3], names.join(";")
            );
            headers.insert("authorization", auth.parse().unwrap());
            let mut keys = Keys::new();
            keys.insert("AKIDTEST".into(), Principal { name: "t".into(), secret: "secret".into(), session_token: token.clone(), caller: None });
            proptest::prop_assert_eq!(verify(&keys, now, "POST", &uri, &headers, &body), Ok(PASSED));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip % changed.len();
                changed[i] ^= 1;
                proptest::prop_assert!(verify(&keys, now, "POST", &uri, &headers, &changed).is_err());
            }
        }
    }

    #[test]
    fn amz_dates_are_read_exactly() {
        let t = amz_time("20260101T123456Z").unwrap();
        assert_eq!(amz_format(t), "20260101T123456Z");
        for bad in [
            "20261301T000000Z",
            "2026010T1234567Z",
            "20260101 123456Z",
            "2026O101T000000Z",
            "20260230T000000Z",
            "",
        ] {
            assert!(amz_time(bad).is_none(), "{bad}");
        }
    }

    /// What verifying a GetItem as botocore signs it costs, on one thread (bench/README.md):
    /// `cargo test --release --lib verify_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn verify_cost() {
        let now = SystemTime::now();
        let body = br#"{"TableName":"bench","Key":{"pk":{"S":"user#00012345"}}}"#;
        let base = [
            ("host", "localhost:8000"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ];
        let url = "http://localhost:8000/";
        let mut headers = sign_as_client("secret", now, ("POST", url, "dynamodb"), &base, body);
        headers.insert("content-length", body.len().into());
        headers.insert("user-agent", "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0".parse().unwrap());
        let (uri, keys): (Uri, _) = ("/".parse().unwrap(), keys());
        assert_eq!(verify(&keys, now, "POST", &uri, &headers, body), Ok(PASSED));
        let n = 300_000;
        let started = std::time::Instant::now();
        for _ in 0..n {
            let verified = verify(
                &keys,
                now,
                "POST",
                &uri,
                &headers,
                std::hint::black_box(body),
            );
            assert!(verified.is_ok());
        }
        let each = started.elapsed().as_nanos() as f64 / f64::from(n);
        eprintln!("verify (GetItem as botocore signs it): {each:.0} ns");
    }
}
