//! contact_joined events: from the real table stream (DynamoDB Local), through the notifier, to an SNS topic in
//! moto, and into an SQS queue subscribed to it — what a push service or chat server would receive.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_tests::*;
use local_stack::stream::StreamPoller;
use serde_json::Value;
use shared::adapters::dynamodb::stream::StreamEvent;
use shared::adapters::sns::SnsEvents;
use shared::edge::stream::handle;
use shared::model::events::ContactEvent;
use shared::model::profile::Profile;
use shared::usecase::ports::{EventSink, PublishFailed};
use shared::{Clock, PhoneNumber};

struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    topic_arn: String,
}

impl Subscriber {
    /// A topic of its own and a queue subscribed to it with raw delivery (message attributes become SQS ones).
    async fn new() -> Self {
        let sdk = shared::app::sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("events-{}", random_hex(6));
        let topic_arn = sns.create_topic().name(&name).send().await.unwrap().topic_arn.unwrap();
        let queue_url = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        Self { sqs, queue_url, topic_arn }
    }

    /// Every message in the queue: (body, message attributes).
    async fn drain(&self) -> Vec<(Value, HashMap<String, String>)> {
        let mut all = vec![];
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for message in messages {
                let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                let attributes = message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.string_value.unwrap_or_default()))
                    .collect();
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                all.push((body, attributes));
            }
        }
    }
}

async fn setup(recipients: usize) -> (TestApp, Subscriber, StreamPoller, PhoneNumber, Vec<PhoneNumber>) {
    let subscriber = Subscriber::new().await;
    let t = spawn_app_with(&[("CONTACT_EVENTS_TOPIC_ARN", &subscriber.topic_arn)]).await;
    let sdk = shared::app::sdk_config().await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let newcomer = random_phone();
    let mut owners = vec![];
    for i in 0..recipients {
        let owner = random_phone();
        let now = t.clock.now();
        let profile = Profile::new(owner.clone(), format!("owner {i}"), now, None);
        t.app.store.put_profile(&profile).await.unwrap();
        t.seed_entry(owner.e164(), newcomer.e164()).await;
        owners.push(owner);
    }
    // Someone who has the number in an address book but is no user (never signed in): no event for them.
    t.seed_entry(random_phone().e164(), newcomer.e164()).await;
    // The seeded owners' own profile inserts are not what these tests are about: skip past them.
    poller.poll().await.unwrap();
    (t, subscriber, poller, newcomer, owners)
}

/// What the event-source mapping would deliver next.
async fn next_event(poller: &mut StreamPoller) -> StreamEvent {
    poller.poll().await.unwrap()
}

fn sns_sink(t: &TestApp, s: &Subscriber) -> SnsEvents {
    SnsEvents::new(t.app.sns_client(), s.topic_arn.clone())
}

#[tokio::test]
async fn a_new_user_is_announced_once_to_each_registered_contact_and_a_relogin_announces_nothing() {
    let (t, subscriber, mut poller, newcomer, owners) = setup(31).await;
    let sink = sns_sink(&t, &subscriber);
    let verify = t
        .call(local_stack::apigw::HttpCall::post("/verify").form(&[
            ("phone", newcomer.e164()),
            ("code", &{
                t.login(newcomer.e164()).await;
                last_sms_code(newcomer.e164()).await.unwrap()
            }),
            ("name", "Nina"),
        ]))
        .await;
    assert_eq!(verify.status, 200);

    let event = next_event(&mut poller).await;
    assert_eq!(event.records.len(), 1, "only the new profile passes the template's filter");
    assert!(handle(&t.app, &sink, &t.fanout_queue().await, event).await.batch_item_failures.is_empty());
    let messages = subscriber.drain().await;
    assert_eq!(messages.len(), 31, "one per registered contact, across 4 publish batches");
    let recipients: BTreeSet<String> =
        messages.iter().map(|(body, _)| body["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(recipients, owners.iter().map(|o| o.digits().to_owned()).collect());
    let ids: BTreeSet<&str> = messages.iter().map(|(body, _)| body["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 31);
    for (body, attributes) in &messages {
        assert_eq!(body["type"], "contact_joined");
        assert_eq!(body["phone"], newcomer.digits());
        assert_eq!(body["name"], "Nina");
        assert!(body["ts"].is_i64());
        assert_eq!(attributes["type"], "contact_joined");
        assert_eq!(attributes["to"], body["to"].as_str().unwrap());
    }

    // Signing in again on another device inserts no profile: no event.
    t.clock.advance(60);
    t.sign_in(newcomer.e164()).await;
    let event = next_event(&mut poller).await;
    assert!(event.records.is_empty());
    assert!(handle(&t.app, &sink, &t.fanout_queue().await, event).await.batch_item_failures.is_empty());
    assert!(subscriber.drain().await.is_empty());
}

/// The real publisher, with a crash injected at one batch: before it is published, or after.
struct CrashingSink<'a> {
    inner: &'a SnsEvents,
    calls: AtomicUsize,
    crash_at: usize,
    after_publish: bool,
}

impl EventSink for CrashingSink<'_> {
    async fn publish(&self, events: &[ContactEvent]) -> Result<(), PublishFailed> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call == self.crash_at && !self.after_publish {
            return Err(PublishFailed);
        }
        self.inner.publish(events).await?;
        if call == self.crash_at { Err(PublishFailed) } else { Ok(()) }
    }

    async fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> Result<(), PublishFailed> {
        self.inner.push(endpoint_arn, event).await
    }
}

async fn crash_and_retry(
    after_publish: bool,
) -> (usize, usize, Vec<PhoneNumber>, Vec<(Value, HashMap<String, String>)>) {
    let (t, subscriber, mut poller, newcomer, owners) = setup(27).await;
    let sink = sns_sink(&t, &subscriber);
    t.sign_in(newcomer.e164()).await;
    let records = serde_json::to_string(&stream_event_json(&mut poller).await).unwrap();

    let crashing = CrashingSink { inner: &sink, calls: AtomicUsize::new(0), crash_at: 1, after_publish };
    let first = handle(&t.app, &crashing, &t.fanout_queue().await, serde_json::from_str(&records).unwrap()).await;
    assert_eq!(first.batch_item_failures.len(), 1, "the record is reported for retry");
    // Lambda retries the same record.
    let retry = handle(&t.app, &sink, &t.fanout_queue().await, serde_json::from_str(&records).unwrap()).await;
    assert!(retry.batch_item_failures.is_empty());
    let messages = subscriber.drain().await;
    let ids: BTreeSet<String> = messages.iter().map(|(b, _)| b["event_id"].as_str().unwrap().to_owned()).collect();
    (messages.len(), ids.len(), owners, messages)
}

async fn stream_event_json(poller: &mut StreamPoller) -> Value {
    let event = poller.poll().await.unwrap();
    assert_eq!(event.records.len(), 1);
    // Re-serialise the record as Lambda would deliver it, so the same record can be handed over twice.
    let record = &event.records[0];
    serde_json::json!({ "Records": [{
        "eventName": record.event_name,
        "dynamodb": {
            "Keys": record.dynamodb.keys,
            "NewImage": record.dynamodb.new_image,
            "OldImage": record.dynamodb.old_image,
            "SequenceNumber": record.dynamodb.sequence_number
        }
    }]})
}

#[tokio::test]
async fn a_retry_after_a_crash_before_publishing_sends_no_duplicates() {
    let (sent, distinct, owners, _) = crash_and_retry(false).await;
    assert_eq!((sent, distinct), (owners.len(), owners.len()), "resumed after the last published batch");
}

#[tokio::test]
async fn a_retry_after_a_crash_after_publishing_repeats_one_batch_with_the_same_event_ids() {
    let (sent, distinct, owners, messages) = crash_and_retry(true).await;
    assert_eq!(distinct, owners.len(), "no new event ids: consumers de-duplicate on event_id");
    assert_eq!(sent, owners.len() + 10, "only the batch in flight at the crash arrives twice");
    let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
    for (body, _) in &messages {
        by_id.entry(body["event_id"].as_str().unwrap()).or_default().push(body);
    }
    assert!(by_id.values().all(|copies| copies.iter().all(|c| *c == copies[0])), "repeats are identical");
}
