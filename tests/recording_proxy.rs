//! A recording HTTP proxy in front of the whole local stack: an SDK configuration whose every service's endpoint
//! is this proxy ([`RecordingProxy::sdk_config`]) sends every AWS call it makes through here, whichever client makes
//! it (those the code builds itself at start, such as Secrets Manager's, included) and presigned links it hands out
//! too (they point here). Each request is recorded as sent and forwarded to DynamoDB Local or moto by the service
//! its signature names.
//!
//! The SDK interceptor ([`crate::CallRecorder`]) sees only the clients a test builds; this sees all of one
//! configuration's.

use std::sync::{Arc, Mutex};

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::fault_proxy::{forward, read_message};
use crate::stack_env;

/// One request as it reached the proxy.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// The signing name in the request's credential scope: `dynamodb`, `sns`, `s3`, `secretsmanager`, …
    pub service: String,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with (0: no answer).
    pub status: u16,
}

impl AwsCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
pub struct RecordingProxy {
    pub url: String,
    calls: Arc<Mutex<Vec<AwsCall>>>,
    /// Services served by an emulator of the test's own (`sms-voice`), by signing name.
    emulators: Arc<Mutex<Vec<(String, String)>>>,
}

/// Every service's endpoint is the proxy (in place of `AWS_ENDPOINT_URL_<SERVICE>`, which would win over a
/// configuration's single endpoint).
#[derive(Debug)]
pub struct EveryServiceAt(pub String);

impl LoadServiceConfig for EveryServiceAt {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL").then(|| self.0.clone())
    }
}

impl RecordingProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Self { url, calls: Default::default(), emulators: Default::default() };
        let this = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(this.clone().serve(client));
            }
        });
        proxy
    }

    /// The product's SDK configuration with every service reached through this proxy.
    pub async fn sdk_config(&self) -> aws_types::SdkConfig {
        let sdk = shared::app::sdk_config().await;
        sdk.to_builder().endpoint_url(&self.url).service_config(EveryServiceAt(self.url.clone())).build()
    }

    /// Sends the calls of `service` (its signing name) to `url`.
    pub fn route(&self, service: &str, url: &str) {
        self.emulators.lock().unwrap().push((service.to_owned(), url.to_owned()));
    }

    pub fn calls(&self) -> Vec<AwsCall> {
        self.calls.lock().unwrap().clone()
    }

    async fn serve(self, mut client: TcpStream) {
        loop {
            let Some((head, body)) = read_message(&mut client).await else { return };
            // Not a call of the SDK (a port scan, another stack's readiness probe on a port it thought free).
            let Some(mut call) = parse(&head, &body) else { return };
            let emulator = self.emulators.lock().unwrap().iter().find(|(s, _)| *s == call.service).cloned();
            let upstream = match call.service.as_str() {
                _ if emulator.is_some() => emulator.map(|(_, url)| url).unwrap_or_default(),
                "dynamodb" => stack_env("AWS_ENDPOINT_URL_DYNAMODB"),
                "s3" => stack_env("AWS_ENDPOINT_URL_S3"),
                _ => stack_env("MOTO_URL"),
            };
            let closes = head.lines().next().is_some_and(|l| l.ends_with("HTTP/1.0"))
                || call.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
            let request = [head.as_bytes(), &body].concat();
            let answer = forward(upstream.trim_start_matches("http://"), &request).await;
            let status = answer.as_ref().and_then(|a| String::from_utf8_lossy(a).split(' ').nth(1)?.parse().ok());
            call.status = status.unwrap_or(0);
            self.calls.lock().unwrap().push(call);
            let Some(answer) = answer else { return };
            if client.write_all(&answer).await.is_err() || closes {
                return;
            }
        }
    }
}

fn parse(head: &str, body: &[u8]) -> Option<AwsCall> {
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    // `Credential=KEY/DATE/REGION/SERVICE/aws4_request`, in the Authorization header or a presigned link's query.
    let authorization = headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.clone());
    let credential = authorization.or_else(|| {
        let query = target.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "X-Amz-Credential").map(|(_, v)| v.into_owned())
    });
    let service = credential?.split('/').rev().nth(1)?.to_owned();
    Some(AwsCall { service, method, target, headers, body: body.to_vec(), status: 0 })
}
