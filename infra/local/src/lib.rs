//! The local stack: what `make dev` and the integration tests share.
//!
//! - [`template`] reads `template.yaml` (compiled in): the table definition and the HTTP routes. Nothing here
//!   restates them.
//! - [`cors`] answers browsers as API Gateway does, from the template's `CorsConfiguration`.
//! - [`dev_console`] and [`web_files`] are `make dev`'s own: the live panel's lines, and the web client's files.
//! - [`apigw`] turns an HTTP call into the API Gateway v2 event Lambda would receive, and that into a
//!   `lambda_http::Request` through lambda_http's own deserialisation.
//! - [`iam`] resolves each function's policies and environment in `template.yaml` against a stack's names.
//! - [`harness`] is what the integration tests and the benchmarks share (calls through the route table, numbers,
//!   moto's records, a manual clock).
//! - [`mesibo`] emulates mesibo's backend API (users, groups, messages, faults) for `make dev` and the tests.
//! - [`mesibo_check`] is `make mesibo-check`: this backend's mesibo calls against a real mesibo account.
//! - [`sms_voice`] emulates AWS End User Messaging SMS's protect configurations (moto has none) for the tests.
//! - [`recorder`] records the SDK calls a client makes, for the tests and the benchmarks.
//! - [`stream`] reads DynamoDB Local's stream for the notifier, as the event-source mapping does in AWS.
//! - [`queue`] creates the fan-out queue in moto and reads it for the fan-out function, as its event source does.
//! - [`runtime_api`] serves the Lambda runtime API to a function binary run as a process: `invoke`, the `events/`
//!   fixtures' test and the cold-start benchmark run the built functions under it, with no Docker.
//! - [`sam_local`] gives a function the variables `sam local invoke` would (template.yaml, shell, `--env-vars`).

pub mod apigw;
pub mod cors;
pub mod dev_console;
pub mod harness;
pub mod http_server;
pub mod iam;
pub mod mesibo;
pub mod mesibo_check;
pub mod queue;
pub mod recorder;
pub mod runtime_api;
pub mod sam_local;
pub mod sms_voice;
pub mod stream;
pub mod template;
pub mod web_files;
