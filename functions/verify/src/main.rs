//! The `verify` Lambda: POST /verify, a code checked and the person signed in (created on a first sign-in).

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(Operation::Verify).await
}
