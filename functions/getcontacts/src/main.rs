//! The `getcontacts` Lambda: GET|POST /getcontacts, contact discovery and delta sync.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(Operation::GetContacts).await
}
