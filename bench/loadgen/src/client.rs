//! Signed DynamoDB calls over HTTP/1.1 keep-alive connections (https too, so the generator runs
//! against AWS). Async on a few threads, as wrk is: a thread per connection cost the client more
//! CPU per request than the server it measured, on the same two cores. Each load connection owns
//! its HTTP connection outright: a shared pool's checkout, hashing and channels cost the client
//! more than the server spends on a GetItem.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use crate::sigv4::Signer;

const TIMEOUT: Duration = Duration::from_secs(30);
const JSON: HeaderValue = HeaderValue::from_static("application/x-amz-json-1.0");
const X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");

/// Where to connect and how to sign; cheap to clone.
#[derive(Clone)]
pub struct Client {
    connector: HttpsConnector<HttpConnector>,
    endpoint: hyper::Uri,
    host: HeaderValue,
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
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Client {
            connector,
            endpoint,
            host: HeaderValue::from_str(&host).map_err(|e| format!("host {host}: {e}"))?,
            signer,
        })
    }

    /// A connection of its own, opened at its first call.
    pub fn connection(&self) -> Connection {
        Connection {
            client: self.clone(),
            sender: None,
        }
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, String> {
        let io = self
            .connector
            .call(self.endpoint.clone())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        // The connection's I/O runs as its own task; it ends when the sender is dropped.
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// One keep-alive connection, with at most one request in flight; reconnects after the server
/// closes it.
pub struct Connection {
    client: Client,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Calls operation `op` with a JSON `body`; the answer's status and body.
    pub async fn call(&mut self, op: &str, body: String) -> Result<(u16, Bytes), String> {
        let target = format!("DynamoDB_20120810.{op}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let (date, auth) = self.client.signer.sign(&target, body.as_bytes(), now);
        let header = |value: String| HeaderValue::try_from(value).map_err(|e| e.to_string());
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = hyper::Uri::from_static("/");
        let headers = request.headers_mut();
        headers.insert(HOST, self.client.host.clone());
        headers.insert(CONTENT_TYPE, JSON);
        headers.insert(X_AMZ_TARGET, header(target)?);
        headers.insert(X_AMZ_DATE, header(date)?);
        headers.insert(AUTHORIZATION, header(auth)?);
        // A server that stops answering fails the request rather than hanging the run.
        tokio::time::timeout(TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }

    /// Invokes Lambda function `function` synchronously with a JSON `body`.
    pub async fn invoke(&mut self, function: &str, body: String) -> Result<(u16, Bytes), String> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let (date, auth) = self
            .client
            .signer
            .sign_rest("lambda", &path, body.as_bytes(), now);
        let header = |value: String| HeaderValue::try_from(value).map_err(|e| e.to_string());
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = path
            .parse()
            .map_err(|e| format!("function {function}: {e}"))?;
        let headers = request.headers_mut();
        headers.insert(HOST, self.client.host.clone());
        headers.insert(X_AMZ_DATE, header(date)?);
        headers.insert(AUTHORIZATION, header(auth)?);
        tokio::time::timeout(TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }

    async fn exchange(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), String> {
        loop {
            // A server may close a kept-alive connection between requests (moto answers
            // `Connection: close`); a request that was not sent then goes on a new connection.
            let reused = self.sender.as_ref().is_some_and(|s| !s.is_closed());
            let sender = match &mut self.sender {
                Some(sender) if reused => sender,
                _ => self.sender.insert(self.client.connect().await?),
            };
            let sent = match sender.ready().await {
                Ok(()) => sender.try_send_request(request).await,
                Err(_) if reused => {
                    self.sender = None;
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            };
            let response = match sent {
                Ok(response) => response,
                Err(mut e) => {
                    self.sender = None;
                    match e.take_message() {
                        Some(unsent) if reused => {
                            request = unsent;
                            continue;
                        }
                        _ => return Err(e.error().to_string()),
                    }
                }
            };
            let status = response.status().as_u16();
            return match response.into_body().collect().await {
                Ok(body) => Ok((status, body.to_bytes())),
                Err(e) => {
                    self.sender = None;
                    Err(e.to_string())
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers one request per connection and closes it, as moto does.
    async fn one_answer_per_connection(listener: tokio::net::TcpListener) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Until the request's body, `{}`, has arrived.
                while !request.ends_with(b"{}") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_the_server_closed_is_replaced() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(one_answer_per_connection(listener));
        let client = Client::new(&endpoint, "AKID", "secret", "us-east-1").unwrap();
        // Several connections at once, each replaced after every answer.
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let mut connection = client.connection();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        let (status, body) = connection.call("ListTables", "{}".into()).await?;
                        assert_eq!((status, &body[..]), (200, &b"{}"[..]));
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
    }
}
