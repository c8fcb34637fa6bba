//! The Lambda runtime API (version 2018-06-01) on loopback, as Lambda serves it to a function's process: a function
//! binary started with `AWS_LAMBDA_RUNTIME_API` pointing here runs as it does on Lambda, with no Docker. What
//! `invoke` (`sam local invoke` without Docker), the fixtures' test and the cold-start benchmark share.
//!
//! As AWS documents it (Lambda developer guide, "Using the Lambda runtime API for custom runtimes"):
//! - `GET /runtime/invocation/next` waits for an event and answers it with `Lambda-Runtime-Aws-Request-Id`,
//!   `Lambda-Runtime-Deadline-Ms`, `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /runtime/invocation/{id}/response` and `POST /runtime/invocation/{id}/error` answer it (202; 400 for an
//!   id that is not in flight, 413 for a response over the 6 MB a synchronous invocation may return);
//! - `POST /runtime/init/error` reports a failed init (202), after which the function exits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime/";
/// The most a synchronous invocation may return (Lambda's quota).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// How one invocation ended, as the function reported it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function's response (for an HTTP function, the API Gateway response JSON).
    Response(Bytes),
    /// `/error`, or a response Lambda would refuse.
    Error(FunctionError),
}

/// An error the function reported: `Lambda-Runtime-Function-Error-Type` and its JSON body
/// (`{"errorMessage", "errorType", …}`).
#[derive(Debug, Clone)]
pub struct FunctionError {
    pub error_type: Option<String>,
    pub body: Bytes,
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.error_type.as_deref().unwrap_or("Unhandled");
        write!(f, "{kind}: {}", String::from_utf8_lossy(&self.body))
    }
}

/// One invocation, answered.
#[derive(Debug)]
pub struct Answer {
    pub request_id: String,
    pub outcome: Outcome,
    /// When the function took the event (for the first invocation of a fresh process: the end of init).
    pub picked_at: Instant,
    pub answered_at: Instant,
}

/// Why an invocation got no answer.
#[derive(Debug)]
pub enum InvokeError {
    /// The function reported `/runtime/init/error`.
    Init(FunctionError),
    /// The function's process ended (a crash, a panic, an exit) before answering.
    Exited(std::process::ExitStatus),
    /// No answer before the deadline (the function's timeout).
    TimedOut(Duration),
    /// The runtime API itself stopped.
    Stopped,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Init(error) => write!(f, "init failed: {error}"),
            Self::Exited(status) => write!(f, "the function exited before answering ({status})"),
            Self::TimedOut(after) => write!(f, "Task timed out after {:.2} seconds", after.as_secs_f64()),
            Self::Stopped => write!(f, "the runtime API stopped"),
        }
    }
}

impl std::error::Error for InvokeError {}

struct Invocation {
    event: Bytes,
    timeout: Duration,
    reply: oneshot::Sender<Answer>,
}

struct InFlight {
    picked_at: Instant,
    reply: oneshot::Sender<Answer>,
}

struct Shared {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    init_error: watch::Sender<Option<FunctionError>>,
    /// How many times the function has asked for work (the first: init is over; the next: it is idle again).
    polls: watch::Sender<usize>,
}

/// The runtime API of one function's execution environment, on a loopback port of its own, stopped when dropped.
pub struct RuntimeApi {
    address: SocketAddr,
    invocations: mpsc::UnboundedSender<Invocation>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Serves the runtime API of the function named `function_name` (its ARN says so to the function).
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (invocations, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: tokio::sync::Mutex::new(queue),
            in_flight: Mutex::default(),
            init_error: watch::channel(None).0,
            polls: watch::channel(0).0,
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Self { address, invocations, shared, server })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: host and port, as Lambda sets it.
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// Queues an event and waits for the function's answer; `timeout` is the function's, counted from when it
    /// takes the event (its `Lambda-Runtime-Deadline-Ms`).
    pub async fn invoke(&self, event: Bytes, timeout: Duration) -> Result<Answer, InvokeError> {
        let (reply, answer) = oneshot::channel();
        self.invocations.send(Invocation { event, timeout, reply }).map_err(|_| InvokeError::Stopped)?;
        let mut init_error = self.shared.init_error.subscribe();
        let init_failed = async {
            match init_error.wait_for(Option::is_some).await {
                Ok(error) => error.clone().map_or(InvokeError::Stopped, InvokeError::Init),
                Err(_) => InvokeError::Stopped,
            }
        };
        let answered = async {
            let answer = answer.await.map_err(|_| InvokeError::Stopped)?;
            Ok(answer)
        };
        tokio::select! {
            answer = answered => answer,
            error = init_failed => Err(error),
        }
    }

    /// Waits until the function has asked for work `count` times in all (after one answered invocation, 2 means
    /// it is idle again, as between invocations on Lambda).
    pub async fn polls(&self, count: usize) {
        let _ = self.shared.polls.subscribe().wait_for(|polls| *polls >= count).await;
    }
}

/// A function binary running against a runtime API of its own, as in a fresh Lambda execution environment.
pub struct FunctionProcess {
    pub api: RuntimeApi,
    pub child: tokio::process::Child,
    pub started_at: Instant,
    timeout: Duration,
}

impl FunctionProcess {
    /// Starts `binary` with exactly `env` (and `AWS_LAMBDA_RUNTIME_API`), its stdout and stderr going to `log`.
    pub async fn start(
        name: &str,
        binary: &Path,
        env: &[(String, String)],
        timeout: Duration,
        log: impl Fn() -> Stdio,
    ) -> std::io::Result<Self> {
        let api = RuntimeApi::start(name).await?;
        let started_at = Instant::now();
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .stdin(Stdio::null())
            .stdout(log())
            .stderr(log())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
        Ok(Self { api, child, started_at, timeout })
    }

    /// One invocation: the answer, or why there is none (init error, exit, timeout), as Lambda would report it.
    pub async fn invoke(&mut self, event: Bytes) -> Result<Answer, InvokeError> {
        let timeout = self.timeout;
        let answered = async {
            tokio::select! {
                answer = self.api.invoke(event, timeout) => answer,
                status = self.child.wait() => Err(status.map_or(InvokeError::Stopped, InvokeError::Exited)),
            }
        };
        // Init counts against the timeout too on Lambda (10 s of it, separately); a generous bound here, so a
        // function that hangs fails the call instead of blocking it.
        match tokio::time::timeout(timeout + Duration::from_secs(10), answered).await {
            Ok(result) => result,
            Err(_) => Err(InvokeError::TimedOut(timeout)),
        }
    }

    /// Stops the process (Lambda freezes or ends an idle environment; here it ends).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    crate::http_server::serve(listener, move |request| {
        let shared = shared.clone();
        async move { answer(&shared, request).await }
    })
    .await
}

async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let method = request.method().clone();
    let Some(path) = request.uri().path().strip_prefix(PREFIX).map(str::to_owned) else {
        return reply(404, "UnknownPath", "not a runtime API path");
    };
    let error_type =
        request.headers().get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if method == Method::GET && path == "invocation/next" {
        return next(shared).await;
    }
    if method != Method::POST {
        return reply(405, "MethodNotAllowed", "the runtime API takes GET next and POST otherwise");
    }
    let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
        return reply(400, "InvalidRequest", "the body could not be read");
    };
    if path == "init/error" {
        shared.init_error.send_replace(Some(FunctionError { error_type, body }));
        return accepted();
    }
    let Some((id, what)) = path.strip_prefix("invocation/").and_then(|rest| rest.split_once('/')) else {
        return reply(404, "UnknownPath", "not a runtime API path");
    };
    if what != "response" && what != "error" {
        return reply(404, "UnknownPath", "not a runtime API path");
    }
    let Some(in_flight) = shared.in_flight.lock().unwrap().remove(id) else {
        return reply(400, "InvalidRequestID", "no invocation with this request id is in flight");
    };
    let answer =
        |outcome| Answer { request_id: id.to_owned(), outcome, picked_at: in_flight.picked_at, answered_at: now };
    if what == "error" {
        let _ = in_flight.reply.send(answer(Outcome::Error(FunctionError { error_type, body })));
        return accepted();
    }
    if body.len() > MAX_RESPONSE_BYTES {
        let message = format!("Response payload size ({} bytes) exceeded maximum allowed payload size", body.len());
        let refused = FunctionError {
            error_type: Some("Function.ResponseSizeTooLarge".into()),
            body: Bytes::from(error_json("Function.ResponseSizeTooLarge", &message)),
        };
        let _ = in_flight.reply.send(answer(Outcome::Error(refused)));
        return reply(413, "RequestEntityTooLarge", &message);
    }
    let _ = in_flight.reply.send(answer(Outcome::Response(body)));
    accepted()
}

/// Blocks until an event is queued (Lambda answers `next` only when there is work), then hands it over.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    shared.polls.send_modify(|polls| *polls += 1);
    let Some(invocation) = shared.queue.lock().await.recv().await else {
        return reply(500, "ServiceException", "the runtime API is stopping");
    };
    let picked_at = Instant::now();
    let id = request_id();
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + invocation.timeout;
    shared.in_flight.lock().unwrap().insert(id.clone(), InFlight { picked_at, reply: invocation.reply });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &id)
        .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
        .header("lambda-runtime-invoked-function-arn", &shared.function_arn)
        .header("lambda-runtime-trace-id", trace_id())
        .body(Full::new(invocation.event))
        .expect("a valid response")
}

fn accepted() -> Response<Full<Bytes>> {
    Response::builder()
        .status(202)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)))
        .expect("a valid response")
}

fn reply(status: u16, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(error_json(error_type, message))))
        .expect("a valid response")
}

fn error_json(error_type: &str, message: &str) -> String {
    serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string()
}

/// A request id in Lambda's form (a UUID).
fn request_id() -> String {
    let hex = crate::harness::random_hex(16);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// An X-Ray trace header in Lambda's form, not sampled (nothing collects traces locally).
fn trace_id() -> String {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (root, parent) = (crate::harness::random_hex(12), crate::harness::random_hex(8));
    format!("Root=1-{epoch:08x}-{root};Parent={parent};Sampled=0")
}
