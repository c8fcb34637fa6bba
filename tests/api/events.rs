//! The `events/` fixtures (for `sam local invoke -e`) go through lambda_http's event deserialisation into the real
//! handlers, in the order a client would send them.

use integration_tests::*;
use local_stack::functions::invoke;

async fn invoke_fixture(t: &TestApp, file: &str, function: &str) -> Reply {
    let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let request =
        lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"));
    decode(invoke(&t.app, function, request).await.expect("known function"))
}

#[tokio::test]
async fn fixtures_drive_login_then_verify() {
    let t =
        spawn_app_with(&[("TEST_NUMBERS", "+12015550100:428913"), ("ALLOWED_APP_IDS", "com.example.messenger")]).await;
    let login = invoke_fixture(&t, "login.json", "LoginFunction").await;
    assert_eq!((login.status, &login.json["result"]), (200, &"OK".into()), "{:?}", login.json);

    let wrong = invoke_fixture(&t, "verify-wrong-code.json", "VerifyFunction").await;
    assert_eq!((wrong.status, wrong.error()), (401, "BADCODE"), "query-string parameters are read: {:?}", wrong.json);

    let verify = invoke_fixture(&t, "verify.json", "VerifyFunction").await;
    assert_eq!(verify.status, 200, "base64 form body is decoded: {:?}", verify.json);
    assert_eq!(verify.json["phone"], "12015550100");
    assert_eq!(verify.json["new_user"], true);
}

#[test]
fn every_fixture_is_a_route_of_the_template() {
    let routes = local_stack::template::http_routes();
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let route_key = event["routeKey"].as_str().unwrap();
        assert!(
            routes.iter().any(|r| format!("{} {}", r.method, r.path) == route_key),
            "{route_key} is not in template.yaml"
        );
        count += 1;
    }
    assert!(count >= 3);
}
