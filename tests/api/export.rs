//! `/export` (and api.php's `op=export`): everything stored about the signed-in person, without secrets, limited.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};

async fn post(t: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    t.call(HttpCall::post(path).json(&body).bearer(token)).await
}

#[tokio::test]
async fn an_export_holds_the_persons_data_and_no_secret() {
    let t = spawn_app().await;
    let (ada, bob, stranger) = (random_phone(), random_phone(), random_phone());
    let bob_token = t.sign_in(bob.e164()).await;
    t.clock.advance(30);
    let old_token = t.sign_in(ada.e164()).await;
    t.clock.advance(30);
    let token = t.sign_in(ada.e164()).await;
    assert_eq!(post(&t, "/profile", &token, json!({"name": "Ada", "status": "Here"})).await.status, 200);
    let device_token = "fcm-device-token-of-ada-0123456789";
    let push = post(&t, "/setnotify", &token, json!({"notifytoken": device_token, "platform": "fcm"})).await;
    assert_eq!(push.status, 200);
    let synced = post(&t, "/getcontacts", &token, json!({"phones": [bob.e164(), stranger.e164()]})).await;
    assert_eq!(synced.status, 200);
    let group = post(&t, "/setgroup", &token, json!({"name": "Climbing", "m": [bob.e164()]})).await;
    let gid = group.json["gid"].as_u64().unwrap();

    let export = post(&t, "/export", &token, json!({})).await;
    assert_eq!(export.status, 200, "{}", export.json);
    let data = &export.json;
    assert_eq!(data["op"], "export");
    assert_eq!(data["profile"]["phone"], ada.digits());
    assert_eq!((data["profile"]["name"].as_str(), data["profile"]["status"].as_str()), (Some("Ada"), Some("Here")));
    assert_eq!(data["devices"], json!([{"registered_at": data["devices"][0]["registered_at"], "push": "stored"}]));
    assert_eq!(
        data["groups"],
        json!([{"gid": gid, "name": "Climbing", "role": "owner", "since": data["groups"][0]["since"], "members": 2}])
    );
    assert_eq!(data["address_book"]["entries"], 2);
    assert!(data["address_book"]["last_added_at"].as_i64().unwrap() > 0);
    let sign_ins = data["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 2, "both devices");
    assert_eq!(sign_ins.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sign_ins[0]["issued_at"].as_i64() < sign_ins[1]["issued_at"].as_i64());
    let limits: Vec<(&str, i64)> = data["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["used"].as_i64().unwrap()))
        .collect();
    assert!(limits.contains(&("contact-syncs", 1)), "{limits:?}");
    assert!(limits.contains(&("groups", 1)), "{limits:?}");
    assert!(limits.contains(&("exports", 1)), "this export counts: {limits:?}");
    // No secret and nobody else's number: not the tokens, the device's token, or the address book's numbers.
    let text = data.to_string();
    for secret in
        [token.as_str(), old_token.as_str(), bob_token.as_str(), device_token, stranger.digits(), bob.digits()]
    {
        assert!(!text.contains(secret), "the export holds {secret}: {text}");
    }

    // Bob sees his own: a member of Ada's group.
    let bobs = post(&t, "/export", &bob_token, json!({})).await;
    assert_eq!(bobs.json["groups"][0]["role"], "member");
    assert_eq!(bobs.json["address_book"]["entries"], 0);

    // api.php: op=export with the token in the form, as mesibo's apps send it.
    let compat = t.call(HttpCall::post("/api.php").form(&[("op", "export"), ("token", &token)])).await;
    assert_eq!((compat.status, compat.json["result"].as_str()), (200, Some("OK")), "{}", compat.json);
    assert_eq!(compat.json["profile"]["name"], "Ada");

    // Signed out: nothing.
    assert_eq!(post(&t, "/export", "not-a-token-0000000000000", json!({})).await.error(), "AUTHFAIL");
}

#[tokio::test]
async fn exports_are_limited_per_person_and_hour() {
    let t = spawn_app().await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    for _ in 0..shared::model::rate_limit::EXPORTS_PER_HOUR {
        assert_eq!(post(&t, "/export", &token, json!({})).await.status, 200);
    }
    let refused = post(&t, "/export", &token, json!({})).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"));
    assert!(refused.json["retry_after"].as_u64().unwrap() <= 3600);
    // Another person is not held back by it.
    let other = t.sign_in(random_phone().e164()).await;
    assert_eq!(post(&t, "/export", &other, json!({})).await.status, 200);
    // The next hour, again.
    t.clock.advance(3600);
    assert_eq!(post(&t, "/export", &token, json!({})).await.status, 200);
}
