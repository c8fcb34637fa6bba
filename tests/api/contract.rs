//! openapi.yaml is the API contract: its paths are the template's routes, and every response the handlers give
//! matches the schema it documents for that path, method and status.

use std::collections::BTreeSet;

use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::template::{function_names, http_routes};
use serde_json::{Value, json};

fn openapi() -> Value {
    let text = include_str!("../../openapi.yaml");
    serde_yaml_ng::from_str(text).expect("openapi.yaml is valid YAML")
}

/// Checks a response against the schema openapi.yaml gives for it; the reason when it does not match.
fn contract_violation(spec: &Value, path: &str, method: &str, reply: &Reply) -> Option<String> {
    let responses = &spec["paths"][path][method.to_ascii_lowercase()]["responses"];
    let Some(mut response) = responses.get(reply.status.to_string()) else {
        return Some(format!("{method} {path} does not document status {}", reply.status));
    };
    if let Some(reference) = response["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/responses/");
        response = &spec["components"]["responses"][name];
    }
    if let Some(headers) = response["headers"].as_object() {
        for (name, header) in headers {
            if header["required"] == true && !reply.headers.contains_key(name.to_ascii_lowercase().as_str()) {
                return Some(format!("{method} {path} {}: header {name} missing", reply.status));
            }
        }
    }
    if response.get("content").is_none() {
        return (!reply.json.is_null())
            .then(|| format!("{method} {path} {}: a body where none is documented", reply.status));
    }
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [response["content"]["application/json"]["schema"]],
        "components": spec["components"],
    });
    let validator = jsonschema::validator_for(&schema).expect("openapi.yaml schemas compile");
    let errors: Vec<String> =
        validator.iter_errors(&reply.json).map(|e| format!("{e} at {}", e.instance_path())).collect();
    (!errors.is_empty()).then(|| format!("{method} {path} {}: {errors:?} in {}", reply.status, reply.json))
}

#[test]
fn openapi_paths_are_the_template_routes() {
    let spec = openapi();
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_ascii_uppercase()))
        })
        .filter(|route| !route.starts_with("PARAMETERS"))
        .collect();
    let deployed: BTreeSet<String> = http_routes().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(documented, deployed);
}

#[test]
fn the_route_table_serves_exactly_the_template_paths() {
    let deployed: BTreeSet<String> = http_routes().iter().map(|r| r.path.clone()).collect();
    let served: BTreeSet<String> = shared::edge::routes::ROUTES.iter().map(|(path, _)| path.to_string()).collect();
    assert_eq!(deployed, served);
}

/// The binary a function of the template is built from, and its `main`'s source.
fn main_of(template: &serde_yaml_ng::Value, function: &str) -> (String, String) {
    let binary = template["Resources"][function]["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
    let main = format!("{}/../functions/{binary}/src/main.rs", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{function}: {main}: {e}"));
    (binary.to_owned(), text)
}

/// Every function of the template is built from a binary of `functions/` that serves what the template sends it:
/// HTTP routes through the route table, the stream through the notifier (or, mesibo mode's reader, the mesibo sync).
#[test]
fn every_function_of_the_template_has_its_binary() {
    let template = local_stack::template::template();
    let names = function_names();
    assert!(names.len() >= 7);
    for name in names {
        let (binary, main) = main_of(&template, &name);
        let http = http_routes().iter().any(|r| r.function == name);
        let serve = match (http, name.as_str()) {
            (true, _) => "serve_http!(",
            (false, "MesiboFunction") => "serve_mesibo_stream()",
            (false, "KeyRotationFunction") => "serve_key_rotation()",
            (false, "FanoutFunction") => "serve_fanout()",
            (false, "SmsProtectFunction") => "serve_sms_protect()",
            (false, "BackfillFunction") => "serve_backfill()",
            (false, _) => "serve_stream()",
        };
        assert!(main.contains(serve), "{name} ({binary}) does not call {serve}");
        // `make sam-build` builds every binary ahead of `sam build`, which would otherwise link it alone.
        let makefile = include_str!("../../Makefile");
        let bins = makefile.lines().find_map(|l| l.strip_prefix("FUNCTION_BINS := ")).expect("FUNCTION_BINS");
        assert!(bins.split_whitespace().any(|b| b == binary), "{binary} is not in the Makefile's FUNCTION_BINS");
    }
}

/// Each HTTP function's `main` names the operations it serves, and those are exactly the routes the template sends
/// it: the route table (path → operation), the mains (function → operations) and the template (path → function)
/// agree, so no function answers a route its IAM policy was not written for.
#[test]
fn each_function_serves_exactly_the_routes_the_template_sends_it() {
    use shared::edge::routes::{Operation, ROUTES};
    let template = local_stack::template::template();
    let routes = http_routes();
    let functions: BTreeSet<&str> = routes.iter().map(|r| r.function.as_str()).collect();
    let mut named_anywhere = BTreeSet::new();
    for function in functions {
        let (binary, main) = main_of(&template, function);
        let served = operations_served_by(&main).unwrap_or_else(|| panic!("{function} ({binary}) calls no serve_http"));
        assert!(!served.is_empty(), "{function} ({binary}) names no operation");
        let paths_of_main: BTreeSet<&str> =
            ROUTES.iter().filter(|(_, o)| served.contains(o)).map(|(path, _)| *path).collect();
        let paths_of_template: BTreeSet<&str> =
            routes.iter().filter(|r| r.function == function).map(|r| r.path.as_str()).collect();
        assert_eq!(paths_of_main, paths_of_template, "{function}: what its main serves, what the template sends it");
        for operation in served {
            assert!(named_anywhere.insert(format!("{operation:?}")), "{operation:?} is served by two functions");
        }
    }
    let every: BTreeSet<String> = Operation::ALL.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(named_anywhere, every, "every operation is served by one function");
}

/// The operations a `main` names in `serve_http!` (comments aside); `None` when it serves no HTTP.
fn operations_served_by(main: &str) -> Option<Vec<shared::edge::routes::Operation>> {
    use shared::edge::routes::Operation;
    let code: String = main.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let (list, _) = code.split_once("serve_http!(")?.1.split_once(")")?;
    let named = list.split(',').map(str::trim).filter(|o| !o.is_empty());
    let operation = |name: &str| {
        let found = Operation::ALL.iter().find(|o| format!("Operation::{o:?}") == name);
        *found.unwrap_or_else(|| panic!("{name} is no operation"))
    };
    Some(named.map(operation).collect())
}

/// Each function is given the settings it reads and no others (`shared::edge::settings`): the template's variables
/// for it (Globals' and its own, those deployed) are exactly the settings of what its `main` serves.
#[test]
fn each_function_is_given_exactly_the_settings_it_reads() {
    use shared::edge::settings::Settings;
    let template = local_stack::template::template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for function in function_names() {
        let (binary, main) = main_of(&template, &function);
        let own = &template["Resources"][function.as_str()]["Properties"]["Environment"]["Variables"];
        let given: BTreeSet<String> = [globals, own]
            .into_iter()
            .filter_map(|variables| variables.as_mapping())
            .flatten()
            .filter(|(_, value)| !is_no_value(value))
            .map(|(name, _)| name.as_str().unwrap().to_owned())
            .collect();
        let reads = if let Some(served) = operations_served_by(&main) {
            Some(Settings::served_by(&served))
        } else if main.contains("serve_stream()") || main.contains("serve_fanout()") {
            Some(Settings::news())
        } else if main.contains("serve_mesibo_stream()") {
            Some(Settings::mesibo_sync())
        } else if main.contains("serve_backfill()") {
            Some(Settings::backfill())
        } else {
            assert!(main.contains("serve_key_rotation()") || main.contains("serve_sms_protect()"), "{binary}");
            None
        };
        let reads: BTreeSet<String> = reads.iter().flat_map(|s| s.names()).map(str::to_owned).collect();
        let missing: Vec<_> = reads.difference(&given).collect();
        let extra: Vec<_> = given.difference(&reads).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{function}: not given {missing:?}; given but not read {extra:?}"
        );
    }
}

/// `!Ref AWS::NoValue`: a variable declared for `sam local invoke --env-vars` only, and dropped when deployed.
fn is_no_value(value: &serde_yaml_ng::Value) -> bool {
    matches!(value, serde_yaml_ng::Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::NoValue"))
}

#[test]
fn the_contract_check_has_teeth() {
    let spec = openapi();
    let bad = |json: Value, status: u16| Reply { status, headers: Default::default(), json };
    let ok_login = json!({"op": "login", "result": "OK", "ts": 1, "resend_after": 30});
    assert_eq!(contract_violation(&spec, "/login", "POST", &bad(ok_login.clone(), 200)), None);
    for broken in [
        json!({"op": "login", "result": null, "ts": 1, "resend_after": 30}),
        json!({"op": "login", "result": "OK", "ts": "1", "resend_after": 30}),
        json!({"op": "login", "result": "OK", "ts": 1}),
        json!({"op": "login", "result": "OK", "ts": 1, "resend_after": 30, "code": "123456"}),
    ] {
        assert!(contract_violation(&spec, "/login", "POST", &bad(broken, 200)).is_some());
    }
    assert!(contract_violation(&spec, "/login", "POST", &bad(ok_login, 418)).is_some(), "undocumented status");
    let limited =
        json!({"op": "login", "result": "FAIL", "ts": 1, "error": "RATELIMIT", "errmsg": "wait", "retry_after": 3});
    assert!(contract_violation(&spec, "/login", "POST", &bad(limited, 429)).is_some(), "429 without Retry-After");
}

#[tokio::test]
async fn handler_responses_match_openapi() {
    let spec = openapi();
    let t = spawn_app().await;
    let phone = random_phone();
    let p = phone.e164();
    let mut seen = vec![];
    let mut check_method = |method: &str, path: &str, reply: Reply| {
        if let Some(violation) = contract_violation(&spec, path, method, &reply) {
            panic!("{violation}");
        }
        seen.push(format!("{method} {path} {} {}", reply.status, reply.error()));
    };
    let mut check = |path: &str, reply: Reply| check_method("POST", path, reply);
    check("/login", t.login(p).await);
    check("/login", t.login(p).await);
    check("/login", t.call(HttpCall::post("/login")).await);
    check("/login", t.call(HttpCall::post("/login").json(&json!({"phone": "x"}))).await);
    check("/login", t.call(HttpCall { body: vec![b'{'; 65 * 1024], ..HttpCall::post("/login") }).await);
    check("/login", t.call(HttpCall::post("/login").json(&json!({"phone": "+19002345678"}))).await);
    let code = last_sms_code(p).await.unwrap();
    let wrong = if code == "111111" { "222222" } else { "111111" };
    check("/verify", t.verify(p, wrong).await);
    check("/verify", t.verify(p, &code).await);
    check("/verify", t.verify(p, &code).await);
    check("/verify", t.call(HttpCall::post("/verify").form(&[("phone", p)])).await);
    let other = random_phone();
    t.login(other.e164()).await;
    for _ in 0..6 {
        check("/verify", t.verify(other.e164(), wrong).await);
    }

    let token = t.sign_in(random_phone().e164()).await;
    let friend = random_phone();
    let now = shared::Clock::now(t.clock.as_ref());
    let profile = shared::model::profile::Profile {
        phone: friend.clone(),
        name: "F".into(),
        status: "s".into(),
        photo: "p.jpg".into(),
        tn: String::new(),
        created_at: now,
        updated_at: now,
        mesibo_uid: None,
    };
    t.app.store.put_profile(&profile).await.unwrap();
    let post = |path: &str, body: Value| HttpCall::post(path).json(&body).bearer(&token);
    let get =
        |path: &str, query: &[(&str, &str)]| HttpCall { method: "GET".into(), ..HttpCall::post(path) }.query(query);
    check("/getcontacts", t.call(post("/getcontacts", json!({"phones": [friend.e164(), "junk"]}))).await);
    check("/getcontacts", t.call(HttpCall::post("/getcontacts").form(&[("token", "nope")])).await);
    check("/getcontacts", t.call(post("/getcontacts", json!({"ts": "x"}))).await);
    let too_many: Vec<String> = (0..5001).map(|i| i.to_string()).collect();
    check("/getcontacts", t.call(post("/getcontacts", json!({"phones": too_many}))).await);
    check("/profile", t.call(post("/profile", json!({"name": "Zed"}))).await);
    check("/profile", t.call(post("/profile", json!({}))).await);
    check("/delcontacts", t.call(post("/delcontacts", json!({"phones": [friend.e164()]}))).await);
    check("/setnotify", t.call(post("/setnotify", json!({"notifytoken": "t", "platform": "fcm"}))).await);
    check("/export", t.call(post("/export", json!({}))).await);
    check("/deleteaccount", t.call(post("/deleteaccount", json!({}))).await);
    let newcomer = random_phone();
    t.app
        .store
        .put_profile(&shared::model::profile::Profile { phone: newcomer.clone(), ..profile.clone() })
        .await
        .unwrap();
    check("/getcontacts", t.call(post("/getcontacts", json!({"phones": [friend.e164(), newcomer.e164()]}))).await);
    let group = t.call(post("/setgroup", json!({"name": "G", "m": [friend.e164()]}))).await;
    let gid = group.json["gid"].as_u64().unwrap_or_default().to_string();
    check("/setgroup", group);
    check("/editmembers", t.call(post("/editmembers", json!({"gid": gid, "m": newcomer.e164()}))).await);
    check("/editmembers", t.call(post("/editmembers", json!({"gid": gid, "m": random_phone().e164()}))).await);
    let removed = json!({"gid": gid, "m": newcomer.e164(), "delete": 1});
    check("/editmembers", t.call(post("/editmembers", removed)).await);
    check("/editmembers", t.call(post("/editmembers", json!({"gid": gid, "m": newcomer.e164()}))).await);
    check("/setadmin", t.call(post("/setadmin", json!({"gid": gid, "m": friend.e164(), "admin": 1}))).await);
    check("/getgroup", t.call(post("/getgroup", json!({"gid": "12345678"}))).await);
    check("/delgroup", t.call(post("/delgroup", json!({"gid": gid}))).await);
    let mut jpeg = vec![];
    let picture = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30]));
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg).encode_image(&picture).unwrap();
    let file = |fields: &[(&str, &str)], bytes: &[u8]| {
        HttpCall::post("/upload").multipart(fields, &[("photo", "me.jpg", "image/jpeg", bytes)]).bearer(&token)
    };
    let uploaded = t.call(file(&[("profile", "1")], &jpeg)).await;
    let photo = uploaded.json["photo"].as_str().unwrap_or_default().to_owned();
    check("/upload", uploaded);
    check("/upload", t.call(file(&[], b"MZ\x90\0\x03\0\0\0")).await);
    check("/upload", t.call(post("/upload", json!({"profile": 1}))).await);
    check("/upload", t.call(post("/upload", json!({"size": 1000}))).await);
    check("/upload", t.call(post("/upload", json!({"uploaded": "0123456789abcdef0123456789abcdef"}))).await);
    let mut check = |path: &str, reply: Reply| check_method("GET", path, reply);
    check("/getcontacts", t.call(get("/getcontacts", &[("token", &token), ("ts", "0")])).await);
    check("/getcontacts", t.call(get("/getcontacts", &[("token", &token), ("ts", "1")])).await);
    check("/getgroup", t.call(get("/getgroup", &[("token", &token), ("gid", &gid)])).await);
    check("/files/{name}", t.call(get(&format!("/files/{photo}"), &[])).await);
    check("/files/{name}", t.call(get("/files/nothing.jpg", &[])).await);
    check("/api.php", t.call(get("/api.php", &[("token", &token)])).await);
    check("/api.php", t.call(get("/api.php", &[("op", "getcontacts"), ("token", &token)])).await);
    let mut check = |path: &str, reply: Reply| check_method("POST", path, reply);
    check("/logout", t.call(post("/logout", json!({}))).await);
    check("/logout", t.call(post("/logout", json!({}))).await);

    for expected in [
        "/login 200 ",
        "/login 429 RATELIMIT",
        "/login 400 MISSINGPARA",
        "/login 400 BADPHONE",
        "/login 413 TOOLARGE",
        "/login 400 NOTMOBILE",
        "/verify 401 BADCODE",
        "/verify 200 ",
        "/verify 401 CODEEXPIRED",
        "/verify 400 MISSINGPARA",
        "/verify 429 TOOMANYATTEMPTS",
        "POST /getcontacts 200 ",
        "/getcontacts 401 AUTHFAIL",
        "/getcontacts 400 BADREQUEST",
        "/getcontacts 400 TOOMANY",
        "GET /getcontacts 200 ",
        "/profile 200 ",
        "/profile 400 MISSINGPARA",
        "/delcontacts 200 ",
        "/setnotify 200 ",
        "/export 200 ",
        "/deleteaccount 400 MISSINGPARA",
        "/setgroup 200 ",
        "/editmembers 200 ",
        "/editmembers 403 NOTCONTACT",
        "/editmembers 403 RECENTLYLEFT",
        "/setadmin 200 ",
        "/getgroup 400 BADGROUP",
        "GET /getgroup 400 BADGROUP",
        "/delgroup 200 ",
        "/upload 200 ",
        "/upload 415 BADFILETYPE",
        "/upload 400 MISSINGFILE",
        "/upload 404 NOTFOUND",
        "GET /files/{name} 302 ",
        "GET /files/{name} 404 NOTFOUND",
        "GET /api.php 200 NOOP",
        "GET /api.php 200 ",
        "/logout 200 ",
        "/logout 401 AUTHFAIL",
    ] {
        assert!(seen.iter().any(|s| s.ends_with(expected)), "{expected} not exercised: {seen:?}");
    }
}

/// With the front door on, every route refuses a request that went around it, as openapi.yaml documents.
#[tokio::test]
async fn every_route_refuses_a_request_around_the_front_door_as_documented() {
    let spec = openapi();
    let t = spawn_app_with(&[("FRONT_DOOR_SECRET", "front-door-origin-secret-for-the-contract-test")]).await;
    for route in http_routes() {
        let path = route.path.replace("{name}", "p1-0123456789abcdef0123456789abcdef.jpg");
        let call = HttpCall { method: route.method.clone(), ..HttpCall::post(&path) };
        let reply = t.call(call).await;
        assert_eq!((reply.status, reply.error()), (403, "DIRECTACCESS"), "{} {}", route.method, route.path);
        if let Some(violation) = contract_violation(&spec, &route.path, &route.method, &reply) {
            panic!("{violation}");
        }
    }
}

/// template.yaml's Parameters map 1:1 onto the environment the functions read, and Config reads every variable.
#[test]
fn template_parameters_map_one_to_one_onto_config() {
    let template = local_stack::template::template();
    let parameters: BTreeSet<String> =
        template["Parameters"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    // Every function's settings: those all share (Globals) and those of one function only.
    let functions = template["Resources"].as_mapping().unwrap().values();
    let of_one = functions.filter_map(|r| r["Properties"]["Environment"]["Variables"].as_mapping());
    let globals = template["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap();
    let variables: Vec<_> = std::iter::once(globals).chain(of_one).flatten().collect();
    // Config reads the settings; the app reads where the secret ones are (`*_SECRET_ARN`) at start.
    let config_source = [
        include_str!("../../shared/src/config/mod.rs"),
        include_str!("../../shared/src/config/settings.rs"),
        include_str!("../../shared/src/app.rs"),
    ]
    .concat();
    fn refs(value: &serde_yaml_ng::Value, found: &mut BTreeSet<String>) {
        match value {
            serde_yaml_ng::Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                found.insert(tagged.value.as_str().unwrap().to_owned());
            }
            serde_yaml_ng::Value::Tagged(tagged) => refs(&tagged.value, found),
            serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }
    let mut referenced = BTreeSet::new();
    for (name, value) in variables {
        let name = name.as_str().unwrap();
        // Declared for `sam local invoke --env-vars` only (the SDK reads them), dropped when deployed.
        if is_no_value(value) {
            assert!(name.starts_with("AWS_ENDPOINT_URL_"), "{name} is declared but never set");
            continue;
        }
        assert!(
            config_source.contains(&format!("\"{name}\"")),
            "{name} is set by the template but never read by Config"
        );
        refs(value, &mut referenced);
    }
    let infrastructure = [
        "Architecture",
        "LogLevel",
        "LogRetentionDays",
        "CodeKeyRotationDays",
        "FanoutConcurrency",
        "AlarmTarget",
        "DeploymentType",
        "MonthlyBudgetUsd",
        "AccountConcurrencyAlarmAt",
        "SmsMonthlySpendAlarmUsd",
        "SignInThrottleRateLimit",
        "SignInThrottleBurstLimit",
        "ThrottleRateLimit",
        "ThrottleBurstLimit",
        "SubnetIds",
        "SecurityGroupIds",
        "AttachmentDays",
        // A launch's pre-warmed table (docs/SCALE.md): DynamoDB's, no function reads it.
        "WarmReadUnitsPerSecond",
        "WarmWriteUnitsPerSecond",
        // The SMS protect configuration is the account's, set by a custom resource; no function reads it.
        "SmsProtect",
        // The front door is infrastructure in front of the functions; they learn of it from FRONT_DOOR_SECRET_ARN.
        "FrontDoor",
        "FrontDoorWebAclArn",
        "FrontDoorSignInLimit",
        "FrontDoorRequestLimit",
        // CORS is API Gateway's: it answers browsers before any function runs.
        "AllowedOrigins",
    ];
    for parameter in &parameters {
        if !infrastructure.contains(&parameter.as_str()) {
            assert!(referenced.contains(parameter), "parameter {parameter} reaches no environment variable");
        }
    }
    // The rest name the stack's own resources (a table, a secret, a queue) or the stack itself.
    let resources: BTreeSet<String> =
        template["Resources"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    let unknown: Vec<&String> = referenced
        .iter()
        .filter(|r| !parameters.contains(*r) && !resources.contains(*r) && r.as_str() != "AWS::StackName")
        .collect();
    assert!(unknown.is_empty(), "environment variables refer to what the template does not define: {unknown:?}");
}

#[test]
fn the_dashboard_and_alarms_read_the_metrics_the_functions_write() {
    use serde_yaml_ng::Value as Yaml;
    let template = local_stack::template::template();
    let resources: Vec<&Yaml> = template["Resources"].as_mapping().unwrap().values().collect();
    let of_type = |kind: &'static str| resources.iter().copied().filter(move |r| r["Type"].as_str() == Some(kind));
    let stack_namespace =
        |value: &Yaml| matches!(value, Yaml::Tagged(t) if t.tag == "!Ref" && t.value == "AWS::StackName");
    // The EMF adapter's table of metrics (its module comment) lists what the functions write; the metric filters
    // add theirs.
    let emf = include_str!("../../shared/src/adapters/emf.rs");
    let written: BTreeSet<String> = emf
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `")?.split('`').next().map(str::to_owned))
        .filter(|name| emf.contains(&format!("(\"{name}\", ")))
        .collect();
    assert!(written.len() >= 6, "the adapter's table: {written:?}");
    let mut known = written.clone();
    for filter in of_type("AWS::Logs::MetricFilter") {
        for transformation in filter["Properties"]["MetricTransformations"].as_sequence().unwrap() {
            known.insert(transformation["MetricName"].as_str().unwrap().to_owned());
        }
    }
    for alarm in of_type("AWS::CloudWatch::Alarm").filter(|a| stack_namespace(&a["Properties"]["Namespace"])) {
        let metric = alarm["Properties"]["MetricName"].as_str().unwrap();
        assert!(known.contains(metric), "an alarm reads {metric}, which nothing writes");
    }
    let dashboard = of_type("AWS::CloudWatch::Dashboard").next().expect("a dashboard");
    let Yaml::Tagged(body) = &dashboard["Properties"]["DashboardBody"] else { panic!("the dashboard body is a !Sub") };
    // A JSON document (the !Sub's names are inside its strings): the stack's metrics are those of its metric rows
    // (["${AWS::StackName}", "Name", ...]) and those its SEARCH expressions name (MetricName="Name").
    let body: Value = serde_json::from_str(body.value.as_str().unwrap()).expect("the dashboard body is JSON");
    let rows = body["widgets"].as_array().unwrap().iter().flat_map(|w| w["properties"]["metrics"].as_array().unwrap());
    let mut shown = BTreeSet::new();
    for row in rows {
        if row[0] == "${AWS::StackName}" {
            shown.insert(row[1].as_str().unwrap().to_owned());
        }
        for search in row[0]["expression"].as_str().unwrap_or_default().split("MetricName=\"").skip(1) {
            shown.insert(search.chars().take_while(|c| c.is_ascii_alphanumeric()).collect());
        }
    }
    assert!(shown.is_subset(&known), "the dashboard shows {:?}, which nothing writes", shown.difference(&known));
    assert!(written.is_subset(&shown), "the dashboard leaves out {:?}", written.difference(&shown));
}

/// template.yaml makes the functions' log groups and alarms in loops (`Fn::ForEach`): each function still has its
/// log group, which it logs to, and its Errors and Throttles alarms, each under the function's own condition, so a
/// loop cannot leave one out unnoticed.
#[test]
fn every_function_has_its_log_group_and_its_errors_and_throttles_alarms() {
    let template = local_stack::template::template();
    let resources = &template["Resources"];
    // SmsProtectFunction answers CloudFormation, which reports a failed stack operation itself; KeyRotationFunction
    // runs a few times a month, one step at a time, so it is never throttled for long (its Errors alarm says when a
    // rotation failed).
    // BackfillFunction is invoked by the operator, who reads its answer (an error included).
    let no_alarms = ["SmsProtectFunction", "BackfillFunction"];
    let no_throttles_alarm = ["KeyRotationFunction", "SmsProtectFunction", "BackfillFunction"];
    let names = function_names();
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let function = &resources[name.as_str()];
        let logs = format!("{name}Logs");
        assert_eq!(resources[logs.as_str()]["Type"], "AWS::Logs::LogGroup", "{logs}");
        assert_eq!(resources[logs.as_str()]["Condition"], function["Condition"], "{logs}");
        let retention = format!("{:?}", resources[logs.as_str()]["Properties"]["RetentionInDays"]);
        assert!(retention.contains("LogRetentionDays"), "{logs} keeps logs {retention}");
        let group = format!("{:?}", function["Properties"]["LoggingConfig"]["LogGroup"]);
        assert!(group.contains(&format!("\"{logs}\"")), "{name} logs to {group}, not {logs}");
        for metric in ["Errors", "Throttles"] {
            if no_alarms.contains(&name.as_str())
                || (metric == "Throttles" && no_throttles_alarm.contains(&name.as_str()))
            {
                continue;
            }
            let alarm = &resources[format!("{name}{metric}Alarm").as_str()];
            assert_eq!(alarm["Type"], "AWS::CloudWatch::Alarm", "{name} has no {metric} alarm");
            assert_eq!(alarm["Condition"], function["Condition"], "{name}'s {metric} alarm");
            let properties = &alarm["Properties"];
            // `!Ref Name`, or in a loop `!Sub '${Name}'` (cfn-lint substitutes no loop identifier inside a `!Ref`).
            let watched = [format!("\"{name}\""), format!("\"${{{name}}}\"")];
            let metrics = alarm_metrics(properties);
            let reads = |(namespace, read, dimensions): &(serde_yaml_ng::Value, String, String)| {
                namespace == "AWS/Lambda" && read == metric && watched.iter().any(|w| dimensions.contains(w))
            };
            assert!(metrics.iter().any(reads), "{name}'s {metric} alarm reads {metrics:?}");
            assert!(format!("{:?}", properties["AlarmActions"]).contains("AlarmTopic"), "{name}'s {metric} alarm");
        }
    }
}

/// Each metric an alarm reads, as `(namespace, metric name, its dimensions as written)`: one (`MetricName`), or each
/// of its metric math's (`Metrics`).
fn alarm_metrics(properties: &serde_yaml_ng::Value) -> Vec<(serde_yaml_ng::Value, String, String)> {
    if let Some(name) = properties["MetricName"].as_str() {
        return vec![(properties["Namespace"].clone(), name.to_owned(), format!("{:?}", properties["Dimensions"]))];
    }
    let metrics = properties["Metrics"].as_sequence().into_iter().flatten();
    let read = metrics.map(|m| &m["MetricStat"]["Metric"]).filter_map(|metric| {
        let name = metric["MetricName"].as_str()?.to_owned();
        Some((metric["Namespace"].clone(), name, format!("{:?}", metric["Dimensions"])))
    });
    read.collect()
}

/// Every alarm reaches someone, and says so when it clears: its actions and its OK actions are the same, AlarmTopic
/// (which AlarmTarget's address is subscribed to) and the topic AlarmTarget names, if it names one. And every alarm
/// reads a metric something emits: one AWS publishes for a resource of this stack (or for the account), or one of
/// the stack's own namespace that the functions or a metric filter write.
#[test]
fn every_alarm_reaches_someone_and_reads_a_metric_something_emits() {
    use serde_yaml_ng::Value as Yaml;
    let template = local_stack::template::template();
    let resources = template["Resources"].as_mapping().unwrap();
    let names: Vec<&str> = resources.keys().filter_map(Yaml::as_str).collect();
    // What AWS publishes, per namespace, that these alarms read (each for the resource in its dimensions).
    let published = [
        ("AWS/Lambda", &["Errors", "Invocations", "Throttles", "IteratorAge", "ConcurrentExecutions"][..]),
        ("AWS/ApiGateway", &["5xx", "Count", "Latency"][..]),
        ("AWS/DynamoDB", &["ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"][..]),
        ("AWS/SQS", &["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"][..]),
        ("AWS/SNS", &["SMSSuccessRate", "SMSMonthToDateSpentUSD"][..]),
        ("AWS/WAFV2", &["BlockedRequests"][..]),
    ];
    // Per account and region, not per resource.
    let account_wide = ["ConcurrentExecutions", "SMSSuccessRate", "SMSMonthToDateSpentUSD"];
    let emf = include_str!("../../shared/src/adapters/emf.rs");
    let filters: Vec<String> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Logs::MetricFilter")
        .flat_map(|f| f["Properties"]["MetricTransformations"].as_sequence().unwrap().clone())
        .map(|t| t["MetricName"].as_str().unwrap().to_owned())
        .collect();
    let mut alarms = 0;
    for (name, alarm) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm") {
        alarms += 1;
        let properties = &alarm["Properties"];
        let actions = format!("{:?}", properties["AlarmActions"]);
        assert!(actions.contains("AlarmTopic") && actions.contains("AlarmTarget"), "{name:?} tells {actions}");
        assert_eq!(actions, format!("{:?}", properties["OKActions"]), "{name:?} says when it clears");
        let metrics = alarm_metrics(properties);
        assert!(!metrics.is_empty(), "{name:?} reads no metric");
        for (namespace, metric, dimensions) in metrics {
            let own = matches!(&namespace, Yaml::Tagged(t) if t.tag == "!Ref" && t.value == "AWS::StackName");
            match namespace.as_str().filter(|_| !own) {
                Some(aws) => {
                    let known = published.iter().find(|(ns, _)| *ns == aws).map(|(_, m)| m.contains(&metric.as_str()));
                    assert_eq!(
                        known,
                        Some(true),
                        "{name:?} reads {aws} {metric}, which nothing here makes AWS publish"
                    );
                    // `!Ref R`, `!GetAtt R.Attribute`, or (loops) `!Sub '${R}'`.
                    let named = |r: &&str| {
                        [format!("\"{r}\""), format!("\"{r}."), format!("${{{r}}}")]
                            .iter()
                            .any(|n| dimensions.contains(n))
                    };
                    let of_a_resource = names.iter().any(named)
                        || dimensions.contains("AWS::StackName")
                        || dimensions.contains("${Name}Function");
                    let account = account_wide.contains(&metric.as_str()) && dimensions == "Null";
                    assert!(
                        of_a_resource || account,
                        "{name:?} reads {metric} of {dimensions}, no resource of the stack"
                    );
                }
                None => {
                    assert!(format!("{namespace:?}").contains("AWS::StackName"), "{name:?} reads {namespace:?}");
                    let written = emf.contains(&format!("(\"{metric}\", ")) || filters.contains(&metric);
                    assert!(written, "{name:?} reads {metric}, which neither the functions nor a metric filter write");
                }
            }
        }
    }
    assert!(alarms >= 25, "{alarms} alarms");
}
