//! The only code that talks to the outside world: DynamoDB (the table and its stream), SNS (SMS, events, push),
//! mesibo's backend API, S3 (files), Secrets Manager (the code keys), and CloudWatch metrics through standard output
//! (EMF).
//! Each implements ports of `crate::usecase::ports`; nothing here decides anything.

pub mod dynamodb;
pub mod emf;
pub mod mesibo;
pub mod s3;
pub mod secrets_manager;
pub mod sns;
