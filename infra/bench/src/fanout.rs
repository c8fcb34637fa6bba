//! Section 5, fan-out that scales (issue 15): a number in `100,000 × BENCH_SCALE` address books signs up, then
//! changes its status. The notifier reads the table's stream (DynamoDB Local) as its event-source mapping does, the fan-out
//! function reads FanoutQueue (moto's SQS) as its event source does, several instances at once, and events go to
//! SNS (moto). Measured: delivery time of each fan-out, publishes and messages, how often each recipient was told,
//! the longest single invocation, and the latency of an unrelated stream record written right after the popular one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use local_stack::apigw::HttpCall;
use local_stack::harness::{decode, random_hex, random_phone};
use local_stack::queue::QueuePoller;
use local_stack::stream::StreamPoller;
use serde_json::json;
use shared::adapters::sns::SnsEvents;
use shared::model::address_book::{ContactKey, NewEntry};
use shared::model::events::ContactEvent;
use shared::model::profile::Profile;
use shared::usecase::ports::{ContactStore, EventSink, PublishFailed};
use shared::{App, Clock, Config, PhoneNumber, SystemClock};

use crate::BoxError;
use crate::scenario::function_env;

/// Fan-out function instances at once (the template's FanoutConcurrency is 20; this machine has 2 cores).
pub const INSTANCES: usize = 8;

/// What one fan-out (sign-up or status change) measured.
#[derive(Debug, Clone, Default)]
pub struct FanoutRun {
    pub what: &'static str,
    pub recipients: usize,
    pub delivery: Duration,
    pub publish_calls: usize,
    pub messages: usize,
    pub told_min: usize,
    pub told_max: usize,
    pub tasks: usize,
    pub longest_task: Duration,
    pub longest_stream_batch: Duration,
    pub unrelated_latency: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct FanoutReport {
    pub recipients: usize,
    pub seed_time: Duration,
    pub instances: usize,
    pub page_size: usize,
    pub runs: Vec<FanoutRun>,
}

/// Every event published, with the time it was accepted, and the publish calls.
#[derive(Default)]
struct Counter {
    events: Mutex<Vec<(ContactEvent, Instant)>>,
    calls: Mutex<usize>,
}

struct CountingSink {
    inner: SnsEvents,
    counter: Arc<Counter>,
}

impl EventSink for CountingSink {
    async fn publish(&self, events: &[ContactEvent]) -> Result<(), PublishFailed> {
        self.inner.publish(events).await?;
        *self.counter.calls.lock().unwrap() += 1;
        let now = Instant::now();
        self.counter.events.lock().unwrap().extend(events.iter().map(|e| (e.clone(), now)));
        Ok(())
    }

    async fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> Result<(), PublishFailed> {
        self.inner.push(endpoint_arn, event).await
    }
}

#[derive(Default)]
struct Durations {
    tasks: Mutex<(usize, Duration)>,
    stream: Mutex<Duration>,
}

pub async fn run(scale: f64) -> Result<FanoutReport, BoxError> {
    let recipients = ((100_000.0 * scale) as usize).max(2_000);
    let sdk = shared::app::sdk_config().await;
    let table = format!("bench-fanout-{}", random_hex(4));
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    local_stack::template::create_table(&dynamodb, &table).await?;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns.create_topic().name(format!("bench-fanout-{}", random_hex(4))).send().await?.topic_arn;
    let topic = topic.ok_or("no topic ARN")?;
    let queue = Arc::new(QueuePoller::create(aws_sdk_sqs::Client::new(&sdk), &format!("{table}-fanout"), 60).await?);
    let mut vars: HashMap<String, String> = function_env(&table).into_iter().collect();
    vars.insert("CONTACT_EVENTS_TOPIC_ARN".into(), topic.clone());
    vars.insert("FANOUT_QUEUE_URL".into(), queue.url.clone());
    // The popular number signs in as a test number (a fixed code, no SMS).
    let star = random_phone();
    vars.insert("TEST_NUMBERS".into(), format!("{}:{STAR_CODE}", star.e164()));
    let config = Config::from_lookup(|name| vars.get(name).cloned())?;
    let page_size = config.contacts.fanout_page_size;
    let app = Arc::new(App::from_clients(config, dynamodb.clone(), sns.clone(), Arc::new(SystemClock)));

    eprintln!("bench: 6. fan-out: seeding {recipients} address books holding one number");
    let started = Instant::now();
    seed(&app, &star, recipients).await?;
    let seed_time = started.elapsed();

    let counter = Arc::new(Counter::default());
    let durations = Arc::new(Durations::default());
    let sink = Arc::new(CountingSink { inner: SnsEvents::new(sns.clone(), topic), counter: counter.clone() });
    let mut poller = StreamPoller::new(&dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), &table).await?;
    // The seeded profiles: no news to anyone. A read returns at most 1,000 records, and an empty read does not mean
    // the shard is read to its end: skip until three reads in a row find nothing.
    let mut empty = 0;
    while empty < 3 {
        empty = if poller.poll().await?.records.is_empty() { empty + 1 } else { 0 };
    }
    let mut workers = vec![];
    {
        let (app, sink, durations) = (app.clone(), sink.clone(), durations.clone());
        let sender = queue.sender();
        workers.push(tokio::spawn(async move {
            loop {
                let event = match poller.poll().await {
                    Ok(event) => event,
                    Err(error) => {
                        eprintln!("bench: fan-out: reading the stream failed (read again): {error:?}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if !event.records.is_empty() {
                    let started = Instant::now();
                    let done = shared::edge::stream::handle(&app, &*sink, &sender, event).await;
                    let took = started.elapsed();
                    let mut longest = durations.stream.lock().unwrap();
                    *longest = (*longest).max(took);
                    assert!(done.batch_item_failures.is_empty(), "the notifier failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    for _ in 0..INSTANCES {
        let (app, sink, durations, queue) = (app.clone(), sink.clone(), durations.clone(), queue.clone());
        workers.push(tokio::spawn(async move {
            let sender = queue.sender();
            loop {
                let (event, receipts) = match queue.receive(1).await {
                    Ok(received) => received,
                    Err(error) => {
                        eprintln!("bench: fan-out: receiving from the queue failed (receive again): {error:?}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if event.records.is_empty() {
                    // As the event source's poller backs off an empty queue; the cores are shared with moto.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let started = Instant::now();
                let done = shared::edge::stream::handle_fanout(&app, &*sink, &sender, event.clone()).await;
                let took = started.elapsed();
                {
                    let mut tasks = durations.tasks.lock().unwrap();
                    tasks.0 += event.records.len();
                    tasks.1 = tasks.1.max(took);
                }
                let _ = queue.settle(&event, &receipts, &done).await;
            }
        }));
    }

    let mut runs = vec![];
    // The sign-up: the number's profile is written as verify writes it.
    let token = sign_in(&app, &star).await?;
    runs.push(
        measure(&app, &counter, &durations, "sign-up (contact_joined)", &star, recipients, "contact_joined").await?,
    );
    let call = HttpCall::post("/profile").bearer(&token).json(&json!({ "status": "Open 9 to 5" }));
    let reply = decode(shared::edge::http::handle(&app, shared::edge::routes::Operation::ALL, call.to_request()).await);
    if reply.status != 200 {
        return Err(format!("status change refused: {:?}", reply.json).into());
    }
    runs.push(
        measure(&app, &counter, &durations, "status change (profile_updated)", &star, recipients, "profile_updated")
            .await?,
    );
    for worker in workers {
        worker.abort();
    }
    Ok(FanoutReport { recipients, seed_time, instances: INSTANCES, page_size, runs })
}

/// `count` registered users, each with `star` in their address book, written straight to the table.
async fn seed(app: &App, star: &PhoneNumber, count: usize) -> Result<(), BoxError> {
    let now = SystemClock.now();
    // Random numbers meet (a hundred thousand drawn from eight million repeat some six hundred times): drawn until
    // that many differ, so that every address book is another user's.
    let mut owners = std::collections::HashMap::new();
    while owners.len() < count {
        let owner = random_phone();
        if owner != *star {
            owners.insert(owner.e164().to_owned(), owner);
        }
    }
    let results: Vec<Result<(), BoxError>> = futures::stream::iter(owners.into_values())
        .map(|owner| async move {
            let profile = Profile::new(owner.clone(), "owner".into(), now, None);
            app.store.put_profile(&profile).await?;
            app.store.put_entries(owner.e164(), &[not_yet_a_user(app, star, now)]).await?;
            Ok(())
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

const STAR_CODE: &str = "424242";

async fn sign_in(app: &App, phone: &PhoneNumber) -> Result<String, BoxError> {
    let reply = decode(
        shared::edge::http::handle(
            app,
            shared::edge::routes::Operation::ALL,
            crate::scenario::login_call(phone).to_request(),
        )
        .await,
    );
    crate::scenario::expect_ok("login", &reply)?;
    let call = crate::scenario::verify_call(phone, STAR_CODE);
    let reply = decode(shared::edge::http::handle(app, shared::edge::routes::Operation::ALL, call.to_request()).await);
    crate::scenario::expect_ok("verify", &reply)?;
    Ok(reply.json["token"].as_str().ok_or("no token")?.to_owned())
}

/// Waits until every recipient was told `kind` of `star` (the news was written just before), writes an unrelated
/// sign-up right after the popular record and times it, then collects the figures.
async fn measure(
    app: &App,
    counter: &Counter,
    durations: &Durations,
    what: &'static str,
    star: &PhoneNumber,
    recipients: usize,
    kind: &str,
) -> Result<FanoutRun, BoxError> {
    let started = Instant::now();
    let (calls_before, events_before) = (*counter.calls.lock().unwrap(), counter.events.lock().unwrap().len());
    *durations.tasks.lock().unwrap() = (0, Duration::ZERO);
    *durations.stream.lock().unwrap() = Duration::ZERO;
    // Someone else joins right after, with one contact who is a user: their record is next on the stream.
    let (other, friend) = (random_phone(), random_phone());
    let now = SystemClock.now();
    let profile = |phone: &PhoneNumber| Profile::new(phone.clone(), "friend".into(), now, None);
    app.store.put_profile(&profile(&friend)).await?;
    app.store.put_entries(friend.e164(), &[not_yet_a_user(app, &other, now)]).await?;
    let other_written = Instant::now();
    app.store.put_profile(&profile(&other)).await?;

    let digits = star.e164().trim_start_matches('+');
    let other_digits = other.e164().trim_start_matches('+');
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut unrelated_latency = None;
    loop {
        let (told, other_at) = {
            let events = counter.events.lock().unwrap();
            let new = &events[events_before..];
            let told = new.iter().filter(|(e, _)| e.kind == kind && e.phone.as_deref() == Some(digits)).count();
            let other_at = new.iter().find(|(e, _)| e.phone.as_deref() == Some(other_digits)).map(|(_, at)| *at);
            (told, other_at)
        };
        if unrelated_latency.is_none() {
            unrelated_latency = other_at.map(|at| at.duration_since(other_written));
        }
        if told >= recipients && unrelated_latency.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: {told} of {recipients} told after an hour").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delivery = started.elapsed();
    // Late repeats (a redelivered page) would show here: wait for the queue to settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = counter.events.lock().unwrap();
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    let mut messages = 0;
    for (event, _) in &events[events_before..] {
        messages += 1;
        if event.kind == kind && event.phone.as_deref() == Some(digits) {
            *per_recipient.entry(event.to.as_str()).or_default() += 1;
        }
    }
    let (tasks, longest_task) = *durations.tasks.lock().unwrap();
    Ok(FanoutRun {
        what,
        recipients: per_recipient.len(),
        delivery,
        publish_calls: *counter.calls.lock().unwrap() - calls_before,
        messages,
        told_min: per_recipient.values().copied().min().unwrap_or(0),
        told_max: per_recipient.values().copied().max().unwrap_or(0),
        tasks,
        longest_task,
        longest_stream_batch: *durations.stream.lock().unwrap(),
        unrelated_latency: unrelated_latency.unwrap_or_default(),
    })
}

/// The section of docs/BENCHMARKS.md.
pub fn markdown(report: &FanoutReport) -> String {
    let mut out = String::from("\n## 6. Fan-out that scales (issue 15)\n\n");
    out.push_str(&format!(
        "One number in {} address books (seeded straight into DynamoDB Local in {:.1} s) signs up, then changes \
         its status. The notifier reads the table's stream as its event-source mapping does (polled every 100 ms); \
         {} fan-out instances read FanoutQueue (moto's SQS) as its event source does, pages of {}; events are \
         published to SNS (moto) in batches of ten. Each recipient is a registered user. An unrelated sign-up \
         (one contact) is written right after the popular record: its latency is write to event published.\n\n",
        report.recipients,
        report.seed_time.as_secs_f64(),
        report.instances,
        report.page_size
    ));
    out.push_str(
        "| fan-out | recipients told | delivery | publishes (PublishBatch) | messages | told per recipient | \
         queue tasks | longest task | longest stream batch | unrelated record |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for run in &report.runs {
        out.push_str(&format!(
            "| {} | {} | {:.1} s | {} | {} | {}–{} | {} | {:.2} s | {:.2} s | {:.2} s |\n",
            run.what,
            run.recipients,
            run.delivery.as_secs_f64(),
            run.publish_calls,
            run.messages,
            run.told_min,
            run.told_max,
            run.tasks,
            run.longest_task.as_secs_f64(),
            run.longest_stream_batch.as_secs_f64(),
            run.unrelated_latency.as_secs_f64(),
        ));
    }
    out.push_str(
        "\nThe figures are moto's and DynamoDB Local's on this machine, not AWS's: moto answers a PublishBatch in \
         milliseconds on one Python thread, which bounds the rate here. What carries over: no invocation grows with \
         the audience (the longest task is one page; the stream batch is one query and one message), and the record \
         after the popular one waits for neither.\n",
    );
    out
}

/// An address-book entry of `phone` as a sync writes it while she is not a user.
fn not_yet_a_user(app: &shared::App, phone: &PhoneNumber, now: i64) -> NewEntry {
    let key = ContactKey::of(&app.config.otp_secret, phone.e164());
    app.config.contacts.retention.entry(key, None, now, now)
}
