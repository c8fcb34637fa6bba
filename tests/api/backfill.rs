//! The address-book backfill (issue 27): a table written by the version before keyed names is read as ever while
//! the backfill runs, run by run, each resuming where the last stopped; afterwards no entry names a number, users'
//! entries carry their numbers and no expiry, non-users' expire, and a second pass changes nothing. After a change of
//! the deployment secret, a new pass renames the users' entries, so the graph of users survives it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};
use shared::Clock;
use shared::usecase::backfill::{Backfill, BackfillReport, backfill};

const DAY: i64 = 86_400;

fn post(path: &str, token: &str, body: Value) -> HttpCall {
    HttpCall::post(path).json(&body).bearer(token)
}

/// An entry exactly as the version before keyed names wrote it (`CONTACT#<E.164>`, `HASCONTACT#<E.164>`).
async fn old_entry(t: &TestApp, owner: &str, number: &str, added_at: i64) {
    let s = |v: String| AttributeValue::S(v);
    t.dynamodb
        .put_item()
        .table_name(t.app.store.table())
        .item("PK", s(format!("USER#{owner}")))
        .item("SK", s(format!("CONTACT#{number}")))
        .item("GSI1PK", s(format!("HASCONTACT#{number}")))
        .item("GSI1SK", s(format!("USER#{owner}")))
        .item("added_at", AttributeValue::N(added_at.to_string()))
        .send()
        .await
        .expect("written");
}

async fn run(app: &shared::App, restart: bool, page_items: usize) -> BackfillReport {
    // A deadline already passed: one page per run, as a run that reaches its deadline after each page.
    let command = Backfill { until: Instant::now(), restart, page_items };
    backfill(app, command).await.expect("a run")
}

/// The users a delta from the start lists.
async fn listed(t: &TestApp, token: &str) -> BTreeSet<String> {
    let reply = t.call(post("/getcontacts", token, json!({ "ts": 0 }))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    let users = reply.json["contacts"].as_array().unwrap().iter().filter(|c| c["gid"] == 0);
    users.filter_map(|c| Some(c["phone"].as_str()?.to_owned())).collect()
}

async fn entry(t: &TestApp, owner: &str, number: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let (pk, sk) = (format!("USER#{owner}"), t.entry_sk(number));
    t.scan().await.into_iter().find(|i| i["PK"].as_s().unwrap() == &pk && i["SK"].as_s().unwrap() == &sk)
}

#[tokio::test]
async fn a_table_of_the_old_shapes_is_read_as_ever_then_rewritten_resumably_and_once() {
    let t = spawn_app().await;
    let (alice, bob, dave, erin) = (random_phone(), random_phone(), random_phone(), random_phone());
    let strangers: Vec<shared::PhoneNumber> = (0..3).map(|_| random_phone()).collect();
    let alice_token = t.sign_in(alice.e164()).await;
    let bob_token = t.sign_in(bob.e164()).await;
    let then = t.clock.now() - 30 * DAY;
    for number in [bob.e164(), dave.e164(), erin.e164(), strangers[0].e164(), strangers[1].e164()] {
        old_entry(&t, alice.e164(), number, then).await;
    }
    old_entry(&t, bob.e164(), alice.e164(), then).await;
    old_entry(&t, bob.e164(), strangers[2].e164(), then).await;

    // Before the backfill, everything reads the old shape: the delta, group consent, a join.
    assert_eq!(listed(&t, &alice_token).await, BTreeSet::from([bob.digits().to_owned()]));
    let group = t.call(post("/setgroup", &alice_token, json!({ "name": "G", "m": [bob.e164()] }))).await;
    assert_eq!(group.status, 200, "an old entry is consent: {:?}", group.json);
    t.sign_in(dave.e164()).await;
    t.tell_joined(dave.e164()).await;
    assert!(listed(&t, &alice_token).await.contains(dave.digits()), "dave's join is found by his old entry");
    // A sync naming an old entry replaces it (and charges nothing: it was paid for).
    let resync = t.call(post("/getcontacts", &bob_token, json!({ "phones": [strangers[2].e164()] }))).await;
    assert_eq!(resync.status, 200);
    let bobs = entry(&t, bob.e164(), strangers[2].e164()).await.expect("the keyed entry");
    assert!(!bobs.contains_key("phone") && bobs.contains_key("ttl"), "{bobs:?}");
    let old_left = |items: &[std::collections::HashMap<String, AttributeValue>]| {
        items.iter().filter(|i| i["SK"].as_s().unwrap().starts_with("CONTACT#+")).count()
    };
    assert_eq!(old_left(&t.scan().await), 6, "the replaced one is gone");

    // The backfill, one page of two items per run: each run resumes after the last.
    let mut runs = vec![run(&t.app, false, 2).await];
    while !runs.last().unwrap().done {
        assert!(runs.len() < 100, "the backfill ends");
        runs.push(run(&t.app, false, 2).await);
    }
    assert!(runs.len() > 3, "resumed {} times", runs.len());
    let done = &runs.last().unwrap().progress;
    assert_eq!(done.rewritten, 6, "{done:?}");
    assert!(done.finished_at.is_some() && done.cursor.is_none());

    let items = t.scan().await;
    assert_eq!(old_left(&items), 0);
    assert!(items.iter().all(|i| !i.get("GSI1PK").is_some_and(|k| k.as_s().unwrap().starts_with("HASCONTACT#+"))));
    let text = format!("{items:?}");
    for stranger in &strangers {
        assert!(!text.contains(stranger.e164()), "{} is kept in clear", stranger.e164());
    }
    let now = t.clock.now();
    for user in [&bob, &dave] {
        let kept = entry(&t, alice.e164(), user.e164()).await.expect("a user's entry");
        assert_eq!(kept["phone"].as_s().unwrap(), user.e164());
        assert!(!kept.contains_key("ttl"), "a user's entry never expires");
        assert_eq!(kept["added_at"].as_n().unwrap(), &then.to_string(), "when it was added is kept");
    }
    let stranger = entry(&t, alice.e164(), strangers[0].e164()).await.expect("a non-user's entry");
    assert!(!stranger.contains_key("phone"));
    let ttl: i64 = stranger["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, now + 365 * DAY, "retention starts at the backfill");

    // After it: the delta, consent, and a join found by the keyed name.
    assert_eq!(listed(&t, &alice_token).await, BTreeSet::from([bob.digits().to_owned(), dave.digits().to_owned()]));
    let gid = group.json["gid"].as_u64().unwrap();
    t.sign_in(erin.e164()).await;
    t.tell_joined(erin.e164()).await;
    let added = t.call(post("/editmembers", &alice_token, json!({ "gid": gid, "m": erin.e164() }))).await;
    assert_eq!(added.status, 200, "{:?}", added.json);
    assert!(listed(&t, &alice_token).await.contains(erin.digits()), "erin's join is found by her keyed entry");

    // Done is done; a new pass finds nothing to rewrite.
    let entries = |items: Vec<std::collections::HashMap<String, AttributeValue>>| {
        let mut entries: Vec<String> = items
            .into_iter()
            .filter(|i| i["SK"].as_s().unwrap().starts_with("CONTACT#"))
            .map(|i| format!("{:?}", i.into_iter().collect::<std::collections::BTreeMap<_, _>>()))
            .collect();
        entries.sort();
        entries
    };
    let before = entries(t.scan().await);
    assert_eq!(run(&t.app, false, 1000).await.progress, *done, "a run after the end changes nothing");
    let again =
        backfill(&t.app, Backfill { until: Instant::now() + Duration::from_secs(60), restart: true, page_items: 1000 });
    let again = again.await.unwrap();
    assert!(again.done);
    assert_eq!(again.progress.rewritten, 0, "{again:?}");
    assert_eq!(entries(t.scan().await), before);
}

/// What a change of the deployment secret costs (docs/PRIVACY.md, "The hashing key"): users' entries are renamed
/// by a new pass, so users find each other as before; non-users' entries named under the old secret are found again
/// once their owner syncs them, and until then expire.
#[tokio::test]
async fn after_a_change_of_the_secret_a_new_pass_keeps_the_users_graph() {
    let t = spawn_app().await;
    let (alice, bob, stranger) = (random_phone(), random_phone(), random_phone());
    let alice_token = t.sign_in(alice.e164()).await;
    t.sign_in(bob.e164()).await;
    let synced = t.call(post("/getcontacts", &alice_token, json!({ "phones": [bob.e164(), stranger.e164()] }))).await;
    assert_eq!(synced.status, 200);

    let mut config = t.app.config.clone();
    config.otp_secret = shared::model::secrets::OtpSecret::new(random_hex(32).into_bytes()).unwrap();
    let sns = aws_sdk_sns::Client::new(&shared::app::sdk_config().await);
    let app = shared::App::from_clients(config, t.dynamodb.clone(), sns, t.clock.clone());
    let metrics = MetricLines::default();
    let renewed =
        TestApp { app, clock: t.clock.clone(), dynamodb: t.dynamodb.clone(), mesibo: None, metrics, deployed: None };
    let pass =
        backfill(&renewed.app, Backfill { until: Instant::now(), restart: true, page_items: 1000 }).await.unwrap();
    assert!(pass.done);
    assert_eq!(pass.progress.rewritten, 1, "bob's entry, renamed: {pass:?}");
    let bobs = entry(&renewed, alice.e164(), bob.e164()).await.expect("under the new secret's name");
    assert_eq!(bobs["phone"].as_s().unwrap(), bob.e164());
    assert!(entry(&t, alice.e164(), bob.e164()).await.is_none(), "and not under the old one");
    assert_eq!(listed(&renewed, &alice_token).await, BTreeSet::from([bob.digits().to_owned()]));

    // The stranger's entry is under the old secret's name: her join finds it once alice syncs her again.
    assert!(entry(&t, alice.e164(), stranger.e164()).await.is_some_and(|e| e.contains_key("ttl")), "it expires");
    let again = renewed.call(post("/getcontacts", &alice_token, json!({ "phones": [stranger.e164()] }))).await;
    assert_eq!(again.status, 200);
    renewed.sign_in(stranger.e164()).await;
    renewed.tell_joined(stranger.e164()).await;
    assert!(listed(&renewed, &alice_token).await.contains(stranger.digits()));
}
