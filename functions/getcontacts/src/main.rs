//! The `getcontacts` Lambda: GET|POST /getcontacts, contact discovery and delta sync.

use domain::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http(&[Operation::GetContacts]).await
}
