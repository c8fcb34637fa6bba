//! `make dev`: serves template.yaml's routes at http://127.0.0.1:3000 with the real handlers, against the local
//! stack started by infra/with-stack.sh, with mesibo's backend API emulated beside it (unless MESIBO_API_URL and
//! MESIBO_APP_TOKEN name a real one). Codes sent by SMS, events and calls to mesibo are printed here, one labelled
//! line each, and shown in the web client (`web/`, served at `/`) as its live panel. Browsers are answered as API
//! Gateway answers them, from the template's CORS configuration (ALLOWED_ORIGINS as its `AllowedOrigins`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use local_stack::apigw::HttpCall;
use local_stack::cors::Cors;
use local_stack::dev_console::{self, DevConsole};
use local_stack::mesibo::MesiboEmulator;
use local_stack::queue::QueuePoller;
use local_stack::stream::StreamPoller;
use local_stack::template::{Route, create_table, http_routes, template};
use shared::adapters::sns::SnsEvents;
use shared::config::MesiboAppToken;
use shared::edge::routes::Operation;
use shared::{App, Config, SystemClock};
use tokio::net::TcpListener;

/// Fan-out function instances the dev server runs side by side.
const FANOUT_INSTANCES: usize = 4;

/// API Gateway's own payload limit; the handlers apply the product's much smaller one.
const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    lambda_http::tracing::init_default_subscriber();
    let mut config = Config::from_env()?;
    let cors = Cors::from_template(&template(), std::env::var("ALLOWED_ORIGINS").ok().as_deref())?;
    let console = DevConsole::new();
    // mesibo: the account (or on-premise server, or other emulator) in the environment, else the emulator here;
    // MESIBO_EMULATOR=off runs standalone mode instead.
    let emulate = std::env::var("MESIBO_EMULATOR").map_or(true, |v| v != "off");
    if config.mesibo.app_token.is_none() && !emulate {
        println!("[dev mesibo] standalone mode (MESIBO_EMULATOR=off): no mesibo");
    } else if config.mesibo.app_token.is_none() {
        let port = std::env::var("MESIBO_EMULATOR_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        let token = format!("dev-app-token-{}", local_stack::harness::random_hex(12));
        let emulator = MesiboEmulator::start_on(port, token, Some(console.echo())).await?;
        println!(
            "[dev mesibo] emulator of mesibo's backend API at {} (state: {}_emulator/state)",
            emulator.url,
            emulator.url.trim_end_matches("backend/")
        );
        config.mesibo.api_url = emulator.url.clone();
        config.mesibo.app_token = MesiboAppToken::new(emulator.app_token.clone());
    } else {
        println!("[dev mesibo] using mesibo at {} (MESIBO_API_URL)", config.mesibo.api_url);
    }
    let sdk = shared::app::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamodb, &config.table_name).await?;
    let topic = aws_sdk_sns::Client::new(&sdk).create_topic().name("ContactEventsTopic").send().await?.topic_arn;
    if let Some(files) = &config.files {
        local_stack::template::create_bucket(&shared::app::s3_client(&sdk), &files.bucket).await?;
        println!("[dev files] photos and attachments in bucket {} (moto)", files.bucket);
    }
    config.contacts.events_topic_arn = topic.clone();
    // The FanoutQueue, in moto: audiences larger than a page go through it, as in AWS.
    let fanout = Arc::new(QueuePoller::create(aws_sdk_sqs::Client::new(&sdk), "FanoutQueue", 30).await?);
    config.contacts.fanout_queue_url = Some(fanout.url.clone());
    store_local_secrets(&sdk, &config).await?;
    let mut app = App::new(config, &sdk, Arc::new(SystemClock));
    app.sms = app.sms.with_echo(console.echo());
    let app = Arc::new(app);

    // The NotifierFunction (and, in mesibo mode, the MesiboFunction), fed from the table's stream as the event-source
    // mappings feed them in AWS.
    let events = SnsEvents::new(app.sns_client(), topic.ok_or("no topic ARN")?).with_echo(console.echo());
    let mut poller =
        StreamPoller::new(&dynamodb, aws_sdk_dynamodbstreams::Client::new(&sdk), &app.config.table_name).await?;
    let notifier_app = app.clone();
    let queue = fanout.sender();
    // The FanoutFunction, fed from the queue as its event source feeds it, a few instances at once.
    for _ in 0..FANOUT_INSTANCES {
        let (app, fanout, events) = (app.clone(), fanout.clone(), events.clone());
        tokio::spawn(async move {
            let queue = fanout.sender();
            loop {
                match fanout.receive(1).await {
                    Ok((event, receipts)) if !event.records.is_empty() => {
                        let response = shared::edge::stream::handle_fanout(&app, &events, &queue, event.clone()).await;
                        if let Err(e) = fanout.settle(&event, &receipts, &response).await {
                            eprintln!("[dev fanout] delete failed: {e}");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("[dev fanout] queue poll failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
    tokio::spawn(async move {
        loop {
            match poller.poll().await {
                Ok(event) if !event.records.is_empty() => {
                    // Both readers of the stream, as the two event-source mappings feed them in AWS.
                    if let Some(mesibo) = &notifier_app.mesibo {
                        let response = shared::edge::stream::handle_mesibo(&notifier_app, mesibo, event.clone()).await;
                        if !response.batch_item_failures.is_empty() {
                            eprintln!("[dev mesibo] sync failed at records: {:?}", response.batch_item_failures);
                        }
                    }
                    let response = shared::edge::stream::handle(&notifier_app, &events, &queue, event).await;
                    if !response.batch_item_failures.is_empty() {
                        eprintln!("[dev notifier] failed records: {:?}", response.batch_item_failures);
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("[dev notifier] stream poll failed: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });

    let routes = Arc::new(http_routes());
    for route in routes.iter() {
        if Operation::for_path(&route.path).is_none() {
            return Err(format!(
                "template.yaml routes {} {}, which the route table does not know",
                route.method, route.path
            )
            .into());
        }
    }
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("API at http://127.0.0.1:{port} (table {}):", app.config.table_name);
    for route in routes.iter() {
        println!("  {:<6} {:<20} -> {}", route.method, route.path, route.function);
    }
    match &cors {
        Some(cors) => println!("Browsers: pages of {} may read the answers (ALLOWED_ORIGINS)", cors.origins.join(", ")),
        None => println!("Browsers: no page of another origin may read the answers (ALLOWED_ORIGINS is empty)"),
    }
    let web_root = std::path::PathBuf::from(std::env::var("WEB_ROOT").unwrap_or_else(|_| "web".into()));
    println!("Web client at http://127.0.0.1:{port}/ (from {}/)", web_root.display());
    let site = Arc::new(Site { app, routes, cors, console, web_root });

    loop {
        let (stream, peer) = listener.accept().await?;
        let site = site.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| serve(site.clone(), peer, request));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The secrets a deployed function reads at start (template.yaml's OtpSecret, CodeKeySecret and AppSecrets, and
/// mesibo's app token), put in moto's Secrets Manager with this server's own values, so that a function run on its
/// own (`sam local invoke` or `invoke` with events/env.json, which names them) signs in with the same keys, test
/// numbers and mesibo as this server: a code sent here verifies there.
async fn store_local_secrets(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<(), aws_sdk_secretsmanager::Error> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let app = serde_json::json!({ "TEST_NUMBERS": env("TEST_NUMBERS"), "GOOGLE_API_KEY": env("GOOGLE_API_KEY") });
    // The code key is this server's HMAC key too: it signs codes unversioned with it, so a code either side sends
    // verifies on the other.
    let mut values =
        vec![("otp", env("OTP_HMAC_SECRET")), ("code-key", env("OTP_HMAC_SECRET")), ("app", app.to_string())];
    if let Some(token) = &config.mesibo.app_token {
        values.push(("mesibo-app-token", token.expose().to_owned()));
    }
    let names: Vec<String> = values.iter().map(|(name, _)| format!("{}/{name}", config.table_name)).collect();
    for ((_, value), name) in values.iter().zip(&names) {
        let created = secrets.create_secret().name(name).secret_string(value).send().await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                secrets.put_secret_value().secret_id(name).secret_string(value).send().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("[dev secrets] {} in moto's Secrets Manager (events/env.json names them)", names.join(", "));
    Ok(())
}

/// What the dev server answers: the API (as API Gateway would, CORS included), the web client and its live panel.
struct Site {
    app: Arc<App>,
    routes: Arc<Vec<Route>>,
    /// `None`: CORS off (AllowedOrigins empty), as API Gateway without a CORS configuration.
    cors: Option<Cors>,
    console: Arc<DevConsole>,
    web_root: std::path::PathBuf,
}

async fn serve(
    site: Arc<Site>,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin").map(str::to_owned);
    let preflight = site.cors.as_ref().and_then(|cors| {
        cors.preflight(
            request.method().as_str(),
            origin.as_deref(),
            header("access-control-request-method"),
            header("access-control-request-headers"),
        )
    });
    if let Some(headers) = preflight {
        return Ok(with_headers(hyper::Response::builder().status(204), headers, Bytes::new()));
    }
    let path = request.uri().path();
    let routed =
        site.routes.iter().any(|r| r.matches(path) && (r.method == request.method().as_str() || r.method == "ANY"));
    // The web client and its live panel are this dev server's own, same-origin only: no CORS header, so no other
    // page open in the browser reads the codes the panel shows.
    if !routed && request.method() == hyper::Method::GET {
        if path == dev_console::LIVE_PATH {
            // Only under this machine's own name: a page whose domain an attacker re-points at 127.0.0.1 (DNS
            // rebinding) is same-origin with it, but asks for its own host.
            if !header("host").is_some_and(dev_console::is_loopback_host) {
                return Ok(plain(403, r#"{"message":"the live panel answers only at 127.0.0.1 or localhost"}"#));
            }
            return Ok(live_panel(&site.console, request.uri().query().unwrap_or("")).await);
        }
        if let Some((content_type, bytes)) = local_stack::web_files::find(&site.web_root, path) {
            let headers = vec![
                ("content-type", content_type.to_owned()),
                ("cache-control", "no-cache".to_owned()),
                ("x-content-type-options", "nosniff".to_owned()),
                // What a <meta> CSP cannot say: no other site frames the client (clickjacking).
                ("content-security-policy", "frame-ancestors 'none'".to_owned()),
            ];
            return Ok(with_headers(hyper::Response::builder().status(200), headers, Bytes::from(bytes)));
        }
    }
    let answer = if routed { api(&site.app, peer, request).await } else { plain(404, r#"{"message":"Not Found"}"#) };
    let (mut parts, body) = answer.into_parts();
    for (name, value) in site.cors.iter().flat_map(|cors| cors.answer_headers(origin.as_deref())) {
        parts.headers.insert(name, value.parse().expect("a header value"));
    }
    Ok(hyper::Response::from_parts(parts, body))
}

/// A request to one of the template's routes, as API Gateway hands it to the function.
async fn api(app: &App, peer: SocketAddr, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, MAX_GATEWAY_BODY).collect().await else {
        return plain(413, r#"{"message":"Request Entity Too Large"}"#);
    };
    let call = HttpCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers.iter().filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned()))).collect(),
        body: body.to_bytes().to_vec(),
        source_ip: peer.ip().to_string(),
    };
    let response = shared::edge::http::handle(app, Operation::ALL, call.to_request()).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// `GET /_dev/live?after=<seq>[&wait=<s>]`: the console's lines after `seq`, waiting up to `wait` seconds (at most
/// and by default 25) for one: a long poll.
async fn live_panel(console: &DevConsole, query: &str) -> hyper::Response<Full<Bytes>> {
    let number = |key: &str| {
        form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == key).and_then(|(_, value)| value.parse().ok())
    };
    let (after, wait) = (number("after").unwrap_or(0), number("wait").unwrap_or(25).min(25));
    let lines = console.after(after, std::time::Duration::from_secs(wait)).await;
    let body = serde_json::json!({ "lines": lines }).to_string();
    let headers = vec![("content-type", "application/json".to_owned()), ("cache-control", "no-store".to_owned())];
    with_headers(hyper::Response::builder().status(200), headers, Bytes::from(body))
}

fn with_headers(
    mut builder: hyper::http::response::Builder,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
) -> hyper::Response<Full<Bytes>> {
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(body)).expect("valid headers")
}

fn plain(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let headers = vec![("content-type", "application/json".to_owned())];
    with_headers(hyper::Response::builder().status(status), headers, Bytes::from_static(body.as_bytes()))
}
