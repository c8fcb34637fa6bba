//! The table's stream (through the Lambda event-source mapping) into the notifier, one record at a time.

use tracing::error;

use crate::adapters::dynamodb::stream::{BatchResponse, StreamEvent};
use crate::usecase::notify::notify;
use crate::usecase::ports::EventSink;
use crate::usecase::{Ports, Services};

/// Stops at the first record that fails: the stream retries from there (`ReportBatchItemFailures`), and the
/// notifier's saved progress keeps the retry from repeating what was already sent.
pub async fn handle(app: &Services<impl Ports>, sink: &impl EventSink, event: StreamEvent) -> BatchResponse {
    for record in &event.records {
        if let Err(e) = notify(app, sink, &record.change()).await {
            error!(error = %e, "notification failed; the stream will retry from this record");
            return BatchResponse::retry_from(&record.dynamodb.sequence_number);
        }
    }
    BatchResponse::default()
}
