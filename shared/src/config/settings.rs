//! Each setting as it is read: whole numbers declared as data (variable, default, range), and the rules of the
//! settings that are more than a number (lists, prices, URLs, the mesibo and front-door settings).

use std::collections::HashMap;

use super::{ConfigError, FilesConfig, MesiboAppToken, MesiboConfig, MesiboNotices};
use crate::model::links::ProfileUrls;
use crate::model::lookup_quota;
use crate::model::phone::{DefaultRegion, NumberRegion, PhoneNumber};
use crate::model::secrets::{OriginSecret, OtpCode};

pub(super) fn bad(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name, problem: problem.into() }
}

pub const MAX_OTP_TTL_SECONDS: i64 = 600;
pub const MAX_VERIFY_ATTEMPTS: u32 = 5;
pub const MAX_TEST_NUMBERS: usize = 10;

/// A whole-number setting: its variable, its default, and the range it must fall in.
#[derive(Debug, Clone, Copy)]
pub struct Number {
    pub name: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

const fn number(name: &'static str, default: i64, min: i64, max: i64) -> Number {
    Number { name, default, min, max }
}

pub const OTP_TTL_SECONDS: Number = number("OTP_TTL_SECONDS", MAX_OTP_TTL_SECONDS, 60, MAX_OTP_TTL_SECONDS);
pub const VERIFY_ATTEMPTS: Number =
    number("MAX_VERIFY_ATTEMPTS", MAX_VERIFY_ATTEMPTS as i64, 1, MAX_VERIFY_ATTEMPTS as i64);
pub const RESEND_COOLDOWN_SECONDS: Number = number("RESEND_COOLDOWN_SECONDS", 30, 1, 3600);
pub const MAX_SENDS_PER_WINDOW: Number = number("MAX_SENDS_PER_WINDOW", 5, 1, 100);
pub const SEND_WINDOW_SECONDS: Number = number("SEND_WINDOW_SECONDS", 600, 60, 86_400);
pub const TOKEN_TTL_DAYS: Number = number("TOKEN_TTL_DAYS", 365, 1, 3650);
pub const MAX_PHONES_PER_REQUEST: Number = number("MAX_PHONES_PER_REQUEST", 5000, 1, 5000);
/// At most `lookup_quota::MAX_BUDGET` (30,000): a day of the quota is one item, and the budget bounds its size.
pub const CONTACT_LOOKUP_BUDGET: Number = number("CONTACT_LOOKUP_BUDGET", 20_000, 1, lookup_quota::MAX_BUDGET);
pub const CONTACT_LOOKUP_WINDOW_DAYS: Number = number("CONTACT_LOOKUP_WINDOW_DAYS", 10, 1, 90);
/// Days an address-book entry of a number that is not a user is kept after the last sync that named it; 0 keeps them.
pub const NONUSER_CONTACT_DAYS: Number = number("NONUSER_CONTACT_DAYS", 365, 0, 3650);
pub const MAX_GROUP_MEMBERS: Number = number("MAX_GROUP_MEMBERS", 1024, 2, 5000);
pub const IP_CODE_REQUESTS_PER_HOUR: Number = number("IP_CODE_REQUESTS_PER_HOUR", 20, 1, 1_000_000);
pub const IP_FAILED_VERIFIES_PER_HOUR: Number = number("IP_FAILED_VERIFIES_PER_HOUR", 50, 1, 1_000_000);
pub const NUMBER_FAILED_VERIFIES_PER_DAY: Number = number("NUMBER_FAILED_VERIFIES_PER_DAY", 100, 1, 100);
pub const SMS_HOURLY_LIMIT_PER_COUNTRY: Number = number("SMS_HOURLY_LIMIT_PER_COUNTRY", 200, 1, 10_000_000);
pub const SMS_DAILY_BUDGET: Number = number("SMS_DAILY_BUDGET", 1000, 1, 100_000_000);
pub const UPLOADS_PER_HOUR: Number = number("UPLOADS_PER_HOUR", 100, 1, 100_000);
pub const DOWNLOADS_PER_FILE_PER_HOUR: Number = number("DOWNLOADS_PER_FILE_PER_HOUR", 1000, 1, 1_000_000);
/// mesibo's Android app uploads an address book 100 numbers a request: 120 an hour is a 10,000-number book and 20
/// syncs more.
pub const CONTACT_SYNCS_PER_HOUR: Number = number("CONTACT_SYNCS_PER_HOUR", 120, 1, 100_000);
/// Two full 5,000-number address books a day (each entry is two write units: the item and its index entry).
pub const CONTACT_WRITES_PER_DAY: Number = number("CONTACT_WRITES_PER_DAY", 10_000, 1, 10_000_000);
pub const GROUPS_PER_DAY: Number = number("GROUPS_PER_DAY", 20, 1, 100_000);
pub const GROUP_MEMBER_ADDS_PER_DAY: Number = number("GROUP_MEMBER_ADDS_PER_DAY", 500, 1, 1_000_000);
pub const GROUP_NOTICES_PER_DAY: Number = number("GROUP_NOTICES_PER_DAY", 20_000, 1, 100_000_000);
pub const MESIBO_TIMEOUT_MS: Number = number("MESIBO_TIMEOUT_MS", 5000, 100, 5000);
pub const MAX_UPLOAD_BYTES: Number = number("MAX_UPLOAD_BYTES", 100 * 1024 * 1024, 1024 * 1024, 5 * 1024 * 1024 * 1024);
/// At most 50: a person's devices must fit in one DynamoDB transaction with room to spare.
pub const MAX_DEVICES_PER_USER: Number = number("MAX_DEVICES_PER_USER", 10, 1, 50);
/// At least 10 (one publish batch); at most 5,000, so a page's pipelined publishes end in seconds.
pub const FANOUT_PAGE_SIZE: Number = number("FANOUT_PAGE_SIZE", 1000, 10, 5000);
pub const PROFILE_FANOUTS_PER_HOUR: Number = number("PROFILE_FANOUTS_PER_HOUR", 6, 1, 3600);
pub const DEFAULT_MESIBO_API_URL: &str = "https://api.mesibo.com/backend/";

/// The variables, whichever way they are looked up. Blank counts as unset.
pub(super) struct Vars<F>(pub(super) F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub(super) fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub(super) fn text_or(&self, name: &str, default: impl FnOnce() -> String) -> String {
        self.text(name).unwrap_or_else(default)
    }

    pub(super) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.text(name).ok_or_else(|| bad(name, "required"))
    }

    pub(super) fn number(&self, setting: Number) -> Result<i64, ConfigError> {
        let Number { name, default, min, max } = setting;
        let Some(text) = self.text(name) else {
            return Ok(default);
        };
        let value: i64 = text.parse().map_err(|_| bad(name, format!("not a whole number: {text:?}")))?;
        if !(min..=max).contains(&value) {
            return Err(bad(name, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    /// A comma-separated list; absent is empty.
    pub(super) fn list(&self, name: &str) -> Vec<String> {
        let text = self.text(name).unwrap_or_default();
        text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
    }
}

/// METRICS_NAMESPACE: a CloudWatch namespace (1–255 characters of letters, digits and `.-_/#:` or space, not
/// `AWS/…`, which is AWS's own). One CloudWatch rejects would lose every metric silently, so it fails the start.
pub(super) fn metrics_namespace(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<String, ConfigError> {
    const NAME: &str = "METRICS_NAMESPACE";
    let namespace = vars.text_or(NAME, || "Messenger".into());
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.len() > 255 || !namespace.chars().all(allowed) {
        return Err(bad(NAME, "1-255 letters, digits, spaces or . - _ / # :"));
    }
    if namespace.starts_with("AWS/") {
        return Err(bad(NAME, "AWS/ namespaces are reserved for AWS"));
    }
    Ok(namespace)
}

/// SMS_MAX_PRICE: a positive amount of US dollars with at most 5 decimals, as SNS takes it (`AWS.SNS.SMS.MaxPrice`).
pub(super) fn sms_max_price(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Option<String>, ConfigError> {
    let Some(price) = vars.text("SMS_MAX_PRICE") else {
        return Ok(None);
    };
    let (units, cents) = price.split_once('.').unwrap_or((&price, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = !units.is_empty() && units.len() <= 3 && digits(units) && cents.len() <= 5 && digits(cents);
    match valid && price.parse::<f64>().is_ok_and(|p| p > 0.0) {
        true => Ok(Some(price)),
        false => Err(bad("SMS_MAX_PRICE", "a price in US dollars such as 0.50")),
    }
}

/// ALLOWED_REGIONS: ISO 3166 regions (`*`: every region). For one more release, the deprecated ALLOWED_COUNTRY_CODES is still read
/// when ALLOWED_REGIONS is not set, as every region of each calling code (`1` is the US, Canada and the
/// Caribbean alike, which is why it goes); when both are set, ALLOWED_REGIONS wins. Either way with a warning at
/// start-up, so a deployment learns of the change before the old setting stops being read.
pub(super) fn allowed_regions(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Vec<NumberRegion>, ConfigError> {
    const OLD: &str = "ALLOWED_COUNTRY_CODES";
    let by_calling_code = calling_code_regions(vars)?;
    let regions = vars.list("ALLOWED_REGIONS");
    // `*`: every region, said on purpose (the deployed default is the default country only: template.yaml).
    if regions == ["*"] {
        return Ok(vec![]);
    }
    if regions.is_empty() {
        if !by_calling_code.is_empty() {
            tracing::warn!("{OLD} is deprecated: set ALLOWED_REGIONS (ISO 3166 regions such as US,CA,IN) instead");
        }
        return Ok(by_calling_code);
    }
    if vars.text(OLD).is_some() {
        tracing::warn!("{OLD} is ignored: ALLOWED_REGIONS is set, and wins; remove {OLD}");
    }
    let read = |code: &String| {
        NumberRegion::from_iso(code)
            .ok_or_else(|| bad("ALLOWED_REGIONS", format!("not an ISO 3166 region with phone numbers: {code:?}")))
    };
    regions.iter().map(read).collect()
}

/// ALLOWED_COUNTRY_CODES (deprecated): calling codes that have a region, as all their regions.
pub(super) fn calling_code_regions(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
) -> Result<Vec<NumberRegion>, ConfigError> {
    let regions = |code: &String| {
        let code = code.trim_start_matches('+').parse::<u16>().ok()?;
        Some(NumberRegion::all_of_calling_code(code)).filter(|regions| !regions.is_empty())
    };
    let codes = vars.list("ALLOWED_COUNTRY_CODES").iter().map(regions).collect::<Option<Vec<_>>>();
    let codes = codes.ok_or_else(|| bad("ALLOWED_COUNTRY_CODES", "comma-separated calling codes such as 1,44,91"))?;
    Ok(codes.into_iter().flatten().collect())
}

/// TEST_NUMBERS: `+NUMBER:CODE` entries, at most [`MAX_TEST_NUMBERS`].
pub(super) fn test_numbers(
    vars: &Vars<impl Fn(&str) -> Option<String>>,
    region: DefaultRegion,
) -> Result<HashMap<PhoneNumber, OtpCode>, ConfigError> {
    let mut numbers = HashMap::new();
    for entry in vars.list("TEST_NUMBERS") {
        let (number, code) = entry.split_once(':').ok_or_else(|| bad("TEST_NUMBERS", "entries are +NUMBER:CODE"))?;
        let phone = PhoneNumber::parse(number, region)
            .ok_or_else(|| bad("TEST_NUMBERS", format!("not a valid number: {number}")))?;
        let code = OtpCode::parse(code).ok_or_else(|| bad("TEST_NUMBERS", "codes are six digits"))?;
        numbers.insert(phone, code);
    }
    if numbers.len() > MAX_TEST_NUMBERS {
        return Err(bad("TEST_NUMBERS", format!("at most {MAX_TEST_NUMBERS} test numbers")));
    }
    Ok(numbers)
}

pub(super) fn mesibo(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<MesiboConfig, ConfigError> {
    let api_url = vars.text_or("MESIBO_API_URL", || DEFAULT_MESIBO_API_URL.into());
    // The app token travels in every request: only over TLS, but for a server on this machine (emulators, tests).
    let uri = api_url.parse::<hyper::Uri>().ok();
    let loopback = |host: &str| matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let acceptable = uri
        .as_ref()
        .and_then(|uri| Some((uri.scheme_str()?, uri.host()?)))
        .is_some_and(|(scheme, host)| scheme == "https" || (scheme == "http" && loopback(host)));
    if !acceptable {
        return Err(bad("MESIBO_API_URL", "an https:// address such as https://api.mesibo.com/backend/"));
    }
    Ok(MesiboConfig {
        api_url,
        app_token: vars.text("MESIBO_APP_TOKEN").and_then(MesiboAppToken::new),
        app_token_secret: vars.text("MESIBO_APP_TOKEN_SECRET_ARN"),
        timeout_ms: vars.number(MESIBO_TIMEOUT_MS)? as u64,
        notices: match vars.text("MESIBO_NOTICES").as_deref() {
            None | Some("legacy") => MesiboNotices::Legacy,
            Some("off") => MesiboNotices::Off,
            Some(other) => return Err(bad("MESIBO_NOTICES", format!("{other:?} is neither legacy nor off"))),
        },
    })
}

pub(super) fn front_door(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Option<OriginSecret>, ConfigError> {
    const NAME: &str = "FRONT_DOOR_SECRET";
    let Some(value) = vars.text(NAME) else {
        return Ok(None);
    };
    let secret = OriginSecret::new(&value);
    secret.map(Some).ok_or_else(|| bad(NAME, format!("at least {} characters", OriginSecret::MIN_LEN)))
}

pub(super) fn files(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Option<FilesConfig>, ConfigError> {
    let Some(bucket) = vars.text("FILES_BUCKET") else {
        return Ok(None);
    };
    Ok(Some(FilesConfig { bucket, max_upload_bytes: vars.number(MAX_UPLOAD_BYTES)? as u64 }))
}

pub(super) fn profile_urls(vars: &Vars<impl Fn(&str) -> Option<String>>, app_name: &str) -> ProfileUrls {
    ProfileUrls {
        google_api_key: vars.text("GOOGLE_API_KEY").unwrap_or_default(),
        upload_url: vars.text("UPLOAD_URL").unwrap_or_default(),
        download_url: vars.text("DOWNLOAD_URL").unwrap_or_default(),
        file_url: vars.text("FILE_URL").unwrap_or_default(),
        invite_text: vars
            .text_or("INVITE_TEXT", || format!("Hey, I use {app_name} for free messaging, voice and video calls.")),
        share_subject: vars.text_or("SHARE_SUBJECT", || format!("{app_name}: messaging with friends")),
        share_title: vars.text_or("SHARE_TITLE", || "Invite a friend via".into()),
    }
}
