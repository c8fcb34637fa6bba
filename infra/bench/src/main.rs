//! `make bench`: every figure of docs/BENCHMARKS.md, measured in one run on this machine, each beside its reference.
//!
//! 1. Init duration of each function binary (built as `sam build` builds it) against a hello-world `lambda_runtime`
//!    binary of the same profile, with binary size and peak RSS.
//! 2. DynamoDB calls, sequential rounds and consumed capacity per operation.
//! 3. The full handler path against the same DynamoDB (and SNS) calls issued directly.
//! 4. The `make dev` API under wrk, with DynamoDB Local's and moto's own ceilings.
//! 5. Partition heat: a recorded sign-in workload's capacity per partition key, scaled to 1,000 and 10,000
//!    sign-ins/s, against DynamoDB's per-partition limits (a model: DynamoDB Local does not throttle).
//! 6. Fan-out: a number in 100,000 address books signs up and changes its status.
//! 7. The notifier keeping up: sign-ups a second it tells with a 100-person audience, the records in turn (before
//!    issue 28) and as the template's mapping hands them over, and what one record costs it.
//! 8. docs/COST.md and docs/SCALE.md's table, from the figures measured (kept in docs/bench-results.json, section by
//!    section), the usage assumptions, the list prices and the quotas (infra/bench/usage.json, prices.json,
//!    quotas.json).
//!
//! Run under `infra/with-stack.sh` (as `make bench` does). `BENCH_SCALE` (default 1) scales iterations and load
//! duration down for a quick look; `BENCH_BINARIES` (default target/lambda) says where the built functions are;
//! `BENCH_SECTIONS` (default `cold,work,load,partitions,fanout,notifier,cost`) picks sections (`cost` alone needs no stack:
//! it recomputes docs/COST.md and SCALE.md's table from the last figures); `BENCH_OUTPUT` (default docs/BENCHMARKS.md); `BENCH_RESULTS`
//! (default docs/bench-results.json); `BENCH_FUNCTIONS` (default all: a comma-separated list) starts only these
//! functions beside hello-world and hello-world-sdk in section 1; `BENCH_BEFORE` (a directory of binaries built as `BENCH_BINARIES`,
//! from another commit): also start its login, beside this one's, for a before/after of section 1 in one run.

mod cold_start;
mod cost;
mod fanout;
mod load;
mod machine;
mod notifier;
mod partitions;
mod replay;
mod report;
mod results;
mod scale;
mod scenario;
mod servers;
mod stats;
mod work;

use std::path::PathBuf;

use local_stack::apigw::HttpCall;
use serde_json::{Value, json};

use crate::cold_start::Subject;
use crate::scenario::{BenchApp, function_env, login_call, verify_call};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The functions of template.yaml by binary name, and hello-world.
const FUNCTIONS: [&str; 8] = ["login", "verify", "getcontacts", "account", "groups", "files", "compat", "notifier"];
pub const HELLO_WORLD: &str = "hello-world";
/// hello-world that builds the SDK configuration and two clients at init: the floor under any function calling AWS.
pub const HELLO_WORLD_SDK: &str = "hello-world-sdk";
/// How section 1 names a binary of `BENCH_BEFORE`.
const BEFORE: &str = " (before)";

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("init-steps") {
        return cold_start::print_init_steps().await;
    }
    // The product's warnings (a 503's cause, say) are worth seeing; its per-request info lines are not.
    if std::env::var("AWS_LAMBDA_LOG_LEVEL").is_err() {
        // SAFETY: nothing else runs yet; the variable is read once by the subscriber below.
        unsafe { std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "warn") };
    }
    lambda_http::tracing::init_default_subscriber();
    if let Err(error) = run().await {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let scale: f64 = std::env::var("BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let starts = ((20.0 * scale).ceil() as usize).max(3);
    let binaries = PathBuf::from(std::env::var("BENCH_BINARIES").unwrap_or_else(|_| "target/lambda".into()));
    let before = std::env::var("BENCH_BEFORE").ok().map(PathBuf::from);
    let output = PathBuf::from(std::env::var("BENCH_OUTPUT").unwrap_or_else(|_| "docs/BENCHMARKS.md".into()));
    let results_path =
        PathBuf::from(std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "docs/bench-results.json".into()));
    let sections =
        std::env::var("BENCH_SECTIONS").unwrap_or_else(|_| "cold,work,load,partitions,fanout,notifier,cost".into());
    let measures = ["cold", "work", "load", "partitions", "fanout", "notifier"].iter().any(|s| sections.contains(s));
    let mut results = results::Results::read(&results_path)?;
    let today = report::now();

    let mut cold = vec![];
    let mut steps = vec![];
    if sections.contains("cold") {
        eprintln!("bench: 1. init duration, {starts} starts of each binary in {}", binaries.display());
        let subjects = cold_start_subjects(&binaries, before.as_deref(), starts + 1).await?;
        cold = cold_start::run(&subjects, starts).await?;
        steps = cold_start::init_steps(&subjects[0].env, starts).await?;
        // Another commit's binary is no figure of this one.
        results.set_cold(&today, cold.iter().filter(|c| !c.name.ends_with(BEFORE)));
    }
    let mut work = vec![];
    if sections.contains("work") {
        eprintln!("bench: 2 and 3. DynamoDB work and overhead per operation");
        work = work::run(scale).await?;
        results.set_work(&today, &work);
    }
    let mut load = vec![];
    if sections.contains("load") {
        let seconds = ((10.0 * scale).ceil() as u64).max(2);
        eprintln!("bench: 4. load, {seconds} s per endpoint");
        load = load::run(&binaries.join("devserver").join("bootstrap"), seconds).await?;
    }

    let mut partitions = None;
    if sections.contains("partitions") {
        eprintln!("bench: 5. partition heat");
        partitions = Some(partitions::run(scale).await?);
    }
    // Before the fan-out, whose hundred thousand address books slow DynamoDB Local down for what follows.
    let mut notifier = None;
    if sections.contains("notifier") {
        eprintln!("bench: 7. notifier");
        let usage = cost::read_usage(std::path::Path::new("."))?;
        let report = notifier::run(scale, usage.round_trip_ms).await?;
        results.set_notifier(&today, &report);
        notifier = Some(report);
    }

    let mut fanout = None;
    if sections.contains("fanout") {
        eprintln!("bench: 6. fan-out");
        fanout = Some(fanout::run(scale).await?);
    }

    if measures {
        let machine = machine::Machine::read();
        let mut markdown = report::markdown(&machine, &cold, &steps, &work, &load, partitions.as_ref(), scale);
        if let Some(fanout) = &fanout {
            markdown.push_str(&fanout::markdown(fanout));
        }
        if let Some(notifier) = &notifier {
            markdown.push_str(&notifier::markdown(notifier));
        }
        println!("{markdown}");
        if let Some(dir) = output.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&output, markdown)?;
        eprintln!("bench: written to {}", output.display());
        results.write(&results_path)?;
        eprintln!("bench: figures kept in {}", results_path.display());
    }
    if sections.contains("cost") {
        let (results, prices, usage) = cost::read_inputs(std::path::Path::new("."), &results_path)?;
        let cost_output = output.with_file_name("COST.md");
        std::fs::write(&cost_output, cost::markdown(&results, &prices, &usage)?)?;
        eprintln!("bench: 8. cost written to {}", cost_output.display());
        let scale_output = output.with_file_name("SCALE.md");
        let quotas = scale::read_quotas(std::path::Path::new("."))?;
        // Beside BENCH_OUTPUT when one is there (a run writing elsewhere), else the repository's.
        let source = if scale_output.exists() { scale_output.clone() } else { "docs/SCALE.md".into() };
        let document = std::fs::read_to_string(&source)?;
        std::fs::write(&scale_output, scale::replaced(&document, &scale::block(&results, &usage, &quotas)?)?)?;
        eprintln!("bench: 8. scale table written to {}", scale_output.display());
    }
    Ok(())
}

/// Each function with events for its first invocation (one per start: codes and numbers are used up), on a table
/// of its own with a signed-in user.
async fn cold_start_subjects(
    binaries: &std::path::Path,
    before: Option<&std::path::Path>,
    starts: usize,
) -> Result<Vec<Subject>, BoxError> {
    let table = format!("bench-cold-{}", local_stack::harness::random_hex(4));
    let bench = BenchApp::new(&table).await?;
    let token = bench.sign_in(&local_stack::harness::random_phone()).await?;
    let sdk = shared::app::sdk_config().await;
    let topic = aws_sdk_sns::Client::new(&sdk).create_topic().name("bench-contact-events").send().await?.topic_arn;
    // The notifier's configuration names the fan-out queue (a start fails without it; nothing is queued here).
    let queue = aws_sdk_sqs::Client::new(&sdk).create_queue().queue_name("bench-fanout").send().await?.queue_url;

    let mut env = function_env(&table);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_S3",
    ] {
        env.push((name.into(), local_stack::harness::stack_env(name)));
    }
    env.push(("CONTACT_EVENTS_TOPIC_ARN".into(), topic.ok_or("no topic ARN")?));
    env.push(("FANOUT_QUEUE_URL".into(), queue.ok_or("no queue URL")?));
    // What Lambda sets for a function (lambda_runtime reads these at start).
    env.extend(
        [
            ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("_HANDLER", "bootstrap"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("TZ", ":UTC"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );

    let event = |call: HttpCall| call.to_event();
    let mut verify_events = vec![];
    for _ in 0..starts {
        let phone = local_stack::harness::random_phone();
        let code = bench.request_code(&phone).await?;
        verify_events.push(event(verify_call(&phone, &code)));
    }
    let hundred: Vec<String> = (0..100).map(|_| local_stack::harness::random_phone().e164().to_owned()).collect();
    let notifier_event: Value = serde_json::from_str(&std::fs::read_to_string("events/notifier-new-user.json")?)?;
    let events = |binary: &str| -> Vec<Value> {
        let each = |make: &dyn Fn() -> HttpCall| (0..starts).map(|_| event(make())).collect::<Vec<_>>();
        match binary {
            "login" => each(&|| login_call(&local_stack::harness::random_phone())),
            "verify" => verify_events.clone(),
            "getcontacts" => {
                each(&|| HttpCall::post("/getcontacts").bearer(&token).json(&json!({ "phones": hundred })))
            }
            "account" => each(&|| HttpCall::post("/profile").bearer(&token).form(&[("name", "Cold start")])),
            "groups" => each(&|| HttpCall::post("/setgroup").bearer(&token).form(&[("name", "Cold start")])),
            // A photo's link (signed where the function runs: no call to S3).
            "files" => each(&|| HttpCall {
                method: "GET".into(),
                path: format!("/files/p1765000000-{}.jpg", local_stack::harness::random_hex(16)),
                ..HttpCall::post("/")
            }),
            "compat" => each(&|| {
                HttpCall { method: "GET".into(), path: "/api.php".into(), ..HttpCall::post("/api.php") }
                    .query(&[("op", "getcontacts"), ("token", &token)])
            }),
            "notifier" => vec![notifier_event.clone()],
            _ => vec![json!({ "hello": "world" })],
        }
    };
    // `BENCH_FUNCTIONS=login`: only these (and hello-world), when only they were built.
    let only = std::env::var("BENCH_FUNCTIONS").ok();
    let chosen = |name: &&&str| only.as_deref().is_none_or(|only| only.split(',').any(|n| n == **name));
    let mut subjects: Vec<Subject> = FUNCTIONS
        .iter()
        .filter(chosen)
        .chain([&HELLO_WORLD, &HELLO_WORLD_SDK])
        .map(|name| Subject {
            name: name.to_string(),
            binary: binaries.join(name).join("bootstrap"),
            env: env.clone(),
            events: events(name),
        })
        .collect();
    // Events of its own: the same numbers again would meet the resend cooldown and send no SMS.
    if let Some(before) = before {
        subjects.push(Subject {
            name: format!("login{BEFORE}"),
            binary: before.join("login").join("bootstrap"),
            env: env.clone(),
            events: events("login"),
        });
    }
    Ok(subjects)
}
