//! What a request says about its caller: the token it presents, and its address: the one API Gateway saw, or, with
//! the front door on, the one CloudFront saw (and only on a request that carries the front door's secret).

use lambda_http::http::header::AUTHORIZATION;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::params::Params;
use crate::config::Config;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;

/// The origin header CloudFront adds to every request it forwards (template.yaml, `FrontDoorDistribution`).
pub const ORIGIN_SECRET_HEADER: &str = "x-origin-verify";
/// The viewer's address and port, added by CloudFront (the origin request policy includes it).
pub const VIEWER_ADDRESS_HEADER: &str = "cloudfront-viewer-address";
/// The host the viewer asked for (the front door's own domain), copied by the front door's viewer-request function:
/// CloudFront sends API Gateway's host in `Host`, or API Gateway would not know the request.
pub const FORWARDED_HOST_HEADER: &str = "x-forwarded-host";

/// The token a request presents: the `Authorization: Bearer` header, else the `token` parameter (mesibo clients).
pub fn presented_token(req: &Request, params: &Params) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    bearer.map(str::to_owned).or_else(|| params.text("token").map(str::to_owned))
}

/// The caller's address, or the refusal of a request that went around the front door.
///
/// Front door off: the address API Gateway saw, never a header the client sets (`CloudFront-Viewer-Address`,
/// `X-Forwarded-For` and the like are the client's own word). On: the request must carry the front door's secret
/// (else it did not pass the WAF, and its headers are forged), and the address is the one CloudFront saw.
pub fn client_address(config: &Config, req: &Request) -> Result<ClientAddress, ApiError> {
    let Some(secret) = &config.front_door else {
        return Ok(source_address(req));
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !header(ORIGIN_SECRET_HEADER).is_some_and(|presented| secret.matches(presented)) {
        return Err(ApiError::NotThroughFrontDoor);
    }
    // CloudFront always sends it with this policy; without it, API Gateway's source (a CloudFront edge) still
    // counts, as a bucket shared by that edge's viewers, rather than one bucket for everyone.
    Ok(header(VIEWER_ADDRESS_HEADER).and_then(ClientAddress::from_viewer_address).unwrap_or_else(|| {
        tracing::warn!(header = VIEWER_ADDRESS_HEADER, "the front door sent no viewer address: check its policy");
        source_address(req)
    }))
}

/// The address API Gateway saw.
fn source_address(req: &Request) -> ClientAddress {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    };
    ClientAddress::from_source(source_ip)
}

/// This deployment's public address as the request reached it, with the path prefix before the route (a stage, or
/// a custom domain's mapping): `https://abc.execute-api.eu-west-1.amazonaws.com/prod`, or behind the front door
/// the host its viewer asked for (`https://d111111abcdef8.cloudfront.net`: API Gateway's own address refuses what
/// does not come through CloudFront). Plain `http` only for a loopback host (`make dev`).
pub fn public_base(req: &Request, route_path_len: usize, behind_front_door: bool) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let host = match behind_front_door {
        true => header(FORWARDED_HOST_HEADER)?,
        false => header("host").or_else(|| match req.request_context_ref()? {
            RequestContext::ApiGatewayV2(context) => context.domain_name.clone(),
            _ => None,
        })?,
    };
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
