//! The mesibo emulator against mesibo's own requests and answers (`fixtures/mesibo-backend-api.json`): each fixture's
//! request, replayed, gets an answer with the documented fields, of the documented JSON types, with the documented
//! values where they are not ids or tokens. Then the rules the fixtures do not show: what is not a JSON object, the
//! sessions of a user, members who are not users, forced senders, group expiry.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use local_stack::harness::{http_post, http_raw};
use local_stack::mesibo::{DEFAULT_GROUP_DURATION, Fault, MAX_SESSIONS, MesiboEmulator};
use serde_json::{Value, json};

const FIXTURES: &str = include_str!("../fixtures/mesibo-backend-api.json");

/// The names the client's tests look fixtures up by.
const NAMES: [&str; 11] = [
    "useradd",
    "userset-remove-token",
    "userdel",
    "groupadd",
    "groupset",
    "groupdel",
    "groupeditmembers-add",
    "groupeditmembers-delete",
    "message",
    "error-badop",
    "error-authfail",
];

/// Fields whose values are the source's own ids or tokens: only their type is compared.
const IDS: [&str; 4] = ["uid", "gid", "mid", "token"];

fn fixtures() -> Vec<Value> {
    let file: Value = serde_json::from_str(FIXTURES).expect("the fixtures are JSON");
    file["fixtures"].as_array().expect("a fixtures array").clone()
}

fn fixture(name: &str) -> Value {
    fixtures().into_iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// The fixture's request with the emulator's app token for "<APP_TOKEN>".
fn request(emulator: &MesiboEmulator, name: &str) -> Value {
    fn substitute(value: &mut Value, token: &str) {
        match value {
            Value::String(s) if s == "<APP_TOKEN>" => *s = token.to_owned(),
            Value::Object(fields) => fields.values_mut().for_each(|v| substitute(v, token)),
            Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, token)),
            _ => {}
        }
    }
    let mut request = fixture(name)["request"].clone();
    substitute(&mut request, &emulator.app_token);
    request
}

async fn call(emulator: &MesiboEmulator, body: &Value) -> Value {
    let (status, answer) = http_post(&emulator.url, "application/json", &body.to_string()).await;
    assert_eq!(status, 200, "mesibo answers in the body, HTTP 200: {answer}");
    answer
}

/// Replays fixture `name` (with `gid` for its group, if given) and checks the answer against the documented one.
async fn replay(emulator: &MesiboEmulator, name: &str, gid: Option<u64>) -> Value {
    let mut body = request(emulator, name);
    if let Some(gid) = gid {
        let section = if body["group"].is_object() { "group" } else { "message" };
        body[section]["gid"] = json!(gid);
    }
    let answer = call(emulator, &body).await;
    let documented = &fixture(name)["answer"];
    if documented.is_null() {
        // No answer in the source: the envelope every answer has ("at least the following fields … op, result").
        assert_eq!((&answer["op"], &answer["result"]), (&body["op"], &json!(true)), "{name}: {answer}");
    } else {
        assert_documented(name, "", documented, &answer);
    }
    answer
}

/// Every documented field is in `answer`, of the same JSON type, with the same value unless it is an id or token.
fn assert_documented(name: &str, path: &str, documented: &Value, answer: &Value) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() => "unsigned integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(kind(answer), kind(documented), "{name}: {path} is a {} ({answer})", kind(documented));
    match documented {
        Value::Object(fields) => {
            for (key, value) in fields {
                let inner = answer.get(key).unwrap_or_else(|| panic!("{name}: {path}.{key} is missing: {answer}"));
                assert_documented(name, &format!("{path}.{key}"), value, inner);
            }
        }
        _ if IDS.iter().any(|id| path.ends_with(&format!(".{id}"))) => {}
        _ => assert_eq!(answer, documented, "{name}: {path}"),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Within a few seconds of `expected` (the emulator and the test read the clock at different moments).
fn about(actual: u64, expected: u64) -> bool {
    actual.abs_diff(expected) <= 5
}

async fn add_user(emulator: &MesiboEmulator, address: &str, session: Option<u64>) -> Value {
    let mut token = json!({"appid": "com.example.mesiboapp", "expiry": 525600});
    if let Some(session) = session {
        token["session"] = json!(session);
    }
    call(emulator, &json!({"op": "useradd", "token": emulator.app_token, "user": {"address": address, "token": token}}))
        .await
}

async fn add_group(emulator: &MesiboEmulator) -> u64 {
    replay(emulator, "groupadd", None).await["group"]["gid"].as_u64().expect("a gid")
}

#[test]
fn the_fixtures_name_their_source_and_are_the_ones_the_client_looks_up() {
    let fixtures = fixtures();
    let names: Vec<&str> = fixtures.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, NAMES);
    for fixture in &fixtures {
        let name = &fixture["name"];
        assert!(fixture["source"].as_str().is_some_and(|s| !s.is_empty()), "{name}: a source");
        assert_eq!(fixture["request"]["op"], fixture["op"], "{name}: the request's op");
        assert!(fixture["request"]["token"].is_string(), "{name}: the app token, top-level");
        assert!(fixture["answer"].is_object() || fixture["answer"].is_null(), "{name}: an answer or null");
    }
}

#[tokio::test]
async fn useradd_as_documented() {
    let emulator = MesiboEmulator::start().await;
    let answer = replay(&emulator, "useradd", None).await;
    let user = emulator.user("xyz@example.com").expect("added");
    assert_eq!((answer["user"]["uid"].as_u64(), user.name.as_str()), (Some(user.uid), "User Name"));
    let token = answer["user"]["token"].as_str().unwrap();
    assert!(emulator.token_works(token));
    let issued = &user.tokens[0];
    assert_eq!((issued.appid.as_str(), issued.session), ("com.example.mesiboapp", 0));
    assert!(about(issued.expires_at.unwrap(), now() + 525_600 * 60), "expiry in minutes");
    // Asked again for the same app and session while it is live: the same token (mesibo's select … limit 1).
    assert_eq!(replay(&emulator, "useradd", None).await["user"]["token"], token);
}

#[tokio::test]
async fn userset_remove_token_as_the_helper_sends_it() {
    let emulator = MesiboEmulator::start().await;
    let token = replay(&emulator, "useradd", None).await["user"]["token"].as_str().unwrap().to_owned();
    replay(&emulator, "userset-remove-token", None).await;
    assert!(!emulator.token_works(&token));
    assert!(emulator.user("xyz@example.com").unwrap().tokens.is_empty(), "no session named: every token");
}

#[tokio::test]
async fn userdel_as_the_helper_sends_it() {
    let emulator = MesiboEmulator::start().await;
    let token = replay(&emulator, "useradd", None).await["user"]["token"].as_str().unwrap().to_owned();
    let gid = add_group(&emulator).await;
    replay(&emulator, "userdel", None).await;
    assert!(emulator.user("xyz@example.com").is_none() && !emulator.token_works(&token));
    assert!(emulator.group(gid).unwrap().members.is_empty(), "and its memberships");
    let again = call(&emulator, &request(&emulator, "userdel")).await;
    assert_eq!((&again["error"], &again["properties"]), (&json!("INVALIDVALUE"), &json!(["address"])));
}

#[tokio::test]
async fn groupadd_as_the_helper_sends_it() {
    let emulator = MesiboEmulator::start().await;
    replay(&emulator, "useradd", None).await;
    let gid = add_group(&emulator).await;
    let group = emulator.group(gid).unwrap();
    assert_eq!((group.name.as_str(), group.flags), ("Test group", 0));
    assert_eq!(group.members, BTreeSet::from(["xyz@example.com".to_owned()]));
    assert!(about(group.expires_at, now() + 31_536_000), "duration in seconds");
}

#[tokio::test]
async fn groupset_and_groupdel_as_the_helper_sends_them() {
    let emulator = MesiboEmulator::start().await;
    replay(&emulator, "useradd", None).await;
    let gid = add_group(&emulator).await;
    call(&emulator, &json!({"op": "groupset", "token": emulator.app_token, "group": {"gid": gid, "name": "Other"}}))
        .await;
    let answer = replay(&emulator, "groupset", Some(gid)).await;
    assert_eq!(answer["group"]["gid"], gid, "response['group']['gid'] (legacy docs)");
    assert_eq!(emulator.group(gid).unwrap().name, "Test group");
    replay(&emulator, "groupdel", Some(gid)).await;
    assert!(emulator.group(gid).is_none());
    let again = call(&emulator, &json!({"op": "groupdel", "token": emulator.app_token, "group": {"gid": gid}})).await;
    assert_eq!((&again["error"], &again["properties"]), (&json!("INVALIDVALUE"), &json!(["gid"])));
}

#[tokio::test]
async fn groupeditmembers_as_the_helper_means_it() {
    let emulator = MesiboEmulator::start().await;
    let gid = add_group(&emulator).await;
    assert!(emulator.group(gid).unwrap().members.is_empty(), "not a user yet: skipped");
    replay(&emulator, "useradd", None).await;
    replay(&emulator, "groupeditmembers-add", Some(gid)).await;
    assert_eq!(emulator.group(gid).unwrap().members, BTreeSet::from(["xyz@example.com".to_owned()]));
    let members =
        call(&emulator, &json!({"op": "groupgetmembers", "token": emulator.app_token, "group": {"gid": gid}})).await;
    assert_eq!(members["members"][0]["address"], "xyz@example.com");
    assert_eq!(members["members"][0]["permissions"]["pub"], true);
    replay(&emulator, "groupeditmembers-delete", Some(gid)).await;
    assert!(emulator.group(gid).unwrap().members.is_empty());
    // Removing who is not a member is no refusal (mesibo deletes what matches).
    replay(&emulator, "groupeditmembers-delete", Some(gid)).await;
}

#[tokio::test]
async fn message_as_documented() {
    let emulator = MesiboEmulator::start().await;
    replay(&emulator, "useradd", None).await;
    let gid = add_group(&emulator).await;
    let answer = replay(&emulator, "message", Some(gid)).await;
    let message = emulator.messages().pop().unwrap();
    assert_eq!(answer["mid"].as_u64(), Some(message.mid));
    assert_eq!(
        (message.from.as_str(), message.to.clone(), message.gid),
        ("me", vec!["you".into(), "she".into(), "he".into()], Some(gid))
    );
    assert_eq!(message.delivered, ["xyz@example.com"], "a group message reaches the group's members");
    assert_eq!((message.message_type, message.expiry, message.flags), (0, 3600, 0), "flags: null reads as absent");
    assert_eq!(message.body, "This is my message");
    assert!(emulator.user("me").is_some_and(|u| u.tokens.is_empty()), "forced: the sender made a user");
}

#[tokio::test]
async fn the_documented_failures() {
    let emulator = MesiboEmulator::start().await;
    let badop = replay(&emulator, "error-badop", None).await;
    assert_eq!(badop["properties"], json!(["op"]));
    let authfail = replay(&emulator, "error-authfail", None).await;
    assert_eq!(authfail, fixture("error-authfail")["answer"], "exactly the cloud's answer");
    assert!(emulator.user("xyz@example.com").is_none());
    assert_eq!(emulator.calls(), ["someop", "useradd"]);
}

#[tokio::test]
async fn what_is_not_a_json_object_is_a_bad_payload() {
    let emulator = MesiboEmulator::start().await;
    let token = &emulator.app_token;
    let form = format!("op=useradd&token={token}&addr=xyz%40example.com&appid=com.example.mesiboapp");
    let query = format!("{}?op=groupadd&token={token}&name=Test", emulator.url);
    let cases = [
        (emulator.url.clone(), "application/x-www-form-urlencoded", form),
        (query, "application/x-www-form-urlencoded", String::new()),
        (emulator.url.clone(), "application/json", json!([{"op": "useradd", "token": token}]).to_string()),
        (emulator.url.clone(), "application/json", "{\"op\": \"useradd\",".to_owned()),
        (emulator.url.clone(), "application/json", "\"useradd\"".to_owned()),
    ];
    for (url, content_type, body) in cases {
        let (status, answer) = http_post(&url, content_type, &body).await;
        assert_eq!(status, 200);
        assert_eq!((&answer["result"], &answer["error"]), (&json!(false), &json!("BADPAYLOAD")), "{body}: {answer}");
        assert_eq!(answer["cause"], "The input request is not a valid JSON object");
    }
    let body = json!({"op": "useradd", "token": token}).to_string();
    let (_, _, got) = http_raw("GET", &emulator.url, &[], body.as_bytes()).await;
    let answer: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(answer["error"], "BADPAYLOAD", "a call is a POST");
    assert!(emulator.user("xyz@example.com").is_none() && emulator.groups().is_empty());
}

#[tokio::test]
async fn unknown_operations_and_wrong_fields_get_mesibos_codes() {
    let emulator = MesiboEmulator::start().await;
    let token = emulator.app_token.clone();
    let answer = |body: Value| {
        let emulator = emulator.clone();
        async move {
            let answer = call(&emulator, &body).await;
            (answer["error"].as_str().unwrap_or("none").to_owned(), answer["properties"].clone())
        }
    };
    let useradd = |user: Value| json!({"op": "useradd", "token": token, "user": user});
    assert_eq!(answer(json!({"op": "deltoken", "token": token})).await, ("BADOP".into(), json!(["op"])));
    assert_eq!(answer(json!({"op": "useradd"})).await, ("AUTHFAIL".into(), json!(["token"])));
    assert_eq!(answer(json!({"op": "nosuchop", "token": "wrong"})).await.0, "AUTHFAIL", "the token first");
    let both = useradd(json!({"uid": 5, "address": "a@example.com", "token": {"appid": "com.example.app"}}));
    assert_eq!(answer(both).await, ("BADREQ".into(), json!(["uid", "address"])));
    let neither = useradd(json!({"token": {"appid": "com.example.app"}}));
    assert_eq!(answer(neither).await, ("MISSINGPARAMS".into(), json!(["uid", "address"])));
    let no_appid = useradd(json!({"address": "a@example.com", "token": {"expiry": 10}}));
    assert_eq!(answer(no_appid).await, ("MISSINGPARAMS".into(), json!(["appid"])));
    for appid in ["12345", "1.5", "example", "com..example"] {
        let bad = useradd(json!({"address": "a@example.com", "token": {"appid": appid}}));
        assert_eq!(answer(bad).await, ("BADVALUE".into(), json!(["appid"])), "{appid}");
    }
    let session = useradd(json!({"address": "a@example.com", "token": {"appid": "com.example.app", "session": "1"}}));
    assert_eq!(answer(session).await, ("BADVALUE".into(), json!(["session"])));
    let unknown_uid = useradd(json!({"uid": 42, "token": {"appid": "com.example.app"}}));
    assert_eq!(answer(unknown_uid).await, ("INVALIDVALUE".into(), json!(["uid"])));
    let no_gid = json!({"op": "groupset", "token": token, "group": {"name": "x"}});
    assert_eq!(answer(no_gid).await, ("MISSINGPARAMS".into(), json!(["gid"])));
    let text_gid = json!({"op": "groupdel", "token": token, "group": {"gid": "12"}});
    assert_eq!(answer(text_gid).await, ("BADVALUE".into(), json!(["gid"])));
    let unknown_gid =
        json!({"op": "message", "token": token, "message": {"from": "a", "gid": 7, "message": "m", "forced": 1}});
    assert_eq!(answer(unknown_gid).await, ("INVALIDVALUE".into(), json!(["gid"])));
    let nobody = json!({"op": "message", "token": token, "message": {"from": "a", "message": "m", "forced": true}});
    assert_eq!(answer(nobody).await, ("MISSINGPARAMS".into(), json!(["to", "gid"])));
    let delete =
        json!({"op": "groupeditmembers", "token": token, "group": {"gid": 1, "delete": "yes", "members": {"m": "a"}}});
    assert_eq!(answer(delete).await, ("BADVALUE".into(), json!(["delete"])));

    // A user without a token (`user.token` is optional), and the call's id handed back.
    let plain =
        call(&emulator, &json!({"op": "useradd", "token": token, "id": 77, "user": {"address": "b@example.com"}}))
            .await;
    assert_eq!((&plain["id"], plain["user"].get("token")), (&json!(77), None), "{plain}");
    assert!(emulator.user("b@example.com").is_some_and(|u| u.tokens.is_empty()));
}

#[tokio::test]
async fn each_session_holds_its_own_token_up_to_eight() {
    let emulator = MesiboEmulator::start().await;
    let first = add_user(&emulator, "a@example.com", Some(1)).await["user"]["token"].as_str().unwrap().to_owned();
    let second = add_user(&emulator, "a@example.com", Some(2)).await["user"]["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(emulator.token_works(&first) && emulator.token_works(&second));
    assert_eq!(emulator.user("a@example.com").unwrap().live_sessions(), [1, 2]);
    assert_eq!(add_user(&emulator, "a@example.com", Some(1)).await["user"]["token"], first, "the live one again");

    // Another app on a session: a new token in the session's place.
    let other = json!({"op": "useradd", "token": emulator.app_token,
        "user": {"address": "a@example.com", "token": {"appid": "com.example.other", "session": 2}}});
    let replaced = call(&emulator, &other).await["user"]["token"].as_str().unwrap().to_owned();
    assert!(replaced != second && !emulator.token_works(&second) && emulator.token_works(&replaced));

    let remove = json!({"op": "userset", "token": emulator.app_token,
        "user": {"address": "a@example.com", "token": {"remove": true, "session": 1}}});
    assert_eq!(call(&emulator, &remove).await["result"], true);
    assert!(!emulator.token_works(&first) && emulator.token_works(&replaced), "only that session's token ends");
    assert_eq!(emulator.user("a@example.com").unwrap().live_sessions(), [2]);

    // Eight devices at most: a ninth session's token ends the least recently issued one (session 2).
    for session in 3..=(MAX_SESSIONS as u64 + 2) {
        add_user(&emulator, "a@example.com", Some(session)).await;
    }
    let sessions = emulator.user("a@example.com").unwrap().live_sessions();
    assert_eq!(sessions, (3..=10).collect::<Vec<u64>>());
    assert!(!emulator.token_works(&replaced));
}

#[tokio::test]
async fn only_users_become_members_and_receive_messages() {
    let emulator = MesiboEmulator::start().await;
    let token = emulator.app_token.clone();
    add_user(&emulator, "a@example.com", None).await;
    add_user(&emulator, "b@example.com", None).await;
    let created = call(
        &emulator,
        &json!({"op": "groupadd", "token": token,
        "group": {"name": "g", "members": {"m": "a@example.com, nobody@example.com"}}}),
    )
    .await;
    let gid = created["group"]["gid"].as_u64().unwrap();
    assert_eq!(emulator.group(gid).unwrap().members, BTreeSet::from(["a@example.com".to_owned()]));
    let edited = call(
        &emulator,
        &json!({"op": "groupeditmembers", "token": token,
        "group": {"gid": gid, "delete": 0, "members": {"m": ["b@example.com", "ghost@example.com"]}}}),
    )
    .await;
    assert_eq!(edited["result"], true, "non-users are skipped, not refused");
    let members = emulator.group(gid).unwrap().members;
    assert_eq!(members, BTreeSet::from(["a@example.com".to_owned(), "b@example.com".to_owned()]));
    let removed = call(
        &emulator,
        &json!({"op": "groupeditmembers", "token": token,
        "group": {"gid": gid, "delete": 1, "members": {"m": "b@example.com,ghost@example.com"}}}),
    )
    .await;
    assert_eq!(removed["result"], true);
    assert_eq!(emulator.group(gid).unwrap().members, BTreeSet::from(["a@example.com".to_owned()]));

    let sent = call(
        &emulator,
        &json!({"op": "message", "token": token,
        "message": {"from": "a@example.com", "to": ["b@example.com", "ghost@example.com"], "type": 1, "flags": 4,
        "message": "{\"event\":\"x\"}"}}),
    )
    .await;
    assert_eq!(sent["result"], true);
    let message = emulator.messages().pop().unwrap();
    assert_eq!((message.to.len(), message.delivered.clone()), (2, vec!["b@example.com".to_owned()]));
    assert_eq!((message.message_type, message.flags, message.expiry), (1, 4, 31_536_000), "expiry: a year");
}

#[tokio::test]
async fn a_forced_message_makes_its_sender_an_unforced_one_is_refused() {
    let emulator = MesiboEmulator::start().await;
    let token = emulator.app_token.clone();
    add_user(&emulator, "b@example.com", None).await;
    let message = |forced: Value| {
        json!({"op": "message", "token": token,
        "message": {"from": "system", "to": "b@example.com", "forced": forced, "message": "hello"}})
    };
    let refused = call(&emulator, &message(json!(false))).await;
    assert_eq!((&refused["error"], &refused["properties"]), (&json!("INVALIDVALUE"), &json!(["from"])), "{refused}");
    assert!(emulator.user("system").is_none() && emulator.messages().is_empty());
    let sent = call(&emulator, &message(json!(true))).await;
    assert!(sent["mid"].is_u64(), "{sent}");
    assert!(emulator.user("system").is_some_and(|u| u.tokens.is_empty()));
    assert_eq!(emulator.messages()[0].delivered, ["b@example.com"]);
}

#[tokio::test]
async fn a_group_lives_a_year_unless_its_duration_says_otherwise() {
    let emulator = MesiboEmulator::start().await;
    let token = emulator.app_token.clone();
    let add = |group: Value| json!({"op": "groupadd", "token": token, "group": group});
    let plain = call(&emulator, &add(json!({"name": "plain"}))).await["group"]["gid"].as_u64().unwrap();
    let day = call(&emulator, &add(json!({"name": "day", "duration": 86400, "flags": 3}))).await["group"]["gid"]
        .as_u64()
        .unwrap();
    assert!(about(emulator.group(plain).unwrap().expires_at, now() + DEFAULT_GROUP_DURATION));
    let group = emulator.group(day).unwrap();
    assert!(about(group.expires_at, now() + 86400) && group.flags == 3);
    let renew = json!({"op": "groupset", "token": token, "group": {"gid": day, "duration": 3600}});
    assert_eq!(call(&emulator, &renew).await["result"], true);
    assert!(about(emulator.group(day).unwrap().expires_at, now() + 3600), "groupset's duration renews from now");
    let rename = json!({"op": "groupset", "token": token, "group": {"gid": day, "name": "renamed"}});
    call(&emulator, &rename).await;
    let group = emulator.group(day).unwrap();
    assert!(about(group.expires_at, now() + 3600) && group.flags == 3 && group.name == "renamed", "the rest kept");
}

#[tokio::test]
async fn faults_are_counted_as_calls() {
    let emulator = MesiboEmulator::start().await;
    emulator.fail(Fault::Refuse, Some("useradd"), Some(1));
    let refused = add_user(&emulator, "a@example.com", None).await;
    assert_eq!(
        (&refused["error"], &refused["op"], &refused["result"]),
        (&json!("FAIL"), &json!("useradd"), &json!(false))
    );
    assert!(emulator.user("a@example.com").is_none());
    assert!(add_user(&emulator, "a@example.com", None).await["user"]["token"].is_string());
    http_post(&emulator.url, "text/plain", "hello").await;
    assert_eq!(emulator.calls(), ["useradd", "useradd", ""]);

    // The control paths, under the endpoint as `make dev` prints them.
    let (status, _) =
        http_post(&format!("{}_emulator/fault", emulator.url), "application/json", r#"{"fault":"refuse"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(add_user(&emulator, "b@example.com", None).await["error"], "FAIL");
    let (status, _, state) = http_raw("GET", &format!("{}_emulator/state", emulator.url), &[], b"").await;
    let state: Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(status, 200);
    assert!(
        state["users"]["a@example.com"]["uid"].is_u64() && state["calls"].as_array().unwrap().len() == 4,
        "{state}"
    );
}
