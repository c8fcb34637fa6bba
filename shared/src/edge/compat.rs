//! `GET|POST /api.php` (also `/conf/api.php`, `/messenger/api.php`): mesibo's demo-backend API, dispatched on `op`
//! through [`super::dispatch`] to the same use cases as the REST routes. mesibo clients treat any status but 200 as a
//! network failure, so this endpoint always answers 200 (the caller sets it; only a request around the front door,
//! or one sent to a function that does not serve api.php, is refused before), with `result:"FAIL"` and mesibo's codes
//! (`NOOP`, `BADOP`, `AUTHFAIL`, …) on error.

use lambda_http::{Body, Request, Response};

use super::commands;
use super::dispatch::{Input, MesiboSignIn, Outcome, run};
use super::params::Params;
use super::reply::reply;
use super::routes::Operation;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::usecase::sign_in;
use crate::usecase::{App, Ports};

pub async fn handle(app: &App<impl Ports>, req: &Request, client: ClientAddress, now: Timestamp) -> Response<Body> {
    let (op, outcome) = match Params::from_request(req, Operation::MesiboApi.body_limits(&app.config)).await {
        Ok(params) => {
            let op = params.text("op").unwrap_or_default().to_owned();
            let links = Operation::MesiboApi.links(&app.config, req);
            let outcome = dispatch(app, &op, &Input { req, params, now, links, client }).await;
            (op, outcome)
        }
        Err(e) => (String::new(), Err(e)),
    };
    reply(&op, now, outcome)
}

async fn dispatch(app: &App<impl Ports>, op: &str, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let signs_in = input.params.text("code").is_some() || input.params.text("otp").is_some();
    match op {
        "" => Err(ApiError::NoOp),
        "login" if !front_door_sees_sign_in(input.req) => Err(ApiError::BadRequest(SIGN_IN_UNSEEN)),
        "login" if signs_in => {
            let command = commands::verify_code(&app.config, &input.params, input.client.clone(), input.links.clone())?;
            let verify = sign_in::verify_code(app, command, input.now).await?;
            let google = app.config.profile_urls.google_api_key.clone();
            Ok(Outcome::MesiboSignIn(MesiboSignIn { verify, google }))
        }
        _ => match Operation::for_mesibo_op(op) {
            Some(operation) => run(app, operation, input).await,
            None => Err(ApiError::BadOp),
        },
    }
}

const SIGN_IN_UNSEEN: &str =
    "send op=login in the query string, or in a form or JSON body within its first 16 KB (not multipart, not escaped)";

/// How much of a body the front door's WAF inspects (CloudFront's default).
const FRONT_DOOR_BODY_BYTES: usize = 16 * 1024;

/// Whether the front door's sign-in rule (template.yaml, `FrontDoorWebAcl`, `SignInPerClient`) counts this api.php
/// request as a sign-in: `op=login` in the query string or the body's first 16 KB, URL-decoded and lowercased, or
/// `"login"` in the body's first 16 KB, lowercased. A sign-in spelled so that it would miss (multipart, a JSON
/// escape, padding before it) would only count against the looser limit of every route, so it is refused here,
/// with or without the front door: what the rule sees is what signs in.
fn front_door_sees_sign_in(req: &Request) -> bool {
    let query = req.uri().query().unwrap_or_default().as_bytes();
    let body: &[u8] = req.body().as_ref();
    let inspected = &body[..body.len().min(FRONT_DOOR_BODY_BYTES)];
    let decoded_lowercase = |bytes: &[u8]| url_decoded(bytes).to_ascii_lowercase();
    contains(&decoded_lowercase(query), b"op=login")
        || contains(&decoded_lowercase(inspected), b"op=login")
        || contains(&inspected.to_ascii_lowercase(), b"\"login\"")
}

/// WAF's `URL_DECODE`: `%XX` escapes decoded (a malformed one left as it is).
fn url_decoded(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?));
        match escaped.flatten() {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, body: &[u8]) -> Request {
        let uri = format!("https://api.example.com/api.php{query}");
        lambda_http::http::Request::builder().uri(uri).body(Body::Binary(body.to_vec())).unwrap()
    }

    #[test]
    fn the_front_door_sees_sign_ins_as_the_apps_send_them_and_nothing_spelled_to_hide() {
        for (query, body) in [
            ("?op=login&phone=12015550100", &b""[..]),
            ("?OP%3DLogin", b""),
            ("", b"op=login&phone=12015550100&appid=com.example"),
            ("", b"phone=1&op%3dlogin"),
            ("", br#"{"op":"login","phone":"12015550100"}"#),
            ("", br#"{"op" : "LOGIN"}"#),
        ] {
            assert!(front_door_sees_sign_in(&request(query, body)), "{query} {:?}", String::from_utf8_lossy(body));
        }
        let padded = [vec![b'x'; FRONT_DOOR_BODY_BYTES], b"&op=login".to_vec()].concat();
        let multipart = b"--b\r\nContent-Disposition: form-data; name=\"op\"\r\n\r\nlogin\r\n--b--\r\n";
        for body in [&padded[..], br#"{"op":"\u006cogin"}"#, multipart] {
            assert!(!front_door_sees_sign_in(&request("", body)), "{:?}", String::from_utf8_lossy(&body[..40]));
        }
    }
}
