//! The table's stream (through a Lambda event-source mapping) into its readers: the notifier (SNS events and push; a
//! batch's partition keys side by side, each key's records in order) and, in mesibo mode, the mesibo sync (in
//! order); and the fan-out queue into the fan-out function.

use std::fmt::Display;
use std::time::Duration;

use tracing::error;

use futures::{StreamExt, stream};

use crate::adapters::dynamodb::stream::{BatchResponse, ItemFailure, StreamEvent};
use crate::adapters::sqs::SqsEvent;
use crate::model::clock::Timestamp;
use crate::model::events::TableChange;
use crate::usecase::mesibo_sync::{Resync, ResyncReply, SyncError, resync_groups, sync};
use crate::usecase::notify::{fan_out, notify};
use crate::usecase::ports::{EventSink, FanoutQueue};
use crate::usecase::{App, Ports};

/// Partition keys of a batch the notifier tells at once.
const KEYS_AT_ONCE: usize = 8;

/// The notifier's batch: the records of each partition key (a person's profile, a group) in order, the keys side by
/// side. A key's first failure stops that key only; the stream retries from the earliest failure of all, and saved
/// progress keeps the records after it that were told from being told twice over.
pub async fn handle(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    event: StreamEvent,
) -> BatchResponse {
    // Each key's records, by their place in the batch (the shard's order).
    let mut keys: Vec<(String, Vec<usize>)> = vec![];
    for (at, record) in event.records.iter().enumerate() {
        let key = record.partition_key();
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, places)) => places.push(at),
            None => keys.push((key, vec![at])),
        }
    }
    let records = &event.records;
    // Collected first: a lazy iterator of futures borrowing the batch is not `Send` in every caller's eyes.
    let work: Vec<_> = keys
        .into_iter()
        .map(|(_, places)| async move {
            for at in places {
                if let Err(e) = notify(app, sink, queue, &records[at].change()).await {
                    error!(error = %e, "notification failed; the stream will retry from this record");
                    return Some(at);
                }
            }
            None
        })
        .collect();
    let failed: Vec<Option<usize>> = stream::iter(work).buffer_unordered(KEYS_AT_ONCE).collect().await;
    // The stream resumes from the earliest of them.
    match failed.into_iter().flatten().min() {
        Some(first) => BatchResponse::retry_from(&records[first].dynamodb.sequence_number),
        None => BatchResponse::default(),
    }
}

/// Fan-out tasks one invocation works on at once (the event source's batch is at most this).
const TASKS_AT_ONCE: usize = 10;

/// The fan-out function's batch of tasks, side by side; each failed one is reported alone, and SQS gives it again
/// after its visibility timeout (and to the dead-letter queue after `maxReceiveCount`). A body no version can read
/// is dropped with a log line: retrying it would only fill the dead-letter queue.
pub async fn handle_fanout(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    event: SqsEvent,
) -> BatchResponse {
    // Each task owns its message: a future borrowing from the batch is not `Send` in every caller's eyes.
    let work = event.records.into_iter().map(|message| async move {
        let Some(task) = message.task() else {
            error!("fan-out message unreadable; dropped");
            return None;
        };
        match fan_out(app, sink, queue, task).await {
            Ok(()) => None,
            Err(e) => {
                error!(error = %e, "fan-out task failed; SQS will deliver it again");
                Some(ItemFailure { item_identifier: message.message_id })
            }
        }
    });
    let failures = stream::iter(work).buffer_unordered(TASKS_AT_ONCE).filter_map(std::future::ready).collect().await;
    BatchResponse { batch_item_failures: failures }
}

/// The mesibo sync's batch (mesibo mode).
pub async fn handle_mesibo<P: Ports>(app: &App<P>, mesibo: &P::Mesibo, event: StreamEvent) -> BatchResponse {
    each_record(event, "mesibo sync", |change, at| async move { sync(app, mesibo, &change, at).await }).await
}

/// What the `mesibo` function is invoked with: the stream's batches, or an operator's resync command
/// (`{"resync": "groups"}`, then `{"resync": "groups", "from": <next>}` while `next` is set).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum MesiboEvent {
    Resync(ResyncCommand),
    Stream(StreamEvent),
}

#[derive(Debug, serde::Deserialize)]
pub struct ResyncCommand {
    pub resync: ResyncWhat,
    #[serde(flatten)]
    pub command: Resync,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResyncWhat {
    Groups,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum MesiboOutcome {
    Batch(BatchResponse),
    Resync(ResyncReply),
}

/// A resync stops with this much of the function's 300 s left, and says where to go on.
const RESYNC_BUDGET: Duration = Duration::from_secs(240);

/// The `mesibo` function's invocation, whichever it is.
pub async fn handle_mesibo_event<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    event: MesiboEvent,
) -> Result<MesiboOutcome, SyncError> {
    match event {
        MesiboEvent::Stream(batch) => Ok(MesiboOutcome::Batch(handle_mesibo(app, mesibo, batch).await)),
        MesiboEvent::Resync(ResyncCommand { resync: ResyncWhat::Groups, command }) => {
            Ok(MesiboOutcome::Resync(resync_groups(app, mesibo, command, RESYNC_BUDGET).await?))
        }
    }
}

/// Stops at the first record that fails: the stream retries from there (`ReportBatchItemFailures`), and saved
/// progress and idempotent calls keep the retry from repeating what was already done.
async fn each_record<F, E>(
    event: StreamEvent,
    what: &str,
    mut work: impl FnMut(TableChange, Option<Timestamp>) -> F,
) -> BatchResponse
where
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    for record in &event.records {
        if let Err(e) = work(record.change(), record.written_at()).await {
            error!(error = %e, "{what} failed; the stream will retry from this record");
            return BatchResponse::retry_from(&record.dynamodb.sequence_number);
        }
    }
    BatchResponse::default()
}
