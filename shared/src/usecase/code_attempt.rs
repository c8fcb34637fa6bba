//! Trying a one-time code: the step that sign-in and re-authenticated operations (account deletion) share.

use tracing::info;

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::code::ReservedAttempt;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::{CodeDigest, OtpCode};
use crate::usecase::ports::{CodeStore, ReserveError};
use crate::usecase::{Ports, Services};

/// Spends one attempt on the pending code (before comparing, so concurrent guesses cannot exceed the limit) and
/// compares in constant time. The attempt is what a caller then consumes.
pub async fn check_code(
    app: &Services<impl Ports>,
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
