//! `POST /login`: send a one-time code by SMS.
//!
//! The answer is the same for numbers that are users and numbers that are not, and this use case never reads the
//! profile, so neither the body nor the timing tells an attacker who is registered.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::app::App;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::{self, Params};
use crate::limits::{self, source_ip};
use crate::phone::{DefaultRegion, PhoneNumber};
use crate::secrets::{CodeDigest, OtpCode};
use crate::storage::{NewCode, PutCodeError, SendState};

pub const OP: &str = "login";

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LoginReply {
    /// Seconds until another code may be requested for this number.
    pub resend_after: u64,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let outcome = match Params::from_request(&req) {
        Ok(params) => request_code(app, &params, source_ip(&req).as_deref(), now).await,
        Err(e) => Err(e),
    };
    http::reply(OP, now, outcome)
}

/// `ip`: the caller's source address, when the request came through API Gateway (it always does, deployed).
pub async fn request_code(
    app: &App,
    params: &Params,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<LoginReply, ApiError> {
    let phone = phone_for_sign_in(&app.config, params)?;
    let ip_limit = ip.map(|ip| limits::ip_code_requests(app, ip));
    let (previous, ip_allowed) = tokio::join!(app.store.code_record(&phone), async {
        match &ip_limit {
            Some(limit) => app.store.take(limit, now).await,
            None => Ok(true),
        }
    });
    if !ip_allowed? {
        warn!(phone = %phone, "code requests from one address over the hourly limit");
        return Err(ApiError::RateLimited { retry_after: ip_limit.expect("checked").retry_after(now) });
    }
    let previous = previous?;
    let send = next_send(previous.as_ref().map(|p| p.send), now, &app.config)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;

    let test_code = app.config.test_numbers.get(&phone);
    let code = test_code.cloned().unwrap_or_else(OtpCode::generate);
    let expires_at = now + app.config.otp_ttl_seconds;
    let new_code = NewCode {
        digest: CodeDigest::of(&app.config.otp_secret, &phone, &code),
        issued_at: now,
        expires_at,
        send,
        ttl: expires_at.max(send.window_start + app.config.send_window_seconds),
    };
    // Test numbers send no SMS, so they spend no SMS limit.
    let sms_limits = match test_code {
        Some(_) => vec![],
        None => vec![limits::country_sms(app, phone.calling_code()), limits::sms_budget(app)],
    };
    match app.store.put_code(&phone, &new_code, previous.as_ref(), &sms_limits, now).await {
        Ok(()) => {}
        // Another login for this number won the race and is sending its code: this one is a resend too soon.
        Err(PutCodeError::Conflict) => {
            return Err(ApiError::RateLimited { retry_after: app.config.resend_cooldown_seconds as u64 });
        }
        Err(PutCodeError::Limited(0)) => {
            warn!(country = phone.calling_code(), "SMS to this country over the hourly limit");
            return Err(ApiError::RateLimited { retry_after: sms_limits[0].retry_after(now) });
        }
        Err(PutCodeError::Limited(_)) => {
            // One line an hour, however many requests are refused: a flood must not flood the logs too.
            if app.store.first_in_window(&limits::budget_alarm(), now).await.unwrap_or(false) {
                error!(
                    budget = app.config.limits.sms_daily_budget,
                    "daily SMS budget spent: no more codes are sent until 00:00 UTC"
                );
            }
            return Err(ApiError::SmsBudget { retry_after: sms_limits[1].retry_after(now) });
        }
        Err(PutCodeError::Unavailable(e)) => return Err(e.into()),
    }

    if test_code.is_some() {
        info!(phone = %phone, "test number: code not sent");
    } else if app.sms.send_code(&phone, &code).await.is_err() {
        // Nobody received this code, so nobody may use it.
        if app.store.withdraw_code(&phone, now).await.is_err() {
            warn!(phone = %phone, "could not withdraw an unsent code");
        }
        return Err(ApiError::SmsFailed);
    }
    Ok(LoginReply { resend_after: (send.next_send_at - now).max(0) as u64 })
}

/// Validates `appid`, normalises `phone` (default region from `cc`, else the configured country) and applies the
/// country allow-list. Shared by login and verify so both see the same number.
pub(crate) fn phone_for_sign_in(config: &Config, params: &Params) -> Result<PhoneNumber, ApiError> {
    if !config.allows_app_id(params.text("appid")) {
        return Err(ApiError::BadAppId);
    }
    let raw = params.phone_text("phone")?;
    let region = match params.text("cc") {
        Some(cc) => DefaultRegion::from_calling_code(cc).ok_or(ApiError::BadPhone)?,
        None => config.default_region,
    };
    // mesibo clients send international numbers as digits without `+` (`919876543210`): when that is no valid
    // national number, read it as international.
    let phone = PhoneNumber::parse(&raw, region)
        .or_else(|| {
            raw.bytes().all(|b| b.is_ascii_digit()).then(|| PhoneNumber::parse(&format!("+{raw}"), region)).flatten()
        })
        .ok_or(ApiError::BadPhone)?;
    if !config.allows_calling_code(phone.calling_code()) {
        return Err(ApiError::CountryBlocked);
    }
    Ok(phone)
}

/// The send state after one more send, or the seconds to wait. The cooldown doubles with each send in the window
/// (30 s, 60 s, 120 s, …); after the cap, nothing until the window has passed.
pub fn next_send(previous: Option<SendState>, now: Timestamp, config: &Config) -> Result<SendState, u64> {
    let window = config.send_window_seconds;
    if let Some(previous) = previous
        && now < previous.next_send_at
    {
        return Err((previous.next_send_at - now) as u64);
    }
    let (window_start, sends) = match previous {
        Some(p) if now < p.window_start + window => (p.window_start, p.window_sends),
        _ => (now, 0),
    };
    if sends >= config.max_sends_per_window {
        return Err((window_start + window - now) as u64);
    }
    let sends = sends + 1;
    let next_send_at = if sends >= config.max_sends_per_window {
        window_start + window
    } else {
        let cooldown = config.resend_cooldown_seconds.saturating_mul(1 << (sends - 1).min(20));
        (now + cooldown).min(window_start + window)
    };
    Ok(SendState { window_start, window_sends: sends, next_send_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "TABLE_NAME" => Some("t".into()),
            "OTP_HMAC_SECRET" => Some("x".repeat(32)),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn cooldown_grows_and_the_cap_holds_until_the_window_passes() {
        let config = config();
        let mut now = 1_000_000;
        let mut state = next_send(None, now, &config).unwrap();
        assert_eq!(state.next_send_at - now, 30);
        assert_eq!(next_send(Some(state), now + 29, &config), Err(1));
        let mut waits = vec![];
        for _ in 0..4 {
            now = state.next_send_at;
            state = next_send(Some(state), now, &config).unwrap();
            waits.push(state.next_send_at - now);
        }
        assert_eq!(state.window_sends, 5);
        assert_eq!(waits[..3], [60, 120, 240]);
        assert_eq!(state.next_send_at, 1_000_000 + 600, "after the fifth send, wait for the window");
        assert_eq!(next_send(Some(state), 1_000_000 + 599, &config), Err(1));
        let fresh = next_send(Some(state), 1_000_000 + 600, &config).unwrap();
        assert_eq!((fresh.window_start, fresh.window_sends), (1_000_600, 1));
    }

    #[test]
    fn phone_rules() {
        let mut config = config();
        let params = |pairs: &[(&'static str, &'static str)]| Params::from_pairs(pairs.iter().copied());
        assert_eq!(phone_for_sign_in(&config, &params(&[])), Err(ApiError::MissingParam("phone")));
        assert_eq!(phone_for_sign_in(&config, &params(&[("phone", "12")])), Err(ApiError::BadPhone));
        assert_eq!(
            phone_for_sign_in(&config, &params(&[("phone", "98765 43210"), ("cc", "91")])).unwrap().e164(),
            "+919876543210"
        );
        assert_eq!(phone_for_sign_in(&config, &params(&[("phone", "1"), ("cc", "999")])), Err(ApiError::BadPhone));
        assert_eq!(
            phone_for_sign_in(&config, &params(&[("phone", "919876543210")])).unwrap().e164(),
            "+919876543210",
            "mesibo form"
        );
        assert_eq!(
            phone_for_sign_in(&config, &params(&[("phone", "2015550123")])).unwrap().e164(),
            "+12015550123",
            "national first"
        );
        config.allowed_calling_codes = vec![91];
        assert_eq!(phone_for_sign_in(&config, &params(&[("phone", "+12015550123")])), Err(ApiError::CountryBlocked));
        config.allowed_app_ids = vec!["com.example".into()];
        assert_eq!(phone_for_sign_in(&config, &params(&[("phone", "+919876543210")])), Err(ApiError::BadAppId));
        assert!(phone_for_sign_in(&config, &params(&[("phone", "+919876543210"), ("appid", "com.example")])).is_ok());
    }
}
