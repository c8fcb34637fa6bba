//! An emulator of mesibo's backend API, for `make dev` and the integration tests, as strict as mesibo's sources let
//! it be: a call is one JSON object POSTed to the endpoint, the app token its top-level `token`, the operation its
//! `op`, the operation's data in `user`, `group` or `message` (mesibo/samples backend-api/php/mesibohelper.php and
//! mesiboapi.php (df0b75e); docs.mesibo.com/api/backend-api/). It answers in mesibo's shape: `{"op", "result": true}`
//! plus `user`, `group`, `members` or `mid` (and the call's `id`, if it had one); a refusal is `{"op", "result":
//! false, "error", "code", "cause", "action", "properties"}` with mesibo's own codes and texts only (mesibo/on-premise
//! bin/backend (3e0bd47), its strings; `BADOP` from docs.mesibo.com/api/backend-api/). Where mesibo's sources are silent the emulator's reading is named beside the rule ("the emulator's
//! reading"), and the fixtures (`infra/local/fixtures/mesibo-backend-api.json`) hold mesibo's documented requests and
//! answers, which `tests/mesibo_fixtures.rs` replays here.
//!
//! It keeps users (with a token per session), groups (with members, flags and expiry) and messages for tests to
//! inspect, and has a fault mode — no answer, HTTP 5xx, `result:false`, a cut body, added latency — for a number of
//! calls or all, for one operation or all. `GET /_emulator/state` shows the state and `POST /_emulator/fault` sets a
//! fault (JSON: `fault`, `count`, `op`, `latency_ms`) for whoever runs it by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::{Bytes, Incoming};
use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::adapters::DevEcho;
use tokio::net::TcpListener;

mod operations;
mod request;

use operations::*;
use request::*;

/// An answer's body: whole, or cut short by a fault.
type Answer = BoxBody<Bytes, std::io::Error>;

/// A group lives a year unless its `duration` says otherwise, in seconds ("expiry = Expiry in seconds, default 1
/// year", mesibo.com/documentation/tutorials/get-started/group-messaging-rest-console/; `ets=unix_timestamp()+%u`,
/// mesibo/on-premise bin/backend (3e0bd47)).
pub const DEFAULT_GROUP_DURATION: u64 = 31_536_000;

/// A message's `expiry` unless given: one year, in seconds (docs.mesibo.com/api/backend-api/messaging/, its table).
pub const DEFAULT_MESSAGE_EXPIRY: u64 = 31_536_000;

/// A user may be signed in on up to eight devices, a token (session) each
/// (docs.mesibo.com/api/messaging/multi-device-login-and-synchronization/).
pub const MAX_SESSIONS: usize = 8;

/// Every error code mesibo's backend API answers: mesibo/on-premise bin/backend (3e0bd47), its strings, and BADOP
/// from docs.mesibo.com/api/backend-api/.
pub const ERROR_CODES: &[&str] = &[
    "AUTHFAIL",
    "TOKENBREACH",
    "MISSINGPARAMS",
    "BADVALUE",
    "INVALIDVALUE",
    "BADREQ",
    "BADPAYLOAD",
    "BADORIGIN",
    "QUOTAEXCEEDED",
    "CREDITSEXCEEDED",
    "UNUSEDTRIALUSERS",
    "RATELIMITED",
    "FAIL",
    "BADOP",
];

/// What the emulator does instead of answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Holds the request without answering (longer than any client waits).
    Timeout,
    /// HTTP 502 with an HTML body, as a load balancer in front of a dead server.
    ServerError,
    /// A well-formed `result:false` answer (`error: "FAIL"`, mesibo's catch-all code).
    Refuse,
    /// A well-formed `result:false` answer with this one of mesibo's codes ([`ERROR_CODES`]), as mesibo refuses for
    /// the account (`QUOTAEXCEEDED`, `CREDITSEXCEEDED`, `UNUSEDTRIALUSERS`, `TOKENBREACH`, …).
    RefuseWith(&'static str),
    /// The answer's headers and half its body, then the connection closes.
    CutBody,
}

#[derive(Debug, Clone, Serialize)]
struct FaultRule {
    fault: Fault,
    /// Only this operation; `None`: every one.
    op: Option<String>,
    /// How many matching calls get it; `None`: every one.
    remaining: Option<usize>,
}

/// A token mesibo issued: one per (user, session).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    pub appid: String,
    pub session: u64,
    /// Unix seconds; `None`: never (`expiry` 0).
    pub expires_at: Option<u64>,
}

impl Token {
    fn live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub uid: u64,
    pub address: String,
    pub name: String,
    /// Every token not removed, live or expired, the oldest issued first.
    pub tokens: Vec<Token>,
}

impl User {
    /// The sessions holding a live token, in order.
    pub fn live_sessions(&self) -> Vec<u64> {
        let now = now();
        let sessions: BTreeSet<u64> = self.tokens.iter().filter(|t| t.live(now)).map(|t| t.session).collect();
        sessions.into_iter().collect()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub gid: u64,
    pub name: String,
    pub flags: u64,
    /// Unix seconds.
    pub expires_at: u64,
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub mid: u64,
    pub from: String,
    /// The recipients as the call named them (`to`).
    pub to: Vec<String>,
    /// The group it went to (`gid`), if any.
    pub gid: Option<u64>,
    /// Those it reached: the recipients (or the group's members) who are users.
    pub delivered: Vec<String>,
    pub message_type: u64,
    pub flags: u64,
    pub expiry: u64,
    pub body: String,
}

/// A member's permissions in a group (`group.members.permissions`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
struct Permissions {
    send: bool,
    recv: bool,
    #[serde(rename = "pub")]
    publish: bool,
    sub: bool,
    list: bool,
}

#[derive(Debug, Default, Serialize)]
struct State {
    users: BTreeMap<String, User>,
    groups: BTreeMap<u64, Group>,
    /// Per group, per member.
    permissions: BTreeMap<u64, BTreeMap<String, Permissions>>,
    messages: Vec<Message>,
    /// Every call that reached the emulator, by operation (faulted ones included; "" when there was none).
    calls: Vec<String>,
    faults: Vec<FaultRule>,
    latency_ms: u64,
    next_id: u64,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Clone)]
pub struct MesiboEmulator {
    pub url: String,
    pub app_token: String,
    state: Arc<Mutex<State>>,
    echo: Option<DevEcho>,
}

impl MesiboEmulator {
    /// On a free port of 127.0.0.1, with a random app token.
    pub async fn start() -> Self {
        Self::start_on(0, format!("emulator-app-token-{}", crate::harness::random_hex(12)), None).await.expect("bound")
    }

    /// On `port` (0: any free one), showing one line per call through `echo` (the dev server).
    pub async fn start_on(port: u16, app_token: String, echo: Option<DevEcho>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let url = format!("http://{}/backend/", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State { next_id: 1000 + u64::from(rand_u16()), ..State::default() }));
        let emulator = Self { url, app_token, state, echo };
        let this = emulator.clone();
        tokio::spawn(crate::http_server::serve(listener, move |request| {
            let this = this.clone();
            async move { this.answer(request).await }
        }));
        Ok(emulator)
    }

    /// From now on, `count` calls (all if `None`) of `op` (any if `None`) get `fault`.
    ///
    /// Panics on a `RefuseWith` code mesibo never answers.
    pub fn fail(&self, fault: Fault, op: Option<&str>, count: Option<usize>) {
        if let Fault::RefuseWith(code) = fault {
            assert!(ERROR_CODES.contains(&code), "{code} is none of mesibo's error codes");
        }
        self.lock().faults.push(FaultRule { fault, op: op.map(str::to_owned), remaining: count });
    }

    /// Every answer waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency_ms = latency.as_millis() as u64;
    }

    pub fn recover(&self) {
        self.lock().faults.clear();
    }

    pub fn user(&self, address: &str) -> Option<User> {
        self.lock().users.get(address).cloned()
    }

    /// Whether mesibo would let this token connect: issued, not removed, not expired.
    pub fn token_works(&self, token: &str) -> bool {
        let now = now();
        self.lock().users.values().any(|u| u.tokens.iter().any(|t| t.token == token && t.live(now)))
    }

    pub fn group(&self, gid: u64) -> Option<Group> {
        self.lock().groups.get(&gid).cloned()
    }

    /// Every group mesibo has.
    pub fn groups(&self) -> Vec<Group> {
        self.lock().groups.values().cloned().collect()
    }

    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// The operations called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn answer(&self, request: hyper::Request<Incoming>) -> hyper::Response<Answer> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        // Beside the endpoint or under it: `make dev` prints the endpoint's URL followed by `_emulator/state`.
        if let Some(at) = parts.uri.path().find("/_emulator/") {
            return self.control(parts.method.as_str(), &parts.uri.path()[at..], &body);
        }
        // The query string and the content type play no part: mesibo reads the body as JSON or refuses it
        // ("The input request is not a valid JSON object", mesibo/on-premise bin/backend (3e0bd47), its strings). The
        // 2022 helper's `$jsonapi = false` query-string form (mesibo/samples mesiboapi.php (df0b75e)) is gone from
        // mesibo's current samples (07c0836), so it is refused here too.
        let call = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) if parts.method == hyper::Method::POST => Some(fields),
            _ => None,
        };
        let op = call.as_ref().and_then(|c| c.get("op")).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (fault, latency) = {
            let mut state = self.lock();
            state.calls.push(op.clone());
            (take_fault(&mut state.faults, &op), state.latency_ms)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        match fault {
            Some(Fault::Timeout) => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                respond(504, "text/plain", "timeout".into())
            }
            Some(Fault::ServerError) => respond(502, "text/html", "<html>502 Bad Gateway</html>".into()),
            Some(Fault::Refuse) => mesibo_json(Refusal::new("FAIL").answer(Some(&op))),
            Some(Fault::RefuseWith(code)) => mesibo_json(Refusal::new(code).answer(Some(&op))),
            Some(Fault::CutBody) => {
                // The whole answer's length announced, half of it sent, then the body fails: hyper drops the
                // connection, and the client has half a JSON document.
                let whole = self.execute(call.as_ref(), &op).to_string();
                let half = Bytes::from(whole.as_bytes()[..whole.len() / 2].to_vec());
                let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
                    vec![Ok(Frame::data(half)), Err(std::io::Error::other("cut"))];
                hyper::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("content-length", whole.len().to_string())
                    .body(StreamBody::new(futures::stream::iter(frames)).boxed())
                    .expect("static response")
            }
            None => mesibo_json(self.execute(call.as_ref(), &op)),
        }
    }

    /// The call itself, as mesibo answers it (always HTTP 200: mesibo's refusals are in the body).
    fn execute(&self, call: Option<&Map<String, Value>>, op: &str) -> Value {
        let Some(call) = call else {
            if let Some(echo) = &self.echo {
                echo("[dev mesibo] (not a JSON object): BADPAYLOAD".into());
            }
            return Refusal::new("BADPAYLOAD").answer(None);
        };
        // The app token is checked first, before the operation's name or data: the emulator's reading (mesibo's cloud
        // answered a wrong token with AUTHFAIL, and nothing says a refusal of the data could come first).
        if call.get("token").and_then(Value::as_str) != Some(self.app_token.as_str()) {
            if let Some(echo) = &self.echo {
                echo(format!("[dev mesibo] {op}: AUTHFAIL (wrong app token)"));
            }
            return Refusal::new("AUTHFAIL").properties(&["token"]).answer(Some(op));
        }
        let call = Obj(call);
        let mut state = self.lock();
        let outcome = match op {
            "useradd" => useradd(&mut state, call),
            "userset" => userset(&mut state, call),
            "userdel" => userdel(&mut state, call),
            "groupadd" => groupadd(&mut state, call),
            "groupset" => groupset(&mut state, call),
            "groupdel" => groupdel(&mut state, call),
            "groupeditmembers" => groupeditmembers(&mut state, call),
            "groupgetmembers" => groupgetmembers(&state, call),
            "message" => message(&mut state, call),
            // Also mesibo's other operations (usertoken, usersget, usersync, groupsget, groupmembers,
            // groupmembersget, appstats, appadd, appset, appget: mesibo/on-premise bin/backend (3e0bd47), its
            // strings), which nothing here calls: the emulator's reading is to refuse them rather than guess.
            _ => Err(Refusal::new("BADOP").properties(&["op"])),
        };
        drop(state);
        if let Some(echo) = &self.echo {
            echo(format!("[dev mesibo] {}", describe(op, call, outcome.as_ref())));
        }
        let mut answer = match outcome {
            Ok(mut fields) => {
                fields.insert("op".into(), json!(op));
                fields.insert("result".into(), json!(true));
                Value::Object(fields)
            }
            Err(refusal) => refusal.answer(Some(op)),
        };
        // "[Optional] Request Identifier (id), any random integer value to identify request. It will be returned
        // back in the response." (docs.mesibo.com/api/backend-api/)
        if let Some(id) = call.get("id") {
            answer["id"] = id.clone();
        }
        answer
    }

    fn control(&self, method: &str, path: &str, body: &[u8]) -> hyper::Response<Answer> {
        match (method, path) {
            ("GET", "/_emulator/state") => {
                let state = self.lock();
                respond(200, "application/json", serde_json::to_string(&*state).unwrap_or_default())
            }
            ("POST", "/_emulator/fault") => {
                let request: Value = serde_json::from_slice(body).unwrap_or_default();
                if let Some(latency) = request["latency_ms"].as_u64() {
                    self.set_latency(Duration::from_millis(latency));
                }
                let fault = match request["fault"].as_str() {
                    Some("timeout") => Some(Fault::Timeout),
                    Some("server_error") => Some(Fault::ServerError),
                    Some("refuse") => Some(Fault::Refuse),
                    Some("refuse_with") => {
                        let code = request["code"].as_str().unwrap_or_default();
                        ERROR_CODES.iter().find(|known| **known == code).map(|known| Fault::RefuseWith(known))
                    }
                    Some("cut_body") => Some(Fault::CutBody),
                    Some("none") => {
                        self.recover();
                        None
                    }
                    _ => None,
                };
                if let Some(fault) = fault {
                    let count = request["count"].as_u64().map(|c| c as usize);
                    self.fail(fault, request["op"].as_str(), count);
                }
                respond(200, "application/json", r#"{"result":true}"#.into())
            }
            _ => respond(404, "application/json", r#"{"result":false,"error":"NOTFOUND"}"#.into()),
        }
    }
}

fn take_fault(rules: &mut Vec<FaultRule>, op: &str) -> Option<Fault> {
    let index = rules.iter().position(|r| r.op.as_deref().is_none_or(|o| o == op))?;
    let fault = rules[index].fault.clone();
    if let Some(remaining) = &mut rules[index].remaining {
        *remaining -= 1;
        if *remaining == 0 {
            rules.remove(index);
        }
    }
    Some(fault)
}

/// One line per call for `make dev`: the operation and whom it concerns, addresses cut short, never a token.
fn describe(op: &str, call: Obj, answer: Result<&Map<String, Value>, &Refusal>) -> String {
    let outcome = answer.err().map(|r| format!(" (refused: {})", r.error)).unwrap_or_default();
    let section = |name: &str| call.0.get(name).and_then(Value::as_object).cloned().unwrap_or_default();
    let count = |value: Option<&Value>| match value {
        Some(Value::String(list)) => list.split(',').filter(|a| !a.trim().is_empty()).count(),
        Some(Value::Array(list)) => list.len(),
        _ => 0,
    };
    match op {
        "message" => {
            let message = section("message");
            let event = message
                .get("message")
                .and_then(Value::as_str)
                .and_then(|body| serde_json::from_str::<Value>(body).ok())
                .and_then(|body| body["event"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "message".into());
            match message.get("gid").and_then(Value::as_u64).filter(|gid| *gid != 0) {
                Some(gid) => format!("message to group {gid}: {event}{outcome}"),
                None => format!("message to {} users: {event}{outcome}", count(message.get("to"))),
            }
        }
        "groupeditmembers" => {
            let group = section("group");
            let delete =
                matches!(group.get("delete"), Some(Value::Bool(true))) || group.get("delete") == Some(&json!(1));
            let members = group.get("members").and_then(|m| m.get("m"));
            let verb = if delete { "remove" } else { "add" };
            format!("groupeditmembers {} {verb} {}{outcome}", group.get("gid").unwrap_or(&Value::Null), count(members))
        }
        "groupadd" => {
            let gid = answer.ok().and_then(|a| a.get("group")).map(|g| g["gid"].clone()).unwrap_or_default();
            let members = count(section("group").get("members").and_then(|m| m.get("m")));
            format!("groupadd {gid} with {members} named{outcome}")
        }
        "groupset" | "groupdel" | "groupgetmembers" => {
            format!("{op} {}{outcome}", section("group").get("gid").unwrap_or(&Value::Null))
        }
        _ => {
            let user = section("user");
            let who = match (user.get("address").and_then(Value::as_str), user.get("uid")) {
                (Some(address), _) => masked(address),
                (None, Some(uid)) => format!("uid {uid}"),
                (None, None) => String::new(),
            };
            format!("{op} {who}{outcome}")
        }
    }
}

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

pub(super) fn masked(address: &str) -> String {
    match address.char_indices().nth(4) {
        Some((cut, _)) => format!("{}…", &address[..cut]),
        None => address.to_owned(),
    }
}

pub(super) fn mesibo_json(value: Value) -> hyper::Response<Answer> {
    respond(200, "application/json", value.to_string())
}

pub(super) fn respond(status: u16, content_type: &str, body: String) -> hyper::Response<Answer> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed())
        .expect("static response")
}

pub(super) fn rand_u16() -> u16 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("the OS random source");
    u16::from_le_bytes(bytes)
}
