//! Time as the rules see it. Injected, so tests can move past an expiry without sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub type Timestamp = i64;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}
