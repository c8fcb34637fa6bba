//! The `keyrotation` Lambda: Secrets Manager's rotation of the code-key secret, one step per invocation.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_key_rotation().await
}
