//! Codes go out by SMS through SNS `Publish` to the number itself.

use super::string_attribute;
use crate::adapters::DevEcho;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use tracing::{error, info};

use crate::config::SmsConfig;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::OtpCode;
use crate::usecase::ports::{SmsFailed, SmsGateway};

#[derive(Clone)]
pub struct SnsSms {
    client: Client,
    config: SmsConfig,
    app_name: String,
    echo: Option<DevEcho>,
}

impl SnsSms {
    pub fn new(client: Client, config: SmsConfig, app_name: String) -> Self {
        Self { client, config, app_name, echo: None }
    }

    /// Local development only (the dev server turns it on; no Lambda can): also show each code sent.
    pub fn with_echo(mut self, echo: DevEcho) -> Self {
        self.echo = Some(echo);
        self
    }

    pub fn message(&self, code: &OtpCode) -> String {
        let mut text = self.config.template.replace("{app}", &self.app_name).replace("{code}", code.as_str());
        if let Some(domain) = &self.config.otp_domain {
            // WebOTP / iOS one-time-code autofill: the last line binds the code to the site.
            text.push_str(&format!("\n\n@{domain} #{}", code.as_str()));
        }
        text
    }
}

impl SmsGateway for SnsSms {
    async fn send_code(&self, phone: &PhoneNumber, code: &OtpCode) -> Result<(), SmsFailed> {
        let mut request = self
            .client
            .publish()
            .phone_number(phone.e164())
            .message(self.message(code))
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional"));
        if let Some(sender_id) = &self.config.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id));
        }
        // SNS sends no SMS that would cost more: a premium or far destination the number rules missed costs nothing.
        if let Some(max_price) = &self.config.max_price {
            request = request.message_attributes("AWS.SNS.SMS.MaxPrice", string_attribute(max_price));
        }
        match request.send().await {
            Ok(_) => {
                info!(phone = %phone, "code sent");
                if let Some(echo) = &self.echo {
                    echo(format!("[dev SMS] to {} code {}", phone.e164(), code.as_str()));
                }
                Ok(())
            }
            Err(e) => {
                error!(phone = %phone, error = %DisplayErrorContext(&e), "sms publish failed");
                Err(SmsFailed)
            }
        }
    }
}
