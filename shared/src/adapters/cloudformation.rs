//! CloudFormation's side of a custom resource: the answer, a JSON document PUT to the pre-signed S3 URL of the
//! request (`ResponseURL`). Until it arrives the stack waits (an hour, then fails), so it is sent however the work
//! went, and retried.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const TRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct CustomResourceReply {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyFailed {
    #[error("the system's root certificates could not be loaded: {0}")]
    Certificates(std::io::Error),
    #[error("the response URL is no https:// address (plain http only on this machine)")]
    BadUrl,
    #[error("CloudFormation's response URL did not take the answer: {0}")]
    NotTaken(String),
}

impl CustomResourceReply {
    pub fn new() -> Result<Self, ReplyFailed> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(3)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(ReplyFailed::Certificates)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self { http: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// PUTs the answer, up to three times. No content type: the URL is signed without one, and S3 refuses a PUT
    /// whose headers differ from what was signed.
    pub async fn send(&self, url: &str, answer: &serde_json::Value) -> Result<(), ReplyFailed> {
        let uri: hyper::Uri = url.parse().map_err(|_| ReplyFailed::BadUrl)?;
        let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if loopback => {}
            _ => return Err(ReplyFailed::BadUrl),
        }
        let body = Bytes::from(answer.to_string());
        let mut last = String::new();
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            let request = hyper::Request::put(uri.clone())
                .header(hyper::header::CONTENT_TYPE, "")
                .header(hyper::header::CONTENT_LENGTH, body.len())
                .body(Full::new(body.clone()))
                .map_err(|e| ReplyFailed::NotTaken(e.to_string()))?;
            last = match tokio::time::timeout(TIMEOUT, self.http.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => {
                    let _ = response.into_body().collect().await;
                    return Ok(());
                }
                Ok(Ok(response)) => format!("HTTP {}", response.status()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer in 10 s".into(),
            };
        }
        Err(ReplyFailed::NotTaken(last))
    }
}
