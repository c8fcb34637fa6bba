//! The fan-out queue in moto: created as template.yaml's `FanoutQueue` (its dead-letter queue left out: moto gives
//! no redelivery timing worth testing), and read for the fan-out function in the shape of the Lambda event, as the
//! SQS event source does: a batch of up to ten, failed messages left to reappear after the visibility timeout,
//! the rest deleted.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use shared::adapters::dynamodb::stream::BatchResponse;
use shared::adapters::sqs::{SqsEvent, SqsFanout, SqsMessage};

pub struct QueuePoller {
    client: Client,
    pub url: String,
}

impl QueuePoller {
    /// Creates the queue `name` (or finds it) with the template's visibility timeout shortened to `visibility`
    /// seconds, so a failed page comes back soon here.
    pub async fn create(client: Client, name: &str, visibility: u32) -> Result<Self, aws_sdk_sqs::Error> {
        let created = client
            .create_queue()
            .queue_name(name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility.to_string())
            .send()
            .await?;
        Ok(Self { client, url: created.queue_url.unwrap_or_default() })
    }

    /// The sender the notifier and the fan-out function use, to this queue.
    pub fn sender(&self) -> SqsFanout {
        SqsFanout::new(self.client.clone(), self.url.clone())
    }

    /// Up to ten messages, as one Lambda event (empty when the queue has none visible after `wait_seconds`).
    pub async fn receive(&self, wait_seconds: i32) -> Result<(SqsEvent, Vec<String>), aws_sdk_sqs::Error> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await?;
        let (mut records, mut receipts) = (vec![], vec![]);
        for message in out.messages.unwrap_or_default() {
            let id = message.message_id.unwrap_or_default();
            receipts.push(message.receipt_handle.unwrap_or_default());
            records.push(SqsMessage { message_id: id, body: message.body.unwrap_or_default() });
        }
        Ok((SqsEvent { records }, receipts))
    }

    /// Deletes what the function did not report as failed, as the event source does with `ReportBatchItemFailures`.
    pub async fn settle(
        &self,
        event: &SqsEvent,
        receipts: &[String],
        response: &BatchResponse,
    ) -> Result<(), aws_sdk_sqs::Error> {
        let failed = |id: &str| response.batch_item_failures.iter().any(|f| f.item_identifier == id);
        let entries: Vec<_> = event
            .records
            .iter()
            .zip(receipts)
            .enumerate()
            .filter(|(_, (m, _))| !failed(&m.message_id))
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(format!("m{i}")).receipt_handle(receipt).build()
            })
            .collect::<Result<_, _>>()
            .expect("id and receipt are set");
        if !entries.is_empty() {
            self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await?;
        }
        Ok(())
    }

    /// How many messages are in the queue, visible or in flight (moto's counts are exact).
    pub async fn depth(&self) -> Result<u64, aws_sdk_sqs::Error> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await?;
        let attributes = out.attributes.unwrap_or_default();
        let count = |a: A| attributes.get(&a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(count(A::ApproximateNumberOfMessages)
            + count(A::ApproximateNumberOfMessagesNotVisible)
            + count(A::ApproximateNumberOfMessagesDelayed))
    }
}
