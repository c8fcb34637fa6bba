//! `make mesibo-check`: the calls this backend makes to mesibo, made once against a real mesibo account (or an
//! on-premise server) by the product's own client, so an operator sees before going live that mesibo takes every
//! one as sent: two devices of one person signing in, a group of two, a notice, one device's logout then every
//! device's, and the deletions. Numbers are made up (+999, a code the ITU never assigns), every answer is printed as
//! mesibo gave it (tokens cut short), and whatever the check made is removed again, even after a failed step.
//! `make test` runs the same steps against the emulator (tests/api/mesibo.rs).

use std::sync::{Arc, Mutex};

use serde_json::Value;
use shared::adapters::emf::EmfMetrics;
use shared::adapters::mesibo::MesiboClient;
use shared::config::{MesiboAppToken, MesiboConfig, MesiboNotices};
use shared::model::sessions::MAX_SESSIONS;
use shared::usecase::ports::{Mesibo, MesiboFailed, MesiboMessage, NewMesiboUser};

/// The app id the check's tokens are issued for (mesibo wants a dotted, non-numeric one).
pub const CHECK_APP_ID: &str = "com.example.mesibocheck";

/// What the check made, for the caller to compare with mesibo's state where it can see it (the emulator's).
#[derive(Debug, Clone, Default)]
pub struct CheckRun {
    /// The person with two devices, and the other member of the group.
    pub addresses: [String; 2],
    /// The two devices' tokens (sessions 1 and 2) of the first person.
    pub tokens: Vec<String>,
    pub gid: Option<u64>,
    /// `step: outcome` lines, as printed.
    pub lines: Vec<String>,
}

/// A step that did not go as it must; the run's lines say what mesibo answered.
#[derive(Debug, thiserror::Error)]
#[error("step {step} failed: {failure}")]
pub struct CheckFailed {
    pub step: &'static str,
    pub failure: String,
    pub run: Box<CheckRun>,
}

/// The client the functions use, against `api_url` with `app_token`, printing every answer through `print`.
pub fn client(api_url: &str, app_token: &str, print: impl Fn(String) + Send + Sync + 'static) -> MesiboClient {
    let config = MesiboConfig {
        api_url: api_url.to_owned(),
        app_token: MesiboAppToken::new(app_token.to_owned()),
        app_token_secret: None,
        timeout_ms: 5000,
        notices: MesiboNotices::Legacy,
    };
    let metrics = EmfMetrics::with_output("mesibo-check".into(), |_| {});
    let client = MesiboClient::from_config(&config, metrics).expect("mesibo's client could be set up");
    let client = client.expect("an app token was given");
    client.observing_answers(Box::new(move |op, body| print(format!("  mesibo answered {op}: {}", shown(body)))))
}

/// Runs every step; cleans up whatever was made, whichever step failed.
pub async fn run(mesibo: &MesiboClient, print: &(impl Fn(String) + Sync)) -> Result<CheckRun, CheckFailed> {
    let addresses = [made_up_number(), made_up_number()];
    let lines = Arc::new(Mutex::new(vec![]));
    let say = |line: String| {
        print(line.clone());
        lines.lock().expect("not poisoned").push(line);
    };
    let mut run = CheckRun { addresses: addresses.clone(), ..CheckRun::default() };
    let outcome = steps(mesibo, &addresses, &mut run, &say).await;
    say("clean-up: the group and both users go".into());
    if let Some(gid) = run.gid {
        let _ = mesibo.delete_group(gid).await;
    }
    for address in &addresses {
        let _ = mesibo.delete_user(address).await;
    }
    run.lines = lines.lock().expect("not poisoned").clone();
    match outcome {
        Ok(()) => Ok(run),
        Err((step, failure)) => Err(CheckFailed { step, failure, run: Box::new(run) }),
    }
}

type StepFailed = (&'static str, String);

async fn steps(
    mesibo: &MesiboClient,
    [first, second]: &[String; 2],
    run: &mut CheckRun,
    say: &impl Fn(String),
) -> Result<(), StepFailed> {
    let failed = |step: &'static str| move |failure: MesiboFailed| (step, failure.to_string());
    let user = |address, session| NewMesiboUser {
        address,
        name: "mesibo check",
        app_id: CHECK_APP_ID,
        expiry_minutes: 60,
        session,
    };

    say(format!("1. two devices of {} sign in (useradd, sessions 1 and 2)", masked(first)));
    let phone = mesibo.add_user(user(first, 1)).await.map_err(failed("1"))?;
    let laptop = mesibo.add_user(user(first, 2)).await.map_err(failed("1"))?;
    if phone.token == laptop.token {
        return Err(("1", "both devices got the same token: mesibo did not keep a session for each".into()));
    }
    run.tokens = vec![phone.token.as_str().to_owned(), laptop.token.as_str().to_owned()];
    say(format!("   {} signs in (useradd, session 1)", masked(second)));
    mesibo.add_user(user(second, 1)).await.map_err(failed("1"))?;

    say("2. a group of the two (groupadd, groupeditmembers)".into());
    let gid = mesibo.add_group("mesibo check").await.map_err(failed("2"))?;
    run.gid = Some(gid);
    mesibo.edit_members(gid, &[first.clone(), second.clone()], false).await.map_err(failed("2"))?;
    mesibo.set_group(gid, "mesibo check, renamed").await.map_err(failed("2"))?;

    say("3. a notice from the first to the second (message)".into());
    let body = r#"{"subject":"mesibo check","msg":"a notice","type":0,"action":0}"#;
    let to = [second.clone()];
    mesibo.send_message(&MesiboMessage { from: first, to: &to, body }).await.map_err(failed("3"))?;

    say("4. one device logs out (userset, token.remove, session 1)".into());
    mesibo.end_session(first, Some(1)).await.map_err(failed("4"))?;

    say(format!(
        "5. every device logs out (userset, token.remove: without a session and sessions 1 to {MAX_SESSIONS})"
    ));
    mesibo.end_session(first, None).await.map_err(failed("5"))?;
    for session in 1..=MAX_SESSIONS {
        mesibo.end_session(first, Some(session)).await.map_err(failed("5"))?;
    }

    say("6. deletion (groupdel, userdel)".into());
    mesibo.delete_group(gid).await.map_err(failed("6"))?;
    run.gid = None;
    mesibo.delete_user(first).await.map_err(failed("6"))?;
    mesibo.delete_user(second).await.map_err(failed("6"))?;
    say("every step went through".into());
    Ok(())
}

/// +999 and nine random digits: a country code the ITU keeps unassigned, so no real person is ever touched.
fn made_up_number() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source");
    format!("999{:09}", u64::from_le_bytes(bytes) % 1_000_000_000)
}

fn masked(address: &str) -> String {
    format!("{}…", &address[..address.len().min(5)])
}

/// The answer as mesibo gave it, each `token` cut to its first four characters.
fn shown(body: &[u8]) -> String {
    fn cut(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    match field {
                        Value::String(token) if name == "token" => {
                            *token = format!("{}…", token.chars().take(4).collect::<String>())
                        }
                        other => cut(other),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(cut),
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut answer) => {
            cut(&mut answer);
            answer.to_string()
        }
        Err(_) => format!("(not JSON, {} bytes)", body.len()),
    }
}
