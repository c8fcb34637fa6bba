//! People who never signed up leave no readable trace (issue 27): after a realistic session — three users with
//! address books full of non-users (in every form the apps send), groups, photos, a contact joining, a deletion,
//! an export — no number of someone who never signed up is in the table, the files bucket, the table's stream as
//! its readers get it (what a failed batch leaves in the failures bucket), the metrics, mesibo's state, or the
//! logs, in any form: E.164, digits, or the national number (which both others contain).
//!
//! And what that must not cost: a contact who joins is still found, by the notifier and by her contacts' deltas.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::stream::StreamPoller;
use serde_json::{Value, json};
use shared::adapters::sns::SnsEvents;
use shared::edge::stream::handle;
use std::collections::HashMap;

fn post(path: &str, token: &str, body: Value) -> HttpCall {
    HttpCall::post(path).json(&body).bearer(token)
}

/// A small JPEG, as a camera app would send it.
fn jpeg() -> Vec<u8> {
    use image::codecs::jpeg::JpegEncoder;
    let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 90]));
    let mut out = vec![];
    JpegEncoder::new_with_quality(&mut out, 85).encode_image(&picture).unwrap();
    out
}

/// The national number of a US number from the tests (E.164 and digits both contain it).
fn national(phone: &shared::PhoneNumber) -> String {
    phone.e164().trim_start_matches("+1").to_owned()
}

/// `(201) 555-0123`: how an address book shows it.
fn formatted(phone: &shared::PhoneNumber) -> String {
    let n = national(phone);
    format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..])
}

/// Runs what the table's stream holds so far through the notifier (as its event source does), keeping each batch.
async fn deliver_stream(t: &TestApp, poller: &mut StreamPoller, seen: &mut Vec<String>) {
    let sink = SnsEvents::new(t.app.sns_client(), scratch_topic().await);
    let queue = t.fanout_queue().await;
    let event = poller.poll().await.expect("the stream");
    seen.push(format!("{event:?}"));
    let failures = format!("{:?}", handle(&t.app, &sink, &queue, event).await);
    assert!(!failures.contains("item_identifier"), "the notifier failed a record: {failures}");
}

fn item_text(item: &HashMap<String, AttributeValue>) -> String {
    format!("{item:?}")
}

#[tokio::test]
async fn after_a_realistic_session_no_number_of_a_non_user_is_kept_anywhere_in_any_form() {
    let t = spawn_mesibo_app_with(&[("UPLOAD_URL", ""), ("FILE_URL", ""), ("DOWNLOAD_URL", "")]).await;
    let sdk = shared::app::sdk_config().await;
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut poller = StreamPoller::new(&t.dynamodb, streams, t.app.store.table()).await.unwrap();
    let mut stream_batches = vec![];

    let (alice, bob, carol, dave) = (random_phone(), random_phone(), random_phone(), random_phone());
    let strangers: Vec<shared::PhoneNumber> = (0..4).map(|_| random_phone()).collect();
    for stranger in &strangers {
        // The suite's log check (make test) looks for these in every captured line, in each form.
        for form in [stranger.e164().to_owned(), stranger.digits().to_owned(), national(stranger)] {
            secret(&form);
        }
    }
    let alice_token = t.sign_in(alice.e164()).await;
    let bob_token = t.sign_in(bob.e164()).await;
    let carol_token = t.sign_in(carol.e164()).await;

    // Address books with people who never signed up, in the forms the apps send: E.164, digits, formatted.
    let alice_book = json!([
        bob.e164(),
        carol.digits(),
        strangers[0].e164(),
        formatted(&strangers[1]),
        strangers[2].digits(),
        dave.e164()
    ]);
    let synced = t.call(post("/getcontacts", &alice_token, json!({ "phones": alice_book }))).await;
    assert_eq!(synced.status, 200, "{:?}", synced.json);
    let found: Vec<&str> =
        synced.json["contacts"].as_array().unwrap().iter().map(|c| c["phone"].as_str().unwrap()).collect();
    assert_eq!(found.len(), 2, "bob and carol: {found:?}");
    let bob_book = [alice.digits(), strangers[0].digits(), strangers[3].e164(), dave.digits()].join(",");
    let form = [("op", "getcontacts"), ("token", bob_token.as_str()), ("phones", bob_book.as_str())];
    assert_eq!(t.call(HttpCall::post("/api.php").form(&form)).await.status, 200);
    let carol_book = json!({ "phones": [alice.e164(), formatted(&strangers[1])] });
    assert_eq!(t.call(post("/getcontacts", &carol_token, carol_book)).await.status, 200);

    // A photo, a group of users; a stranger cannot be added to it.
    let fields = [("op", "upload"), ("token", alice_token.as_str()), ("profile", "1"), ("gid", "0")];
    let photo =
        t.call(HttpCall::post("/api.php").multipart(&fields, &[("photo", "me.jpg", "image/jpeg", &jpeg())])).await;
    assert_eq!(photo.status, 200, "{:?}", photo.json);
    let group = t.call(post("/setgroup", &alice_token, json!({ "name": "Climbing", "m": [bob.e164()] }))).await;
    assert_eq!(group.status, 200, "{:?}", group.json);
    let gid = group.json["gid"].as_u64().unwrap();
    let stranger_added = t.call(post("/editmembers", &alice_token, json!({ "gid": gid, "m": strangers[0].e164() })));
    assert_eq!(stranger_added.await.error(), "NOTCONTACT", "only users join groups");
    deliver_stream(&t, &mut poller, &mut stream_batches).await;

    // Dave, in two books, joins: both are told, and both deltas list him.
    let cursor = t.call(post("/getcontacts", &alice_token, json!({ "ts": 0 }))).await.json["ts"].as_i64().unwrap();
    t.clock.advance(600);
    let dave_token = t.sign_in(dave.e164()).await;
    deliver_stream(&t, &mut poller, &mut stream_batches).await;
    t.clock.advance(600);
    for (token, who) in [(&alice_token, "alice"), (&bob_token, "bob")] {
        let delta = t.call(post("/getcontacts", token, json!({ "ts": cursor }))).await;
        let phones: Vec<&str> =
            delta.json["contacts"].as_array().unwrap().iter().filter_map(|c| c["phone"].as_str()).collect();
        assert!(phones.contains(&dave.digits()), "{who}'s delta tells of dave: {:?}", delta.json);
    }
    assert_eq!(t.call(post("/profile", &dave_token, json!({ "name": "Dave" }))).await.status, 200);

    // Carol leaves; bob drops a stranger; alice looks at what is kept about her.
    t.login(carol.e164()).await;
    let code = last_sms_code(carol.e164()).await.unwrap();
    let deleted = t.call(post("/deleteaccount", &carol_token, json!({ "code": code }))).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.json);
    let dropped = t.call(post("/delcontacts", &bob_token, json!({ "phones": [strangers[3].e164()] }))).await;
    assert_eq!(dropped.status, 200);
    let export = t.call(post("/export", &alice_token, json!({}))).await;
    assert_eq!(export.status, 200, "{:?}", export.json);
    deliver_stream(&t, &mut poller, &mut stream_batches).await;

    // Everywhere the deployment keeps or sends data.
    let mut kept: Vec<(String, String)> = vec![];
    for item in t.scan().await {
        kept.push(("table".into(), item_text(&item)));
    }
    let s3 = shared::app::s3_client(&sdk);
    let bucket = &t.app.config.files.as_ref().expect("a files bucket").bucket;
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    for object in listed.contents() {
        let key = object.key().unwrap();
        let body = s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap();
        kept.push((format!("s3 {key}"), format!("{key} {}", String::from_utf8_lossy(&body.into_bytes()))));
    }
    assert!(!listed.contents().is_empty(), "the photo is in the bucket");
    for batch in stream_batches {
        kept.push(("stream".into(), batch));
    }
    for line in t.metrics.documents() {
        kept.push(("metrics".into(), line.to_string()));
    }
    let mesibo = t.mesibo();
    kept.push(("mesibo".into(), format!("{:?} {:?} {:?}", mesibo.groups(), mesibo.messages(), mesibo.calls())));
    kept.push(("replies".into(), export.json.to_string()));
    if let Ok(dir) = std::env::var("LOG_CAPTURE_DIR") {
        let logs = std::fs::read_to_string(format!("{dir}/logs.jsonl")).unwrap_or_default();
        kept.push(("logs".into(), logs));
    }

    let mut found = vec![];
    for stranger in &strangers {
        for (place, text) in &kept {
            if text.contains(&national(stranger)) || text.contains(&formatted(stranger)) {
                found.push(format!("{} in {place}: {}", stranger.e164(), &text[..text.len().min(300)]));
            }
        }
    }
    assert!(found.is_empty(), "numbers of people who never signed up are kept:\n{}", found.join("\n"));
    // The scan can see them: the users' numbers are there (a scan that finds nothing proves nothing).
    let table: String = kept.iter().filter(|(place, _)| place == "table").map(|(_, text)| text.as_str()).collect();
    for user in [&alice, &bob, &dave] {
        assert!(table.contains(&national(user)), "{} is a user", user.e164());
    }
}

/// Someone who deletes her account and signs up again within 30 days is told of as a profile change, not a join,
/// yet her entries in others' books become a user's again: a sync in between had taken her number out of them.
#[tokio::test]
async fn a_rejoin_marks_the_entries_a_deletion_left_without_a_number() {
    use shared::usecase::ports::ProfileStore;
    let t = spawn_app().await;
    let (alice, bob) = (random_phone(), random_phone());
    let alice_token = t.sign_in(alice.e164()).await;
    let bob_token = t.sign_in(bob.e164()).await;
    let sync = || t.call(post("/getcontacts", &alice_token, json!({ "phones": [bob.e164()] })));
    assert_eq!(sync().await.status, 200);
    let entry = || async {
        let items = t.scan().await;
        items.into_iter().find(|i| i["SK"].as_s().unwrap() == &t.entry_sk(bob.e164())).expect("alice's entry of bob")
    };
    assert!(entry().await.contains_key("phone"), "bob is a user");

    t.clock.advance(60);
    t.login(bob.e164()).await;
    let code = last_sms_code(bob.e164()).await.unwrap();
    assert_eq!(t.call(post("/deleteaccount", &bob_token, json!({ "code": code }))).await.status, 200);
    t.clock.advance(3600);
    assert_eq!(sync().await.status, 200);
    assert!(!entry().await.contains_key("phone"), "alice's sync took the number of a non-user out");

    let tombstone = t.app.store.profile_now(bob.e164()).await.unwrap().expect("a tombstone");
    t.clock.advance(3600);
    t.sign_in(bob.e164()).await;
    let new = t.app.store.profile_now(bob.e164()).await.unwrap().expect("bob again");
    let sink = SnsEvents::new(t.app.sns_client(), scratch_topic().await);
    let change = shared::model::events::TableChange::Profile { inserted: false, old: Some(tombstone), new };
    shared::usecase::notify::notify(&t.app, &sink, &t.fanout_queue().await, &change).await.expect("told");
    assert_eq!(entry().await["phone"].as_s().unwrap(), bob.e164(), "marked again");
    let delta = t.call(post("/getcontacts", &alice_token, json!({ "ts": 0 }))).await;
    let phones: Vec<&str> =
        delta.json["contacts"].as_array().unwrap().iter().filter_map(|c| c["phone"].as_str()).collect();
    assert!(phones.contains(&bob.digits()), "{:?}", delta.json);
}
