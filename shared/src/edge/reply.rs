//! The one response envelope: `{op, result, ts, …}`; failures add `error` + `errmsg` and a fitting status. No use
//! case builds a response by hand, and nothing here answers 500.

use lambda_http::http::header::{CONTENT_TYPE, RETRY_AFTER};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::model::clock::Timestamp;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    op: &'a str,
    result: &'static str,
    ts: Timestamp,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct Failure<'a> {
    error: &'static str,
    errmsg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts_left: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

/// The one place a use case's outcome becomes an HTTP response.
pub fn reply<T: Serialize>(op: &str, now: Timestamp, outcome: Result<T, ApiError>) -> Response<Body> {
    match outcome {
        Ok(body) => json_response(200, &Envelope { op, result: "OK", ts: now, body }, None),
        Err(error) => {
            let attempts_left = match &error {
                ApiError::BadCode { attempts_left } => Some(*attempts_left),
                _ => None,
            };
            let param = match &error {
                ApiError::MissingParam(name) => Some(*name),
                _ => None,
            };
            let body = Failure {
                error: error.code(),
                errmsg: error.to_string(),
                retry_after: error.retry_after(),
                attempts_left,
                param,
            };
            json_response(error.status(), &Envelope { op, result: "FAIL", ts: now, body }, error.retry_after())
        }
    }
}

/// `/files/<name>`: off to the file in storage (clients follow redirects; the link is signed and short-lived).
pub fn redirect(location: &str, max_age: u64) -> Response<Body> {
    Response::builder()
        .status(302)
        .header("location", location)
        .header("cache-control", format!("private, max-age={max_age}"))
        .header("x-content-type-options", "nosniff")
        .body(Body::Empty)
        .expect("status and headers are valid")
}

fn json_response(status: u16, body: &impl Serialize, retry_after: Option<u64>) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| r#"{"result":"FAIL","error":"INTERNAL"}"#.into());
    let mut builder =
        Response::builder().status(status).header(CONTENT_TYPE, "application/json").header("cache-control", "no-store");
    if let Some(seconds) = retry_after {
        builder = builder.header(RETRY_AFTER, seconds.to_string());
    }
    builder.body(Body::Text(text)).expect("status and headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn failures_carry_code_message_status_and_retry_after() {
        let response = reply::<()>("login", 7, Err(ApiError::RateLimited { retry_after: 30 }));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[RETRY_AFTER], "30");
        let Body::Text(text) = response.body() else { panic!("text body") };
        let json: Value = serde_json::from_str(text).unwrap();
        assert_eq!(json["op"], "login");
        assert_eq!(json["result"], "FAIL");
        assert_eq!(json["error"], "RATELIMIT");
        assert_eq!(json["retry_after"], 30);
        assert_eq!(json["ts"], 7);
        assert!(json["errmsg"].as_str().unwrap().len() > 5);
    }
}
