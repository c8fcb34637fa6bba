//! Deployed, the code HMAC key, the test numbers and the API key are read from Secrets Manager at start, never from
//! the environment (which whoever may read a function's configuration can read).

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::recording_proxy::EveryServiceAt;
use integration_tests::*;
use serde_json::json;
use shared::model::secrets::keyed_name;

#[tokio::test]
async fn secret_settings_are_read_from_secrets_manager_at_start() {
    let sdk = shared::app::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let key = format!("otp-key-{}", random_hex(24));
    secret(&key);
    let test_number = random_phone();
    let otp = secrets.create_secret().name(format!("otp-{}", random_hex(6))).secret_string(&key).send().await.unwrap();
    let app_settings =
        json!({ "TEST_NUMBERS": format!("{}:246810", test_number.e164()), "GOOGLE_API_KEY": "maps-key" });
    let app = secrets.create_secret().name(format!("app-{}", random_hex(6)));
    let app = app.secret_string(app_settings.to_string()).send().await.unwrap();
    let (otp_arn, app_arn) = (otp.arn.unwrap(), app.arn.unwrap());
    let env = |vars: Vec<(&'static str, String)>| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    };

    let vars = vec![("TABLE_NAME", "t".to_owned()), ("OTP_SECRET_ARN", otp_arn.clone()), ("APP_SECRETS_ARN", app_arn)];
    let config = shared::app::config_with_secret_settings(env(vars), &secrets).await.unwrap();
    let direct = vec![("TABLE_NAME", "t".to_owned()), ("OTP_HMAC_SECRET", key.clone())];
    let expected = shared::Config::from_lookup(env(direct)).unwrap();
    assert_eq!(keyed_name(&config.otp_secret, "x", "y"), keyed_name(&expected.otp_secret, "x", "y"), "the key");
    assert!(config.test_numbers.contains_key(&test_number), "test numbers from the secret");
    assert_eq!(config.profile_urls.google_api_key, "maps-key");
    assert!(!format!("{config:?}").contains(&key), "the key is never printed");

    // A secret that cannot be read fails the start, naming its variable.
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".to_owned();
    let vars = vec![("TABLE_NAME", "t".to_owned()), ("OTP_SECRET_ARN", otp_arn), ("APP_SECRETS_ARN", missing)];
    let failed = shared::app::config_with_secret_settings(env(vars), &secrets).await.unwrap_err();
    assert_eq!(failed.name, "APP_SECRETS_ARN");
}

/// Deployed, each round of reads at start is an HTTPS round trip (a TLS handshake, on a new instance) that init
/// waits for: every secret a function has is read in one round, through one client.
#[tokio::test]
async fn a_new_instance_reads_all_its_secrets_in_one_round() {
    const ANSWER_AFTER: std::time::Duration = std::time::Duration::from_millis(400);
    let sdk = shared::app::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let create = |value: String| {
        let request = secrets.create_secret().name(format!("start-{}", random_hex(6))).secret_string(value);
        async move { request.send().await.unwrap().arn.unwrap() }
    };
    let key = format!("otp-key-{}", random_hex(24));
    secret(&key);
    let code_key = random_hex(32);
    secret(&code_key);
    let mesibo = MesiboEmulator::start().await;
    let vars = [
        ("TABLE_NAME", "t".to_owned()),
        ("OTP_SECRET_ARN", create(key).await),
        ("APP_SECRETS_ARN", create(json!({ "GOOGLE_API_KEY": "maps-key" }).to_string()).await),
        ("CODE_KEY_SECRET_ARN", create(code_key).await),
        ("MESIBO_API_URL", mesibo.url.clone()),
        ("MESIBO_APP_TOKEN_SECRET_ARN", create(mesibo.app_token.clone()).await),
    ];
    let proxy = FaultProxy::start(&stack_env("MOTO_URL")).await;
    proxy.inject(Fault::Delay(ANSWER_AFTER), None, None);
    let slow = sdk.to_builder().service_config(EveryServiceAt(proxy.url.clone())).build();

    let started = std::time::Instant::now();
    let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let app = shared::App::start(env, &slow, std::sync::Arc::new(ManualClock::new())).await.unwrap();
    let took = started.elapsed();

    assert!(app.config.mesibo_mode(), "mesibo's token was read");
    assert_eq!(app.config.profile_urls.google_api_key, "maps-key", "the app settings were read");
    assert_eq!(proxy.faults_served(), 5, "five reads: the OTP key, the settings, the token, two code key versions");
    assert!(took < 2 * ANSWER_AFTER, "one round of {ANSWER_AFTER:?}, not several: {took:?}");
}
