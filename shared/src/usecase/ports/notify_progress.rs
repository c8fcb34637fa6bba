//! Where the notifier and the fan-out function got to in a run.

use std::future::Future;

use super::Stored;
use crate::model::clock::Timestamp;
use crate::model::events::{NotifyRun, ProfileNews};

/// Where a notification run got to: recipients up to `last_recipient` (in index order) have their event; a paged
/// run also knows where the page after it starts (`next_page`) and whether that page is queued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyProgress {
    pub last_recipient: Option<String>,
    pub next_page: Option<String>,
    pub next_queued: bool,
}

/// Resume points of the notifier.
pub trait NotifyProgressStore: Sync {
    fn notify_progress(&self, run: &NotifyRun) -> impl Future<Output = Stored<NotifyProgress>> + Send;

    fn save_notify_progress(
        &self,
        run: &NotifyRun,
        last_recipient: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Takes the run for its caller until `until` and returns its progress so far, unless another holds it still
    /// (`None`): one copy of a queued page at work at a time.
    fn claim_run(
        &self,
        run: &NotifyRun,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Stored<Option<NotifyProgress>>> + Send;

    /// Where the page after this run starts: `next` unless an earlier attempt fixed it already (then that one).
    fn fix_next_page(
        &self,
        run: &NotifyRun,
        next: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<String>> + Send;

    /// The run's next page (or first page) is on the queue.
    fn mark_next_queued(&self, run: &NotifyRun, expires_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Records a person's news as told (kept until `expires_at`), so that the mesibo sync tells it as well: written
    /// once per news (writing it again changes nothing, and the stream then carries nothing).
    fn record_told(&self, news: &ProfileNews, expires_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;
}
