//! Settings, read once from the environment at start-up. `template.yaml` Parameters map 1:1 onto these variables,
//! and the README lists each with its default. Numeric settings are declared as data below (name, default, range);
//! a wrong value fails start-up with the variable's name (`settings.rs`).

use std::collections::HashMap;
use std::env;

mod settings;

pub use settings::*;
use settings::{Vars, bad};

use crate::model::address_book::Retention;
use crate::model::code::SendPolicy;
use crate::model::links::ProfileUrls;
use crate::model::phone::{DefaultRegion, NumberRegion, PhoneNumber};
use crate::model::rate_limit::AbuseLimits;
use crate::model::secrets::{OriginSecret, OtpCode, OtpSecret};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    /// The key of every keyed name (limits, quotas, the code slot): stable for the deployment's life, since a new one
    /// would reset every limit. Without `CODE_KEY_SECRET_ARN` (whose rotated versions `App::start` reads), also the
    /// key of code digests.
    pub otp_secret: OtpSecret,
    pub app_name: String,
    pub default_region: DefaultRegion,
    /// Regions (`US`, `IN`) whose numbers may sign in; empty allows all.
    pub allowed_regions: Vec<NumberRegion>,
    /// App ids allowed in `appid`; empty allows any (or none).
    pub allowed_app_ids: Vec<String>,
    pub otp_ttl_seconds: i64,
    pub max_verify_attempts: u32,
    pub send_policy: SendPolicy,
    pub token_ttl_days: i64,
    pub test_numbers: HashMap<PhoneNumber, OtpCode>,
    pub sms: SmsConfig,
    pub profile_urls: ProfileUrls,
    pub contacts: ContactsConfig,
    pub max_group_members: usize,
    /// Abuse limits (docs/SECURITY.md says which attack each one stops, and why these defaults).
    pub abuse: AbuseLimits,
    /// mesibo's backend API: where it is and the app token (README, mesibo). No token: standalone mode.
    pub mesibo: MesiboConfig,
    /// Photos and attachments on S3; `None` (no `FILES_BUCKET`): this deployment stores no files.
    pub files: Option<FilesConfig>,
    /// The CloudWatch namespace of the functions' metrics (the template sets the stack's name).
    pub metrics_namespace: String,
    /// The front door (CloudFront and WAF, template parameter `FrontDoor`): the value CloudFront sends in its origin
    /// header, `FRONT_DOOR_SECRET` (deployed: read from `FRONT_DOOR_SECRET_ARN` at start). When set, a request
    /// without it is refused and the client's address is the one CloudFront saw; `None`: API Gateway's source
    /// address, and every forwarding header ignored.
    pub front_door: Option<OriginSecret>,
}

#[derive(Clone, Debug)]
pub struct FilesConfig {
    pub bucket: String,
    /// The largest attachment uploaded to S3 directly through a presigned URL.
    pub max_upload_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct MesiboConfig {
    pub api_url: String,
    /// mesibo's application token: `MESIBO_APP_TOKEN` locally, or read from Secrets Manager at init
    /// ([`Self::app_token_secret`]) when deployed. `None` (or empty): standalone mode.
    pub app_token: Option<MesiboAppToken>,
    /// `MESIBO_APP_TOKEN_SECRET_ARN`: the secret holding the app token (the deployed template sets this, never the
    /// token itself).
    pub app_token_secret: Option<String>,
    /// The whole of one call to mesibo, connection included (the connection alone: at most 2 s).
    pub timeout_ms: u64,
    /// `MESIBO_NOTICES`: whether news (joins, profile and group changes) also goes to the apps as mesibo messages.
    pub notices: MesiboNotices,
}

/// How the apps hear news through mesibo (README, mesibo: which app versions need which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MesiboNotices {
    /// `legacy`: type-1 messages with a JSON body, as mesibo's backend sent them and the 2021 apps parse them.
    Legacy,
    /// `off`: none (mesibo's current Android apps drop type-1 messages, current iOS and web apps show them as chat).
    Off,
}

/// mesibo's application token: a secret, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MesiboAppToken(String);

impl MesiboAppToken {
    pub fn new(token: String) -> Option<Self> {
        let token = token.trim().to_owned();
        (!token.is_empty()).then_some(Self(token))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MesiboAppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MesiboAppToken(..)")
    }
}

#[derive(Clone, Debug)]
pub struct ContactsConfig {
    pub max_phones_per_request: usize,
    /// Numbers a user may look up per rolling window; each is charged once per window (model::lookup_quota).
    pub lookup_budget: i64,
    pub lookup_window_days: i64,
    /// How long entries of numbers that are not users are kept (`NONUSER_CONTACT_DAYS`).
    pub retention: Retention,
    /// Where contact events go (the notifier requires it).
    pub events_topic_arn: Option<String>,
    /// SNS platform applications for push (APNs, APNs sandbox, FCM): when set, devices registered with
    /// /setnotify get an SNS endpoint and receive their user's events.
    pub push_apps: PushApps,
    /// Devices one person may register for push; a new one beyond it replaces the least recently registered.
    pub max_devices_per_user: usize,
    /// The fan-out queue (`FANOUT_QUEUE_URL`): audiences larger than one page are told through it, a page per
    /// message, by the fan-out function. The notifier requires it.
    pub fanout_queue_url: Option<String>,
    /// Recipients per fan-out page: an audience up to this size is told inline by the notifier.
    pub fanout_page_size: usize,
    /// Fan-outs of visible profile changes (name, status, photo) per person per hour; changes beyond it are
    /// coalesced into one fan-out at the end of the hour.
    pub profile_fanouts_per_hour: i64,
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
    /// SMS_MAX_PRICE: the most one SMS may cost, in US dollars (`0.50`); SNS sends none that would cost more.
    pub max_price: Option<String>,
}
impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The same rules over any source of variables, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let table_name = vars.required("TABLE_NAME")?;
        let secret = vars.required("OTP_HMAC_SECRET")?;
        let otp_secret = OtpSecret::new(secret.into_bytes())
            .ok_or_else(|| bad("OTP_HMAC_SECRET", format!("must be at least {} characters", OtpSecret::MIN_LEN)))?;
        let country = vars.text_or("DEFAULT_COUNTRY", || "US".into());
        let default_region = DefaultRegion::from_iso(&country)
            .ok_or_else(|| bad("DEFAULT_COUNTRY", format!("not an ISO 3166 region: {country}")))?;
        let allowed_regions = allowed_regions(&vars)?;
        let test_numbers = test_numbers(&vars, default_region)?;
        let app_name = vars.text_or("APP_NAME", || "Messenger".into());
        Ok(Self {
            table_name,
            otp_secret,
            default_region,
            allowed_regions,
            allowed_app_ids: vars.list("ALLOWED_APP_IDS"),
            otp_ttl_seconds: vars.number(OTP_TTL_SECONDS)?,
            max_verify_attempts: vars.number(VERIFY_ATTEMPTS)? as u32,
            send_policy: SendPolicy {
                resend_cooldown_seconds: vars.number(RESEND_COOLDOWN_SECONDS)?,
                max_sends_per_window: vars.number(MAX_SENDS_PER_WINDOW)? as u32,
                send_window_seconds: vars.number(SEND_WINDOW_SECONDS)?,
            },
            token_ttl_days: vars.number(TOKEN_TTL_DAYS)?,
            test_numbers,
            sms: SmsConfig {
                template: vars.text_or("SMS_TEMPLATE", || "Your {app} code is {code}. Do not share it.".into()),
                sender_id: vars.text("SMS_SENDER_ID"),
                otp_domain: vars.text("OTP_DOMAIN"),
                max_price: sms_max_price(&vars)?,
            },
            profile_urls: profile_urls(&vars, &app_name),
            contacts: ContactsConfig {
                max_phones_per_request: vars.number(MAX_PHONES_PER_REQUEST)? as usize,
                lookup_budget: vars.number(CONTACT_LOOKUP_BUDGET)?,
                lookup_window_days: vars.number(CONTACT_LOOKUP_WINDOW_DAYS)?,
                retention: Retention::new(vars.number(NONUSER_CONTACT_DAYS)?),
                events_topic_arn: vars.text("CONTACT_EVENTS_TOPIC_ARN"),
                push_apps: PushApps {
                    apns: vars.text("PUSH_APNS_APPLICATION_ARN"),
                    apns_sandbox: vars.text("PUSH_APNS_SANDBOX_APPLICATION_ARN"),
                    fcm: vars.text("PUSH_FCM_APPLICATION_ARN"),
                },
                max_devices_per_user: vars.number(MAX_DEVICES_PER_USER)? as usize,
                fanout_queue_url: vars.text("FANOUT_QUEUE_URL"),
                fanout_page_size: vars.number(FANOUT_PAGE_SIZE)? as usize,
                profile_fanouts_per_hour: vars.number(PROFILE_FANOUTS_PER_HOUR)?,
            },
            max_group_members: vars.number(MAX_GROUP_MEMBERS)? as usize,
            abuse: AbuseLimits {
                ip_code_requests_per_hour: vars.number(IP_CODE_REQUESTS_PER_HOUR)?,
                ip_failed_verifies_per_hour: vars.number(IP_FAILED_VERIFIES_PER_HOUR)?,
                number_failed_verifies_per_day: vars.number(NUMBER_FAILED_VERIFIES_PER_DAY)?,
                sms_hourly_limit_per_country: vars.number(SMS_HOURLY_LIMIT_PER_COUNTRY)?,
                sms_daily_budget: vars.number(SMS_DAILY_BUDGET)?,
                uploads_per_hour: vars.number(UPLOADS_PER_HOUR)?,
                downloads_per_file_per_hour: vars.number(DOWNLOADS_PER_FILE_PER_HOUR)?,
                contact_syncs_per_hour: vars.number(CONTACT_SYNCS_PER_HOUR)?,
                contact_writes_per_day: vars.number(CONTACT_WRITES_PER_DAY)?,
                groups_per_day: vars.number(GROUPS_PER_DAY)?,
                group_member_adds_per_day: vars.number(GROUP_MEMBER_ADDS_PER_DAY)?,
                group_notices_per_day: vars.number(GROUP_NOTICES_PER_DAY)?,
            },
            mesibo: mesibo(&vars)?,
            files: files(&vars)?,
            metrics_namespace: metrics_namespace(&vars)?,
            front_door: front_door(&vars)?,
            app_name,
        })
    }

    /// mesibo mode: users, groups and notifications are mirrored at mesibo, and sign-in hands out mesibo's tokens.
    pub fn mesibo_mode(&self) -> bool {
        self.mesibo.app_token.is_some()
    }

    /// News also goes to the apps as mesibo messages (`MESIBO_NOTICES=legacy`), so the notifier records what it
    /// tells for the mesibo sync. The notifier reads no mesibo secret, so it cannot tell the modes apart: the
    /// template sets `MESIBO_NOTICES` to `off` unless in mesibo mode.
    pub fn mesibo_notices(&self) -> bool {
        self.mesibo.notices == MesiboNotices::Legacy
    }

    /// Whether this number's region may sign in (non-geographic numbers belong to none listed).
    pub fn allows_region_of(&self, phone: &PhoneNumber) -> bool {
        self.allowed_regions.is_empty() || phone.region().is_some_and(|region| self.allowed_regions.contains(&region))
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
        assert_eq!((c.otp_ttl_seconds, c.max_verify_attempts, c.send_policy.resend_cooldown_seconds), (600, 5, 30));
        let policy = c.send_policy;
        assert_eq!((policy.max_sends_per_window, policy.send_window_seconds, c.token_ttl_days), (5, 600, 365));
        assert!(c.allows_region_of(&phone("+919876543210")) && c.allows_app_id(None));
    }

    #[test]
    fn group_limits_default_to_20_groups_500_adds_and_20000_notices_a_day() {
        let abuse = config(&[]).unwrap().abuse;
        assert_eq!(
            (abuse.groups_per_day, abuse.group_member_adds_per_day, abuse.group_notices_per_day),
            (20, 500, 20_000)
        );
        assert_eq!(config(&[("GROUPS_PER_DAY", "0")]).unwrap_err().name, "GROUPS_PER_DAY");
    }

    #[test]
    fn metrics_go_to_the_namespace_named_and_never_to_one_cloudwatch_rejects() {
        assert_eq!(config(&[]).unwrap().metrics_namespace, "Messenger");
        assert_eq!(config(&[("METRICS_NAMESPACE", "messenger-prod")]).unwrap().metrics_namespace, "messenger-prod");
        let too_long = "n".repeat(256);
        for wrong in ["AWS/Lambda", "sms\"budget", "über", too_long.as_str()] {
            assert_eq!(config(&[("METRICS_NAMESPACE", wrong)]).unwrap_err().name, "METRICS_NAMESPACE", "{wrong}");
        }
    }

    #[test]
    fn failures_name_the_variable() {
        assert_eq!(config(&[("OTP_TTL_SECONDS", "601")]).unwrap_err().name, "OTP_TTL_SECONDS");
        assert_eq!(config(&[("OTP_HMAC_SECRET", "short")]).unwrap_err().name, "OTP_HMAC_SECRET");
        assert_eq!(config(&[("DEFAULT_COUNTRY", "XX")]).unwrap_err().name, "DEFAULT_COUNTRY");
        assert_eq!(config(&[("ALLOWED_COUNTRY_CODES", "1,abc")]).unwrap_err().name, "ALLOWED_COUNTRY_CODES");
        assert_eq!(config(&[("ALLOWED_COUNTRY_CODES", "800")]).unwrap_err().name, "ALLOWED_COUNTRY_CODES");
        for regions in ["US,XX", "USA", "001", "US,ZZ", "1"] {
            assert_eq!(config(&[("ALLOWED_REGIONS", regions)]).unwrap_err().name, "ALLOWED_REGIONS", "{regions}");
        }
        assert_eq!(config(&[("TEST_NUMBERS", "+12015550100:12")]).unwrap_err().name, "TEST_NUMBERS");
        let eleven: Vec<String> = (0..11).map(|i| format!("+1201555{:04}:123456", 100 + i)).collect();
        assert_eq!(config(&[("TEST_NUMBERS", &eleven.join(","))]).unwrap_err().name, "TEST_NUMBERS");
        assert!(Config::from_lookup(|_| None).is_err());
    }

    #[test]
    fn the_lookup_budget_is_capped_so_a_day_of_it_fits_one_item() {
        assert_eq!(config(&[("CONTACT_LOOKUP_BUDGET", "30000")]).unwrap().contacts.lookup_budget, 30_000);
        assert_eq!(config(&[("CONTACT_LOOKUP_BUDGET", "30001")]).unwrap_err().name, "CONTACT_LOOKUP_BUDGET");
    }

    #[test]
    fn mesibo_mode_needs_a_token_and_an_address_that_keeps_it_secret() {
        let standalone = config(&[]).unwrap();
        assert!(!standalone.mesibo_mode() && standalone.mesibo.api_url == DEFAULT_MESIBO_API_URL);
        let on = config(&[("MESIBO_APP_TOKEN", "t0k3n")]).unwrap();
        assert!(on.mesibo_mode() && !format!("{on:?}").contains("t0k3n"));
        for url in ["http://api.mesibo.com/backend/", "ftp://x/", "https://", "not a url"] {
            assert_eq!(config(&[("MESIBO_API_URL", url)]).unwrap_err().name, "MESIBO_API_URL", "{url}");
        }
        assert!(config(&[("MESIBO_API_URL", "http://127.0.0.1:8080/backend/")]).is_ok());
        assert!(config(&[("MESIBO_API_URL", "https://mesibo.internal.example/api.php")]).is_ok());
        assert_eq!(config(&[("MESIBO_TIMEOUT_MS", "6000")]).unwrap_err().name, "MESIBO_TIMEOUT_MS");
        assert_eq!(config(&[]).unwrap().mesibo.notices, MesiboNotices::Legacy);
        assert_eq!(config(&[("MESIBO_NOTICES", "off")]).unwrap().mesibo.notices, MesiboNotices::Off);
        assert_eq!(config(&[("MESIBO_NOTICES", "chat")]).unwrap_err().name, "MESIBO_NOTICES");
    }

    #[test]
    fn every_region_is_said_with_a_star_and_the_sms_price_cap_is_a_dollar_amount() {
        assert!(config(&[("ALLOWED_REGIONS", "*")]).unwrap().allowed_regions.is_empty());
        assert_eq!(config(&[("ALLOWED_REGIONS", "US,CA")]).unwrap().allowed_regions.len(), 2);
        assert_eq!(config(&[("SMS_MAX_PRICE", "0.50")]).unwrap().sms.max_price.as_deref(), Some("0.50"));
        assert_eq!(config(&[]).unwrap().sms.max_price, None);
        for bad in ["0", "-1", "abc", "0.123456", "1e3", ".5", "1000"] {
            assert_eq!(config(&[("SMS_MAX_PRICE", bad)]).unwrap_err().name, "SMS_MAX_PRICE", "{bad}");
        }
    }

    #[test]
    fn lists_are_parsed() {
        let c = config(&[
            ("ALLOWED_REGIONS", "us, IN"),
            ("ALLOWED_APP_IDS", "a,b"),
            ("TEST_NUMBERS", "+12015550100:428913"),
        ])
        .unwrap();
        assert!(c.allows_region_of(&phone("+12015550123")) && c.allows_region_of(&phone("+919876543210")));
        assert!(!c.allows_region_of(&phone("+447400123456")) && !c.allows_region_of(&phone("+18762101234")));
        assert!(c.allows_app_id(Some("b")) && !c.allows_app_id(Some("c")) && !c.allows_app_id(None));
        assert_eq!(c.test_numbers.values().next().unwrap().as_str(), "428913");
    }

    #[test]
    fn the_deprecated_calling_codes_mean_every_region_of_each_and_lose_to_allowed_regions() {
        let old = config(&[("ALLOWED_COUNTRY_CODES", "+1, 91")]).unwrap();
        for number in ["+12015550123", "+18762101234", "+14165550123", "+919876543210"] {
            assert!(old.allows_region_of(&phone(number)), "{number}");
        }
        assert!(!old.allows_region_of(&phone("+447400123456")));
        let both = config(&[("ALLOWED_COUNTRY_CODES", "1"), ("ALLOWED_REGIONS", "GB")]).unwrap();
        assert!(both.allows_region_of(&phone("+447400123456")) && !both.allows_region_of(&phone("+12015550123")));
    }

    #[test]
    fn the_front_door_is_off_unless_its_secret_is_set_and_long_enough() {
        assert!(config(&[]).unwrap().front_door.is_none());
        assert!(config(&[("FRONT_DOOR_SECRET", "")]).unwrap().front_door.is_none());
        let on = config(&[("FRONT_DOOR_SECRET", &"s3cr3t".repeat(6))]).unwrap();
        assert!(on.front_door.is_some_and(|secret| secret.matches(&"s3cr3t".repeat(6))));
        assert_eq!(config(&[("FRONT_DOOR_SECRET", "short")]).unwrap_err().name, "FRONT_DOOR_SECRET");
        assert!(!format!("{:?}", config(&[("FRONT_DOOR_SECRET", &"s3cr3t".repeat(6))])).contains("s3cr3t"));
    }

    fn phone(e164: &str) -> PhoneNumber {
        PhoneNumber::parse(e164, DefaultRegion::from_iso("US").unwrap()).unwrap()
    }
}
