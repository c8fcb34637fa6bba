//! Which numbers get a sign-in code by SMS (issue 13, finding 4): mobiles only, in the allowed regions. Premium,
//! satellite, non-geographic and landline numbers are refused before any limit is spent or code stored.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::json;
use shared::{DefaultRegion, PhoneNumber};

/// The numbers the hostile test reached at defaults, each of a range that must never get an SMS.
const NEVER_SMS: [(&str, &str); 13] = [
    ("+19002345678", "US premium rate"),
    ("+449098790000", "UK premium rate"),
    ("+979123456789", "international premium rate"),
    ("+881612345678", "satellite (Iridium)"),
    ("+870301234567", "satellite (Inmarsat)"),
    ("+883510012345", "international networks"),
    ("+80012345678", "international toll free"),
    ("+80812345678", "international shared cost"),
    ("+442079460000", "UK landline"),
    ("+37190123456", "Latvian premium rate"),
    ("+447012345678", "UK personal number"),
    ("+445612345678", "UK VoIP"),
    ("+916123456789", "Indian landline"),
];

/// A mobile of `digits` digits starting with `prefix` (`+` and digits) that no other test draws: the prefix and
/// the random last digits of a fresh number.
fn mobile(prefix: &str, digits: usize) -> PhoneNumber {
    let us = DefaultRegion::from_iso("US").unwrap();
    for _ in 0..1000 {
        let random = random_phone();
        let tail = &random.digits()[random.digits().len() - (digits + 1 - prefix.len())..];
        let candidate = PhoneNumber::parse(&format!("{prefix}{tail}"), us).filter(|p| p.receives_sms_codes());
        if let Some(phone) = candidate {
            secret(phone.e164());
            return phone;
        }
    }
    panic!("no mobile of {digits} digits starts with {prefix}");
}

fn login(phone: &str) -> HttpCall {
    HttpCall::post("/login").form(&[("phone", phone)])
}

#[tokio::test]
async fn premium_satellite_non_geographic_and_landline_numbers_get_no_code() {
    let t = spawn_app().await;
    for (number, kind) in NEVER_SMS {
        secret(number);
        let reply = t.call(login(number)).await;
        assert_eq!((reply.status, reply.error()), (400, "NOTMOBILE"), "{kind} {number}: {:?}", reply.json);
        assert!(reply.json["errmsg"].as_str().unwrap().contains("cannot receive sign-in codes"), "{:?}", reply.json);
        assert!(sms_to(number).await.is_empty(), "{kind}: no SMS");
        // mesibo's form (digits) and the compat endpoint answer alike.
        let digits = &number[1..];
        let compat = t.call(HttpCall::post("/api.php").form(&[("op", "login"), ("phone", digits)])).await;
        assert_eq!(compat.error(), "NOTMOBILE", "{kind} through api.php: {:?}", compat.json);
        // No code was stored, so a verify finds none.
        let verify = t.verify(number, "123456").await;
        assert_eq!((verify.status, verify.error()), (401, "CODEEXPIRED"), "{kind}: verify");
    }
    // Verify took each guess's address failure before looking for a code, and gave it back: counters at zero.
    let stored = t.stored_beyond_zero_counters().await;
    assert!(stored.is_empty(), "refused before any limit was taken or code stored: {stored:?}");
}

#[tokio::test]
async fn mobiles_still_get_their_code() {
    let t = spawn_app().await;
    let mobiles = [
        random_phone(),        // US: fixed line or mobile, the metadata cannot tell
        mobile("+447400", 12), // UK 07…
        mobile("+9198", 12),   // India
        mobile("+49151", 13),  // Germany 015…
        mobile("+1876", 11),   // Jamaica, allowed at defaults
    ];
    for phone in mobiles {
        let reply = t.call(login(phone.e164())).await;
        assert_eq!(reply.status, 200, "{phone}: {:?}", reply.json);
        assert_eq!(sms_to(phone.e164()).await.len(), 1, "{phone}: one SMS");
        let code = last_sms_code(phone.e164()).await.expect("a code");
        assert_eq!(t.verify(phone.e164(), &code).await.status, 200, "{phone} signs in");
    }
}

#[tokio::test]
async fn allowed_regions_go_by_the_region_of_the_number_not_its_calling_code() {
    let t = spawn_app_with(&[("ALLOWED_REGIONS", "US")]).await;
    let caribbean = [mobile("+1876", 11), mobile("+1809", 11), mobile("+1268464", 11)];
    for phone in &caribbean {
        let reply = t.call(login(phone.e164())).await;
        assert_eq!((reply.status, reply.error()), (403, "COUNTRYBLOCKED"), "{phone} is not in the US");
        assert!(sms_to(phone.e164()).await.is_empty());
    }
    assert!(t.scan().await.is_empty(), "no limit taken, no code stored");
    let us = random_phone();
    assert_eq!(t.call(login(us.e164())).await.status, 200);
    assert_eq!(sms_to(us.e164()).await.len(), 1);

    // The deprecated calling codes still mean every region of each code, for one release.
    let old = spawn_app_with(&[("ALLOWED_COUNTRY_CODES", "1")]).await;
    assert_eq!(old.call(login(caribbean[0].e164())).await.status, 200, "ALLOWED_COUNTRY_CODES=1 includes Jamaica");
    assert_eq!(old.call(login("+447400123456")).await.error(), "COUNTRYBLOCKED");
}

#[tokio::test]
async fn a_landline_test_number_signs_in_and_any_valid_number_can_still_be_looked_up() {
    secret("+442079460000");
    let t = spawn_app_with(&[("TEST_NUMBERS", "+442079460000:246810")]).await;
    let login = t.call(login("+442079460000")).await;
    assert_eq!(login.status, 200, "test numbers get no SMS, so their type costs nothing: {:?}", login.json);
    let verify = t.verify("+442079460000", "246810").await;
    assert_eq!(verify.status, 200, "{:?}", verify.json);
    assert!(sms_to("+442079460000").await.is_empty());

    // Only sending codes is restricted: contact discovery takes landlines and premium numbers as before.
    let me = person(&t).await;
    let lookup = HttpCall::post("/getcontacts").json(&json!({ "phones": ["+442079460000", "+19002345678"] }));
    let found = t.call(lookup.bearer(&me.token)).await;
    assert_eq!(found.status, 200, "{:?}", found.json);
    let phones: Vec<&str> =
        found.json["contacts"].as_array().unwrap().iter().filter_map(|c| c["phone"].as_str()).collect();
    assert_eq!(phones, ["442079460000"]);
}

#[tokio::test]
async fn an_account_made_on_a_landline_before_the_rule_still_signs_in_and_can_delete_itself() {
    let landline = "+442079460456";
    secret(landline);
    let before = spawn_app_with(&[("TEST_NUMBERS", &format!("{landline}:246810"))]).await;
    assert_eq!(before.call(login(landline)).await.status, 200);
    let token = before.verify(landline, "246810").await.json["token"].as_str().unwrap().to_owned();
    // The same table, now without that test number: the account's owner is sent real codes again.
    let mut config = before.app.config.clone();
    config.test_numbers.clear();
    let sns = aws_sdk_sns::Client::new(&shared::app::sdk_config().await);
    let mut app = shared::App::from_clients(config, before.dynamodb.clone(), sns, before.clock.clone());
    observe_metrics(&mut app, &before.metrics);
    let t = TestApp {
        app,
        clock: before.clock.clone(),
        dynamodb: before.dynamodb.clone(),
        mesibo: None,
        metrics: before.metrics.clone(),
        // Its configuration is changed in place: every request goes to this app.
        deployed: None,
    };
    t.clock.advance(60);
    assert_eq!(t.call(login(landline)).await.status, 200, "an account may still sign in");
    let code = last_sms_code(landline).await.unwrap();
    let deletion = HttpCall::post("/deleteaccount").json(&json!({ "code": code })).bearer(&token);
    assert_eq!(t.call(deletion).await.status, 200);
    t.clock.advance(600);
    assert_eq!(t.call(login(landline)).await.error(), "NOTMOBILE", "without an account, no code");
}

#[tokio::test]
async fn every_code_is_published_with_the_price_cap() {
    let sdk = shared::app::sdk_config().await;
    let published = CallRecorder::default();
    let sns =
        aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&sdk).interceptor(published.clone()).build());
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let t = spawn_app_on(&[("SMS_MAX_PRICE", "0.05")], dynamodb, sns).await;
    let phone = random_phone();
    assert_eq!(t.call(login(phone.e164())).await.status, 200);
    let publish = published.calls().into_iter().find(|c| c.operation == "Publish").expect("the code's publish");
    let body = String::from_utf8(publish.request.expect("the request as sent").body).unwrap();
    let attributes: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let value_of = |name: &str| {
        let entry = attributes.iter().find(|(_, v)| v == name).map(|(k, _)| k.trim_end_matches(".Name").to_owned())?;
        attributes.iter().find(|(k, _)| *k == format!("{entry}.Value.StringValue")).map(|(_, v)| v.clone())
    };
    assert_eq!(value_of("AWS.SNS.SMS.MaxPrice").as_deref(), Some("0.05"), "{body}");
    assert_eq!(value_of("AWS.SNS.SMS.SMSType").as_deref(), Some("Transactional"));
}
