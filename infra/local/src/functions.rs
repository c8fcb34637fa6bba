//! Which domain handler serves each function of `template.yaml`: the same calls the `functions/*` binaries make.

use domain::App;
use lambda_http::{Body, Request, Response};

/// Every function the template declares, by logical id. A test holds this equal to the template.
pub const FUNCTIONS: &[&str] = &["LoginFunction", "VerifyFunction"];

pub async fn invoke(app: &App, function: &str, request: Request) -> Option<Response<Body>> {
    Some(match function {
        "LoginFunction" => domain::login::handle(app, request).await,
        "VerifyFunction" => domain::verify::handle(app, request).await,
        _ => return None,
    })
}
