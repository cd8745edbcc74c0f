//! SigV4 verified for real: the signature a request carries is computed again (with the
//! `aws-sigv4` crate) from the request as received and the principal's secret, and compared in
//! constant time. Header-signed requests, hashed or `UNSIGNED-PAYLOAD` bodies, session tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials as SigningCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderMap, Uri};

use super::credentials::Keys;

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

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

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
    let t = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text).ok()?;
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(t).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(ts.as_second()).ok()?))
}

fn amz_format(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the content: the length is not secret.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a request's signature against `keys` at time `now`.
pub fn verify(
    keys: &Keys,
    now: SystemTime,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), AuthError> {
    let Some(auth) = header(headers, "authorization").filter(|a| a.starts_with("AWS4-")) else {
        if uri.query().is_some_and(|q| q.contains("X-Amz-Signature=")) {
            return Err(AuthError::InvalidSignature(
                "Presigned (query-string) requests are not accepted by this server when credentials are configured; sign the headers.".into(),
            ));
        }
        return Err(AuthError::MissingToken);
    };
    let (credential, signed_headers, signature) =
        parts(auth).ok_or_else(|| AuthError::InvalidSignature(MISMATCH.into()))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(AuthError::InvalidSignature(MISMATCH.into()));
    };
    let principal = keys.get(*key_id).ok_or(AuthError::UnrecognizedClient)?;
    let token = header(headers, "x-amz-security-token");
    if token != principal.session_token.as_deref() {
        return Err(AuthError::UnrecognizedClient);
    }
    let amz_date = header(headers, "x-amz-date").unwrap_or("");
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
    // The headers the client signed, as it sent them (the signer adds the date and token).
    let mut signed: Vec<(String, String)> = Vec::new();
    for name in signed_headers.split(';') {
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(AuthError::InvalidSignature(MISMATCH.into()));
        }
        signed.push((name.to_string(), values.join(",")));
    }
    let host = header(headers, "host").unwrap_or("localhost");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{host}{path}");
    let payload = match header(headers, "x-amz-content-sha256") {
        Some(hash) => SignableBody::Precomputed(hash.to_string()),
        None => SignableBody::Bytes(body),
    };
    let request = SignableRequest::new(
        method,
        &url,
        signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        payload,
    )
    .map_err(|_| AuthError::InvalidSignature(MISMATCH.into()))?;
    let identity = SigningCredentials::new(
        *key_id,
        principal.secret.clone(),
        principal.session_token.clone(),
        None,
        "dynarock",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Exactly the headers the client signed, none dropped.
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| AuthError::InvalidSignature(MISMATCH.into()))?
        .into();
    let expected = sign(request, &params)
        .map_err(|_| AuthError::InvalidSignature(MISMATCH.into()))?
        .into_parts()
        .1;
    if same(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature(MISMATCH.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::Principal;

    fn keys() -> Keys {
        [(
            "AKIDTEST".to_string(),
            Principal {
                name: "t".into(),
                secret: "secret".into(),
                session_token: None,
            },
        )]
        .into()
    }

    /// A request signed by the same crate a client would use: (headers, uri).
    fn signed(secret: &str, at: SystemTime, body: &[u8]) -> (HeaderMap, Uri) {
        let url = "http://localhost:8000/2015-03-31/functions?MaxItems=5";
        let identity = SigningCredentials::new("AKIDTEST", secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let base = [
            ("host", "localhost:8000"),
            ("content-type", "application/json"),
        ];
        let request =
            SignableRequest::new("GET", url, base.iter().copied(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        for (k, v) in base {
            headers.insert(k, v.parse().unwrap());
        }
        for (k, v) in instructions.headers() {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        (headers, url.parse().unwrap())
    }

    #[test]
    fn good_signatures_pass_and_others_do_not() {
        let now = SystemTime::now();
        let (h, uri) = signed("secret", now, b"{}");
        assert_eq!(verify(&keys(), now, "GET", &uri, &h, b"{}"), Ok(()));
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
        assert_eq!(verify(&keys(), now, "GET", &uri, &h, b""), Ok(()));
    }
}
