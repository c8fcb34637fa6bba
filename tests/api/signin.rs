//! Phone sign-in against DynamoDB Local and moto: codes read back from the SMS moto recorded.

use futures::future::join_all;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;
use shared::Clock;
use shared::usecase::steps::session::authenticate;

#[tokio::test]
async fn full_flow_login_sms_verify_and_the_token_works() {
    let t = spawn_app().await;
    let phone = random_phone();
    let login = t.login(phone.e164()).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    assert_eq!(login.json["op"], "login");
    assert_eq!(login.json["result"], "OK");
    assert_eq!(login.json["resend_after"], 30);
    assert!(login.json["ts"].is_i64());

    let sms = sms_to(phone.e164()).await;
    assert_eq!(sms.len(), 1, "exactly one SMS");
    assert!(sms[0].starts_with("Your TestApp code is "), "{}", sms[0]);
    let code = last_sms_code(phone.e164()).await.unwrap();

    let verify =
        t.call(HttpCall::post("/verify").form(&[("phone", phone.e164()), ("code", &code), ("name", "Ada")])).await;
    assert_eq!(verify.status, 200, "{:?}", verify.json);
    let body = &verify.json;
    assert_eq!(body["op"], "verify");
    assert_eq!(body["phone"], phone.digits());
    assert_eq!(body["cc"], "1");
    assert_eq!(body["name"], "Ada");
    assert_eq!(body["new_user"], true);
    assert_eq!(body["uploadurl"], "https://upload.example.com/");
    assert_eq!(body["urls"]["download"], "https://files.example.com/");
    let token = body["token"].as_str().unwrap();

    let session = authenticate(&t.app, Some(token), t.clock.now()).await.expect("the token authenticates");
    assert_eq!(session.phone, phone);
    // The token with its last character changed (a fixed replacement would equal it one time in 16).
    let altered = format!("{}{}", &token[..42], if token.ends_with('A') { 'B' } else { 'A' });
    assert!(authenticate(&t.app, Some(&altered), t.clock.now()).await.is_err());

    // A second sign-in on another device: same user, not new, a second token that works alongside the first.
    t.clock.advance(30);
    let second = t.sign_in(phone.e164()).await;
    assert_ne!(second, token);
    let profiles = t.items_with_sk_prefix("PROFILE").await;
    assert_eq!(profiles.len(), 1);
    assert_eq!(t.items_with_sk_prefix("TOKEN").await.len(), 2);
    for token in [token, second.as_str()] {
        assert!(authenticate(&t.app, Some(token), t.clock.now()).await.is_ok());
    }
}

#[tokio::test]
async fn tokens_expire_after_token_ttl_days() {
    let t = spawn_app_with(&[("TOKEN_TTL_DAYS", "1")]).await;
    let phone = random_phone();
    let token = t.sign_in(phone.e164()).await;
    t.clock.advance(86_399);
    assert!(authenticate(&t.app, Some(&token), t.clock.now()).await.is_ok());
    t.clock.advance(1);
    assert_eq!(authenticate(&t.app, Some(&token), t.clock.now()).await.unwrap_err().code(), "AUTHFAIL");
}

#[tokio::test]
async fn wrong_code_is_rejected_and_counts_down() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let reply = t.verify(phone.e164(), wrong).await;
    assert_eq!((reply.status, reply.error()), (401, "BADCODE"));
    assert_eq!(reply.json["attempts_left"], 4);
    assert_eq!(reply.json["result"], "FAIL");
    // A malformed code is a typo: it costs no attempt.
    let typo = t.verify(phone.e164(), "12a456").await;
    assert_eq!((typo.status, typo.error(), typo.json["attempts_left"].as_i64()), (401, "BADCODE", Some(5)));
    let ok = t.verify(phone.e164(), &code).await;
    assert_eq!(ok.status, 200, "the right code still works after one wrong guess: {:?}", ok.json);
}

#[tokio::test]
async fn codes_expire_after_the_ttl() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    t.clock.advance(600);
    let reply = t.verify(phone.e164(), &code).await;
    assert_eq!((reply.status, reply.error()), (401, "CODEEXPIRED"));
    assert!(t.items_with_sk_prefix("TOKEN").await.is_empty());
}

#[tokio::test]
async fn a_code_valid_one_second_before_expiry_works() {
    let t = spawn_app_with(&[("OTP_TTL_SECONDS", "120")]).await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    t.clock.advance(119);
    assert_eq!(t.verify(phone.e164(), &code).await.status, 200);
}

#[tokio::test]
async fn five_wrong_guesses_kill_the_code() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for left in (0..5).rev() {
        let reply = t.verify(phone.e164(), wrong).await;
        assert_eq!((reply.error(), reply.json["attempts_left"].as_i64()), ("BADCODE", Some(left)));
    }
    let reply = t.verify(phone.e164(), &code).await;
    assert_eq!((reply.status, reply.error()), (429, "TOOMANYATTEMPTS"), "the right code is dead too");
    assert_eq!(reply.headers["retry-after"], reply.json["retry_after"].to_string());

    // A new code starts a new count.
    t.clock.advance(30);
    t.login(phone.e164()).await;
    let fresh = last_sms_code(phone.e164()).await.unwrap();
    assert_eq!(t.verify(phone.e164(), &fresh).await.status, 200);
}

#[tokio::test]
async fn concurrent_guesses_cannot_test_more_than_five_codes() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let guesses: Vec<String> =
        (0..30).map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000)).collect();
    let replies = join_all(guesses.iter().map(|g| t.verify(phone.e164(), g))).await;
    let compared = replies.iter().filter(|r| r.error() == "BADCODE").count();
    let refused = replies.iter().filter(|r| r.error() == "TOOMANYATTEMPTS").count();
    assert_eq!((compared, refused), (5, 25), "{:?}", replies.iter().map(|r| r.error()).collect::<Vec<_>>());
    assert_eq!(t.verify(phone.e164(), &code).await.error(), "TOOMANYATTEMPTS");
}

#[tokio::test]
async fn twenty_concurrent_correct_verifies_issue_exactly_one_token() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let replies = join_all((0..20).map(|_| t.verify(phone.e164(), &code))).await;
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.error().to_owned())).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 401 || r.status == 429), "no 5xx");
    assert_eq!(t.items_with_sk_prefix("TOKEN").await.len(), 1);
    assert_eq!(t.items_with_sk_prefix("PROFILE").await.len(), 1);
    // Single use: the same code once more fails.
    assert_eq!(t.verify(phone.e164(), &code).await.error(), "CODEEXPIRED");
}

#[tokio::test]
async fn resend_cooldown_answers_429_with_retry_after_and_a_new_code_replaces_the_old() {
    let t = spawn_app().await;
    let phone = random_phone();
    assert_eq!(t.login(phone.e164()).await.status, 200);
    let first = last_sms_code(phone.e164()).await.unwrap();

    t.clock.advance(10);
    let early = t.login(phone.e164()).await;
    assert_eq!((early.status, early.error()), (429, "RATELIMIT"));
    assert_eq!(early.json["retry_after"], 20);
    assert_eq!(early.headers["retry-after"], "20");
    assert_eq!(sms_to(phone.e164()).await.len(), 1, "nothing sent while cooling down");

    t.clock.advance(20);
    let second = t.login(phone.e164()).await;
    assert_eq!((second.status, second.json["resend_after"].as_i64()), (200, Some(60)), "the cooldown grows");
    let latest = last_sms_code(phone.e164()).await.unwrap();
    if latest != first {
        assert_eq!(t.verify(phone.e164(), &first).await.error(), "BADCODE", "the old code was replaced");
    }
    assert_eq!(t.verify(phone.e164(), &latest).await.status, 200);
}

#[tokio::test]
async fn at_most_five_codes_per_window() {
    let t = spawn_app().await;
    let phone = random_phone();
    let mut waited = 0;
    for sent in 1..=5 {
        let reply = t.login(phone.e164()).await;
        assert_eq!(reply.status, 200, "{:?}", reply.json);
        if sent < 5 {
            let wait = reply.json["resend_after"].as_i64().unwrap();
            t.clock.advance(wait);
            waited += wait;
        } else {
            assert_eq!(reply.json["resend_after"].as_i64(), Some(600 - waited), "the fifth code closes the window");
        }
    }
    t.clock.advance(1);
    let capped = t.login(phone.e164()).await;
    assert_eq!((capped.status, capped.error()), (429, "RATELIMIT"));
    assert_eq!(capped.json["retry_after"].as_i64(), Some(600 - waited - 1));
    assert_eq!(sms_to(phone.e164()).await.len(), 5);
    t.clock.advance(600 - waited - 1);
    assert_eq!(t.login(phone.e164()).await.status, 200, "a new window opens");
}

#[tokio::test]
async fn concurrent_logins_for_one_number_send_one_sms() {
    let t = spawn_app().await;
    let phone = random_phone();
    let replies = join_all((0..10).map(|_| t.login(phone.e164()))).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    assert!(replies.iter().all(|r| r.status == 200 || r.error() == "RATELIMIT"));
    assert_eq!(sms_to(phone.e164()).await.len(), 1);
}

#[tokio::test]
async fn test_numbers_get_their_fixed_code_and_no_sms() {
    let phone = random_phone();
    let entry = format!("{}:428913", phone.e164());
    let t = spawn_app_with(&[("TEST_NUMBERS", &entry)]).await;
    let login = t.login(phone.e164()).await;
    assert_eq!(login.status, 200);
    assert!(sms_to(phone.e164()).await.is_empty(), "test numbers send no SMS");
    assert_eq!(t.verify(phone.e164(), "123456").await.error(), "BADCODE", "other codes fail");
    assert_eq!(t.verify(phone.e164(), "428913").await.status, 200);
    // The other rules still apply: cooldown.
    assert_eq!(t.login(phone.e164()).await.status, 429);
}

#[tokio::test]
async fn login_answers_alike_for_users_and_strangers() {
    let t = spawn_app().await;
    let user = random_phone();
    t.sign_in(user.e164()).await;
    t.clock.advance(3600);
    let stranger = random_phone();
    let a = t.login(user.e164()).await;
    let b = t.login(stranger.e164()).await;
    assert_eq!(a.status, b.status);
    assert_eq!(a.headers.keys().collect::<Vec<_>>(), b.headers.keys().collect::<Vec<_>>());
    assert_eq!(a.json, b.json, "same body, field for field");
}

#[tokio::test]
async fn the_table_never_holds_a_code_or_token_in_clear() {
    let t = spawn_app().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let pending_code = last_sms_code(phone.e164()).await.unwrap();
    let dump_pending = format!("{:?}", t.scan().await);
    assert!(!dump_pending.contains(&pending_code), "pending code stored in clear");
    t.clock.advance(30);
    let token = t.sign_in(phone.e164()).await;
    let used_code = last_sms_code(phone.e164()).await.unwrap();
    let items = t.scan().await;
    let dump = format!("{items:?}");
    assert!(!dump.contains(&token), "token stored in clear");
    assert!(!dump.contains(&used_code), "code stored in clear");
    for item in &items {
        for value in item.values() {
            if let Ok(bytes) = value.as_b() {
                assert!(!bytes.as_ref().windows(6).any(|w| w == used_code.as_bytes() || w == pending_code.as_bytes()));
            }
        }
    }
    let token_item = &t.items_with_sk_prefix("TOKEN").await[0];
    assert!(token_item.get("ttl").is_some(), "tokens expire in the table too");
}

#[tokio::test]
async fn numbers_are_normalised_the_same_at_login_and_verify() {
    let t = spawn_app().await;
    let phone = random_phone();
    let national = &phone.e164()[2..];
    let login = t.call(HttpCall::post("/login").json(&json!({"phone": national, "cc": "1"}))).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    let code = last_sms_code(phone.e164()).await.expect("SMS to the E.164 number");
    // mesibo form: digits with country code, no "+", and an unencoded "+" in a query string.
    let verify =
        t.call(HttpCall { query: format!("phone=+{}&code={code}", phone.digits()), ..HttpCall::post("/verify") }).await;
    assert_eq!(verify.status, 200, "{:?}", verify.json);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_500() {
    let t = spawn_app_with(&[("ALLOWED_COUNTRY_CODES", "44"), ("ALLOWED_APP_IDS", "com.example.app")]).await;
    let uk = "+447911123456";
    let with_app = |phone: &str| HttpCall::post("/login").form(&[("phone", phone), ("appid", "com.example.app")]);
    let oversized = HttpCall { body: vec![b'a'; 70 * 1024], ..HttpCall::post("/login") };
    let cases: Vec<(HttpCall, u16, &str)> = vec![
        (HttpCall::post("/login").json(&json!({"appid": "com.example.app"})), 400, "MISSINGPARA"),
        (
            HttpCall {
                body: b"{\"phone\": ".to_vec(),
                headers: vec![("content-type".into(), "application/json".into())],
                ..HttpCall::post("/login")
            },
            400,
            "BADJSON",
        ),
        (HttpCall { body: vec![0xff, 0xfe, 0x00], ..HttpCall::post("/login") }, 400, "BADREQUEST"),
        (oversized, 413, "TOOLARGE"),
        (with_app("not a phone"), 400, "BADPHONE"),
        (with_app("' OR '1'='1"), 400, "BADPHONE"),
        (with_app("+12015550123"), 403, "COUNTRYBLOCKED"),
        (HttpCall::post("/login").form(&[("phone", uk)]), 400, "BADAPPID"),
        (HttpCall::post("/login").form(&[("phone", uk), ("appid", "other")]), 400, "BADAPPID"),
        (HttpCall::post("/verify").form(&[("phone", uk), ("appid", "com.example.app")]), 400, "MISSINGPARA"),
        (
            HttpCall::post("/verify").form(&[("phone", uk), ("appid", "com.example.app"), ("code", "123456")]),
            401,
            "CODEEXPIRED",
        ),
        (
            HttpCall::post("/verify").form(&[
                ("phone", uk),
                ("appid", "com.example.app"),
                ("code", "123456"),
                ("name", &"n".repeat(65)),
            ]),
            400,
            "BADREQUEST",
        ),
    ];
    for (call, status, error) in cases {
        let described =
            format!("{} {}", call.path, String::from_utf8_lossy(&call.body).chars().take(60).collect::<String>());
        let reply = t.call(call).await;
        assert_eq!((reply.status, reply.error()), (status, error), "{described}: {:?}", reply.json);
        assert_eq!(reply.json["result"], "FAIL");
        assert!(reply.json["errmsg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A verify takes its address's failure before it looks for a code, and gives it back: a counter at zero.
    let stored = t.stored_beyond_zero_counters().await;
    assert!(stored.is_empty(), "rejected requests store nothing: {stored:?}");
}

#[tokio::test]
async fn otp_domain_adds_the_autofill_line() {
    let t = spawn_app_with(&[("OTP_DOMAIN", "app.example.com")]).await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let sms = sms_to(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    assert!(sms[0].ends_with(&format!("\n\n@app.example.com #{code}")), "{:?}", sms[0]);
}

#[tokio::test]
async fn hostile_inputs_get_4xx_with_a_code_and_store_nothing_odd() {
    let t = spawn_app().await;
    let token = t.sign_in(random_phone().e164()).await;
    let with_token = |path: &str, body: serde_json::Value| HttpCall::post(path).json(&body).bearer(&token);
    let ten_thousand: Vec<String> = (0..10_000).map(|i| format!("+1201{:07}", i)).collect();
    let cases: Vec<(HttpCall, u16, &str)> = vec![
        (with_token("/getcontacts", json!({ "phones": ten_thousand })), 400, "TOOMANY"),
        (HttpCall::post("/login").json(&json!({ "phone": { "$ne": null } })), 400, "MISSINGPARA"),
        (HttpCall::post("/login").json(&json!({ "phone": ["+12015550123"] })), 400, "MISSINGPARA"),
        (HttpCall::post("/login").form(&[("phone", "+1 201 CALL NOW")]), 400, "BADPHONE"),
        (HttpCall::post("/login").form(&[("phone", "1; DROP TABLE users; --")]), 400, "BADPHONE"),
        (HttpCall::post("/verify").form(&[("phone", "+12015550123"), ("code", "' OR ''='")]), 401, "BADCODE"),
        (with_token("/getcontacts", json!({ "phones": { "$gt": "" } })), 400, "BADREQUEST"),
        (with_token("/getcontacts", json!({ "ts": "1 OR 1=1" })), 400, "BADREQUEST"),
        (with_token("/getgroup", json!({ "gid": "1; DELETE" })), 400, "BADGROUP"),
        (with_token("/profile", json!({ "name": "x".repeat(10_000) })), 400, "BADREQUEST"),
    ];
    for (call, status, error) in cases {
        let described = String::from_utf8_lossy(&call.body).chars().take(50).collect::<String>();
        let reply = t.call(call).await;
        assert_eq!((reply.status, reply.error()), (status, error), "{described}: {:?}", reply.json);
    }
    // Letters in an address book are skipped and counted, not stored.
    let reply = t.call(with_token("/getcontacts", json!({ "phones": ["+1 201 CALL NOW", "{\"$ne\":1}"] }))).await;
    assert_eq!((reply.status, reply.json["invalid"].as_i64()), (200, Some(2)));
    assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty());
}
