//! The settings each function reads: its operations' (an HTTP function) or its own (a stream function). It is given
//! these and reads no others, and `template.yaml` sets exactly these for it (a contract test checks both).

use std::collections::BTreeSet;

use super::routes::Operation;

/// Every function that reads the configuration: the table, the key of keyed names, where metrics go.
const EVERY_FUNCTION: &[&str] = &["TABLE_NAME", "OTP_SECRET_ARN", "METRICS_NAMESPACE"];
/// Every request, whatever its operation: the front door's secret, how numbers are read, the links a reply carries.
const EVERY_REQUEST: &[&str] = &[
    "FRONT_DOOR_SECRET_ARN",
    "DEFAULT_COUNTRY",
    "APP_NAME",
    "FILES_BUCKET",
    "UPLOAD_URL",
    "DOWNLOAD_URL",
    "FILE_URL",
    "INVITE_TEXT",
    "SHARE_SUBJECT",
    "SHARE_TITLE",
];
/// Who may sign in, and the keys of code digests.
const SIGN_IN_RULES: &[&str] = &["ALLOWED_APP_IDS", "ALLOWED_REGIONS", "ALLOWED_COUNTRY_CODES", "CODE_KEY_SECRET_ARN"];
/// Sending a code: the test numbers (in the app secrets), the send policy, the SMS and its limits.
const SENDING_CODES: &[&str] = &[
    "APP_SECRETS_ARN",
    "OTP_TTL_SECONDS",
    "RESEND_COOLDOWN_SECONDS",
    "MAX_SENDS_PER_WINDOW",
    "SEND_WINDOW_SECONDS",
    "SMS_TEMPLATE",
    "SMS_SENDER_ID",
    "SMS_MAX_PRICE",
    "OTP_DOMAIN",
    "IP_CODE_REQUESTS_PER_HOUR",
    "NUMBER_FAILED_VERIFIES_PER_DAY",
    "SMS_HOURLY_LIMIT_PER_COUNTRY",
    "SMS_DAILY_BUDGET",
];
/// Checking a code (signing in, deleting the account): the keys and the limits on wrong guesses.
const CHECKING_CODES: &[&str] =
    &["CODE_KEY_SECRET_ARN", "MAX_VERIFY_ATTEMPTS", "IP_FAILED_VERIFIES_PER_HOUR", "NUMBER_FAILED_VERIFIES_PER_DAY"];
/// Calls to mesibo's backend API (mesibo mode).
const MESIBO: &[&str] = &["MESIBO_API_URL", "MESIBO_APP_TOKEN_SECRET_ARN", "MESIBO_TIMEOUT_MS"];
/// Address-book uploads and deletions.
const ADDRESS_BOOK: &[&str] = &["MAX_PHONES_PER_REQUEST", "CONTACT_SYNCS_PER_HOUR", "CONTACT_WRITES_PER_DAY"];
/// A photo stored (a profile's or a group's) or a file uploaded.
const UPLOADS: &[&str] = &["UPLOADS_PER_HOUR"];
/// Members named by a request, and admitted to a group.
const GROUP_MEMBERS: &[&str] = &["MAX_GROUP_MEMBERS", "GROUP_MEMBER_ADDS_PER_DAY", "GROUP_NOTICES_PER_DAY"];
/// Devices registered for push.
const PUSH: &[&str] = &[
    "PUSH_APNS_APPLICATION_ARN",
    "PUSH_APNS_SANDBOX_APPLICATION_ARN",
    "PUSH_FCM_APPLICATION_ARN",
    "MAX_DEVICES_PER_USER",
];
/// Telling people the news (the notifier and the fan-out function).
const NEWS: &[&str] = &[
    "CONTACT_EVENTS_TOPIC_ARN",
    "FANOUT_QUEUE_URL",
    "FANOUT_PAGE_SIZE",
    "PROFILE_FANOUTS_PER_HOUR",
    "MAX_DEVICES_PER_USER",
    "MESIBO_NOTICES",
];

/// A setting kept in Secrets Manager is named by the variable of its secret; locally (`make dev`, tests) its value
/// may stand in the environment instead, under these names (as `crate::app::config_with_secret_settings` reads it).
const SECRET_STAND_INS: &[(&str, &[&str])] = &[
    ("OTP_SECRET_ARN", &["OTP_HMAC_SECRET"]),
    ("FRONT_DOOR_SECRET_ARN", &["FRONT_DOOR_SECRET"]),
    ("MESIBO_APP_TOKEN_SECRET_ARN", &["MESIBO_APP_TOKEN"]),
    ("APP_SECRETS_ARN", &["TEST_NUMBERS", "GOOGLE_API_KEY"]),
];

/// The environment variables one function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings(BTreeSet<&'static str>);

impl Settings {
    /// An HTTP function's: those of the operations it serves.
    pub fn served_by(operations: &[Operation]) -> Self {
        let mut names = Self::of(&[EVERY_FUNCTION, EVERY_REQUEST]);
        for operation in operations {
            let stands_for = match operation {
                Operation::MesiboApi => Operation::ALL,
                _ => std::slice::from_ref(operation),
            };
            for operation in stands_for {
                names.0.extend(Self::of(operation_settings(*operation)).0);
            }
        }
        names
    }

    /// The notifier's and the fan-out function's: the table's news, told.
    pub fn news() -> Self {
        Self::of(&[EVERY_FUNCTION, NEWS])
    }

    /// The backfill's: the table, the key of keyed names, and the retention it gives the entries it rewrites.
    pub fn backfill() -> Self {
        Self::of(&[EVERY_FUNCTION, &["NONUSER_CONTACT_DAYS"]])
    }

    /// The mesibo sync's: users, groups and notices mirrored at mesibo (a notice names the app).
    pub fn mesibo_sync() -> Self {
        Self::of(&[EVERY_FUNCTION, MESIBO, &["MESIBO_NOTICES", "APP_NAME"]])
    }

    fn of(groups: &[&[&'static str]]) -> Self {
        Self(groups.iter().flat_map(|group| group.iter().copied()).collect())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().copied()
    }

    /// `env` as this function sees it: the variables it reads (and the local stand-ins of its secrets), none other.
    /// Deployed, the template sets no other; locally (`make dev`, the tests) it is how a function runs as deployed.
    pub fn only<'a>(&'a self, env: impl Fn(&str) -> Option<String> + 'a) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| self.reads(name).then(|| env(name)).flatten()
    }

    fn reads(&self, name: &str) -> bool {
        self.0.contains(name)
            || SECRET_STAND_INS.iter().any(|(secret, values)| self.0.contains(secret) && values.contains(&name))
    }
}

/// What an operation reads beyond what every request does.
fn operation_settings(operation: Operation) -> &'static [&'static [&'static str]] {
    match operation {
        Operation::Login => &[SIGN_IN_RULES, SENDING_CODES],
        Operation::Verify => &[SIGN_IN_RULES, CHECKING_CODES, MESIBO, &["TOKEN_TTL_DAYS"]],
        Operation::GetContacts => {
            &[ADDRESS_BOOK, &["CONTACT_LOOKUP_BUDGET", "CONTACT_LOOKUP_WINDOW_DAYS", "NONUSER_CONTACT_DAYS"]]
        }
        Operation::DelContacts => &[ADDRESS_BOOK],
        Operation::Profile => &[UPLOADS],
        Operation::Logout => &[MESIBO],
        Operation::DeleteAccount => &[CHECKING_CODES],
        Operation::SetNotify => &[PUSH],
        // The limits in force, as the operations that take them count them.
        Operation::Export => &[ADDRESS_BOOK, UPLOADS, GROUP_MEMBERS, &["GROUPS_PER_DAY"]],
        Operation::SetGroup => &[GROUP_MEMBERS, UPLOADS, MESIBO, &["GROUPS_PER_DAY"]],
        Operation::EditMembers | Operation::SetAdmin => &[GROUP_MEMBERS],
        Operation::GetGroup | Operation::DelGroup => &[],
        Operation::Download => &[&["DOWNLOADS_PER_FILE_PER_HOUR"]],
        // A group's photo is a change of the group, within the day's group notices.
        Operation::Upload => &[UPLOADS, GROUP_MEMBERS, &["MAX_UPLOAD_BYTES"]],
        // api.php: every operation behind one route (its login also hands out the maps key, an app secret).
        Operation::MesiboApi => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_php_reads_what_every_operation_it_stands_for_reads() {
        let api_php = Settings::served_by(&[Operation::MesiboApi]);
        assert_eq!(api_php, Settings::served_by(Operation::ALL));
        assert!(
            api_php.reads("GOOGLE_API_KEY") && api_php.reads("MAX_UPLOAD_BYTES") && api_php.reads("TOKEN_TTL_DAYS")
        );
    }

    /// What the tests' per-operation apps cannot show (they start without Secrets Manager): the secrets each
    /// operation reads at start, as the permissions test sees them deployed.
    #[test]
    fn the_operations_that_check_codes_or_call_mesibo_read_their_secrets() {
        for checks_codes in [Operation::Login, Operation::Verify, Operation::DeleteAccount] {
            assert!(Settings::served_by(&[checks_codes]).reads("CODE_KEY_SECRET_ARN"), "{checks_codes:?}");
        }
        for calls_mesibo in [Operation::Verify, Operation::Logout, Operation::SetGroup] {
            assert!(Settings::served_by(&[calls_mesibo]).reads("MESIBO_APP_TOKEN_SECRET_ARN"), "{calls_mesibo:?}");
        }
        assert!(Settings::mesibo_sync().reads("MESIBO_APP_TOKEN_SECRET_ARN"));
        assert!(!Settings::served_by(&[Operation::Verify]).reads("APP_SECRETS_ARN"), "test numbers only send codes");
    }

    #[test]
    fn a_function_sees_only_its_settings_and_the_stand_ins_of_its_secrets() {
        let login = Settings::served_by(&[Operation::Login]);
        let env = login.only(|name| Some(format!("{name}-value")));
        assert_eq!(env("SMS_TEMPLATE").as_deref(), Some("SMS_TEMPLATE-value"));
        assert_eq!(env("TEST_NUMBERS").as_deref(), Some("TEST_NUMBERS-value"), "in the app secrets login reads");
        assert_eq!(env("OTP_HMAC_SECRET").as_deref(), Some("OTP_HMAC_SECRET-value"));
        assert_eq!(env("MESIBO_APP_TOKEN"), None, "login never calls mesibo");
        assert_eq!(env("GROUPS_PER_DAY"), None);
        assert_eq!(Settings::news().only(|_| Some("x".into()))("FRONT_DOOR_SECRET_ARN"), None);
    }
}
