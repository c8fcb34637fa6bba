//! The `files` Lambda: POST /upload, photos and attachments; GET /files/{name}, a redirect to a stored file.

use domain::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http(&[Operation::Upload, Operation::Download]).await
}
