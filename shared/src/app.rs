//! The composition root: which adapter serves each port ([`Aws`]), and how they are built from the environment,
//! once per Lambda instance. With `adapters` and `edge::lambda`, the only code that names an adapter.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::emf::EmfMetrics;
use crate::adapters::mesibo::MesiboClient;
use crate::adapters::s3::S3Files;
use crate::adapters::secrets_manager::{CodeKeyring, RotatedKeys};
use crate::adapters::sns::{SnsPush, SnsSms};
use crate::config::{Config, ConfigError, MesiboAppToken};
use crate::model::clock::Clock;
use crate::model::phone::PhoneNumber;
use crate::usecase::Ports;

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

/// The app on AWS: the use cases' [`crate::usecase::App`] with the adapters of [`Aws`].
pub type App = crate::usecase::App<Aws>;

impl App {
    pub fn new(config: Config, sdk: &SdkConfig, clock: Arc<dyn Clock>) -> Self {
        // Each client costs init a tenth of a millisecond or so: none is built that this deployment cannot use.
        let files = config.files.is_some();
        let app = Self::from_clients(config, aws_sdk_dynamodb::Client::new(sdk), aws_sdk_sns::Client::new(sdk), clock);
        if files { app.with_files(s3_client(sdk)) } else { app }
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
        let mesibo = MesiboClient::from_config(&config.mesibo, EmfMetrics::new(config.metrics_namespace.clone()))
            .expect("mesibo's API client could be set up");
        let metrics = EmfMetrics::new(config.metrics_namespace.clone());
        Self { config, store, code_keys, sms, push, mesibo, files: None, metrics, clock }
    }

    /// Code digests under the rotated versions of `CODE_KEY_SECRET_ARN`'s secret, read at start.
    pub fn with_rotated_code_keys(mut self, keys: RotatedKeys) -> Self {
        self.code_keys = CodeKeyring::rotated(self.config.otp_secret.clone(), keys);
        self
    }

    /// The SNS client, for publishers of other kinds (events).
    pub fn sns_client(&self) -> aws_sdk_sns::Client {
        self.push.client().clone()
    }

    /// The app from the environment `env`, with the SDK's configuration and the clock given: the secrets are read
    /// through clients built from `sdk`, as every other call is.
    pub async fn start(
        env: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        // What the first request would otherwise pay, loaded on a thread of its own meanwhile: the phone metadata
        // (all regions' at once, ~2.5 ms to decode; the configuration's checks do without it) and the system's root
        // certificates (the first HTTPS call's). Init goes on to the secrets' round trips (deployed) and the clients,
        // and waits for the thread before it ends, so that no request pays for either.
        let warm = std::thread::spawn(|| {
            PhoneNumber::warm_up();
            load_root_certificates();
        });
        // Every secret is read in one round of concurrent calls through one client: deployed, each round is an HTTPS
        // round trip (a TLS handshake, on a new instance) that init would otherwise wait for in turn.
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let code_key_secret = env("CODE_KEY_SECRET_ARN").filter(|arn| !arn.is_empty());
        let now = clock.now();
        let code_keys = async {
            let Some(secret) = code_key_secret else { return Ok(None) };
            RotatedKeys::read(secrets.clone(), secret, now)
                .await
                .map(Some)
                .map_err(|problem| ConfigError { name: "CODE_KEY_SECRET_ARN", problem })
        };
        let (config, code_keys) = tokio::join!(config_with_secret_settings(&env, &secrets), code_keys);
        let app = Self::new(config?, sdk, clock);
        let app = match code_keys? {
            Some(keys) => app.with_rotated_code_keys(keys),
            None => app,
        };
        // A panic there is libphonenumber's or the certificates': the first request meets it again, and says so.
        let _ = warm.join();
        Ok(app)
    }
}

/// The settings kept in Secrets Manager rather than in the environment (which anyone allowed to read a function's
/// configuration can read), fetched once, at start, all at once:
/// - `OTP_SECRET_ARN`: the code HMAC key (the secret's string) as `OTP_HMAC_SECRET`;
/// - `APP_SECRETS_ARN`: a JSON object whose keys are settings (`TEST_NUMBERS`, `GOOGLE_API_KEY`);
/// - `FRONT_DOOR_SECRET_ARN` (front door on): the value CloudFront's origin header carries (the secret's string) as
///   `FRONT_DOOR_SECRET`;
/// - `MESIBO_APP_TOKEN_SECRET_ARN`: mesibo's app token (the secret's string, or its `token` key when the string is
///   JSON).
///
/// A value in the environment under the same name wins (`make dev`, tests). A secret that cannot be read fails the
/// start, naming its variable: a function must not run with test numbers or a key it was not meant to have, nor fall
/// back silently to standalone mode and hand out tokens mesibo rejects.
pub async fn config_with_secret_settings(
    env: impl Fn(&str) -> Option<String>,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<Config, ConfigError> {
    const OTP: &str = "OTP_SECRET_ARN";
    const APP: &str = "APP_SECRETS_ARN";
    const FRONT_DOOR: &str = "FRONT_DOOR_SECRET_ARN";
    const MESIBO: &str = "MESIBO_APP_TOKEN_SECRET_ARN";
    let read = |variable: &'static str| {
        let arn = env(variable).filter(|arn| !arn.is_empty());
        async move {
            match arn {
                Some(arn) => secret_string(secrets, variable, &arn).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let (otp, app, front_door, mesibo) = tokio::join!(read(OTP), read(APP), read(FRONT_DOOR), read(MESIBO));
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
    let mesibo_token = match mesibo? {
        Some(text) => Some(
            mesibo_app_token(text).ok_or(ConfigError { name: MESIBO, problem: "the secret holds no token".into() })?,
        ),
        None => None,
    };
    let mut config =
        Config::from_lookup(|name| env(name).filter(|v| !v.is_empty()).or_else(|| settings.get(name).cloned()))?;
    if mesibo_token.is_some() {
        config.mesibo.app_token = mesibo_token;
    }
    Ok(config)
}

/// A secret's string, read at start; a failure names the variable that named the secret.
async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    variable: &'static str,
    secret_id: &str,
) -> Result<String, ConfigError> {
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| ConfigError {
        name: variable,
        problem: format!("the secret could not be read: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)),
    })?;
    Ok(out.secret_string.unwrap_or_default())
}

/// mesibo's app token from its secret's string: the string itself, or its `token` key when the string is JSON.
fn mesibo_app_token(text: String) -> Option<MesiboAppToken> {
    let token = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.get("token").and_then(|t| t.as_str()).unwrap_or_default().to_owned()
        }
        _ => text,
    };
    MesiboAppToken::new(token)
}

/// Standard retry mode with three attempts and explicit timeouts, so a request that cannot succeed fails well inside
/// API Gateway's 29 s limit. Region, credentials and endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, …) come from the environment.
///
/// On Lambda straight from the variables Lambda sets ([`lambda_sdk_config`]); anywhere else through the SDK's full
/// loader, whose provider chains (profile files, SSO, web identity, ECS, IMDS) cost 2.5 ms of init and find
/// nothing on Lambda that the environment does not already say.
pub async fn sdk_config() -> SdkConfig {
    if let Some(sdk) = lambda_sdk_config(std::env::vars()) {
        return sdk;
    }
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts())
        .load()
        .await
}

/// The SDK configuration from the environment alone, when it says everything the full loader would find: a region
/// and keys (Lambda sets `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), plus
/// endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), read as the SDK reads them. `None` when any other
/// `AWS_` setting is present (a profile, a container or web-identity credential source, FIPS, a retry mode…): the
/// full loader knows what to do with it, and this does not try to.
pub fn lambda_sdk_config(vars: impl IntoIterator<Item = (String, String)>) -> Option<SdkConfig> {
    /// Read here, or Lambda's own (the runtime's, X-Ray's), which the SDK does not read.
    fn understood(name: &str) -> bool {
        const READ_HERE: [&str; 5] =
            ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
        READ_HERE.contains(&name)
            || name.starts_with("AWS_ENDPOINT_URL")
            || name.starts_with("AWS_LAMBDA_")
            || name.starts_with("AWS_XRAY_")
            || name == "AWS_EXECUTION_ENV"
    }
    let mut region = None;
    let mut keys = (false, false);
    let mut endpoints = EndpointsFromEnv::default();
    for (name, value) in vars {
        if !name.starts_with("AWS_") || value.is_empty() {
            continue;
        }
        if !understood(&name) {
            return None;
        }
        match name.as_str() {
            "AWS_REGION" => region = Some(value),
            "AWS_DEFAULT_REGION" => region = region.or(Some(value)),
            "AWS_ACCESS_KEY_ID" => keys.0 = true,
            "AWS_SECRET_ACCESS_KEY" => keys.1 = true,
            _ if name.starts_with("AWS_ENDPOINT_URL") => {
                endpoints.0.insert(name, value);
            }
            _ => {}
        }
    }
    if keys != (true, true) {
        return None;
    }
    let global_endpoint = endpoints.0.get(ENDPOINT_URL).cloned();
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region?))
        .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(credentials))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts())
        .service_config(endpoints);
    // What the full loader does too: the identity cache it sets, and the global endpoint beside the per-service ones.
    sdk.set_identity_cache(Some(aws_config::identity::IdentityCache::lazy().build()));
    sdk.set_endpoint_url(global_endpoint);
    Some(sdk.build())
}

const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// `AWS_ENDPOINT_URL_<SERVICE>` (the service's id in capitals, spaces as `_`: `AWS_ENDPOINT_URL_DYNAMODB`), else
/// `AWS_ENDPOINT_URL`, as the SDK's own environment loader resolves each client's endpoint.
#[derive(Debug, Default)]
struct EndpointsFromEnv(std::collections::HashMap<String, String>);

impl LoadServiceConfig for EndpointsFromEnv {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        self.0.get(&specific).or_else(|| self.0.get(key.env())).cloned()
    }
}

/// The system's root certificates, read and parsed as the SDK's default HTTPS connector does it, into the cache
/// aws-smithy-http-client keeps for the process: the connector the first call builds then finds them there.
pub fn load_root_certificates() {
    let _ = aws_smithy_http_client::default_connector(
        &aws_smithy_runtime_api::client::http::HttpConnectorSettings::default(),
        None,
    );
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

#[cfg(test)]
mod tests {
    use aws_types::service_config::ServiceConfigKey;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const LAMBDA: [(&str, &str); 7] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_LAMBDA_FUNCTION_NAME", "login"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
    ];

    fn endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder().service_id(service_id).env(ENDPOINT_URL).profile("endpoint_url");
        sdk.service_config()?.load_config(key.build().unwrap())
    }

    #[test]
    fn lambdas_environment_is_read_without_the_full_loader() {
        let sdk = lambda_sdk_config(vars(&LAMBDA)).expect("Lambda's variables are all understood");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(sdk.credentials_provider().is_some() && sdk.behavior_version().is_some());
        assert_eq!(endpoint(&sdk, "DynamoDB"), None);
    }

    #[test]
    fn endpoints_come_from_the_environment_as_the_sdk_reads_them() {
        let mut env = vars(&LAMBDA);
        env.extend(vars(&[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]));
        let sdk = lambda_sdk_config(env).unwrap();
        assert_eq!(endpoint(&sdk, "DynamoDB").as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(endpoint(&sdk, "Secrets Manager").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(endpoint(&sdk, "SNS").as_deref(), Some("http://127.0.0.1:4566"));
    }

    #[test]
    fn anything_else_goes_to_the_full_loader() {
        for extra in [
            ("AWS_PROFILE", "dev"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://x"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ] {
            let mut env = vars(&LAMBDA);
            env.push((extra.0.into(), extra.1.into()));
            assert!(lambda_sdk_config(env).is_none(), "{}", extra.0);
        }
        let without_keys: Vec<_> = vars(&LAMBDA).into_iter().filter(|(k, _)| k != "AWS_SECRET_ACCESS_KEY").collect();
        assert!(lambda_sdk_config(without_keys).is_none());
        let without_region: Vec<_> = vars(&LAMBDA).into_iter().filter(|(k, _)| !k.ends_with("REGION")).collect();
        assert!(lambda_sdk_config(without_region).is_none());
    }
}
