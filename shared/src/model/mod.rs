//! Types and rules, no I/O: what a valid phone number, code, token, profile, group and event is, and the rules
//! over them. Everything else depends on this; it depends on nothing but `crate::error`.

pub mod address_book;
pub mod client_address;
pub mod clock;
pub mod code;
pub mod contact;
pub mod devices;
pub mod events;
pub mod group;
pub mod links;
pub mod lookup_quota;
pub mod measured;
pub mod media;
pub mod phone;
pub mod profile;
pub mod rate_limit;
pub mod secrets;
pub mod sessions;
pub mod sms_protect;
pub mod text;
