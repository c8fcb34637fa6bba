//! The SMS protect configuration custom resource, through the function's handler: CloudFormation's requests in
//! (Create, Update, Delete), the emulated AWS End User Messaging SMS changed, and the answer PUT to the request's
//! ResponseURL, which a fake CloudFormation receives here. A failure is answered FAILED, never left unanswered.

use std::time::{Duration, Instant};

use integration_tests::fake_cloudformation::{FakeCloudFormation, Received};
use local_stack::sms_voice::{COUNTRIES, SmsVoiceEmulator};
use serde_json::{Value, json};
use shared::adapters::cloudformation::CustomResourceReply;
use shared::adapters::sms_voice::SmsVoiceProtection;
use shared::edge::lambda::answer_custom_resource;

struct Stack {
    emulator: SmsVoiceEmulator,
    cloudformation: FakeCloudFormation,
    aws: SmsVoiceProtection,
    reply: CustomResourceReply,
}

async fn stack() -> Stack {
    let emulator = SmsVoiceEmulator::start().await;
    let sdk = shared::app::sdk_config().await;
    let config = aws_sdk_pinpointsmsvoicev2::config::Builder::from(&sdk).endpoint_url(&emulator.url).build();
    let aws = SmsVoiceProtection::new(aws_sdk_pinpointsmsvoicev2::Client::from_conf(config));
    Stack {
        emulator,
        cloudformation: FakeCloudFormation::start().await,
        aws,
        reply: CustomResourceReply::new().unwrap(),
    }
}

impl Stack {
    fn request(&self, kind: &str, physical: Option<&str>, properties: Value) -> Value {
        let mut request = json!({
            "RequestType": kind,
            "ResponseURL": self.cloudformation.url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/messenger/0f1e2d3c",
            "RequestId": format!("request-{}", integration_tests::random_hex(4)),
            "ResourceType": "Custom::SmsProtectConfiguration",
            "LogicalResourceId": "SmsProtectDefault",
            "ResourceProperties": properties,
        });
        if let Some(physical) = physical {
            request["PhysicalResourceId"] = json!(physical);
        }
        request
    }

    /// The function's handler on one request: the answer CloudFormation got.
    async fn run(&self, request: Value) -> Received {
        let before = self.cloudformation.count();
        answer_custom_resource(&self.aws, &self.reply, request.clone()).await.expect("answered");
        assert_eq!(self.cloudformation.count(), before + 1, "exactly one answer");
        let received = self.cloudformation.last();
        assert_eq!(received.method, "PUT");
        assert_eq!(received.answer["RequestId"], request["RequestId"]);
        assert_eq!(received.answer["StackId"], request["StackId"]);
        assert_eq!(received.answer["LogicalResourceId"], "SmsProtectDefault");
        let content_type = received.headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
        assert!(content_type.is_none_or(str::is_empty), "S3's pre-signed URL takes no content type: {content_type:?}");
        received
    }
}

fn properties(id: &str, countries: &str) -> Value {
    json!({ "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:smsprotect", "ProtectConfigurationId": id, "AllowedCountries": countries })
}

fn allowed(rules: &std::collections::BTreeMap<String, String>) -> Vec<&str> {
    rules.iter().filter(|(_, status)| *status == "ALLOW").map(|(country, _)| country.as_str()).collect()
}

#[tokio::test]
async fn create_update_and_delete_keep_the_account_default_to_the_stacks_countries() {
    let s = stack().await;
    let first = s.emulator.create_configuration();

    let created = s.run(s.request("Create", None, properties(&first, "US, ca"))).await;
    assert_eq!(created.answer["Status"], "SUCCESS", "{:?}", created.answer);
    assert_eq!(created.answer["PhysicalResourceId"], first.as_str());
    assert_eq!(s.emulator.account_default().as_deref(), Some(first.as_str()));
    let rules = s.emulator.rules(&first);
    assert_eq!(allowed(&rules), ["CA", "US"]);
    assert_eq!(rules.len(), COUNTRIES.len(), "every other country blocked, none allowed by omission");
    assert_eq!(rules["JM"], "BLOCK");

    // The allowed countries change: the same configuration, new rules.
    let updated = s.run(s.request("Update", Some(&first), properties(&first, "IN"))).await;
    assert_eq!(
        (updated.answer["Status"].as_str(), updated.answer["PhysicalResourceId"].as_str()),
        (Some("SUCCESS"), Some(first.as_str()))
    );
    assert_eq!(allowed(&s.emulator.rules(&first)), ["IN"]);

    // The configuration is replaced: the new one becomes the default; the old one's Delete leaves it so.
    let second = s.emulator.create_configuration();
    let replaced = s.run(s.request("Update", Some(&first), properties(&second, "*"))).await;
    assert_eq!(replaced.answer["Status"], "SUCCESS", "{:?}", replaced.answer);
    assert_eq!(replaced.answer["PhysicalResourceId"], second.as_str());
    assert_eq!(s.emulator.account_default().as_deref(), Some(second.as_str()));
    assert_eq!(allowed(&s.emulator.rules(&second)).len(), COUNTRIES.len(), "`*`: every country");
    let old_deleted = s.run(s.request("Delete", Some(&first), properties(&first, "IN"))).await;
    assert_eq!(old_deleted.answer["Status"], "SUCCESS");
    assert_eq!(s.emulator.account_default().as_deref(), Some(second.as_str()), "not the stack's old one any more");

    // The stack is deleted: the account has no default any more.
    let deleted = s.run(s.request("Delete", Some(&second), properties(&second, "*"))).await;
    assert_eq!(
        (deleted.answer["Status"].as_str(), deleted.answer["PhysicalResourceId"].as_str()),
        (Some("SUCCESS"), Some(second.as_str()))
    );
    assert_eq!(s.emulator.account_default(), None);
    assert!(s.emulator.calls().contains(&"DeleteAccountDefaultProtectConfiguration".to_owned()));
}

#[tokio::test]
async fn someone_elses_account_default_is_never_replaced_nor_removed() {
    let s = stack().await;
    let theirs = s.emulator.create_configuration();
    s.emulator.set_account_default(&theirs);
    let ours = s.emulator.create_configuration();

    let refused = s.run(s.request("Create", None, properties(&ours, "US"))).await;
    assert_eq!(refused.answer["Status"], "FAILED");
    let reason = refused.answer["Reason"].as_str().unwrap();
    assert!(reason.contains(&theirs) && reason.contains("SmsProtect=Disabled"), "{reason}");
    assert_eq!(refused.answer["PhysicalResourceId"], ours.as_str());
    assert_eq!(s.emulator.account_default().as_deref(), Some(theirs.as_str()));
    assert_eq!(allowed(&s.emulator.rules(&ours)).len(), COUNTRIES.len(), "nothing changed");

    // The rollback deletes the resource that was never made: theirs stays the default.
    let rolled_back = s.run(s.request("Delete", Some(&ours), properties(&ours, "US"))).await;
    assert_eq!(rolled_back.answer["Status"], "SUCCESS");
    assert_eq!(s.emulator.account_default().as_deref(), Some(theirs.as_str()));
}

#[tokio::test]
async fn a_failure_is_answered_failed_with_its_reason_never_left_hanging() {
    let s = stack().await;
    let id = s.emulator.create_configuration();
    for (bad, expected) in [
        (properties(&id, ""), "AllowedCountries"),
        (properties(&id, "US,XX"), "AllowedCountries"),
        (json!({ "AllowedCountries": "US" }), "ProtectConfigurationId"),
        (properties("protect-nonexistent", "US"), "ResourceNotFound"),
    ] {
        let failed = s.run(s.request("Create", None, bad)).await;
        assert_eq!(failed.answer["Status"], "FAILED");
        let reason = failed.answer["Reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{reason}");
        assert!(!failed.answer["PhysicalResourceId"].as_str().unwrap().is_empty());
    }
    assert_eq!(s.emulator.account_default(), None);
    let mut odd = s.request("Create", None, properties(&id, "US"));
    odd["PhysicalResourceId"] = json!(42);
    odd["ResourceProperties"] = json!("not an object");
    let failed = s.run(odd).await;
    assert_eq!(failed.answer["Status"], "FAILED", "a malformed request is answered too");

    // The API down: the SDK's retries run out, and CloudFormation hears FAILED within seconds, not an hour.
    s.emulator.go_down();
    let started = Instant::now();
    let failed = s.run(s.request("Create", None, properties(&id, "US"))).await;
    assert_eq!(failed.answer["Status"], "FAILED");
    assert!(failed.answer["Reason"].as_str().unwrap().contains("InternalServer"), "{:?}", failed.answer);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let failed = s.run(s.request("Delete", Some(&id), properties(&id, "US"))).await;
    assert_eq!(failed.answer["Status"], "FAILED");
}

/// The protect configuration allows what the code allows: the custom resource gets the same countries as the
/// functions' ALLOWED_REGIONS, for the configuration the stack made; it is an opt-in (it changes a setting of the whole
/// account), and CloudFormation waits minutes for its answer, not the default hour.
#[test]
fn the_template_gives_the_custom_resource_the_functions_allow_list() {
    let template = local_stack::template::template();
    let resource = &template["Resources"]["SmsProtectDefault"];
    for function in ["LoginFunction", "VerifyFunction", "CompatFunction"] {
        let regions = &template["Resources"][function]["Properties"]["Environment"]["Variables"]["ALLOWED_REGIONS"];
        assert_eq!(&resource["Properties"]["AllowedCountries"], regions, "{function}");
    }
    let id = format!("{:?}", resource["Properties"]["ProtectConfigurationId"]);
    assert!(id.contains("SmsProtectConfiguration.ProtectConfigurationId"), "{id}");
    assert_eq!(template["Parameters"]["SmsProtect"]["Default"], "Disabled");
    assert_eq!(resource["Properties"]["ServiceTimeout"], 120);
    for name in ["SmsProtectConfiguration", "SmsProtectFunction", "SmsProtectDefault"] {
        assert_eq!(template["Resources"][name]["Condition"], "SmsProtectOn", "{name}");
    }
}
