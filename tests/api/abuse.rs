//! Abuse limits that a hostile black-box test got around (issue 13): each test replays its attack through the
//! functions and asserts the answer that now stops it, and that legitimate users are not refused along the way.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;
use shared::model::clock::Clock;

fn login_from(ip: &str, phone: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/login").form(&[("phone", phone)]) }
}

fn verify_from(ip: &str, phone: &str, code: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/verify").form(&[("phone", phone), ("code", code)]) }
}

fn delete_account_from(ip: &str, token: &str, code: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/deleteaccount").json(&json!({ "code": code })).bearer(token) }
}

/// The count of the one counter whose subject starts with `kind` (`LIMIT#<kind>#<keyed name>`).
async fn counted(t: &TestApp, kind: &str) -> Vec<i64> {
    let prefix = format!("LIMIT#{kind}#");
    let items = t.scan().await;
    let counters = items.iter().filter(|i| i["PK"].as_s().unwrap().starts_with(&prefix));
    // Counters a right code gave back to zero count nothing.
    counters.map(|i| i["count"].as_n().unwrap().parse().unwrap()).filter(|count| *count != 0).collect()
}

#[tokio::test]
async fn deleting_the_account_does_not_reset_the_resend_cooldown() {
    let t = spawn_app().await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    t.clock.advance(30);
    assert_eq!(t.login(me.e164()).await.json["resend_after"], 60, "the second code of the window");
    let code = last_sms_code(me.e164()).await.unwrap();
    let deleted = t.call(delete_account_from("198.51.100.20", &token, &code)).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.json);
    let record = t.code_record(me.e164()).await.expect("the send state outlives the account");
    assert!(!format!("{record:?}").contains(&me.e164()[1..]), "kept under a keyed name: {record:?}");

    // Was: 200 with `resend_after: 30`, a fresh window for the "new" account.
    let again = t.login(me.e164()).await;
    assert_eq!((again.status, again.error()), (429, "RATELIMIT"), "{:?}", again.json);
    assert!(again.json["retry_after"].as_i64().unwrap() <= 60);
    t.clock.advance(60);
    let third = t.login(me.e164()).await;
    assert_eq!((third.status, third.json["resend_after"].as_i64()), (200, Some(120)), "the cooldown goes on growing");
    assert_eq!(sms_to(me.e164()).await.len(), 3);
}

#[tokio::test]
async fn concurrent_wrong_guesses_cannot_pass_the_address_limit() {
    let t = spawn_app_with(&[("IP_FAILED_VERIFIES_PER_HOUR", "50")]).await;
    let targets: Vec<_> = (0..16).map(|_| random_phone()).collect();
    for (i, target) in targets.iter().enumerate() {
        assert_eq!(t.call(login_from(&format!("198.51.100.{}", 100 + i), target.e164())).await.status, 200);
    }
    // 80 wrong guesses at once from one address: 5 for each pending code. Was: 80 × 401.
    let guesses = targets.iter().flat_map(|target| (0..5).map(move |_| target.e164()));
    let replies = futures::future::join_all(guesses.map(|phone| t.call(verify_from("203.0.113.80", phone, "000000"))));
    let replies = replies.await;
    let errors: Vec<(u16, &str)> = replies.iter().map(|r| (r.status, r.error())).collect();
    let compared = errors.iter().filter(|e| e.1 == "BADCODE").count();
    let refused = errors.iter().filter(|e| **e == (429, "RATELIMIT")).count();
    assert_eq!((compared, refused), (50, 30), "{errors:?}");
    assert_eq!(counted(&t, "ip-failures").await, [50], "the counter never overshoots");
}

#[tokio::test]
async fn a_guessed_number_still_signs_in_with_its_right_code_and_gets_a_code_an_hour() {
    let t = spawn_app_with(&[("NUMBER_FAILED_VERIFIES_PER_DAY", "7")]).await;
    // 01:00 UTC of the next day: the hour this test moves on to is the same UTC day as its failures (run after
    // 23:00 UTC, it used to cross midnight, where the number's failures of the day start again).
    t.clock.advance(86_400 - t.clock.now().rem_euclid(86_400) + 3600);
    let victim = random_phone();
    // 7 wrong guesses over two codes, from many addresses: the number's failures of the day are used up.
    let mut ip = 10;
    for round in 0..2 {
        t.clock.advance(30 * (round + 1));
        assert_eq!(t.call(login_from("192.0.2.1", victim.e164())).await.status, 200);
        for _ in 0..if round == 0 { 5 } else { 2 } {
            ip += 1;
            let reply = t.call(verify_from(&format!("192.0.2.{ip}"), victim.e164(), "999999")).await;
            assert_eq!(reply.error(), "BADCODE", "{:?}", reply.json);
        }
    }
    assert_eq!(counted(&t, "number-failures").await, [7]);
    // Was: 429 for the right code until 00:00 UTC.
    let code = last_sms_code(victim.e164()).await.unwrap();
    let signed_in = t.call(verify_from("192.0.2.200", victim.e164(), &code)).await;
    assert_eq!(signed_in.status, 200, "the owner's right code: {:?}", signed_in.json);
    assert_eq!(counted(&t, "number-failures").await, [7], "a right code is no failure");

    // From now on one code an hour, not none until midnight.
    t.clock.advance(3600 - t.clock.now().rem_euclid(3600) + 120);
    assert_eq!(t.call(login_from("192.0.2.1", victim.e164())).await.status, 200);
    t.clock.advance(600);
    let slowed = t.call(login_from("192.0.2.1", victim.e164())).await;
    assert_eq!((slowed.status, slowed.error()), (429, "RATELIMIT"), "{:?}", slowed.json);
    assert!(slowed.json["retry_after"].as_i64().unwrap() <= 3600 - 720);
    let sent = sms_to(victim.e164()).await.len();
    t.clock.advance(3600);
    assert_eq!(t.call(login_from("192.0.2.1", victim.e164())).await.status, 200, "the next hour");
    assert_eq!(sms_to(victim.e164()).await.len(), sent + 1);
}

#[tokio::test]
async fn account_deletion_guesses_count_as_failed_codes() {
    let t = spawn_app_with(&[("IP_FAILED_VERIFIES_PER_HOUR", "3")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    t.clock.advance(30);
    t.login(me.e164()).await;
    let code = last_sms_code(me.e164()).await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        assert_eq!(t.call(delete_account_from("203.0.113.9", &token, wrong)).await.error(), "BADCODE");
    }
    // Was: uncounted; the address went on guessing.
    let refused = t.call(delete_account_from("203.0.113.9", &token, &code)).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert_eq!(counted(&t, "ip-failures").await, [3]);
    assert_eq!(counted(&t, "number-failures").await, [3]);
    assert_eq!(t.call(delete_account_from("203.0.113.10", &token, &code)).await.status, 200, "another address");
}

#[tokio::test]
async fn people_with_an_account_still_sign_in_while_their_country_is_pumped() {
    let t = spawn_app_with(&[("SMS_HOURLY_LIMIT_PER_COUNTRY", "3")]).await;
    let member = random_phone();
    t.sign_in(member.e164()).await;
    // The member's own first code was one of the country's three.
    for i in 0..2 {
        assert_eq!(t.call(login_from(&format!("198.18.0.{i}"), random_phone().e164())).await.status, 200);
    }
    let pumped = random_phone();
    let refused = t.call(login_from("198.18.0.9", pumped.e164())).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "new numbers of the country stop");
    assert!(sms_to(pumped.e164()).await.is_empty());
    // Was: 429 for every sign-in of the country until the hour ended.
    t.clock.advance(30);
    let login = t.call(login_from("198.18.0.10", member.e164())).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    assert_eq!(sms_to(member.e164()).await.len(), 2);
}

#[tokio::test]
async fn an_ipv6_client_is_limited_by_its_64_and_a_missing_address_is_a_bucket_too() {
    let t = spawn_app_with(&[("IP_CODE_REQUESTS_PER_HOUR", "3")]).await;
    for address in ["2001:db8:77:1::1", "2001:db8:77:1::2", "2001:db8:77:1:ffff:ffff:ffff:fffe"] {
        let reply = t.call(login_from(address, random_phone().e164())).await;
        assert_eq!(reply.status, 200, "{:?}", reply.json);
    }
    // Was: 200, each address of the /64 counted apart.
    let refused = t.call(login_from("2001:db8:77:1::9", random_phone().e164())).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"));
    assert_eq!(t.call(login_from("2001:db8:77:2::9", random_phone().e164())).await.status, 200, "the next /64");

    // Without a source address (never so through API Gateway): one shared bucket, not no limit. Was: unlimited.
    for _ in 0..3 {
        assert_eq!(t.call(login_from("", random_phone().e164())).await.status, 200);
    }
    let refused = t.call(login_from("", random_phone().e164())).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
}

#[tokio::test]
async fn an_address_over_its_limit_cannot_hold_a_victims_attempts() {
    let t = spawn_app_with(&[("IP_FAILED_VERIFIES_PER_HOUR", "1")]).await;
    let (decoy, victim) = (random_phone(), random_phone());
    t.call(login_from("198.51.100.30", decoy.e164())).await;
    assert_eq!(t.call(verify_from("203.0.113.66", decoy.e164(), "000000")).await.error(), "BADCODE");
    t.call(login_from("198.51.100.31", victim.e164())).await;
    let code = last_sms_code(victim.e164()).await.unwrap();
    // Guesses in flight from the spent address, beside the owner's right code: they touch no attempt of the code.
    let mut calls: Vec<HttpCall> = (0..5).map(|_| verify_from("203.0.113.66", victim.e164(), "000000")).collect();
    calls.push(verify_from("198.51.100.31", victim.e164(), &code));
    let replies = futures::future::join_all(calls.into_iter().map(|call| t.call(call))).await;
    let refused = replies[..5].iter().filter(|r| (r.status, r.error()) == (429, "RATELIMIT")).count();
    assert_eq!(refused, 5);
    assert_eq!(replies[5].status, 200, "the owner signs in: {:?}", replies[5].json);
}

#[tokio::test]
async fn a_spent_budget_for_new_numbers_leaves_the_rest_for_people_with_an_account() {
    // A budget of 10: new numbers may spend 8 of it.
    let t = spawn_app_with(&[("SMS_DAILY_BUDGET", "10")]).await;
    let members = [random_phone(), random_phone()];
    for member in &members {
        t.sign_in(member.e164()).await;
    }
    for i in 0..6 {
        assert_eq!(t.call(login_from(&format!("198.18.2.{i}"), random_phone().e164())).await.status, 200);
    }
    // Was: new numbers could spend it all, and then nobody signed in until 00:00 UTC.
    let pumped = t.call(login_from("198.18.2.9", random_phone().e164())).await;
    assert_eq!((pumped.status, pumped.error()), (503, "SMSBUDGET"), "{:?}", pumped.json);
    t.clock.advance(30);
    for member in &members {
        let login = t.call(login_from("198.18.2.10", member.e164())).await;
        assert_eq!(login.status, 200, "a member still gets a code: {:?}", login.json);
    }
    t.clock.advance(60);
    let spent = t.call(login_from("198.18.2.10", members[0].e164())).await;
    assert_eq!((spent.status, spent.error()), (503, "SMSBUDGET"), "the whole budget is the bill's ceiling");
}
