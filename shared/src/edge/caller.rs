//! What a request says about its caller: the token it presents and the address API Gateway saw.

use lambda_http::http::header::AUTHORIZATION;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::params::Params;
use crate::model::client_address::ClientAddress;

/// The token a request presents: the `Authorization: Bearer` header, else the `token` parameter (mesibo clients).
pub fn presented_token(req: &Request, params: &Params) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    bearer.map(str::to_owned).or_else(|| params.text("token").map(str::to_owned))
}

/// The caller's address as API Gateway saw it (never a header the client sets).
pub fn source_address(req: &Request) -> ClientAddress {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    };
    ClientAddress::from_source(source_ip)
}

/// This deployment's public address as the request reached it, with the path prefix before the route (a stage, or
/// a custom domain's mapping): `https://abc.execute-api.eu-west-1.amazonaws.com/prod`. Plain `http` only for a
/// loopback host (`make dev`).
pub fn public_base(req: &Request, route_path_len: usize) -> Option<String> {
    let host = req.headers().get("host").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        match req.request_context_ref()? {
            RequestContext::ApiGatewayV2(context) => context.domain_name.clone(),
            _ => None,
        }
    })?;
    let valid_host = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !valid_host {
        return None;
    }
    let loopback = ["127.0.0.1", "localhost", "[::1]"].iter().any(|l| host == *l || host.starts_with(&format!("{l}:")));
    let scheme = if loopback { "http" } else { "https" };
    let path = req.raw_http_path();
    let prefix = &path[..path.len().saturating_sub(route_path_len)];
    let prefix_ok = prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./~$".contains(&b));
    Some(format!("{scheme}://{host}{}", if prefix_ok { prefix } else { "" }))
}
