//! The `mesibo` Lambda (mesibo mode): the table's stream in; users, groups and notifications at mesibo out.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_mesibo_stream().await
}
