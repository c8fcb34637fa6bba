//! The use cases: each takes a typed command (built at the edge) and reaches the outside world only through the
//! ports in [`ports`]. A use case never calls into another; steps that two share live in their own module
//! ([`code_attempt`], [`group_edit`]) and rules in `crate::model`.

pub mod account;
pub mod code_attempt;
pub mod contacts;
pub mod group_edit;
pub mod groups;
pub mod notify;
pub mod ports;
pub mod session;
pub mod sign_in;
