//! The use cases, one file each: each takes a typed command (built at the edge) and reaches the outside world only
//! through the ports in [`ports`]. A use case never calls into another; steps that two share live in [`steps`], and
//! rules in `crate::model`.

use std::sync::Arc;

use crate::config::Config;
use crate::model::clock::{Clock, Timestamp};
use crate::model::measured::Measured;
use ports::Metrics;
pub use ports::Ports;

pub mod account;
pub mod backfill;
pub mod contacts;
pub mod export;
pub mod files;
pub mod groups;
pub mod mesibo_sync;
pub mod notify;
pub mod ports;
pub mod sign_in;
pub mod sms_protect;
pub mod steps;

/// The app: what every use case runs against. The configuration, the ports (implemented by the adapters `P` names;
/// the composition root, `crate::app`, picks them), and the clock.
pub struct App<P: Ports> {
    pub config: Config,
    pub store: P::Store,
    pub code_keys: P::CodeKeys,
    pub sms: P::Sms,
    pub push: P::Push,
    /// mesibo's backend API; `None` in standalone mode.
    pub mesibo: Option<P::Mesibo>,
    /// Photos and attachments; `None` where no bucket is configured.
    pub files: Option<P::Files>,
    /// Counts for the dashboard and alarms.
    pub metrics: P::Metrics,
    pub clock: Arc<dyn Clock>,
}

impl<P: Ports> App<P> {
    /// Counts a request refused by a limit of this kind (`RateLimit::kind`, or one of `crate::model::measured`'s);
    /// the caller answers the refusal.
    pub fn limit_hit(&self, kind: &str, now: Timestamp) {
        self.metrics.record(Measured::LimitHit { kind: kind.to_owned() }, now);
    }
}
