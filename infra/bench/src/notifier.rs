//! Section 7, the notifier keeping up (issue 28): sign-ups a second it tells, each number in the address books of
//! the same `AUDIENCE` users, as it ran before (one record per invocation, one invocation at a time per shard) and as
//! it runs now (the template's batches, their partition keys side by side, `ParallelizationFactor` batches of a
//! shard at once), alternated in one run; and what one sign-up and one profile change cost it (DynamoDB calls and
//! units, SNS calls, time), which docs/COST.md and docs/SCALE.md are computed from.
//!
//! Every DynamoDB and SNS answer comes a round trip inside the region late (usage.json's `round_trip_ms`, through a
//! proxy): on loopback the calls cost no waiting, and the notifier's work is mostly waiting for them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use local_stack::harness::{random_hex, random_phone};
use local_stack::queue::QueuePoller;
use local_stack::recorder::{CallRecorder, RecordedCall, counts};
use local_stack::stream::StreamPoller;
use shared::adapters::dynamodb::keys;
use shared::adapters::dynamodb::stream::{StreamEvent, StreamRecord};
use shared::adapters::sns::SnsEvents;
use shared::model::address_book::{ContactKey, NewEntry};
use shared::model::profile::Profile;
use shared::usecase::ports::ContactStore;
use shared::{App, Clock, Config, PhoneNumber, SystemClock};

use crate::BoxError;
use crate::scenario::function_env;
use crate::servers::{DynamoDbLocal, latency_proxy};
use crate::stats::Percentiles;

/// People who have each new number in their address book, for the throughput.
pub const AUDIENCE: usize = 100;
/// The audiences one record's work is measured at: docs/COST.md's scenarios' contacts (address books are mostly
/// mutual, so a user's audience is about her contacts).
pub const AUDIENCES: [usize; 2] = [100, 250];
/// Each way is timed this many times, alternating, on sign-ups of its own.
const ROUNDS: usize = 3;

/// Which news a record is (docs/bench-results.json names it by its label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News {
    SignUp,
    ProfileChange,
}

impl News {
    pub fn label(self) -> &'static str {
        match self {
            News::SignUp => "sign-up",
            News::ProfileChange => "profile change",
        }
    }
}

/// One record's work, averaged over records handled one at a time.
#[derive(Debug, Clone)]
pub struct RecordWork {
    pub news: News,
    pub audience: usize,
    pub records: usize,
    pub dynamodb_calls: f64,
    pub read_units: f64,
    pub write_units: f64,
    /// Calls to SNS by action, per record.
    pub other_calls: BTreeMap<String, f64>,
    /// Events published per record (a PublishBatch carries up to ten).
    pub events: f64,
    pub handler: Percentiles,
}

#[derive(Debug, Clone)]
pub struct NotifierReport {
    pub audience: usize,
    pub round_trip_ms: f64,
    pub batch_size: usize,
    pub parallelization: usize,
    /// Sign-ups told per second, one record per invocation and one invocation at a time (before).
    pub before: Vec<f64>,
    /// The same with the template's batches and parallelization (after).
    pub after: Vec<f64>,
    /// Each news at each of [`AUDIENCES`].
    pub records: Vec<RecordWork>,
}

/// The event-source mapping's settings for the notifier, as template.yaml gives them.
fn mapping() -> Result<(usize, usize), BoxError> {
    let template = local_stack::template::template();
    let properties = &template["Resources"]["NotifierFunction"]["Properties"]["Events"]["NewUsers"]["Properties"];
    let number = |name: &str| {
        properties[name].as_u64().map(|n| n as usize).ok_or_else(|| format!("template.yaml: NewUsers has no {name}"))
    };
    Ok((number("BatchSize")?, number("ParallelizationFactor")?))
}

pub async fn run(scale: f64, round_trip_ms: f64) -> Result<NotifierReport, BoxError> {
    let per_round = ((100.0 * scale).ceil() as usize).max(20);
    let (batch_size, parallelization) = mapping()?;
    let sdk = shared::app::sdk_config().await;
    // A DynamoDB Local of its own: the shared one holds the fan-out section's hundred thousand address books.
    let database = DynamoDbLocal::start().await?;
    let table = format!("bench-notifier-{}", random_hex(4));
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&database.endpoint).build(),
    );
    local_stack::template::create_table(&dynamodb, &table).await?;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns.create_topic().name(format!("bench-notifier-{}", random_hex(4))).send().await?.topic_arn;
    let topic = topic.ok_or("no topic ARN")?;
    let queue = QueuePoller::create(aws_sdk_sqs::Client::new(&sdk), &format!("{table}-fanout"), 60).await?;
    let mut vars: HashMap<String, String> = function_env(&table).into_iter().collect();
    vars.insert("CONTACT_EVENTS_TOPIC_ARN".into(), topic.clone());
    vars.insert("FANOUT_QUEUE_URL".into(), queue.url.clone());
    let config = || Config::from_lookup(|name| vars.get(name).cloned());

    // Set up straight against the stack; measured through the proxies, every call recorded.
    let direct = App::from_clients(config()?, dynamodb.clone(), sns.clone(), Arc::new(SystemClock));
    let delay = Duration::from_secs_f64(round_trip_ms / 1000.0);
    let dynamodb_proxy = latency_proxy(&database.endpoint, delay).await?;
    let sns_proxy = latency_proxy(&local_stack::harness::stack_env("AWS_ENDPOINT_URL_SNS"), delay).await?;
    let calls = CallRecorder::with_consumed_capacity();
    let measured_dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&dynamodb_proxy).interceptor(calls.clone()).build(),
    );
    let measured_sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(&sns_proxy).interceptor(calls.clone()).build(),
    );
    let app = App::from_clients(config()?, measured_dynamodb, measured_sns.clone(), Arc::new(SystemClock));
    let sink = SnsEvents::new(measured_sns, topic);
    let sender = queue.sender();

    // Every round's numbers are in the same audience's address books from the start; the wide numbers in more.
    let rounds_of_numbers: Vec<Vec<PhoneNumber>> =
        (0..2 * ROUNDS).map(|_| (0..per_round).map(|_| random_phone()).collect()).collect();
    let wide_count = (per_round / 2).max(10);
    let wide: Vec<Vec<PhoneNumber>> =
        AUDIENCES.iter().map(|_| (0..wide_count).map(|_| random_phone()).collect()).collect();
    eprintln!("bench: 7. notifier: seeding address books");
    // Owners are added audience by audience: those added for an audience hold its wide numbers and every larger
    // one's, and the first (AUDIENCE of them) also every round's numbers.
    let mut seeded_owners = 0;
    for (at, audience) in AUDIENCES.iter().enumerate() {
        let mut held: Vec<&PhoneNumber> = wide[at..].iter().flatten().collect();
        if at == 0 {
            held.extend(rounds_of_numbers.iter().flatten());
        }
        seed(&direct, audience - seeded_owners, held.into_iter()).await?;
        seeded_owners = *audience;
    }
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::config::Builder::from(&sdk).endpoint_url(&database.endpoint).build(),
    );
    let mut poller = StreamPoller::new(&dynamodb, streams, &table).await?;
    // The audience's own profiles: read past them (an empty read does not mean the shard is read to its end).
    let mut empty = 0;
    while empty < 3 {
        empty = if poller.poll().await?.records.is_empty() { empty + 1 } else { 0 };
    }

    let (mut before, mut after) = (vec![], vec![]);
    let mut singles: Vec<(Vec<RecordedCall>, Vec<Duration>)> = vec![];
    for (round, numbers) in rounds_of_numbers.iter().enumerate() {
        let records = sign_up(&direct, &mut poller, numbers).await?;
        calls.reset();
        let started = Instant::now();
        if round % 2 == 0 {
            let times = one_at_a_time(&app, &sink, &sender, records).await?;
            before.push(numbers.len() as f64 / started.elapsed().as_secs_f64());
            singles.push((calls.take(), times));
        } else {
            batched(&app, &sink, &sender, records, batch_size, parallelization).await?;
            after.push(numbers.len() as f64 / started.elapsed().as_secs_f64());
        }
        eprintln!("bench: 7. notifier: round {} of {}", round + 1, 2 * ROUNDS);
    }
    let mut records = vec![record_work(News::SignUp, AUDIENCE, &dynamodb_proxy, singles)];

    // Those who signed up in the first round change their status: profile_updated to the same audience.
    let changes = change_status(&direct, &mut poller, &rounds_of_numbers[0]).await?;
    calls.reset();
    let times = one_at_a_time(&app, &sink, &sender, changes).await?;
    records.push(record_work(News::ProfileChange, AUDIENCE, &dynamodb_proxy, vec![(calls.take(), times)]));

    // Each wider audience: sign-ups, then their status changes, one at a time.
    for (audience, numbers) in AUDIENCES.iter().zip(&wide).filter(|(a, _)| **a != AUDIENCE) {
        eprintln!("bench: 7. notifier: {audience} address books");
        for news in [News::SignUp, News::ProfileChange] {
            let written = match news {
                News::SignUp => sign_up(&direct, &mut poller, numbers).await?,
                News::ProfileChange => change_status(&direct, &mut poller, numbers).await?,
            };
            calls.reset();
            let times = one_at_a_time(&app, &sink, &sender, written).await?;
            records.push(record_work(news, *audience, &dynamodb_proxy, vec![(calls.take(), times)]));
        }
    }
    Ok(NotifierReport { audience: AUDIENCE, round_trip_ms, batch_size, parallelization, before, after, records })
}

/// `owners` users, each with every one of `numbers` in the address book, not yet users; written straight.
async fn seed<'a>(app: &App, owners: usize, numbers: impl Iterator<Item = &'a PhoneNumber>) -> Result<(), BoxError> {
    let now = SystemClock.now();
    let entries: Vec<NewEntry> = numbers
        .map(|n| {
            let key = ContactKey::of(&app.config.otp_secret, n.e164());
            app.config.contacts.retention.entry(key, None, now, now)
        })
        .collect();
    let entries = &entries;
    let seeded: Vec<Result<(), BoxError>> = futures::stream::iter(0..owners)
        .map(|_| async move {
            let owner = random_phone();
            app.store.put_profile(&Profile::new(owner.clone(), "owner".into(), now, None)).await?;
            app.store.put_entries(owner.e164(), entries).await?;
            Ok(())
        })
        .buffer_unordered(4)
        .collect()
        .await;
    seeded.into_iter().collect()
}

/// The profiles of `numbers` written as verify writes a first sign-in's, and their stream records.
async fn sign_up(app: &App, poller: &mut StreamPoller, numbers: &[PhoneNumber]) -> Result<Vec<StreamRecord>, BoxError> {
    let now = SystemClock.now();
    for number in numbers {
        app.store.put_profile(&Profile::new(number.clone(), "new".into(), now, None)).await?;
    }
    profile_records(poller, numbers.len()).await
}

async fn change_status(
    app: &App,
    poller: &mut StreamPoller,
    numbers: &[PhoneNumber],
) -> Result<Vec<StreamRecord>, BoxError> {
    let now = SystemClock.now() + 1;
    for number in numbers {
        let profile = Profile {
            status: "Open 9 to 5".into(),
            updated_at: now,
            ..Profile::new(number.clone(), "new".into(), now - 1, None)
        };
        app.store.put_profile(&profile).await?;
    }
    profile_records(poller, numbers.len()).await
}

/// The next `count` profile records of the stream, in its order (the notifier's filter: the local poller also lets
/// the mesibo reader's records through).
async fn profile_records(poller: &mut StreamPoller, count: usize) -> Result<Vec<StreamRecord>, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut records = vec![];
    while records.len() < count {
        if Instant::now() > deadline {
            return Err(format!("the stream gave {} of {count} profile records", records.len()).into());
        }
        let is_profile =
            |r: &StreamRecord| r.dynamodb.keys.get(keys::SK).and_then(|k| k["S"].as_str()) == Some(keys::PROFILE);
        records.extend(poller.poll().await?.records.into_iter().filter(is_profile));
    }
    Ok(records)
}

/// Before: each record an invocation of its own, in the shard's order.
async fn one_at_a_time(
    app: &App,
    sink: &SnsEvents,
    sender: &shared::adapters::sqs::SqsFanout,
    records: Vec<StreamRecord>,
) -> Result<Vec<Duration>, BoxError> {
    let mut times = vec![];
    for record in records {
        let started = Instant::now();
        let done = shared::edge::stream::handle(app, sink, sender, StreamEvent { records: vec![record] }).await;
        times.push(started.elapsed());
        if !done.batch_item_failures.is_empty() {
            return Err("the notifier failed a record".into());
        }
    }
    Ok(times)
}

/// After: as the event-source mapping hands them over. Each partition key goes to one of `parallelization` lanes
/// (Lambda keeps a key's records in one, in order); a lane's batches of `batch_size` go one after another, the lanes
/// side by side.
async fn batched(
    app: &App,
    sink: &SnsEvents,
    sender: &shared::adapters::sqs::SqsFanout,
    records: Vec<StreamRecord>,
    batch_size: usize,
    parallelization: usize,
) -> Result<(), BoxError> {
    let mut lanes: Vec<Vec<StreamRecord>> = vec![vec![]; parallelization];
    for record in records {
        let lane = lane_of(&record.partition_key(), parallelization);
        lanes[lane].push(record);
    }
    let lanes = lanes.into_iter().map(|lane| async move {
        for batch in lane.chunks(batch_size) {
            let event = StreamEvent { records: batch.to_vec() };
            if !shared::edge::stream::handle(app, sink, sender, event).await.batch_item_failures.is_empty() {
                return Err::<(), BoxError>("the notifier failed a batch".into());
            }
        }
        Ok(())
    });
    futures::future::try_join_all(lanes).await?;
    Ok(())
}

fn lane_of(key: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// Calls and time per record, over runs that handled records one at a time; DynamoDB's calls are those to
/// `dynamodb`, the others SNS's.
fn record_work(
    news: News,
    audience: usize,
    dynamodb: &str,
    runs: Vec<(Vec<RecordedCall>, Vec<Duration>)>,
) -> RecordWork {
    let records: usize = runs.iter().map(|(_, times)| times.len()).sum();
    let per = |total: f64| total / records.max(1) as f64;
    let (mut dynamodb_calls, mut read_units, mut write_units, mut events) = (0usize, 0.0, 0.0, 0usize);
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    let mut times = vec![];
    for (calls, run_times) in runs {
        let (database, sns): (Vec<RecordedCall>, Vec<RecordedCall>) =
            calls.into_iter().partition(|c| c.request.as_ref().is_some_and(|r| r.uri.starts_with(dynamodb)));
        dynamodb_calls += database.len();
        read_units += database.iter().map(|c| c.read_units).sum::<f64>();
        write_units += database.iter().map(|c| c.write_units).sum::<f64>();
        events += sns.iter().map(published).sum::<usize>();
        for (action, n) in counts(&sns) {
            *other.entry(action).or_default() += n;
        }
        times.extend(run_times);
    }
    RecordWork {
        news,
        audience,
        records,
        dynamodb_calls: per(dynamodb_calls as f64),
        read_units: per(read_units),
        write_units: per(write_units),
        other_calls: other.into_iter().map(|(k, v)| (k, per(v as f64))).collect(),
        events: per(events as f64),
        handler: Percentiles::of(&times),
    }
}

/// Events a Publish or PublishBatch request carries.
fn published(call: &RecordedCall) -> usize {
    let Some(request) = call.request.as_ref() else { return 0 };
    match call.operation.as_str() {
        "Publish" => 1,
        "PublishBatch" => form_urlencoded::parse(&request.body)
            .filter(|(k, _)| k.starts_with("PublishBatchRequestEntries.member.") && k.ends_with(".Id"))
            .count(),
        _ => 0,
    }
}

/// The middle of the rounds (they are odd in number).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::stats::nearest_rank(&sorted, 50.0)
}

/// The section of docs/BENCHMARKS.md.
pub fn markdown(report: &NotifierReport) -> String {
    let (before, after) = (median(&report.before), median(&report.after));
    let list = |values: &[f64]| values.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(", ");
    let mut out = String::from("\n## 7. The notifier keeping up (issue 28)\n\n");
    out.push_str(&format!(
        "New users sign up, each number in the address books of the same {} users (its audience, all told \
         `contact_joined`). Before: the records one after another, as the notifier told a batch before issue 28 (no \
         ParallelizationFactor, each record in turn), run as today's handler given one record at a time: what the \
         mapping and the keys side by side add, not what the older per-record code cost. After: the template's mapping (BatchSize {}, ParallelizationFactor {}: a partition key's \
         records in one of {} lanes, in order; a batch's keys told side by side). Every DynamoDB and SNS answer comes \
         {} ms late through a proxy (usage.json's round trip inside a region). The two ways alternate, {} rounds \
         each, before first (its first round also meets the JVM's warm-up), on sign-ups of their own; each cell is sign-ups told per second of one shard. DynamoDB Local, moto \
         and the notifier share this machine's cores, which bound the \"after\" figure here; on AWS each lane is an \
         invocation of its own.\n\n",
        report.audience,
        report.batch_size,
        report.parallelization,
        report.parallelization,
        report.round_trip_ms,
        report.before.len(),
    ));
    out.push_str("| notifier | sign-ups/s (median) | rounds | ratio |\n|---|---:|---|---:|\n");
    out.push_str(&format!("| before: records in turn | {before:.1} | {} | 1.00× |\n", list(&report.before)));
    out.push_str(&format!(
        "| after: batches of {}, {} at once | {after:.1} | {} | {:.2}× |\n",
        report.batch_size,
        report.parallelization,
        list(&report.after),
        after / before.max(f64::MIN_POSITIVE)
    ));
    out.push_str(&format!(
        "\nWhat one record costs, one at a time (the figures docs/COST.md and docs/SCALE.md use; handler time \
         includes the {} ms round trips):\n\n",
        report.round_trip_ms
    ));
    out.push_str(
        "| record | audience | records | DynamoDB calls | RCU | WCU | SNS calls | events | handler p50 | handler p99 |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for work in &report.records {
        let what = match work.news {
            News::SignUp => "sign-up (contact_joined)",
            News::ProfileChange => "status change (profile_updated)",
        };
        let sns: Vec<String> = work.other_calls.iter().map(|(k, v)| format!("{v:.1} {k}")).collect();
        out.push_str(&format!(
            "| {what} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} ms | {:.1} ms |\n",
            work.audience,
            work.records,
            work.dynamodb_calls,
            work.read_units,
            work.write_units,
            if sns.is_empty() { "–".into() } else { sns.join(", ") },
            work.events,
            work.handler.p50.as_secs_f64() * 1000.0,
            work.handler.p99.as_secs_f64() * 1000.0,
        ));
    }
    out
}
