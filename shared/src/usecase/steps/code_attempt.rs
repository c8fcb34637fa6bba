//! Trying a one-time code: the step that sign-in and re-authenticated operations (account deletion) share.

use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::code::{CodeSlot, ReservedAttempt};
use crate::model::measured::{self, Measured};
use crate::model::phone::PhoneNumber;
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::{CodeDigest, OtpCode};
use crate::usecase::ports::{CodeKeys, CodeStore, Metrics, RateLimitStore, ReserveError, TakeAllError};
use crate::usecase::{App, Ports};

/// A guess at the code sent to `phone`, from `address`.
pub struct Guess<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a OtpCode,
    pub address: &'a ClientAddress,
}

/// Before the guess is compared, and so for any number of concurrent guesses: one failure of the address is taken
/// within its limit and one failure of the number is counted (it slows down the number's next codes, see
/// `sign_in::request_code`, and never refuses this guess), then one attempt of the pending code is spent. A right
/// guess, or one at no pending code, gives both failures back. The compare is in constant time; the attempt is what the caller then consumes.
pub async fn check_code(app: &App<impl Ports>, guess: Guess<'_>, now: Timestamp) -> Result<RightCode, ApiError> {
    let Guess { phone, code, address } = guess;
    let (config, secret) = (&app.config, &app.config.otp_secret);
    let max = config.max_verify_attempts;
    let slot = CodeSlot::of(secret, phone);
    let address_failures = [RateLimit::ip_failed_verifies(&config.abuse, secret, address)];
    let number_failures = [RateLimit::number_failed_verifies(&config.abuse, secret, phone)];
    // The address's failure first: an address over its limit touches no code, so it cannot hold a victim's
    // attempts reserved (and the owner's right code refused) by keeping guesses in flight.
    match app.store.take_all(&address_failures, &number_failures, now).await {
        Ok(()) => {}
        Err(TakeAllError::Unavailable(e)) => return Err(e.into()),
        Err(TakeAllError::Reached(_)) => {
            warn!(phone = %phone, "verify refused: too many failed codes from one address");
            app.limit_hit(address_failures[0].kind(), now);
            return Err(ApiError::RateLimited { retry_after: address_failures[0].retry_after(now) });
        }
    }
    let failures = [address_failures, number_failures].concat();
    let attempt = match app.store.reserve_attempt(&slot, now, max).await {
        Ok(attempt) => attempt,
        Err(e) => {
            // No guess was compared: nothing failed.
            if app.store.give_back(&failures, now).await.is_err() {
                warn!(phone = %phone, "could not give back the failures taken for a guess never compared");
            }
            return Err(match e {
                ReserveError::NoCode | ReserveError::Expired => ApiError::CodeExpired,
                ReserveError::Exhausted { next_send_at } => {
                    app.limit_hit(measured::CODE_ATTEMPTS, now);
                    ApiError::TooManyAttempts { retry_after: (next_send_at - now).max(1) as u64 }
                }
                ReserveError::Unavailable(e) => e.into(),
            });
        }
    };
    let key = match app.code_keys.key(attempt.digest.key_version()).await {
        Ok(key) => key,
        Err(e) => {
            // Nothing was compared: the attempt and the failures go back, as if the guess had not come.
            let (attempt_back, failures_back) =
                tokio::join!(app.store.release_attempt(&slot, &attempt), app.store.give_back(&failures, now));
            if attempt_back.is_err() || failures_back.is_err() {
                warn!(phone = %phone, "could not give back the attempt or failures of a guess never compared");
            }
            return Err(e.into());
        }
    };
    if !attempt.digest.matches(&CodeDigest::of(&key, phone, code)) {
        info!(phone = %phone, attempts = attempt.attempts, "wrong code");
        app.metrics.record(Measured::CodeWrong, now);
        return Err(ApiError::BadCode { attempts_left: max.saturating_sub(attempt.attempts) });
    }
    app.metrics.record(Measured::CodeRight, now);
    Ok(RightCode { slot, attempt, failures, taken_at: now })
}

/// A right guess: the attempt to consume, and the failures it took before the compare, to give back.
pub struct RightCode {
    pub slot: CodeSlot,
    pub attempt: ReservedAttempt,
    failures: Vec<RateLimit>,
    taken_at: Timestamp,
}

impl RightCode {
    /// Gives back the failures the guess took (counted against the address and the number before the compare): a
    /// right guess is no failure. Separate, so the caller runs it beside its next step (a round trip saved).
    pub async fn give_back_failures(&self, app: &App<impl Ports>) {
        if app.store.give_back(&self.failures, self.taken_at).await.is_err() {
            warn!("could not give back the failures taken for a right code");
        }
    }
}
