//! A person's devices at mesibo (mesibo mode): each sign-in is its own mesibo session with its own token
//! (`user.token.session`), and mesibo keeps at most eight devices a user (docs.mesibo.com, multi-device). Sessions
//! here are numbered 1 to [`MAX_SESSIONS`], so a person never holds more at mesibo than it allows, and a sign-in
//! on a ninth device ends the longest-standing one, here and at mesibo (the other device's app then meets `AUTHFAIL`,
//! which mesibo's apps show as "logged in from another device").

use super::clock::Timestamp;

/// Devices one person may have signed in at once (mesibo's multi-device limit).
pub const MAX_SESSIONS: u32 = 8;

/// A claimed session whose sign-in has not bound a token to it after this long did not finish (a function that
/// died, a code that turned out spent): the number is free again.
pub const UNFINISHED_CLAIM_SECONDS: i64 = 60;

/// One session number as stored under its person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSlot {
    pub number: u32,
    /// The claim of the sign-in that took the number last: the condition its sign-in binds the token under.
    pub claim: String,
    pub claimed_at: Timestamp,
    /// The token bound to it (its hash), once the sign-in finished.
    pub token: Option<String>,
    pub expires_at: Option<Timestamp>,
}

impl SessionSlot {
    /// A device signed in on it.
    pub fn live(&self, now: Timestamp) -> bool {
        match (&self.token, self.expires_at) {
            (Some(_), Some(expires_at)) => expires_at > now,
            (Some(_), None) => true,
            (None, _) => now - self.claimed_at < UNFINISHED_CLAIM_SECONDS,
        }
    }
}

/// The session number a new sign-in takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick<'a> {
    /// Never taken, or given back at logout (which ended it at mesibo).
    Free(u32),
    /// Taken before, with no device on it now: a token that expired, a sign-in that failed or died. mesibo may still
    /// hold a token for it, so it is ended there first (mesibo hands a session's live token back to the next
    /// `useradd` of it, and that token must not be one another device held).
    Stale(&'a SessionSlot),
    /// Every number has a device: the one signed in longest ago goes (its token ends here and at mesibo).
    Evict(&'a SessionSlot),
}

impl Pick<'_> {
    pub fn number(&self) -> u32 {
        match self {
            Self::Free(number) => *number,
            Self::Stale(slot) | Self::Evict(slot) => slot.number,
        }
    }

    /// The slot as it was read, which the claim replaces (its claim is the claim's condition).
    pub fn replacing(&self) -> Option<&SessionSlot> {
        match self {
            Self::Free(_) => None,
            Self::Stale(slot) | Self::Evict(slot) => Some(slot),
        }
    }
}

/// The stale slot claimed longest ago (numbers stay few and low); else the lowest free number; else the live one
/// claimed longest ago.
pub fn pick(slots: &[SessionSlot], now: Timestamp) -> Pick<'_> {
    let oldest = |live: bool| {
        slots
            .iter()
            .filter(|s| (1..=MAX_SESSIONS).contains(&s.number) && s.live(now) == live)
            .min_by_key(|s| (s.claimed_at, s.number))
    };
    if let Some(stale) = oldest(false) {
        return Pick::Stale(stale);
    }
    match (1..=MAX_SESSIONS).find(|n| slots.iter().all(|s| s.number != *n)) {
        Some(free) => Pick::Free(free),
        None => Pick::Evict(oldest(true).expect("every number is taken and none is stale, so each is live")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(number: u32, claimed_at: Timestamp, token: Option<&str>, expires_at: Option<Timestamp>) -> SessionSlot {
        SessionSlot { number, claim: format!("c{number}"), claimed_at, token: token.map(str::to_owned), expires_at }
    }

    #[test]
    fn the_lowest_free_number_when_none_is_stale() {
        assert_eq!(pick(&[], 1000), Pick::Free(1));
        let slots = [slot(1, 10, Some("a"), Some(5000)), slot(3, 20, Some("b"), Some(5000))];
        assert_eq!(pick(&slots, 1000), Pick::Free(2));
    }

    #[test]
    fn a_stale_number_before_a_free_one_and_the_longest_signed_in_device_last() {
        let mut slots: Vec<SessionSlot> =
            (1..=MAX_SESSIONS).map(|n| slot(n, 100 * i64::from(n), Some("t"), Some(5000))).collect();
        assert_eq!(pick(&slots, 1000).replacing().map(|s| s.number), Some(1), "the longest signed in goes");
        assert!(matches!(pick(&slots, 1000), Pick::Evict(_)));
        slots[5].expires_at = Some(900);
        slots[6] = slot(7, 100, None, None);
        let picked = pick(&slots, 1000);
        assert!(matches!(picked, Pick::Stale(_)));
        assert_eq!(picked.number(), 7, "an unfinished claim older than a minute, claimed before the expired token");
        slots[6].claimed_at = 990;
        assert_eq!(pick(&slots, 1000).number(), 6, "a claim under a minute old is a sign-in still under way");
        slots.truncate(6);
        assert!(matches!(pick(&slots, 1000), Pick::Stale(s) if s.number == 6), "stale before free");
    }
}
