//! A fault-injecting HTTP proxy for tests: sits between an SDK client and DynamoDB Local or moto and, per request,
//! forwards it or answers with a fault — refuse, delay, an AWS throttling error, HTTP 500, or a body cut mid-way.
//! Faults can target one operation (`X-Amz-Target`, e.g. `TransactWriteItems`, or an SNS `Action`) and a number of
//! requests, so transient faults (absorbed by SDK retries) and lasting ones can both be staged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Close the connection without an answer (what a dead server looks like to a pooled connection).
    Refuse,
    /// Answer after this long (longer than the SDK's timeouts: a hung dependency).
    Delay(Duration),
    /// DynamoDB's `ProvisionedThroughputExceededException` (HTTP 400, retryable).
    ProvisionedThroughputExceeded,
    /// `ThrottlingException` (HTTP 400, retryable).
    Throttling,
    /// A transaction cancelled because another one was writing one of its items (`TransactionConflict`), or a
    /// single write that met one (`TransactionConflictException`): HTTP 400, nothing written.
    TransactionConflict,
    /// HTTP 500 with an `InternalServerError` body.
    ServerError,
    /// The real answer's headers and half its body, then the connection closes.
    CutMidBody,
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    /// Only requests whose operation contains this (`TransactWriteItems`, `Action=Publish`); `None`: all.
    operation: Option<String>,
    /// How many matching requests get the fault; `None`: every one.
    remaining: Option<usize>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    faults_served: Arc<Mutex<usize>>,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Self { url, rules: Default::default(), faults_served: Default::default() };
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let this = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(this.clone().serve(client, upstream.clone()));
            }
        });
        proxy
    }

    /// From now on, `count` matching requests (all if `None`) get `fault`.
    pub fn inject(&self, fault: Fault, operation: Option<&str>, count: Option<usize>) {
        self.rules.lock().unwrap().push(Rule { fault, operation: operation.map(str::to_owned), remaining: count });
    }

    pub fn heal(&self) {
        self.rules.lock().unwrap().clear();
    }

    pub fn faults_served(&self) -> usize {
        *self.faults_served.lock().unwrap()
    }

    fn fault_for(&self, request_head: &str, body: &[u8]) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let body = String::from_utf8_lossy(body);
        for rule in rules.iter_mut() {
            let matches = rule
                .operation
                .as_ref()
                .is_none_or(|op| request_head.contains(op.as_str()) || body.contains(op.as_str()));
            if matches && rule.remaining != Some(0) {
                if let Some(left) = rule.remaining.as_mut() {
                    *left -= 1;
                }
                *self.faults_served.lock().unwrap() += 1;
                return Some(rule.fault.clone());
            }
        }
        None
    }

    async fn serve(self, mut client: TcpStream, upstream: String) {
        loop {
            let Some((head, body)) = read_message(&mut client).await else { return };
            let request = [head.as_bytes(), &body].concat();
            let fault = self.fault_for(&head, &body);
            match fault {
                Some(Fault::Refuse) => return,
                Some(Fault::Delay(wait)) => {
                    tokio::time::sleep(wait).await;
                    let Some(answer) = forward(&upstream, &request).await else { return };
                    if client.write_all(&answer).await.is_err() {
                        return;
                    }
                }
                Some(Fault::ProvisionedThroughputExceeded) => {
                    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}"#;
                    if client.write_all(&respond(400, "application/x-amz-json-1.0", body)).await.is_err() {
                        return;
                    }
                }
                Some(Fault::TransactionConflict) => {
                    let body = if head.contains("TransactWriteItems") {
                        r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"injected","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict"}]}"#
                    } else {
                        r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"injected"}"#
                    };
                    if client.write_all(&respond(400, "application/x-amz-json-1.0", body)).await.is_err() {
                        return;
                    }
                }
                Some(Fault::Throttling) => {
                    let body = r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"injected"}"#;
                    if client.write_all(&respond(400, "application/x-amz-json-1.0", body)).await.is_err() {
                        return;
                    }
                }
                Some(Fault::ServerError) => {
                    let body =
                        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#;
                    if client.write_all(&respond(500, "application/x-amz-json-1.0", body)).await.is_err() {
                        return;
                    }
                }
                Some(Fault::CutMidBody) => {
                    let Some(answer) = forward(&upstream, &request).await else { return };
                    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |p| p + 4);
                    let keep = split + (answer.len() - split) / 2;
                    let _ = client.write_all(&answer[..keep.max(split)]).await;
                    return;
                }
                None => {
                    let Some(answer) = forward(&upstream, &request).await else { return };
                    if client.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn respond(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Injected\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: injected\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One HTTP/1.1 message with a Content-Length body (all the SDK and these servers send): head text and body.
pub(crate) async fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break position + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some((head, buffer[head_end..head_end + length].to_vec()))
}

/// Sends one request upstream on a fresh connection and returns the whole answer.
pub(crate) async fn forward(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(request).await.ok()?;
    let (head, body) = read_message(&mut server).await?;
    Some([head.into_bytes(), body].concat())
}
