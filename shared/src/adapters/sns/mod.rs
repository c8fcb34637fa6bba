//! SNS: codes by SMS, events to the topic, push to device endpoints.

pub mod events;
pub mod push;
pub mod sms;

pub use events::SnsEvents;
pub use push::SnsPush;
pub use sms::SnsSms;

use aws_sdk_sns::types::MessageAttributeValue;

/// A `String` message attribute (SMS type and sender id, event type and recipient).
fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
}
