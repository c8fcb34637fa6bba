//! Who is calling: the signed-in user behind a presented bearer token.

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::{AccessToken, TokenHash};
use crate::usecase::ports::TokenStore;
use crate::usecase::{App, Ports};

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Session {
    pub phone: PhoneNumber,
    pub token: TokenHash,
    /// mesibo mode: the device's session number at mesibo, which logout ends there (none on tokens from before).
    pub mesibo_session: Option<u32>,
}

/// Missing, malformed, unknown and expired tokens all answer `AUTHFAIL`, alike.
pub async fn authenticate(app: &App<impl Ports>, token: Option<&str>, now: Timestamp) -> Result<Session, ApiError> {
    let token = token.and_then(AccessToken::parse).ok_or(ApiError::AuthFail)?;
    let hash = token.hash();
    let record = app.store.token(&hash).await?.ok_or(ApiError::AuthFail)?;
    if record.expires_at <= now {
        return Err(ApiError::AuthFail);
    }
    let region = app.config.default_region;
    let phone = PhoneNumber::parse(&record.phone, region).ok_or(ApiError::AuthFail)?;
    Ok(Session { phone, token: hash, mesibo_session: record.session })
}
