//! The only code that talks to the outside world: DynamoDB (the table and its stream) and SNS (SMS, events, push).
//! Each implements ports of `crate::usecase::ports`; nothing here decides anything.

pub mod dynamodb;
pub mod sns;
