//! The `events/` fixtures (for `sam local invoke -e`) go through lambda_http's event deserialisation into the real
//! handlers, in the order a client would send them.

use integration_tests::*;

fn fixture(file: &str) -> String {
    let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn invoke_fixture(t: &TestApp, file: &str) -> Reply {
    invoke_text(t, &fixture(file)).await
}

/// As the function's `main` would: the event through lambda_http's deserialisation into the route table.
async fn invoke_text(t: &TestApp, text: &str) -> Reply {
    let request = lambda_http::request::from_str(text).unwrap_or_else(|e| panic!("not an API Gateway v2 event: {e}"));
    decode(shared::edge::http::handle(&t.app, shared::edge::routes::Operation::ALL, request).await)
}

#[tokio::test]
async fn fixtures_drive_login_then_verify() {
    let t =
        spawn_app_with(&[("TEST_NUMBERS", "+12015550100:428913"), ("ALLOWED_APP_IDS", "com.example.messenger")]).await;
    let login = invoke_fixture(&t, "login.json").await;
    assert_eq!((login.status, &login.json["result"]), (200, &"OK".into()), "{:?}", login.json);

    let wrong = invoke_fixture(&t, "verify-wrong-code.json").await;
    assert_eq!((wrong.status, wrong.error()), (401, "BADCODE"), "query-string parameters are read: {:?}", wrong.json);

    let verify = invoke_fixture(&t, "verify.json").await;
    assert_eq!(verify.status, 200, "base64 form body is decoded: {:?}", verify.json);
    assert_eq!(verify.json["phone"], "12015550100");
    assert_eq!(verify.json["new_user"], true);

    // getcontacts.json carries a placeholder token: put the one just issued in its place.
    let token = verify.json["token"].as_str().unwrap();
    let text = fixture("getcontacts.json").replace("REPLACE_WITH_THE_TOKEN_FROM_VERIFY_0000000", token);
    let contacts = invoke_text(&t, &text).await;
    assert_eq!(contacts.status, 200, "{:?}", contacts.json);
    assert_eq!(contacts.json["u"]["phone"], "12015550100");
    assert_eq!(t.items_with_sk_prefix("CONTACT#").await.len(), 2, "the fixture's two numbers are stored");
    let unchanged = invoke_fixture(&t, "getcontacts.json").await;
    assert_eq!((unchanged.status, unchanged.error()), (401, "AUTHFAIL"));
}

#[tokio::test]
async fn the_stream_fixture_drives_the_notifier() {
    let t = spawn_app().await;
    let event: shared::adapters::dynamodb::stream::StreamEvent =
        serde_json::from_str(&fixture("notifier-new-user.json")).expect("a DynamoDB Streams event");
    assert_eq!(event.records.len(), 1);
    let sink = shared::adapters::sns::SnsEvents::new(t.app.sns_client(), "arn:aws:sns:us-east-1:123456789012:none");
    // Nobody has the number yet, so nothing is published, and the record is done.
    assert!(
        shared::edge::stream::handle(&t.app, &sink, &t.fanout_queue().await, event)
            .await
            .batch_item_failures
            .is_empty()
    );
}

#[tokio::test]
async fn the_account_deleted_fixture_drives_the_mesibo_sync() {
    use shared::usecase::ports::{Mesibo, NewMesiboUser, ProfileStore};
    let t = spawn_mesibo_app_with(&[]).await;
    let mesibo = t.app.mesibo.as_ref().unwrap();
    let user = NewMesiboUser {
        address: "12015550100",
        name: "Review Account",
        app_id: APP_ID,
        expiry_minutes: 60,
        session: 1,
    };
    mesibo.add_user(user).await.unwrap();
    // The table as the fixture's record left it: the account's tombstone.
    let phone = shared::PhoneNumber::parse("+12015550100", shared::DefaultRegion::from_iso("US").unwrap()).unwrap();
    t.app.store.tombstone_profile(&phone, 1_795_687_200).await.unwrap();
    let event: shared::adapters::dynamodb::stream::StreamEvent =
        serde_json::from_str(&fixture("mesibo-account-deleted.json")).expect("a DynamoDB Streams event");
    assert!(shared::edge::stream::handle_mesibo(&t.app, mesibo, event).await.batch_item_failures.is_empty());
    assert!(t.mesibo().user("12015550100").is_none(), "the tombstone deleted the user at mesibo");
}

#[test]
fn every_fixture_is_a_route_of_the_template() {
    let routes = local_stack::template::http_routes();
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // expected/ holds what each fixture must answer, env.json the variables: neither is an event.
        if path.is_dir() || path.file_name().is_some_and(|name| name == "env.json") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        if event.get("Records").is_some() {
            continue; // a stream batch, not an HTTP request
        }
        let route_key = event["routeKey"].as_str().unwrap();
        assert!(
            routes.iter().any(|r| format!("{} {}", r.method, r.path) == route_key),
            "{route_key} is not in template.yaml"
        );
        count += 1;
    }
    assert!(count >= 3);
}

/// A function answers only the routes its `main` names: sent another's (a deployment that routes a path to the
/// wrong function), it refuses with 404 NOROUTE and does nothing; the function the route belongs to serves it.
#[tokio::test]
async fn a_function_refuses_a_route_it_does_not_serve() {
    use shared::edge::routes::Operation;
    let t = spawn_app().await;
    let phone = random_phone();
    let login = || local_stack::apigw::HttpCall::post("/login").form(&[("phone", phone.e164())]).to_request();

    for elsewhere in [&[Operation::Verify][..], &[Operation::Upload, Operation::Download], &[Operation::MesiboApi]] {
        let refused = decode(shared::edge::http::handle(&t.app, elsewhere, login()).await);
        assert_eq!((refused.status, refused.error()), (404, "NOROUTE"), "{elsewhere:?}: {:?}", refused.json);
        assert_eq!(refused.json["op"], "login");
    }
    assert!(sms_to(phone.e164()).await.is_empty(), "a refused route sent a code");

    let served = decode(shared::edge::http::handle(&t.app, &[Operation::Login], login()).await);
    assert_eq!(served.status, 200, "{:?}", served.json);
    assert_eq!(sms_to(phone.e164()).await.len(), 1);

    // With the front door on, a request around it is refused first, whatever function it reached: it learns
    // nothing of how the routes are served.
    let behind_door = spawn_app_with(&[("FRONT_DOOR_SECRET", "a-front-door-secret-of-32-characters!")]).await;
    let around = decode(shared::edge::http::handle(&behind_door.app, &[Operation::Verify], login()).await);
    assert_eq!((around.status, around.error()), (403, "DIRECTACCESS"), "{:?}", around.json);
}
