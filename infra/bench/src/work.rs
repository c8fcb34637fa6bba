//! Sections 2 and 3: per operation, the DynamoDB calls, their sequential rounds and the capacity they consume; and
//! the full handler path timed against the same calls issued directly, in the same run, iteration by iteration.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use local_stack::recorder::{RecordedCall, counts, rounds};

use crate::BoxError;
use crate::replay::Mirror;
use crate::scenario::{BenchApp, Operation, expect_ok};
use crate::servers::{DynamoDbLocal, latency_proxy};
use crate::stats::Percentiles;

pub struct OperationFigures {
    pub operation: Operation,
    pub iterations: usize,
    /// DynamoDB calls per operation name, of one request, with the read and write units they consumed.
    pub calls: BTreeMap<String, CallsOfKind>,
    pub other_calls: BTreeMap<String, usize>,
    /// The most rounds any of a few requests took with network latency added ([`NETWORK_LATENCY`]).
    pub rounds: usize,
    pub read_units: f64,
    pub write_units: f64,
    pub handler: Percentiles,
    pub direct: Percentiles,
}

#[derive(Default)]
pub struct CallsOfKind {
    pub count: usize,
    pub read_units: f64,
    pub write_units: f64,
}

impl OperationFigures {
    pub fn dynamodb_calls(&self) -> usize {
        self.calls.values().map(|c| c.count).sum()
    }
}

fn by_kind(calls: &[RecordedCall]) -> BTreeMap<String, CallsOfKind> {
    let mut kinds: BTreeMap<String, CallsOfKind> = BTreeMap::new();
    for call in calls {
        let kind = kinds.entry(call.operation.clone()).or_default();
        kind.count += 1;
        kind.read_units += call.read_units;
        kind.write_units += call.write_units;
    }
    kinds
}

fn iterations(operation: Operation, scale: f64) -> usize {
    let full = match operation {
        Operation::GetContacts(5000) => 10,
        Operation::GetContacts(1000) => 20,
        Operation::GetContacts(250) | Operation::PhotoUpload => 40,
        Operation::GetContacts(100) | Operation::DeltaSync(_) => 60,
        _ => 200,
    };
    ((full as f64 * scale).ceil() as usize).max(3)
}

/// Two DynamoDB Local instances with the same history, each the other's mirror: iterations alternate which one the
/// handler uses and which one the direct calls go to, so a difference between them cannot favour either side.
/// (Two tables in one instance were not equally fast: DynamoDB Local slows down on tables created later.)
pub async fn run(scale: f64) -> Result<Vec<OperationFigures>, BoxError> {
    let (first_db, second_db) = (DynamoDbLocal::start().await?, DynamoDbLocal::start().await?);
    let table = format!("bench-work-{}", local_stack::harness::random_hex(4));
    let mut first = BenchApp::create(&table, &first_db.endpoint).await?;
    let mut second = BenchApp::create(&table, &second_db.endpoint).await?;
    let to_second = Mirror::new(&first_db.endpoint, &second_db.endpoint);
    let to_first = Mirror::new(&second_db.endpoint, &first_db.endpoint);
    let endpoints = [first_db.endpoint.clone(), second_db.endpoint.clone()];
    let is_dynamodb = |c: &RecordedCall| {
        c.request.as_ref().is_some_and(|r| endpoints.iter().any(|endpoint| r.uri.starts_with(endpoint)))
    };

    eprintln!("bench: signing up 500 users for the uploads to find");
    first.register_users(500).await?;
    to_second.replay(&first.calls.take()).await?;
    second.share_registered_users(&first);

    let mut all = vec![];
    for operation in Operation::ALL {
        let iterations = iterations(operation, scale);
        // DynamoDB Local runs on the JVM: the first requests of a kind are slower until it has compiled them.
        let warm_up = (iterations / 10).max(2);
        eprintln!("bench: {} × {iterations} (+{warm_up} warm-up)", operation.label());
        let (mut handler, mut direct) = (vec![], vec![]);
        let mut sample: Option<Vec<RecordedCall>> = None;
        for i in 0..warm_up + iterations {
            let (bench, mirror) = if i % 2 == 0 { (&first, &to_second) } else { (&second, &to_first) };
            let prepared = bench.prepare(operation).await?;
            mirror.replay(&bench.calls.take()).await?;

            let started = Instant::now();
            let reply = bench.call(prepared.call).await;
            let handler_time = started.elapsed();
            expect_ok(&operation.label(), &reply)?;
            let calls = bench.calls.take();
            let direct_time = mirror.replay(&calls).await?;
            if i < warm_up {
                continue;
            }
            handler.push(handler_time);
            direct.push(direct_time);
            sample.get_or_insert(calls);
        }
        let (dynamodb, other): (Vec<RecordedCall>, Vec<RecordedCall>) =
            sample.unwrap_or_default().into_iter().partition(|c| is_dynamodb(c));
        all.push(OperationFigures {
            operation,
            iterations,
            calls: by_kind(&dynamodb),
            other_calls: counts(&other),
            rounds: 0,
            read_units: dynamodb.iter().map(|c| c.read_units).sum(),
            write_units: dynamodb.iter().map(|c| c.write_units).sum(),
            handler: Percentiles::of(&handler),
            direct: Percentiles::of(&direct),
        });
    }

    // Rounds, last (its requests reach only the first instance): with network latency added to every DynamoDB
    // answer. On loopback an answer can come back before the handler has even sent the call it issued together
    // with it, and then two calls that never waited for each other look sequential.
    let proxy = latency_proxy(&first_db.endpoint, NETWORK_LATENCY).await?;
    let mut over_network = BenchApp::at(&table, &proxy).await?;
    over_network.share_registered_users(&first);
    for figures in &mut all {
        for _ in 0..ROUNDS_SAMPLES {
            let prepared = over_network.prepare(figures.operation).await?;
            over_network.calls.reset();
            let reply = over_network.call(prepared.call).await;
            expect_ok(&figures.operation.label(), &reply)?;
            let calls = over_network.calls.take();
            let dynamodb: Vec<RecordedCall> =
                calls.into_iter().filter(|c| c.request.as_ref().is_some_and(|r| r.uri.starts_with(&proxy))).collect();
            let these = rounds(&dynamodb);
            if these.len() > figures.operation.round_goal() {
                eprintln!("bench: {} took {} rounds: {}", figures.operation.label(), these.len(), describe(&these));
            }
            figures.rounds = figures.rounds.max(these.len());
        }
    }
    Ok(all)
}

/// Added to every DynamoDB answer when counting rounds: more than any call's own CPU time, even in a debug build.
pub const NETWORK_LATENCY: Duration = Duration::from_millis(25);
const ROUNDS_SAMPLES: usize = 3;

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// `[GetItem 0.0–1.2] [Query 1.3–2.0, BatchGetItem 1.3–2.4]`: each round's calls with start and end in ms.
fn describe(rounds: &[Vec<RecordedCall>]) -> String {
    let Some(zero) = rounds.first().and_then(|r| r.first()).map(|c| c.started) else { return String::new() };
    let at = |t: Instant| t.duration_since(zero).as_secs_f64() * 1000.0;
    rounds
        .iter()
        .map(|round| {
            let calls: Vec<String> = round
                .iter()
                .map(|c| format!("{} {:.1}–{:.1}", c.operation, at(c.started), at(c.ended.unwrap_or(c.started))))
                .collect();
            format!("[{}]", calls.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
