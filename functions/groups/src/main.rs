//! The `groups` Lambda (setgroup, getgroup, editmembers, setadmin, delgroup): builds the app once, then hands each request to `domain::groups`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = domain::App::from_env().await?;
    let app = &app;
    run(service_fn(move |request| async move { Ok::<_, Error>(domain::groups::handle(app, request).await) })).await
}
