//! The functions' metrics (CloudWatch embedded metric format): what sign-in, limits and contact lookups count, read
//! back from the lines the real EMF adapter writes, each checked to be a document CloudWatch Logs extracts.

use integration_tests::*;
use local_stack::apigw::HttpCall;
use serde_json::{Value, json};
use shared::Clock;

const NAMESPACE: &str = "messenger-metrics-test";

/// The EMF specification's document structure (CloudWatch, "Specification: Embedded metric format"), as a schema.
fn emf_schema() -> Value {
    let name = json!({ "type": "string", "minLength": 1, "maxLength": 1024 });
    json!({
        "type": "object",
        "required": ["_aws"],
        "properties": {
            "_aws": {
                "type": "object",
                "required": ["Timestamp", "CloudWatchMetrics"],
                "properties": {
                    "Timestamp": { "type": "integer" },
                    "CloudWatchMetrics": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["Namespace", "Dimensions", "Metrics"],
                            "additionalProperties": false,
                            "properties": {
                                "Namespace": name,
                                "Dimensions": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "array",
                                        "maxItems": 30,
                                        "items": { "type": "string", "minLength": 1, "maxLength": 250 },
                                    },
                                },
                                "Metrics": {
                                    "type": "array",
                                    "maxItems": 100,
                                    "items": {
                                        "type": "object",
                                        "required": ["Name"],
                                        "additionalProperties": false,
                                        "properties": { "Name": name, "Unit": { "const": "Count" } },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    })
}

/// Every line a valid EMF document of this app's namespace, stamped with the app's clock, whose every metric and
/// dimension named is a member of the root (a number; a string), and that holds none of `private`.
fn assert_valid_emf(t: &TestApp, private: &[&str]) {
    let validator = jsonschema::validator_for(&emf_schema()).unwrap();
    let documents = t.metrics.documents();
    assert!(!documents.is_empty(), "no metric line was written");
    for document in &documents {
        let errors: Vec<String> = validator.iter_errors(document).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?} in {document}");
        // Milliseconds of the request's time (the tests move the clock by minutes; CloudWatch takes two weeks back).
        let timestamp = document["_aws"]["Timestamp"].as_i64().unwrap();
        let now = t.clock.now() * 1000;
        assert!(timestamp % 1000 == 0 && (now - 3_600_000..=now).contains(&timestamp), "{timestamp} at {now}");
        for directive in document["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], NAMESPACE);
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(document[metric["Name"].as_str().unwrap()].is_u64(), "{metric} has no value in {document}");
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for key in set.as_array().unwrap() {
                    assert!(document[key.as_str().unwrap()].is_string(), "{key} has no value in {document}");
                }
            }
        }
        let line = document.to_string();
        for secret in private {
            assert!(!line.contains(secret), "a metric line holds {secret}: {line}");
        }
    }
}

fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '0' { '1' } else { '0' }).collect()
}

#[tokio::test]
async fn sign_in_counts_codes_sent_and_right_and_wrong_codes() {
    let t = spawn_app_with(&[("METRICS_NAMESPACE", NAMESPACE)]).await;
    let phone = random_phone();
    assert_eq!(t.login(phone.e164()).await.status, 200);
    let code = last_sms_code(phone.e164()).await.unwrap();
    assert_eq!(t.verify(phone.e164(), &wrong(&code)).await.error(), "BADCODE");
    assert_eq!(t.verify(phone.e164(), &code).await.status, 200);
    let sums = |t: &TestApp| {
        ["CodesSent", "CodesSentToNewNumbers", "VerifiesSucceeded", "VerifiesFailed"].map(|m| t.metrics.sum(m))
    };
    assert_eq!(sums(&t), [1, 1, 1, 1]);

    // Signed up: the next code goes to a number with an account.
    t.clock.advance(30);
    assert_eq!(t.login(phone.e164()).await.status, 200);
    assert_eq!(sums(&t), [2, 1, 1, 1]);
    assert_eq!(t.metrics.documents().len(), 4, "one line per outcome");
    assert_eq!(t.metrics.limits_hit(), Vec::<String>::new());
    assert_valid_emf(&t, &[phone.digits(), &code]);
}

#[tokio::test]
async fn sign_in_through_api_php_counts_the_same() {
    let t = spawn_app_with(&[("METRICS_NAMESPACE", NAMESPACE)]).await;
    let phone = random_phone();
    let api = |pairs: Vec<(&str, String)>| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        t.call(HttpCall::post("/api.php").form(&pairs))
    };
    let login = || vec![("op", "login".to_owned()), ("phone", phone.digits().to_owned())];
    assert_eq!(api(login()).await.json["result"], "OK");
    let code = last_sms_code(phone.e164()).await.unwrap();
    let guess = |code: String| [login(), vec![("code", code)]].concat();
    assert_eq!(api(guess(wrong(&code))).await.json["result"], "FAIL");
    assert_eq!(api(guess(code.clone())).await.json["result"], "OK");
    let sums = ["CodesSent", "VerifiesSucceeded", "VerifiesFailed"].map(|m| t.metrics.sum(m));
    assert_eq!(sums, [1, 1, 1]);
    assert_valid_emf(&t, &[phone.digits(), &code]);
}

#[tokio::test]
async fn limits_hit_are_counted_by_kind_without_whose_limit() {
    let vars =
        [("METRICS_NAMESPACE", NAMESPACE), ("IP_CODE_REQUESTS_PER_HOUR", "2"), ("SMS_HOURLY_LIMIT_PER_COUNTRY", "1")];
    let t = spawn_app_with(&vars).await;
    let (first, second) = (random_phone(), random_phone());
    let login_from =
        |ip: &str, phone: &str| HttpCall { source_ip: ip.into(), ..HttpCall::post("/login").form(&[("phone", phone)]) };
    let (ip, other_ip) = ("198.51.100.23", "198.51.100.87");
    secret(ip);
    secret(other_ip);
    assert_eq!(t.call(login_from(ip, first.e164())).await.status, 200);
    assert_eq!(t.call(login_from(ip, first.e164())).await.error(), "RATELIMIT", "a resend too soon");
    assert_eq!(t.call(login_from(ip, second.e164())).await.error(), "RATELIMIT", "the address's third this hour");
    assert_eq!(t.call(login_from(other_ip, second.e164())).await.error(), "RATELIMIT", "the country's second SMS");
    assert_eq!(t.metrics.limits_hit(), ["code-resends", "ip-codes", "country-sms"]);
    assert_eq!(t.metrics.sum("LimitsHit"), 3);
    assert_eq!(t.metrics.sum("CodesSent"), 1);
    for hit in t.metrics.documents().iter().filter(|d| d["LimitsHit"] == 1) {
        // The total (no dimension) for alarms, and one metric per kind for the dashboard's breakdown.
        assert_eq!(hit["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[], ["Limit"]]));
    }
    assert_valid_emf(&t, &[first.digits(), second.digits(), ip, other_ip]);
}

#[tokio::test]
async fn a_lookup_counts_the_numbers_it_charged_and_its_quota_once_spent() {
    let t = spawn_app_with(&[("METRICS_NAMESPACE", NAMESPACE), ("CONTACT_LOOKUP_BUDGET", "4")]).await;
    let me = person(&t).await;
    let numbers: Vec<_> = (0..5).map(|_| random_phone()).collect();
    let e164 = |range: std::ops::Range<usize>| numbers[range].iter().map(|p| p.e164()).collect::<Vec<_>>();
    let lookup =
        |phones: Vec<&str>| HttpCall::post("/getcontacts").json(&json!({ "phones": phones })).bearer(&me.token);
    assert_eq!(t.call(lookup(e164(0..3))).await.status, 200);
    assert_eq!(t.metrics.sum("LookupsCharged"), 3);
    // The same numbers again are free: nothing charged, nothing counted.
    assert_eq!(t.call(lookup(e164(0..3))).await.status, 200);
    assert_eq!(t.metrics.sum("LookupsCharged"), 3);
    // Two new numbers pass the budget of 4: refused, and counted as a limit hit, not as a charge.
    assert_eq!(t.call(lookup(e164(0..5))).await.error(), "RATELIMIT");
    assert_eq!(t.metrics.sum("LookupsCharged"), 3);
    assert_eq!(t.metrics.limits_hit(), ["lookup-quota"]);
    let charges = t.metrics.documents().into_iter().filter(|d| d.get("LookupsCharged").is_some()).count();
    assert_eq!(charges, 1, "one line per charge");
    let mut private: Vec<&str> = numbers.iter().map(|p| p.digits()).collect();
    private.extend([me.phone.digits(), me.token.as_str()]);
    assert_valid_emf(&t, &private);
}
