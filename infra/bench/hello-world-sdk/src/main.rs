//! hello-world plus what any function that calls AWS does at init: the SDK configuration, built from the Lambda
//! environment as the product's functions build it, and a DynamoDB and an SNS client (each with the SDK's default
//! HTTPS client, which loads the system's root certificates). No configuration, no phone metadata, no secrets: the
//! floor under the product's init, which `make bench` reports beside hello-world.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = shared::app::sdk_config().await;
    let clients = &(aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sns::Client::new(&sdk));
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let _ = clients;
        Ok::<_, Error>(event.payload)
    }))
    .await
}
