//! One HTTP request in, one response out: the route found, the front door checked, the route refused unless this
//! function serves it, then mesibo's `api.php`, a download, or the operation's use case.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::error;

use super::caller::client_address;
use super::compat;
use super::dispatch::{BoxFuture, Input, Run, runner};
use super::params::Params;
use super::reply::{redirect, reply};
use super::routes::Operation;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::usecase::{App, Ports, files};

/// How a function answers one of its operations. Chosen when the function is compiled (`Served::of` in a constant,
/// as `serve_http!` writes it), so that its binary links only the code of its own routes.
pub struct Served<P: Ports> {
    pub operation: Operation,
    answer: Answer<P>,
}

enum Answer<P: Ports> {
    /// Parameters in, the operation's use case, the envelope out.
    Parameters(Run<P>),
    /// The whole request: mesibo's `api.php`, a download.
    Request(AnswerRequest<P>),
}

type AnswerRequest<P> = for<'a> fn(&'a App<P>, &'a Request, ClientAddress, Timestamp) -> BoxFuture<'a, Response<Body>>;

impl<P: Ports> Served<P> {
    pub const fn of(operation: Operation) -> Self {
        let answer = match operation {
            Operation::MesiboApi => Answer::Request(|app, req, client, now| Box::pin(api_php(app, req, client, now))),
            Operation::Download => Answer::Request(|app, req, _, now| Box::pin(download(app, req, now))),
            _ => match runner(operation) {
                Some(run) => Answer::Parameters(run),
                None => panic!("an operation with parameters has a use case"),
            },
        };
        Self { operation, answer }
    }
}

/// Serves one request for one of the `served` operations (a function's, or [`Operation::ALL`]: the whole API in one
/// process, as `make dev` serves it).
pub async fn handle<P: Ports>(app: &App<P>, served: &[Operation], req: Request) -> Response<Body> {
    let served: Vec<Served<P>> = served.iter().map(|operation| Served::of(*operation)).collect();
    answer(app, &served, req).await
}

/// Serves one request for one of the `served` operations. An unknown path is a client error; a route of another
/// function is refused (API Gateway sends a function only its own routes, so that takes a misrouted deployment: its
/// IAM policy was written for its own routes alone).
pub async fn answer<P: Ports>(app: &App<P>, served: &[Served<P>], req: Request) -> Response<Body> {
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
    let Some(served) = served.iter().find(|served| served.operation == operation) else {
        error!(op = operation.name(), "a route sent to a function that does not serve it: check template.yaml");
        return reply::<()>(operation.name(), now, Err(ApiError::NotServedHere));
    };
    let run = match served.answer {
        Answer::Request(answer) => return answer(app, &req, client, now).await,
        Answer::Parameters(run) => run,
    };
    let outcome = match Params::from_request(&req, operation.body_limits(&app.config)).await {
        Ok(params) => {
            let links = operation.links(&app.config, &req);
            run(app, &Input { req: &req, params, now, links, client }).await
        }
        Err(e) => Err(e),
    };
    reply(operation.name(), now, outcome)
}

async fn api_php<P: Ports>(app: &App<P>, req: &Request, client: ClientAddress, now: Timestamp) -> Response<Body> {
    let mut response = compat::handle(app, req, client, now).await;
    // mesibo clients treat any status but 200 as a network failure.
    *response.status_mut() = StatusCode::OK;
    response
}

async fn download<P: Ports>(app: &App<P>, req: &Request, now: Timestamp) -> Response<Body> {
    let name = Operation::file_name(req.raw_http_path());
    match files::download_link(app, name, now).await {
        Ok(link) => redirect(&link, files::DOWNLOAD_LINK_SECONDS - 600),
        Err(e) => reply::<()>(Operation::Download.name(), now, Err(e)),
    }
}
