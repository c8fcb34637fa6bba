//! Who is calling: the bearer token of a signed-in user, from `token` or `Authorization: Bearer`.

use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::http::Params;
use crate::phone::PhoneNumber;
use crate::secrets::{AccessToken, TokenHash};

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Session {
    pub phone: PhoneNumber,
    pub token: TokenHash,
}

/// The token a request presents: the `Authorization: Bearer` header, else the `token` parameter (mesibo clients).
pub fn presented_token(req: &Request, params: &Params) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    bearer.map(str::to_owned).or_else(|| params.text("token").map(str::to_owned))
}

/// Missing, malformed, unknown and expired tokens all answer `AUTHFAIL`, alike.
pub async fn authenticate(app: &App, token: Option<&str>, now: Timestamp) -> Result<Session, ApiError> {
    let token = token.and_then(AccessToken::parse).ok_or(ApiError::AuthFail)?;
    let hash = token.hash();
    let record = app.store.token(&hash).await?.ok_or(ApiError::AuthFail)?;
    if record.expires_at <= now {
        return Err(ApiError::AuthFail);
    }
    let region = app.config.default_region;
    let phone = PhoneNumber::parse(&record.phone, region).ok_or(ApiError::AuthFail)?;
    Ok(Session { phone, token: hash })
}

/// Parameters and the caller of an authenticated request, in that order (a bad body is reported before a bad token).
pub async fn authenticated(
    app: &App,
    req: &Request,
    max_body_bytes: usize,
    now: Timestamp,
) -> Result<(Params, Session), ApiError> {
    let params = Params::from_request_limited(req, max_body_bytes)?;
    let session = authenticate(app, presented_token(req, &params).as_deref(), now).await?;
    Ok((params, session))
}
