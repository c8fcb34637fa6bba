//! The `verify` Lambda (POST /verify): template.yaml says which routes API Gateway sends it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http().await
}
