//! Sign-in: `/login` sends a one-time code by SMS, `/verify` checks it and hands out a token (creating the user on
//! first sign-in).

use serde::Serialize;
use tracing::{error, info, warn};

use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::code::{CodeSlot, NewCode};
use crate::model::devices::registered_with;
use crate::model::links::Links;
use crate::model::measured::{self, Measured};
use crate::model::phone::PhoneNumber;
use crate::model::profile::Profile;
use crate::model::profile::ProfileRecord;
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::{AccessToken, CodeDigest, OtpCode, TokenHash, random_name};
use crate::model::sessions::{self, Pick};
use crate::usecase::ports::{
    CodeKeys, CodeStore, Mesibo, MesiboFailed, MesiboUser, Metrics, NewMesiboUser, ProfileStore, PutCodeError,
    RateLimitStore, SessionClaim, SignIn, SignInError, SignInStore, SmsGateway, StoreUnavailable, TokenStore,
};
use crate::usecase::steps::code_attempt::{Guess, RightCode, check_code};
use crate::usecase::steps::mesibo_cleanup::tell_cleanup;
use crate::usecase::{App, Ports, steps::device_list};

/// Send a code to `phone` (admitted: a valid number of an allowed country, from an allowed app).
#[derive(Debug)]
pub struct RequestCode {
    pub phone: PhoneNumber,
    /// The caller's source address, as API Gateway saw it.
    pub address: ClientAddress,
}

/// Sign in with the code sent to `phone`.
#[derive(Debug)]
pub struct VerifyCode {
    pub phone: PhoneNumber,
    pub code: OtpCode,
    /// The display name for a new user (ignored for an existing one).
    pub name: String,
    pub address: ClientAddress,
    /// The app the token is for (`appid`): mesibo issues tokens per app, so mesibo mode requires it.
    pub app_id: Option<String>,
    /// The deployment's URLs, as this request reached it.
    pub links: Links,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LoginReply {
    /// Seconds until another code may be requested for this number.
    pub resend_after: u64,
}

/// The profile mesibo clients expect after sign-in, with the token they use from then on.
#[derive(Debug, Serialize)]
pub struct VerifyReply {
    pub token: String,
    /// E.164 digits without `+`, as mesibo writes numbers.
    pub phone: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    /// The photo's thumbnail, base64 JPEG (empty when none).
    pub tn: String,
    /// Calling code, as a string.
    pub cc: String,
    pub new_user: bool,
    #[serde(flatten)]
    pub links: Links,
}

pub async fn request_code(app: &App<impl Ports>, command: RequestCode, now: Timestamp) -> Result<LoginReply, ApiError> {
    let RequestCode { phone, address } = command;
    let (config, secret) = (&app.config, &app.config.otp_secret);
    let test_code = config.test_numbers.get(&phone);
    // Codes go to mobiles only (premium, satellite, landline … ranges cost or leak: model::phone), before any limit
    // is spent. Test numbers get no SMS; and an account made on such a number before the rule may still sign in (and
    // delete itself), within every limit below.
    let account_read_first = match !phone.receives_sms_codes() && test_code.is_none() {
        true => match app.store.profile(&phone).await? {
            None => return Err(ApiError::NotMobile),
            account => Some(account),
        },
        false => None,
    };
    let slot = CodeSlot::of(secret, &phone);
    let ip_limit = RateLimit::ip_code_requests(&config.abuse, secret, &address);
    let number_failures = RateLimit::number_failed_verifies(&config.abuse, secret, &phone);
    let (previous, ip_allowed, failures, account) = tokio::join!(
        app.store.code_record(&slot),
        app.store.take(&ip_limit, now),
        app.store.used(&number_failures, now),
        async {
            match account_read_first {
                Some(account) => Ok(account),
                None => app.store.profile(&phone).await,
            }
        },
    );
    if !ip_allowed? {
        warn!(phone = %phone, "code requests from one address over the hourly limit");
        app.limit_hit(ip_limit.kind(), now);
        return Err(ApiError::RateLimited { retry_after: ip_limit.retry_after(now) });
    }
    let previous = previous?;
    let send = (config.send_policy.next_send(previous.as_ref().map(|p| p.send), now)).map_err(|retry_after| {
        app.limit_hit(measured::CODE_RESENDS, now);
        ApiError::RateLimited { retry_after }
    })?;

    let code = test_code.cloned().unwrap_or_else(OtpCode::generate);
    let expires_at = now + config.otp_ttl_seconds;
    let new_code = NewCode {
        digest: CodeDigest::of(&app.code_keys.signing_key(now).await?, &phone, &code),
        issued_at: now,
        expires_at,
        send,
        ttl: expires_at.max(send.window_start + config.send_policy.send_window_seconds),
    };
    let mut limits = vec![];
    if failures? >= number_failures.max {
        limits.push(RateLimit::codes_of_a_guessed_number(secret, &phone));
    }
    // Test numbers send no SMS, so they spend no SMS limit. People who have an account are not counted against their
    // country's hourly cap, nor against the share of the daily budget that new numbers may spend, so SMS pumping
    // cannot stop them from signing in until the whole budget is gone (docs/SECURITY.md: what that tells an attacker).
    let mut new_number = false;
    if test_code.is_none() {
        new_number = account?.is_none();
        if new_number {
            limits.push(RateLimit::country_sms(&config.abuse, phone.calling_code()));
            limits.push(RateLimit::sms_budget_for_new_numbers(&config.abuse));
        }
        limits.push(RateLimit::sms_budget(&config.abuse));
    }
    if let Err(refusal) = app.store.put_code(&slot, &new_code, previous.as_ref(), &limits, now).await {
        return Err(refused(app, refusal, &phone, &limits, now).await);
    }

    if test_code.is_some() {
        info!(phone = %phone, "test number: code not sent");
    } else if app.sms.send_code(&phone, &code).await.is_err() {
        // Nobody received this code, so nobody may use it.
        if app.store.withdraw_code(&slot, now).await.is_err() {
            warn!(phone = %phone, "could not withdraw an unsent code");
        }
        return Err(ApiError::SmsFailed);
    } else {
        app.metrics.record(Measured::CodeSent { new_number }, now);
    }
    Ok(LoginReply { resend_after: (send.next_send_at - now).max(0) as u64 })
}

/// Why a code was not issued, as the caller is told (and, for the budget, the operator once an hour).
async fn refused(
    app: &App<impl Ports>,
    refusal: PutCodeError,
    phone: &PhoneNumber,
    limits: &[RateLimit],
    now: Timestamp,
) -> ApiError {
    let reached = match refusal {
        // Another login for this number won the race and is sending its code: this one is a resend too soon.
        PutCodeError::Conflict => {
            app.limit_hit(measured::CODE_RESENDS, now);
            return ApiError::RateLimited { retry_after: app.config.send_policy.resend_cooldown_seconds as u64 };
        }
        PutCodeError::Unavailable(e) => return e.into(),
        PutCodeError::Limited(i) => &limits[i],
    };
    app.limit_hit(reached.kind(), now);
    if !reached.is_sms_budget() {
        warn!(phone = %phone, limit = reached.kind(), "code refused: limit reached");
        return ApiError::RateLimited { retry_after: reached.retry_after(now) };
    }
    // One line an hour, however many requests are refused: a flood must not flood the logs too.
    if app.store.first_in_window(&RateLimit::budget_alarm(), now).await.unwrap_or(false) {
        error!(
            budget = app.config.abuse.sms_daily_budget,
            "daily SMS budget spent: no more codes are sent until 00:00 UTC"
        );
    }
    ApiError::SmsBudget { retry_after: reached.retry_after(now) }
}

/// Claims on a session number tried before a sign-in gives up: each lost one means another sign-in of the person took
/// a number meanwhile, so this many concurrent sign-ins of one person all get one.
const SESSION_CLAIMS: u32 = sessions::MAX_SESSIONS + 1;

/// The session number a mesibo sign-in took.
struct ClaimedSession {
    number: u32,
    claim: String,
}

/// Takes a session number for this sign-in (`model::sessions`): a stale one, else a free one, else the device signed
/// in longest ago is signed out here (its token revoked with the claim, its push devices right after) to make room.
async fn claim_session(app: &App<impl Ports>, phone: &PhoneNumber, now: Timestamp) -> Result<ClaimedSession, ApiError> {
    for _ in 0..SESSION_CLAIMS {
        let slots = app.store.sessions(phone).await?;
        let pick = sessions::pick(&slots, now);
        let evicted = match &pick {
            Pick::Evict(slot) => slot.token.clone().map(TokenHash::from_stored),
            Pick::Free(_) | Pick::Stale(_) => None,
        };
        let claim = random_name();
        let request = SessionClaim {
            number: pick.number(),
            claim: &claim,
            replacing: pick.replacing(),
            evicted: evicted.clone(),
        };
        if app.store.claim_session(phone, &request, now).await? {
            if let Some(evicted) = &evicted {
                info!(phone = %phone, session = pick.number(), "a ninth device: the one signed in longest ago ends");
                // Its token is gone already; it receives no more pushes either.
                let gone = [evicted.as_str()];
                let removed =
                    device_list::change(app, phone.e164(), None, now, |list| registered_with(list, &gone)).await;
                if removed.is_err() {
                    warn!(phone = %phone, "the push devices of a device signed out to make room remain until a sign-out");
                }
            }
            return Ok(ClaimedSession { number: pick.number(), claim });
        }
    }
    warn!(phone = %phone, "sign-in gave up: other sign-ins of the person kept taking the session numbers");
    Err(ApiError::Unavailable)
}

/// `useradd` of the claimed session; first, if the number's deletion or sign-out everywhere has not reached mesibo yet
/// (the stream is behind), that: otherwise the stream's late `userdel` / `userset` would end the token issued now.
/// Then the session itself is ended at mesibo, whatever this backend knows of it: mesibo hands a session's live
/// token back to the next `useradd` of it, and a session may hold one this backend revoked (a device evicted or
/// signed out while mesibo could not be told, a sign-in that died after mesibo answered). Handed back, it would let
/// that old device in again, here and at mesibo; ended first, every sign-in gets a token of its own.
async fn register_at_mesibo<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    user: NewMesiboUser<'_>,
    record: Option<&ProfileRecord>,
) -> Result<MesiboUser, MesiboFailed> {
    if let Some(record) = record
        && let Some(due) = record.mesibo_cleanup_due()
    {
        tell_cleanup(mesibo, record).await?;
        if app.store.confirm_mesibo_cleanup(&record.e164, due).await.is_err() {
            // Then the stream does it again: harmless before this sign-in's useradd is answered, and the token's
            // sign-in transaction has not happened yet either.
            return Err(MesiboFailed::Unreachable);
        }
    }
    mesibo.end_session(user.address, Some(user.session)).await?;
    mesibo.add_user(user).await
}

/// A sign-in that stopped after its code was found right: the code stays usable (the person retries once mesibo
/// answers), and the session number it claimed is given back at once as stale (ended at mesibo before it is used
/// again), or the retry would take another one.
async fn give_back(app: &App<impl Ports>, phone: &PhoneNumber, right: &RightCode, claimed: Option<&ClaimedSession>) {
    if app.store.release_attempt(&right.slot, &right.attempt).await.is_err() {
        warn!(phone = %phone, "could not give back the attempt");
    }
    right.give_back_failures(app).await;
    if let Some(claimed) = claimed
        && app.store.abandon_claim(phone, claimed.number, &claimed.claim).await.is_err()
    {
        warn!(phone = %phone, "could not give back the session number; it is stale again in a minute");
    }
}

/// Checks a code and signs the person in, creating the user on first sign-in.
pub async fn verify_code(app: &App<impl Ports>, command: VerifyCode, now: Timestamp) -> Result<VerifyReply, ApiError> {
    let VerifyCode { phone, code, name, address, app_id, links } = command;
    if app.mesibo.is_some() && app_id.is_none() {
        return Err(ApiError::MissingAppId);
    }

    // The live profile; in mesibo mode read as the whole record, tombstone and sign-out notes included (see
    // `register_at_mesibo`).
    let profile = async {
        if app.mesibo.is_none() {
            return Ok::<_, StoreUnavailable>((app.store.profile(&phone).await?, None));
        }
        let record = app.store.profile_record(phone.e164()).await?;
        Ok((record.clone().and_then(|r| r.into_own(&phone)), record))
    };
    let guess = Guess { phone: &phone, code: &code, address: &address };
    let (right, profile) = tokio::join!(check_code(app, guess, now), profile);
    let right = right?;
    let (slot, attempt) = (&right.slot, &right.attempt);
    let (existing, record) = profile?;

    let name = existing.as_ref().map_or(name, |profile| profile.name.clone());
    let (token, mesibo_uid, session) = match (&app.mesibo, app_id.as_deref()) {
        (Some(mesibo), Some(app_id)) => {
            let session = match claim_session(app, &phone, now).await {
                Ok(session) => session,
                Err(e) => {
                    give_back(app, &phone, &right, None).await;
                    return Err(e);
                }
            };
            let expiry_minutes = app.config.token_ttl_days * 24 * 60;
            let user =
                NewMesiboUser { address: phone.digits(), name: &name, app_id, expiry_minutes, session: session.number };
            match register_at_mesibo(app, mesibo, user, record.as_ref()).await {
                Ok(MesiboUser { uid, token }) => (token, Some(uid), Some(session)),
                Err(failure) => {
                    warn!(phone = %phone, error = %failure, "sign-in stopped: mesibo did not add the user");
                    give_back(app, &phone, &right, Some(&session)).await;
                    return Err(ApiError::MesiboFail);
                }
            }
        }
        _ => (AccessToken::generate(), None, None),
    };
    let new_profile = existing.is_none().then(|| Profile::new(phone.clone(), name, now, mesibo_uid));
    let sign_in = SignIn {
        phone: &phone,
        code: slot,
        attempt,
        token: &token.hash(),
        token_expires_at: now + app.config.token_ttl_days * 86_400,
        now,
        new_profile: new_profile.as_ref(),
        set_mesibo_uid: mesibo_uid.filter(|_| existing.as_ref().is_some_and(|p| p.mesibo_uid != mesibo_uid)),
        session: session.as_ref().map(|s| (s.number, s.claim.as_str())),
    };
    let (signed_in, ()) = tokio::join!(app.store.sign_in(sign_in), right.give_back_failures(app));
    if let Err(e) = signed_in {
        // The session number goes back as stale (ended at mesibo before its next use). mesibo's token must not
        // outlive a sign-in that did not happen here: it is ended now too, unless another sign-in holds the number
        // by now (ending it would end that one's token), or the token is one this person already holds.
        if let (Some(mesibo), Some(session)) = (&app.mesibo, &session) {
            let held = app.store.abandon_claim(&phone, session.number, &session.claim).await;
            if held.is_err() {
                warn!(phone = %phone, "could not give back the session number; it is stale again in a minute");
            }
            if matches!(held, Ok(true))
                && matches!(app.store.token(&token.hash()).await, Ok(None))
                && mesibo.end_session(phone.digits(), Some(session.number)).await.is_err()
            {
                warn!(phone = %phone, "could not withdraw mesibo's token of a failed sign-in; the next sign-in ends it");
            }
        }
        return Err(match e {
            SignInError::CodeGone | SignInError::ProfileChanged => ApiError::CodeExpired,
            SignInError::SessionTaken => {
                if app.store.release_attempt(slot, attempt).await.is_err() {
                    warn!(phone = %phone, "could not give back the attempt");
                }
                ApiError::Unavailable
            }
            SignInError::Unavailable(e) => e.into(),
        });
    }
    let new_user = new_profile.is_some();
    let profile = new_profile.or(existing).expect("either the existing or the new profile");
    info!(phone = %phone, new_user, "signed in");
    Ok(VerifyReply {
        token: token.as_str().to_owned(),
        phone: phone.digits().to_owned(),
        name: profile.name,
        status: profile.status,
        photo: profile.photo,
        tn: profile.tn,
        cc: phone.calling_code().to_string(),
        new_user,
        links,
    })
}
