//! One signed DynamoDB call over HTTP/1.1 keep-alive connections (https too, so the generator
//! runs against AWS). Async on a few threads, as wrk is: a thread per connection cost the client
//! more CPU per request than the server it measured, on the same two cores.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::sigv4::Signer;

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Client {
    http: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: hyper::Uri,
    host: String,
    signer: Arc<Signer>,
}

impl Client {
    /// A client for `endpoint` (`http://` or `https://`), signing with these credentials.
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
    ) -> Result<Client, String> {
        let endpoint: hyper::Uri = endpoint
            .parse()
            .map_err(|e| format!("endpoint {endpoint}: {e}"))?;
        let host = endpoint
            .authority()
            .ok_or_else(|| format!("endpoint {endpoint} has no host"))?
            .to_string();
        let signer = Arc::new(Signer::new(access_key, secret_key, region, &host));
        let https = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
        Ok(Client {
            http,
            endpoint,
            host,
            signer,
        })
    }

    pub async fn call(&self, op: &str, body: &Value) -> Result<(u16, Bytes), String> {
        let target = format!("DynamoDB_20120810.{op}");
        let body = body.to_string();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let (date, auth) = self.signer.sign(&target, body.as_bytes(), now);
        let request = Request::post(&self.endpoint)
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header("x-amz-date", date)
            .header("authorization", auth)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok((status, body.to_bytes()))
        };
        // A server that stops answering fails the request rather than hanging the run.
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }
}
