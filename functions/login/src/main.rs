//! The `login` Lambda: POST /login, a one-time code sent by SMS.

use domain::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http(&[Operation::Login]).await
}
