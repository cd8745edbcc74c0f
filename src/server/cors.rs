//! CORS, as DynamoDB answers browsers (the JavaScript SDK running in a page): a preflight
//! `OPTIONS` is allowed the method and headers it asks for, for two days; every answer to a
//! request that carries an `Origin` allows any origin and exposes the headers the SDKs read.
//! Requests without an `Origin` (every SDK outside a browser) are untouched.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{Either, Full};

use super::AnyResponse;

const EXPOSED: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date,x-amz-crc32,x-amz-function-error,x-amz-log-result,x-amz-executed-version";

/// Whether the request comes from a page (it carries an `Origin`).
pub fn from_page(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::ORIGIN)
}

pub fn preflight(request: &HeaderMap) -> AnyResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    let echo = [
        (
            http::header::ACCESS_CONTROL_REQUEST_HEADERS,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        ),
        (
            http::header::ACCESS_CONTROL_REQUEST_METHOD,
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
        ),
    ];
    for (asked, allowed) in echo {
        if let Some(v) = request.get(&asked) {
            h.insert(allowed, v.clone());
        }
    }
    h.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("172800"),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    allow(h);
    response.map(Either::Left)
}

/// The headers every answer to a page carries.
pub fn allow(h: &mut HeaderMap) {
    let headers: [(HeaderName, &'static str); 2] = [
        (http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (http::header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED),
    ];
    for (name, value) in headers {
        h.insert(name, HeaderValue::from_static(value));
    }
}
