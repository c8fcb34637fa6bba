//! mesibo's api.php: the seed document's own example requests, replayed, with every field the seed shows checked
//! for presence and type; a form-post flow; and every error path answering HTTP 200 with result FAIL.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    Int,
    Array,
    Object,
}

fn assert_fields(json: &Value, fields: &[(&str, Kind)], context: &str) {
    for (name, kind) in fields {
        let value = json.get(*name).unwrap_or_else(|| panic!("{context}: `{name}` missing in {json}"));
        let ok = match kind {
            Kind::Str => value.is_string(),
            Kind::Int => value.is_i64(),
            Kind::Array => value.is_array(),
            Kind::Object => value.is_object(),
        };
        assert!(ok, "{context}: `{name}` should be {kind:?}, is {value}");
    }
}

async fn api(t: &TestApp, path: &str, query: &[(&str, &str)]) -> Reply {
    let call = HttpCall { method: "GET".into(), ..HttpCall::post(path) }.query(query);
    t.call(call).await
}

async fn form(t: &TestApp, pairs: &[(&str, &str)]) -> Reply {
    t.call(HttpCall::post("/api.php").form(pairs)).await
}

#[tokio::test]
async fn the_seed_examples_answer_with_every_field_the_seed_shows() {
    use Kind::*;
    let t = spawn_app().await;
    let me = random_phone();
    // https://app.mesibo.com/conf/api.php?op=login&phone=91xxxxxxxxxx&name=myusername&appid=test
    let sent =
        api(&t, "/conf/api.php", &[("op", "login"), ("phone", me.digits()), ("name", "myusername"), ("appid", "test")])
            .await;
    assert_eq!(sent.status, 200);
    assert_fields(&sent.json, &[("op", Str), ("ts", Int), ("result", Str)], "login");
    assert_eq!((sent.json["op"].as_str(), sent.json["result"].as_str()), (Some("login"), Some("OK")));

    // …&code=123456
    let code = last_sms_code(me.e164()).await.unwrap();
    let query = [("op", "login"), ("phone", me.digits()), ("name", "myusername"), ("appid", "test"), ("code", &code)];
    let signed = api(&t, "/conf/api.php", &query).await;
    assert_eq!(signed.json["result"], "OK", "{:?}", signed.json);
    let profile_fields = [
        ("cc", Str),
        ("downloadurl", Str),
        ("fileurl", Str),
        ("google", Str),
        ("invite", Str),
        ("name", Str),
        ("op", Str),
        ("phone", Str),
        ("photo", Str),
        ("result", Str),
        ("share", Object),
        ("status", Str),
        ("tn", Str),
        ("token", Str),
        ("ts", Int),
        ("uploadurl", Str),
        ("urls", Object),
    ];
    assert_fields(&signed.json, &profile_fields, "login with code");
    assert_fields(&signed.json["share"], &[("text", Str), ("subject", Str), ("title", Str)], "share");
    assert_fields(&signed.json["urls"], &[("download", Str), ("upload", Str)], "urls");
    assert_eq!(
        (signed.json["op"].as_str(), signed.json["phone"].as_str(), signed.json["name"].as_str()),
        (Some("login"), Some(me.digits()), Some("myusername"))
    );
    let token = signed.json["token"].as_str().unwrap().to_owned();

    // A contact and a group, so the contact and group entries can be checked too.
    let friend = random_phone();
    t.sign_in(friend.e164()).await;
    let looked_up = api(
        &t,
        "/conf/api.php",
        &[("op", "getcontacts"), ("token", &token), ("ts", "0"), ("phones", &format!("[\"{}\"]", friend.digits()))],
    )
    .await;
    assert_eq!(looked_up.json["contacts"].as_array().map(Vec::len), Some(1), "{:?}", looked_up.json);
    let group =
        form(&t, &[("op", "setgroup"), ("token", &token), ("name", "Test group"), ("m", friend.digits())]).await;
    assert_eq!(group.json["result"], "OK", "{:?}", group.json);

    // https://app.mesibo.com/conf/api.php?op=getcontacts&token=…&ts=0&phones=[]
    let contacts =
        api(&t, "/conf/api.php", &[("op", "getcontacts"), ("token", &token), ("ts", "0"), ("phones", "[]")]).await;
    let top = [
        ("contacts", Array),
        ("downloadurl", Str),
        ("fileurl", Str),
        ("invite", Str),
        ("op", Str),
        ("result", Str),
        ("share", Object),
        ("ts", Int),
        ("u", Object),
        ("uploadurl", Str),
        ("urls", Object),
    ];
    assert_fields(&contacts.json, &top, "getcontacts");
    let own = [("name", Str), ("phone", Str), ("status", Str), ("photo", Str), ("ts", Str), ("connection_status", Str)];
    assert_fields(&contacts.json["u"], &own, "u");
    let entries = contacts.json["contacts"].as_array().unwrap();
    // Strings as the seed shows them, but `gid`: the apps' code decides, and mesibo's iOS app reads it with
    // `unsignedIntValue`, which a JSON string does not have (tests/api/apps.rs reads every answer as the apps do).
    let user = entries.iter().find(|c| c["gid"] == 0).expect("a user entry");
    let user_fields = [("name", Str), ("status", Str), ("phone", Str), ("photo", Str), ("tn", Str), ("gid", Int)];
    assert_fields(user, &user_fields, "user entry");
    let group = entries.iter().find(|c| c["gid"] != 0).expect("a group entry");
    let group_fields =
        [("gid", Int), ("members", Str), ("name", Str), ("phone", Str), ("photo", Str), ("status", Str), ("ts", Str)];
    assert_fields(group, &group_fields, "group entry");
    assert_eq!(group["members"], format!("1:{},{}", me.digits(), friend.digits()));
}

#[tokio::test]
async fn a_form_post_flow_login_getcontacts_setgroup_getgroup() {
    let t = spawn_app().await;
    let (me, friend) = (random_phone(), random_phone());
    t.sign_in(friend.e164()).await;
    assert_eq!(form(&t, &[("op", "login"), ("phone", me.e164())]).await.json["result"], "OK");
    let code = last_sms_code(me.e164()).await.unwrap();
    let signed = form(&t, &[("op", "login"), ("phone", me.e164()), ("otp", &code)]).await;
    let token = signed.json["token"].as_str().expect("otp works as code").to_owned();
    let contacts = form(
        &t,
        &[
            ("op", "getcontacts"),
            ("token", &token),
            ("phones", &format!("{},{}", friend.e164(), random_phone().e164())),
        ],
    )
    .await;
    assert_eq!(contacts.json["contacts"][0]["phone"], friend.digits());
    let group = form(&t, &[("op", "setgroup"), ("token", &token), ("name", "G"), ("m", friend.e164())]).await;
    let gid = group.json["gid"].as_u64().unwrap().to_string();
    let fetched = form(&t, &[("op", "getgroup"), ("token", &token), ("gid", &gid)]).await;
    assert_eq!((fetched.json["op"].as_str(), fetched.json["name"].as_str()), (Some("getgroup"), Some("G")));
    for path in ["/api.php", "/messenger/api.php"] {
        let reply = api(&t, path, &[("op", "getgroup"), ("token", &token), ("gid", &gid)]).await;
        assert_eq!(reply.json["gid"].to_string(), gid, "{path}");
    }
    let out = form(&t, &[("op", "logout"), ("token", &token)]).await;
    assert_eq!(out.json["result"], "OK");
    assert_eq!(form(&t, &[("op", "getcontacts"), ("token", &token)]).await.json["error"], "AUTHFAIL");
}

#[tokio::test]
async fn every_error_path_answers_200_with_result_fail() {
    let t = spawn_app().await;
    let (me, stranger) = (random_phone(), random_phone());
    let token = t.sign_in(me.e164()).await;
    let stranger_token = t.sign_in(stranger.e164()).await;
    let gid = form(&t, &[("op", "setgroup"), ("token", &token), ("name", "mine")]).await.json["gid"]
        .as_u64()
        .unwrap()
        .to_string();
    t.login(random_phone().e164()).await;
    let cases: Vec<(HttpCall, &str)> = vec![
        (HttpCall::post("/api.php").form(&[("phone", me.e164())]), "NOOP"),
        (HttpCall::post("/api.php").form(&[("op", "bogus")]), "BADOP"),
        (HttpCall::post("/api.php").form(&[("op", "download"), ("token", &token)]), "BADOP"),
        (HttpCall::post("/api.php").form(&[("op", "getcontacts")]), "AUTHFAIL"),
        (HttpCall::post("/api.php").form(&[("op", "getcontacts"), ("token", "x")]), "AUTHFAIL"),
        (HttpCall::post("/api.php").form(&[("op", "login")]), "MISSINGPARA"),
        (HttpCall::post("/api.php").form(&[("op", "login"), ("phone", "12")]), "BADPHONE"),
        (
            HttpCall::post("/api.php").form(&[("op", "login"), ("phone", random_phone().e164()), ("code", "123456")]),
            "CODEEXPIRED",
        ),
        (HttpCall::post("/api.php").form(&[("op", "getgroup"), ("token", &token), ("gid", "987654321")]), "BADGROUP"),
        (HttpCall::post("/api.php").form(&[("op", "getgroup"), ("token", &stranger_token), ("gid", &gid)]), "BADGROUP"),
        (
            HttpCall::post("/api.php").form(&[("op", "setgroup"), ("token", &token), ("gid", &gid), ("m", "garbage")]),
            "BADPHONE",
        ),
        (HttpCall::post("/api.php").form(&[("op", "profile"), ("token", &token)]), "MISSINGPARA"),
        (HttpCall::post("/api.php").form(&[("op", "upload"), ("token", &token), ("profile", "1")]), "MISSINGFILE"),
        (
            HttpCall {
                body: b"{\"op\": ".to_vec(),
                headers: vec![("content-type".into(), "application/json".into())],
                ..HttpCall::post("/api.php")
            },
            "BADJSON",
        ),
        (HttpCall { body: vec![b'a'; 300 * 1024], ..HttpCall::post("/api.php") }, "TOOLARGE"),
    ];
    for (call, error) in cases {
        let described = String::from_utf8_lossy(&call.body).chars().take(60).collect::<String>();
        let reply = t.call(call).await;
        assert_eq!(reply.status, 200, "{described}");
        assert_eq!(
            (reply.json["result"].as_str(), reply.error()),
            (Some("FAIL"), error),
            "{described}: {:?}",
            reply.json
        );
        assert!(reply.json["ts"].is_i64() && reply.json["errmsg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A code that is wrong is BADCODE, at 200 too.
    let phone = random_phone();
    t.login(phone.e164()).await;
    let code = last_sms_code(phone.e164()).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let reply = form(&t, &[("op", "login"), ("phone", phone.e164()), ("code", wrong)]).await;
    assert_eq!((reply.status, reply.error()), (200, "BADCODE"));
}
