//! The `compat` Lambda: mesibo's `api.php` (also under /conf/ and /messenger/), every operation dispatched on `op`.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(Operation::MesiboApi).await
}
