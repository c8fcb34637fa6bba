//! Trying a one-time code: the step that sign-in and re-authenticated operations (account deletion) share.

use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::code::{CodeSlot, ReservedAttempt};
use crate::model::phone::PhoneNumber;
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::{CodeDigest, OtpCode};
use crate::usecase::ports::{CodeStore, RateLimitStore, ReserveError};
use crate::usecase::{Ports, Services};

/// A guess at the code sent to `phone`, from `address`.
pub struct Guess<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a OtpCode,
    pub address: &'a ClientAddress,
}

/// Before the guess is compared, and so for any number of concurrent guesses: one attempt of the pending code is
/// spent, then one failure of the address is taken within its limit and one failure of the number is counted (it
/// slows down the number's next codes, see `sign_in::request_code`, and never refuses this guess). A right guess
/// gives both failures back. The compare is in constant time; the attempt is what the caller then consumes.
pub async fn check_code(
    app: &Services<impl Ports>,
    guess: Guess<'_>,
    now: Timestamp,
) -> Result<(CodeSlot, ReservedAttempt), ApiError> {
    let Guess { phone, code, address } = guess;
    let (config, secret) = (&app.config, &app.config.otp_secret);
    let max = config.max_verify_attempts;
    let slot = CodeSlot::of(secret, phone);
    let address_failures = [RateLimit::ip_failed_verifies(&config.abuse, secret, address)];
    let number_failures = [RateLimit::number_failed_verifies(&config.abuse, secret, phone)];
    // The attempt first: a guess at a number without a pending code compares nothing and counts nothing.
    let attempt = app.store.reserve_attempt(&slot, now, max).await.map_err(|e| match e {
        ReserveError::NoCode | ReserveError::Expired => ApiError::CodeExpired,
        ReserveError::Exhausted { next_send_at } => {
            ApiError::TooManyAttempts { retry_after: (next_send_at - now).max(1) as u64 }
        }
        ReserveError::Unavailable(e) => e.into(),
    })?;
    let refusal = match app.store.take_all(&address_failures, &number_failures, now).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(ApiError::RateLimited { retry_after: address_failures[0].retry_after(now) }),
        Err(e) => Some(e.into()),
    };
    if let Some(refusal) = refusal {
        if app.store.release_attempt(&slot, &attempt).await.is_err() {
            warn!(phone = %phone, "could not give back an attempt that was not compared");
        }
        if matches!(refusal, ApiError::RateLimited { .. }) {
            warn!(phone = %phone, "verify refused: too many failed codes from one address");
        }
        return Err(refusal);
    }
    if !attempt.digest.matches(&CodeDigest::of(secret, phone, code)) {
        info!(phone = %phone, attempts = attempt.attempts, "wrong code");
        return Err(ApiError::BadCode { attempts_left: max.saturating_sub(attempt.attempts) });
    }
    let failures = [address_failures, number_failures].concat();
    if app.store.give_back(&failures, now).await.is_err() {
        warn!(phone = %phone, "could not give back the failures taken for a right code");
    }
    Ok((slot, attempt))
}
