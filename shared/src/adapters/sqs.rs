//! The fan-out queue (`FanoutQueue` in template.yaml): one message per task, its body the task's JSON.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use tracing::error;

use crate::model::events::FanoutTask;
use crate::usecase::ports::{FanoutQueue, QueueFailed};

/// SQS delays a message at most 15 minutes.
const MAX_DELAY_SECONDS: u32 = 900;

#[derive(Clone)]
pub struct SqsFanout {
    client: Client,
    queue_url: String,
}

impl SqsFanout {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl FanoutQueue for SqsFanout {
    async fn enqueue(&self, task: &FanoutTask, delay_seconds: u32) -> Result<(), QueueFailed> {
        let body = serde_json::to_string(task).expect("tasks serialise");
        let request = self.client.send_message().queue_url(&self.queue_url).message_body(body);
        match request.delay_seconds(delay_seconds.min(MAX_DELAY_SECONDS) as i32).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                error!(error = %DisplayErrorContext(&e), "send to the fan-out queue failed");
                Err(QueueFailed)
            }
        }
    }
}

/// What Lambda's SQS event source delivers (the fields read here).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct SqsMessage {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub body: String,
}

impl SqsMessage {
    /// The task the message carries (`None`: a body this version cannot read).
    pub fn task(&self) -> Option<FanoutTask> {
        serde_json::from_str(&self.body).ok()
    }
}
