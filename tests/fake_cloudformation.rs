//! A fake CloudFormation: the pre-signed ResponseURL a custom resource answers, receiving PUTs and keeping them.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What CloudFormation's pre-signed URL received: method, headers (lower-cased), the answer.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub answer: Value,
}

/// A fake CloudFormation ResponseURL: takes PUTs, answers 200, keeps what came.
#[derive(Clone)]
pub struct FakeCloudFormation {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeCloudFormation {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cloudformation-response?X-Amz-Signature=abc", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(vec![]));
        let keep = received.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut raw = vec![];
                let mut buf = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break (String::new(), vec![]);
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                        let length: usize = head
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        while raw.len() < end + 4 + length {
                            let n = stream.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            raw.extend_from_slice(&buf[..n]);
                        }
                        break (head, raw[end + 4..].to_vec());
                    }
                };
                let method = head.split(' ').next().unwrap_or_default().to_owned();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let answer = serde_json::from_slice(&body).unwrap_or(Value::Null);
                keep.lock().unwrap().push(Received { method, headers, answer });
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            }
        });
        Self { url, received }
    }

    pub fn last(&self) -> Received {
        self.received.lock().unwrap().last().cloned().expect("CloudFormation got an answer")
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}
