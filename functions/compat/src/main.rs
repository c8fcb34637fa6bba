//! The `compat` Lambda (mesibo's api.php): builds the app once, then hands each request to `domain::compat`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = domain::App::from_env().await?;
    let app = &app;
    run(service_fn(move |request| async move { Ok::<_, Error>(domain::compat::handle(app, request).await) })).await
}
