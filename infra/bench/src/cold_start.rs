//! Section 1: init duration as Lambda reports it. Each function binary is started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a tiny runtime API here; init ends when it first asks `GET /2018-06-01/runtime/invocation/next`.
//! It then gets one real event (against the local stack), so the first request's duration and the peak RSS
//! (VmHWM, what Lambda bills as "Max Memory Used") cover a request too.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

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
    pub peak_rss_kib: u64,
}

/// What the runtime API saw, in order.
#[derive(Debug)]
enum Seen {
    AskedForWork(Instant),
    Responded(Instant),
    Failed(String),
    Idle,
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
            peak_rss_kib: samples.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
        })
        .collect())
}

async fn start_once(subject: &Subject, index: usize) -> Result<Start, BoxError> {
    let event = subject.events[index % subject.events.len()].clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let runtime_api = tokio::spawn(serve_runtime_api(listener, event, seen_tx));

    let log = log_path(&subject.name);
    let exec = Instant::now();
    let mut child = tokio::process::Command::new(&subject.binary)
        .env_clear()
        .envs(subject.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the function exited at once")?;

    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut asked = None;
        loop {
            match seen.recv().await {
                Some(Seen::AskedForWork(at)) => asked = Some(at),
                Some(Seen::Responded(at)) => {
                    let asked = asked.ok_or("responded before asking for work")?;
                    match seen.recv().await {
                        Some(Seen::Idle) => {}
                        other => return Err(format!("expected the next poll, saw {other:?}").into()),
                    }
                    return Ok::<_, BoxError>(Start {
                        init: asked - exec,
                        first_request: at - asked,
                        peak_rss_kib: peak_rss_kib(pid)?,
                    });
                }
                Some(Seen::Failed(body)) => return Err(format!("the function reported an error: {body}").into()),
                Some(Seen::Idle) => return Err("asked for work twice without responding".into()),
                None => return Err("the runtime API stopped".into()),
            }
        }
    })
    .await;
    let _ = child.kill().await;
    runtime_api.abort();
    match outcome {
        Ok(result) => result,
        Err(_) => {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            Err(format!("no response within 30 s; its log:\n{log}").into())
        }
    }
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

/// The Lambda runtime API, as much of it as one invocation needs: the first `next` gets the event, the response
/// is taken, and the second `next` is left waiting (the function is then idle, as between invocations).
async fn serve_runtime_api(listener: TcpListener, event: Value, seen: mpsc::UnboundedSender<Seen>) {
    let state = Arc::new(Mutex::new(0usize));
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let (event, seen, state) = (event.clone(), seen.clone(), state.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (event, seen, state) = (event.clone(), seen.clone(), state.clone());
                async move { Ok::<_, Infallible>(answer(request, &event, &seen, &state).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    event: &Value,
    seen: &mpsc::UnboundedSender<Seen>,
    polls: &Mutex<usize>,
) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let reply = |status: u16, body: Bytes| Response::builder().status(status).body(Full::new(body)).unwrap();
    if path == "/2018-06-01/runtime/invocation/next" {
        let first = {
            let mut polls = polls.lock().unwrap();
            *polls += 1;
            *polls == 1
        };
        if !first {
            let _ = seen.send(Seen::Idle);
            std::future::pending::<()>().await;
        }
        let _ = seen.send(Seen::AskedForWork(now));
        let deadline =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(30);
        return Response::builder()
            .status(200)
            .header("lambda-runtime-aws-request-id", "bench-0001")
            .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0")
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap();
    }
    if path.ends_with("/response") {
        let _ = seen.send(Seen::Responded(now));
        return reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"));
    }
    let _ = seen.send(Seen::Failed(format!("{path}: {}", String::from_utf8_lossy(&body))));
    reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
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
    let mut lap = |name: &str, since: &mut Instant| {
        steps.push((name.into(), since.elapsed().as_secs_f64() * 1000.0));
        *since = Instant::now();
    };
    let mut since = started;
    let config = domain::Config::from_env();
    lap("configuration", &mut since);
    let sdk = domain::app::sdk_config().await;
    lap("SDK config", &mut since);
    let _clients = (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sns::Client::new(&sdk));
    lap("SDK clients", &mut since);
    domain::PhoneNumber::warm_up();
    lap("phone metadata", &mut since);
    // Not init: what the first request then pays that the second does not. On Lambda the endpoints are HTTPS, and
    // the first handshake draws aws-lc's first random bytes (seeding its DRBG, with CPU jitter entropy unless built
    // with AWS_LC_SYS_NO_JITTER_ENTROPY); the local stack is plain HTTP, so that is timed on its own here.
    let mut seed = [0u8; 32];
    let _ = aws_lc_rs::rand::fill(&mut seed);
    lap("first TLS randomness (aws-lc)", &mut since);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let _ = dynamodb.list_tables().limit(1).send().await;
    lap("first DynamoDB call", &mut since);
    let _ = dynamodb.list_tables().limit(1).send().await;
    lap("second DynamoDB call", &mut since);
    let _ = config;
    println!("{}", serde_json::to_string(&steps).unwrap_or_default());
}
