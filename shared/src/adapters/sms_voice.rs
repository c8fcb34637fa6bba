//! AWS End User Messaging SMS (the pinpoint-sms-voice-v2 API): the protect configurations of the account.

use std::collections::BTreeMap;

use aws_sdk_pinpointsmsvoicev2::Client;
use aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext;
use aws_sdk_pinpointsmsvoicev2::types::{
    NumberCapability, ProtectConfigurationCountryRuleSetInformation, ProtectConfigurationFilter,
    ProtectConfigurationFilterName, ProtectStatus as AwsProtectStatus,
};

use crate::model::sms_protect::ProtectStatus;
use crate::usecase::ports::{ProtectUnavailable, SmsProtection};

pub struct SmsVoiceProtection {
    client: Client,
}

impl SmsVoiceProtection {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn unavailable(error: impl std::error::Error) -> ProtectUnavailable {
    ProtectUnavailable(DisplayErrorContext(error).to_string())
}

impl SmsProtection for SmsVoiceProtection {
    async fn countries(&self, id: &str) -> Result<Vec<String>, ProtectUnavailable> {
        let out = self
            .client
            .get_protect_configuration_country_rule_set()
            .protect_configuration_id(id)
            .number_capability(NumberCapability::Sms)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.country_rule_set.into_keys().collect())
    }

    async fn set_countries(&self, id: &str, rules: &BTreeMap<String, ProtectStatus>) -> Result<(), ProtectUnavailable> {
        let mut request = self
            .client
            .update_protect_configuration_country_rule_set()
            .protect_configuration_id(id)
            .number_capability(NumberCapability::Sms);
        for (country, status) in rules {
            let status = AwsProtectStatus::from(status.as_str());
            let rule = ProtectConfigurationCountryRuleSetInformation::builder().protect_status(status).build();
            request = request.country_rule_set_updates(country, rule.map_err(unavailable)?);
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn account_default(&self) -> Result<Option<String>, ProtectUnavailable> {
        let filter = ProtectConfigurationFilter::builder()
            .name(ProtectConfigurationFilterName::AccountDefault)
            .values("true")
            .build()
            .map_err(unavailable)?;
        let out = self.client.describe_protect_configurations().filters(filter).send().await.map_err(unavailable)?;
        let configurations = out.protect_configurations.unwrap_or_default();
        Ok(configurations.into_iter().find(|c| c.account_default).map(|c| c.protect_configuration_id))
    }

    async fn set_account_default(&self, id: &str) -> Result<(), ProtectUnavailable> {
        let request = self.client.set_account_default_protect_configuration().protect_configuration_id(id);
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn clear_account_default(&self) -> Result<(), ProtectUnavailable> {
        self.client.delete_account_default_protect_configuration().send().await.map_err(unavailable)?;
        Ok(())
    }
}
