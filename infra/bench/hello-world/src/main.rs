//! The `lambda_runtime` hello-world: what a Rust function costs before it does anything. `make bench` starts it beside
//! the product's functions and reports their init duration as a ratio of this one's.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<_, Error>(event.payload) })).await
}
