//! Settings, read once from the environment at start-up. `template.yaml` Parameters map 1:1 onto these variables,
//! and the README lists each with its default.

use std::collections::HashMap;
use std::env;

use crate::phone::{DefaultRegion, PhoneNumber};
use crate::secrets::{OtpCode, OtpSecret};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

fn bad(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name, problem: problem.into() }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub otp_secret: OtpSecret,
    pub app_name: String,
    pub default_region: DefaultRegion,
    /// Calling codes (`1`, `91`) allowed to sign in; empty allows all.
    pub allowed_calling_codes: Vec<u16>,
    /// App ids allowed in `appid`; empty allows any (or none).
    pub allowed_app_ids: Vec<String>,
    pub otp_ttl_seconds: i64,
    pub max_verify_attempts: u32,
    pub resend_cooldown_seconds: i64,
    pub max_sends_per_window: u32,
    pub send_window_seconds: i64,
    pub token_ttl_days: i64,
    pub test_numbers: HashMap<PhoneNumber, OtpCode>,
    pub sms: SmsConfig,
    pub profile_urls: ProfileUrls,
    pub contacts: ContactsConfig,
    pub max_group_members: usize,
    pub limits: LimitsConfig,
}

/// Abuse limits (docs/SECURITY.md says which attack each one stops, and why these defaults).
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    pub ip_code_requests_per_hour: i64,
    pub ip_failed_verifies_per_hour: i64,
    pub number_failed_verifies_per_day: i64,
    pub sms_hourly_limit_per_country: i64,
    pub sms_daily_budget: i64,
}

#[derive(Clone, Debug)]
pub struct ContactsConfig {
    pub max_phones_per_request: usize,
    /// New numbers a user may look up per rolling window (Signal-style: known numbers are free).
    pub lookup_budget: i64,
    pub lookup_window_days: i64,
    /// Where contact events go (the notifier requires it).
    pub events_topic_arn: Option<String>,
    /// SNS platform applications for push (APNs, APNs sandbox, FCM): when set, devices registered with
    /// /setnotify get an SNS endpoint and receive their user's events.
    pub push_apps: PushApps,
}

#[derive(Clone, Debug, Default)]
pub struct PushApps {
    pub apns: Option<String>,
    pub apns_sandbox: Option<String>,
    pub fcm: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SmsConfig {
    /// `{code}` and `{app}` are replaced.
    pub template: String,
    pub sender_id: Option<String>,
    /// Adds the WebOTP / iOS autofill line `@domain #code`.
    pub otp_domain: Option<String>,
}

/// The texts and URLs mesibo clients expect beside a profile.
#[derive(Clone, Debug)]
pub struct ProfileUrls {
    /// mesibo clients read a Google API key (`google`) at sign-in; empty unless GOOGLE_API_KEY is set.
    pub google_api_key: String,
    pub upload_url: String,
    pub download_url: String,
    pub file_url: String,
    pub invite_text: String,
    pub share_subject: String,
    pub share_title: String,
}

pub const MAX_OTP_TTL_SECONDS: i64 = 600;
pub const MAX_VERIFY_ATTEMPTS: u32 = 5;
pub const MAX_TEST_NUMBERS: usize = 10;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The same rules over any source of variables, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &'static str, default: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
            let Some(text) = get(name) else {
                return Ok(default);
            };
            let value: i64 = text.parse().map_err(|_| bad(name, format!("not a whole number: {text:?}")))?;
            if !(min..=max).contains(&value) {
                return Err(bad(name, format!("{value} is outside {min}..={max}")));
            }
            Ok(value)
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        };

        let table_name = get("TABLE_NAME").ok_or_else(|| bad("TABLE_NAME", "required"))?;
        let secret_text = get("OTP_HMAC_SECRET").ok_or_else(|| bad("OTP_HMAC_SECRET", "required"))?;
        let otp_secret = OtpSecret::new(secret_text.into_bytes())
            .ok_or_else(|| bad("OTP_HMAC_SECRET", format!("must be at least {} characters", OtpSecret::MIN_LEN)))?;
        let country = get("DEFAULT_COUNTRY").unwrap_or_else(|| "US".into());
        let default_region = DefaultRegion::from_iso(&country)
            .ok_or_else(|| bad("DEFAULT_COUNTRY", format!("not an ISO 3166 region: {country}")))?;
        let allowed_calling_codes = list("ALLOWED_COUNTRY_CODES")
            .iter()
            .map(|c| {
                c.trim_start_matches('+')
                    .parse::<u16>()
                    .ok()
                    .filter(|c| DefaultRegion::from_calling_code(&c.to_string()).is_some())
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("ALLOWED_COUNTRY_CODES", "comma-separated calling codes such as 1,44,91"))?;

        let mut test_numbers = HashMap::new();
        for entry in list("TEST_NUMBERS") {
            let (number, code) =
                entry.split_once(':').ok_or_else(|| bad("TEST_NUMBERS", "entries are +NUMBER:CODE"))?;
            let phone = PhoneNumber::parse(number, default_region)
                .ok_or_else(|| bad("TEST_NUMBERS", format!("not a valid number: {number}")))?;
            let code = OtpCode::parse(code).ok_or_else(|| bad("TEST_NUMBERS", "codes are six digits"))?;
            test_numbers.insert(phone, code);
        }
        if test_numbers.len() > MAX_TEST_NUMBERS {
            return Err(bad("TEST_NUMBERS", format!("at most {MAX_TEST_NUMBERS} test numbers")));
        }

        let app_name = get("APP_NAME").unwrap_or_else(|| "Messenger".into());
        let invite_text = get("INVITE_TEXT")
            .unwrap_or_else(|| format!("Hey, I use {app_name} for free messaging, voice and video calls."));
        Ok(Self {
            table_name,
            otp_secret,
            default_region,
            allowed_calling_codes,
            allowed_app_ids: list("ALLOWED_APP_IDS"),
            otp_ttl_seconds: number("OTP_TTL_SECONDS", MAX_OTP_TTL_SECONDS, 60, MAX_OTP_TTL_SECONDS)?,
            max_verify_attempts: number(
                "MAX_VERIFY_ATTEMPTS",
                MAX_VERIFY_ATTEMPTS.into(),
                1,
                MAX_VERIFY_ATTEMPTS.into(),
            )? as u32,
            resend_cooldown_seconds: number("RESEND_COOLDOWN_SECONDS", 30, 1, 3600)?,
            max_sends_per_window: number("MAX_SENDS_PER_WINDOW", 5, 1, 100)? as u32,
            send_window_seconds: number("SEND_WINDOW_SECONDS", 600, 60, 86_400)?,
            token_ttl_days: number("TOKEN_TTL_DAYS", 365, 1, 3650)?,
            test_numbers,
            sms: SmsConfig {
                template: get("SMS_TEMPLATE").unwrap_or_else(|| "Your {app} code is {code}. Do not share it.".into()),
                sender_id: get("SMS_SENDER_ID"),
                otp_domain: get("OTP_DOMAIN"),
            },
            profile_urls: ProfileUrls {
                google_api_key: get("GOOGLE_API_KEY").unwrap_or_default(),
                upload_url: get("UPLOAD_URL").unwrap_or_default(),
                download_url: get("DOWNLOAD_URL").unwrap_or_default(),
                file_url: get("FILE_URL").unwrap_or_default(),
                invite_text,
                share_subject: get("SHARE_SUBJECT").unwrap_or_else(|| format!("{app_name}: messaging with friends")),
                share_title: get("SHARE_TITLE").unwrap_or_else(|| "Invite a friend via".into()),
            },
            contacts: ContactsConfig {
                max_phones_per_request: number("MAX_PHONES_PER_REQUEST", 5000, 1, 5000)? as usize,
                lookup_budget: number("CONTACT_LOOKUP_BUDGET", 20_000, 1, 10_000_000)?,
                lookup_window_days: number("CONTACT_LOOKUP_WINDOW_DAYS", 10, 1, 90)?,
                events_topic_arn: get("CONTACT_EVENTS_TOPIC_ARN"),
                push_apps: PushApps {
                    apns: get("PUSH_APNS_APPLICATION_ARN"),
                    apns_sandbox: get("PUSH_APNS_SANDBOX_APPLICATION_ARN"),
                    fcm: get("PUSH_FCM_APPLICATION_ARN"),
                },
            },
            max_group_members: number("MAX_GROUP_MEMBERS", 1024, 2, 5000)? as usize,
            limits: LimitsConfig {
                ip_code_requests_per_hour: number("IP_CODE_REQUESTS_PER_HOUR", 20, 1, 1_000_000)?,
                ip_failed_verifies_per_hour: number("IP_FAILED_VERIFIES_PER_HOUR", 50, 1, 1_000_000)?,
                number_failed_verifies_per_day: number("NUMBER_FAILED_VERIFIES_PER_DAY", 100, 1, 100)?,
                sms_hourly_limit_per_country: number("SMS_HOURLY_LIMIT_PER_COUNTRY", 200, 1, 10_000_000)?,
                sms_daily_budget: number("SMS_DAILY_BUDGET", 1000, 1, 100_000_000)?,
            },
            app_name,
        })
    }

    pub fn allows_calling_code(&self, code: u16) -> bool {
        self.allowed_calling_codes.is_empty() || self.allowed_calling_codes.contains(&code)
    }

    pub fn allows_app_id(&self, app_id: Option<&str>) -> bool {
        self.allowed_app_ids.is_empty() || app_id.is_some_and(|id| self.allowed_app_ids.iter().any(|a| a == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all: HashMap<String, String> =
            [("TABLE_NAME", "t"), ("OTP_HMAC_SECRET", "0123456789abcdef0123456789abcdef")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(|name| all.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_issue() {
        let c = config(&[]).unwrap();
        assert_eq!((c.otp_ttl_seconds, c.max_verify_attempts, c.resend_cooldown_seconds), (600, 5, 30));
        assert_eq!((c.max_sends_per_window, c.send_window_seconds, c.token_ttl_days), (5, 600, 365));
        assert!(c.allows_calling_code(91) && c.allows_app_id(None));
    }

    #[test]
    fn failures_name_the_variable() {
        assert_eq!(config(&[("OTP_TTL_SECONDS", "601")]).unwrap_err().name, "OTP_TTL_SECONDS");
        assert_eq!(config(&[("OTP_HMAC_SECRET", "short")]).unwrap_err().name, "OTP_HMAC_SECRET");
        assert_eq!(config(&[("DEFAULT_COUNTRY", "XX")]).unwrap_err().name, "DEFAULT_COUNTRY");
        assert_eq!(config(&[("ALLOWED_COUNTRY_CODES", "1,abc")]).unwrap_err().name, "ALLOWED_COUNTRY_CODES");
        assert_eq!(config(&[("TEST_NUMBERS", "+12015550100:12")]).unwrap_err().name, "TEST_NUMBERS");
        let eleven: Vec<String> = (0..11).map(|i| format!("+1201555{:04}:123456", 100 + i)).collect();
        assert_eq!(config(&[("TEST_NUMBERS", &eleven.join(","))]).unwrap_err().name, "TEST_NUMBERS");
        assert!(Config::from_lookup(|_| None).is_err());
    }

    #[test]
    fn lists_are_parsed() {
        let c = config(&[
            ("ALLOWED_COUNTRY_CODES", "+1, 91"),
            ("ALLOWED_APP_IDS", "a,b"),
            ("TEST_NUMBERS", "+12015550100:428913"),
        ])
        .unwrap();
        assert!(c.allows_calling_code(1) && c.allows_calling_code(91) && !c.allows_calling_code(44));
        assert!(c.allows_app_id(Some("b")) && !c.allows_app_id(Some("c")) && !c.allows_app_id(None));
        assert_eq!(c.test_numbers.values().next().unwrap().as_str(), "428913");
    }
}
