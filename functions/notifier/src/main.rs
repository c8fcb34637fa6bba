//! The `notifier` Lambda: stream records of profile inserts and changes in, `contact_joined` / `profile_updated` events out.

use domain::events::SnsEvents;
use lambda_http::lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = domain::App::from_env().await?;
    let topic = app
        .config
        .contacts
        .events_topic_arn
        .clone()
        .ok_or("configuration: CONTACT_EVENTS_TOPIC_ARN: required by the notifier")?;
    let sink = SnsEvents::new(app.sns_client(), topic);
    let (app, sink) = (&app, &sink);
    run(service_fn(move |event: LambdaEvent<domain::notifier::StreamEvent>| async move {
        Ok::<_, Error>(domain::notifier::handle(app, sink, event.payload).await)
    }))
    .await
}
