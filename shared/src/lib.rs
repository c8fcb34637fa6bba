//! The domain of a messenger backend: phone sign-in with one-time codes, and contact discovery.
//!
//! Functions are thin: each `functions/<name>` binary builds an [`App`] once and hands every request to one use case
//! module here (`login`, `verify`, …). Use cases speak in validated types ([`PhoneNumber`], [`OtpCode`],
//! [`AccessToken`]); [`storage`] is the only module that knows the table; [`http`] is the only one that knows the
//! response envelope.

pub mod account;
pub mod app;
pub mod clock;
pub mod compat;
pub mod config;
pub mod error;
pub mod events;
pub mod getcontacts;
pub mod groups;
pub mod http;
pub mod limits;
pub mod links;
pub mod login;
pub mod notifier;
pub mod phone;
pub mod profile_text;
pub mod secrets;
pub mod session;
pub mod sms;
pub mod storage;
pub mod verify;

pub use app::App;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::Config;
pub use error::ApiError;
pub use phone::{DefaultRegion, PhoneNumber};
pub use secrets::{AccessToken, OtpCode, TokenHash};
