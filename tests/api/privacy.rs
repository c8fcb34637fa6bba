//! What the functions log: JSON lines with masked numbers, never a full number, a code, a token or an address.

use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// DEBUG, one level more than deployed (INFO), so SDK and runtime debug lines are checked too.
#[tokio::test]
async fn logs_hold_no_number_code_token_or_address() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = spawn_app().await;
    let (me, friend) = (random_phone(), random_phone());
    let ip = "203.0.113.77";
    let from_ip = |call: HttpCall| HttpCall { source_ip: ip.into(), ..call };
    t.call(from_ip(HttpCall::post("/login").form(&[("phone", me.e164())]))).await;
    let code = last_sms_code(me.e164()).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    t.call(from_ip(HttpCall::post("/verify").form(&[("phone", me.e164()), ("code", wrong)]))).await;
    let verify = t.call(from_ip(HttpCall::post("/verify").form(&[("phone", me.e164()), ("code", &code)]))).await;
    let token = verify.json["token"].as_str().unwrap().to_owned();
    t.sign_in(friend.e164()).await;
    let lookup = HttpCall::post("/getcontacts").json(&json!({ "token": token, "phones": [friend.e164(), "junk"] }));
    t.call(from_ip(lookup)).await;
    t.call(from_ip(HttpCall::post("/profile").form(&[("token", &token), ("status", "hi")]))).await;
    t.call(from_ip(HttpCall::post("/api.php").form(&[("op", "getcontacts"), ("token", &token)]))).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 8, "the flow logged: {logs}");
    assert!(logs.contains(&me.masked()), "numbers appear masked");
    for secret in [me.e164(), me.digits(), friend.e164(), friend.digits(), &code, &token, ip] {
        assert!(!logs.contains(secret), "{secret} appears in the logs:\n{logs}");
    }
}
