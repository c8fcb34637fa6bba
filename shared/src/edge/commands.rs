//! Request parameters → the use cases' typed commands. Every parameter name, and every alias mesibo clients use
//! (`otp` for `code`, `m` for `members`), is read here and nowhere else; what cannot be parsed is refused here, with
//! the parameter's name, before any use case runs.

use std::collections::{BTreeSet, HashSet};

use super::params::Params;
use crate::config::Config;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::links::Links;
use crate::model::phone::{DefaultRegion, PhoneNumber};
use crate::model::profile::{profile_name, profile_photo, profile_status};
use crate::model::secrets::OtpCode;
use crate::usecase::account::{DeleteAccount, Logout, PushPlatform, SetNotify, UpdateProfile};
use crate::usecase::contacts::{DeleteContacts, SyncContacts, Upload as AddressBookUpload};
use crate::usecase::files::{Upload, UploadFor};
use crate::usecase::groups::{EditMembers, GroupId, SetAdmin, SetGroup};
use crate::usecase::sign_in::{RequestCode, VerifyCode};
use crate::usecase::steps::photos::NewPhoto;
use crate::usecase::steps::session::Session;

/// The longest `appid` accepted (Android package names are at most 255 characters).
const MAX_APP_ID_CHARS: usize = 255;

/// The longest device token accepted from `/setnotify`.
const MAX_DEVICE_TOKEN_CHARS: usize = 4096;

pub fn request_code(config: &Config, params: &Params, address: ClientAddress) -> Result<RequestCode, ApiError> {
    Ok(RequestCode { phone: sign_in_phone(config, params)?, address })
}

pub fn verify_code(
    config: &Config,
    params: &Params,
    address: ClientAddress,
    links: Links,
) -> Result<VerifyCode, ApiError> {
    let phone = sign_in_phone(config, params)?;
    let code = one_time_code(config, params)?;
    let name = params.text("name").map(profile_name).transpose()?.unwrap_or_default();
    let app_id = params.text("appid").map(app_id).transpose()?;
    if config.mesibo_mode() && app_id.as_deref().is_some_and(|id| !mesibo_takes(id)) {
        return Err(ApiError::BadAppId);
    }
    Ok(VerifyCode { phone, code, name, address, app_id, links })
}

/// mesibo issues tokens only for an app id that is dotted and not a number (mesibo/on-premise's refusal: "appid
/// should be non-numeric and dotted (for example, com.example.xyz)", `BADVALUE`): refused here first, as bad input.
fn mesibo_takes(app_id: &str) -> bool {
    let dotted = app_id.split('.').count() > 1 && app_id.split('.').all(|part| !part.is_empty());
    dotted && !app_id.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// An Android package name, an iOS bundle id, or any other app name mesibo accepts: printable, no separators.
fn app_id(text: &str) -> Result<String, ApiError> {
    let printable = |c: char| c.is_ascii_graphic() && !matches!(c, ',' | '&' | '=' | '"' | '\\');
    match text.len() <= MAX_APP_ID_CHARS && text.chars().all(printable) {
        true => Ok(text.to_owned()),
        false => Err(ApiError::BadAppId),
    }
}

/// Validates `appid`, normalises `phone` (default region from `cc`, else the configured country) and applies the
/// region allow-list: login and verify see the same number. Refused here, before any limit is spent or code stored.
/// Which numbers are sent codes at all (mobiles) is the sign-in use case's rule: it needs to know who has an account.
fn sign_in_phone(config: &Config, params: &Params) -> Result<PhoneNumber, ApiError> {
    if !config.allows_app_id(params.text("appid")) {
        return Err(ApiError::BadAppId);
    }
    let raw = params.phone_text("phone")?;
    // An explicit `cc` says the number is national (mesibo's apps send none): read so first.
    let phone = match params.text("cc") {
        Some(cc) => {
            let region = DefaultRegion::from_calling_code(cc).ok_or(ApiError::BadPhone)?;
            PhoneNumber::parse(&raw, region).or_else(|| PhoneNumber::read(&raw, region))
        }
        None => PhoneNumber::read(&raw, config.default_region),
    }
    .ok_or(ApiError::BadPhone)?;
    if !config.allows_region_of(&phone) {
        return Err(ApiError::CountryBlocked);
    }
    Ok(phone)
}

/// `code` (mesibo: `otp`). A malformed code is a typo, not a guess: it is refused before it can cost an attempt.
fn one_time_code(config: &Config, params: &Params) -> Result<OtpCode, ApiError> {
    let code = params.text("code").or(params.text("otp")).ok_or(ApiError::MissingParam("code"))?;
    OtpCode::parse(code).ok_or(ApiError::BadCode { attempts_left: config.max_verify_attempts })
}

pub fn sync_contacts(
    config: &Config,
    session: &Session,
    params: &Params,
    links: Links,
) -> Result<SyncContacts, ApiError> {
    let since: Timestamp = match params.text("ts") {
        None => 0,
        Some(text) => {
            text.parse().ok().filter(|ts| *ts >= 0).ok_or(ApiError::BadRequest("ts: unix seconds of the last sync"))?
        }
    };
    let reset = params.flag("reset");
    let region = session.phone.home_region();
    let mut upload = AddressBookUpload::default();
    for entry in address_book_entries(config, params)? {
        match PhoneNumber::read(&entry, region) {
            Some(phone) if phone != session.phone => {
                upload.numbers.insert(phone.e164().to_owned());
            }
            Some(_) => {}
            None => upload.invalid += 1,
        }
    }
    Ok(SyncContacts { since, reset, upload, links })
}

pub fn delete_contacts(config: &Config, session: &Session, params: &Params) -> Result<DeleteContacts, ApiError> {
    let raw = address_book_entries(config, params)?;
    if raw.is_empty() {
        return Err(ApiError::MissingParam("phones"));
    }
    let region = session.phone.home_region();
    let parsed: Vec<Option<PhoneNumber>> = raw.iter().map(|p| PhoneNumber::read(p, region)).collect();
    let invalid = parsed.iter().filter(|p| p.is_none()).count();
    let numbers: BTreeSet<String> = parsed.into_iter().flatten().map(|p| p.e164().to_owned()).collect();
    Ok(DeleteContacts { numbers: numbers.into_iter().collect(), invalid })
}

/// `phones`, as sent (numbers as people store them), within the per-request maximum.
fn address_book_entries(config: &Config, params: &Params) -> Result<Vec<String>, ApiError> {
    let raw = params.list("phones")?;
    let max = config.contacts.max_phones_per_request;
    if raw.len() > max {
        return Err(ApiError::TooMany(max));
    }
    Ok(raw)
}

/// Present-but-empty status and photo clear them; a name, when given, must not be empty.
pub fn update_profile(params: &Params) -> Result<UpdateProfile, ApiError> {
    let name = params.text("name").map(profile_name).transpose()?;
    let status = params.raw_text("status").map(profile_status).transpose()?;
    let photo = photo(params)?;
    if name.is_none() && status.is_none() && photo.is_none() {
        return Err(ApiError::MissingParam("name, status or photo"));
    }
    Ok(UpdateProfile { name, status, photo })
}

pub fn logout(params: &Params) -> Logout {
    Logout { all: params.flag("all") }
}

pub fn delete_account(config: &Config, params: &Params, address: ClientAddress) -> Result<DeleteAccount, ApiError> {
    Ok(DeleteAccount { code: one_time_code(config, params)?, address })
}

pub fn set_notify(params: &Params) -> Result<SetNotify, ApiError> {
    let device_token = params.required("notifytoken")?;
    if device_token.len() > MAX_DEVICE_TOKEN_CHARS || device_token.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ApiError::BadRequest("notifytoken: a device token, at most 4096 characters"));
    }
    let platform = match params.text("platform") {
        Some("apns") => PushPlatform::Apns,
        Some("apns_sandbox") => PushPlatform::ApnsSandbox,
        Some("fcm") => PushPlatform::Fcm,
        Some(_) => return Err(ApiError::BadRequest("platform: apns, apns_sandbox or fcm")),
        None => push_platform_of(params, device_token),
    };
    Ok(SetNotify { device_token: device_token.to_owned(), platform })
}

/// mesibo's apps send no `platform`: Android sends its FCM sender id as `fcmid`, iOS sent `prod` (1 for an App
/// Store build, 0 for a development build: APNs' production or sandbox). `dt` is the SDK's device type, whose
/// values mesibo does not document, so it decides nothing. Without either hint the token's shape tells: an APNs
/// device token is 32 bytes in hex, an FCM registration token is longer and not hex.
fn push_platform_of(params: &Params, device_token: &str) -> PushPlatform {
    let apns_shaped = device_token.len() == 64 && device_token.bytes().all(|b| b.is_ascii_hexdigit());
    match (params.text("fcmid"), params.text("prod")) {
        (Some(_), _) => PushPlatform::Fcm,
        (None, Some("0")) => PushPlatform::ApnsSandbox,
        (None, Some(_)) => PushPlatform::Apns,
        (None, None) if apns_shaped => PushPlatform::Apns,
        (None, None) => PushPlatform::Fcm,
    }
}

/// `photo`: a picture (a multipart file part, as mesibo's apps send it), or the name or URL of one kept elsewhere
/// (empty clears it).
fn photo(params: &Params) -> Result<Option<NewPhoto>, ApiError> {
    if let Some(file) = params.file("photo") {
        return Ok(Some(NewPhoto::Upload(file.bytes.clone())));
    }
    Ok(params.raw_text("photo").map(profile_photo).transpose()?.map(NewPhoto::Named))
}

/// What an `upload` asks for: a file sent with it (mesibo's apps: `profile` 1 for a photo, the caller's or, with
/// `gid`, a group's; else an attachment; `delete=1` removes the photo), or a direct upload to storage (`size`),
/// or the check of one that arrived (`uploaded`).
pub enum UploadRequest {
    File(Box<Upload>),
    StartDirect { size: u64 },
    FinishDirect { uploaded: String },
}

pub fn upload(params: &Params, links: Links) -> Result<UploadRequest, ApiError> {
    if let Some(uploaded) = params.text("uploaded") {
        return Ok(UploadRequest::FinishDirect { uploaded: uploaded.to_owned() });
    }
    if let Some(size) = params.text("size") {
        let size = size.parse().map_err(|_| ApiError::BadRequest("size: the file's size in bytes"))?;
        return Ok(UploadRequest::StartDirect { size });
    }
    let profile = params.text("profile").unwrap_or("0");
    let photo = profile.parse::<u64>().map_err(|_| ApiError::BadRequest("profile: 1 for a photo, 0 for a file"))? > 0;
    let target = match (photo, gid(params)?) {
        (false, _) => UploadFor::Attachment,
        (true, 0) => UploadFor::OwnPhoto,
        (true, gid) => UploadFor::GroupPhoto(gid),
    };
    let file = params.file("photo").map(|f| f.bytes.clone());
    Ok(UploadRequest::File(Box::new(Upload { target, file, delete: params.flag("delete"), links })))
}

pub fn set_group(config: &Config, session: &Session, params: &Params) -> Result<SetGroup, ApiError> {
    let name = params.raw_text("name").map(profile_name).transpose()?;
    let photo = photo(params)?;
    let members = members(config, session, params)?;
    Ok(SetGroup { gid: gid(params)?, name, photo, members })
}

pub fn edit_members(config: &Config, session: &Session, params: &Params) -> Result<EditMembers, ApiError> {
    let gid = gid(params)?;
    Ok(EditMembers { gid, members: members(config, session, params)?, delete: params.flag("delete") })
}

pub fn set_admin(config: &Config, session: &Session, params: &Params) -> Result<SetAdmin, ApiError> {
    let gid = gid(params)?;
    Ok(SetAdmin { gid, members: members(config, session, params)?, admin: params.flag("admin") })
}

pub fn group_id(params: &Params) -> Result<GroupId, ApiError> {
    gid(params).map(GroupId)
}

/// `gid`; absent is 0 (a new group).
fn gid(params: &Params) -> Result<u64, ApiError> {
    params.text("gid").unwrap_or("0").parse().map_err(|_| ApiError::BadGroup)
}

/// `m` (mesibo) or `members`: numbers in the caller's home region, de-duplicated, the caller dropped.
fn members(config: &Config, session: &Session, params: &Params) -> Result<Vec<String>, ApiError> {
    let mut raw = params.list("m")?;
    raw.extend(params.list("members")?);
    // Counted before any number is read: reading one costs far more than splitting the list, and a list of tens of
    // thousands would otherwise hold the function for seconds before the cap refused it. Room is left for the caller
    // and for as many repeats again as the cap (apps send a member twice at times).
    if raw.len() > 2 * config.max_group_members {
        return Err(ApiError::TooMany(config.max_group_members));
    }
    let region = session.phone.home_region();
    let mut seen = HashSet::new();
    let mut numbers = vec![];
    for entry in raw {
        let phone = PhoneNumber::read(&entry, region).ok_or(ApiError::BadPhone)?;
        if phone != session.phone && seen.insert(phone.e164().to_owned()) {
            numbers.push(phone.e164().to_owned());
        }
    }
    if numbers.len() + 1 > config.max_group_members {
        return Err(ApiError::TooMany(config.max_group_members));
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::phone::NumberRegion;
    use lambda_http::Body;
    use lambda_http::http::Request;

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "TABLE_NAME" => Some("t".into()),
            "OTP_HMAC_SECRET" => Some("x".repeat(32)),
            _ => None,
        })
        .unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        let request = Request::builder().uri(format!("/login?{query}")).body(Body::Empty).unwrap();
        futures::executor::block_on(Params::from_request(&request, super::super::params::BodyLimits::params_only(1024)))
            .unwrap()
    }

    #[test]
    fn phone_rules() {
        let mut config = config();
        assert_eq!(sign_in_phone(&config, &params(&[])), Err(ApiError::MissingParam("phone")));
        assert_eq!(sign_in_phone(&config, &params(&[("phone", "12")])), Err(ApiError::BadPhone));
        assert_eq!(
            sign_in_phone(&config, &params(&[("phone", "98765 43210"), ("cc", "91")])).unwrap().e164(),
            "+919876543210"
        );
        assert_eq!(sign_in_phone(&config, &params(&[("phone", "1"), ("cc", "999")])), Err(ApiError::BadPhone));
        assert_eq!(
            sign_in_phone(&config, &params(&[("phone", "13012345678"), ("cc", "86")])).unwrap().e164(),
            "+8613012345678",
            "with cc, bare digits that are also a valid international number are national"
        );
        assert_eq!(sign_in_phone(&config, &params(&[("phone", "13012345678")])).unwrap().e164(), "+13012345678");
        assert_eq!(
            sign_in_phone(&config, &params(&[("phone", "919876543210")])).unwrap().e164(),
            "+919876543210",
            "mesibo form"
        );
        assert_eq!(
            sign_in_phone(&config, &params(&[("phone", "(201) 555-0123")])).unwrap().e164(),
            "+12015550123",
            "national as written"
        );
        assert_eq!(
            sign_in_phone(&config, &params(&[("phone", "4155550123")])).unwrap().e164(),
            "+14155550123",
            "bare national digits that are no international number"
        );
        config.allowed_regions = vec![NumberRegion::from_iso("IN").unwrap()];
        assert_eq!(sign_in_phone(&config, &params(&[("phone", "+12015550123")])), Err(ApiError::CountryBlocked));
        config.allowed_app_ids = vec!["com.example".into()];
        assert_eq!(sign_in_phone(&config, &params(&[("phone", "+919876543210")])), Err(ApiError::BadAppId));
        assert!(sign_in_phone(&config, &params(&[("phone", "+919876543210"), ("appid", "com.example")])).is_ok());
    }

    #[test]
    fn mesibo_takes_dotted_app_ids_that_are_no_numbers() {
        for taken in ["com.example.xyz", "com.mesibo.jsdemo", "a.b", "app.v2"] {
            assert!(mesibo_takes(taken), "{taken}");
        }
        for refused in ["example", "12345", "1.2", "com.", ".com", "a..b", ""] {
            assert!(!mesibo_takes(refused), "{refused}");
        }
    }

    #[test]
    fn push_platform_is_inferred_from_what_mesibo_apps_send() {
        let fcm_token = "dKx3:APA91bH".to_owned() + &"x".repeat(140);
        let apns_token = "a1".repeat(32);
        let platform = |pairs: &[(&str, &str)]| set_notify(&params(pairs)).map(|c| c.platform);
        let android = [("notifytoken", fcm_token.as_str()), ("fcmid", "470359684336"), ("dt", "1")];
        assert_eq!(platform(&android), Ok(PushPlatform::Fcm));
        assert_eq!(platform(&[("notifytoken", &apns_token), ("prod", "1")]), Ok(PushPlatform::Apns));
        assert_eq!(platform(&[("notifytoken", &apns_token), ("prod", "0")]), Ok(PushPlatform::ApnsSandbox));
        assert_eq!(platform(&[("notifytoken", &apns_token)]), Ok(PushPlatform::Apns));
        assert_eq!(platform(&[("notifytoken", &fcm_token), ("dt", "2")]), Ok(PushPlatform::Fcm));
        assert_eq!(platform(&[("notifytoken", &apns_token), ("platform", "fcm")]), Ok(PushPlatform::Fcm));
        assert!(platform(&[("notifytoken", &apns_token), ("platform", "webpush")]).is_err());
        assert_eq!(platform(&[("fcmid", "470359684336")]), Err(ApiError::MissingParam("notifytoken")));
    }

    #[test]
    fn codes_come_as_code_or_otp_and_malformed_ones_cost_nothing() {
        let config = config();
        assert_eq!(one_time_code(&config, &params(&[("otp", "123456")])).unwrap().as_str(), "123456");
        assert_eq!(one_time_code(&config, &params(&[("code", "654321")])).unwrap().as_str(), "654321");
        assert_eq!(one_time_code(&config, &params(&[])), Err(ApiError::MissingParam("code")));
        assert_eq!(one_time_code(&config, &params(&[("code", "12a456")])), Err(ApiError::BadCode { attempts_left: 5 }));
    }
}
