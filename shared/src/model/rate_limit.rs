//! Abuse limits: fixed windows (an hour, a UTC day) per subject, kept in the table so they hold across every Lambda
//! instance (docs/SECURITY.md: what each stops).
//!
//! | limit                                   | default      | counted                          | answer                 |
//! |-----------------------------------------|--------------|----------------------------------|------------------------|
//! | code requests per source address        | 20 / hour    | every /login from that address   | 429 `RATELIMIT`        |
//! | failed verifies per source address      | 50 / hour    | each wrong code from that address| 429 `RATELIMIT`        |
//! | failed verifies per number, across codes| 100 / 24 h   | each wrong code for that number  | then 1 code / hour     |
//! | SMS per country calling code            | 200 / hour   | each SMS to a number without an account | 429 `RATELIMIT` |
//! | SMS per deployment                      | 1000 / day   | each SMS sent (UTC day)          | 503 `SMSBUDGET`        |
//! | … of which to numbers without an account| 80 %         | each SMS to such a number        | 503 `SMSBUDGET`        |
//! | uploads per user                        | 100 / hour   | each file stored or direct upload| 429 `RATELIMIT`        |
//! | groups created per user                 | 20 / day     | each group created (UTC day)     | 429 `RATELIMIT`        |
//! | group members added per user            | 500 / day    | each newcomer, taken per request | 429 `RATELIMIT`        |
//! | group notices caused per user           | 20,000 / day | each member a group change reaches | 429 `RATELIMIT`      |
//! | profile fan-outs per user               | 6 / hour     | each name/status/photo change told | coalesced (below)  |
//!
//! Profile fan-outs refuse nothing: the change is stored (and seen by whoever syncs); changes past the limit are
//! told once, as the profile then is, when the hour ends (usecase::notify).
//!
//! A source address is a [`ClientAddress`] bucket (an IPv6 /64; requests without one share a bucket). A number's
//! failures never refuse its owner's right code: they slow down new codes instead (one an hour once the day's
//! failures reach the limit), so an attacker cannot lock the owner out until midnight.
//!
//! Sends are counted in the same transaction that stores the code, so a send over any limit stores no code, sends
//! nothing and counts nothing. IPs and numbers appear in counters only as keyed HMACs. Test numbers send no SMS and
//! spend no SMS budget.

use super::client_address::ClientAddress;
use super::clock::Timestamp;
use super::phone::PhoneNumber;
use super::secrets::{OtpSecret, keyed_name};

const HOUR: i64 = 3600;
/// Of the daily SMS budget, what codes to numbers without an account may spend.
const NEW_NUMBERS_SHARE_PERCENT: i64 = 80;
const DAY: i64 = 86_400;

/// The configured ceilings (IP_CODE_REQUESTS_PER_HOUR, …).
#[derive(Clone, Debug)]
pub struct AbuseLimits {
    pub ip_code_requests_per_hour: i64,
    pub ip_failed_verifies_per_hour: i64,
    pub number_failed_verifies_per_day: i64,
    pub sms_hourly_limit_per_country: i64,
    pub sms_daily_budget: i64,
    pub uploads_per_hour: i64,
    pub groups_per_day: i64,
    pub group_member_adds_per_day: i64,
    pub group_notices_per_day: i64,
}

/// One limited thing: who or what is counted, in which window, up to how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// `ip-codes#<hmac>`, `country-sms#91`, …: the subject, already free of personal data in clear.
    pub subject: String,
    pub window_seconds: i64,
    pub max: i64,
}

impl RateLimit {
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now - now.rem_euclid(self.window_seconds)
    }

    /// What is limited, without whose it is (for logs): `ip-codes`, `country-sms`, …
    pub fn kind(&self) -> &str {
        self.subject.split('#').next().unwrap_or_default()
    }

    /// Seconds until the current window ends.
    pub fn retry_after(&self, now: Timestamp) -> u64 {
        (self.window_start(now) + self.window_seconds - now).max(1) as u64
    }

    /// When the counter of the current window may be dropped: one window after it ends.
    pub fn expires_at(&self, now: Timestamp) -> Timestamp {
        self.window_start(now) + 2 * self.window_seconds
    }

    pub fn ip_code_requests(limits: &AbuseLimits, secret: &OtpSecret, address: &ClientAddress) -> Self {
        Self {
            subject: format!("ip-codes#{}", keyed_name(secret, "ip", address.bucket())),
            window_seconds: HOUR,
            max: limits.ip_code_requests_per_hour,
        }
    }

    pub fn ip_failed_verifies(limits: &AbuseLimits, secret: &OtpSecret, address: &ClientAddress) -> Self {
        Self {
            subject: format!("ip-failures#{}", keyed_name(secret, "ip", address.bucket())),
            window_seconds: HOUR,
            max: limits.ip_failed_verifies_per_hour,
        }
    }

    pub fn number_failed_verifies(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("number-failures#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: DAY,
            max: limits.number_failed_verifies_per_day,
        }
    }

    /// Once a number's failures of the day reach their limit: one code an hour, so its owner can still sign in
    /// while a guesser gets at most one code's attempts an hour.
    pub fn codes_of_a_guessed_number(secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("guessed-number-codes#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: HOUR,
            max: 1,
        }
    }

    pub fn country_sms(limits: &AbuseLimits, calling_code: u16) -> Self {
        Self {
            subject: format!("country-sms#{calling_code}"),
            window_seconds: HOUR,
            max: limits.sms_hourly_limit_per_country,
        }
    }

    pub fn uploads(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("uploads#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: HOUR,
            max: limits.uploads_per_hour,
        }
    }

    /// Fan-outs of one person's visible profile changes (`PROFILE_FANOUTS_PER_HOUR`), by their E.164 number. Not a
    /// refusal: the change is stored and seen by those who sync; only its telling is coalesced (usecase::notify).
    pub fn profile_fanouts(max_per_hour: i64, secret: &OtpSecret, e164: &str) -> Self {
        let subject = format!("profile-fanouts#{}", keyed_name(secret, "phone", e164));
        Self { subject, window_seconds: HOUR, max: max_per_hour }
    }

    pub fn groups_created(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("groups#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: DAY,
            max: limits.groups_per_day,
        }
    }

    pub fn group_member_adds(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("group-adds#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: DAY,
            max: limits.group_member_adds_per_day,
        }
    }

    /// The people one person's group changes reach (each is told by a `group_updated` event or mesibo message).
    pub fn group_notices(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self {
            subject: format!("group-notices#{}", keyed_name(secret, "phone", phone.e164())),
            window_seconds: DAY,
            max: limits.group_notices_per_day,
        }
    }

    pub fn sms_budget(limits: &AbuseLimits) -> Self {
        Self { subject: "sms-budget".into(), window_seconds: DAY, max: limits.sms_daily_budget }
    }

    /// The part of the daily budget that codes to numbers without an account may spend: the rest is kept for the
    /// people who already use the app, so a pumper who spends the budget by rotating countries cannot stop them too.
    pub fn sms_budget_for_new_numbers(limits: &AbuseLimits) -> Self {
        let share = limits.sms_daily_budget * NEW_NUMBERS_SHARE_PERCENT / 100;
        Self { subject: "sms-budget-new-numbers".into(), window_seconds: DAY, max: share.max(1) }
    }

    /// Whether this is one of the deployment's daily SMS budgets (refused: 503 `SMSBUDGET`, not 429).
    pub fn is_sms_budget(&self) -> bool {
        self.kind().starts_with("sms-budget") && self.window_seconds == DAY
    }

    /// The once-an-hour marker for logging that the budget is spent.
    pub fn budget_alarm() -> Self {
        Self { subject: "sms-budget-alarm".into(), window_seconds: HOUR, max: 1 }
    }
}
