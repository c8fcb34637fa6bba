//! The account function: `POST /profile`, `/logout`, `/delcontacts`, `/deleteaccount`, `/setnotify`. One Lambda for the account's small, rare
//! operations: they share a warm instance (fewer cold starts than one function each) and the same table-only IAM
//! scope. Each operation is its own use case below.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::info;

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::getcontacts::OwnProfile;
use sha2::{Digest, Sha256};

use crate::events::create_push_endpoint;
use crate::groups::leave_for_good;
use crate::http::{self, MAX_BODY_BYTES, Params};
use crate::phone::PhoneNumber;
use crate::profile_text::{profile_name, profile_photo, profile_status};
use crate::secrets::OtpCode;
use crate::session::{Session, authenticated};
use crate::verify::check_code;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let op = req.raw_http_path().rsplit('/').next().unwrap_or_default().to_owned();
    match op.as_str() {
        "profile" => http::reply("profile", now, run(app, &req, now, update_profile).await),
        "logout" => http::reply("logout", now, run(app, &req, now, logout).await),
        "delcontacts" => http::reply("delcontacts", now, run(app, &req, now, delete_contacts).await),
        "deleteaccount" => http::reply("deleteaccount", now, run(app, &req, now, delete_account).await),
        "setnotify" => http::reply("setnotify", now, run(app, &req, now, set_notify).await),
        _ => http::reply::<()>("account", now, Err(ApiError::BadRequest("unknown operation"))),
    }
}

async fn run<T, F>(app: &App, req: &Request, now: Timestamp, use_case: F) -> Result<T, ApiError>
where
    F: AsyncFnOnce(&App, &Session, &Params, Timestamp) -> Result<T, ApiError>,
{
    let (params, session) =
        authenticated(app, req, crate::getcontacts::MAX_BODY_BYTES.max(MAX_BODY_BYTES), now).await?;
    use_case(app, &session, &params, now).await
}

#[derive(Debug, Serialize)]
pub struct ProfileReply {
    pub u: OwnProfile,
}

/// `POST /profile`: name, status, photo (each optional, at least one). Contacts see the change in their next delta
/// and as a `profile_updated` event (the notifier reads it from the table's stream).
pub async fn update_profile(
    app: &App,
    session: &Session,
    params: &Params,
    now: Timestamp,
) -> Result<ProfileReply, ApiError> {
    // Present-but-empty status and photo clear them; name stays required to be non-empty when given.
    let raw = |name: &str| params.raw_text(name);
    let name = params.text("name").map(profile_name).transpose()?;
    let status = raw("status").map(profile_status).transpose()?;
    let photo = raw("photo").map(profile_photo).transpose()?;
    if name.is_none() && status.is_none() && photo.is_none() {
        return Err(ApiError::MissingParam("name, status or photo"));
    }
    let profile = app
        .store
        .update_profile(&session.phone, name.as_deref(), status.as_deref(), photo.as_deref(), now)
        .await?
        .ok_or(ApiError::AuthFail)?;
    info!(phone = %session.phone, "profile updated");
    Ok(ProfileReply {
        u: OwnProfile {
            name: profile.name,
            phone: session.phone.digits().to_owned(),
            status: profile.status,
            photo: profile.photo,
            ts: profile.updated_at.to_string(),
            connection_status: String::new(),
        },
    })
}

#[derive(Debug, Serialize)]
pub struct LogoutReply {
    pub revoked: usize,
}

/// `POST /logout`: revokes the presented token, or with `all=1` every token of the user (all devices).
pub async fn logout(app: &App, session: &Session, params: &Params, _now: Timestamp) -> Result<LogoutReply, ApiError> {
    let tokens =
        if params.flag("all") { app.store.tokens_of(&session.phone).await? } else { vec![session.token.clone()] };
    app.store.revoke_tokens(&tokens).await?;
    info!(phone = %session.phone, revoked = tokens.len(), "signed out");
    Ok(LogoutReply { revoked: tokens.len() })
}

#[derive(Debug, Serialize)]
pub struct DelContactsReply {
    pub removed: usize,
    pub invalid: usize,
}

/// `POST /delcontacts`: removes numbers from the caller's stored address book.
pub async fn delete_contacts(
    app: &App,
    session: &Session,
    params: &Params,
    _now: Timestamp,
) -> Result<DelContactsReply, ApiError> {
    let raw = params.list("phones")?;
    if raw.is_empty() {
        return Err(ApiError::MissingParam("phones"));
    }
    let max = app.config.contacts.max_phones_per_request;
    if raw.len() > max {
        return Err(ApiError::TooMany(max));
    }
    let region = session.phone.home_region();
    let parsed: Vec<Option<PhoneNumber>> = raw.iter().map(|p| PhoneNumber::parse(p, region)).collect();
    let invalid = parsed.iter().filter(|p| p.is_none()).count();
    let mut numbers: Vec<String> = parsed.into_iter().flatten().map(|p| p.e164().to_owned()).collect();
    numbers.sort();
    numbers.dedup();
    app.store.remove_contacts(session.phone.e164(), &numbers).await?;
    Ok(DelContactsReply { removed: numbers.len(), invalid })
}

#[derive(Debug, Serialize)]
pub struct DeleteAccountReply {}

/// `POST /deleteaccount`: with a fresh `code` (from `/login` for the same number) as re-authentication, removes the
/// profile (leaving a tombstone for contacts' deltas), every token, the address book, group memberships (an owned
/// group passes to the longest-standing admin, else is deleted), push devices and every other item of the person.
pub async fn delete_account(
    app: &App,
    session: &Session,
    params: &Params,
    now: Timestamp,
) -> Result<DeleteAccountReply, ApiError> {
    let phone = &session.phone;
    let code = params.text("code").or(params.text("otp")).ok_or(ApiError::MissingParam("code"))?;
    let code = OtpCode::parse(code).ok_or(ApiError::BadCode { attempts_left: app.config.max_verify_attempts })?;
    let attempt = check_code(app, phone, &code, now).await?;
    if !app.store.consume_code(phone, &attempt, now).await? {
        return Err(ApiError::CodeExpired);
    }
    let store = &app.store;
    // The tombstone first: from here on the account is gone, and every step below can simply be retried.
    store.tombstone_profile(phone, now).await?;
    let tokens = store.tokens_of(phone).await?;
    store.revoke_tokens(&tokens).await?;
    let memberships = store.memberships_of(phone.e164()).await?;
    for membership in memberships.iter().filter(|m| !m.left) {
        leave_for_good(app, membership.gid, session, now).await?;
    }
    let gids: Vec<u64> = memberships.iter().map(|m| m.gid).collect();
    store.delete_memberships(phone, &gids).await?;
    let book = store.address_book(phone.e164()).await?;
    store.remove_contacts(phone.e164(), &book).await?;
    let other = store.delete_personal_items(phone).await?;
    info!(phone = %phone, tokens = tokens.len(), groups = gids.len(), contacts = book.len(), other, "account deleted");
    Ok(DeleteAccountReply {})
}

#[derive(Debug, Serialize)]
pub struct SetNotifyReply {
    /// `"enabled"`: the device has an SNS endpoint and receives this user's events. `"stored"`: no platform
    /// application is configured for this platform (see README, Push), so the registration is only kept.
    pub push: &'static str,
}

/// `POST /setnotify`: registers a device for push. `notifytoken` is the APNs / FCM device token, `platform` one of
/// `apns`, `apns_sandbox`, `fcm`.
pub async fn set_notify(
    app: &App,
    session: &Session,
    params: &Params,
    now: Timestamp,
) -> Result<SetNotifyReply, ApiError> {
    let device_token = params.required("notifytoken")?;
    if device_token.len() > 4096 || device_token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::BadRequest("notifytoken: a device token, at most 4096 characters"));
    }
    let apps = &app.config.contacts.push_apps;
    let (platform, application) = match params.required("platform")? {
        "apns" => ("apns", &apps.apns),
        "apns_sandbox" => ("apns_sandbox", &apps.apns_sandbox),
        "fcm" => ("fcm", &apps.fcm),
        _ => return Err(ApiError::BadRequest("platform: apns, apns_sandbox or fcm")),
    };
    let endpoint = match application {
        Some(arn) => {
            Some(create_push_endpoint(&app.sns_client(), arn, device_token).await.map_err(|_| ApiError::Unavailable)?)
        }
        None => None,
    };
    let digest: String = Sha256::digest(device_token.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect();
    app.store.register_device(session.phone.e164(), platform, &digest, device_token, endpoint.as_deref(), now).await?;
    info!(phone = %session.phone, platform, endpoint = endpoint.is_some(), "device registered");
    Ok(SetNotifyReply { push: if endpoint.is_some() { "enabled" } else { "stored" } })
}
