//! What a request says about its caller: the token it presents and the address API Gateway saw.

use lambda_http::http::header::AUTHORIZATION;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::params::Params;

/// The token a request presents: the `Authorization: Bearer` header, else the `token` parameter (mesibo clients).
pub fn presented_token(req: &Request, params: &Params) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    bearer.map(str::to_owned).or_else(|| params.text("token").map(str::to_owned))
}

/// The caller's address as API Gateway saw it (never a header the client sets).
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}
