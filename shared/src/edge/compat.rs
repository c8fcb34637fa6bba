//! `GET|POST /api.php` (also `/conf/api.php`, `/messenger/api.php`): mesibo's demo-backend API, dispatched on `op`
//! through the route table to the same use cases as the REST routes. mesibo clients treat any status but 200 as a
//! network failure, so this endpoint always answers 200 (the caller sets it), with `result:"FAIL"` and mesibo's codes
//! (`NOOP`, `BADOP`, `AUTHFAIL`, …) on error.

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::commands;
use super::params::Params;
use super::reply::reply;
use super::routes::{Input, Operation, Outcome, run};
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::usecase::sign_in::{self, VerifyReply};
use crate::usecase::{Ports, Services};

/// The sign-in answer as mesibo's backend gives it: the verify profile (with `tn`) plus `google`.
#[derive(Debug, Serialize)]
pub struct MesiboSignIn {
    #[serde(flatten)]
    verify: VerifyReply,
    google: String,
}

pub async fn handle(
    app: &Services<impl Ports>,
    req: &Request,
    client: ClientAddress,
    now: Timestamp,
) -> Response<Body> {
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

async fn dispatch(app: &Services<impl Ports>, op: &str, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let signs_in = input.params.text("code").is_some() || input.params.text("otp").is_some();
    match op {
        "" => Err(ApiError::NoOp),
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
