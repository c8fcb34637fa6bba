//! Address books without readable numbers. An entry, and its line in the index of who has a number, is named by a
//! keyed hash of the number ([`ContactKey`]); only a contact who is a user has her number beside it (the apps need
//! it, and her profile holds it anyway). A number that never signed up is in the table only as a keyed hash, which
//! says nothing without the deployment secret, and its entries expire ([`Retention`]) unless synced again.
//!
//! Tables written before keyed names hold entries named by the number itself ([`EntryName::Plain`]): they are read
//! as ever until the backfill (`usecase::backfill`) rewrites them.

use super::clock::Timestamp;
use super::secrets::{OtpSecret, keyed_name};

const DAY: i64 = 86_400;
/// What keeps a contact's keyed name apart from the deployment secret's other keyed names (limits, quotas, bars).
const CONTACT_KEY_LABEL: &str = "contact";

/// A number's name in address books: HMAC-SHA256 of the E.164 number under the deployment secret, 128 bits, hex.
/// With the secret it can be checked against every number of a country in hours (the number space is small);
/// without it, nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey(String);

impl ContactKey {
    pub fn of(secret: &OtpSecret, e164: &str) -> Self {
        Self(keyed_name(secret, CONTACT_KEY_LABEL, e164))
    }

    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number as the graph is asked about it: the number and its keyed name (both, while entries stored before keyed
/// names may remain: they are found under the number itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedNumber {
    pub e164: String,
    pub key: ContactKey,
}

impl NamedNumber {
    pub fn new(secret: &OtpSecret, e164: &str) -> Self {
        Self { e164: e164.to_owned(), key: ContactKey::of(secret, e164) }
    }

    /// Both names an entry of the number may be stored under: its key, and (before the backfill) the number itself.
    pub fn names(&self) -> [EntryName; 2] {
        [EntryName::Keyed(self.key.clone()), EntryName::Plain(self.e164.clone())]
    }
}

/// What an entry is stored under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryName {
    Keyed(ContactKey),
    /// The number itself: an entry written before keyed names, until the backfill rewrites it.
    Plain(String),
}

/// An address-book entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookEntry {
    pub name: EntryName,
    /// The contact's number, kept only while she is a user.
    pub user: Option<String>,
    /// When DynamoDB's TTL removes it: set for numbers that are not users (unless retention is off).
    pub expires_at: Option<Timestamp>,
    pub added_at: Timestamp,
    /// When the notifier marked the entry a user's (she joined after it was stored): from then on the owner's delta
    /// tells of her, however late the mark came after her profile.
    pub joined_at: Option<Timestamp>,
}

impl BookEntry {
    /// The key of its number under `secret`: from the number where the entry says it (so an entry named under an
    /// earlier secret matches its number's key under this one), else its stored name.
    pub fn key(&self, secret: &OtpSecret) -> ContactKey {
        match &self.name {
            EntryName::Plain(e164) => ContactKey::of(secret, e164),
            EntryName::Keyed(key) => {
                self.user.as_deref().map_or_else(|| key.clone(), |e164| ContactKey::of(secret, e164))
            }
        }
    }

    /// Whether it is stored under another name than `key`: the old shape, or named under an earlier secret.
    pub fn named_otherwise(&self, key: &ContactKey) -> bool {
        self.name != EntryName::Keyed(key.clone())
    }

    /// The number, where the entry may say it: a user's, or one stored before keyed names.
    pub fn number(&self) -> Option<&str> {
        match &self.name {
            EntryName::Plain(e164) => Some(e164),
            EntryName::Keyed(_) => self.user.as_deref(),
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self.name, EntryName::Plain(_))
    }
}

/// An entry to write, always under the keyed name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub key: ContactKey,
    pub user: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub added_at: Timestamp,
}

/// How long the entries of numbers that are not users are kept (`NONUSER_CONTACT_DAYS`; 0 keeps them). A sync that
/// names the number again starts the time anew, but rewrites an entry at most once a [`Retention::refresh_step`],
/// so that apps which sync the whole book often do not rewrite it each time: an entry expires between
/// `days` − one step and `days` after the last sync that named it. A user's entry never expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    days: i64,
}

impl Retention {
    pub fn new(days: i64) -> Self {
        Self { days: days.max(0) }
    }

    /// When an entry of a number that is not a user, written at `now`, expires (`None`: kept).
    pub fn expiry(&self, now: Timestamp) -> Option<Timestamp> {
        (self.days > 0).then(|| now + self.days * DAY)
    }

    /// At most a week, and at most half the retention.
    pub fn refresh_step(&self) -> i64 {
        (7 * DAY).min(self.days * DAY / 2)
    }

    /// The entry of `key` as it should be written now: with the number and no expiry for a user, else without the
    /// number and with the retention's expiry.
    pub fn entry(&self, key: ContactKey, user: Option<&str>, added_at: Timestamp, now: Timestamp) -> NewEntry {
        let expires_at = if user.is_some() { None } else { self.expiry(now) };
        NewEntry { key, user: user.map(str::to_owned), expires_at, added_at }
    }

    /// Whether a sync that names `entry`'s number again (`user`: her number, if she is a user) rewrites it: an entry
    /// of the old shape, one whose user has joined or left since, or one whose expiry is a refresh step behind.
    pub fn resync_rewrites(&self, entry: &BookEntry, user: Option<&str>, now: Timestamp) -> bool {
        if entry.is_plain() {
            return true;
        }
        match user {
            Some(number) => entry.user.as_deref() != Some(number) || entry.expires_at.is_some(),
            None => {
                entry.user.is_some()
                    || match (self.expiry(now), entry.expires_at) {
                        (None, kept) => kept.is_some(),
                        (Some(_), None) => true,
                        (Some(due), Some(at)) => at <= due - self.refresh_step(),
                    }
            }
        }
    }

    /// Whether the backfill rewrites `entry` (`user`: the number of its contact if she is a user, as far as the
    /// entry can tell): the old shape, a number that is no user any more, an entry named under another secret, or
    /// a non-user's entry without the expiry retention now asks for. It never extends an expiry: only a sync does.
    pub fn backfill_rewrites(&self, secret: &OtpSecret, entry: &BookEntry, user: Option<&str>) -> bool {
        match (&entry.name, &entry.user) {
            (EntryName::Plain(_), _) => true,
            (EntryName::Keyed(key), Some(number)) => user != Some(number) || *key != ContactKey::of(secret, number),
            (EntryName::Keyed(_), None) => self.days > 0 && entry.expires_at.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> OtpSecret {
        OtpSecret::new([byte; 32]).unwrap()
    }

    fn keyed(key: &ContactKey, user: Option<&str>, expires_at: Option<Timestamp>) -> BookEntry {
        BookEntry {
            name: EntryName::Keyed(key.clone()),
            user: user.map(str::to_owned),
            expires_at,
            added_at: 0,
            joined_at: None,
        }
    }

    #[test]
    fn the_key_depends_on_secret_and_number_and_spells_neither() {
        let key = ContactKey::of(&secret(1), "+12015550123");
        assert_eq!(key, ContactKey::of(&secret(1), "+12015550123"));
        assert_ne!(key, ContactKey::of(&secret(2), "+12015550123"));
        assert_ne!(key, ContactKey::of(&secret(1), "+12015550124"));
        assert_eq!(key.as_str().len(), 32);
        assert!(!key.as_str().contains("2015550123"));
        let plain = BookEntry {
            name: EntryName::Plain("+12015550123".into()),
            user: None,
            expires_at: None,
            added_at: 0,
            joined_at: None,
        };
        assert_eq!(plain.key(&secret(1)), key, "an old entry is matched by the key of its number");
        assert_eq!(plain.number(), Some("+12015550123"));
        assert_eq!(keyed(&key, None, None).number(), None, "a non-user's entry does not say her number");
    }

    #[test]
    fn users_are_kept_and_non_users_expire() {
        let retention = Retention::new(365);
        let key = ContactKey::of(&secret(1), "+12015550123");
        let user = retention.entry(key.clone(), Some("+12015550123"), 5, 1_000);
        assert_eq!((user.user.as_deref(), user.expires_at), (Some("+12015550123"), None));
        let other = retention.entry(key.clone(), None, 5, 1_000);
        assert_eq!((other.user, other.expires_at), (None, Some(1_000 + 365 * DAY)));
        assert_eq!(Retention::new(0).entry(key, None, 5, 1_000).expires_at, None, "0 keeps them");
    }

    #[test]
    fn a_resync_rewrites_only_what_changed_or_a_week_old_expiry() {
        let retention = Retention::new(365);
        let key = ContactKey::of(&secret(1), "+12015550123");
        let now = 100 * DAY;
        let fresh = retention.expiry(now - DAY);
        assert!(!retention.resync_rewrites(&keyed(&key, None, fresh), None, now), "synced yesterday");
        assert!(retention.resync_rewrites(&keyed(&key, None, retention.expiry(now - 7 * DAY)), None, now));
        assert!(retention.resync_rewrites(&keyed(&key, None, None), None, now), "no expiry yet");
        assert!(retention.resync_rewrites(&keyed(&key, None, fresh), Some("+12015550123"), now), "joined");
        assert!(retention.resync_rewrites(&keyed(&key, Some("+12015550123"), None), None, now), "left");
        assert!(!retention.resync_rewrites(&keyed(&key, Some("+12015550123"), None), Some("+12015550123"), now));
        assert!(Retention::new(0).resync_rewrites(&keyed(&key, None, fresh), None, now), "retention turned off");
        assert!(!Retention::new(0).resync_rewrites(&keyed(&key, None, None), None, now));
        assert_eq!(Retention::new(2).refresh_step(), DAY, "half of a short retention");
    }

    #[test]
    fn the_backfill_fixes_shapes_and_never_extends_an_expiry() {
        let (retention, secret) = (Retention::new(365), secret(1));
        let key = ContactKey::of(&secret, "+12015550123");
        let plain = BookEntry {
            name: EntryName::Plain("+12015550123".into()),
            user: None,
            expires_at: None,
            added_at: 0,
            joined_at: None,
        };
        assert!(retention.backfill_rewrites(&secret, &plain, None));
        assert!(!retention.backfill_rewrites(&secret, &keyed(&key, None, Some(5)), None), "an old expiry stays");
        assert!(retention.backfill_rewrites(&secret, &keyed(&key, None, None), None), "no expiry yet");
        assert!(!Retention::new(0).backfill_rewrites(&secret, &keyed(&key, None, None), None));
        let user = keyed(&key, Some("+12015550123"), None);
        assert!(!retention.backfill_rewrites(&secret, &user, Some("+12015550123")));
        assert!(retention.backfill_rewrites(&secret, &user, None), "she deleted her account");
        let old_key = ContactKey::of(&self::secret(2), "+12015550123");
        let named_before = keyed(&old_key, Some("+12015550123"), None);
        assert!(retention.backfill_rewrites(&secret, &named_before, Some("+12015550123")), "another secret's key");
    }
}
