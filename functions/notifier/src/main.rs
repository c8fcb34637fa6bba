//! The `notifier` Lambda: the table's stream in, `contact_joined` / `profile_updated` / `group_updated` events out.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_stream().await
}
