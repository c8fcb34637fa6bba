//! Section 1: init duration as Lambda reports it. Each function binary is started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at the runtime API emulator (`local_stack::runtime_api`); init ends when it first asks
//! `GET /2018-06-01/runtime/invocation/next`.
//! It then gets one real event (against the local stack), so the first request's duration and the peak RSS
//! (VmHWM, what Lambda bills as "Max Memory Used") cover a request too.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use local_stack::runtime_api::{FunctionProcess, Outcome};
use serde_json::Value;

use crate::BoxError;
use crate::stats::median;

/// One binary to start, with the event its first invocation gets.
pub struct Subject {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    /// The first invocation's event, for each start in turn.
    pub events: Vec<Value>,
}

/// A start that has not answered by then failed.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Start {
    pub init: Duration,
    pub first_request: Duration,
    pub peak_rss_kib: u64,
}

pub struct ColdStartFigures {
    pub name: String,
    pub starts: usize,
    pub binary_bytes: u64,
    pub init_median: Duration,
    pub first_request_median: Duration,
    /// Per start, then the median: what a request that starts an instance waits in all.
    pub init_plus_first_median: Duration,
    pub peak_rss_kib: u64,
}

/// Starts every subject `starts` times, round-robin, so that a noisy moment hits all of them alike.
pub async fn run(subjects: &[Subject], starts: usize) -> Result<Vec<ColdStartFigures>, BoxError> {
    let mut samples: Vec<Vec<Start>> = subjects.iter().map(|_| vec![]).collect();
    // One unmeasured start each: the first exec of a binary reads it from disk into the page cache.
    for subject in subjects {
        start_once(subject, starts).await?;
    }
    for round in 0..starts {
        for (subject, samples) in subjects.iter().zip(samples.iter_mut()) {
            samples
                .push(start_once(subject, round).await.map_err(|e| format!("{} (start {round}): {e}", subject.name))?);
        }
    }
    Ok(subjects
        .iter()
        .zip(samples)
        .map(|(subject, samples)| ColdStartFigures {
            name: subject.name.clone(),
            starts: samples.len(),
            binary_bytes: std::fs::metadata(&subject.binary).map(|m| m.len()).unwrap_or(0),
            init_median: median(&samples.iter().map(|s| s.init).collect::<Vec<_>>()),
            first_request_median: median(&samples.iter().map(|s| s.first_request).collect::<Vec<_>>()),
            init_plus_first_median: median(&samples.iter().map(|s| s.init + s.first_request).collect::<Vec<_>>()),
            peak_rss_kib: samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
        })
        .collect())
}

async fn start_once(subject: &Subject, index: usize) -> Result<Start, BoxError> {
    let event = subject.events[index % subject.events.len()].to_string();
    let log = log_path(&subject.name);
    let file = std::fs::File::create(&log)?;
    let output = || file.try_clone().map_or(Stdio::null(), Stdio::from);
    let mut function = FunctionProcess::start(&subject.name, &subject.binary, &subject.env, TIMEOUT, output).await?;
    let pid = function.child.id().ok_or("the function exited at once")?;
    let measured = async {
        let answer = function.invoke(Bytes::from(event)).await?;
        if let Outcome::Error(error) = answer.outcome {
            return Err(format!("the function reported an error: {error}").into());
        }
        // Idle again (asking for the next event), as between invocations: the first request's memory is all in.
        tokio::time::timeout(TIMEOUT, function.api.polls(2)).await.map_err(|_| "no next poll after responding")?;
        Ok::<_, BoxError>(Start {
            init: answer.picked_at - function.started_at,
            first_request: answer.answered_at - answer.picked_at,
            peak_rss_kib: peak_rss_kib(pid)?,
        })
    };
    let outcome = measured.await;
    function.stop().await;
    outcome.map_err(|e| format!("{e}; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default()).into())
}

fn log_path(name: &str) -> PathBuf {
    let dir = Path::new("target/bench");
    let _ = std::fs::create_dir_all(dir);
    dir.join(format!("{name}.log"))
}

/// The high-water mark of resident memory, in KiB (VmHWM in /proc/PID/status).
fn peak_rss_kib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).ok_or("VmHWM without a value")?.parse()?)
}

/// The steps of init, each the median over `starts` fresh processes of this binary (`bench init-steps`), in order.
pub async fn init_steps(env: &[(String, String)], starts: usize) -> Result<Vec<(String, f64)>, BoxError> {
    let mut samples: Vec<(String, Vec<f64>)> = vec![];
    for _ in 0..starts {
        let output = tokio::process::Command::new(std::env::current_exe()?)
            .arg("init-steps")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await?;
        let steps: Vec<(String, f64)> = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("init-steps printed no steps ({e}): {}", String::from_utf8_lossy(&output.stderr)))?;
        for (name, ms) in steps {
            match samples.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(ms),
                None => samples.push((name, vec![ms])),
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(f64::total_cmp);
            (name, crate::stats::nearest_rank(&values, 50.0))
        })
        .collect())
}

/// Run in a fresh process (`bench init-steps`): the steps of a function's init, timed one by one, as one JSON line.
pub async fn print_init_steps() {
    let started = Instant::now();
    let mut steps: Vec<(String, f64)> = vec![];
    fn lap(steps: &mut Vec<(String, f64)>, name: &str, since: &mut Instant) {
        steps.push((name.into(), since.elapsed().as_secs_f64() * 1000.0));
        *since = Instant::now();
    }
    let mut since = started;
    // As `App::start`: the phone metadata and the root certificates on a thread of its own, from the start, while
    // the rest goes on; init waits for it before it ends.
    let metadata = std::thread::spawn(|| {
        let started = Instant::now();
        shared::PhoneNumber::warm_up();
        shared::app::load_root_certificates();
        started.elapsed()
    });
    let config = shared::Config::from_env();
    lap(&mut steps, "configuration", &mut since);
    let sdk = shared::app::sdk_config().await;
    lap(&mut steps, "SDK config", &mut since);
    let _clients = (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sns::Client::new(&sdk));
    lap(&mut steps, "SDK clients", &mut since);
    let loading = metadata.join().unwrap_or_default();
    lap(&mut steps, "waiting for the phone metadata and root certificates", &mut since);
    steps.push((
        "phone metadata and root certificates, on their own thread meanwhile".into(),
        loading.as_secs_f64() * 1000.0,
    ));
    // Not init: what the first request then pays that the second does not. On Lambda the endpoints are HTTPS, and
    // the first handshake draws aws-lc's first random bytes (seeding its DRBG, with CPU jitter entropy unless built
    // with AWS_LC_SYS_NO_JITTER_ENTROPY); the local stack is plain HTTP, so that is timed on its own here.
    let mut seed = [0u8; 32];
    let _ = aws_lc_rs::rand::fill(&mut seed);
    lap(&mut steps, "first TLS randomness (aws-lc)", &mut since);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let _ = dynamodb.list_tables().limit(1).send().await;
    lap(&mut steps, "first DynamoDB call", &mut since);
    let _ = dynamodb.list_tables().limit(1).send().await;
    lap(&mut steps, "second DynamoDB call", &mut since);
    let _ = config;
    println!("{}", serde_json::to_string(&steps).unwrap_or_default());
}
