//! The `login` Lambda: POST /login, a one-time code sent by SMS.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(Operation::Login).await
}
