//! The same calls, issued directly: every request a handler sent (recorded as it went on the wire) is sent again,
//! byte for byte, to a mirror: the same table in a second DynamoDB Local that has received every earlier request
//! too, so each call meets the same state and does the same work. Calls keep their rounds and their concurrency.
//! What is left between the handler's time and the replay's is the product's own cost: parsing, validation,
//! hashing, the SDK, rendering.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use local_stack::recorder::{RecordedCall, max_in_flight, rounds};

use crate::BoxError;
use crate::servers::http_client;

pub struct Mirror {
    http: Client<HttpConnector, Full<Bytes>>,
    from_endpoint: String,
    to_endpoint: String,
}

impl Mirror {
    /// Calls that went to the DynamoDB at `from_endpoint` go to the one at `to_endpoint`; others (SNS) go where
    /// they went.
    pub fn new(from_endpoint: &str, to_endpoint: &str) -> Self {
        let http = http_client();
        Self { http, from_endpoint: from_endpoint.to_owned(), to_endpoint: to_endpoint.to_owned() }
    }

    /// Sends the calls again, round by round, as many at once as the handler had in flight; each must get the
    /// status the original got. Returns the wall time of the sending alone: requests are rewritten before.
    pub async fn replay(&self, calls: &[RecordedCall]) -> Result<Duration, BoxError> {
        let rounds: Vec<(usize, Vec<Replayed>)> = rounds(calls)
            .into_iter()
            .map(|round| {
                Ok((max_in_flight(&round), round.iter().map(|c| self.rewrite(c)).collect::<Result<_, BoxError>>()?))
            })
            .collect::<Result<_, BoxError>>()?;
        let started = Instant::now();
        for (in_flight, round) in rounds {
            stream::iter(round.into_iter().map(|call| self.send(call)))
                .buffer_unordered(in_flight)
                .try_collect::<Vec<()>>()
                .await?;
        }
        Ok(started.elapsed())
    }

    /// The same request for the mirror. A transaction's idempotency token gets a new value: a token seen before
    /// would make DynamoDB answer from memory instead of doing the work.
    fn rewrite(&self, call: &RecordedCall) -> Result<Replayed, BoxError> {
        let sent = call.request.as_ref().ok_or_else(|| format!("{} was never sent", call.operation))?;
        let mut body = String::from_utf8(sent.body.clone())?;
        if body.contains("\"ClientRequestToken\"") {
            let mut json: serde_json::Value = serde_json::from_str(&body)?;
            json["ClientRequestToken"] = serde_json::Value::String(local_stack::harness::random_hex(16));
            body = json.to_string();
        }
        let uri = match sent.uri.strip_prefix(&self.from_endpoint) {
            Some(path) => format!("{}{path}", self.to_endpoint),
            None => sent.uri.clone(),
        };
        let mut request = hyper::Request::post(uri);
        for (name, value) in &sent.headers {
            if !matches!(name.as_str(), "content-length" | "host") {
                request = request.header(name, value);
            }
        }
        Ok(Replayed {
            operation: call.operation.clone(),
            expected_status: call.status,
            request: request.body(Full::new(Bytes::from(body)))?,
        })
    }

    async fn send(&self, call: Replayed) -> Result<(), BoxError> {
        let response = self.http.request(call.request).await?;
        let status = response.status().as_u16();
        let text = response.into_body().collect().await?.to_bytes();
        if Some(status) != call.expected_status {
            return Err(format!(
                "replayed {} answered {status}, the original {:?}: {}",
                call.operation,
                call.expected_status,
                String::from_utf8_lossy(&text)
            )
            .into());
        }
        Ok(())
    }
}

struct Replayed {
    operation: String,
    expected_status: Option<u16>,
    request: hyper::Request<Full<Bytes>>,
}
