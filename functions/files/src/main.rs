//! The `files` Lambda (upload, and downloads by name): template.yaml says which routes API Gateway sends it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http().await
}
