//! The one body of every function's `main`: configuration and clients built once at init, then requests (or stream
//! batches) handed to the route table (or the notifier) until Lambda stops the instance.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};

use super::custom_resource::{self, CustomResourceRequest};
use super::http::Served;
use super::routes::Operation;
use super::settings::Settings;
use super::stream::MesiboEvent;
use super::{http, stream};
use crate::adapters::cloudformation::CustomResourceReply;
use crate::adapters::dynamodb::stream::StreamEvent;
use crate::adapters::secrets_manager::{self, RotationStep};
use crate::adapters::sms_voice::SmsVoiceProtection;
use crate::adapters::sns::SnsEvents;
use crate::adapters::sqs::{SqsEvent, SqsFanout};
use crate::app::{App, Aws, sdk_config};
use crate::config::ConfigError;
use crate::model::clock::SystemClock;
use crate::usecase::backfill::{self, Backfill};

/// An HTTP function's `main`: `shared::serve_http!(Operation::Verify).await` serves the operations named, and refuses
/// any other route (`template.yaml` sends a function only its own). Their code is chosen in a constant, so the
/// binary links only what its routes run.
#[macro_export]
macro_rules! serve_http {
    ($($operation:expr),+ $(,)?) => {
        $crate::edge::lambda::serve_http(const { &[$($crate::edge::http::Served::of($operation)),+] })
    };
}

/// An HTTP function serving the `served` operations (see [`serve_http!`]).
pub async fn serve_http(served: &'static [Served<Aws>]) -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let operations: Vec<Operation> = served.iter().map(|served| served.operation).collect();
    let app = &start(&Settings::served_by(&operations), &sdk_config().await).await?;
    lambda_http::run(service_fn(move |request| async move { Ok::<_, Error>(http::answer(app, served, request).await) }))
        .await
}

/// The mesibo sync (mesibo mode): the table's stream in, users, groups and notifications at mesibo out.
pub async fn serve_mesibo_stream() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = start(&Settings::mesibo_sync(), &sdk_config().await).await?;
    let mesibo =
        app.mesibo.as_ref().ok_or("configuration: MESIBO_APP_TOKEN_SECRET_ARN: required by the mesibo sync")?;
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<MesiboEvent>| async move {
        Ok::<_, Error>(Box::pin(stream::handle_mesibo_event(app, mesibo, event.payload)).await?)
    }))
    .await
}

/// The notifier: the table's stream in, events to `CONTACT_EVENTS_TOPIC_ARN` out.
pub async fn serve_stream() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let (app, sink, queue) = start_with_events("the notifier").await?;
    let (app, sink, queue) = (&app, &sink, &queue);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        // Boxed: the notifier's future nests deep enough to exceed the compiler's layout depth when inlined.
        Ok::<_, Error>(Box::pin(stream::handle(app, sink, queue, event.payload)).await)
    }))
    .await
}

/// The fan-out function: pages of large audiences (and coalesced profile changes) from `FANOUT_QUEUE_URL` in,
/// events to `CONTACT_EVENTS_TOPIC_ARN` out; it queues each next page itself.
pub async fn serve_fanout() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let (app, sink, queue) = start_with_events("the fan-out function").await?;
    let (app, sink, queue) = (&app, &sink, &queue);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(Box::pin(stream::handle_fanout(app, sink, queue, event.payload)).await)
    }))
    .await
}

/// The backfill, invoked by the operator with `{}` (or `{"restart": true}` for a new pass): works until a minute
/// before the invocation's deadline and answers where it stands (`usecase::backfill::BackfillReport`).
pub async fn serve_backfill() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = &start(&Settings::backfill(), &sdk_config().await).await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<BackfillRequest>| async move {
        let left = Duration::from_millis(event.context.deadline).saturating_sub(since_epoch());
        let until = Instant::now() + left.saturating_sub(BACKFILL_MARGIN);
        let command = Backfill { until, restart: event.payload.restart, page_items: backfill::PAGE_ITEMS };
        Ok::<_, Error>(backfill::backfill(app, command).await?)
    }))
    .await
}

/// Time left at the end of a backfill run for its last page (a page is a Scan and its rewrites: seconds).
const BACKFILL_MARGIN: Duration = Duration::from_secs(60);

/// What the operator sends the backfill.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct BackfillRequest {
    pub restart: bool,
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The app of a function that reads `settings` from the environment, and no other: the configuration (failing with
/// the variable's name), the SDK clients and the phone metadata, all during Lambda init rather than in the first
/// request.
async fn start(settings: &Settings, sdk: &aws_config::SdkConfig) -> Result<App, ConfigError> {
    App::start(settings.only(|name| std::env::var(name).ok()), sdk, Arc::new(SystemClock)).await
}

/// What the notifier and the fan-out function both send to: the events topic and the fan-out queue, with clients
/// built from the one SDK configuration the app's are.
async fn start_with_events(function: &str) -> Result<(App, SnsEvents, SqsFanout), Error> {
    let sdk = sdk_config().await;
    let app = start(&Settings::news(), &sdk).await?;
    let contacts = &app.config.contacts;
    let topic = contacts.events_topic_arn.clone();
    let topic = topic.ok_or_else(|| format!("configuration: CONTACT_EVENTS_TOPIC_ARN: required by {function}"))?;
    let url = contacts.fanout_queue_url.clone();
    let url = url.ok_or_else(|| format!("configuration: FANOUT_QUEUE_URL: required by {function}"))?;
    let sink = SnsEvents::new(app.sns_client(), topic);
    let queue = SqsFanout::new(aws_sdk_sqs::Client::new(&sdk), url);
    Ok((app, sink, queue))
}

/// What Secrets Manager sends the rotation function, once per step.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub secret_id: String,
    pub client_request_token: String,
    pub step: RotationStep,
}

/// The code-key rotation: Secrets Manager's four steps for the version it names. An error fails the step, and
/// Secrets Manager retries the rotation; the functions keep the current key meanwhile.
pub async fn serve_key_rotation() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let client = &aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<RotationEvent>| async move {
        rotation_step(client, event.payload).await.map_err(Error::from)
    }))
    .await
}

/// The SMS protect configuration custom resource: CloudFormation's requests in, the account default protect
/// configuration set or given back, CloudFormation answered. Needs no settings: the request carries them.
pub async fn serve_sms_protect() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = sdk_config().await;
    let aws = &SmsVoiceProtection::new(aws_sdk_pinpointsmsvoicev2::Client::new(&sdk));
    let reply = &CustomResourceReply::new()?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        answer_custom_resource(aws, reply, event.payload).await
    }))
    .await
}

/// One invocation of the rotation function.
pub async fn rotation_step(client: &aws_sdk_secretsmanager::Client, event: RotationEvent) -> Result<(), String> {
    let RotationEvent { secret_id, client_request_token, step } = event;
    let done = secrets_manager::rotate(client, &secret_id, &client_request_token, step).await;
    match &done {
        Ok(()) => tracing::info!(?step, "code key rotation step done"),
        Err(e) => tracing::error!(?step, error = %e, "code key rotation step failed"),
    }
    done
}

/// One request, answered whatever happens: the stack waits for the answer, not for this function.
pub async fn answer_custom_resource(
    aws: &SmsVoiceProtection,
    reply: &CustomResourceReply,
    event: serde_json::Value,
) -> Result<(), Error> {
    let request = CustomResourceRequest::read(&event).ok_or("not a CloudFormation custom resource request")?;
    let answer = custom_resource::handle(aws, &request).await;
    reply.send(&request.response_url, &answer).await?;
    Ok(())
}
