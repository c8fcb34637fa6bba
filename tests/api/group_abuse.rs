//! Groups against abuse (issue 13, findings 5 and 6): members only from the adder's address book, groups and member
//! adds limited per person per day, no re-adding by the same person for a week after someone left or was removed,
//! and only the owner demotes (so removes) an admin.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};

const DAY: i64 = 86_400;

async fn op(t: &TestApp, who: &Person, path: &str, body: Value) -> Reply {
    t.call(HttpCall::post(path).json(&body).bearer(&who.token)).await
}

/// A new group of `owner`'s with `members` (already in the owner's address book): its gid.
async fn new_group(t: &TestApp, owner: &Person, members: &[&str]) -> String {
    let created = op(t, owner, "/setgroup", json!({ "name": "G", "m": members })).await;
    assert_eq!(created.status, 200, "{:?}", created.json);
    created.json["gid"].as_u64().unwrap().to_string()
}

async fn members_of(t: &TestApp, who: &Person, gid: &str) -> String {
    op(t, who, "/getgroup", json!({ "gid": gid })).await.json["members"].as_str().unwrap_or_default().to_owned()
}

/// Group items in the table (the group itself, not memberships).
async fn stored_groups(t: &TestApp) -> usize {
    t.items_with_sk_prefix("GROUP").await.iter().filter(|i| i["SK"].as_s().unwrap() == "GROUP").count()
}

fn numbers(count: usize) -> Vec<String> {
    (0..count).map(|_| random_phone().e164().to_owned()).collect()
}

fn refs(numbers: &[String]) -> Vec<&str> {
    numbers.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn a_group_takes_only_numbers_from_the_adders_address_book() {
    let t = spawn_app().await;
    let (owner, friend, stranger, admin) = (person(&t).await, person(&t).await, person(&t).await, person(&t).await);

    // The finding: 1023 arbitrary numbers in one setgroup (was 200, with 1024 members told of every rename).
    let arbitrary = numbers(1023);
    let refused = op(&t, &owner, "/setgroup", json!({ "name": "spam", "m": arbitrary })).await;
    assert_eq!((refused.status, refused.error()), (403, "NOTCONTACT"), "{:?}", refused.json);
    assert!(!refused.json["errmsg"].as_str().unwrap().is_empty());
    assert_eq!(stored_groups(&t).await, 0, "nothing is created");

    // One number outside the book fails the whole request, and the answer names nobody.
    add_to_address_book(&t, &owner.token, &[friend.phone.e164(), admin.phone.e164()]).await;
    // Having the owner in *their* book is not enough: it would tell the owner who saved their number.
    add_to_address_book(&t, &stranger.token, &[owner.phone.e164()]).await;
    let mixed = json!({ "m": [friend.phone.e164(), stranger.phone.e164()] });
    let refused = op(&t, &owner, "/setgroup", mixed).await;
    assert_eq!((refused.status, refused.error()), (403, "NOTCONTACT"));
    assert!(!refused.json.to_string().contains(stranger.phone.digits()), "{:?}", refused.json);
    assert_eq!(stored_groups(&t).await, 0);

    let gid = new_group(&t, &owner, &[friend.phone.e164(), admin.phone.e164()]).await;
    let add_stranger = json!({ "gid": gid, "m": stranger.phone.e164() });
    assert_eq!(op(&t, &owner, "/editmembers", add_stranger.clone()).await.error(), "NOTCONTACT");
    assert_eq!(op(&t, &owner, "/setgroup", add_stranger.clone()).await.error(), "NOTCONTACT");
    assert!(!members_of(&t, &owner, &gid).await.contains(stranger.phone.digits()), "nobody was added");

    // An admin adds from their own book; members already in the group are not checked again (the apps may send
    // the whole list back).
    op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": admin.phone.e164(), "admin": 1 })).await;
    add_to_address_book(&t, &admin.token, &[stranger.phone.e164()]).await;
    let everyone = json!({ "gid": gid, "m": [friend.phone.e164(), owner.phone.e164(), stranger.phone.e164()] });
    let added = op(&t, &admin, "/editmembers", everyone).await;
    assert_eq!(added.status, 200, "{:?}", added.json);
    assert!(added.json["members"].as_str().unwrap().contains(stranger.phone.digits()));
}

#[tokio::test]
async fn member_adds_are_limited_to_500_a_day_per_person_taken_before_the_adding() {
    let t = spawn_app().await;
    let owner = person(&t).await;
    let book = numbers(502);
    add_to_address_book(&t, &owner.token, &refs(&book)).await;

    let too_many = op(&t, &owner, "/setgroup", json!({ "m": &book[..501] })).await;
    assert_eq!((too_many.status, too_many.error()), (400, "TOOMANY"), "more than a day's adds can never pass");
    assert_eq!(stored_groups(&t).await, 0);

    let gid = new_group(&t, &owner, &refs(&book[..499])).await;
    let two = json!({ "gid": gid, "m": &book[499..501] });
    let refused = op(&t, &owner, "/editmembers", two).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert!((1..=DAY).contains(&refused.json["retry_after"].as_i64().unwrap()));
    let listed = members_of(&t, &owner, &gid).await;
    assert!(listed.starts_with("1:") && listed.split(',').count() == 500, "nothing added, nothing counted");
    let one = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": &book[499] })).await;
    assert_eq!(one.status, 200, "the refused request took nothing: {:?}", one.json);
    let refused = op(&t, &owner, "/setgroup", json!({ "gid": gid, "m": &book[500] })).await;
    assert_eq!(refused.error(), "RATELIMIT", "setgroup adds count the same");
    // Adding nobody new costs nothing.
    let again = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": &book[..10] })).await;
    assert_eq!(again.status, 200, "{:?}", again.json);

    t.clock.advance(DAY);
    assert_eq!(op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": &book[500] })).await.status, 200, "next day");
}

#[tokio::test]
async fn a_person_creates_at_most_20_groups_a_day() {
    let t = spawn_app().await;
    let (owner, other) = (person(&t).await, person(&t).await);
    for _ in 0..20 {
        new_group(&t, &owner, &[]).await;
    }
    let refused = op(&t, &owner, "/setgroup", json!({ "name": "21st" })).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert_eq!(stored_groups(&t).await, 20);
    new_group(&t, &other, &[]).await;
    t.clock.advance(DAY);
    new_group(&t, &owner, &[]).await;
}

#[tokio::test]
async fn a_refused_creation_counts_neither_the_group_nor_its_members() {
    let t = spawn_app_with(&[("GROUPS_PER_DAY", "2"), ("GROUP_MEMBER_ADDS_PER_DAY", "3")]).await;
    let owner = person(&t).await;
    let book = numbers(4);
    add_to_address_book(&t, &owner.token, &refs(&book)).await;
    new_group(&t, &owner, &refs(&book[..2])).await;
    let refused = op(&t, &owner, "/setgroup", json!({ "m": &book[2..4] })).await;
    assert_eq!(refused.error(), "RATELIMIT", "two more members than the day's third");
    new_group(&t, &owner, &refs(&book[2..3])).await;
    assert_eq!(op(&t, &owner, "/setgroup", json!({})).await.error(), "RATELIMIT", "the day's groups are used");
}

#[tokio::test]
async fn someone_who_left_is_not_added_again_by_the_same_person_for_a_week() {
    let t = spawn_app().await;
    let (owner, victim, kept, admin) = (person(&t).await, person(&t).await, person(&t).await, person(&t).await);
    let (v, k, a) = (victim.phone.e164(), kept.phone.e164(), admin.phone.e164());
    add_to_address_book(&t, &owner.token, &[v, k, a]).await;
    let gid = new_group(&t, &owner, &[v, k, a]).await;
    assert_eq!(op(&t, &victim, "/delgroup", json!({ "gid": gid })).await.status, 200, "the victim leaves");

    // The finding: re-added at once (was 200), to the same group or a new one.
    let again = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": v })).await;
    assert_eq!((again.status, again.error()), (403, "RECENTLYLEFT"), "{:?}", again.json);
    assert_eq!(op(&t, &owner, "/setgroup", json!({ "m": [v] })).await.error(), "RECENTLYLEFT");
    assert!(!members_of(&t, &owner, &gid).await.contains(victim.phone.digits()));
    let bars: Vec<Item> =
        t.scan().await.into_iter().filter(|i| i["PK"].as_s().unwrap().starts_with("READD#")).collect();
    assert!(!bars.is_empty() && !format!("{bars:?}").contains(victim.phone.digits()), "no number in clear: {bars:?}");

    // A removal bars the remover too.
    op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": a, "admin": 1 })).await;
    add_to_address_book(&t, &admin.token, &[k]).await;
    assert_eq!(op(&t, &admin, "/editmembers", json!({ "gid": gid, "m": k, "delete": 1 })).await.status, 200);
    assert_eq!(op(&t, &admin, "/editmembers", json!({ "gid": gid, "m": k })).await.error(), "RECENTLYLEFT");
    assert_eq!(op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": k })).await.error(), "RECENTLYLEFT", "adder");

    t.clock.advance(7 * DAY - 2);
    assert_eq!(op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": v })).await.error(), "RECENTLYLEFT");
    t.clock.advance(2);
    let back = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": [v, k] })).await;
    assert_eq!(back.status, 200, "a week later: {:?}", back.json);
}

#[tokio::test]
async fn only_the_owner_demotes_an_admin_so_only_the_owner_removes_one() {
    let t = spawn_app().await;
    let (owner, first, second) = (person(&t).await, person(&t).await, person(&t).await);
    let (f, s) = (first.phone.e164(), second.phone.e164());
    add_to_address_book(&t, &owner.token, &[f, s]).await;
    let gid = new_group(&t, &owner, &[f, s]).await;
    op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": f, "admin": 1 })).await;
    t.clock.advance(10);
    op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": s, "admin": 1 })).await;
    let before = members_of(&t, &owner, &gid).await;
    let heir_first = format!("3:{},{},{}", owner.phone.digits(), first.phone.digits(), second.phone.digits());
    assert_eq!(before, heir_first, "the longest-standing admin first: the heir");

    // The finding: an admin demoted another (was 200), then removed them (was 200).
    t.clock.advance(10);
    let demoted = op(&t, &second, "/setadmin", json!({ "gid": gid, "m": f, "admin": 0 })).await;
    assert_eq!((demoted.status, demoted.error()), (403, "NOTADMIN"), "{:?}", demoted.json);
    let removed = op(&t, &second, "/editmembers", json!({ "gid": gid, "m": f, "delete": 1 })).await;
    assert_eq!((removed.status, removed.error()), (403, "NOTADMIN"));
    // Promoting an admin again changes nothing, so who inherits stays.
    assert_eq!(op(&t, &second, "/setadmin", json!({ "gid": gid, "m": f, "admin": 1 })).await.status, 200);
    assert_eq!(members_of(&t, &owner, &gid).await, heir_first, "roles and their order unchanged");

    let demoted = op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": f, "admin": 0 })).await;
    assert_eq!(demoted.status, 200, "the owner may: {:?}", demoted.json);
    let expected = format!("2:{},{},{}", owner.phone.digits(), second.phone.digits(), first.phone.digits());
    assert_eq!(demoted.json["members"], expected);
}

#[tokio::test]
async fn renaming_a_full_group_is_bounded_by_the_days_20000_notices() {
    let t = spawn_app().await;
    let (owner, member) = (person(&t).await, person(&t).await);
    let mut book = numbers(498);
    book.push(member.phone.e164().to_owned());
    add_to_address_book(&t, &owner.token, &refs(&book)).await;
    // The finding's amplification: one group, renamed again and again, every rename told to every member (was
    // unlimited: 6 requests, 6144 group_updated events). Now 500 people created = 500 notices, each rename 500.
    let gid = new_group(&t, &owner, &refs(&book)).await;
    let mut renames = 0;
    let refused = loop {
        let renamed = op(&t, &owner, "/setgroup", json!({ "gid": gid, "name": format!("spam {renames}") })).await;
        if renamed.status != 200 {
            break renamed;
        }
        renames += 1;
        assert!(renames < 100, "renames are unbounded");
    };
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert_eq!(renames, 39, "(20,000 − 500) / 500 renames");
    let promote = json!({ "gid": gid, "m": member.phone.e164(), "admin": 1 });
    assert_eq!(op(&t, &owner, "/setadmin", promote.clone()).await.error(), "RATELIMIT", "any change counts");
    assert_eq!(op(&t, &member, "/delgroup", json!({ "gid": gid })).await.status, 200, "leaving is never refused");

    t.clock.advance(DAY);
    assert_eq!(op(&t, &owner, "/setgroup", json!({ "gid": gid, "name": "next day" })).await.status, 200);
}

#[tokio::test]
async fn group_updated_events_stay_within_the_notices_of_the_day() {
    use local_stack::stream::StreamPoller;
    use shared::adapters::sns::SnsEvents;
    let t = spawn_app_with(&[("GROUP_NOTICES_PER_DAY", "10")]).await;
    let sdk = shared::app::sdk_config().await;
    let mut poller =
        StreamPoller::new(&t.dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), t.app.store.table()).await.unwrap();
    let (owner, ann, ben, cat) = (person(&t).await, person(&t).await, person(&t).await, person(&t).await);
    let (a, b, c) = (ann.phone.e164(), ben.phone.e164(), cat.phone.e164());
    add_to_address_book(&t, &owner.token, &[a, b, c]).await;
    poller.poll().await.unwrap(); // the sign-ups and the address book

    let gid = new_group(&t, &owner, &[a, b, c]).await; // 4 notices
    t.clock.advance(1);
    assert_eq!(op(&t, &owner, "/setgroup", json!({ "gid": gid, "name": "one" })).await.status, 200); // 8
    t.clock.advance(1);
    let mut jpeg = vec![];
    let picture = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30]));
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg).encode_image(&picture).unwrap();
    let photo = HttpCall::post("/upload")
        .multipart(&[("profile", "1"), ("gid", gid.as_str())], &[("photo", "g.jpg", "image/jpeg", &jpeg)])
        .bearer(&owner.token);
    for refused in [
        op(&t, &owner, "/setgroup", json!({ "gid": gid, "name": "two" })).await,
        op(&t, &owner, "/setadmin", json!({ "gid": gid, "m": a, "admin": 1 })).await,
        op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": b, "delete": 1 })).await,
        t.call(photo).await,
    ] {
        assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    }
    assert_eq!(members_of(&t, &owner, &gid).await.split(',').count(), 4, "nothing changed");

    let sink = RecordingSink::new(SnsEvents::new(t.app.sns_client(), scratch_topic().await));
    let event = poller.poll().await.unwrap();
    assert!(
        shared::edge::stream::handle(&t.app, &sink, &t.fanout_queue().await, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let events = sink.events();
    assert!(events.iter().all(|e| e.kind == "group_updated"), "{events:?}");
    assert_eq!(events.len(), 8, "the creation and one rename, 4 people each: {events:?}");
}

#[tokio::test]
async fn a_member_list_far_over_the_cap_is_refused_before_any_number_is_read() {
    let t = spawn_app().await;
    let owner = person(&t).await;
    // 19,000 valid numbers, about as many as the route's 256 KB take: reading each took seconds in all.
    let list: Vec<String> = (0..19_000).map(|i| format!("201{:07}", 2_000_000 + i)).collect();
    let list = list.join(",");
    let started = std::time::Instant::now();
    let reply = t.call(HttpCall::post("/setgroup").form(&[("name", "G"), ("m", &list)]).bearer(&owner.token)).await;
    let took = started.elapsed();
    assert_eq!((reply.status, reply.error()), (400, "TOOMANY"), "{:?}", reply.json);
    assert!(took < std::time::Duration::from_millis(1500), "refused before reading the numbers: {took:?}");
    assert_eq!(stored_groups(&t).await, 0);
}

#[tokio::test]
async fn someone_who_left_may_be_added_again_by_a_person_in_her_own_address_book_and_by_nobody_else() {
    let t = spawn_app().await;
    let (owner, friend, stranger) = (person(&t).await, person(&t).await, person(&t).await);
    let (f, s) = (friend.phone.e164(), stranger.phone.e164());
    add_to_address_book(&t, &owner.token, &[f, s]).await;
    // The friend has the owner in her address book; the stranger does not.
    add_to_address_book(&t, &friend.token, &[owner.phone.e164()]).await;
    let gid = new_group(&t, &owner, &[f, s]).await;
    for who in [&friend, &stranger] {
        assert_eq!(op(&t, who, "/delgroup", json!({ "gid": gid })).await.status, 200, "leaves");
    }

    // mesibo's apps' own flow: the owner then makes a new group with her.
    let with_friend = op(&t, &owner, "/setgroup", json!({ "name": "Again", "m": [f] })).await;
    assert_eq!(with_friend.status, 200, "she knows the owner: {:?}", with_friend.json);
    assert_eq!(op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": f })).await.status, 200, "and the old one");
    let with_stranger = op(&t, &owner, "/setgroup", json!({ "name": "Again", "m": [s] })).await;
    assert_eq!((with_stranger.status, with_stranger.error()), (403, "RECENTLYLEFT"), "the bar still holds for him");
    let both = op(&t, &owner, "/editmembers", json!({ "gid": gid, "m": [s] })).await;
    assert_eq!(both.error(), "RECENTLYLEFT");
}
