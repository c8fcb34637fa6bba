//! One HTTP request in, one response out: the route found, the front door checked, the route refused unless this
//! function serves it, then mesibo's `api.php`, a download, or the operation's use case.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::error;

use super::caller::client_address;
use super::compat;
use super::dispatch::{Input, run};
use super::params::Params;
use super::reply::{redirect, reply};
use super::routes::Operation;
use crate::error::ApiError;
use crate::usecase::{App, Ports, files};

/// Serves one request for one of the `served` operations (a function's, or [`Operation::ALL`]). An unknown path is
/// a client error; a route of another function is refused (API Gateway sends a function only its own routes, so
/// that takes a misrouted deployment: its IAM policy was written for its own routes alone).
pub async fn handle(app: &App<impl Ports>, served: &[Operation], req: Request) -> Response<Body> {
    let now = app.clock.now();
    let Some(operation) = Operation::for_path(req.raw_http_path()) else {
        return reply::<()>("", now, Err(ApiError::BadRequest("unknown operation")));
    };
    // Before anything else: with the front door on, a request around it is refused whatever its route (api.php's
    // always-200 included: no mesibo app was given this address), so it learns nothing of how routes are served.
    let client = match client_address(&app.config, &req) {
        Ok(client) => client,
        Err(refused) => return reply::<()>(operation.name(), now, Err(refused)),
    };
    if !served.contains(&operation) {
        error!(op = operation.name(), "a route sent to a function that does not serve it: check template.yaml");
        return reply::<()>(operation.name(), now, Err(ApiError::NotServedHere));
    }
    if operation == Operation::MesiboApi {
        let mut response = compat::handle(app, &req, client, now).await;
        // mesibo clients treat any status but 200 as a network failure.
        *response.status_mut() = StatusCode::OK;
        return response;
    }
    if operation == Operation::Download {
        let name = Operation::file_name(req.raw_http_path()).to_owned();
        return match files::download_link(app, &name).await {
            Ok(link) => redirect(&link, files::DOWNLOAD_LINK_SECONDS - 600),
            Err(e) => reply::<()>(operation.name(), now, Err(e)),
        };
    }
    let outcome = match Params::from_request(&req, operation.body_limits(&app.config)).await {
        Ok(params) => {
            let links = operation.links(&app.config, &req);
            run(app, operation, &Input { req: &req, params, now, links, client }).await
        }
        Err(e) => Err(e),
    };
    reply(operation.name(), now, outcome)
}
