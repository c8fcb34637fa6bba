//! An emulator of AWS End User Messaging SMS (the pinpoint-sms-voice-v2 API), the few protect configuration
//! operations the SMS protect custom resource calls, for the tests (moto has none of them). Written from the API
//! reference: the awsJson1_0 protocol (`POST /`, `X-Amz-Target: PinpointSMSVoiceV2.<Operation>`, JSON in and out,
//! errors as HTTP 400 with `__type`), a new protect configuration allowing every country, one account default.
//!
//! It answers `GetProtectConfigurationCountryRuleSet`, `UpdateProtectConfigurationCountryRuleSet`,
//! `DescribeProtectConfigurations`, `SetAccountDefaultProtectConfiguration` and
//! `DeleteAccountDefaultProtectConfiguration`; anything else is an `UnknownOperationException`. With
//! [`SmsVoiceEmulator::go_down`] every call answers 500 `InternalServerException`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The countries this emulator sends SMS to (AWS lists over 200; these are enough to tell allowed from blocked).
pub const COUNTRIES: &[&str] = &[
    "AE", "AR", "AT", "AU", "BD", "BE", "BR", "CA", "CH", "CL", "CN", "CO", "CZ", "DE", "DK", "DO", "EG", "ES", "FI",
    "FR", "GB", "GR", "HK", "HU", "ID", "IE", "IL", "IN", "IT", "JM", "JP", "KE", "KR", "LK", "MX", "MY", "NG", "NL",
    "NO", "NP", "NZ", "PE", "PH", "PK", "PL", "PT", "RO", "RU", "SA", "SE", "SG", "TH", "TR", "TW", "UA", "US", "VN",
    "ZA",
];

const ACCOUNT: &str = "123456789012";

#[derive(Debug, Default)]
struct State {
    /// Protect configuration id → country → SMS status.
    configurations: BTreeMap<String, BTreeMap<String, String>>,
    account_default: Option<String>,
    /// Every operation called, in order.
    calls: Vec<String>,
    down: bool,
}

#[derive(Clone)]
pub struct SmsVoiceEmulator {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl SmsVoiceEmulator {
    /// On a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let emulator = Self { url, state: Arc::default() };
        let this = emulator.clone();
        tokio::spawn(crate::http_server::serve(listener, move |request| {
            let this = this.clone();
            async move { this.answer(request).await }
        }));
        emulator
    }

    /// A new protect configuration, as CloudFormation's `AWS::SMSVOICE::ProtectConfiguration` makes one: every
    /// country allowed.
    pub fn create_configuration(&self) -> String {
        let id = format!("protect-{}", crate::harness::random_hex(16));
        let rules = COUNTRIES.iter().map(|c| (c.to_string(), "ALLOW".to_owned())).collect();
        self.lock().configurations.insert(id.clone(), rules);
        id
    }

    /// The configuration's SMS rules.
    pub fn rules(&self, id: &str) -> BTreeMap<String, String> {
        self.lock().configurations.get(id).cloned().unwrap_or_default()
    }

    pub fn account_default(&self) -> Option<String> {
        self.lock().account_default.clone()
    }

    /// Someone else's configuration made the account default (not through the custom resource).
    pub fn set_account_default(&self, id: &str) {
        self.lock().account_default = Some(id.to_owned());
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// From now on every call answers 500.
    pub fn go_down(&self) {
        self.lock().down = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn answer(&self, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let operation = header("x-amz-target").strip_prefix("PinpointSMSVoiceV2.").unwrap_or_default().to_owned();
        let mut state = self.lock();
        state.calls.push(operation.clone());
        let outcome = if state.down {
            Err(error(500, "InternalServerException", "the service is unavailable"))
        } else if parts.method != hyper::Method::POST
            || !header("content-type").starts_with("application/x-amz-json-1.0")
        {
            Err(error(400, "SerializationException", "awsJson1_0: POST with application/x-amz-json-1.0"))
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(input) => state.operation(&operation, &input),
                Err(_) => Err(error(400, "SerializationException", "the body is no JSON")),
            }
        };
        match outcome {
            Ok(output) => reply(200, output),
            Err(Fault(status, body)) => reply(status, body),
        }
    }
}

/// An error answer: its HTTP status and body.
struct Fault(u16, Value);

type Outcome = Result<Value, Fault>;

impl State {
    fn operation(&mut self, operation: &str, input: &Value) -> Outcome {
        match operation {
            "GetProtectConfigurationCountryRuleSet" => {
                let id = self.known(input)?;
                sms_only(input)?;
                Ok(self.rule_set(&id))
            }
            "UpdateProtectConfigurationCountryRuleSet" => {
                let id = self.known(input)?;
                sms_only(input)?;
                let updates = input["CountryRuleSetUpdates"].as_object().cloned().unwrap_or_default();
                if updates.is_empty() {
                    return Err(error(400, "ValidationException", "CountryRuleSetUpdates is required"));
                }
                for (country, rule) in &updates {
                    let status = rule["ProtectStatus"].as_str().unwrap_or_default();
                    if !COUNTRIES.contains(&country.as_str()) {
                        return Err(error(400, "ValidationException", &format!("unknown country {country}")));
                    }
                    if !["ALLOW", "BLOCK", "MONITOR", "FILTER"].contains(&status) {
                        return Err(error(400, "ValidationException", &format!("unknown status {status}")));
                    }
                }
                let rules = self.configurations.get_mut(&id).expect("known");
                for (country, rule) in updates {
                    rules.insert(country, rule["ProtectStatus"].as_str().unwrap_or_default().to_owned());
                }
                Ok(self.rule_set(&id))
            }
            "DescribeProtectConfigurations" => {
                let ids: Option<Vec<String>> = input["ProtectConfigurationIds"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect());
                let mut defaults_only = None;
                for filter in input["Filters"].as_array().into_iter().flatten() {
                    let values: Vec<&str> =
                        filter["Values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    match filter["Name"].as_str() {
                        Some("account-default") => defaults_only = Some(values.contains(&"true")),
                        Some("deletion-protection-enabled") => {}
                        _ => return Err(error(400, "ValidationException", "unknown filter")),
                    }
                }
                if let Some(missing) = ids.iter().flatten().find(|id| !self.configurations.contains_key(*id)) {
                    return Err(not_found(missing));
                }
                let listed: Vec<Value> = self
                    .configurations
                    .keys()
                    .filter(|id| ids.as_ref().is_none_or(|ids| ids.contains(id)))
                    .filter(|id| {
                        defaults_only.is_none_or(|wanted| wanted == (self.account_default.as_ref() == Some(id)))
                    })
                    .map(|id| {
                        json!({
                            "ProtectConfigurationArn": arn(id),
                            "ProtectConfigurationId": id,
                            "CreatedTimestamp": 1_767_225_600,
                            "AccountDefault": self.account_default.as_ref() == Some(id),
                            "DeletionProtectionEnabled": false,
                        })
                    })
                    .collect();
                Ok(json!({ "ProtectConfigurations": listed }))
            }
            "SetAccountDefaultProtectConfiguration" => {
                let id = self.known(input)?;
                self.account_default = Some(id.clone());
                Ok(json!({ "DefaultProtectConfigurationArn": arn(&id), "DefaultProtectConfigurationId": id }))
            }
            "DeleteAccountDefaultProtectConfiguration" => match self.account_default.take() {
                Some(id) => {
                    Ok(json!({ "DefaultProtectConfigurationArn": arn(&id), "DefaultProtectConfigurationId": id }))
                }
                None => Err(error(400, "ResourceNotFoundException", "no account default protect configuration")),
            },
            other => Err(error(400, "UnknownOperationException", &format!("unknown operation {other:?}"))),
        }
    }

    /// The request's `ProtectConfigurationId`, if there is such a configuration.
    fn known(&self, input: &Value) -> Result<String, Fault> {
        let id = input["ProtectConfigurationId"].as_str().unwrap_or_default();
        match self.configurations.contains_key(id) {
            true => Ok(id.to_owned()),
            false => Err(not_found(id)),
        }
    }

    fn rule_set(&self, id: &str) -> Value {
        let rules: serde_json::Map<String, Value> = self.configurations[id]
            .iter()
            .map(|(country, status)| (country.clone(), json!({ "ProtectStatus": status })))
            .collect();
        json!({
            "ProtectConfigurationArn": arn(id),
            "ProtectConfigurationId": id,
            "NumberCapability": "SMS",
            "CountryRuleSet": rules,
        })
    }
}

fn sms_only(input: &Value) -> Result<(), Fault> {
    match input["NumberCapability"].as_str() {
        Some("SMS" | "VOICE" | "MMS") => Ok(()),
        _ => Err(error(400, "ValidationException", "NumberCapability is SMS, VOICE or MMS")),
    }
}

fn arn(id: &str) -> String {
    format!("arn:aws:sms-voice:us-east-1:{ACCOUNT}:protect-configuration/{id}")
}

fn not_found(id: &str) -> Fault {
    let body = json!({
        "__type": "ResourceNotFoundException",
        "Message": format!("no protect configuration {id}"),
        "ResourceType": "protect-configuration",
        "ResourceId": id,
    });
    Fault(400, body)
}

fn error(status: u16, kind: &str, message: &str) -> Fault {
    Fault(status, json!({ "__type": kind, "Message": message }))
}

fn reply(status: u16, body: Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}
