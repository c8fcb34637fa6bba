//! The `smsprotect` Lambda: the SMS protect configuration custom resource (template.yaml's SmsProtectDefault).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_sms_protect().await
}
