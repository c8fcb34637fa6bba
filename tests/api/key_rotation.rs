//! The code key rotates on a schedule: Secrets Manager invokes the rotation function for each of its four steps.
//! Codes pending at a rotation, or made by an instance that has not seen it yet, still verify; new codes are made
//! under the new key; a code key that cannot be read gives 503 and spends nothing.

use aws_sdk_secretsmanager::Client;
use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::*;
use serde_json::json;
use shared::Clock;
use shared::adapters::secrets_manager::RotatedKeys;
use shared::edge::lambda::{RotationEvent, rotation_step};

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

async fn secrets_client() -> Client {
    Client::new(&shared::app::sdk_config().await)
}

/// A code-key secret as the stack makes it: 64 characters.
async fn code_key_secret(secrets: &Client) -> String {
    let key = random_hex(32);
    secret(&key);
    let created = secrets.create_secret().name(format!("code-key-{}", random_hex(6))).secret_string(key);
    created.send().await.unwrap().arn.unwrap()
}

/// Another instance of the same deployment (same table and clock) with `CODE_KEY_SECRET_ARN`, started now.
async fn instance(base: &TestApp, secret_arn: &str, secrets: Client) -> TestApp {
    let config = base.app.config.clone();
    let sns = aws_sdk_sns::Client::new(&shared::app::sdk_config().await);
    let app = shared::App::from_clients(config, base.dynamodb.clone(), sns, base.clock.clone());
    let keys = RotatedKeys::read(secrets, secret_arn.to_owned(), base.clock.now()).await;
    let mut app = app.with_rotated_code_keys(keys.expect("the code keys are read at start"));
    let metrics = MetricLines::default();
    observe_metrics(&mut app, &metrics);
    // Its code keys are its own: every request goes to this app, which reads every setting.
    TestApp { app, clock: base.clock.clone(), dynamodb: base.dynamodb.clone(), mesibo: None, metrics, deployed: None }
}

async fn version_with(secrets: &Client, arn: &str, stage: &str) -> String {
    let described = secrets.describe_secret().secret_id(arn).send().await.unwrap();
    let stages = described.version_ids_to_stages.unwrap_or_default();
    let found = stages.into_iter().find(|(_, stages)| stages.iter().any(|s| s == stage));
    found.map(|(version, _)| version).unwrap_or_else(|| panic!("a version labelled {stage}"))
}

async fn value_of(secrets: &Client, arn: &str, version: &str) -> String {
    let value = secrets.get_secret_value().secret_id(arn).version_id(version).send().await.unwrap();
    value.secret_string.unwrap()
}

fn step(arn: &str, token: &str, step: &str) -> RotationEvent {
    serde_json::from_value(json!({ "Step": step, "SecretId": arn, "ClientRequestToken": token })).unwrap()
}

/// A scheduled rotation: Secrets Manager stages a pending version and invokes the function for each step. (moto runs
/// no Lambda here: its RotateSecret stages the version and enables rotation as Secrets Manager does, then reports
/// that it cannot invoke the function; the steps are then invoked as Secrets Manager would.) Every step is run
/// twice, as Secrets Manager's retries may: a retried step changes nothing.
async fn rotate(secrets: &Client, arn: &str) -> String {
    let token = uuid_like();
    let rotation = secrets.rotate_secret().secret_id(arn).client_request_token(&token);
    let rotation = rotation.rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:keyrotation");
    let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder().automatically_after_days(30).build();
    let _cannot_invoke = rotation.rotation_rules(rules).send().await;
    for name in ["createSecret", "createSecret", "setSecret", "testSecret", "finishSecret", "finishSecret"] {
        rotation_step(secrets, step(arn, &token, name)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    token
}

fn uuid_like() -> String {
    let hex = random_hex(16);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn code_key_of(record: &Item) -> Option<String> {
    record.get("code_key").and_then(|v| v.as_s().ok()).cloned()
}

#[tokio::test]
async fn a_rotation_keeps_pending_codes_valid_and_new_codes_move_to_the_new_key() {
    let secrets = secrets_client().await;
    let arn = code_key_secret(&secrets).await;
    let first = version_with(&secrets, &arn, CURRENT).await;
    let base = spawn_app().await;
    let old = instance(&base, &arn, secrets.clone()).await;

    let pending = random_phone();
    assert_eq!(old.login(pending.e164()).await.status, 200);
    let record = old.code_record(pending.e164()).await.expect("the code's record");
    assert_eq!(code_key_of(&record).as_deref(), Some(first.as_str()), "the code names its key's version");
    let pending_code = last_sms_code(pending.e164()).await.unwrap();

    let second = rotate(&secrets, &arn).await;
    assert_eq!(version_with(&secrets, &arn, CURRENT).await, second, "the new key is current");
    assert_eq!(version_with(&secrets, &arn, PREVIOUS).await, first, "the old key is previous");
    let (old_key, new_key) = (value_of(&secrets, &arn, &first).await, value_of(&secrets, &arn, &second).await);
    secret(&new_key);
    assert_ne!(old_key, new_key, "a new key was drawn");
    assert!(new_key.len() >= 64, "a key of 256 bits, hex");

    // An instance started after the rotation: it checks the code made under the old key, and signs with the new.
    let new = instance(&base, &arn, secrets.clone()).await;
    assert_eq!(new.verify(pending.e164(), &pending_code).await.status, 200, "a code pending at the rotation");
    let later = random_phone();
    assert_eq!(new.login(later.e164()).await.status, 200);
    let record = new.code_record(later.e164()).await.unwrap();
    assert_eq!(code_key_of(&record).as_deref(), Some(second.as_str()));
    // The instance started before the rotation checks it too: the code names a version it reads then.
    let later_code = last_sms_code(later.e164()).await.unwrap();
    assert_eq!(old.verify(later.e164(), &later_code).await.status, 200, "a code made under the new key");

    // It keeps signing with the key it knows for at most five minutes, then with the new one.
    let stale = random_phone();
    assert_eq!(old.login(stale.e164()).await.status, 200);
    assert_eq!(code_key_of(&old.code_record(stale.e164()).await.unwrap()).as_deref(), Some(first.as_str()));
    old.clock.advance(300);
    let fresh = random_phone();
    assert_eq!(old.login(fresh.e164()).await.status, 200);
    assert_eq!(code_key_of(&old.code_record(fresh.e164()).await.unwrap()).as_deref(), Some(second.as_str()));
    let stale_code = last_sms_code(stale.e164()).await.unwrap();
    assert_eq!(new.verify(stale.e164(), &stale_code).await.status, 200);
    let fresh_code = last_sms_code(fresh.e164()).await.unwrap();
    let wrong = if fresh_code == "000000" { "000001" } else { "000000" };
    assert_eq!(new.verify(fresh.e164(), wrong).await.error(), "BADCODE", "a wrong code is still wrong");
}

#[tokio::test]
async fn codes_made_before_the_code_key_existed_still_verify() {
    let secrets = secrets_client().await;
    let arn = code_key_secret(&secrets).await;
    let before = spawn_app().await;
    let phone = random_phone();
    assert_eq!(before.login(phone.e164()).await.status, 200);
    assert_eq!(code_key_of(&before.code_record(phone.e164()).await.unwrap()), None, "no key version");
    let code = last_sms_code(phone.e164()).await.unwrap();
    let upgraded = instance(&before, &arn, secrets).await;
    assert_eq!(upgraded.verify(phone.e164(), &code).await.status, 200);
}

#[tokio::test]
async fn a_code_key_that_cannot_be_read_gives_503_and_spends_no_attempt() {
    let secrets = secrets_client().await;
    let arn = code_key_secret(&secrets).await;
    let proxy = FaultProxy::start(&stack_env("MOTO_URL")).await;
    let sdk = shared::app::sdk_config().await;
    let proxied = aws_sdk_secretsmanager::config::Builder::from(&sdk).endpoint_url(&proxy.url).build();
    let base = spawn_app().await;
    let old = instance(&base, &arn, Client::from_conf(proxied)).await;
    rotate(&secrets, &arn).await;
    let new = instance(&base, &arn, secrets.clone()).await;
    let phone = random_phone();
    assert_eq!(new.login(phone.e164()).await.status, 200);
    let code = last_sms_code(phone.e164()).await.unwrap();

    proxy.inject(Fault::Refuse, None, None);
    let refused = old.verify(phone.e164(), &code).await;
    assert_eq!((refused.status, refused.error()), (503, "UNAVAILABLE"), "{:?}", refused.json);
    let record = old.code_record(phone.e164()).await.unwrap();
    assert_eq!(record["attempts"].as_n().unwrap(), "0", "the attempt was given back");
    // Signing goes on with the key it knows while Secrets Manager is down.
    old.clock.advance(300);
    assert_eq!(old.login(random_phone().e164()).await.status, 200);

    proxy.heal();
    assert_eq!(old.verify(phone.e164(), &code).await.status, 200, "the same code, once the key can be read");
}

#[tokio::test]
async fn a_step_for_a_version_that_is_not_pending_fails() {
    let secrets = secrets_client().await;
    let arn = code_key_secret(&secrets).await;
    let rotation = secrets.rotate_secret().secret_id(&arn).client_request_token(uuid_like());
    let rotation = rotation.rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:keyrotation");
    let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder().automatically_after_days(30).build();
    let _cannot_invoke = rotation.rotation_rules(rules).send().await;
    let current = version_with(&secrets, &arn, CURRENT).await;
    let failed = rotation_step(&secrets, step(&arn, &uuid_like(), "createSecret")).await.unwrap_err();
    assert!(failed.contains("not a version"), "{failed}");
    assert_eq!(version_with(&secrets, &arn, CURRENT).await, current, "nothing changed");
}
