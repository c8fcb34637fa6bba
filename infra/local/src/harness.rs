//! What the integration tests and the benchmarks share: the stack's endpoints, numbers nobody else draws, moto's
//! recorded data, replies decoded, a clock that only moves when told to, and calls through the route table.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};

use lambda_http::Body;
use serde_json::Value;
use shared::{App, Clock, DefaultRegion, PhoneNumber, SystemClock, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::apigw::HttpCall;
use crate::template::{Route, http_routes};

/// A variable `infra/with-stack.sh` exports (endpoints, moto's URL).
pub fn stack_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this runs against the local stack; use `make test` or `infra/with-stack.sh …`")
    })
}

/// A call as API Gateway would make it: only to a route `template.yaml` declares, then through the route table,
/// from the API Gateway v2 event as on Lambda.
pub async fn call(app: &App, call: HttpCall) -> lambda_http::Response<Body> {
    static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(http_routes);
    let declared = ROUTES.iter().any(|r| r.matches(&call.path) && (r.method == call.method || r.method == "ANY"));
    assert!(declared, "template.yaml declares no route {} {}", call.method, call.path);
    shared::edge::http::handle(app, shared::edge::routes::Operation::ALL, call.to_request()).await
}

/// A response, decoded.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

pub fn decode(response: lambda_http::Response<Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8(bytes.clone()).expect("UTF-8 body"),
        _ => String::new(),
    };
    let json = match text.is_empty() {
        true => serde_json::Value::Null,
        false => serde_json::from_str(&text).unwrap_or_else(|e| panic!("response is not JSON ({e}): {text}")),
    };
    Reply { status, headers, json }
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid US number nobody else in this run will draw (8 million candidates per area code).
pub fn random_phone() -> PhoneNumber {
    let region = DefaultRegion::from_iso("US").unwrap();
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf).unwrap();
        let n = u32::from_le_bytes(buf);
        let candidate = format!("+1201{}{:06}", 2 + n % 8, (n / 8) % 1_000_000);
        if let Some(phone) = PhoneNumber::parse(&candidate, region) {
            return phone;
        }
    }
}

/// Plain HTTP/1.0 GET: enough for moto's admin API, without another HTTP client in the tree.
pub async fn http_get_json(base: &str, path: &str) -> Value {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("moto is up");
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path} did not answer JSON: {e}"))
}

/// An HTTP/1.0 POST to `url` (`http://host:port/path?query`): the status and the body as JSON (`null` if not JSON).
pub async fn http_post(url: &str, content_type: &str, body: &str) -> (u16, Value) {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).await.expect("the server is up");
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// An HTTP/1.0 request to `url` (`http://host:port/path?query`) with the given headers and body: the status, the
/// response headers (lower-cased names) and the body's bytes. For what a client does with a link it was given
/// (follow a redirect, send a presigned upload).
pub async fn http_raw(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).await.expect("the server is up");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split..].to_vec())
}

/// A clock that only moves when told to. Starts at the real time so TTLs stay plausible.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new() -> Self {
        Self(AtomicI64::new(SystemClock.now()))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
