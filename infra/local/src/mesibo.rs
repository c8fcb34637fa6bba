//! An emulator of mesibo's backend API, for `make dev` and the integration tests: one HTTP endpoint taking what
//! mesibo documents (form parameters, or the JSON objects of the current reference; also the query string of the old
//! `api.php?op=…` form) and answering in mesibo's shape (`{"op", "result": true|false, "error"}` plus `user`,
//! `group`, `mid`). A wrong app token gets `AUTHFAIL`, an unknown operation `BADOP`.
//!
//! It keeps users (with their tokens), groups (with members) and messages for tests to inspect, and has a fault mode
//! — no answer, HTTP 5xx, `result:false`, a cut body, added latency — for a number of calls or all, for one operation
//! or all. `GET /_emulator/state` shows the state and `POST /_emulator/fault` sets a fault (JSON: `fault`, `count`,
//! `op`, `latency_ms`) for whoever runs it by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::{Bytes, Incoming};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// An answer's body: whole, or cut short by a fault.
type Answer = BoxBody<Bytes, std::io::Error>;

/// What the emulator does instead of answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Holds the request without answering (longer than any client waits).
    Timeout,
    /// HTTP 502 with an HTML body, as a load balancer in front of a dead server.
    ServerError,
    /// A well-formed `result:false` answer (`error: "FAIL"`).
    Refuse,
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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub uid: u64,
    pub address: String,
    pub name: String,
    /// Live tokens (token, appid).
    pub tokens: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub gid: u64,
    pub name: String,
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub mid: u64,
    pub from: String,
    pub to: Vec<String>,
    pub message_type: String,
    pub flags: String,
    pub expiry: String,
    pub body: String,
}

#[derive(Debug, Default, Serialize)]
pub struct State {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<u64, Group>,
    pub messages: Vec<Message>,
    /// Every call that reached the emulator, by operation (faulted ones included).
    pub calls: Vec<String>,
    faults: Vec<FaultRule>,
    latency_ms: u64,
    /// `useradd` answers a user's live token for the app again instead of a new one (mesibo does not document
    /// which it does).
    reissue_live_tokens: bool,
    /// `groupeditmembers` with `delete=1` refuses addresses that are not members (undocumented either way).
    refuse_removing_non_members: bool,
    next_id: u64,
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
    pub fn fail(&self, fault: Fault, op: Option<&str>, count: Option<usize>) {
        self.lock().faults.push(FaultRule { fault, op: op.map(str::to_owned), remaining: count });
    }

    /// Every answer waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency_ms = latency.as_millis() as u64;
    }

    /// From now on `useradd` hands out the token the user already has for that app, if any.
    pub fn reissue_live_tokens(&self) {
        self.lock().reissue_live_tokens = true;
    }

    /// From now on removing someone who is not a member is refused (`NOTMEMBER`).
    pub fn refuse_removing_non_members(&self) {
        self.lock().refuse_removing_non_members = true;
    }

    /// Every group mesibo has.
    pub fn groups(&self) -> Vec<Group> {
        self.lock().groups.values().cloned().collect()
    }

    pub fn recover(&self) {
        self.lock().faults.clear();
    }

    pub fn user(&self, address: &str) -> Option<User> {
        self.lock().users.get(address).cloned()
    }

    /// Whether mesibo would let this token connect.
    pub fn token_works(&self, token: &str) -> bool {
        self.lock().users.values().any(|u| u.tokens.iter().any(|(t, _)| t == token))
    }

    pub fn group(&self, gid: u64) -> Option<Group> {
        self.lock().groups.get(&gid).cloned()
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
        if parts.uri.path().starts_with("/_emulator/") {
            return self.control(parts.method.as_str(), parts.uri.path(), &body);
        }
        let is_json =
            parts.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
        let params = Params::read(parts.uri.query().unwrap_or(""), &body, is_json);
        let op = params.text("op").unwrap_or_default();
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
                return respond(504, "text/plain", "timeout".into());
            }
            Some(Fault::ServerError) => return respond(502, "text/html", "<html>502 Bad Gateway</html>".into()),
            Some(Fault::Refuse) => return mesibo_json(json!({"op": op, "result": false, "error": "FAIL"})),
            Some(Fault::CutBody) => {
                // The whole answer's length announced, half of it sent, then the body fails: hyper drops the
                // connection, and the client has half a JSON document.
                let whole = self.execute(&op, &params).to_string();
                let half = Bytes::from(whole.as_bytes()[..whole.len() / 2].to_vec());
                let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
                    vec![Ok(Frame::data(half)), Err(std::io::Error::other("cut"))];
                return hyper::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("content-length", whole.len().to_string())
                    .body(StreamBody::new(futures::stream::iter(frames)).boxed())
                    .expect("static response");
            }
            None => {}
        }
        mesibo_json(self.execute(&op, &params))
    }

    /// The operation itself, as mesibo answers it.
    fn execute(&self, op: &str, params: &Params) -> Value {
        if params.text("token").as_deref() != Some(self.app_token.as_str()) {
            if self.echo {
                println!("[dev mesibo] {op}: AUTHFAIL (wrong app token)");
            }
            return json!({"op": op, "result": false, "error": "AUTHFAIL"});
        }
        let mut state = self.lock();
        let answer = match op {
            "useradd" => useradd(&mut state, params),
            "userdel" => userdel(&mut state, params),
            "deltoken" => deltoken(&mut state, params),
            "usersget" => {
                let users: Vec<&User> = state.users.values().take(20).collect();
                Ok(json!({"users": users}))
            }
            "groupadd" => groupadd(&mut state, params),
            "groupset" => groupset(&mut state, params),
            "groupdel" => match state.groups.remove(&params.number("gid")) {
                Some(_) => Ok(json!({})),
                None => Err("NOGROUP"),
            },
            "groupeditmembers" => groupeditmembers(&mut state, params),
            "groupgetmembers" => match state.groups.get(&params.number("gid")) {
                Some(group) => {
                    let count = params.number("count").clamp(1, 20) as usize;
                    Ok(json!({"members": group.members.iter().take(count).collect::<Vec<_>>()}))
                }
                None => Err("NOGROUP"),
            },
            "message" => message(&mut state, params),
            _ => Err("BADOP"),
        };
        drop(state);
        if self.echo {
            println!("[dev mesibo] {}", self.describe(op, params, answer.is_ok()));
        }
        match answer {
            Ok(Value::Object(mut fields)) => {
                fields.insert("op".into(), json!(op));
                fields.insert("result".into(), json!(true));
                Value::Object(fields)
            }
            Ok(other) => other,
            Err(code) => json!({"op": op, "result": false, "error": code}),
        }
    }

    /// One line per call for `make dev`: the operation and whom it concerns, numbers cut short.
    fn describe(&self, op: &str, params: &Params, ok: bool) -> String {
        let outcome = if ok { "" } else { " (refused)" };
        match op {
            "message" => {
                let to = params.text("to").unwrap_or_default();
                let event = serde_json::from_str::<Value>(&params.text("msg").unwrap_or_default())
                    .ok()
                    .and_then(|body| body["event"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "message".into());
                format!("message to {} users: {event}{outcome}", to.split(',').filter(|a| !a.is_empty()).count())
            }
            "groupeditmembers" => {
                let count = params.text("m").unwrap_or_default().split(',').filter(|a| !a.is_empty()).count();
                let verb = if params.number("delete") == 1 { "remove" } else { "add" };
                format!("groupeditmembers {} {verb} {count}{outcome}", params.number("gid"))
            }
            "groupadd" | "groupset" | "groupdel" => format!("{op} {}{outcome}", params.number("gid")),
            _ => format!(
                "{op} {}{outcome}",
                masked(&params.text("addr").unwrap_or_else(|| params.text("uid").unwrap_or_default()))
            ),
        }
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

type Outcome = Result<Value, &'static str>;

fn useradd(state: &mut State, params: &Params) -> Outcome {
    let address = params.text("addr").or_else(|| params.text("address")).ok_or("MISSINGPARAM")?;
    let appid = params.text("appid").ok_or("MISSINGAPPID")?;
    let reissue = state.reissue_live_tokens;
    let next_id = state.next_id + 1;
    let user = state.users.entry(address.clone()).or_insert_with(|| User {
        uid: next_id,
        address: address.clone(),
        name: String::new(),
        tokens: vec![],
    });
    if user.uid == next_id {
        state.next_id = next_id;
    }
    if let Some(name) = params.text("name") {
        user.name = name;
    }
    let live = user.tokens.iter().find(|(_, app)| *app == appid).map(|(token, _)| token.clone());
    let token = match live.filter(|_| reissue) {
        Some(token) => token,
        None => {
            let token = crate::harness::random_hex(32);
            user.tokens.push((token.clone(), appid));
            token
        }
    };
    Ok(json!({"user": {"uid": user.uid, "address": address, "token": token}}))
}

fn find_user<'a>(state: &'a mut State, params: &Params) -> Option<&'a mut User> {
    let uid = params.number("uid");
    let address = params.text("addr").or_else(|| params.text("address"));
    state.users.values_mut().find(|u| (uid != 0 && u.uid == uid) || address.as_deref() == Some(u.address.as_str()))
}

fn userdel(state: &mut State, params: &Params) -> Outcome {
    let address = find_user(state, params).ok_or("NOUSER")?.address.clone();
    state.users.remove(&address);
    for group in state.groups.values_mut() {
        group.members.remove(&address);
    }
    Ok(json!({}))
}

fn deltoken(state: &mut State, params: &Params) -> Outcome {
    let token = params.text("usertoken");
    let user = find_user(state, params).ok_or("NOUSER")?;
    match token {
        Some(token) => user.tokens.retain(|(t, _)| *t != token),
        None => user.tokens.clear(),
    }
    Ok(json!({}))
}

fn groupadd(state: &mut State, params: &Params) -> Outcome {
    state.next_id += 1;
    let gid = state.next_id;
    let name = params.text("name").unwrap_or_default();
    state.groups.insert(gid, Group { gid, name, members: BTreeSet::new() });
    Ok(json!({"group": {"gid": gid}}))
}

fn groupset(state: &mut State, params: &Params) -> Outcome {
    let gid = params.number("gid");
    let group = state.groups.get_mut(&gid).ok_or("NOGROUP")?;
    if let Some(name) = params.text("name") {
        group.name = name;
    }
    Ok(json!({"group": {"gid": gid}}))
}

fn groupeditmembers(state: &mut State, params: &Params) -> Outcome {
    let gid = params.number("gid");
    let strict = state.refuse_removing_non_members;
    let group = state.groups.get_mut(&gid).ok_or("NOGROUP")?;
    let members = params.text("m").ok_or("MISSINGPARAM")?;
    let members: Vec<&str> = members.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
    let delete = params.number("delete") == 1;
    if delete && strict && members.iter().any(|m| !group.members.contains(*m)) {
        return Err("NOTMEMBER");
    }
    for member in members {
        if delete {
            group.members.remove(member);
        } else {
            group.members.insert(member.to_owned());
        }
    }
    Ok(json!({}))
}

fn message(state: &mut State, params: &Params) -> Outcome {
    let from = params.text("from").ok_or("MISSINGPARAM")?;
    if !state.users.contains_key(&from) {
        return Err("BADFROM");
    }
    let to: Vec<String> = params
        .text("to")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if to.is_empty() && params.number("gid") == 0 {
        return Err("MISSINGPARAM");
    }
    state.next_id += 1;
    let mid = state.next_id;
    state.messages.push(Message {
        mid,
        from,
        to,
        message_type: params.text("type").unwrap_or_else(|| "0".into()),
        flags: params.text("flag").unwrap_or_else(|| "0".into()),
        expiry: params.text("expiry").unwrap_or_default(),
        body: params.text("msg").unwrap_or_default(),
    });
    Ok(json!({"mid": mid}))
}

/// A call's parameters, whichever way they came: the query string, a form body, or a JSON body whose `user`,
/// `group` and `message` objects are flattened onto the legacy names (`user.address` → `addr`, `user.token.appid` →
/// `appid`, `message.message` → `msg`, `message.flags` → `flag`, `group.members` → `m`).
struct Params(BTreeMap<String, String>);

impl Params {
    fn read(query: &str, body: &[u8], is_json: bool) -> Self {
        let mut values: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        if is_json {
            if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) {
                for (key, value) in &fields {
                    match (key.as_str(), value) {
                        ("user" | "group" | "message", Value::Object(inner)) => {
                            for (name, value) in inner {
                                let name = match (key.as_str(), name.as_str()) {
                                    ("user", "address") => "addr",
                                    ("user", "token") => {
                                        if let Some(appid) = value["appid"].as_str() {
                                            values.insert("appid".into(), appid.into());
                                        }
                                        if let Some(expiry) = value["expiry"].as_u64() {
                                            values.insert("expiry".into(), expiry.to_string());
                                        }
                                        continue;
                                    }
                                    ("message", "message") => "msg",
                                    ("message", "flags") => "flag",
                                    ("group", "members") => "m",
                                    (_, name) => name,
                                };
                                values.insert(name.into(), text(value));
                            }
                        }
                        _ => {
                            values.insert(key.clone(), text(value));
                        }
                    }
                }
            }
        } else {
            values.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(values)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn number(&self, name: &str) -> u64 {
        self.text(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
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
