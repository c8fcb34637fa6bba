//! Abuse limits: per source IP, per number across codes, per country, and the deployment's daily SMS budget.
//! A request refused by any of them sends no SMS and stores no code.

use integration_tests::*;
use local_stack::apigw::HttpCall;

fn login_from(ip: &str, phone: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/login").form(&[("phone", phone)]) }
}

fn verify_from(ip: &str, phone: &str, code: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/verify").form(&[("phone", phone), ("code", code)]) }
}

async fn stored_code(t: &TestApp, phone: &str) -> bool {
    t.code_record(phone).await.is_some_and(|record| record.contains_key("code_digest"))
}

#[tokio::test]
async fn one_address_gets_at_most_20_codes_an_hour_and_is_stored_only_as_a_keyed_hash() {
    let t = spawn_app().await;
    for _ in 0..20 {
        assert_eq!(t.call(login_from("198.51.100.7", random_phone().e164())).await.status, 200);
    }
    let victim = random_phone();
    let refused = t.call(login_from("198.51.100.7", victim.e164())).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"));
    assert!(refused.json["retry_after"].as_i64().unwrap() <= 3600);
    assert!(
        sms_to(victim.e164()).await.is_empty() && !stored_code(&t, victim.e164()).await,
        "refused: nothing sent, nothing stored"
    );
    assert_eq!(t.call(login_from("198.51.100.8", victim.e164())).await.status, 200, "other addresses are not affected");
    assert!(!format!("{:?}", t.scan().await).contains("198.51.100"), "the address is never stored in clear");
    t.clock.advance(3600);
    assert_eq!(t.call(login_from("198.51.100.7", random_phone().e164())).await.status, 200, "the next hour");
}

#[tokio::test]
async fn failed_verifies_are_limited_per_address() {
    let t = spawn_app_with(&[("IP_FAILED_VERIFIES_PER_HOUR", "6")]).await;
    // Per address: 6 wrong codes, spread over numbers, then the address is refused even with a right code.
    let mut last = None;
    for _ in 0..3 {
        let phone = random_phone();
        t.call(login_from("203.0.113.1", phone.e164())).await;
        for _ in 0..2 {
            let reply = t.call(verify_from("203.0.113.1", phone.e164(), "000000")).await;
            assert_eq!(reply.error(), "BADCODE");
        }
        last = Some(phone);
    }
    let phone = last.unwrap();
    let code = last_sms_code(phone.e164()).await.unwrap();
    let refused = t.call(verify_from("203.0.113.1", phone.e164(), &code)).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"));
    assert_eq!(t.call(verify_from("203.0.113.2", phone.e164(), &code)).await.status, 200, "another address");
}

#[tokio::test]
async fn a_pumping_wave_toward_one_country_stops_at_its_hourly_limit() {
    let t = spawn_app_with(&[("SMS_HOURLY_LIMIT_PER_COUNTRY", "3")]).await;
    for i in 0..3 {
        let reply = t.call(login_from(&format!("198.18.0.{i}"), random_phone().e164())).await;
        assert_eq!(reply.status, 200);
    }
    let fourth = random_phone();
    let refused = t.call(login_from("198.18.0.9", fourth.e164())).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"));
    assert!(sms_to(fourth.e164()).await.is_empty() && !stored_code(&t, fourth.e164()).await);
    assert_eq!(t.call(login_from("198.18.0.10", "+447911123456")).await.status, 200, "other countries still work");
}

#[tokio::test]
async fn the_daily_sms_budget_answers_503_and_test_numbers_spend_none_of_it() {
    let test_number = random_phone();
    let entry = format!("{}:246810", test_number.e164());
    // New numbers may spend 80 % of the budget: 4 of 5.
    let t = spawn_app_with(&[("SMS_DAILY_BUDGET", "5"), ("TEST_NUMBERS", &entry)]).await;
    assert_eq!(t.call(login_from("198.18.1.1", test_number.e164())).await.status, 200);
    for i in 0..4 {
        assert_eq!(t.call(login_from(&format!("198.18.1.{}", i + 2), random_phone().e164())).await.status, 200);
    }
    let over = random_phone();
    let refused = t.call(login_from("198.18.1.9", over.e164())).await;
    assert_eq!((refused.status, refused.error()), (503, "SMSBUDGET"), "{:?}", refused.json);
    assert!(refused.headers.contains_key("retry-after"));
    assert!(sms_to(over.e164()).await.is_empty() && !stored_code(&t, over.e164()).await);
    t.clock.advance(60);
    assert_eq!(t.call(login_from("198.18.1.1", test_number.e164())).await.status, 200, "test numbers still work");
    // One alarm line per hour, however many refusals: the marker is taken once.
    for _ in 0..3 {
        t.call(login_from("198.18.1.10", random_phone().e164())).await;
    }
    let alarms = t.scan().await.into_iter().filter(|i| i["PK"].as_s().unwrap() == "LIMIT#sms-budget-alarm").count();
    assert_eq!(alarms, 1);
}
