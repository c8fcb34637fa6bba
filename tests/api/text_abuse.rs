//! What one person types and others are shown (names, statuses, group names, photo URLs) cannot hide, reorder or
//! overdraw what they read, and a photo URL cannot point an app at a private address (issue 13, finding 9).

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};

async fn post(t: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    t.call(HttpCall::post(path).json(&body).bearer(token)).await
}

/// Every bad value is refused with 400 BADREQUEST and leaves the stored value as it was.
async fn refused_everywhere(t: &TestApp, who: &Person, field: &str, values: &[&str]) {
    for value in values {
        let reply = post(t, "/profile", &who.token, json!({ field: value })).await;
        assert_eq!((reply.status, reply.error()), (400, "BADREQUEST"), "{field}={value:?}: {:?}", reply.json);
        assert!(reply.json["errmsg"].as_str().is_some_and(|m| m.starts_with(field)), "{:?}", reply.json);
    }
    let own = post(t, "/getcontacts", &who.token, json!({ "ts": 0 })).await;
    assert_eq!(own.json["u"][field], "", "nothing was stored: {:?}", own.json["u"]);
}

#[tokio::test]
async fn names_and_statuses_with_invisible_or_direction_changing_characters_are_refused() {
    let t = spawn_app().await;
    let me = person(&t).await;
    let hidden = [
        "evil\u{202E}gpj.exe",
        "Ad\u{200B}a",
        "\u{FEFF}Ada",
        "Ada\u{2028}Lovelace",
        "Ada\u{2029}Byron",
        "Ada\u{E0041}\u{E0042}\u{E0043}",
        "Ada\u{E000}",
        "Ada\u{202D}",
        "a\u{336}\u{336}\u{336}\u{336}\u{336}\u{336}",
    ];
    refused_everywhere(&t, &me, "name", &hidden).await;
    refused_everywhere(&t, &me, "status", &hidden).await;
    let blank = ["\u{3164}", "\u{115F}\u{1160}", "\u{FFA0}\u{FFA0}", "\u{2800}", "\u{3164} \u{3164}"];
    refused_everywhere(&t, &me, "name", &blank).await;
    refused_everywhere(&t, &me, "status", &blank).await;

    // Verify's name, the first one a person gets, follows the same rules.
    let newcomer = random_phone();
    t.login(newcomer.e164()).await;
    let code = last_sms_code(newcomer.e164()).await.unwrap();
    let form = [("phone", newcomer.e164()), ("code", code.as_str()), ("name", "\u{3164}")];
    let verify = t.call(HttpCall::post("/verify").form(&form)).await;
    assert_eq!((verify.status, verify.error()), (400, "BADREQUEST"), "{:?}", verify.json);
}

#[tokio::test]
async fn names_are_stored_normalised_and_ordinary_text_of_any_script_passes() {
    let t = spawn_app().await;
    let me = person(&t).await;
    let decomposed = "Ame\u{301}lie";
    let reply = post(&t, "/profile", &me.token, json!({ "name": decomposed })).await;
    assert_eq!((reply.status, reply.json["u"]["name"].as_str()), (200, Some("Amélie")), "stored as NFC");
    for status in [
        "Nguyễn Thị Minh Khai",
        "می‌خواهم",
        "क्षत्रिय",
        "ശ്രീധരന്\u{200D}",
        "👨\u{200D}👩\u{200D}👧 family",
        "1\u{FE0F}\u{20E3}",
        "",
    ] {
        let reply = post(&t, "/profile", &me.token, json!({ "status": status })).await;
        assert_eq!((reply.status, reply.json["u"]["status"].as_str()), (200, Some(status)), "{:?}", reply.json);
    }
    // Pasted right-to-left text and Android's wrapped numbers carry direction marks: dropped, not refused.
    let reply =
        post(&t, "/profile", &me.token, json!({ "status": "\u{200F}שלום\u{200E} \u{2068}+1 201 555\u{2069}" })).await;
    assert_eq!((reply.status, reply.json["u"]["status"].as_str()), (200, Some("שלום +1 201 555")), "{:?}", reply.json);
}

async fn groups(t: &TestApp) -> Vec<Item> {
    t.scan().await.into_iter().filter(|i| i["SK"].as_s().is_ok_and(|sk| sk == "GROUP")).collect()
}

#[tokio::test]
async fn group_names_follow_the_same_rules() {
    let t = spawn_app().await;
    let owner = person(&t).await;
    for name in ["\u{3164}", "Club\u{202E}", "Club\u{200B}"] {
        let reply = post(&t, "/setgroup", &owner.token, json!({ "name": name })).await;
        assert_eq!((reply.status, reply.error()), (400, "BADREQUEST"), "{name:?}: {:?}", reply.json);
    }
    assert!(groups(&t).await.is_empty(), "no group was created");
    let ok = post(&t, "/setgroup", &owner.token, json!({ "name": "Cafe\u{301} club" })).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    let stored = groups(&t).await;
    assert_eq!(stored[0]["name"].as_s().unwrap(), "Café club");
}

#[tokio::test]
async fn photo_urls_must_name_a_public_host_and_need_no_escaping() {
    let t = spawn_app().await;
    let me = person(&t).await;
    let bad = [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://2852039166/",
        "https://[::1]/a.jpg",
        "https://user:pass@cdn.example.com/a.jpg",
        "https://a\"onerror=alert(1)//",
        "https://cdn.example.com/<svg>",
        "https://cdn.example.com/a b.jpg",
        "https://localhost/a.jpg",
        "https://metadata.google.internal/a.jpg",
        "https://printer.local/a.jpg",
        "https://cdn.example.com:8443/a.jpg",
    ];
    refused_everywhere(&t, &me, "photo", &bad).await;
    for photo in bad {
        let reply = post(&t, "/setgroup", &me.token, json!({ "name": "g", "photo": photo })).await;
        assert_eq!((reply.status, reply.error()), (400, "BADREQUEST"), "{photo}: {:?}", reply.json);
    }
    for photo in ["https://cdn.example.com/a/b.png?x=1", "1587123154-3c7462a54cfb2ded.jpg", ""] {
        let reply = post(&t, "/profile", &me.token, json!({ "photo": photo })).await;
        assert_eq!((reply.status, reply.json["u"]["photo"].as_str()), (200, Some(photo)), "{:?}", reply.json);
    }
}
