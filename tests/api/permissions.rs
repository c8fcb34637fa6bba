//! Every AWS call a route makes is one its function's policies in template.yaml allow. DynamoDB Local and moto check
//! no permissions, so without this a missing action only shows deployed, as a 503 (AccessDenied) in production.

use std::collections::BTreeSet;

use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::template::{http_routes, policy_actions};
use serde_json::{Value, json};

/// The IAM actions one recorded call needs: a transaction needs the action of each of its steps.
fn actions_needed(service: &str, call: &RecordedCall) -> Vec<String> {
    let action = |name: &str| format!("{service}:{name}");
    let body: Value = call.request.as_ref().and_then(|r| serde_json::from_slice(&r.body).ok()).unwrap_or_default();
    match (service, call.operation.as_str()) {
        ("dynamodb", "TransactWriteItems") => {
            let steps = body["TransactItems"].as_array().cloned().unwrap_or_default();
            let step = |s: &Value| match s.as_object().and_then(|o| o.keys().next().cloned()).as_deref() {
                Some("Put") => action("PutItem"),
                Some("Update") => action("UpdateItem"),
                Some("Delete") => action("DeleteItem"),
                Some("ConditionCheck") => action("ConditionCheckItem"),
                other => panic!("unknown transaction step {other:?}"),
            };
            steps.iter().map(step).collect()
        }
        ("dynamodb", "TransactGetItems") => vec![action("GetItem")],
        ("s3", "HeadObject" | "GetObject") => vec![action("GetObject")],
        ("s3", "CopyObject") => vec![action("GetObject"), action("PutObject")],
        ("s3", "ListObjectsV2") => vec![action("ListBucket")],
        ("s3", "DeleteObjects") => vec![action("DeleteObject")],
        (_, operation) => vec![action(operation)],
    }
}

struct Recorded {
    dynamodb: CallRecorder,
    sns: CallRecorder,
    s3: CallRecorder,
}

async fn recorded_app(push_app: &str) -> (TestApp, Recorded) {
    let sdk = domain::app::sdk_config().await;
    let (dynamodb, dynamodb_calls) = recording_dynamodb().await;
    let (sns_calls, s3_calls) = (CallRecorder::default(), CallRecorder::default());
    let sns =
        aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&sdk).interceptor(sns_calls.clone()).build());
    let s3_config = domain::app::s3_client(&sdk).config().to_builder().interceptor(s3_calls.clone()).build();
    let vars = [("PUSH_FCM_APPLICATION_ARN", push_app)];
    let TestApp { app, clock, dynamodb, mesibo, metrics } = spawn_app_on(&vars, dynamodb, sns).await;
    let app = app.with_files(aws_sdk_s3::Client::from_conf(s3_config));
    (
        TestApp { app, clock, dynamodb, mesibo, metrics },
        Recorded { dynamodb: dynamodb_calls, sns: sns_calls, s3: s3_calls },
    )
}

/// Makes the call and checks what it made of AWS against the policies of the function serving its route.
async fn call_checked(t: &TestApp, recorded: &Recorded, call: HttpCall, missing: &mut BTreeSet<String>) -> Reply {
    let route = http_routes().into_iter().find(|r| r.matches(&call.path)).expect("a declared route");
    let allowed = policy_actions(&route.function);
    for recorder in [&recorded.dynamodb, &recorded.sns, &recorded.s3] {
        recorder.reset();
    }
    let described = format!("{} {}", call.method, call.path);
    let reply = t.call(call).await;
    for (service, recorder) in [("dynamodb", &recorded.dynamodb), ("sns", &recorded.sns), ("s3", &recorded.s3)] {
        for needed in recorder.calls().iter().flat_map(|c| actions_needed(service, c)) {
            if !allowed.contains(&needed) {
                missing.insert(format!("{}: {needed} ({described})", route.function));
            }
        }
    }
    reply
}

#[tokio::test]
async fn every_call_a_route_makes_is_allowed_by_its_functions_policy() {
    let push_app = fcm_application().await;
    let (t, recorded) = recorded_app(&push_app).await;
    let mut missing = BTreeSet::new();
    let [me, friend, other] = [random_phone(), random_phone(), random_phone()];
    let mut tokens = vec![];
    for phone in [&me, &friend, &other] {
        let login = HttpCall::post("/login").form(&[("phone", phone.e164())]);
        assert_eq!(call_checked(&t, &recorded, login, &mut missing).await.status, 200);
        let code = last_sms_code(phone.e164()).await.unwrap();
        let verify = HttpCall::post("/verify").form(&[("phone", phone.e164()), ("code", &code)]);
        let reply = call_checked(&t, &recorded, verify, &mut missing).await;
        tokens.push(reply.json["token"].as_str().unwrap().to_owned());
    }
    let token = tokens[0].clone();
    let post = |path: &str, body: Value| HttpCall::post(path).json(&body).bearer(&token);
    let api = |pairs: &[(&str, &str)]| {
        let mut all = vec![("token", token.as_str())];
        all.extend_from_slice(pairs);
        HttpCall::post("/api.php").form(&all)
    };
    let jpeg = {
        let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut jpeg = vec![];
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg).encode_image(&picture).unwrap();
        jpeg
    };
    let book = json!({ "phones": [friend.e164(), other.e164()] });
    let mut calls = vec![
        post("/getcontacts", book),
        post("/profile", json!({ "name": "Ada", "status": "here" })),
        HttpCall::post("/profile").bearer(&token).multipart(&[], &[("photo", "me.jpg", "image/jpeg", &jpeg)]),
        HttpCall::post("/upload")
            .bearer(&token)
            .multipart(&[("profile", "0")], &[("file", "a.jpg", "image/jpeg", &jpeg)]),
        post("/setgroup", json!({ "name": "Team", "m": friend.e164() })),
    ];
    // A device more than a person may keep replaces the oldest (its item and endpoint deleted).
    for i in 0..11 {
        calls.push(post("/setnotify", json!({ "notifytoken": format!("fcm-token-{i}-{}", random_hex(8)) })));
    }
    calls.extend([
        api(&[("op", "getcontacts"), ("phones", other.e164())]),
        api(&[("op", "setnotify"), ("notifytoken", &format!("fcm-token-api-{}", random_hex(8)))]),
        api(&[("op", "setgroup"), ("name", "Api team"), ("m", other.e164())]),
        api(&[("op", "upload"), ("profile", "0")]),
        api(&[("op", "logout")]),
    ]);
    for call in calls {
        let reply = call_checked(&t, &recorded, call, &mut missing).await;
        assert!(reply.status < 500, "{:?}", reply.json);
    }
    // The group's life: members, roles, a rename, removal, deletion.
    let token = tokens[1].clone();
    let post = |path: &str, body: Value| HttpCall::post(path).json(&body).bearer(&token);
    let book = post("/getcontacts", json!({ "phones": [me.e164(), other.e164()] }));
    call_checked(&t, &recorded, book, &mut missing).await;
    let created =
        call_checked(&t, &recorded, post("/setgroup", json!({ "name": "Pair", "m": me.e164() })), &mut missing);
    let gid = created.await.json["gid"].as_u64().expect("a group");
    for call in [
        post("/editmembers", json!({ "gid": gid, "m": other.e164() })),
        post("/setadmin", json!({ "gid": gid, "m": other.e164(), "admin": 1 })),
        post("/setgroup", json!({ "gid": gid, "name": "Trio" })),
        post("/getgroup", json!({ "gid": gid })),
        post("/editmembers", json!({ "gid": gid, "m": me.e164(), "delete": 1 })),
        post("/delgroup", json!({ "gid": gid })),
        post("/setnotify", json!({ "notifytoken": format!("fcm-token-friend-{}", random_hex(8)) })),
        post("/logout", json!({})),
    ] {
        let reply = call_checked(&t, &recorded, call, &mut missing).await;
        assert!(reply.status < 500, "{:?}", reply.json);
    }
    // Account deletion, with a fresh code.
    let token = tokens[2].clone();
    t.clock.advance(60);
    let login = HttpCall::post("/login").form(&[("phone", other.e164())]);
    call_checked(&t, &recorded, login, &mut missing).await;
    let code = last_sms_code(other.e164()).await.unwrap();
    let deletion = HttpCall::post("/deleteaccount").json(&json!({ "code": code })).bearer(&token);
    assert_eq!(call_checked(&t, &recorded, deletion, &mut missing).await.status, 200);
    assert!(
        missing.is_empty(),
        "template.yaml does not allow:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}
