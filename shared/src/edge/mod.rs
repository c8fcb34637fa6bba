//! The HTTP edge (and the stream's, and a custom resource's): requests in, typed commands to the use cases, one envelope out.

pub mod caller;
pub mod commands;
pub mod compat;
pub mod custom_resource;
pub mod dispatch;
pub mod http;
pub mod lambda;
pub mod params;
pub mod reply;
pub mod routes;
pub mod settings;
pub mod stream;
