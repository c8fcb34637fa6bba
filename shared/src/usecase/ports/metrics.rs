//! Counts for the operator's dashboard and alarms.

use crate::model::clock::Timestamp;
use crate::model::measured::Measured;

/// Counts outcomes for the operator's dashboard and alarms. Called where the outcome is known, once per outcome;
/// it never fails the request (a count that cannot be written is lost, as a log line would be).
pub trait Metrics: Sync {
    fn record(&self, measured: Measured, at: Timestamp);
}
