//! The only code that talks to the outside world: DynamoDB (the table and its stream), SNS (SMS, events, push), SQS (fan-out pages),
//! mesibo's backend API, S3 (files), Secrets Manager (the code keys), AWS End User Messaging SMS (the protect
//! configuration), CloudFormation (a custom resource's answer), and CloudWatch metrics through standard output (EMF).
//! Each implements ports of `crate::usecase::ports`; nothing here decides anything.

pub mod cloudformation;
pub mod dynamodb;
pub mod emf;
pub mod mesibo;
pub mod s3;
pub mod secrets_manager;
pub mod sms_voice;
pub mod sns;
pub mod sqs;

/// Local development only: where the dev server shows what an adapter just did (a code sent, an event published),
/// one line each: its console and the web client's live panel. No Lambda sets one.
pub type DevEcho = std::sync::Arc<dyn Fn(String) + Send + Sync>;
