//! The only code that talks to the outside world: DynamoDB (the table and its stream), SNS (SMS, events, push) and
//! mesibo's backend API, S3 (files), Secrets Manager (the code keys).
//! Each implements ports of `crate::usecase::ports`; nothing here decides anything.

pub mod dynamodb;
pub mod mesibo;
pub mod s3;
pub mod secrets_manager;
pub mod sns;
