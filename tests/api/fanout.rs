//! Fan-out that scales (issue 15): an audience larger than a page leaves the stream record at once and is told
//! through the fan-out queue, a page per task, everyone exactly once; a redelivered page repeats at most one round;
//! visible profile changes past the hourly limit are stored at once but told once, coalesced, at the hour's end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::queue::QueuePoller;
use local_stack::stream::StreamPoller;
use serde_json::json;
use shared::adapters::sns::SnsEvents;
use shared::edge::stream::{handle, handle_fanout};
use shared::model::events::{CONTACT_JOINED, ContactEvent, FanoutTask, PROFILE_UPDATED, ProfileNews};
use shared::model::profile::Profile;
use shared::usecase::notify::{PAGE_PUBLISHES_AT_ONCE, fan_out};
use shared::usecase::ports::{EventSink, ProfileStore, PublishFailed};
use shared::{Clock, PhoneNumber};

/// `recipients` registered users who each have the newcomer's number, written straight to the table.
async fn audience(t: &TestApp, newcomer: &PhoneNumber, recipients: usize) -> Vec<PhoneNumber> {
    // Distinct, and not the newcomer: random numbers come from eight million, where 2,500 draws repeat one about a
    // third of the time (and the test then counted one event short).
    let mut distinct = std::collections::HashSet::from([newcomer.clone()]);
    let owners: Vec<PhoneNumber> =
        std::iter::repeat_with(random_phone).filter(|owner| distinct.insert(owner.clone())).take(recipients).collect();
    let now = t.clock.now();
    futures::stream::iter(&owners)
        .for_each_concurrent(16, |owner| async move {
            let profile = Profile::new(owner.clone(), "owner".into(), now, None);
            t.app.store.put_profile(&profile).await.unwrap();
            t.seed_entry(owner.e164(), newcomer.e164()).await;
        })
        .await;
    owners
}

async fn app_with(vars: &[(&str, &str)]) -> (TestApp, StreamPoller, RecordingSink) {
    let topic = scratch_topic().await;
    let mut all = vec![("CONTACT_EVENTS_TOPIC_ARN", topic.as_str())];
    all.extend_from_slice(vars);
    let t = spawn_app_with(&all).await;
    let sdk = shared::app::sdk_config().await;
    let poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let sink = RecordingSink::new(SnsEvents::new(t.app.sns_client(), topic));
    (t, poller, sink)
}

/// Skips what the stream holds so far (a read returns at most 1,000 records: seeded audiences take several).
async fn skip_the_stream(poller: &mut StreamPoller) {
    while !poller.poll().await.unwrap().records.is_empty() {}
}

/// Runs the fan-out function on the queue, as its event source does, until the queue is empty: how many tasks ran.
async fn drain_queue(t: &TestApp, queue: &QueuePoller, sink: &impl EventSink) -> usize {
    let mut tasks = 0;
    let sender = queue.sender();
    let deadline = Instant::now() + Duration::from_secs(120);
    while queue.depth().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the fan-out finishes");
        let (event, receipts) = queue.receive(1).await.unwrap();
        if event.records.is_empty() {
            continue;
        }
        tasks += event.records.len();
        let response = handle_fanout(&t.app, sink, &sender, event.clone()).await;
        assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
        queue.settle(&event, &receipts, &response).await.unwrap();
    }
    tasks
}

/// FanoutQueue's visibility timeout (template.yaml): how long SQS waits before it gives a failed page again.
const QUEUE_VISIBILITY_SECONDS: i64 = 360;

fn per_recipient(events: &[ContactEvent]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts.entry(format!("+{}", event.to)).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_large_audience_leaves_the_stream_at_once_and_is_told_through_pages_exactly_once() {
    let (t, mut poller, sink) = app_with(&[("FANOUT_PAGE_SIZE", "1000")]).await;
    let queue = t.fanout_poller().await;
    let newcomer = random_phone();
    let owners = audience(&t, &newcomer, 2500).await;
    skip_the_stream(&mut poller).await; // the seeded profiles: not what this test is about

    t.sign_in(newcomer.e164()).await;
    let event = poller.poll().await.unwrap();
    let started = Instant::now();
    let done = handle(&t.app, &sink, &queue.sender(), event).await;
    let stream_time = started.elapsed();
    assert!(done.batch_item_failures.is_empty());
    assert!(sink.events().is_empty(), "nothing published inline for an audience of many pages");
    assert_eq!(queue.depth().await.unwrap(), 1, "one task: the first page");
    assert!(stream_time < Duration::from_secs(2), "the stream record took {stream_time:?}");

    assert_eq!(drain_queue(&t, &queue, &sink).await, 3, "three pages of 1,000 for 2,500");
    let events = sink.events();
    let counts = per_recipient(&events);
    assert_eq!(events.len(), owners.len(), "one event each");
    assert!(owners.iter().all(|o| counts.get(o.e164()) == Some(&1)), "every owner told exactly once");
    assert!(events.iter().all(|e| e.kind == CONTACT_JOINED && e.phone.as_deref() == Some(newcomer.digits())));
}

/// The real publisher that fails one call after publishing it (a crash after SNS took the batch).
struct CrashingSink<'a> {
    inner: &'a RecordingSink,
    calls: AtomicUsize,
    crash_at: usize,
}

impl EventSink for CrashingSink<'_> {
    async fn publish(&self, events: &[ContactEvent]) -> Result<(), PublishFailed> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(events).await?;
        if call == self.crash_at { Err(PublishFailed) } else { Ok(()) }
    }

    async fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> Result<(), PublishFailed> {
        self.inner.push(endpoint_arn, event).await
    }
}

#[tokio::test]
async fn a_redelivered_page_repeats_at_most_one_round_and_a_finished_one_nothing() {
    let (t, mut poller, sink) = app_with(&[("FANOUT_PAGE_SIZE", "400")]).await;
    let queue = t.fanout_poller().await;
    let newcomer = random_phone();
    let owners = audience(&t, &newcomer, 700).await;
    skip_the_stream(&mut poller).await;
    t.sign_in(newcomer.e164()).await;
    let profile = t.app.store.profile_records(&[newcomer.e164().to_owned()]).await.unwrap().remove(0);
    let news = ProfileNews { kind: CONTACT_JOINED, ..ProfileNews::current(&profile) };
    let news = ProfileNews { ts: profile.created_at, ..news };
    let first_page = FanoutTask::page(&news, None);

    // The first page's invocation dies in its third round, after SNS took that round's batches.
    let crashing = CrashingSink { inner: &sink, calls: AtomicUsize::new(0), crash_at: 2 * PAGE_PUBLISHES_AT_ONCE };
    assert!(fan_out(&t.app, &crashing, &queue.sender(), first_page.clone()).await.is_err());
    assert_eq!(queue.depth().await.unwrap(), 1, "the second page was queued before the first published");
    // SQS gives the page again once its visibility timeout is over; then the second page runs; then a stray copy
    // of the first page comes.
    t.clock.advance(QUEUE_VISIBILITY_SECONDS);
    fan_out(&t.app, &sink, &queue.sender(), first_page.clone()).await.unwrap();
    drain_queue(&t, &queue, &sink).await;
    fan_out(&t.app, &sink, &queue.sender(), first_page).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0, "the next page is queued once, not per copy");

    let events = sink.events();
    let counts = per_recipient(&events);
    assert!(owners.iter().all(|o| counts.contains_key(o.e164())), "everyone told");
    let repeats = events.len() - owners.len();
    assert!(repeats > 0, "the crashed round's batches were published, then published again");
    assert!(repeats <= PAGE_PUBLISHES_AT_ONCE * 10, "{repeats} repeats: at most one round");
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), owners.len(), "repeats carry the same event ids");
}

/// SQS may deliver a message twice, even at the same moment, and address books change between a page's attempts:
/// one copy of a page works at a time, and every attempt queues the same next page, so the chain of pages stays one.
#[tokio::test]
async fn copies_of_a_page_and_a_changed_audience_between_attempts_still_make_one_chain_of_pages() {
    let (t, mut poller, sink) = app_with(&[("FANOUT_PAGE_SIZE", "100")]).await;
    let queue = t.fanout_poller().await;
    let newcomer = random_phone();
    let mut owners: Vec<String> = audience(&t, &newcomer, 350).await.iter().map(|o| o.e164().to_owned()).collect();
    owners.sort();
    skip_the_stream(&mut poller).await;
    t.sign_in(newcomer.e164()).await;
    let profile = t.app.store.profile_records(&[newcomer.e164().to_owned()]).await.unwrap().remove(0);
    let news = ProfileNews { kind: CONTACT_JOINED, ts: profile.created_at, ..ProfileNews::current(&profile) };
    let first_page = FanoutTask::page(&news, None);

    // Two copies of the first page at once: one works, the other drops out.
    let sender = queue.sender();
    let (a, b) = tokio::join!(
        fan_out(&t.app, &sink, &sender, first_page.clone()),
        fan_out(&t.app, &sink, &sender, first_page.clone())
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 1, "the second page queued once");
    assert_eq!(sink.events().len(), 100, "the first page told once");

    // The second page dies after its first batch (it queued the third page first); then one of its owners drops
    // the number, which moves where a fresh query would end the page.
    let (event, receipts) = queue.receive(1).await.unwrap();
    let second_page: FanoutTask = serde_json::from_str(&event.records[0].body).unwrap();
    let crashing = CrashingSink { inner: &sink, calls: AtomicUsize::new(0), crash_at: 0 };
    assert!(fan_out(&t.app, &crashing, &sender, second_page.clone()).await.is_err());
    // Out of the queue: its retry is run by hand below.
    queue.settle(&event, &receipts, &Default::default()).await.unwrap();
    let dropped = owners.remove(150);
    unseed_address_book(&t.app.store, &t.app.config.otp_secret, &dropped, &[newcomer.e164().to_owned()]).await;
    t.clock.advance(QUEUE_VISIBILITY_SECONDS);
    fan_out(&t.app, &sink, &sender, second_page).await.unwrap();
    assert_eq!(drain_queue(&t, &queue, &sink).await, 2, "the third and fourth pages, once each: one chain");

    let counts = per_recipient(&sink.events());
    assert!(owners.iter().all(|o| counts.contains_key(o)), "everyone still in the audience told");
    let repeated = counts.values().filter(|n| **n > 1).count();
    assert!(repeated <= PAGE_PUBLISHES_AT_ONCE * 10, "only the crashed round told twice: {repeated} repeated");
    assert!(counts.values().all(|n| *n <= 2), "nobody told more than twice");
}

async fn set_status(t: &TestApp, token: &str, status: &str) {
    let call = HttpCall::post("/profile").json(&json!({ "status": status })).bearer(token);
    let reply = t.call(call).await;
    assert_eq!(reply.status, 200, "the change itself is never refused: {:?}", reply.json);
}

#[tokio::test]
async fn status_changes_past_the_hourly_limit_are_stored_and_told_once_coalesced_at_the_hour_end() {
    let (t, mut poller, sink) = app_with(&[("PROFILE_FANOUTS_PER_HOUR", "2")]).await;
    let queue = t.fanout_poller().await;
    let star = random_phone();
    let owners = audience(&t, &star, 3).await;
    let token = t.sign_in(star.e164()).await;
    skip_the_stream(&mut poller).await;
    // Start at an hour's beginning, so the five changes share one window.
    let now = t.clock.now();
    t.clock.advance(3600 - now.rem_euclid(3600) + 1);

    for i in 0..5 {
        t.clock.advance(1);
        set_status(&t, &token, &format!("status {i}")).await;
        let event = poller.poll().await.unwrap();
        assert!(handle(&t.app, &sink, &queue.sender(), event).await.batch_item_failures.is_empty());
    }
    let told: Vec<String> = sink.events().iter().filter_map(|e| e.status.clone()).collect();
    assert_eq!(told.len(), 2 * owners.len(), "two changes told, three held back: {told:?}");
    assert!(!told.iter().any(|s| s == "status 4"));
    assert_eq!(queue.depth().await.unwrap(), 1, "one coalesced task for the three held back");

    // The task comes due at the hour's end (SQS holds it up to 15 minutes at a time; here it is run at once).
    let due = t.clock.now() - t.clock.now().rem_euclid(3600) + 3600;
    let coalesced = FanoutTask::Coalesced { e164: star.e164().to_owned(), due };
    fan_out(&t.app, &sink, &queue.sender(), coalesced.clone()).await.unwrap();
    assert_eq!(sink.events().len(), 2 * owners.len(), "not before it is due");
    t.clock.advance(due - t.clock.now());
    fan_out(&t.app, &sink, &queue.sender(), coalesced.clone()).await.unwrap();
    fan_out(&t.app, &sink, &queue.sender(), coalesced).await.unwrap();
    let events = sink.events();
    let last = &events[2 * owners.len()..];
    assert_eq!(last.len(), owners.len(), "the held-back changes told once, even if the task comes twice");
    assert!(last.iter().all(|e| e.kind == PROFILE_UPDATED && e.status.as_deref() == Some("status 4")));
}

/// A newcomer in 250 address books (pages of 100) has signed in, and the stream record has queued the first page,
/// not yet told.
async fn joined_with_pages_queued() -> (TestApp, StreamPoller, RecordingSink, QueuePoller, PhoneNumber, String) {
    let (t, mut poller, sink) = app_with(&[("FANOUT_PAGE_SIZE", "100")]).await;
    let queue = t.fanout_poller().await;
    let newcomer = random_phone();
    audience(&t, &newcomer, 250).await;
    skip_the_stream(&mut poller).await;
    let token = t.sign_in(newcomer.e164()).await;
    let joined = poller.poll().await.unwrap();
    assert!(handle(&t.app, &sink, &queue.sender(), joined).await.batch_item_failures.is_empty());
    assert_eq!(queue.depth().await.unwrap(), 1, "the first page queued, not yet told");
    (t, poller, sink, queue, newcomer, token)
}

/// The account deleted through the API, with a fresh code, two minutes later.
async fn delete_account(t: &TestApp, phone: &PhoneNumber, token: &str) {
    t.clock.advance(120);
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let deleted = t.call(HttpCall::post("/deleteaccount").json(&json!({ "code": code })).bearer(token)).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.json);
}

/// Pages can trail the stream by minutes: a page of news about an account deleted since tells nobody the deleted
/// name, status or photo, and queues no further page.
#[tokio::test]
async fn pages_of_an_account_deleted_since_tell_nothing_and_end_the_chain() {
    let (t, _poller, sink, queue, newcomer, token) = joined_with_pages_queued().await;

    delete_account(&t, &newcomer, &token).await;

    assert_eq!(drain_queue(&t, &queue, &sink).await, 1, "the first page ran, and queued no second one");
    assert!(sink.events().is_empty(), "nobody told of a deleted account: {:?}", sink.events().len());
}

/// An account deleted and made anew while its old pages wait: the old pages tell nothing, the new account's own
/// pages tell everyone, once.
#[tokio::test]
async fn pages_of_an_account_made_anew_since_tell_only_the_new_account() {
    let (t, mut poller, sink, queue, newcomer, token) = joined_with_pages_queued().await;
    let old = t.app.store.profile_now(newcomer.e164()).await.unwrap().unwrap().created_at;

    delete_account(&t, &newcomer, &token).await;
    // Long enough after the deletion that the new account's sign-up is a join again (REJOIN_QUIET_SECONDS).
    t.clock.advance(shared::model::events::REJOIN_QUIET_SECONDS + 120);
    t.sign_in(newcomer.e164()).await;
    let new = t.app.store.profile_now(newcomer.e164()).await.unwrap().unwrap().created_at;
    assert!(new > old);
    loop {
        let batch = poller.poll().await.unwrap();
        if batch.records.is_empty() {
            break;
        }
        assert!(handle(&t.app, &sink, &queue.sender(), batch).await.batch_item_failures.is_empty());
    }

    assert_eq!(drain_queue(&t, &queue, &sink).await, 4, "the old first page, then the new account's three");
    let events = sink.events();
    assert_eq!(events.len(), 250, "everyone told once, of the new account");
    assert!(events.iter().all(|e| e.kind == CONTACT_JOINED && e.ts == new), "nothing of the old account");
}
