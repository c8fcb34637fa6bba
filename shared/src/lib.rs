//! The domain of a messenger backend: phone sign-in with one-time codes, contact discovery, groups.
//!
//! The folders are the architecture, and dependencies point inward (README, Architecture):
//! - [`model`]: types and rules, no I/O;
//! - [`usecase`]: one module per use case, each taking a typed command and the ports ([`usecase::ports`]) it needs;
//! - [`edge`]: HTTP (and stream) in, typed commands, one route table, one response envelope;
//! - [`adapters`]: DynamoDB and SNS behind the ports: the only code that talks to the outside world;
//! - [`app`] wires them together, [`config`] reads the settings, [`error`] lists every way a request can fail.

pub mod adapters;
pub mod app;
pub mod config;
pub mod edge;
pub mod error;
pub mod model;
pub mod usecase;

pub use app::App;
pub use config::Config;
pub use error::ApiError;
pub use model::clock::{Clock, SystemClock, Timestamp};
pub use model::phone::{DefaultRegion, PhoneNumber};
pub use model::secrets::{AccessToken, OtpCode, TokenHash};
