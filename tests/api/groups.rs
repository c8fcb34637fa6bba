//! Groups: the lifecycle with the members string and getcontacts tombstones at each step, the role rules, and
//! concurrent edits that must neither lose an update nor leave a group without exactly one owner.

use futures::future::join_all;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::stream::StreamPoller;
use serde_json::{Value, json};
use shared::Clock;
use shared::adapters::sns::SnsEvents;

async fn op(t: &TestApp, who: &Person, path: &str, body: Value) -> Reply {
    let call = HttpCall::post(path).json(&body).bearer(&who.token);
    t.call(call).await
}

fn members(people: &[&Person], admins: usize) -> String {
    format!("{admins}:{}", people.iter().map(|p| p.phone.digits()).collect::<Vec<_>>().join(","))
}

/// The group entry in `who`'s getcontacts delta since `ts`, if any.
async fn group_in_delta(t: &TestApp, who: &Person, ts: i64, gid: &str) -> Option<Value> {
    let reply = op(t, who, "/getcontacts", json!({ "ts": ts })).await;
    reply.json["contacts"].as_array().unwrap().iter().find(|c| c["gid"].as_u64() == gid.parse().ok()).cloned()
}

#[tokio::test]
async fn group_lifecycle_with_members_string_and_tombstones() {
    let t = spawn_app().await;
    let (owner, ann, ben, cat) = (person(&t).await, person(&t).await, person(&t).await, person(&t).await);
    add_to_address_book(&t, &owner.token, &[ann.phone.e164(), ben.phone.e164(), cat.phone.e164()]).await;

    let created =
        op(&t, &owner, "/setgroup", json!({ "name": "Climbing", "m": [ann.phone.e164(), ben.phone.digits()] })).await;
    assert_eq!(created.status, 200, "{:?}", created.json);
    let gid = created.json["gid"].as_u64().unwrap().to_string();
    assert_eq!(created.json["members"], members(&[&owner, &ann, &ben], 1));
    assert_eq!((created.json["phone"].as_str(), created.json["status"].as_str()), (Some(""), Some("")));
    let second = op(&t, &owner, "/setgroup", json!({ "name": "Other" })).await;
    assert_ne!(second.json["gid"], created.json["gid"], "ids are unique");

    let seen = group_in_delta(&t, &ann, 0, &gid).await.expect("members see the group");
    assert_eq!(
        (seen["name"].as_str(), seen["members"].as_str()),
        (Some("Climbing"), Some(members(&[&owner, &ann, &ben], 1).as_str()))
    );
    let cursor = t.clock.now();

    t.clock.advance(120);
    let added = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": cat.phone.e164() })).await;
    assert_eq!(added.json["members"], members(&[&owner, &ann, &ben, &cat], 1));
    t.clock.advance(1);
    let promoted = op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": [ben.phone.e164()], "admin": 1 })).await;
    assert_eq!(promoted.json["members"], members(&[&owner, &ben, &ann, &cat], 2), "owner, admins, others");
    let delta = group_in_delta(&t, &ann, cursor, &gid).await.expect("the change is in the delta");
    assert_eq!(delta["members"], members(&[&owner, &ben, &ann, &cat], 2));

    t.clock.advance(120);
    let cursor = t.clock.now();
    t.clock.advance(120);
    let removed = op(&t, &ben, "/editmembers", json!({ "gid": gid, "m": [ann.phone.e164()], "delete": 1 })).await;
    assert_eq!(
        (removed.status, removed.json["members"].as_str()),
        (200, Some(members(&[&owner, &ben, &cat], 2).as_str()))
    );
    let tombstone = group_in_delta(&t, &ann, cursor, &gid).await.expect("a removed member gets a tombstone");
    assert_eq!(tombstone["deleted"], "1");
    assert_eq!(op(&t, &ann, "/getgroup", json!({ "gid": gid })).await.error(), "BADGROUP", "as if there were none");

    t.clock.advance(1);
    let left = op(&t, &cat, "/delgroup", json!({ "gid": gid })).await;
    assert_eq!(left.json["members"], members(&[&owner, &ben], 2), "a member's delgroup leaves");
    assert_eq!(group_in_delta(&t, &cat, cursor, &gid).await.unwrap()["deleted"], "1");

    t.clock.advance(1);
    let deleted = op(&t, &owner, "/delgroup", json!({ "gid": gid })).await;
    assert_eq!((deleted.status, deleted.json["deleted"].as_str()), (200, Some("1")));
    assert_eq!(group_in_delta(&t, &ben, cursor, &gid).await.unwrap()["deleted"], "1");
    assert_eq!(op(&t, &ben, "/getgroup", json!({ "gid": gid })).await.error(), "BADGROUP");
    assert!(group_in_delta(&t, &ben, 0, &gid).await.is_none(), "a first sync is not told about deleted groups");
}

#[tokio::test]
async fn role_rules_hold() {
    let t = spawn_app().await;
    let (owner, admin, member, outsider) = (person(&t).await, person(&t).await, person(&t).await, person(&t).await);
    add_to_address_book(&t, &owner.token, &[admin.phone.e164(), member.phone.e164()]).await;
    let gid = op(&t, &owner, "/setgroup", json!({ "m": [admin.phone.e164(), member.phone.e164()] })).await.json["gid"]
        .as_u64()
        .unwrap()
        .to_string();
    op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": admin.phone.e164(), "admin": "1" })).await;

    let cases = [
        (&member, "/editmembers", json!({ "gid": gid, "m": outsider.phone.e164() }), 403, "NOTADMIN"),
        (&member, "/setgroup", json!({ "gid": gid, "name": "mine now" }), 403, "NOTADMIN"),
        (&member, "/setadmin", json!({ "gid": gid, "m": member.phone.e164(), "admin": 1 }), 403, "NOTADMIN"),
        (&admin, "/setadmin", json!({ "gid": gid, "m": owner.phone.e164(), "admin": 0 }), 403, "NOTADMIN"),
        (&admin, "/editmembers", json!({ "gid": gid, "m": owner.phone.e164(), "delete": 1 }), 403, "NOTADMIN"),
        (&outsider, "/getgroup", json!({ "gid": gid }), 400, "BADGROUP"),
        (&outsider, "/editmembers", json!({ "gid": gid, "m": outsider.phone.e164() }), 400, "BADGROUP"),
        (&outsider, "/delgroup", json!({ "gid": gid }), 400, "BADGROUP"),
        (&admin, "/setadmin", json!({ "gid": gid, "m": outsider.phone.e164(), "admin": 1 }), 403, "NOTMEMBER"),
        (&owner, "/getgroup", json!({ "gid": "999999" }), 400, "BADGROUP"),
        (&owner, "/getgroup", json!({ "gid": "abc" }), 400, "BADGROUP"),
        (&owner, "/setgroup", json!({ "gid": gid, "m": ["not a phone"] }), 400, "BADPHONE"),
    ];
    for (who, path, body, status, error) in cases {
        let reply = op(&t, who, path, body.clone()).await;
        assert_eq!((reply.status, reply.error()), (status, error), "{path} {body}");
    }
    // An outsider cannot tell a group that exists from one that does not: the same answer, word for word.
    let answer = |reply: Reply| (reply.status, reply.json["error"].clone(), reply.json["errmsg"].clone());
    for path in ["/getgroup", "/editmembers", "/setgroup", "/setadmin", "/delgroup"] {
        let body = |gid: &str| json!({ "gid": gid, "m": outsider.phone.e164(), "name": "x", "admin": 1 });
        let existing = answer(op(&t, &outsider, path, body(&gid)).await);
        let missing = answer(op(&t, &outsider, path, body("987654321")).await);
        assert_eq!(existing, missing, "{path}");
    }
    let group = op(&t, &member, "/getgroup", json!({ "gid": gid })).await;
    assert_eq!(group.json["members"], members(&[&owner, &admin, &member], 2), "nothing changed");
    let renamed = op(&t, &admin, "/setgroup", json!({ "gid": gid, "name": "Admins may rename" })).await;
    assert_eq!(renamed.json["name"], "Admins may rename");
}

#[tokio::test]
async fn a_group_is_capped_at_max_group_members() {
    let t = spawn_app_with(&[("MAX_GROUP_MEMBERS", "3")]).await;
    let owner = person(&t).await;
    let three: Vec<String> = (0..3).map(|_| random_phone().e164().to_owned()).collect();
    add_to_address_book(&t, &owner.token, &three.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(op(&t, &owner, "/setgroup", json!({ "m": three })).await.error(), "TOOMANY");
    let gid = op(&t, &owner, "/setgroup", json!({ "m": &three[..2] })).await.json["gid"].as_u64().unwrap().to_string();
    assert_eq!(op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": &three[2..] })).await.error(), "TOOMANY");
}

#[tokio::test]
async fn concurrent_adds_are_all_kept() {
    let t = spawn_app().await;
    let owner = person(&t).await;
    let gid = op(&t, &owner, "/setgroup", json!({ "name": "busy" })).await.json["gid"].as_u64().unwrap().to_string();
    let newcomers: Vec<String> = (0..4).map(|_| random_phone().e164().to_owned()).collect();
    add_to_address_book(&t, &owner.token, &newcomers.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let replies =
        join_all(newcomers.iter().map(|n| op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": n })))).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| r.error().to_owned()).collect::<Vec<_>>()
    );
    let group = op(&t, &owner, "/getgroup", json!({ "gid": gid })).await;
    let listed = group.json["members"].as_str().unwrap().to_owned();
    for n in &newcomers {
        assert!(listed.contains(n.trim_start_matches('+')), "{n} lost from {listed}");
    }
}

#[tokio::test]
async fn concurrent_delete_and_setadmin_leave_a_consistent_group() {
    for _ in 0..3 {
        let t = spawn_app().await;
        let (owner, ann) = (person(&t).await, person(&t).await);
        add_to_address_book(&t, &owner.token, &[ann.phone.e164()]).await;
        let gid = op(&t, &owner, "/setgroup", json!({ "m": [ann.phone.e164()] })).await.json["gid"]
            .as_u64()
            .unwrap()
            .to_string();
        let (deleted, promoted) = tokio::join!(
            op(&t, &owner, "/delgroup", json!({ "gid": gid })),
            op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": ann.phone.e164(), "admin": 1 })),
        );
        assert_eq!(deleted.status, 200, "{:?}", deleted.json);
        assert!(promoted.status == 200 || promoted.error() == "BADGROUP", "{:?}", promoted.json);
        let items = t.items_with_sk_prefix("GROUP").await;
        let group = items.iter().find(|i| i["PK"].as_s().unwrap() == &format!("GROUP#{gid}")).unwrap();
        assert!(group.contains_key("deleted_at"), "the delete is never lost");
        let owners = group["members"]
            .as_l()
            .unwrap()
            .iter()
            .filter(|m| m.as_m().unwrap()["role"].as_s().unwrap() == "owner")
            .count();
        assert_eq!(owners, 1, "exactly one owner");
    }
}

#[tokio::test]
async fn group_changes_reach_members_old_and_new_as_group_updated_events() {
    let t = spawn_app().await;
    let sdk = shared::app::sdk_config().await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let (owner, ann, ben) = (person(&t).await, person(&t).await, person(&t).await);
    add_to_address_book(&t, &owner.token, &[ann.phone.e164(), ben.phone.e164()]).await;
    poller.poll().await.unwrap(); // the sign-ups
    let gid = op(&t, &owner, "/setgroup", json!({ "name": "G", "m": [ann.phone.e164(), ben.phone.e164()] })).await.json
        ["gid"]
        .as_u64()
        .unwrap()
        .to_string();
    t.clock.advance(1);
    op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": ben.phone.e164(), "delete": 1 })).await;

    let sink = RecordingSink::new(SnsEvents::new(t.app.sns_client(), scratch_topic().await));
    let event = poller.poll().await.unwrap();
    assert_eq!(event.records.len(), 2, "the group's INSERT and MODIFY");
    assert!(
        shared::edge::stream::handle(&t.app, &sink, &t.fanout_queue().await, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let events = sink.events();
    assert_eq!(events.len(), 6, "3 members told of the creation, the same 3 of the removal: {events:?}");
    assert!(events.iter().all(|e| e.kind == "group_updated" && e.gid.as_deref() == Some(gid.as_str())));
    let last: Vec<_> = events[3..].iter().collect();
    let to_ben = last.iter().find(|e| e.to == ben.phone.digits()).expect("the removed member is told");
    assert_eq!((to_ben.deleted, to_ben.members.as_deref()), (Some("1"), Some("")));
    let to_ann = last.iter().find(|e| e.to == ann.phone.digits()).unwrap();
    assert_eq!(to_ann.members.as_deref(), Some(members(&[&owner, &ann], 1).as_str()));
    assert_eq!(to_ann.deleted, None);
}
