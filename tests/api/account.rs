//! The account function: profile changes (seen in deltas and as events), logout, logout everywhere, delcontacts.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::stream::StreamPoller;
use serde_json::{Value, json};
use shared::Clock;
use shared::adapters::sns::SnsEvents;
use shared::edge::stream::handle;

async fn post(t: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    let call = HttpCall::post(path).json(&body).bearer(token);
    t.call(call).await
}

#[tokio::test]
async fn a_profile_change_shows_in_a_contacts_next_delta_and_as_an_event() {
    let subscriber_topic = {
        let sdk = shared::app::sdk_config().await;
        aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name(format!("profile-{}", random_hex(6)))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap()
    };
    let t = spawn_app_with(&[("CONTACT_EVENTS_TOPIC_ARN", &subscriber_topic)]).await;
    let sdk = shared::app::sdk_config().await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let (ada, bob) = (random_phone(), random_phone());
    let ada_token = t.sign_in(ada.e164()).await;
    t.clock.advance(30);
    let bob_token = t.sign_in(bob.e164()).await;
    assert_eq!(post(&t, "/getcontacts", &bob_token, json!({ "phones": [ada.e164()] })).await.status, 200);
    t.clock.advance(120);
    let cursor = post(&t, "/getcontacts", &bob_token, json!({ "ts": 0 })).await.json["ts"].as_i64().unwrap();
    poller.poll().await.unwrap(); // the two sign-ups: not what this test is about

    t.clock.advance(600);
    let reply =
        post(&t, "/profile", &ada_token, json!({ "status": "climbing", "photo": "https://cdn.example.com/ada.jpg" }))
            .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(reply.json["u"]["status"], "climbing");
    assert_eq!(reply.json["u"]["ts"], t.clock.now().to_string());

    let delta = post(&t, "/getcontacts", &bob_token, json!({ "ts": cursor })).await;
    let contacts = delta.json["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!((contacts[0]["phone"].as_str(), contacts[0]["status"].as_str()), (Some(ada.digits()), Some("climbing")));

    // The stream carries the change to the notifier; capture what it publishes with a real SNS sink on a topic
    // subscribed by nobody, and count the events through the sink's result.
    let event = poller.poll().await.unwrap();
    assert_eq!(event.records.len(), 1, "one MODIFY of Ada's profile");
    let sink = RecordingSink::new(SnsEvents::new(t.app.sns_client(), subscriber_topic.clone()));
    assert!(handle(&t.app, &sink, &t.fanout_queue().await, event).await.batch_item_failures.is_empty());
    let published = sink.events();
    assert_eq!(published.len(), 1);
    let e = &published[0];
    assert_eq!((e.kind, e.to.as_str(), e.phone.as_deref()), ("profile_updated", bob.digits(), Some(ada.digits())));
    assert_eq!((e.status.as_deref(), e.photo.as_deref()), (Some("climbing"), Some("https://cdn.example.com/ada.jpg")));

    // A write that changes nothing visible is no news.
    t.clock.advance(5);
    post(&t, "/profile", &ada_token, json!({ "status": "climbing" })).await;
    let event = poller.poll().await.unwrap();
    let quiet = RecordingSink::new(SnsEvents::new(t.app.sns_client(), subscriber_topic));
    handle(&t.app, &quiet, &t.fanout_queue().await, event).await;
    assert!(quiet.events().is_empty());
}

#[tokio::test]
async fn profile_input_is_validated() {
    let t = spawn_app().await;
    let token = t.sign_in(random_phone().e164()).await;
    for (body, error) in [
        (json!({}), "MISSINGPARA"),
        (json!({ "name": "n".repeat(65) }), "BADREQUEST"),
        (json!({ "status": "s".repeat(141) }), "BADREQUEST"),
        (json!({ "photo": "javascript:alert(1)" }), "BADREQUEST"),
        (json!({ "name": "a\u{7}b" }), "BADREQUEST"),
    ] {
        let reply = post(&t, "/profile", &token, body.clone()).await;
        assert_eq!((reply.status, reply.error()), (400, error), "{body}");
    }
    let cleared = post(&t, "/profile", &token, json!({ "photo": "" })).await;
    assert_eq!((cleared.status, cleared.json["u"]["photo"].as_str()), (200, Some("")));
    assert_eq!(post(&t, "/profile", "nope", json!({ "name": "x" })).await.error(), "AUTHFAIL");
}

#[tokio::test]
async fn logout_revokes_this_token_and_all_revokes_every_device() {
    let t = spawn_app().await;
    let me = random_phone();
    let phone_token = t.sign_in(me.e164()).await;
    t.clock.advance(30);
    let laptop_token = t.sign_in(me.e164()).await;
    t.clock.advance(60);
    let tablet_token = t.sign_in(me.e164()).await;

    let out = post(&t, "/logout", &phone_token, json!({})).await;
    assert_eq!((out.status, out.json["revoked"].as_i64()), (200, Some(1)));
    assert_eq!(post(&t, "/getcontacts", &phone_token, json!({})).await.error(), "AUTHFAIL", "revoked");
    assert_eq!(post(&t, "/getcontacts", &laptop_token, json!({})).await.status, 200, "other devices stay signed in");

    let all = post(&t, "/logout", &laptop_token, json!({ "all": 1 })).await;
    assert_eq!((all.status, all.json["revoked"].as_i64()), (200, Some(2)));
    for token in [&laptop_token, &tablet_token] {
        assert_eq!(post(&t, "/getcontacts", token, json!({})).await.error(), "AUTHFAIL");
    }
    assert!(t.items_with_sk_prefix("TOKEN").await.is_empty());
    assert_eq!(post(&t, "/logout", &laptop_token, json!({})).await.error(), "AUTHFAIL");
}

#[tokio::test]
async fn delcontacts_removes_numbers_from_the_address_book() {
    let t = spawn_app().await;
    let token = t.sign_in(random_phone().e164()).await;
    let (a, b, c) = (random_phone(), random_phone(), random_phone());
    post(&t, "/getcontacts", &token, json!({ "phones": [a.e164(), b.e164(), c.e164()] })).await;
    let reply = post(&t, "/delcontacts", &token, json!({ "phones": [a.e164(), b.digits(), "junk"] })).await;
    assert_eq!((reply.status, reply.json["removed"].as_i64(), reply.json["invalid"].as_i64()), (200, Some(2), Some(1)));
    let left: Vec<String> =
        t.items_with_sk_prefix("CONTACT#").await.iter().map(|i| i["SK"].as_s().unwrap().clone()).collect();
    assert_eq!(left, vec![t.entry_sk(c.e164())]);
    assert_eq!(post(&t, "/delcontacts", &token, json!({})).await.error(), "MISSINGPARA");
}

#[tokio::test]
async fn deleting_an_account_leaves_only_tombstones_and_hands_groups_over() {
    let t = spawn_app().await;
    let (me, heir, friend) = (random_phone(), random_phone(), random_phone());
    let token = t.sign_in(me.e164()).await;
    t.clock.advance(30);
    let laptop = t.sign_in(me.e164()).await;
    let heir_token = t.sign_in(heir.e164()).await;
    let friend_token = t.sign_in(friend.e164()).await;
    post(&t, "/getcontacts", &token, json!({ "phones": [heir.e164(), friend.e164(), random_phone().e164()] })).await;
    post(&t, "/getcontacts", &friend_token, json!({ "phones": [me.e164()] })).await;
    post(&t, "/profile", &token, json!({ "name": "Me", "status": "about to leave" })).await;
    // A device kept without a push application: its token's owner record names the number too.
    let device = post(&t, "/setnotify", &token, json!({ "notifytoken": "apns-token-of-me", "platform": "apns" })).await;
    assert_eq!(device.json["push"], "stored");
    let group = |name: &str, members: Value| {
        HttpCall::post("/setgroup").json(&json!({ "name": name, "m": members })).bearer(&token)
    };
    let handed = t.call(group("handed over", json!([heir.e164(), friend.e164()]))).await.json["gid"]
        .as_u64()
        .unwrap()
        .to_string();
    let admin =
        HttpCall::post("/setadmin").json(&json!({ "gid": handed, "m": heir.e164(), "admin": 1 })).bearer(&token);
    assert_eq!(t.call(admin).await.status, 200);
    let orphan = t.call(group("no admin", json!([friend.e164()]))).await.json["gid"].as_u64().unwrap().to_string();
    t.clock.advance(120);
    let cursor = t.clock.now();
    t.clock.advance(120);

    // A fresh code is required.
    assert_eq!(post(&t, "/deleteaccount", &token, json!({})).await.error(), "MISSINGPARA");
    t.login(me.e164()).await;
    let code = last_sms_code(me.e164()).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(post(&t, "/deleteaccount", &token, json!({ "code": wrong })).await.error(), "BADCODE");
    let deleted = post(&t, "/deleteaccount", &token, json!({ "code": code })).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.json);

    for token in [&token, &laptop] {
        assert_eq!(post(&t, "/getcontacts", token, json!({})).await.error(), "AUTHFAIL");
    }
    let mine = |item: &Item| format!("{item:?}").contains(me.e164());
    let items = t.scan().await;
    let left: Vec<&Item> = items.iter().filter(|i| mine(i)).collect();
    for item in &left {
        let (pk, sk) = (item["PK"].as_s().unwrap(), item["SK"].as_s().unwrap());
        let tombstone = sk == "PROFILE"
            && item.contains_key("deleted_at")
            && !item.contains_key("name")
            && !item.contains_key("status");
        let someone_elses_address_book = sk == &t.entry_sk(me.e164()) && pk == &format!("USER#{}", friend.e164());
        assert!(tombstone || someone_elses_address_book, "personal data left behind: {item:?}");
    }
    assert_eq!(left.len(), 2, "{left:?}");

    let groups = |who: &str| HttpCall::post("/getgroup").json(&json!({ "gid": handed })).bearer(who);
    let handed_over = t.call(groups(&heir_token)).await;
    assert_eq!(handed_over.json["members"], format!("1:{},{}", heir.digits(), friend.digits()), "the admin inherits");
    let delta = post(&t, "/getcontacts", &friend_token, json!({ "ts": cursor })).await;
    let contacts = delta.json["contacts"].as_array().unwrap();
    let me_entry = contacts.iter().find(|c| c["phone"] == me.digits()).expect("my contacts get a tombstone");
    assert_eq!((me_entry["deleted"].as_str(), me_entry["name"].as_str()), (Some("1"), Some("")));
    let orphan_entry =
        contacts.iter().find(|c| c["gid"].as_u64() == orphan.parse().ok()).expect("the admin-less group is gone");
    assert_eq!(orphan_entry["deleted"], "1");

    // The number can sign up again, as a new user.
    t.clock.advance(600);
    t.login(me.e164()).await;
    let again = t.verify(me.e164(), &last_sms_code(me.e164()).await.unwrap()).await;
    assert_eq!(
        (again.status, again.json["new_user"].as_bool(), again.json["name"].as_str()),
        (200, Some(true), Some(""))
    );
}

#[tokio::test]
async fn setnotify_creates_an_sns_endpoint_that_receives_the_users_events() {
    let sdk = shared::app::sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let fcm_app = fcm_application().await;
    let topic = scratch_topic().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &fcm_app), ("CONTACT_EVENTS_TOPIC_ARN", &topic)]).await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let (ada, bob) = (random_phone(), random_phone());
    let ada_token = t.sign_in(ada.e164()).await;
    let bob_token = t.sign_in(bob.e164()).await;
    post(&t, "/getcontacts", &bob_token, json!({ "phones": [ada.e164()] })).await;
    let device = format!("fcm-device-token-{}", random_hex(8));

    let registered = post(&t, "/setnotify", &bob_token, json!({ "notifytoken": device, "platform": "fcm" })).await;
    assert_eq!((registered.status, registered.json["push"].as_str()), (200, Some("enabled")), "{:?}", registered.json);
    let again = post(&t, "/setnotify", &bob_token, json!({ "notifytoken": device, "platform": "fcm" })).await;
    assert_eq!(again.status, 200, "re-registering refreshes, it does not duplicate");
    let endpoints = sns
        .list_endpoints_by_platform_application()
        .platform_application_arn(&fcm_app)
        .send()
        .await
        .unwrap()
        .endpoints
        .unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].attributes.as_ref().unwrap()["Token"], device);
    let endpoint_arn = endpoints[0].endpoint_arn.clone().unwrap();

    // No platform application for APNs here: the registration is stored only.
    let stored = post(&t, "/setnotify", &ada_token, json!({ "notifytoken": "apns-token", "platform": "apns" })).await;
    assert_eq!(stored.json["push"], "stored");
    for (body, error) in [
        (json!({ "platform": "fcm" }), "MISSINGPARA"),
        (json!({ "notifytoken": "x", "platform": "pager" }), "BADREQUEST"),
    ] {
        assert_eq!(post(&t, "/setnotify", &bob_token, body).await.error(), error);
    }

    // Ada changes her status: Bob's device gets the event, through the notifier.
    poller.poll().await.unwrap();
    t.clock.advance(60);
    post(&t, "/profile", &ada_token, json!({ "status": "on the road" })).await;
    let sink = SnsEvents::new(t.app.sns_client(), topic);
    assert!(
        handle(&t.app, &sink, &t.fanout_queue().await, poller.poll().await.unwrap())
            .await
            .batch_item_failures
            .is_empty()
    );
    let data = http_get_json(&stack_env("MOTO_URL"), "/moto-api/data.json").await;
    let endpoint =
        data["sns"]["PlatformEndpoint"].as_array().unwrap().iter().find(|e| e["arn"] == endpoint_arn.as_str()).unwrap();
    let messages: Vec<Value> = endpoint["messages"]
        .as_object()
        .unwrap()
        .values()
        .map(|m| serde_json::from_str(m.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        (messages[0]["type"].as_str(), messages[0]["status"].as_str()),
        (Some("profile_updated"), Some("on the road"))
    );
    assert_eq!(messages[0]["to"], bob.digits());

    // Deleting the account removes the device registration with everything else.
    t.login(bob.e164()).await;
    let code = last_sms_code(bob.e164()).await.unwrap();
    assert_eq!(post(&t, "/deleteaccount", &bob_token, json!({ "code": code })).await.status, 200);
    assert!(t.items_with_sk_prefix("DEVICE#").await.iter().all(|d| !format!("{d:?}").contains(bob.e164())));
}
