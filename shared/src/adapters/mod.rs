//! The only code that talks to the outside world: DynamoDB (the table and its stream), SNS (SMS, events, push) and
//! mesibo's backend API, S3 (files), AWS End User Messaging SMS (the protect configuration) and CloudFormation (a
//! custom resource's answer).
//! Each implements ports of `crate::usecase::ports`; nothing here decides anything.

pub mod cloudformation;
pub mod dynamodb;
pub mod mesibo;
pub mod s3;
pub mod sms_voice;
pub mod sns;
