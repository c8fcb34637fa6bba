//! The `compat` Lambda (mesibo's api.php): template.yaml says which routes API Gateway sends it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http().await
}
