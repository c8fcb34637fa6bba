//! Browsers: the deployed API's CORS (template.yaml's `CorsConfiguration`, answered by API Gateway), the front door
//! passing preflights through, `make dev` answering them from the same block (local_stack::cors), and the web
//! client's words for every error code of the contract.

use std::collections::BTreeSet;

use local_stack::cors::Cors;
use local_stack::dev_console::is_loopback_host;
use local_stack::template::template;
use serde_yaml_ng::Value;

fn http_api() -> Value {
    let template = template();
    let apis: Vec<Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
        .cloned()
        .collect();
    assert_eq!(apis.len(), 1, "one HTTP API");
    apis[0].clone()
}

#[test]
fn the_api_declares_cors_from_the_allowed_origins_parameter() {
    let template = template();
    let parameter = &template["Parameters"]["AllowedOrigins"];
    assert_eq!(parameter["Default"].as_str(), Some("*"), "any page by default: tokens never ride in cookies");
    let cors = Cors::from_template(&template, None).expect("make dev reads the template's CORS").expect("on");
    assert_eq!(cors.origins, ["*"]);
    assert_eq!(cors.methods, ["GET", "POST"]);
    assert_eq!(cors.headers, ["Authorization", "Content-Type"]);
    assert_eq!(cors.expose_headers, ["Retry-After"], "a page reads how long to wait after a 429");
    assert!((600..=7200).contains(&cors.max_age), "Chromium caches a preflight two hours at most");
    // Nothing rides in cookies: credentials are never allowed (and * with credentials is refused by browsers).
    assert!(!format!("{:?}", http_api()["Properties"]["CorsConfiguration"]).contains("AllowCredentials"));
    let listed =
        Cors::from_template(&template, Some("https://app.example.com,http://localhost:3000")).unwrap().unwrap();
    assert_eq!(listed.origins, ["https://app.example.com", "http://localhost:3000"]);
    assert_eq!(Cors::from_template(&template, Some("")), Ok(None), "empty: no CORS at all");
    for wrong in ["app.example.com", "https://app.example.com/", "https://*.example.com", "*,https://a.example"] {
        assert!(Cors::from_template(&template, Some(wrong)).is_err(), "{wrong:?} is not a list of origins");
    }
}

#[test]
fn the_allowed_origins_pattern_takes_what_make_dev_takes() {
    // The parameter's AllowedPattern (what CloudFormation lets through to API Gateway) and the dev server's reading
    // of ALLOWED_ORIGINS accept and refuse the same values.
    let template = template();
    let pattern = template["Parameters"]["AllowedOrigins"]["AllowedPattern"].as_str().unwrap();
    let pattern = regex_lite::Regex::new(pattern).unwrap();
    for value in [
        "*",
        "https://app.example.com",
        "http://localhost:3000,https://a.example",
        "http://127.0.0.1:3000",
        "",
        "x",
        "https://a/",
        "https://a.example,",
        "https://a.example, https://b.example",
        "https://*.example.com",
        "**",
    ] {
        assert_eq!(pattern.is_match(value), Cors::from_template(&template, Some(value)).is_ok(), "{value:?}");
    }
}

#[test]
fn preflights_are_answered_as_api_gateway_answers_them() {
    let cors = Cors::from_template(&template(), Some("https://app.example.com")).unwrap().unwrap();
    let allowed = cors
        .preflight("OPTIONS", Some("https://app.example.com"), Some("POST"), Some("authorization, content-type"))
        .expect("a preflight");
    let header =
        |headers: &[(&str, String)], name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    assert_eq!(header(&allowed, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(header(&allowed, "access-control-allow-methods").as_deref(), Some("GET,POST"));
    assert_eq!(header(&allowed, "access-control-allow-headers").as_deref(), Some("authorization,content-type"));
    assert_eq!(header(&allowed, "access-control-max-age").as_deref(), Some("7200"));
    assert_eq!(header(&allowed, "vary").as_deref(), Some("Origin"), "the answer depends on the page");
    // Refused: another origin, a method or a header not allowed. Answered (204), with no CORS header at all.
    for (origin, method, headers) in [
        ("https://evil.example", "POST", "content-type"),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "POST", "x-api-key"),
    ] {
        let refused = cors.preflight("OPTIONS", Some(origin), Some(method), Some(headers)).expect("a preflight");
        assert!(refused.is_empty(), "{origin} {method} {headers}: {refused:?}");
    }
    // Not preflights: they go to the routes.
    assert_eq!(cors.preflight("OPTIONS", None, Some("POST"), None), None);
    assert_eq!(cors.preflight("OPTIONS", Some("https://app.example.com"), None, None), None);
    assert_eq!(cors.preflight("POST", Some("https://app.example.com"), Some("POST"), None), None);
    // Answers: the allowed origin reads them (and Retry-After); a refused one and a request without Origin get none.
    let answer = cors.answer_headers(Some("https://app.example.com"));
    assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(header(&answer, "access-control-expose-headers").as_deref(), Some("retry-after"));
    assert!(cors.answer_headers(Some("https://evil.example")).is_empty());
    assert!(cors.answer_headers(None).is_empty());
    let any = Cors::from_template(&template(), None).unwrap().unwrap();
    assert_eq!(
        header(&any.answer_headers(Some("https://anyone.example")), "access-control-allow-origin").as_deref(),
        Some("*")
    );
}

#[test]
fn the_front_door_passes_preflights_and_origin_to_api_gateway() {
    let template = template();
    let behaviour =
        &template["Resources"]["FrontDoorDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
    let methods: BTreeSet<&str> =
        behaviour["AllowedMethods"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(methods.contains("OPTIONS"), "preflights reach API Gateway, which answers them");
    // Managed AllViewerExceptHostHeader: Origin and the Access-Control-Request-* headers are forwarded.
    assert_eq!(behaviour["OriginRequestPolicyId"].as_str(), Some("b689b0a8-53d0-40ab-baf2-68738e2966ac"));
    // Managed CachingDisabled: no answer for one origin is served to another.
    assert_eq!(behaviour["CachePolicyId"].as_str(), Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"));
    // WAF answers its own 429 before API Gateway adds CORS: with any origin allowed, it says so itself, so a page
    // reads RATELIMIT (and Retry-After) instead of a failed request.
    let any_browser = serde_yaml_ng::from_str::<Value>("!Equals [!Ref AllowedOrigins, '*']").unwrap();
    assert_eq!(format!("{:?}", template["Conditions"]["AnyBrowser"]), format!("{any_browser:?}"));
    let rules = template["Resources"]["FrontDoorWebAcl"]["Properties"]["Rules"].as_sequence().unwrap();
    assert!(rules.len() >= 2);
    for rule in rules {
        let response = &rule["Action"]["Block"]["CustomResponse"];
        assert_eq!(response["ResponseCode"].as_u64(), Some(429));
        let Value::Tagged(choice) = &response["ResponseHeaders"] else { panic!("{rule:?}: headers by AnyBrowser") };
        let branches = choice.value.as_sequence().unwrap();
        assert_eq!(choice.tag, "!If");
        assert_eq!(branches[0].as_str(), Some("AnyBrowser"));
        let names = |headers: &Value| -> Vec<(String, String)> {
            let pair = |h: &Value| (h["Name"].as_str().unwrap().to_owned(), h["Value"].as_str().unwrap().to_owned());
            headers.as_sequence().unwrap().iter().map(pair).collect()
        };
        let retry = ("Retry-After".to_owned(), "300".to_owned());
        assert_eq!(names(&branches[1]), [retry.clone(), ("Access-Control-Allow-Origin".to_owned(), "*".to_owned())]);
        assert_eq!(names(&branches[2]), [retry]);
    }
    let body = template["Resources"]["FrontDoorWebAcl"]["Properties"]["CustomResponseBodies"]["RateLimited"]["Content"]
        .as_str()
        .unwrap();
    assert!(body.contains(r#""retry_after":300"#), "the body and the header say the same wait");
}

#[test]
fn the_web_client_has_words_for_every_error_code_of_the_contract() {
    let openapi: Value = serde_yaml_ng::from_str(include_str!("../../openapi.yaml")).unwrap();
    let codes: BTreeSet<String> = openapi["components"]["schemas"]["Failure"]["properties"]["error"]["enum"]
        .as_sequence()
        .expect("Failure.error lists the codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let errors = include_str!("../../web/errors.js");
    let table = &errors[errors.find("export const ERROR_WORDS = {").expect("the table")..];
    let table = &table[..table.find("\n};").unwrap()];
    let worded: BTreeSet<String> = table
        .lines()
        .filter_map(|line| line.trim().split_once(':').map(|(code, _)| code.to_owned()))
        .filter(|code| code.chars().all(|c| c.is_ascii_uppercase()) && !code.is_empty())
        .collect();
    assert!(codes.len() >= 30, "{codes:?}");
    assert_eq!(worded, codes, "web/errors.js must word exactly the contract's error codes");
}

/// SAM's own translator (the aws-sam-translator `infra/install.sh` installs, as `sam deploy` runs it) makes the
/// HTTP API's `x-amazon-apigateway-cors` the whole configuration for each value of AllowedOrigins: SAM reads an
/// intrinsic AllowOrigins inside a plain block as the whole block and drops the rest, which this test would catch.
#[test]
fn sam_translates_the_cors_block_whole_for_every_allowed_origins_value() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = r#"
import json, subprocess, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
expanded = subprocess.run([sys.executable, "infra/expand_template.py", "template.yaml"], capture_output=True,
                          text=True, check=True).stdout
template = yaml_parse(expanded)
template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/key"
class NoManagedPolicies:
    def load(self): return {}
out = {}
for value in ["*", "https://a.example,https://b.example", ""]:
    translated = transform(json.loads(json.dumps(template)), {"AllowedOrigins": value}, NoManagedPolicies())
    api = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    out[value] = api["Properties"]["Body"].get("x-amazon-apigateway-cors")
print("CORS " + json.dumps(out))
"#;
    let output = std::process::Command::new(root.join(".local/venv/bin/python"))
        .args(["-c", script])
        .current_dir(&root)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("infra/install.sh installs aws-sam-translator into .local/venv");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|line| line.strip_prefix("CORS ")).expect("the script's answer");
    let translated: serde_json::Value = serde_json::from_str(line).unwrap();
    for (value, cors) in translated.as_object().unwrap() {
        let branches = cors["Fn::If"].as_array().unwrap_or_else(|| panic!("{value:?}: {cors}"));
        assert_eq!(branches[0], "BrowsersAllowed");
        let config = &branches[1];
        assert_eq!(config["allowOrigins"]["Fn::Split"], serde_json::json!([",", value]), "{value:?}");
        assert_eq!(config["allowMethods"], serde_json::json!(["GET", "POST"]), "{value:?}: {cors}");
        assert_eq!(config["allowHeaders"], serde_json::json!(["Authorization", "Content-Type"]), "{value:?}: {cors}");
        assert_eq!(config["maxAge"], 7200, "{value:?}: {cors}");
        assert_eq!(branches[2], serde_json::json!({"Ref": "AWS::NoValue"}));
    }
    // The condition CloudFormation evaluates is the one make dev evaluates.
    let template = template();
    assert_eq!(
        format!("{:?}", template["Conditions"]["BrowsersAllowed"]),
        format!("{:?}", serde_yaml_ng::from_str::<Value>("!Not [!Equals [!Ref AllowedOrigins, '']]").unwrap())
    );
}

#[test]
fn the_screenshots_readme_shows_are_the_ones_the_browser_tests_take() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let shown: BTreeSet<String> = readme
        .split("(docs/screenshots/")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(name, _)| name.to_owned()))
        .collect();
    let tests = std::fs::read_to_string(root.join("tests/browser/web_client.test.mjs")).unwrap();
    let taken: BTreeSet<String> = tests
        .split("screenshot(")
        .skip(1)
        .filter_map(|rest| Some(format!("{}.png", rest.split('"').nth(1)?)))
        .collect();
    assert!(shown.len() >= 2, "README shows the web client: {shown:?}");
    for name in &shown {
        assert!(taken.contains(name), "README shows {name}, which no browser test takes (make screenshots)");
        assert!(root.join("docs/screenshots").join(name).is_file(), "docs/screenshots/{name} (make screenshots)");
    }
}

#[test]
fn the_live_panel_answers_only_under_this_machines_own_name() {
    for host in ["127.0.0.1:3000", "localhost:3000", "localhost", "[::1]:3000", "127.0.0.1"] {
        assert!(is_loopback_host(host), "{host}");
    }
    // A rebinding page asks for its own name, even when that name now points at 127.0.0.1.
    for host in ["attacker.example:3000", "127.0.0.1.nip.io:3000", "localhost.attacker.example", "[::2]:3000", ""] {
        assert!(!is_loopback_host(host), "{host}");
    }
}
