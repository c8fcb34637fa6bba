//! The contact-lookup quota, the defence against enumeration through contact discovery (docs/SECURITY.md): at most
//! `budget` numbers looked up per person per rolling window of `window_days` UTC days.
//!
//! A number is charged once per window. Numbers in the stored address book are free, and so is every number already
//! charged within the window, whatever happened to the address book meanwhile: `reset=1` (mesibo apps send it on the
//! first sync after every sign-in), `/delcontacts`, or deleting the account and signing up again.
//!
//! So the quota is not kept with the account. It is named by a keyed HMAC of the owner's number ([`keyed_name`]),
//! which account deletion does not touch, and it holds, per UTC day, the count charged that day and the charged
//! numbers as [`TAG_BYTES`]-byte keyed tags bound to the owner ([`KeyedTags`]): no number is stored in clear, and
//! the same number has unrelated tags in two people's quotas. A tag collision (2^-64 per pair) can only let a number
//! through uncharged, never charge one twice; without the secret nobody can aim for one.
//!
//! Size: a day's count never passes the budget and a day holds no tag it has not counted, so a day holds at most
//! `budget` tags: at most [`max_day_bytes`] stored, which [`MAX_BUDGET`] keeps well inside DynamoDB's 400 KB item.
//! The window's days together hold at most `budget` tags too, so a sync reads at most that much of the quota. A
//! charge rewrites its day, and DynamoDB bills a write by the item's size: up to ≈ 176 write units for a charge on a
//! full day at the default budget (≈ 265 at the cap), where its BatchWrite of edges costs one unit per new number.

use std::collections::{BTreeSet, HashSet};

use super::clock::Timestamp;
use super::secrets::{KeyedTags, OtpSecret, TAG_BYTES, keyed_name};

const DAY: i64 = 86_400;

/// The largest budget a deployment may configure: a day of it is at most [`max_day_bytes`]`(MAX_BUDGET)` ≈ 264 KiB.
pub const MAX_BUDGET: i64 = 30_000;

/// Bytes of one day as stored, at most, for a budget: every tag with a byte of set overhead (counted generously),
/// and 512 bytes for the keys, day, count and expiry.
pub const fn max_day_bytes(budget: i64) -> i64 {
    budget * (TAG_BYTES as i64 + 1) + 512
}

/// A charged number, as the quota keeps it.
pub type LookupTag = [u8; TAG_BYTES];

/// One UTC day of a quota, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupDay {
    /// Days since the epoch (UTC).
    pub day: i64,
    /// Numbers charged that day (less what was given back).
    pub count: i64,
    /// Their tags.
    pub tags: Vec<LookupTag>,
}

/// What one request is charged: `tags` (and as many numbers) on `day`, if the day's count stays within `day_limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub day: i64,
    /// Distinct, never empty.
    pub tags: Vec<LookupTag>,
    /// The budget less what the other days of the window used.
    pub day_limit: i64,
    /// When the day may be dropped: a day after it leaves the window.
    pub expires_at: Timestamp,
}

impl Charge {
    pub fn count(&self) -> i64 {
        self.tags.len() as i64
    }
}

/// A request that the quota cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    /// Numbers the request would be charged.
    pub fresh: usize,
    /// Numbers charged within the window.
    pub used: i64,
    /// Seconds until the oldest charged day leaves the window.
    pub retry_after: u64,
}

/// One person's quota.
#[derive(Debug, Clone)]
pub struct LookupQuota {
    name: String,
    tags: KeyedTags,
    budget: i64,
    window_days: i64,
}

impl LookupQuota {
    pub fn new(secret: &OtpSecret, owner_e164: &str, budget: i64, window_days: i64) -> Self {
        Self {
            name: keyed_name(secret, "lookup-quota", owner_e164),
            tags: KeyedTags::new(secret, "lookup-charged", owner_e164),
            budget,
            window_days,
        }
    }

    /// The quota's identity in the store: a keyed name of the owner's number (hex), never the number.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tag(&self, number: &str) -> LookupTag {
        self.tags.tag(number)
    }

    /// The first and last day of the window that ends today.
    pub fn window(&self, now: Timestamp) -> (i64, i64) {
        let today = now.div_euclid(DAY);
        (today - self.window_days + 1, today)
    }

    /// What a request that looks up `candidates` (the uploaded numbers not in the stored address book) is charged,
    /// given the window's `days` as stored: the candidates not charged within the window, if they fit the budget.
    /// `None`: nothing to charge.
    pub fn charge<'a>(
        &self,
        days: &[LookupDay],
        candidates: impl IntoIterator<Item = &'a String>,
        now: Timestamp,
    ) -> Result<Option<Charge>, OverQuota> {
        let (first_day, today) = self.window(now);
        let days: Vec<&LookupDay> = days.iter().filter(|d| (first_day..=today).contains(&d.day)).collect();
        let charged: HashSet<&LookupTag> = days.iter().flat_map(|d| &d.tags).collect();
        let fresh: BTreeSet<LookupTag> =
            candidates.into_iter().map(|n| self.tag(n)).filter(|t| !charged.contains(t)).collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        let used_before: i64 = days.iter().filter(|d| d.day != today).map(|d| d.count).sum();
        let used_today: i64 = days.iter().filter(|d| d.day == today).map(|d| d.count).sum();
        let used = used_before + used_today;
        if used + fresh.len() as i64 > self.budget {
            return Err(OverQuota { fresh: fresh.len(), used, retry_after: self.retry_after(&days, now) });
        }
        Ok(Some(Charge {
            day: today,
            tags: fresh.into_iter().collect(),
            day_limit: self.budget - used_before,
            expires_at: (today + self.window_days + 1) * DAY,
        }))
    }

    /// A charge that lost the race for the last of the budget to a concurrent request: over quota.
    pub fn lost(&self, days: &[LookupDay], charge: &Charge, now: Timestamp) -> OverQuota {
        let days: Vec<&LookupDay> = days.iter().collect();
        let used = days.iter().map(|d| d.count).sum();
        OverQuota { fresh: charge.tags.len(), used, retry_after: self.retry_after(&days, now) }
    }

    fn retry_after(&self, days: &[&LookupDay], now: Timestamp) -> u64 {
        let today = now.div_euclid(DAY);
        let oldest = days.iter().filter(|d| d.count > 0).map(|d| d.day).min().unwrap_or(today);
        ((oldest + self.window_days) * DAY - now).max(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 20_000 * DAY + 3600;

    fn quota(budget: i64) -> LookupQuota {
        LookupQuota::new(&OtpSecret::new([7u8; 32]).unwrap(), "+12015550100", budget, 10)
    }

    fn numbers(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| format!("+1201555{i:04}")).collect()
    }

    fn day(quota: &LookupQuota, day: i64, charged: &[String]) -> LookupDay {
        LookupDay { day, count: charged.len() as i64, tags: charged.iter().map(|n| quota.tag(n)).collect() }
    }

    #[test]
    fn numbers_charged_within_the_window_are_free_and_the_rest_charged_today() {
        let q = quota(100);
        let today = NOW / DAY;
        let days = [day(&q, today - 9, &numbers(0..10)), day(&q, today, &numbers(10..20))];
        let charge = q.charge(&days, &numbers(5..30), NOW).unwrap().unwrap();
        assert_eq!(charge.day, today);
        let expected: BTreeSet<LookupTag> = numbers(20..30).iter().map(|n| q.tag(n)).collect();
        assert_eq!(charge.tags, expected.into_iter().collect::<Vec<_>>());
        assert_eq!(charge.count(), 10);
        assert_eq!(charge.day_limit, 90, "the budget less the other days");
        assert_eq!(charge.expires_at, (today + 11) * DAY);
        assert_eq!(q.charge(&days, &numbers(0..20), NOW), Ok(None), "all charged already: nothing to charge");
    }

    #[test]
    fn a_day_that_left_the_window_charges_again() {
        let q = quota(100);
        let today = NOW / DAY;
        let days = [day(&q, today - 10, &numbers(0..10))];
        assert_eq!(q.charge(&days, &numbers(0..10), NOW).unwrap().unwrap().count(), 10);
        assert_eq!(q.window(NOW), (today - 9, today));
    }

    #[test]
    fn over_the_budget_is_refused_until_the_oldest_day_leaves_the_window() {
        let q = quota(25);
        let today = NOW / DAY;
        let days = [day(&q, today - 3, &numbers(0..10)), day(&q, today, &numbers(10..20))];
        assert!(q.charge(&days, &numbers(20..25), NOW).is_ok(), "exactly the budget is fine");
        let refused = q.charge(&days, &numbers(0..26), NOW).unwrap_err();
        assert_eq!((refused.fresh, refused.used), (6, 20));
        assert_eq!(refused.retry_after, ((today - 3 + 10) * DAY - NOW) as u64);
        let nothing_used = quota(5).charge(&[], &numbers(0..6), NOW).unwrap_err();
        assert_eq!(nothing_used.retry_after, ((today + 10) * DAY - NOW) as u64);
    }

    #[test]
    fn quotas_of_two_owners_share_neither_name_nor_tags() {
        let secret = OtpSecret::new([7u8; 32]).unwrap();
        let (a, b) = (LookupQuota::new(&secret, "+12015550100", 1, 1), LookupQuota::new(&secret, "+12015550101", 1, 1));
        assert_ne!(a.name(), b.name());
        assert!(!a.name().contains("2015550100"));
        assert_ne!(a.tag("+12015550199"), b.tag("+12015550199"));
    }

    #[test]
    fn a_day_at_the_largest_budget_stays_well_inside_an_item() {
        assert!(max_day_bytes(MAX_BUDGET) < 300 * 1024, "{}", max_day_bytes(MAX_BUDGET));
    }
}
