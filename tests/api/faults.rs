//! Faults injected for real between the functions and DynamoDB Local / moto: transient throttling is absorbed by
//! the SDK's bounded retries; lasting faults answer 503 (502 for SMS) well inside API Gateway's 29 s, and leave no
//! partial state behind.

use std::time::{Duration, Instant};

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;

/// A test app whose DynamoDB traffic goes through a fault proxy (SNS direct to moto), and a direct client to check
/// the table behind the proxy's back.
async fn behind_proxy() -> (TestApp, FaultProxy) {
    let proxy = FaultProxy::start(&stack_env("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let sdk = shared::app::sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&proxy.url).build();
    let t = spawn_app_on(&[], aws_sdk_dynamodb::Client::from_conf(config), aws_sdk_sns::Client::new(&sdk)).await;
    (t, proxy)
}

async fn direct_scan(t: &TestApp) -> Vec<Item> {
    let direct = aws_sdk_dynamodb::Client::new(&shared::app::sdk_config().await);
    let out = direct.scan().table_name(t.app.store.table()).consistent_read(true).send().await.unwrap();
    out.items.unwrap_or_default()
}

#[tokio::test]
async fn transient_throttling_is_absorbed_by_sdk_retries() {
    let (t, proxy) = behind_proxy().await;
    proxy.inject(Fault::ProvisionedThroughputExceeded, Some("GetItem"), Some(1));
    proxy.inject(Fault::Throttling, Some("TransactWriteItems"), Some(1));
    let phone = random_phone();
    let login = t.login(phone.e164()).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    assert_eq!(proxy.faults_served(), 2, "both faults were served and retried past");
}

#[tokio::test]
async fn transaction_conflicts_are_retried_not_answered_503() {
    let (t, proxy) = behind_proxy().await;
    // A code stored while another transaction holds a counter, and a sign-in whose transaction meets another.
    proxy.inject(Fault::TransactionConflict, Some("TransactWriteItems"), Some(1));
    let phone = random_phone();
    let login = t.login(phone.e164()).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    proxy.inject(Fault::TransactionConflict, Some("TransactWriteItems"), Some(1));
    let code = last_sms_code(phone.e164()).await.unwrap();
    let verify = t.verify(phone.e164(), &code).await;
    assert_eq!(verify.status, 200, "{:?}", verify.json);
    // A single write that meets a transaction: a profile change beside a push registration.
    proxy.inject(Fault::TransactionConflict, Some("UpdateItem"), Some(1));
    let token = verify.json["token"].as_str().unwrap();
    let profile = t.call(HttpCall::post("/profile").json(&json!({ "name": "Ada" })).bearer(token)).await;
    assert_eq!(profile.status, 200, "{:?}", profile.json);
    assert_eq!(proxy.faults_served(), 3, "each conflict was served, and retried past");
    // A failed condition is an answer: never retried (the second login is a resend too soon).
    assert_eq!(t.login(phone.e164()).await.error(), "RATELIMIT");
}

#[tokio::test]
async fn lasting_faults_answer_503_within_the_gateway_limit() {
    for fault in [
        Fault::ProvisionedThroughputExceeded,
        Fault::ServerError,
        Fault::Refuse,
        Fault::CutMidBody,
        Fault::Delay(Duration::from_secs(8)),
    ] {
        let (t, proxy) = behind_proxy().await;
        proxy.inject(fault.clone(), None, None);
        let started = Instant::now();
        let reply = t.login(random_phone().e164()).await;
        let took = started.elapsed();
        assert_eq!((reply.status, reply.error()), (503, "UNAVAILABLE"), "{fault:?}: {:?}", reply.json);
        assert!(took < Duration::from_secs(29), "{fault:?} took {took:?}");
        proxy.heal();
    }
}

#[tokio::test]
async fn a_verify_that_fails_at_its_transaction_leaves_the_code_usable_and_no_half_user() {
    let (t, proxy) = behind_proxy().await;
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    proxy.inject(Fault::ServerError, Some("TransactWriteItems"), None);
    let failed = t.verify(phone.e164(), &code).await;
    assert_eq!((failed.status, failed.error()), (503, "UNAVAILABLE"));
    let items = direct_scan(&t).await;
    assert!(
        items.iter().all(|i| !matches!(i["SK"].as_s().unwrap().as_str(), "PROFILE" | "TOKEN")),
        "no user, no token"
    );
    let otp = items.iter().find(|i| i["SK"].as_s().unwrap() == "OTP").unwrap();
    assert!(otp.contains_key("code_digest"), "the code is still usable");
    proxy.heal();
    assert_eq!(t.verify(phone.e164(), &code).await.status, 200);
}

#[tokio::test]
async fn a_getcontacts_that_fails_midway_is_safely_repeatable_and_charged_once() {
    let (t, proxy) = behind_proxy().await;
    let token = t.sign_in(random_phone().e164()).await;
    let phones: Vec<String> = (0..300).map(|_| random_phone().e164().to_owned()).collect();
    let unique: std::collections::BTreeSet<&String> = phones.iter().collect();
    // Every batch of edges fails: the charge (made first) stays, and the repeat is not charged again.
    proxy.inject(Fault::ServerError, Some("BatchWriteItem"), None);
    let body = json!({ "token": token, "phones": phones });
    let failed = t.call(HttpCall::post("/getcontacts").json(&body)).await;
    assert_eq!((failed.status, failed.error()), (503, "UNAVAILABLE"));
    proxy.heal();
    let repeated = t.call(HttpCall::post("/getcontacts").json(&body)).await;
    assert_eq!(repeated.status, 200, "{:?}", repeated.json);
    let items = direct_scan(&t).await;
    assert_eq!(items.iter().filter(|i| i["SK"].as_s().unwrap().starts_with("CONTACT#")).count(), unique.len());
    // The quota's one day (under the quota's own partition): the count and the tags of the charged numbers.
    let days: Vec<&Item> = items.iter().filter(|i| i["SK"].as_s().unwrap().starts_with("LOOKUPS#")).collect();
    assert_eq!(days.len(), 1, "{days:?}");
    assert!(days[0]["PK"].as_s().unwrap().starts_with("QUOTA#"));
    let charged: i64 = days[0]["count"].as_n().unwrap().parse().unwrap();
    assert_eq!(charged, unique.len() as i64, "charged once, by the failed attempt; the repeat paid nothing more");
    assert_eq!(days[0]["charged"].as_bs().unwrap().len(), unique.len(), "one tag per charged number");
}

#[tokio::test]
async fn a_getcontacts_that_stores_some_edges_and_fails_has_paid_for_each_of_them() {
    let (t, proxy) = behind_proxy().await;
    let token = t.sign_in(random_phone().e164()).await;
    let phones: Vec<String> = (0..300).map(|_| random_phone().e164().to_owned()).collect();
    // The batch of edges holding one of the numbers fails, every attempt; the other batches are stored.
    proxy.inject(Fault::ServerError, Some(&t.entry_sk(&phones[150])), None);
    let failed = t.call(HttpCall::post("/getcontacts").json(&json!({ "token": token, "phones": phones }))).await;
    assert_eq!((failed.status, failed.error()), (503, "UNAVAILABLE"));
    proxy.heal();
    let items = direct_scan(&t).await;
    let stored = items.iter().filter(|i| i["SK"].as_s().unwrap().starts_with("CONTACT#")).count();
    assert!(stored > 0 && stored < 300, "some edges were stored: {stored}");
    // Was: the charge given back while the stored edges stayed, and numbers in the book are free from then on.
    let day = items.iter().find(|i| i["SK"].as_s().unwrap().starts_with("LOOKUPS#")).expect("the charge stays");
    assert_eq!(day["count"].as_n().unwrap(), "300", "every stored number was paid for");
}

#[tokio::test]
async fn an_sms_publish_failing_at_sns_answers_502_and_leaves_no_usable_code() {
    let proxy = FaultProxy::start(&stack_env("MOTO_URL")).await;
    let sdk = shared::app::sdk_config().await;
    let sns = aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(&proxy.url).build());
    let t = spawn_app_on(&[], aws_sdk_dynamodb::Client::new(&sdk), sns).await;
    proxy.inject(Fault::ServerError, Some("Action=Publish"), None);
    let phone = random_phone();
    let started = Instant::now();
    let login = t.login(phone.e164()).await;
    assert_eq!((login.status, login.error()), (502, "SMSFAIL"), "{:?}", login.json);
    assert!(started.elapsed() < Duration::from_secs(29));
    assert!(sms_to(phone.e164()).await.is_empty());
    let otp = t.scan().await.into_iter().find(|i| i["SK"].as_s().unwrap() == "OTP").unwrap();
    assert!(!otp.contains_key("code_digest"), "nobody got the code, so nobody can use it");
}
