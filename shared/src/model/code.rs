//! One-time codes over time: when a number may be sent another code, and what is known of a pending code.

use super::clock::Timestamp;
use super::phone::PhoneNumber;
use super::secrets::{CodeDigest, OtpSecret, keyed_name};

/// Where a number's pending code and send state are kept: named by a keyed HMAC of the number, not under the
/// account, so deleting the account and signing up again neither resets the resend cooldown nor leaves the number in
/// clear after the account is gone. The record expires by TTL once its code and send window have passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSlot(String);

impl CodeSlot {
    pub fn of(secret: &OtpSecret, phone: &PhoneNumber) -> Self {
        Self(keyed_name(secret, "code", phone.e164()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

/// How often codes may be sent to one number (configuration: RESEND_COOLDOWN_SECONDS, MAX_SENDS_PER_WINDOW,
/// SEND_WINDOW_SECONDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    pub resend_cooldown_seconds: i64,
    pub max_sends_per_window: u32,
    pub send_window_seconds: i64,
}

/// How often a number was sent a code lately, and when it may be sent the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendState {
    pub window_start: Timestamp,
    pub window_sends: u32,
    pub next_send_at: Timestamp,
}

/// The code record as read before issuing a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRecord {
    pub send: SendState,
    /// Optimistic-lock version: a concurrent login for the same number makes the second write fail.
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub digest: CodeDigest,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub send: SendState,
    /// When the record may be dropped: after the code and the send window have both passed.
    pub ttl: Timestamp,
}

/// A verify attempt that has been counted before the guess is compared, so no number of concurrent guesses can test
/// more than the allowed count.
#[derive(Debug, Clone)]
pub struct ReservedAttempt {
    pub digest: CodeDigest,
    pub issued_at: Timestamp,
    pub attempts: u32,
}

impl SendPolicy {
    /// The send state after one more send, or the seconds to wait. The cooldown doubles with each send in the window
    /// (30 s, 60 s, 120 s, …); after the cap, nothing until the window has passed.
    pub fn next_send(&self, previous: Option<SendState>, now: Timestamp) -> Result<SendState, u64> {
        let window = self.send_window_seconds;
        if let Some(previous) = previous
            && now < previous.next_send_at
        {
            return Err((previous.next_send_at - now) as u64);
        }
        let (window_start, sends) = match previous {
            Some(p) if now < p.window_start + window => (p.window_start, p.window_sends),
            _ => (now, 0),
        };
        if sends >= self.max_sends_per_window {
            return Err((window_start + window - now) as u64);
        }
        let sends = sends + 1;
        let next_send_at = if sends >= self.max_sends_per_window {
            window_start + window
        } else {
            let cooldown = self.resend_cooldown_seconds.saturating_mul(1 << (sends - 1).min(20));
            (now + cooldown).min(window_start + window)
        };
        Ok(SendState { window_start, window_sends: sends, next_send_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_grows_and_the_cap_holds_until_the_window_passes() {
        let policy = SendPolicy { resend_cooldown_seconds: 30, max_sends_per_window: 5, send_window_seconds: 600 };
        let mut now = 1_000_000;
        let mut state = policy.next_send(None, now).unwrap();
        assert_eq!(state.next_send_at - now, 30);
        assert_eq!(policy.next_send(Some(state), now + 29), Err(1));
        let mut waits = vec![];
        for _ in 0..4 {
            now = state.next_send_at;
            state = policy.next_send(Some(state), now).unwrap();
            waits.push(state.next_send_at - now);
        }
        assert_eq!(state.window_sends, 5);
        assert_eq!(waits[..3], [60, 120, 240]);
        assert_eq!(state.next_send_at, 1_000_000 + 600, "after the fifth send, wait for the window");
        assert_eq!(policy.next_send(Some(state), 1_000_000 + 599), Err(1));
        let fresh = policy.next_send(Some(state), 1_000_000 + 600).unwrap();
        assert_eq!((fresh.window_start, fresh.window_sends), (1_000_600, 1));
    }
}
