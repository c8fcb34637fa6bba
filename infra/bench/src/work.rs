//! Sections 2 and 3: per operation, the DynamoDB calls, their sequential rounds and the capacity they consume; and
//! the full handler path timed against the same calls issued directly, in the same run, iteration by iteration.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use local_stack::recorder::{RecordedCall, counts, rounds};

use crate::BoxError;
use crate::replay::Mirror;
use crate::scenario::{BenchApp, Operation, expect_ok};
use crate::stats::Percentiles;

pub struct OperationFigures {
    pub operation: Operation,
    pub iterations: usize,
    /// DynamoDB calls per operation name, of one request, with the read and write units they consumed.
    pub calls: BTreeMap<String, CallsOfKind>,
    pub other_calls: BTreeMap<String, usize>,
    /// The most rounds any iteration took.
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
        Operation::GetContacts(100) => 60,
        _ => 200,
    };
    ((full as f64 * scale).ceil() as usize).max(3)
}

/// Two tables, each the other's mirror: iterations alternate which one the handler uses and which one the direct
/// calls go to, so a difference between the tables (DynamoDB Local is not equally fast on every table) cannot
/// favour either side.
pub async fn run(scale: f64) -> Result<Vec<OperationFigures>, BoxError> {
    let suffix = integration_tests::random_hex(4);
    let mut first = BenchApp::new(&format!("bench-work-a-{suffix}")).await?;
    let mut second = BenchApp::new(&format!("bench-work-b-{suffix}")).await?;
    let to_second = Mirror::new(first.table(), second.table());
    let to_first = Mirror::new(second.table(), first.table());
    let dynamodb_endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")?;
    let is_dynamodb = |c: &RecordedCall| c.request.as_ref().is_some_and(|r| r.uri.starts_with(&dynamodb_endpoint));

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
        let mut most_rounds = 0;
        for i in 0..warm_up + iterations {
            let (bench, mirror) = if i % 2 == 0 { (&first, &to_second) } else { (&second, &to_first) };
            let prepared = bench.prepare(operation).await?;
            mirror.replay(&bench.calls.take()).await?;

            let started = Instant::now();
            let reply = bench.call(prepared.function, prepared.call).await;
            let handler_time = started.elapsed();
            expect_ok(&operation.label(), &reply)?;
            let calls = bench.calls.take();
            let direct_time = mirror.replay(&calls).await?;
            if i < warm_up {
                continue;
            }
            handler.push(handler_time);
            direct.push(direct_time);
            let dynamodb: Vec<RecordedCall> = calls.iter().filter(|c| is_dynamodb(c)).cloned().collect();
            most_rounds = most_rounds.max(rounds(&dynamodb).len());
            sample.get_or_insert(calls);
        }
        let (dynamodb, other): (Vec<RecordedCall>, Vec<RecordedCall>) =
            sample.unwrap_or_default().into_iter().partition(|c| is_dynamodb(c));
        all.push(OperationFigures {
            operation,
            iterations,
            calls: by_kind(&dynamodb),
            other_calls: counts(&other),
            rounds: most_rounds,
            read_units: dynamodb.iter().map(|c| c.read_units).sum(),
            write_units: dynamodb.iter().map(|c| c.write_units).sum(),
            handler: Percentiles::of(&handler),
            direct: Percentiles::of(&direct),
        });
    }
    Ok(all)
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}
