//! Counters that scale (issue 15): the SMS limits every new number shares are split over several items, and group
//! ids are drawn, not counted. Under concurrency the split counters admit exactly their limit — never more, and,
//! once every request has finished, never fewer while requests were refused — and group ids stay unique without an
//! item every creation writes to.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;

fn login_from(ip: &str, phone: &str) -> HttpCall {
    HttpCall { source_ip: ip.into(), ..HttpCall::post("/login").form(&[("phone", phone)]) }
}

/// The counts of the shards of the split counter `LIMIT#<subject>` (`LIMIT#<subject>` and `LIMIT#<subject>#<n>`).
async fn shards(t: &TestApp, subject: &str) -> BTreeMap<String, i64> {
    let pk = format!("LIMIT#{subject}");
    let shard_of = |key: &str| {
        key.strip_prefix(&pk)
            .is_some_and(|rest| rest.is_empty() || rest.strip_prefix('#').is_some_and(|n| n.parse::<u32>().is_ok()))
    };
    t.scan()
        .await
        .into_iter()
        .filter(|i| shard_of(i["PK"].as_s().unwrap()))
        .map(|i| (i["PK"].as_s().unwrap().clone(), i["count"].as_n().unwrap().parse().unwrap()))
        .collect()
}

/// How many of `phones` moto has an SMS for (one read of moto's record, not one per number).
async fn numbers_sent_to(phones: &[String]) -> usize {
    let data = http_get_json(&stack_env("MOTO_URL"), "/moto-api/data.json").await;
    let sent: BTreeSet<&str> =
        data["sns"]["SMS"].as_array().unwrap().iter().filter_map(|sms| sms["phone_number"].as_str()).collect();
    phones.iter().filter(|phone| sent.contains(phone.as_str())).count()
}

/// `count` logins of new numbers at once, each from its own address: the replies and the numbers.
async fn concurrent_logins(t: &TestApp, count: usize) -> (Vec<Reply>, Vec<String>) {
    let phones: Vec<String> = (0..count).map(|_| random_phone().e164().to_owned()).collect();
    let calls = phones.iter().enumerate().map(|(i, phone)| login_from(&format!("10.9.{}.{}", i / 250, i % 250), phone));
    let replies = join_all(calls.map(|call| t.call(call))).await;
    (replies, phones)
}

async fn codes_stored(t: &TestApp, phones: &[String]) -> usize {
    let records = join_all(phones.iter().map(|phone| t.code_record(phone))).await;
    records.into_iter().filter(|r| r.as_ref().is_some_and(|r| r.contains_key("code_digest"))).count()
}

#[tokio::test]
async fn two_hundred_new_numbers_at_once_against_a_country_cap_of_53_get_exactly_53_codes() {
    // 53 splits into 5 shards of 11, 11, 11, 10, 10: rounding each shard up would let 55 through.
    let t = spawn_app_with(&[("SMS_HOURLY_LIMIT_PER_COUNTRY", "53"), ("SMS_DAILY_BUDGET", "100000")]).await;
    let (replies, phones) = concurrent_logins(&t, 200).await;

    let statuses = replies.iter().fold(BTreeMap::new(), |mut seen, r| {
        *seen.entry((r.status, r.error().to_owned())).or_insert(0) += 1;
        seen
    });
    let expected = BTreeMap::from([((200, String::new()), 53), ((429, "RATELIMIT".to_owned()), 147)]);
    assert_eq!(statuses, expected, "never more than the cap, and no refusal while the cap had room");
    assert_eq!(numbers_sent_to(&phones).await, 53, "SMS sent");
    assert_eq!(codes_stored(&t, &phones).await, 53, "codes stored");

    let country = shards(&t, "country-sms#1").await;
    assert_eq!(country.len(), 5, "{country:?}");
    assert_eq!(country.values().sum::<i64>(), 53);
    for (shard, count) in &country {
        let ceiling = if shard.ends_with("#3") || shard.ends_with("#4") { 10 } else { 11 };
        assert_eq!(*count, ceiling, "{shard} full at its own ceiling: {country:?}");
    }
    assert_eq!(shards(&t, "sms-budget").await.values().sum::<i64>(), 53, "the budget counted the same sends");
}

#[tokio::test]
async fn the_split_daily_budget_for_new_numbers_admits_exactly_its_share() {
    // A budget of 40: 4 shards of 10; new numbers may spend 32 of it, in 3 shards of 11, 11, 10.
    let t = spawn_app_with(&[("SMS_DAILY_BUDGET", "40")]).await;
    let member = random_phone();
    t.sign_in(member.e164()).await;
    let (replies, phones) = concurrent_logins(&t, 60).await;

    let admitted = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies.iter().filter(|r| (r.status, r.error()) == (503, "SMSBUDGET")).count();
    assert_eq!((admitted, refused), (31, 29), "{:?}", replies.iter().find(|r| r.status != 200).map(|r| &r.json));
    assert_eq!(numbers_sent_to(&phones).await, 31);
    assert_eq!(codes_stored(&t, &phones).await, 31);
    let share = shards(&t, "sms-budget-new-numbers").await;
    assert_eq!(share.len(), 3, "{share:?}");
    assert_eq!(share.values().sum::<i64>(), 32, "the member's first code and 31 more: {share:?}");

    // The rest of the budget is still there for people with an account.
    t.clock.advance(60);
    let login = t.call(login_from("10.8.0.1", member.e164())).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    let budget = shards(&t, "sms-budget").await;
    assert_eq!(budget.values().sum::<i64>(), 33, "{budget:?}");
    assert!(budget.values().all(|count| *count <= 10), "no budget shard over its ceiling: {budget:?}");
}

#[tokio::test]
async fn groups_created_at_once_get_unique_short_ids_without_a_shared_counter() {
    let t = spawn_app().await;
    let owners = join_all((0..4).map(|_| async { t.sign_in(random_phone().e164()).await })).await;
    let create = |token: &String, i: usize| {
        t.call(HttpCall::post("/setgroup").bearer(token).json(&json!({ "name": format!("g{i}") })))
    };
    let replies = join_all((0..40).map(|i| create(&owners[i % 4], i))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().find(|r| r.status != 200).map(|r| &r.json));

    let gids: BTreeSet<u64> = replies.iter().map(|r| r.json["gid"].as_u64().unwrap()).collect();
    assert_eq!(gids.len(), 40, "unique");
    assert!(gids.iter().all(|gid| (1..=i32::MAX as u64).contains(gid)), "numeric, at most 10 digits: {gids:?}");
    let items = t.scan().await;
    let stored: BTreeSet<u64> = items
        .iter()
        .filter(|i| i["SK"].as_s().unwrap() == "GROUP")
        .map(|i| i["gid"].as_n().unwrap().parse().unwrap())
        .collect();
    assert_eq!(stored, gids, "each reply's group is stored under its own id");
    assert!(items.iter().all(|i| !i["PK"].as_s().unwrap().starts_with("COUNTER#")), "no item every creation writes");
}

#[tokio::test]
async fn as_many_new_numbers_at_once_as_the_split_cap_all_get_a_code() {
    // 53 sends over 5 shards of 11, 11, 11, 10, 10, drawn at random: most draws leave some shard over its ceiling,
    // so the ones that draw a full shard must find the room left in another, not be refused early.
    let t = spawn_app_with(&[("SMS_HOURLY_LIMIT_PER_COUNTRY", "53"), ("SMS_DAILY_BUDGET", "100000")]).await;
    let (replies, phones) = concurrent_logins(&t, 53).await;
    let refused: Vec<_> = replies.iter().filter(|r| r.status != 200).map(|r| &r.json).collect();
    assert!(refused.is_empty(), "refused while the cap had room: {refused:?}");
    assert_eq!(numbers_sent_to(&phones).await, 53);
    assert_eq!(shards(&t, "country-sms#1").await.values().sum::<i64>(), 53);
}
