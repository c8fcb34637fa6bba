//! `POST /verify`: check a code, sign the person in (creating the user on first sign-in), hand out a token.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::{info, warn};

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::http::{self, Params};
use crate::limits::{self, source_ip};
use crate::links::Links;
use crate::login::phone_for_sign_in;
use crate::phone::PhoneNumber;
use crate::profile_text::profile_name;
use crate::secrets::{AccessToken, CodeDigest, OtpCode};
use crate::storage::{Counter, Profile, ReserveError, ReservedAttempt, SignIn, SignInError};

pub const OP: &str = "verify";

/// The profile mesibo clients expect after sign-in, with the token they use from then on.
#[derive(Debug, Serialize)]
pub struct VerifyReply {
    pub token: String,
    /// E.164 digits without `+`, as mesibo writes numbers.
    pub phone: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    /// Calling code, as a string.
    pub cc: String,
    pub new_user: bool,
    #[serde(flatten)]
    pub links: Links,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let outcome = match Params::from_request(&req) {
        Ok(params) => verify_code(app, &params, source_ip(&req).as_deref(), now).await,
        Err(e) => Err(e),
    };
    http::reply(OP, now, outcome)
}

/// Seconds to wait if any of the limits is used up.
async fn over_limit(app: &App, limits: &[Counter], now: Timestamp) -> Result<Option<u64>, ApiError> {
    let used = futures::future::join_all(limits.iter().map(|l| app.store.used(l, now))).await;
    for (limit, used) in limits.iter().zip(used) {
        if used? >= limit.max {
            return Ok(Some(limit.retry_after(now)));
        }
    }
    Ok(None)
}

/// Spends one attempt on the pending code (before comparing, so concurrent guesses cannot exceed the limit) and
/// compares in constant time. The attempt is what a caller then consumes.
pub async fn check_code(
    app: &App,
    phone: &PhoneNumber,
    code: &OtpCode,
    now: Timestamp,
) -> Result<ReservedAttempt, ApiError> {
    let max = app.config.max_verify_attempts;
    let attempt = app.store.reserve_attempt(phone, now, max).await.map_err(|e| match e {
        ReserveError::NoCode | ReserveError::Expired => ApiError::CodeExpired,
        ReserveError::Exhausted { next_send_at } => {
            ApiError::TooManyAttempts { retry_after: (next_send_at - now).max(1) as u64 }
        }
        ReserveError::Unavailable(e) => e.into(),
    })?;
    if !attempt.digest.matches(&CodeDigest::of(&app.config.otp_secret, phone, code)) {
        info!(phone = %phone, attempts = attempt.attempts, "wrong code");
        return Err(ApiError::BadCode { attempts_left: max.saturating_sub(attempt.attempts) });
    }
    Ok(attempt)
}

/// `ip`: the caller's source address, when the request came through API Gateway.
pub async fn verify_code(
    app: &App,
    params: &Params,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<VerifyReply, ApiError> {
    let phone = phone_for_sign_in(&app.config, params)?;
    // A malformed code is a typo, not a guess: it costs no attempt.
    let code = params.text("otp").map_or_else(|| params.required("code"), Ok)?;
    let code = OtpCode::parse(code).ok_or(ApiError::BadCode { attempts_left: app.config.max_verify_attempts })?;
    let name = params.text("name").map(profile_name).transpose()?.unwrap_or_default();

    // Failed guesses are limited per number across codes (NIST 800-63B 5.2.2) and per address, before any compare.
    let mut failure_limits = vec![limits::number_failed_verifies(app, &phone)];
    failure_limits.extend(ip.map(|ip| limits::ip_failed_verifies(app, ip)));
    let (attempt, existing, locked) = tokio::join!(
        check_code(app, &phone, &code, now),
        app.store.profile(&phone),
        over_limit(app, &failure_limits, now)
    );
    if let Some(retry_after) = locked? {
        warn!(phone = %phone, "verify refused: too many failed codes");
        return Err(ApiError::RateLimited { retry_after });
    }
    let attempt = match attempt {
        Err(failure @ ApiError::BadCode { .. }) => {
            let counted = futures::future::join_all(failure_limits.iter().map(|l| app.store.count(l, now))).await;
            counted.into_iter().collect::<Result<Vec<()>, _>>()?;
            return Err(failure);
        }
        other => other?,
    };
    let existing = existing?;

    let token = AccessToken::generate();
    let new_profile = existing.is_none().then(|| Profile {
        phone: phone.clone(),
        name,
        status: String::new(),
        photo: String::new(),
        created_at: now,
        updated_at: now,
    });
    let sign_in = SignIn {
        phone: &phone,
        attempt: &attempt,
        token: &token.hash(),
        token_expires_at: now + app.config.token_ttl_days * 86_400,
        now,
        new_profile: new_profile.as_ref(),
    };
    app.store.sign_in(sign_in).await.map_err(|e| match e {
        SignInError::CodeGone | SignInError::ProfileChanged => ApiError::CodeExpired,
        SignInError::Unavailable(e) => e.into(),
    })?;
    let new_user = new_profile.is_some();
    let profile = new_profile.or(existing).expect("either the existing or the new profile");
    info!(phone = %phone, new_user, "signed in");
    Ok(VerifyReply {
        token: token.as_str().to_owned(),
        phone: phone.digits().to_owned(),
        name: profile.name,
        status: profile.status,
        photo: profile.photo,
        cc: phone.calling_code().to_string(),
        new_user,
        links: Links::from_config(&app.config.profile_urls),
    })
}
