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
use tokio::net::TcpListener;

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
    echo: bool,
}

impl MesiboEmulator {
    /// On a free port of 127.0.0.1, with a random app token.
    pub async fn start() -> Self {
        Self::start_on(0, format!("emulator-app-token-{}", crate::harness::random_hex(12)), false).await.expect("bound")
    }

    /// On `port` (0: any free one), printing one line per call when `echo` (the dev server).
    pub async fn start_on(port: u16, app_token: String, echo: bool) -> std::io::Result<Self> {
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
            if self.echo {
                println!("[dev mesibo] (not a JSON object): BADPAYLOAD");
            }
            return Refusal::new("BADPAYLOAD").answer(None);
        };
        // The app token is checked first, before the operation's name or data: the emulator's reading (mesibo's cloud
        // answered a wrong token with AUTHFAIL, and nothing says a refusal of the data could come first).
        if call.get("token").and_then(Value::as_str) != Some(self.app_token.as_str()) {
            if self.echo {
                println!("[dev mesibo] {op}: AUTHFAIL (wrong app token)");
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
        if self.echo {
            println!("[dev mesibo] {}", describe(op, call, outcome.as_ref()));
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

/// A refusal in mesibo's shape. Its `cause` and `action` texts are mesibo's own (mesibo/on-premise bin/backend
/// (3e0bd47), its strings); `code` is 401 for AUTHFAIL as mesibo's cloud answered it, and, the emulator's reading
/// (mesibo documents no other), 400 for a refused request and 500 for FAIL.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    error: &'static str,
    cause: Option<&'static str>,
    action: Option<&'static str>,
    properties: Vec<&'static str>,
}

/// mesibo/on-premise bin/backend (3e0bd47), its strings.
const REFER_PARAMETERS: &str = "Refer to the mesibo backend API documentation to learn about required parameters";
const REFER_VALUES: &str =
    "Refer to the mesibo backend API documentation to learn about required parameters and expected values";

impl Refusal {
    fn new(error: &'static str) -> Self {
        // mesibo/on-premise bin/backend (3e0bd47), its strings: each code with the texts that follow it there (the
        // binary does not say which text goes with which code; pairing them by their order is the emulator's reading).
        let (cause, action) = match error {
            "AUTHFAIL" => (Some("Invalid or expired app token"), None),
            "BADPAYLOAD" => (Some("The input request is not a valid JSON object"), None),
            // docs.mesibo.com/api/backend-api/ names the code BADOP; the on-premise server's text for it is this.
            "BADOP" => (
                Some("Invalid API method (op) received. Refer to the mesibo backend API documentation to learn more."),
                Some("Refer to the mesibo backend API documentation to learn about correct parameters"),
            ),
            "MISSINGPARAMS" => (
                Some(
                    "One or more required properties for this operation type are missing. Refer to the properties \
                     array in the response to learn more.",
                ),
                Some(REFER_PARAMETERS),
            ),
            "BADVALUE" => (
                Some(
                    "One or more properties contain bad values. Refer to the properties array in the response to \
                     learn more.",
                ),
                Some(REFER_VALUES),
            ),
            "INVALIDVALUE" => (
                Some(
                    "One or more properties contain invalid values. Refer to the properties array in the response \
                     to learn more.",
                ),
                Some(REFER_VALUES),
            ),
            "BADREQ" => (
                Some("bad request"),
                Some(
                    "Refer to the mesibo backend API documentation to learn about required parameters, expected \
                     values, and combinations",
                ),
            ),
            _ => (None, None),
        };
        Self { error, cause, action, properties: vec![] }
    }

    fn properties(mut self, properties: &[&'static str]) -> Self {
        self.properties = properties.to_vec();
        self
    }

    fn cause(mut self, cause: &'static str) -> Self {
        self.cause = Some(cause);
        self
    }

    fn action(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }

    fn answer(&self, op: Option<&str>) -> Value {
        let code = match self.error {
            "AUTHFAIL" => 401,
            "FAIL" => 500,
            _ => 400,
        };
        let mut answer = Map::new();
        answer.insert("error".into(), json!(self.error));
        answer.insert("code".into(), json!(code));
        if let Some(cause) = self.cause {
            answer.insert("cause".into(), json!(cause));
        }
        if let Some(action) = self.action {
            answer.insert("action".into(), json!(action));
        }
        if !self.properties.is_empty() {
            answer.insert("properties".into(), json!(self.properties));
        }
        if let Some(op) = op {
            answer.insert("op".into(), json!(op));
        }
        answer.insert("result".into(), json!(false));
        Value::Object(answer)
    }
}

fn missing(properties: &[&'static str]) -> Refusal {
    Refusal::new("MISSINGPARAMS").properties(properties)
}

fn bad(property: &'static str) -> Refusal {
    Refusal::new("BADVALUE").properties(&[property])
}

/// A value that is well formed but names nothing (no such user, no such group). mesibo's sources do not say which
/// code that gets; the emulator's reading: INVALIDVALUE ("One or more properties contain invalid values").
fn invalid(property: &'static str) -> Refusal {
    Refusal::new("INVALIDVALUE").properties(&[property])
}

type Outcome = Result<Map<String, Value>, Refusal>;

/// One JSON object of a call, read strictly. `null` reads as absent: the docs' own message example sends `"flags":
/// null` (docs.mesibo.com/api/backend-api/messaging/), as mesibo's helper does for what its caller left unset
/// (`$m['flags'] = $flags` of an undefined `$flags`, mesibo/samples mesibohelper.php (df0b75e)).
#[derive(Clone, Copy)]
struct Obj<'a>(&'a Map<String, Value>);

impl<'a> Obj<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn object(&self, name: &'static str) -> Result<Option<Obj<'a>>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Obj(fields))),
            Some(_) => Err(bad(name)),
        }
    }

    fn string(&self, name: &'static str) -> Result<Option<&'a str>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(bad(name)),
        }
    }

    /// A string that must be there and not be empty.
    fn required_string(&self, name: &'static str) -> Result<&'a str, Refusal> {
        self.string(name)?.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| missing(&[name]))
    }

    /// An unsigned integer (a JSON number: mesibo's helper sends numbers as numbers).
    fn number(&self, name: &'static str) -> Result<Option<u64>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| bad(name)),
        }
    }

    /// `true`/`false` or `1`/`0`: mesibo's helper sends JSON booleans, its query-string form sent 1 and 0
    /// (mesibo/samples mesiboapi.php (df0b75e), CreateURLEncoded).
    fn flag(&self, name: &'static str) -> Result<Option<bool>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(value) => match value.as_u64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad(name)),
            },
        }
    }

    /// Addresses: a comma-separated string (mesibo's helper and docs) or an array of strings.
    fn addresses(&self, name: &'static str) -> Result<Option<Vec<String>>, Refusal> {
        let list: Vec<String> = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(list)) => list.split(',').map(|a| a.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(|a| a.trim().to_owned()).ok_or_else(|| bad(name)))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad(name)),
        };
        let mut seen = BTreeSet::new();
        Ok(Some(list.into_iter().filter(|a| !a.is_empty() && seen.insert(a.clone())).collect()))
    }
}

/// Whom a `user` object names: `uid` or `address`, never both ("Both uid and address are specified" → BADREQ;
/// "Specify either uid or address", mesibo/on-premise bin/backend (3e0bd47), its strings).
enum Who {
    Uid(u64),
    Address(String),
}

fn who(user: Obj) -> Result<Who, Refusal> {
    let uid = user.number("uid")?;
    let address = user.string("address")?.map(str::trim).filter(|a| !a.is_empty());
    match (uid, address) {
        (Some(_), Some(_)) => {
            Err(Refusal::new("BADREQ").cause("Both uid and address are specified").properties(&["uid", "address"]))
        }
        (Some(uid), None) => Ok(Who::Uid(uid)),
        (None, Some(address)) => Ok(Who::Address(address.to_owned())),
        (None, None) => Err(missing(&["uid", "address"]).cause("Specify either uid or address")),
    }
}

/// The address of the existing user `who` names.
fn existing(state: &State, who: &Who) -> Result<String, Refusal> {
    match who {
        Who::Address(address) if state.users.contains_key(address) => Ok(address.clone()),
        Who::Address(_) => Err(invalid("address")),
        Who::Uid(uid) => {
            state.users.values().find(|u| u.uid == *uid).map(|u| u.address.clone()).ok_or_else(|| invalid("uid"))
        }
    }
}

/// mesibo/on-premise bin/backend (3e0bd47), its strings: "appid should be non-numeric and dotted (for example,
/// com.example.xyz)".
fn valid_appid(appid: &str) -> bool {
    appid.contains('.')
        && appid.split('.').all(|part| !part.is_empty())
        && !appid.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn bad_appid() -> Refusal {
    bad("appid")
        .cause(
            "appid should be non-numeric and dotted (for example, com.example.xyz). For Android, it should be your \
             Android package name declared in the AndroidManifest.xml. For iOS, it should be the bundle id declared \
             in the Xcode project. For other platforms, make sure it is non-numeric and pass the same app id to the \
             setAppName API function",
        )
        .action("fix and send correct appid")
}

/// `useradd {user: {address | uid, name?, flags?, active?, token?: {appid, session?, expiry?}}}` → `{user: {uid,
/// address, token}}`; without `user.token` no token is made and the answer has none ("The access token will not be
/// generated if this object is not present in the request", docs.mesibo.com/api/backend-api/user-management/;
/// mesibo/samples mesibohelper.php (df0b75e) MesiboAddUser).
fn useradd(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let who = who(user)?;
    let name = user.string("name")?;
    user.number("flags")?;
    user.flag("active")?;
    user.string("otp")?;
    let token = match user.object("token")? {
        Some(token) => {
            let appid = token.required_string("appid")?;
            if !valid_appid(appid) {
                return Err(bad_appid());
            }
            // One token per (uid, session), the session 0 unless named (`insert into tokens set uid, session, … on
            // duplicate key update`, mesibo/on-premise bin/backend (3e0bd47)).
            let session = token.number("session")?.unwrap_or(0);
            // Minutes (`ets=%u+%u*60`, ibid.); 0: never ("0 for never expires", mesibo/samples mesiboapi.php
            // (07c0836)).
            let expiry = token.number("expiry")?.unwrap_or(0);
            token.flag("v2")?;
            Some((appid, session, expiry))
        }
        None => None,
    };

    let address = match &who {
        Who::Address(address) => address.clone(),
        Who::Uid(_) => existing(state, &who)?,
    };
    if !state.users.contains_key(&address) {
        let uid = state.next_id();
        state
            .users
            .insert(address.clone(), User { uid, address: address.clone(), name: String::new(), tokens: vec![] });
    }
    let user = state.users.get_mut(&address).expect("just ensured");
    if let Some(name) = name {
        user.name = name.to_owned();
    }
    let mut answer = json!({"uid": user.uid, "address": address});
    if let Some((appid, session, expiry)) = token {
        answer["token"] = json!(issue(user, appid, session, expiry));
    }
    Ok(Map::from_iter([("user".to_owned(), answer)]))
}

/// The user's token for `session`: its live one for this app as it is (`select token … where uid, appid, session …
/// and unix_timestamp() < ets limit 1`, mesibo/on-premise bin/backend (3e0bd47)), else a new one in its place.
fn issue(user: &mut User, appid: &str, session: u64, expiry: u64) -> String {
    let now = now();
    if let Some(live) = user.tokens.iter().find(|t| t.session == session && t.appid == appid && t.live(now)) {
        return live.token.clone();
    }
    user.tokens.retain(|t| t.session != session);
    let token = crate::harness::random_hex(32);
    user.tokens.push(Token {
        token: token.clone(),
        appid: appid.to_owned(),
        session,
        expires_at: (expiry > 0).then(|| now + expiry * 60),
    });
    // Up to eight devices (docs.mesibo.com/api/messaging/multi-device-login-and-synchronization/); what a ninth does
    // is not documented. The emulator's reading: the least recently issued live session gives way.
    let live: Vec<u64> = user.tokens.iter().filter(|t| t.live(now)).map(|t| t.session).collect();
    if live.len() > MAX_SESSIONS {
        let oldest = live[0];
        user.tokens.retain(|t| t.session != oldest);
    }
    token
}

/// `userset {user: {address | uid, name?, flags?, token?: {remove: true, session?}}}`: `token.remove` ends the
/// named session's token, or every token of the user when no session is named (mesibo/samples mesibohelper.php
/// (df0b75e) MesiboDeleteToken names none and means the user's token; `delete from tokens where uid and session`,
/// mesibo/on-premise bin/backend (3e0bd47)).
fn userset(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let who = who(user)?;
    let name = user.string("name")?;
    user.number("flags")?;
    let (remove, session) = match user.object("token")? {
        Some(token) => (token.flag("remove")?.unwrap_or(false), token.number("session")?),
        None => (false, None),
    };
    let address = existing(state, &who)?;
    let user = state.users.get_mut(&address).expect("existing");
    if let Some(name) = name {
        user.name = name.to_owned();
    }
    if remove {
        user.tokens.retain(|t| session.is_some_and(|s| t.session != s));
    }
    Ok(Map::new())
}

/// `userdel {user: {address | uid}}`: the user, every token and every membership go.
fn userdel(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let address = existing(state, &who(user)?)?;
    state.users.remove(&address);
    for group in state.groups.values_mut() {
        group.members.remove(&address);
    }
    for permissions in state.permissions.values_mut() {
        permissions.remove(&address);
    }
    Ok(Map::new())
}

/// `group.members`: `{m, permissions?: {send, recv, pub, sub, list}}` (mesibo/samples mesibohelper.php (df0b75e)).
/// Permissions left out are granted: mesibo's helper always grants all five, and its sources say nothing of
/// defaults (the emulator's reading).
fn members(group: Obj) -> Result<Option<(Vec<String>, Permissions)>, Refusal> {
    let Some(members) = group.object("members")? else { return Ok(None) };
    let list = members.addresses("m")?.filter(|m| !m.is_empty()).ok_or_else(|| missing(&["m"]))?;
    let mut permissions = Permissions { send: true, recv: true, publish: true, sub: true, list: true };
    if let Some(given) = members.object("permissions")? {
        permissions.send = given.flag("send")?.unwrap_or(true);
        permissions.recv = given.flag("recv")?.unwrap_or(true);
        permissions.publish = given.flag("pub")?.unwrap_or(true);
        permissions.sub = given.flag("sub")?.unwrap_or(true);
        permissions.list = given.flag("list")?.unwrap_or(true);
    }
    Ok(Some((list, permissions)))
}

/// Adds those of `list` who are users; the others are skipped without a word (`insert into members … select … from
/// users where address in (…) and active=1 and deleted=0`, mesibo/on-premise bin/backend (3e0bd47)).
fn add_members(state: &mut State, gid: u64, list: &[String], permissions: Permissions) {
    let users: Vec<String> = list.iter().filter(|a| state.users.contains_key(*a)).cloned().collect();
    let group = state.groups.get_mut(&gid).expect("existing group");
    let granted = state.permissions.entry(gid).or_default();
    for address in users {
        group.members.insert(address.clone());
        granted.insert(address, permissions);
    }
}

/// A duration in seconds, counted from now; absent or 0: the default year. The emulator's reading of 0: mesibo's
/// groupset renews only when a duration is given (`ets=if(%d, unix_timestamp()+%u, ets)`, mesibo/on-premise
/// bin/backend (3e0bd47)), and a group that expires the moment it is made serves nobody.
fn duration(group: Obj) -> Result<Option<u64>, Refusal> {
    Ok(group.number("duration")?.filter(|d| *d > 0))
}

/// `groupadd {group: {name?, flags?, start?, duration?, expiryext?, members?}}` → `{group: {gid}}`
/// (the request: mesibo/samples mesibohelper.php (df0b75e) MesiboCreateGroup; the answer:
/// mesibo.com/documentation/tutorials/get-started/group-messaging-rest-console/).
fn groupadd(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let name = group.string("name")?.unwrap_or_default().to_owned();
    let flags = group.number("flags")?.unwrap_or(0);
    group.number("start")?;
    group.number("expiryext")?;
    let duration = duration(group)?.unwrap_or(DEFAULT_GROUP_DURATION);
    let members = members(group)?;
    let gid = state.next_id();
    let expires_at = now() + duration;
    state.groups.insert(gid, Group { gid, name, flags, expires_at, members: BTreeSet::new() });
    state.permissions.insert(gid, BTreeMap::new());
    if let Some((list, permissions)) = members {
        add_members(state, gid, &list, permissions);
    }
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    Ok(answer)
}

/// The gid of an existing group from `group.gid`.
fn existing_group(state: &State, group: Obj) -> Result<u64, Refusal> {
    let gid = group.number("gid")?.filter(|g| *g != 0).ok_or_else(|| missing(&["gid"]))?;
    state.groups.contains_key(&gid).then_some(gid).ok_or_else(|| invalid("gid"))
}

/// `groupset {group: {gid, name?, flags?, duration?, members?}}`: what is given changes, a duration renews the
/// expiry from now (mesibo/samples mesibohelper.php (df0b75e) MesiboSetGroup; `update groupstable set … ets=if(%d,
/// unix_timestamp()+%u, ets)`, mesibo/on-premise bin/backend (3e0bd47)).
fn groupset(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let name = group.string("name")?;
    let flags = group.number("flags")?;
    group.number("start")?;
    group.number("expiryext")?;
    let duration = duration(group)?;
    let members = members(group)?;
    let gid = existing_group(state, group)?;
    let stored = state.groups.get_mut(&gid).expect("existing");
    if let Some(name) = name {
        stored.name = name.to_owned();
    }
    if let Some(flags) = flags {
        stored.flags = flags;
    }
    if let Some(duration) = duration {
        stored.expires_at = now() + duration;
    }
    if let Some((list, permissions)) = members {
        add_members(state, gid, &list, permissions);
    }
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    Ok(answer)
}

/// `groupdel {group: {gid}}`.
fn groupdel(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let gid = existing_group(state, group)?;
    state.groups.remove(&gid);
    state.permissions.remove(&gid);
    Ok(Map::new())
}

/// `groupeditmembers {group: {gid, delete?, members: {m, permissions?}}}`: adds the users among `m`, or with
/// `delete` removes those of `m` who are members; nobody else is touched and nobody is refused (`delete m.* from
/// members m, users u where … u.address in (…)`, mesibo/on-premise bin/backend (3e0bd47)).
fn groupeditmembers(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let delete = group.flag("delete")?.unwrap_or(false);
    let (list, permissions) = members(group)?.ok_or_else(|| missing(&["members"]))?;
    let gid = existing_group(state, group)?;
    if delete {
        let stored = state.groups.get_mut(&gid).expect("existing");
        let granted = state.permissions.entry(gid).or_default();
        for address in &list {
            stored.members.remove(address);
            granted.remove(address);
        }
    } else {
        add_members(state, gid, &list, permissions);
    }
    Ok(Map::new())
}

/// `groupgetmembers {group: {gid}}` (mesibo/samples mesibohelper.php (df0b75e) MesiboGetMembers) → `{group: {gid},
/// members: [{uid, address, permissions}]}`: no source shows the answer; the emulator's reading takes the columns
/// mesibo selects (`select m.gid, m.uid, address, … cansend, canrecv, canpub, cansub, canlist …`, mesibo/on-premise
/// bin/backend (3e0bd47)) under the request's own names.
fn groupgetmembers(state: &State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let gid = existing_group(state, group)?;
    let granted = state.permissions.get(&gid);
    let members: Vec<Value> = state.groups[&gid]
        .members
        .iter()
        .map(|address| {
            let uid = state.users.get(address).map(|u| u.uid).unwrap_or_default();
            let permissions = granted.and_then(|g| g.get(address));
            json!({"uid": uid, "address": address, "permissions": permissions})
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    answer.insert("members".into(), json!(members));
    Ok(answer)
}

/// `message {message: {from, to | gid, type?, expiry?, flags?, forced?, message}}` → `{mid}`
/// (docs.mesibo.com/api/backend-api/messaging/; mesibo/samples mesibohelper.php (df0b75e) MesiboMessage).
fn message(state: &mut State, call: Obj) -> Outcome {
    let message = call.object("message")?.ok_or_else(|| missing(&["message"]))?;
    let from = message.required_string("from")?.to_owned();
    let to = message.addresses("to")?.unwrap_or_default();
    let gid = message.number("gid")?.filter(|g| *g != 0);
    let message_type = message.number("type")?.unwrap_or(0);
    // Seconds, a year unless given (docs.mesibo.com/api/backend-api/messaging/, its table).
    let expiry = message.number("expiry")?.unwrap_or(DEFAULT_MESSAGE_EXPIRY);
    let flags = message.number("flags")?.unwrap_or(0);
    let forced = message.flag("forced")?.unwrap_or(false);
    message.number("when")?;
    message.string("url")?;
    message.string("title")?;
    let body = message.string("message")?.ok_or_else(|| missing(&["message"]))?.to_owned();
    if gid.is_none() && to.is_empty() {
        return Err(missing(&["to", "gid"]));
    }
    if let Some(gid) = gid {
        state.groups.contains_key(&gid).then_some(()).ok_or_else(|| invalid("gid"))?;
    }
    if !state.users.contains_key(&from) {
        // "`from` user does not exists: …, try with forced=true"; with it, "creating `from` user"
        // (mesibo/on-premise bin/backend (3e0bd47), its strings).
        if !forced {
            return Err(invalid("from").cause("`from` user does not exists, try with forced=true"));
        }
        let uid = state.next_id();
        state.users.insert(from.clone(), User { uid, address: from.clone(), name: String::new(), tokens: vec![] });
    }
    // A group message reaches the group's members; otherwise the recipients who are users (`… from users u where
    // u.address in (…) and u.active=1 and u.deleted=0`, ibid.).
    let delivered: Vec<String> = match gid {
        Some(gid) => state.groups[&gid].members.iter().cloned().collect(),
        None => to.iter().filter(|a| state.users.contains_key(*a)).cloned().collect(),
    };
    let mid = state.next_id();
    state.messages.push(Message { mid, from, to, gid, delivered, message_type, flags, expiry, body });
    let mut answer = Map::new();
    answer.insert("mid".into(), json!(mid));
    Ok(answer)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn masked(address: &str) -> String {
    match address.char_indices().nth(4) {
        Some((cut, _)) => format!("{}…", &address[..cut]),
        None => address.to_owned(),
    }
}

fn mesibo_json(value: Value) -> hyper::Response<Answer> {
    respond(200, "application/json", value.to_string())
}

fn respond(status: u16, content_type: &str, body: String) -> hyper::Response<Answer> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed())
        .expect("static response")
}

fn rand_u16() -> u16 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("the OS random source");
    u16::from_le_bytes(bytes)
}
