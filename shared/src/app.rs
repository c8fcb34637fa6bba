//! The composition root: which adapter serves each port ([`Aws`]), and how they are built from the environment,
//! once per Lambda instance. With `adapters` and `edge::lambda`, the only code that names an adapter.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::emf::EmfMetrics;
use crate::adapters::mesibo::MesiboClient;
use crate::adapters::s3::S3Files;
use crate::adapters::secrets_manager::CodeKeyring;
use crate::adapters::sns::{SnsPush, SnsSms};
use crate::config::{Config, ConfigError, MesiboAppToken};
use crate::model::clock::{Clock, SystemClock};
use crate::model::phone::PhoneNumber;
use crate::usecase::{Ports, Services};

/// The deployed product: the table in DynamoDB, SMS and push through SNS, users and groups also at mesibo, metrics
/// in CloudWatch through the functions' logs.
pub struct Aws;

impl Ports for Aws {
    type Store = DynamoStore;
    type CodeKeys = CodeKeyring;
    type Sms = SnsSms;
    type Push = SnsPush;
    type Mesibo = MesiboClient;
    type Files = S3Files;
    type Metrics = EmfMetrics;
}

/// The use cases' services on AWS.
pub type App = Services<Aws>;

impl App {
    pub fn new(config: Config, sdk: &SdkConfig, clock: Arc<dyn Clock>) -> Self {
        Self::from_clients(config, aws_sdk_dynamodb::Client::new(sdk), aws_sdk_sns::Client::new(sdk), clock)
            .with_files(s3_client(sdk))
    }

    /// Files in the configured bucket (none without `FILES_BUCKET`), through this client.
    pub fn with_files(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.files = self.config.files.as_ref().map(|files| S3Files::new(s3, files.bucket.clone()));
        self
    }

    pub fn from_clients(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store = DynamoStore::new(dynamodb, config.table_name.clone());
        let code_keys = CodeKeyring::unversioned(config.otp_secret.clone());
        let sms = SnsSms::new(sns.clone(), config.sms.clone(), config.app_name.clone());
        let push = SnsPush::new(sns);
        // The address was checked with the configuration; only a machine without root certificates fails here.
        let mesibo = MesiboClient::from_config(&config.mesibo).expect("mesibo's API client could be set up");
        let metrics = EmfMetrics::new(config.metrics_namespace.clone());
        Self { config, store, code_keys, sms, push, mesibo, files: None, metrics, clock }
    }

    /// Code digests under the rotated versions of `CODE_KEY_SECRET_ARN`'s secret, when it is configured: its current
    /// and previous keys read now, failing the start if the current one cannot be.
    pub async fn with_rotated_code_keys(mut self, client: aws_sdk_secretsmanager::Client) -> Result<Self, ConfigError> {
        const NAME: &str = "CODE_KEY_SECRET_ARN";
        if let Some(secret) = self.config.code_key_secret.clone() {
            let now = self.clock.now();
            self.code_keys = CodeKeyring::rotated(client, secret, self.config.otp_secret.clone(), now)
                .await
                .map_err(|problem| ConfigError { name: NAME, problem })?;
        }
        Ok(self)
    }

    /// The SNS client, for publishers of other kinds (events).
    pub fn sns_client(&self) -> aws_sdk_sns::Client {
        self.push.client().clone()
    }

    /// Reads the configuration (failing with the variable's name), builds the SDK clients and warms the phone
    /// metadata, all during Lambda init rather than in the first request.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::start(|name| std::env::var(name).ok(), &sdk_config().await, Arc::new(SystemClock)).await
    }

    /// [`App::from_env`] with the environment, the SDK's configuration and the clock given: the secrets are read
    /// through clients built from `sdk`, as every other call is.
    pub async fn start(
        env: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let config = config_with_secret_settings(env, sdk).await?;
        let config = with_secrets(config, sdk).await?;
        PhoneNumber::warm_up();
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        Self::new(config, sdk, clock).with_rotated_code_keys(secrets).await
    }
}

/// The settings kept in Secrets Manager rather than in the environment (which anyone allowed to read a function's
/// configuration can read), fetched once, at start:
/// - `OTP_SECRET_ARN`: the code HMAC key (the secret's string) as `OTP_HMAC_SECRET`;
/// - `APP_SECRETS_ARN`: a JSON object whose keys are settings (`TEST_NUMBERS`, `GOOGLE_API_KEY`);
/// - `FRONT_DOOR_SECRET_ARN` (front door on): the value CloudFront's origin header carries (the secret's string) as
///   `FRONT_DOOR_SECRET`.
///
/// A value in the environment under the same name wins (`make dev`, tests). A secret that cannot be read fails the
/// start, naming its variable: a function must not run with test numbers or a key it was not meant to have.
pub async fn config_with_secret_settings(
    env: impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<Config, ConfigError> {
    const OTP: &str = "OTP_SECRET_ARN";
    const APP: &str = "APP_SECRETS_ARN";
    const FRONT_DOOR: &str = "FRONT_DOOR_SECRET_ARN";
    let read = |variable: &'static str| {
        let arn = env(variable).filter(|arn| !arn.is_empty());
        async move {
            match arn {
                Some(arn) => secret_string(sdk, variable, &arn).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let (otp, app, front_door) = tokio::join!(read(OTP), read(APP), read(FRONT_DOOR));
    let mut settings = std::collections::HashMap::new();
    if let Some(key) = otp? {
        settings.insert("OTP_HMAC_SECRET".to_owned(), key);
    }
    if let Some(value) = front_door? {
        settings.insert("FRONT_DOOR_SECRET".to_owned(), value);
    }
    if let Some(text) = app? {
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|_| ConfigError { name: APP, problem: "the secret is not a JSON object".into() })?;
        for (name, value) in fields {
            let value = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            settings.insert(name, value);
        }
    }
    Config::from_lookup(|name| env(name).filter(|v| !v.is_empty()).or_else(|| settings.get(name).cloned()))
}

/// A secret's string, read at start; a failure names the variable that named the secret.
async fn secret_string(sdk: &SdkConfig, variable: &'static str, secret_id: &str) -> Result<String, ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| ConfigError {
        name: variable,
        problem: format!("the secret could not be read: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)),
    })?;
    Ok(out.secret_string.unwrap_or_default())
}

/// The configuration with the secrets that are kept out of the environment read in: mesibo's app token, when
/// `MESIBO_APP_TOKEN_SECRET_ARN` names its secret.
pub async fn with_secrets(mut config: Config, sdk: &SdkConfig) -> Result<Config, ConfigError> {
    if let Some(secret) = config.mesibo.app_token_secret.clone() {
        config.mesibo.app_token = Some(mesibo_app_token(sdk, &secret).await?);
    }
    Ok(config)
}

/// mesibo's app token from Secrets Manager (the secret's string, or its `token` key when the string is JSON), once
/// per instance. A secret that cannot be read fails the start: a silent fall back to standalone mode would hand out
/// tokens mesibo rejects.
async fn mesibo_app_token(sdk: &SdkConfig, secret_id: &str) -> Result<MesiboAppToken, ConfigError> {
    const NAME: &str = "MESIBO_APP_TOKEN_SECRET_ARN";
    let text = secret_string(sdk, NAME, secret_id).await?;
    let token = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.get("token").and_then(|t| t.as_str()).unwrap_or_default().to_owned()
        }
        _ => text,
    };
    MesiboAppToken::new(token).ok_or(ConfigError { name: NAME, problem: "the secret holds no token".into() })
}

/// Standard retry mode with three attempts and explicit timeouts, so a request that cannot succeed fails well inside
/// API Gateway's 29 s limit. Region, credentials and endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, …) come from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts())
        .load()
        .await
}

/// S3 with path-style addresses when an endpoint is configured (`AWS_ENDPOINT_URL_S3`: moto locally), whose
/// host names no bucket; virtual-hosted addresses on AWS.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let local = std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|url| !url.is_empty());
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(local).build())
}

pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(6))
        .operation_timeout(Duration::from_secs(15))
        .build()
}
