//! Which domain handler serves each function of `template.yaml`: the same calls the `functions/*` binaries make.

use domain::App;
use lambda_http::{Body, Request, Response};

/// The template's functions behind HTTP routes, by logical id.
pub const HTTP_FUNCTIONS: &[&str] =
    &["LoginFunction", "VerifyFunction", "GetContactsFunction", "AccountFunction", "GroupsFunction", "CompatFunction"];
/// The template's functions fed by the table's stream (locally: [`crate::stream::StreamPoller`]).
pub const STREAM_FUNCTIONS: &[&str] = &["NotifierFunction"];

pub async fn invoke(app: &App, function: &str, request: Request) -> Option<Response<Body>> {
    Some(match function {
        "LoginFunction" => domain::login::handle(app, request).await,
        "VerifyFunction" => domain::verify::handle(app, request).await,
        "GetContactsFunction" => domain::getcontacts::handle(app, request).await,
        "AccountFunction" => domain::account::handle(app, request).await,
        "GroupsFunction" => domain::groups::handle(app, request).await,
        "CompatFunction" => domain::compat::handle(app, request).await,
        _ => return None,
    })
}
