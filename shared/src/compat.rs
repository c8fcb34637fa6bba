//! `GET|POST /api.php` (also `/conf/api.php`, `/messenger/api.php`): mesibo's demo-backend API, dispatched on `op`
//! to the same use cases as the REST routes. mesibo clients treat any status but 200 as a network failure, so this
//! endpoint always answers 200, with `result:"FAIL"` and mesibo's codes (`NOOP`, `BADOP`, `AUTHFAIL`, …) on error.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::http::{self, Params};
use crate::limits::source_ip;
use crate::session::{Session, authenticate, presented_token};
use crate::verify::VerifyReply;
use crate::{account, getcontacts, groups, login, verify};

/// The sign-in answer as mesibo's backend gives it: the verify profile plus `google` and `tn`.
#[derive(Debug, Serialize)]
struct CompatSignIn {
    #[serde(flatten)]
    verify: VerifyReply,
    google: String,
    /// Thumbnail of the photo; this backend stores no files.
    tn: String,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let (op, outcome) = match Params::from_request_limited(&req, getcontacts::MAX_BODY_BYTES) {
        Ok(params) => {
            let op = params.text("op").unwrap_or_default().to_owned();
            let outcome = dispatch(app, &req, &params, &op, now).await;
            (op, outcome)
        }
        Err(e) => (String::new(), Err(e)),
    };
    let mut response = http::reply(&op, now, outcome);
    *response.status_mut() = lambda_http::http::StatusCode::OK;
    response
}

fn json(value: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::Unavailable)
}

async fn dispatch(app: &App, req: &Request, params: &Params, op: &str, now: Timestamp) -> Result<Value, ApiError> {
    let session = || async { authenticate(app, presented_token(req, params).as_deref(), now).await };
    match op {
        "" => Err(ApiError::NoOp),
        "login" if params.text("code").is_some() || params.text("otp").is_some() => {
            let verify = verify::verify_code(app, params, source_ip(req).as_deref(), now).await?;
            json(CompatSignIn { verify, google: app.config.profile_urls.google_api_key.clone(), tn: String::new() })
        }
        "login" => json(login::request_code(app, params, source_ip(req).as_deref(), now).await?),
        "getcontacts" => json(getcontacts::sync(app, &session().await?, params, now).await?),
        "profile" => json(account::update_profile(app, &session().await?, params, now).await?),
        "logout" => json(account::logout(app, &session().await?, params, now).await?),
        "delcontacts" => json(account::delete_contacts(app, &session().await?, params, now).await?),
        "deleteaccount" => json(account::delete_account(app, &session().await?, params, now).await?),
        "setnotify" => json(account::set_notify(app, &session().await?, params, now).await?),
        "setgroup" | "editmembers" | "setadmin" | "getgroup" | "delgroup" => {
            let session: Session = session().await?;
            json(groups::run(app, op, &session, params, now).await?)
        }
        // mesibo's file upload: this backend stores no files (use your own storage and send the URL as `photo`).
        _ => Err(ApiError::BadOp),
    }
}
