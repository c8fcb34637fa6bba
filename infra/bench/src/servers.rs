//! Servers of the bench's own: DynamoDB Local instances with identical histories (so the handler's side and the
//! direct side of section 3 run on equally fast databases), and a proxy that adds network latency (so section 2
//! counts rounds as they happen against DynamoDB over a network, not on loopback).

use std::convert::Infallible;
use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::BoxError;

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The harness's HTTP client. TCP_NODELAY as the SDK's connector sets it: without it, a request written in two
/// segments waits for a delayed ACK.
pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A fresh in-memory DynamoDB Local (the jar `infra/with-stack.sh` found), stopped when dropped.
pub struct DynamoDbLocal {
    pub endpoint: String,
    _process: tokio::process::Child,
}

impl DynamoDbLocal {
    pub async fn start() -> Result<Self, BoxError> {
        let dir = std::env::var("DYNAMODB_LOCAL_DIR")
            .map_err(|_| "DYNAMODB_LOCAL_DIR is not set: run under infra/with-stack.sh")?;
        let port = free_port()?;
        let process = tokio::process::Command::new("java")
            .arg(format!("-Djava.library.path={dir}/DynamoDBLocal_lib"))
            .args(["-jar", &format!("{dir}/DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..150 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Self { endpoint, _process: process });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("DynamoDB Local did not start on port {port}").into())
    }
}

/// Forwards every request to `upstream` and answers `delay` after the upstream did: a network between the functions
/// and the database. Returns the proxy's endpoint; it runs until the process ends.
pub async fn latency_proxy(upstream: &str, delay: Duration) -> Result<String, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let http = http_client();
    let upstream = upstream.trim_end_matches('/').to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let _ = stream.set_nodelay(true);
            let (http, upstream) = (http.clone(), upstream.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (http, upstream) = (http.clone(), upstream.clone());
                    async move { Ok::<_, Infallible>(forward(&http, &upstream, request, delay).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(endpoint)
}

async fn forward(
    http: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    request: Request<Incoming>,
    delay: Duration,
) -> Response<Full<Bytes>> {
    let failed = |why: String| Response::builder().status(502).body(Full::new(Bytes::from(why))).unwrap();
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else { return failed("request body".into()) };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut outgoing = Request::builder().method(parts.method).uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(outgoing) = outgoing.body(Full::new(body)) else { return failed("request".into()) };
    let response = match http.request(outgoing).await {
        Ok(response) => response,
        Err(e) => return failed(e.to_string()),
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    tokio::time::sleep(delay).await;
    Response::from_parts(parts, Full::new(body))
}
