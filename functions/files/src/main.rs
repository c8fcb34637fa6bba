//! The `files` Lambda: POST /upload, photos and attachments; GET /files/{name}, a redirect to a stored file.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(Operation::Upload, Operation::Download).await
}
