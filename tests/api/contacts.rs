//! Contact discovery against DynamoDB Local: uploads, deltas, reverse contacts, groups, the quota, and
//! contact-joined events through the real stream, SNS and an SQS queue in moto.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};
use shared::model::group::{Group, GroupMember, GroupRole};
use shared::model::profile::Profile;
use shared::{Clock, PhoneNumber};

/// A registered user, written through the shared crate (fast seeding for thousands of numbers).
async fn seed_user(t: &TestApp, phone: &PhoneNumber, name: &str, updated_at: i64) {
    let profile = Profile {
        phone: phone.clone(),
        name: name.into(),
        status: format!("status of {name}"),
        photo: format!("{name}.jpg"),
        tn: String::new(),
        created_at: updated_at,
        updated_at,
        mesibo_uid: None,
    };
    t.app.store.put_profile(&profile).await.unwrap();
}

async fn getcontacts(t: &TestApp, token: &str, body: Value) -> Reply {
    let call = HttpCall::post("/getcontacts").json(&body).bearer(token);
    t.call(call).await
}

fn phones_of(reply: &Reply) -> BTreeSet<String> {
    reply.json["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["gid"] == 0)
        .map(|c| c["phone"].as_str().unwrap().to_owned())
        .collect()
}

fn digits(phones: &[&PhoneNumber]) -> BTreeSet<String> {
    phones.iter().map(|p| p.digits().to_owned()).collect()
}

#[tokio::test]
#[ignore = "heavy: make test runs it alone, after the others"]
async fn first_sync_of_5000_numbers_finds_exactly_the_100_users() {
    let (dynamodb, recorder) = recording_dynamodb().await;
    let sns = aws_sdk_sns::Client::new(&shared::app::sdk_config().await);
    let t = spawn_app_on(&[], dynamodb, sns).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let mut distinct = BTreeSet::new();
    while distinct.len() < 5000 {
        distinct.insert(random_phone());
    }
    let numbers: Vec<PhoneNumber> = distinct.into_iter().collect();
    let now = t.clock.now();
    let registered: Vec<&PhoneNumber> = numbers.iter().step_by(50).collect();
    for phone in &registered {
        seed_user(&t, phone, "user", now).await;
    }
    let listed: Vec<String> = numbers.iter().map(|p| p.e164().to_owned()).collect();

    recorder.reset();
    let started = Instant::now();
    let reply = getcontacts(&t, &token, json!({ "phones": listed })).await;
    let wall = started.elapsed();
    assert_eq!(reply.status, 200, "{:?}", reply.error());
    assert_eq!(phones_of(&reply), digits(&registered));
    let first = &reply.json["contacts"][0];
    assert_eq!(
        (first["name"].as_str(), first["status"].as_str(), first["gid"].as_u64()),
        (Some("user"), Some("status of user"), Some(0))
    );
    assert_eq!(first["ts"], now.to_string());
    assert_eq!(reply.json["u"]["phone"], me.digits());
    assert_eq!(reply.json["invalid"], 0);
    eprintln!(
        "5000-number first sync: {wall:?}, {} DynamoDB calls {:?}, {} sequential rounds",
        recorder.calls().len(),
        recorder.counts(),
        recorder.rounds()
    );
    // Token; the request rate; book, profiles and quota; the write allowance; the charge; the edges (after the
    // charge: none unpaid).
    assert!(recorder.rounds() <= 6, "at most 6 sequential rounds: {}", recorder.rounds());
    assert_eq!(recorder.counts().get("BatchGetItem"), Some(&51), "5000 profiles in batches of 100, and mine");
    assert_eq!(recorder.counts().get("BatchWriteItem"), Some(&200), "5000 edges in batches of 25");

    let edges = t.items_with_sk_prefix("CONTACT#").await;
    assert_eq!(edges.len(), 5000, "every number is stored, registered or not");

    // The same upload again writes nothing and costs no quota.
    recorder.reset();
    let again = getcontacts(&t, &token, json!({ "phones": listed })).await;
    assert_eq!(phones_of(&again), digits(&registered));
    assert_eq!(recorder.counts().get("BatchWriteItem"), None);
    assert_eq!(recorder.counts().get("UpdateItem"), Some(&1), "the request counted, nothing charged");
}

#[tokio::test]
async fn deltas_return_only_what_changed_including_changes_during_a_sync() {
    let t = spawn_app().await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let (bob, carol, dave) = (random_phone(), random_phone(), random_phone());
    let start = t.clock.now();
    seed_user(&t, &bob, "Bob", start).await;
    seed_user(&t, &carol, "Carol", start).await;
    let first = getcontacts(&t, &token, json!({ "phones": [bob.e164(), carol.e164(), dave.e164()] })).await;
    assert_eq!(phones_of(&first), digits(&[&bob, &carol]));

    // Past the overlap a delta repeats (changes from up to a minute before its cursor).
    t.clock.advance(120);
    let full = getcontacts(&t, &token, json!({ "ts": 0 })).await;
    assert_eq!(phones_of(&full), digits(&[&bob, &carol]), "ts=0 lists every registered contact");
    let cursor = full.json["ts"].as_i64().unwrap();

    t.clock.advance(600);
    let quiet = getcontacts(&t, &token, json!({ "ts": cursor })).await;
    assert!(phones_of(&quiet).is_empty(), "nothing changed: {:?}", quiet.json["contacts"]);
    let cursor = quiet.json["ts"].as_i64().unwrap();

    // Carol changes her profile; Dave joins. Both during the sync that returned `cursor`, stamped by clocks that
    // lag ours by up to 30 s: the next delta must still show them.
    seed_user(&t, &carol, "Carol 2", cursor).await;
    seed_user(&t, &dave, "Dave", cursor - 30).await;
    t.tell_joined(dave.e164()).await;
    t.clock.advance(600);
    let next = getcontacts(&t, &token, json!({ "ts": cursor })).await;
    assert_eq!(phones_of(&next), digits(&[&carol, &dave]));
    let carol_entry = next.json["contacts"].as_array().unwrap().iter().find(|c| c["phone"] == carol.digits()).unwrap();
    assert_eq!(carol_entry["name"], "Carol 2");
}

#[tokio::test]
async fn reverse_contacts_and_groups_appear_with_tombstones_after_the_first_sync() {
    let t = spawn_app().await;
    let (me, eve, frank) = (random_phone(), random_phone(), random_phone());
    let token = t.sign_in(me.e164()).await;
    t.clock.advance(30);
    let eve_token = t.sign_in(eve.e164()).await;
    // Eve has me in her address book; I do not have her.
    getcontacts(&t, &eve_token, json!({ "phones": [me.e164()] })).await;
    let now = t.clock.now();
    seed_user(&t, &frank, "Frank", now).await;
    let group = Group {
        gid: 42,
        name: "Climbing".into(),
        photo: "rock.jpg".into(),
        tn: String::new(),
        updated_at: now,
        members: vec![
            GroupMember { e164: eve.e164().into(), role: GroupRole::Admin, since: now, added_by: None },
            GroupMember { e164: me.e164().into(), role: GroupRole::Member, since: now, added_by: None },
            GroupMember { e164: frank.e164().into(), role: GroupRole::Owner, since: now, added_by: None },
        ],
        deleted: false,
        version: 0,
    };
    t.app.store.put_group(&group).await.unwrap();
    t.app.store.put_group(&Group { gid: 43, name: "Gone".into(), deleted: true, ..group.clone() }).await.unwrap();

    t.clock.advance(120);
    let full = getcontacts(&t, &token, json!({})).await;
    assert_eq!(phones_of(&full), digits(&[&eve]), "Eve has my number");
    let groups: Vec<&Value> = full.json["contacts"].as_array().unwrap().iter().filter(|c| c["gid"] != 0).collect();
    assert_eq!(groups.len(), 1, "a deleted group is no news to a first sync: {groups:?}");
    assert_eq!(groups[0]["gid"], 42);
    assert_eq!(groups[0]["name"], "Climbing");
    assert_eq!(groups[0]["phone"], "");
    assert_eq!(groups[0]["members"], format!("2:{},{},{}", frank.digits(), eve.digits(), me.digits()));

    let cursor = full.json["ts"].as_i64().unwrap();
    t.clock.advance(600);
    let later = t.clock.now();
    t.app
        .store
        .put_group(&Group { gid: 42, name: "Bouldering".into(), updated_at: later, ..group.clone() })
        .await
        .unwrap();
    t.app.store.put_group(&Group { gid: 43, updated_at: later, deleted: true, ..group.clone() }).await.unwrap();
    let delta = getcontacts(&t, &token, json!({ "ts": cursor })).await;
    let entries: Vec<&Value> = delta.json["contacts"].as_array().unwrap().iter().collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!((entries[0]["gid"].as_u64(), entries[0]["name"].as_str()), (Some(42), Some("Bouldering")));
    assert_eq!((entries[1]["gid"].as_u64(), entries[1]["deleted"].as_str()), (Some(43), Some("1")));
}

#[tokio::test]
async fn invalid_duplicate_and_own_numbers_are_handled() {
    let t = spawn_app().await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let friend = random_phone();
    let national = format!("({}) {}-{}", &friend.digits()[1..4], &friend.digits()[4..7], &friend.digits()[7..]);
    let phones = json!([friend.e164(), national, friend.digits(), "junk", "+999", "' OR 1=1 --", me.e164(), 12]);
    let reply = getcontacts(&t, &token, json!({ "phones": phones })).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(reply.json["invalid"], 4);
    let edges: Vec<String> =
        t.items_with_sk_prefix("CONTACT#").await.iter().map(|i| i["SK"].as_s().unwrap().clone()).collect();
    assert_eq!(edges, vec![t.entry_sk(friend.e164())], "one edge, my own number not stored");

    // Comma-separated in a form body, and in the query string of a GET.
    let form = t
        .call(HttpCall::post("/getcontacts").form(&[("token", &token), ("phones", &format!("{},junk", friend.e164()))]))
        .await;
    assert_eq!((form.status, form.json["invalid"].as_i64()), (200, Some(1)));
    let get = HttpCall { method: "GET".into(), ..HttpCall::post("/getcontacts") }
        .query(&[("token", &token), ("phones", "[]")]);
    assert_eq!(t.call(get).await.status, 200);
}

#[tokio::test]
async fn reset_replaces_the_stored_address_book() {
    let t = spawn_app().await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let (a, b, c) = (random_phone(), random_phone(), random_phone());
    getcontacts(&t, &token, json!({ "phones": [a.e164(), b.e164()] })).await;
    getcontacts(&t, &token, json!({ "phones": [b.e164(), c.e164()], "reset": 1 })).await;
    let stored: BTreeSet<String> =
        t.items_with_sk_prefix("CONTACT#").await.iter().map(|i| i["SK"].as_s().unwrap().clone()).collect();
    assert_eq!(stored, BTreeSet::from([t.entry_sk(b.e164()), t.entry_sk(c.e164())]));
    getcontacts(&t, &token, json!({ "reset": "1" })).await;
    assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty(), "reset without phones clears the book");
}

#[tokio::test]
async fn bad_tokens_and_too_many_phones_are_refused() {
    let t = spawn_app_with(&[("TOKEN_TTL_DAYS", "1")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    for bad in ["", "nonsense", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let reply = getcontacts(&t, bad, json!({})).await;
        assert_eq!((reply.status, reply.error()), (401, "AUTHFAIL"), "{bad:?}");
    }
    let none = t.call(HttpCall::post("/getcontacts").json(&json!({}))).await;
    assert_eq!((none.status, none.error()), (401, "AUTHFAIL"));
    let too_many: Vec<String> = (0..5001).map(|i| format!("+1201555{:04}", i % 10_000)).collect();
    let reply = getcontacts(&t, &token, json!({ "phones": too_many })).await;
    assert_eq!((reply.status, reply.error()), (400, "TOOMANY"));
    assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty());
    let bad_ts = getcontacts(&t, &token, json!({ "ts": "yesterday" })).await;
    assert_eq!((bad_ts.status, bad_ts.error()), (400, "BADREQUEST"));
    t.clock.advance(86_400);
    let expired = getcontacts(&t, &token, json!({})).await;
    assert_eq!((expired.status, expired.error()), (401, "AUTHFAIL"), "expired token");
}

#[tokio::test]
async fn the_lookup_quota_charges_new_numbers_only_and_stores_nothing_when_exceeded() {
    let t = spawn_app_with(&[("CONTACT_LOOKUP_BUDGET", "10"), ("CONTACT_LOOKUP_WINDOW_DAYS", "10")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let first: Vec<String> = (0..8).map(|_| random_phone().e164().to_owned()).collect();
    assert_eq!(getcontacts(&t, &token, json!({ "phones": first })).await.status, 200);
    assert_eq!(getcontacts(&t, &token, json!({ "phones": first })).await.status, 200, "known numbers are free");

    let mut more = first.clone();
    more.extend((0..3).map(|_| random_phone().e164().to_owned()));
    let refused = getcontacts(&t, &token, json!({ "phones": more })).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    let retry_after = refused.json["retry_after"].as_i64().unwrap();
    assert!(retry_after > 9 * 86_400 && retry_after <= 10 * 86_400, "{retry_after}");
    assert_eq!(t.items_with_sk_prefix("CONTACT#").await.len(), 8, "nothing stored from the refused request");

    more.truncate(10);
    assert_eq!(getcontacts(&t, &token, json!({ "phones": more })).await.status, 200, "exactly the budget is fine");
    t.clock.advance(10 * 86_400);
    let fresh: Vec<String> = (0..5).map(|_| random_phone().e164().to_owned()).collect();
    let token = t.sign_in(me.e164()).await;
    assert_eq!(getcontacts(&t, &token, json!({ "phones": fresh })).await.status, 200, "the window rolled on");
}

#[tokio::test]
async fn concurrent_uploads_cannot_overspend_the_quota() {
    let t = spawn_app_with(&[("CONTACT_LOOKUP_BUDGET", "10")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let uploads: Vec<Vec<String>> =
        (0..6).map(|_| (0..4).map(|_| random_phone().e164().to_owned()).collect()).collect();
    let replies =
        futures::future::join_all(uploads.iter().map(|p| getcontacts(&t, &token, json!({ "phones": p })))).await;
    let accepted: Vec<&Vec<String>> =
        uploads.iter().zip(&replies).filter(|(_, r)| r.status == 200).map(|(u, _)| u).collect();
    assert!(replies.iter().all(|r| r.status == 200 || r.error() == "RATELIMIT"));
    assert_eq!(accepted.len(), 2, "two uploads of 4 fit a budget of 10, a third does not");
    let stored: HashSet<String> =
        t.items_with_sk_prefix("CONTACT#").await.iter().map(|i| i["SK"].as_s().unwrap().clone()).collect();
    let expected: HashSet<String> = accepted.iter().flat_map(|u| u.iter().map(|n| t.entry_sk(n))).collect();
    assert_eq!(stored, expected, "refused uploads left nothing behind");
}

/// Numbers charged to the lookup quota: the counts of its days, wherever they are kept.
async fn charged(t: &TestApp) -> i64 {
    quota_days(t).await.iter().map(|i| i["count"].as_n().unwrap().parse::<i64>().unwrap()).sum()
}

async fn quota_days(t: &TestApp) -> Vec<Item> {
    t.items_with_sk_prefix("LOOKUPS#").await
}

fn new_numbers(count: usize) -> Vec<String> {
    (0..count).map(|_| random_phone().e164().to_owned()).collect()
}

/// mesibo apps send `reset=1` on the first sync after every sign-in (with the first page of the book, or alone to
/// clear it): re-uploading the same book costs nothing, however often (it used to be charged again every time, which
/// locked a 5,000-number book out on the fifth sign-in).
#[tokio::test]
async fn signing_in_again_and_re_uploading_the_book_after_a_reset_costs_no_quota() {
    let t = spawn_app_with(&[("CONTACT_LOOKUP_BUDGET", "10"), ("CONTACT_LOOKUP_WINDOW_DAYS", "10")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let (first_page, second_page) = (new_numbers(5), new_numbers(5));
    for page in [&first_page, &second_page] {
        assert_eq!(getcontacts(&t, &token, json!({ "phones": page })).await.status, 200);
    }
    for round in 0..3 {
        t.clock.advance(3600);
        let token = t.sign_in(me.e164()).await;
        if round == 0 {
            let cleared = getcontacts(&t, &token, json!({ "reset": 1 })).await;
            assert_eq!(cleared.status, 200);
            assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty(), "the book is empty");
        }
        // The first page replaces the book (the second page's numbers leave it), then the second page comes back.
        let reset = getcontacts(&t, &token, json!({ "phones": first_page, "reset": 1 })).await;
        assert_eq!(reset.status, 200, "round {round}: {:?}", reset.json);
        let rest = getcontacts(&t, &token, json!({ "phones": second_page })).await;
        assert_eq!(rest.status, 200, "round {round}: {:?}", rest.json);
    }
    assert_eq!(t.items_with_sk_prefix("CONTACT#").await.len(), 10);
    assert_eq!(charged(&t).await, 10, "each number charged once");
    t.clock.advance(3600);
    let token = t.sign_in(me.e164()).await;
    let one_more = getcontacts(&t, &token, json!({ "phones": new_numbers(1) })).await;
    assert_eq!((one_more.status, one_more.error()), (429, "RATELIMIT"), "the quota still holds");
}

#[tokio::test]
async fn numbers_removed_with_delcontacts_cost_nothing_to_upload_again() {
    let t = spawn_app_with(&[("CONTACT_LOOKUP_BUDGET", "10")]).await;
    let token = t.sign_in(random_phone().e164()).await;
    let book = new_numbers(10);
    assert_eq!(getcontacts(&t, &token, json!({ "phones": book })).await.status, 200);
    let removed = t.call(HttpCall::post("/delcontacts").json(&json!({ "phones": book })).bearer(&token)).await;
    assert_eq!((removed.status, removed.json["removed"].as_i64()), (200, Some(10)));
    assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty());

    let again = getcontacts(&t, &token, json!({ "phones": book })).await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(t.items_with_sk_prefix("CONTACT#").await.len(), 10);
    assert_eq!(charged(&t).await, 10);
    let one_more = getcontacts(&t, &token, json!({ "phones": new_numbers(1) })).await;
    assert_eq!((one_more.status, one_more.error()), (429, "RATELIMIT"));
}

#[tokio::test]
async fn deleting_the_account_and_signing_up_again_does_not_reset_the_quota() {
    let t = spawn_app_with(&[("CONTACT_LOOKUP_BUDGET", "10")]).await;
    let me = random_phone();
    let token = t.sign_in(me.e164()).await;
    let book = new_numbers(10);
    assert_eq!(getcontacts(&t, &token, json!({ "phones": book })).await.status, 200);
    assert_eq!(getcontacts(&t, &token, json!({ "phones": new_numbers(1) })).await.error(), "RATELIMIT");

    t.clock.advance(60);
    t.login(me.e164()).await;
    let code = last_sms_code(me.e164()).await.unwrap();
    let deleted = t.call(HttpCall::post("/deleteaccount").json(&json!({ "code": code })).bearer(&token)).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.json);
    assert!(t.items_with_sk_prefix("CONTACT#").await.is_empty(), "the address book went with the account");
    let days = quota_days(&t).await;
    assert_eq!(days.len(), 1, "the quota stays");
    for day in &days {
        assert!(day["PK"].as_s().unwrap().starts_with("QUOTA#"), "{day:?}");
        assert!(!format!("{day:?}").contains(&me.e164()[1..]), "no number in clear: {day:?}");
    }

    t.clock.advance(600);
    let token = t.sign_in(me.e164()).await;
    let refused = getcontacts(&t, &token, json!({ "phones": new_numbers(3) })).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert!(refused.json["retry_after"].as_i64().unwrap() > 8 * 86_400, "until the first day leaves the window");
    let same_book = getcontacts(&t, &token, json!({ "phones": book })).await;
    assert_eq!(same_book.status, 200, "numbers charged before the deletion are free: {:?}", same_book.json);
    assert_eq!(t.items_with_sk_prefix("CONTACT#").await.len(), 10);
    assert_eq!(charged(&t).await, 10);
}

/// The budget's cap keeps a day within one item: a day charged up to the largest budget, 5,000 numbers at a time
/// (the most one request uploads), is stored whole, and the condition stops it there.
#[tokio::test]
async fn a_day_of_the_largest_budget_fits_one_item() {
    use shared::model::lookup_quota::{Charge, LookupQuota, MAX_BUDGET};
    use shared::usecase::ports::ContactStore;

    let t = spawn_app().await;
    let quota = LookupQuota::new(&t.app.config.otp_secret, random_phone().e164(), MAX_BUDGET, 10);
    let now = t.clock.now();
    let (first_day, today) = quota.window(now);
    let charge = |from: i64, to: i64| Charge {
        day: today,
        tags: (from..to).map(|i| quota.tag(&format!("+1{i:010}"))).collect(),
        day_limit: MAX_BUDGET,
        expires_at: now + 11 * 86_400,
    };
    for from in (0..MAX_BUDGET).step_by(5000) {
        assert!(t.app.store.charge_lookups(quota.name(), &charge(from, from + 5000)).await.unwrap());
    }
    assert!(!t.app.store.charge_lookups(quota.name(), &charge(MAX_BUDGET, MAX_BUDGET + 1)).await.unwrap());
    let days = t.app.store.lookup_days(quota.name(), first_day, today).await.unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].count, days[0].tags.len()), (MAX_BUDGET, MAX_BUDGET as usize));
}
