//! Push devices cannot pile up: at most `MAX_DEVICES_PER_USER` per person however many race, the least recently
//! registered replaced (its SNS endpoint deleted), logout removes the devices of the tokens it revokes, and the
//! notifier pushes concurrently within a time bound (issue 13, finding 7).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::stream::StreamPoller;
use serde_json::{Value, json};
use shared::edge::stream::handle;
use shared::model::events::ContactEvent;
use shared::usecase::ports::{EventSink, PublishFailed};

async fn post(t: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    t.call(HttpCall::post(path).json(&body).bearer(token)).await
}

/// The device tokens of the application's endpoints that SNS still has.
async fn sns_endpoint_tokens(application: &str) -> BTreeSet<String> {
    let sdk = shared::app::sdk_config().await;
    let out = aws_sdk_sns::Client::new(&sdk)
        .list_endpoints_by_platform_application()
        .platform_application_arn(application)
        .send()
        .await
        .unwrap();
    out.endpoints.unwrap_or_default().iter().map(|e| e.attributes.as_ref().unwrap()["Token"].clone()).collect()
}

/// The device tokens stored under the person.
async fn stored_device_tokens(t: &TestApp, who: &Person) -> BTreeSet<String> {
    let owner = format!("USER#{}", who.phone.e164());
    let devices = t.items_with_sk_prefix("DEVICE#").await;
    devices
        .iter()
        .filter(|d| d["PK"].as_s().unwrap() == &owner)
        .map(|d| d["notify_token"].as_s().unwrap().clone())
        .collect()
}

/// The endpoints the notifier will push the person's events to (the profile's copy).
async fn profile_endpoints(t: &TestApp, who: &Person) -> BTreeSet<String> {
    let profiles = t.items_with_sk_prefix("PROFILE").await;
    let owner = format!("USER#{}", who.phone.e164());
    let profile = profiles.iter().find(|p| p["PK"].as_s().unwrap() == &owner).unwrap();
    profile.get("push_endpoints").map(|e| e.as_ss().unwrap().iter().cloned().collect()).unwrap_or_default()
}

async fn register(t: &TestApp, token: &str, device: &str) -> Reply {
    post(t, "/setnotify", token, json!({ "notifytoken": device, "platform": "fcm" })).await
}

#[tokio::test]
async fn setnotify_keeps_at_most_ten_devices_replacing_the_oldest_and_its_endpoint() {
    let application = fcm_application().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application)]).await;
    let me = person(&t).await;
    let devices: Vec<String> = (0..12).map(|i| format!("fcm-device-{i:02}-{}", random_hex(6))).collect();
    for device in &devices {
        t.clock.advance(1);
        let reply = register(&t, &me.token, device).await;
        assert_eq!((reply.status, reply.json["push"].as_str()), (200, Some("enabled")), "{:?}", reply.json);
    }
    let newest: BTreeSet<String> = devices[2..].iter().cloned().collect();
    assert_eq!(stored_device_tokens(&t, &me).await, newest, "the two least recently registered were replaced");
    assert_eq!(sns_endpoint_tokens(&application).await, newest, "their SNS endpoints were deleted");
    assert_eq!(profile_endpoints(&t, &me).await.len(), 10, "the notifier pushes to ten");

    // Registering a known device again refreshes it: nothing is replaced, and it becomes the newest.
    t.clock.advance(1);
    assert_eq!(register(&t, &me.token, &devices[2]).await.status, 200);
    assert_eq!(stored_device_tokens(&t, &me).await, newest);
    t.clock.advance(1);
    assert_eq!(register(&t, &me.token, &devices[0]).await.status, 200);
    let expected: BTreeSet<String> =
        devices[..1].iter().chain(&devices[2..]).filter(|d| **d != devices[3]).cloned().collect();
    assert_eq!(stored_device_tokens(&t, &me).await, expected, "the refreshed device stayed, the next oldest went");
}

#[tokio::test]
async fn concurrent_setnotify_cannot_exceed_the_limit() {
    let application = fcm_application().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application), ("MAX_DEVICES_PER_USER", "3")]).await;
    let me = person(&t).await;
    let devices: Vec<String> = (0..12).map(|i| format!("fcm-race-{i:02}-{}", random_hex(6))).collect();
    let replies = futures::future::join_all(devices.iter().map(|d| register(&t, &me.token, d))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{:?}", reply.json);
    }
    let stored = stored_device_tokens(&t, &me).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(profile_endpoints(&t, &me).await.len(), 3);
    assert_eq!(sns_endpoint_tokens(&application).await, stored, "every replaced device's endpoint was deleted");
}

#[tokio::test]
async fn logout_removes_the_devices_registered_with_the_revoked_tokens() {
    let application = fcm_application().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application)]).await;
    let me = person(&t).await;
    t.clock.advance(30);
    let tablet_token = t.sign_in(me.phone.e164()).await;
    let (phone, tablet, watch) = ("fcm-phone-".to_owned(), "fcm-tablet-".to_owned(), "fcm-watch-".to_owned());
    let (phone, tablet, watch) = (phone + &random_hex(6), tablet + &random_hex(6), watch + &random_hex(6));
    assert_eq!(register(&t, &me.token, &phone).await.status, 200);
    assert_eq!(register(&t, &tablet_token, &tablet).await.status, 200);
    assert_eq!(register(&t, &tablet_token, &watch).await.status, 200);

    let out = post(&t, "/logout", &me.token, json!({})).await;
    assert_eq!(out.status, 200, "{:?}", out.json);
    let left: BTreeSet<String> = [tablet.clone(), watch.clone()].into();
    assert_eq!(stored_device_tokens(&t, &me).await, left, "the phone's device went with its token");
    assert_eq!(sns_endpoint_tokens(&application).await, left, "and its endpoint no longer receives");
    assert_eq!(profile_endpoints(&t, &me).await.len(), 2);

    let everywhere = post(&t, "/logout", &tablet_token, json!({ "all": 1 })).await;
    assert_eq!(everywhere.status, 200, "{:?}", everywhere.json);
    assert!(stored_device_tokens(&t, &me).await.is_empty());
    assert!(sns_endpoint_tokens(&application).await.is_empty());
    assert!(profile_endpoints(&t, &me).await.is_empty(), "the notifier pushes to nobody");
}

#[tokio::test]
async fn a_device_registered_while_its_token_signs_out_does_not_survive_it() {
    let application = fcm_application().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application)]).await;
    let me = person(&t).await;
    for round in 0..3 {
        t.clock.advance(600);
        let token = t.sign_in(me.phone.e164()).await;
        let device_tokens: Vec<String> = (0..4).map(|i| format!("fcm-race-{round}-{i}-{}", random_hex(4))).collect();
        let registrations = device_tokens.iter().map(|device| register(&t, &token, device));
        let logout = post(&t, "/logout", &token, json!({}));
        let (registered, out) = tokio::join!(futures::future::join_all(registrations), logout);
        assert_eq!(out.status, 200, "{:?}", out.json);
        assert!(registered.iter().all(|r| r.status == 200 || r.error() == "AUTHFAIL"), "{registered:?}");
        assert!(stored_device_tokens(&t, &me).await.is_empty(), "round {round}: a device outlived its token");
    }
    assert!(sns_endpoint_tokens(&application).await.is_empty());
}

/// Publishes nothing anywhere; each push takes `delay` and is counted.
struct SlowDevices {
    delay: Duration,
    attempted: AtomicUsize,
    pushed: AtomicUsize,
    endpoints: Mutex<BTreeSet<String>>,
}

impl SlowDevices {
    fn new(delay: Duration) -> Self {
        Self { delay, attempted: AtomicUsize::new(0), pushed: AtomicUsize::new(0), endpoints: Mutex::default() }
    }
}

impl EventSink for SlowDevices {
    async fn publish(&self, _events: &[ContactEvent]) -> Result<(), PublishFailed> {
        Ok(())
    }

    async fn push(&self, endpoint_arn: &str, _event: &ContactEvent) -> Result<(), PublishFailed> {
        self.attempted.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.pushed.fetch_add(1, Ordering::SeqCst);
        self.endpoints.lock().unwrap().insert(endpoint_arn.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn one_profile_change_pushes_to_devices_concurrently_and_within_a_time_bound() {
    let sdk = shared::app::sdk_config().await;
    let application = fcm_application().await;
    let topic = scratch_topic().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application), ("CONTACT_EVENTS_TOPIC_ARN", &topic)]).await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let (ada, bob) = (person(&t).await, person(&t).await);
    assert_eq!(post(&t, "/getcontacts", &bob.token, json!({ "phones": [ada.phone.e164()] })).await.status, 200);
    for i in 0..10 {
        t.clock.advance(1);
        assert_eq!(register(&t, &bob.token, &format!("fcm-bob-{i}-{}", random_hex(6))).await.status, 200);
    }
    poller.poll().await.unwrap(); // sign-ups and registrations: no news for anyone

    t.clock.advance(60);
    assert_eq!(post(&t, "/profile", &ada.token, json!({ "status": "new status" })).await.status, 200);
    let change = poller.poll().await.unwrap();

    // Ten pushes of 300 ms each: sequentially three seconds, concurrently about one push's time.
    let slow = SlowDevices::new(Duration::from_millis(300));
    let started = Instant::now();
    assert!(handle(&t.app, &slow, &t.fanout_queue().await, change).await.batch_item_failures.is_empty());
    let took = started.elapsed();
    assert_eq!(slow.pushed.load(Ordering::SeqCst), 10, "every device of Bob's got the event");
    assert_eq!(slow.endpoints.lock().unwrap().len(), 10);
    assert!(took < Duration::from_millis(1500), "pushed concurrently: {took:?}");

    // Endpoints that never answer hold the notifier up for the time budget, not for as long as they hang.
    t.clock.advance(60);
    assert_eq!(post(&t, "/profile", &ada.token, json!({ "status": "newer status" })).await.status, 200);
    let change = poller.poll().await.unwrap();
    let hanging = SlowDevices::new(Duration::from_secs(60));
    let started = Instant::now();
    assert!(
        handle(&t.app, &hanging, &t.fanout_queue().await, change).await.batch_item_failures.is_empty(),
        "the record is done"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "bounded: {took:?}");
    assert_eq!(hanging.attempted.load(Ordering::SeqCst), 10, "every push was started");
    assert_eq!(hanging.pushed.load(Ordering::SeqCst), 0, "none of them answered");
}

/// A device token has one owner (issue 24, item 4): SNS hands the same endpoint to every account that registers a
/// token it knows, so registering it moves the device, and a logout never deletes an endpoint another account uses.
#[tokio::test]
async fn a_device_token_registered_by_a_second_account_moves_to_it_and_its_logout_leaves_the_other_alone() {
    let application = fcm_application().await;
    let t = spawn_app_with(&[("PUSH_FCM_APPLICATION_ARN", &application)]).await;
    let (first, second) = (person(&t).await, person(&t).await);
    assert_eq!(register(&t, &first.token, "shared-device").await.status, 200);
    let endpoint = profile_endpoints(&t, &first).await;
    assert_eq!(endpoint.len(), 1);

    assert_eq!(register(&t, &second.token, "shared-device").await.status, 200);
    assert_eq!(profile_endpoints(&t, &second).await, endpoint, "SNS's one endpoint for the token");
    assert!(profile_endpoints(&t, &first).await.is_empty(), "the first account's events no longer go to it");
    assert!(stored_device_tokens(&t, &first).await.is_empty());

    // The second account signs out: the endpoint is its own, and goes.
    assert_eq!(post(&t, "/logout", &second.token, json!({})).await.status, 200);
    assert!(sns_endpoint_tokens(&application).await.is_empty());

    // Back to the first, then the second registers it and the first signs out: the second's endpoint stays.
    assert_eq!(register(&t, &first.token, "shared-device").await.status, 200);
    t.clock.advance(120);
    let second = Person { token: t.sign_in(second.phone.e164()).await, ..second };
    assert_eq!(register(&t, &second.token, "shared-device").await.status, 200);
    assert_eq!(register(&t, &first.token, "own-device").await.status, 200);
    assert_eq!(post(&t, "/logout", &first.token, json!({})).await.status, 200);
    assert_eq!(sns_endpoint_tokens(&application).await, BTreeSet::from(["shared-device".to_owned()]));
    assert_eq!(profile_endpoints(&t, &second).await.len(), 1, "the second account's device still receives");
    let owners = t.items_with_sk_prefix("OWNER").await;
    assert_eq!(owners.len(), 1, "one owner item, the second's: {owners:?}");
    assert_eq!(owners[0]["owner"].as_s().unwrap(), &format!("USER#{}", second.phone.e164()));
}
