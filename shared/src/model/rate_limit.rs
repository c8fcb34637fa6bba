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
//!
//! The SMS limits every new number shares (its country's cap, the deployment's budgets) are split over up to
//! [`MAX_SHARDS`] counter items, [`RateLimit::shards`]: one item takes at most 1000 WCU/s, and a counted send is two
//! of them (it is a transaction step), so one unsplit counter would cap sign-ins at 500/s (docs/SCALE.md). The
//! shards' ceilings add up to the limit exactly, so the split never lets more through; what it can do is refuse
//! early, which the store bounds (`adapters::dynamodb::rate_limits`).

use super::client_address::ClientAddress;
use super::clock::Timestamp;
use super::phone::PhoneNumber;
use super::secrets::{OtpSecret, fingerprint, keyed_name};

const HOUR: i64 = 3600;
/// Of the daily SMS budget, what codes to numbers without an account may spend.
const NEW_NUMBERS_SHARE_PERCENT: i64 = 80;
const DAY: i64 = 86_400;
/// `/export`s per person per clock hour: a person asks for their data now and then, never in a loop.
pub const EXPORTS_PER_HOUR: i64 = 5;
/// The most items one limit is split over: 32 × 500 counted sends/s = 16,000 sign-ins/s (docs/SCALE.md).
pub const MAX_SHARDS: u32 = 32;
/// The least a shard holds: a limit of 50 is split in 5, one of 10 not at all. Below that, a send near the limit
/// would find most shards full and pay a re-read more often than the split saves.
const LEAST_PER_SHARD: i64 = 10;

/// The configured ceilings (IP_CODE_REQUESTS_PER_HOUR, …).
#[derive(Clone, Debug)]
pub struct AbuseLimits {
    pub ip_code_requests_per_hour: i64,
    pub ip_failed_verifies_per_hour: i64,
    pub number_failed_verifies_per_day: i64,
    pub sms_hourly_limit_per_country: i64,
    pub sms_daily_budget: i64,
    pub uploads_per_hour: i64,
    pub downloads_per_file_per_hour: i64,
    pub contact_syncs_per_hour: i64,
    pub contact_writes_per_day: i64,
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
    /// How many counter items share `max` ([`RateLimit::shard_max`]); 1 for a limit of one person or address.
    pub shards: u32,
}

impl RateLimit {
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now - now.rem_euclid(self.window_seconds)
    }

    /// What is limited, without whose it is (for logs): `ip-codes`, `country-sms`, …
    pub fn kind(&self) -> &str {
        self.subject.split('#').next().unwrap_or_default()
    }

    /// A limit of one subject, counted in one item.
    fn single(subject: String, window_seconds: i64, max: i64) -> Self {
        Self { subject, window_seconds, max, shards: 1 }
    }

    /// A limit many requests share at once, split so that no item takes more than its share of them.
    fn split(subject: String, window_seconds: i64, max: i64) -> Self {
        let shards = (max / LEAST_PER_SHARD).clamp(1, MAX_SHARDS.into()) as u32;
        Self { subject, window_seconds, max, shards }
    }

    /// The ceiling of shard `shard`: `max` spread as evenly as it goes, the remainder on the first shards, so the
    /// ceilings add up to `max` exactly.
    pub fn shard_max(&self, shard: u32) -> i64 {
        let shards = i64::from(self.shards);
        self.max / shards + i64::from(i64::from(shard) < self.max % shards)
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
        Self::single(
            format!("ip-codes#{}", keyed_name(secret, "ip", address.bucket())),
            HOUR,
            limits.ip_code_requests_per_hour,
        )
    }

    pub fn ip_failed_verifies(limits: &AbuseLimits, secret: &OtpSecret, address: &ClientAddress) -> Self {
        Self::single(
            format!("ip-failures#{}", keyed_name(secret, "ip", address.bucket())),
            HOUR,
            limits.ip_failed_verifies_per_hour,
        )
    }

    pub fn number_failed_verifies(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(
            format!("number-failures#{}", keyed_name(secret, "phone", phone.e164())),
            DAY,
            limits.number_failed_verifies_per_day,
        )
    }

    /// Once a number's failures of the day reach their limit: one code an hour, so its owner can still sign in
    /// while a guesser gets at most one code's attempts an hour.
    pub fn codes_of_a_guessed_number(secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(format!("guessed-number-codes#{}", keyed_name(secret, "phone", phone.e164())), HOUR, 1)
    }

    pub fn country_sms(limits: &AbuseLimits, calling_code: u16) -> Self {
        Self::split(format!("country-sms#{calling_code}"), HOUR, limits.sms_hourly_limit_per_country)
    }

    pub fn uploads(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(format!("uploads#{}", keyed_name(secret, "phone", phone.e164())), HOUR, limits.uploads_per_hour)
    }

    /// Downloads of one stored file (`DOWNLOADS_PER_FILE_PER_HOUR`), by a fingerprint of its name: the links are
    /// public (the apps fetch them without a token), so this bounds what one file can cost in egress an hour.
    pub fn downloads(limits: &AbuseLimits, name: &str) -> Self {
        let subject = format!("downloads#{}", fingerprint(name.as_bytes()));
        Self::split(subject, HOUR, limits.downloads_per_file_per_hour)
    }

    /// One person's `getcontacts` and `delcontacts` requests (each reads up to a whole upload's profiles).
    pub fn contact_syncs(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        let subject = format!("contact-syncs#{}", keyed_name(secret, "phone", phone.e164()));
        Self::single(subject, HOUR, limits.contact_syncs_per_hour)
    }

    /// Address-book entries one person writes (added, removed by `reset` or `delcontacts`).
    pub fn contact_writes(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        let subject = format!("contact-writes#{}", keyed_name(secret, "phone", phone.e164()));
        Self::single(subject, DAY, limits.contact_writes_per_day)
    }

    /// Fan-outs of one person's visible profile changes (`PROFILE_FANOUTS_PER_HOUR`), by their E.164 number. Not a
    /// refusal: the change is stored and seen by those who sync; only its telling is coalesced (usecase::notify).
    pub fn profile_fanouts(max_per_hour: i64, secret: &OtpSecret, e164: &str) -> Self {
        Self::single(format!("profile-fanouts#{}", keyed_name(secret, "phone", e164)), HOUR, max_per_hour)
    }

    /// One person's copies of their own data (`/export`): reads all their items, so a few an hour is plenty.
    pub fn exports(secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(format!("exports#{}", keyed_name(secret, "phone", phone.e164())), HOUR, EXPORTS_PER_HOUR)
    }

    pub fn groups_created(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(format!("groups#{}", keyed_name(secret, "phone", phone.e164())), DAY, limits.groups_per_day)
    }

    pub fn group_member_adds(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(
            format!("group-adds#{}", keyed_name(secret, "phone", phone.e164())),
            DAY,
            limits.group_member_adds_per_day,
        )
    }

    /// The people one person's group changes reach (each is told by a `group_updated` event or mesibo message).
    pub fn group_notices(limits: &AbuseLimits, secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self::single(
            format!("group-notices#{}", keyed_name(secret, "phone", phone.e164())),
            DAY,
            limits.group_notices_per_day,
        )
    }

    pub fn sms_budget(limits: &AbuseLimits) -> Self {
        Self::split("sms-budget".into(), DAY, limits.sms_daily_budget)
    }

    /// The part of the daily budget that codes to numbers without an account may spend: the rest is kept for the
    /// people who already use the app, so a pumper who spends the budget by rotating countries cannot stop them too.
    pub fn sms_budget_for_new_numbers(limits: &AbuseLimits) -> Self {
        let share = limits.sms_daily_budget * NEW_NUMBERS_SHARE_PERCENT / 100;
        Self::split("sms-budget-new-numbers".into(), DAY, share.max(1))
    }

    /// Whether this is one of the deployment's daily SMS budgets (refused: 503 `SMSBUDGET`, not 429).
    pub fn is_sms_budget(&self) -> bool {
        self.kind().starts_with("sms-budget") && self.window_seconds == DAY
    }

    /// The once-an-hour marker for logging that the budget is spent.
    pub fn budget_alarm() -> Self {
        Self::single("sms-budget-alarm".into(), HOUR, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: i64) -> RateLimit {
        RateLimit::split("country-sms#91".into(), HOUR, max)
    }

    #[test]
    fn the_shards_ceilings_add_up_to_the_limit_exactly() {
        for max in [1, 9, 10, 50, 51, 199, 200, 1000, 1001, 100_000_000] {
            let limit = limit(max);
            let sum: i64 = (0..limit.shards).map(|shard| limit.shard_max(shard)).sum();
            assert_eq!(sum, max, "{max} over {} shards", limit.shards);
            let ceilings: Vec<i64> = (0..limit.shards).map(|shard| limit.shard_max(shard)).collect();
            assert!(ceilings.iter().max().unwrap() - ceilings.iter().min().unwrap() <= 1, "{ceilings:?}");
        }
    }

    #[test]
    fn small_limits_stay_in_one_item_and_large_ones_split_up_to_the_most() {
        assert_eq!([10, 19, 50, 200, 320, 1000, 100_000_000].map(|max| limit(max).shards), [1, 1, 5, 20, 32, 32, 32]);
        assert_eq!(limit(50).shard_max(4), 10);
    }
}
