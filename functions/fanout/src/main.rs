//! The `fanout` Lambda: pages of large audiences from the fan-out queue in, events out (usecase::notify).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_fanout().await
}
