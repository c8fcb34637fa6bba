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
