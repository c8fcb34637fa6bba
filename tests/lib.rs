//! Helpers for the integration tests: each test gets its own table (created from template.yaml) in the shared
//! DynamoDB Local, its own random phone numbers, and a clock it controls. moto records every SMS.
//!
//! The stack is started by `infra/with-stack.sh` (as `make test` does), which exports the endpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[path = "fake_cloudformation.rs"]
pub mod fake_cloudformation;
#[path = "fault_proxy.rs"]
pub mod fault_proxy;
#[path = "recording_proxy.rs"]
pub mod recording_proxy;

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::apigw::HttpCall;
pub use local_stack::harness::{ManualClock, Reply, decode, http_get_json, random_hex, stack_env};
pub use local_stack::mesibo::{Fault, MesiboEmulator};
use shared::edge::routes::Operation;
use shared::edge::settings::Settings;
use shared::{App, Config, PhoneNumber};

pub type Item = HashMap<String, AttributeValue>;

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// mesibo mode: the emulator the app talks to.
    pub mesibo: Option<MesiboEmulator>,
    /// The metric lines the app wrote (see [`observe_metrics`]).
    pub metrics: MetricLines,
    /// How each request is served: as deployed, by an app of its operation's settings only (`None`: by `app`).
    pub deployed: Option<Deployed>,
}

/// The functions of a test app as deployed: each request is served by an app that reads only its operation's
/// settings (`shared::edge::settings`), on the same clients, table and clock; a test that sets a setting its
/// operation does not declare sees the default, and fails.
pub struct Deployed {
    environment: HashMap<String, String>,
    s3: aws_sdk_s3::Client,
    apps: Mutex<Vec<(Operation, Arc<App>)>>,
}

impl Deployed {
    /// The same deployment with its files stored through `s3`.
    pub fn with_s3(self, s3: aws_sdk_s3::Client) -> Self {
        Self { s3, apps: Mutex::default(), ..self }
    }
}

/// The EMF lines an app wrote, in order.
#[derive(Clone, Default)]
pub struct MetricLines(Arc<Mutex<Vec<String>>>);

impl MetricLines {
    /// Each line as the JSON object CloudWatch Logs reads.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        let lines = self.0.lock().unwrap().clone();
        lines.iter().map(|line| serde_json::from_str(line).expect("a metric line is one JSON object")).collect()
    }

    /// The sum of a metric over every line that has it (CloudWatch's `Sum`).
    pub fn sum(&self, metric: &str) -> u64 {
        self.documents().iter().filter_map(|d| d[metric].as_u64()).sum()
    }

    /// The `Limit` of each limit hit, in order.
    pub fn limits_hit(&self) -> Vec<String> {
        let documents = self.documents();
        documents.iter().filter(|d| d["LimitsHit"] == 1).map(|d| d["Limit"].as_str().unwrap().to_owned()).collect()
    }
}

/// The app's metrics as it writes them on Lambda (the real EMF adapter), to `lines` and, like every log line of the
/// suite, to the log capture the privacy check reads, instead of standard output.
pub fn observe_metrics(app: &mut App, lines: &MetricLines) {
    let lines = lines.0.clone();
    app.metrics = shared::adapters::emf::EmfMetrics::with_output(app.config.metrics_namespace.clone(), move |line| {
        if let Some(file) = log_capture() {
            use std::io::Write;
            let _ = file.lock().unwrap().write_all(line.as_bytes());
        }
        lines.lock().unwrap().push(line.trim_end().to_owned());
    });
}

/// The app id the tests' sign-ins send (mesibo issues tokens per app).
pub const APP_ID: &str = "com.example.messenger";

/// A test app in mesibo mode, against an emulator of its own (one call to mesibo may take at most 1.5 s here).
pub async fn spawn_mesibo_app_with(vars: &[(&str, &str)]) -> TestApp {
    let mesibo = MesiboEmulator::start().await;
    secret(&mesibo.app_token);
    let mut all = vec![
        ("MESIBO_API_URL", mesibo.url.as_str()),
        ("MESIBO_APP_TOKEN", mesibo.app_token.as_str()),
        ("MESIBO_TIMEOUT_MS", "1500"),
        ("MESIBO_NOTICES", "legacy"),
    ];
    all.extend_from_slice(vars);
    let mut t = spawn_app_with(&all).await;
    t.mesibo = Some(mesibo);
    t
}

/// Settings every test app shares; a test adds or overrides with [`spawn_app_with`].
fn base_vars(table: &str) -> HashMap<String, String> {
    [
        ("TABLE_NAME", table),
        ("OTP_HMAC_SECRET", "integration-tests-secret-0123456789abcdef"),
        ("APP_NAME", "TestApp"),
        ("DEFAULT_COUNTRY", "US"),
        ("UPLOAD_URL", "https://upload.example.com/"),
        ("FILE_URL", "https://files.example.com/"),
        ("DOWNLOAD_URL", "https://media.example.com/"),
        // As the template sets it for a deployment without mesibo.
        ("MESIBO_NOTICES", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let sdk = shared::app::sdk_config().await;
    spawn_app_on(vars, aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_sns::Client::new(&sdk)).await
}

/// A test app on the given clients (a test may point one at a server of its own).
pub async fn spawn_app_on(
    vars: &[(&str, &str)],
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
) -> TestApp {
    capture_suite_logs();
    stack_env("AWS_ENDPOINT_URL_DYNAMODB");
    let table = format!("test-{}", random_hex(8));
    local_stack::template::create_table(&dynamodb, &table).await.expect("table created from template.yaml");
    let mut all = base_vars(&table);
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let bucket = format!("test-files-{}", random_hex(8));
    all.entry("FILES_BUCKET".into()).or_insert(bucket);
    let config = Config::from_lookup(|name| all.get(name).cloned()).expect("test configuration is valid");
    let clock = Arc::new(ManualClock::new());
    let s3 = shared::app::s3_client(&shared::app::sdk_config().await);
    if let Some(files) = &config.files {
        stack_env("AWS_ENDPOINT_URL_S3");
        local_stack::template::create_bucket(&s3, &files.bucket).await.expect("the files bucket is created in moto");
    }
    let mut app = App::from_clients(config, dynamodb.clone(), sns, clock.clone()).with_files(s3.clone());
    let metrics = MetricLines::default();
    observe_metrics(&mut app, &metrics);
    let deployed = Some(Deployed { environment: all, s3, apps: Mutex::default() });
    TestApp { app, clock, dynamodb, mesibo: None, metrics, deployed }
}

impl TestApp {
    /// What the notifier does once `phone`'s first profile is on the stream (these tests read no stream): everyone
    /// who has her hears she joined, and her entries in their address books become a user's.
    pub async fn tell_joined(&self, phone: &str) {
        use shared::usecase::ports::ProfileStore;
        let new = self.app.store.profile_now(phone).await.expect("read").expect("her profile");
        let sink = shared::adapters::sns::SnsEvents::new(self.app.sns_client(), scratch_topic().await);
        let change = shared::model::events::TableChange::Profile { inserted: true, old: None, new };
        let queue = self.fanout_queue().await;
        shared::usecase::notify::notify(&self.app, &sink, &queue, &change).await.expect("told");
    }

    /// `number` in `owner`'s address book, as a sync writes it while she is not a user.
    pub async fn seed_entry(&self, owner: &str, number: &str) {
        use shared::Clock;
        seed_address_book(&self.app.store, &self.app.config.otp_secret, owner, &[number.to_owned()], self.clock.now())
            .await;
    }

    /// The sort key of `e164`'s entry in an address book: its keyed name.
    pub fn entry_sk(&self, e164: &str) -> String {
        format!("CONTACT#{}", shared::model::address_book::ContactKey::of(&self.app.config.otp_secret, e164).as_str())
    }

    /// This test's fan-out queue in moto (created on first use; the same queue after).
    pub async fn fanout_queue(&self) -> shared::adapters::sqs::SqsFanout {
        self.fanout_poller().await.sender()
    }

    /// The same queue, read as the fan-out function's event source reads it.
    pub async fn fanout_poller(&self) -> local_stack::queue::QueuePoller {
        let sqs = aws_sdk_sqs::Client::new(&shared::app::sdk_config().await);
        let name = format!("fanout-{}", self.app.config.table_name);
        local_stack::queue::QueuePoller::create(sqs, &name, 2).await.expect("a queue in moto")
    }

    /// Through the route table, from an API Gateway v2 event, as on Lambda (only to routes template.yaml declares).
    pub async fn call(&self, call: HttpCall) -> Reply {
        if call.source_ip != "127.0.0.1" && !call.source_ip.is_empty() {
            secret(&call.source_ip);
        }
        // Boxed: handler futures are large in debug builds, and a long test awaiting many of them inline overflows
        // the test thread's stack.
        let serving = Operation::for_path(&call.path).and_then(|operation| self.app_of(operation));
        let response = Box::pin(local_stack::harness::call(serving.as_deref().unwrap_or(&self.app), call)).await;
        let reply = decode(response);
        if let Some(token) = reply.json["token"].as_str() {
            secret(token);
        }
        reply
    }

    /// The app of the function serving `operation`, as deployed: its settings only (built on first use).
    fn app_of(&self, operation: Operation) -> Option<Arc<App>> {
        let deployed = self.deployed.as_ref()?;
        let mut apps = deployed.apps.lock().unwrap();
        if let Some((_, app)) = apps.iter().find(|(o, _)| *o == operation) {
            return Some(app.clone());
        }
        let settings = Settings::served_by(&[operation]);
        let config = Config::from_lookup(settings.only(|name| deployed.environment.get(name).cloned()))
            .expect("an operation's settings are valid");
        let sns = self.app.sns_client();
        let mut app = App::from_clients(config, self.dynamodb.clone(), sns, self.clock.clone());
        app = app.with_files(deployed.s3.clone());
        observe_metrics(&mut app, &self.metrics);
        let app = Arc::new(app);
        apps.push((operation, app.clone()));
        Some(app)
    }

    pub async fn login(&self, phone: &str) -> Reply {
        self.call(HttpCall::post("/login").form(&[("phone", phone)])).await
    }

    /// In mesibo mode with the app id mesibo needs.
    pub async fn verify(&self, phone: &str, code: &str) -> Reply {
        let mut form = vec![("phone", phone), ("code", code)];
        if self.mesibo.is_some() {
            form.push(("appid", APP_ID));
        }
        self.call(HttpCall::post("/verify").form(&form)).await
    }

    /// The mesibo emulator of an app from [`spawn_mesibo_app_with`].
    pub fn mesibo(&self) -> &MesiboEmulator {
        self.mesibo.as_ref().expect("a test app in mesibo mode")
    }

    /// Login, read the code from moto, verify: the token.
    pub async fn sign_in(&self, phone: &str) -> String {
        let login = self.login(phone).await;
        assert_eq!(login.status, 200, "{:?}", login.json);
        let code = last_sms_code(phone).await.expect("an SMS with a code");
        let verify = self.verify(phone, &code).await;
        assert_eq!(verify.status, 200, "{:?}", verify.json);
        verify.json["token"].as_str().unwrap().to_owned()
    }

    pub async fn scan(&self) -> Vec<Item> {
        let mut items = vec![];
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(self.app.store.table())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// Every item but limit counters at zero: what a verify leaves after giving back the failure it took before
    /// looking for a code (a counter at zero counts nothing and expires with its window).
    pub async fn stored_beyond_zero_counters(&self) -> Vec<Item> {
        let items = self.scan().await.into_iter();
        items.filter(|i| i.get("count").is_none_or(|c| c.as_n().is_ok_and(|n| n != "0"))).collect()
    }

    /// The number's code record (pending code and send state), kept under a keyed name of the number.
    pub async fn code_record(&self, phone: &str) -> Option<Item> {
        let phone = PhoneNumber::parse(phone, shared::DefaultRegion::from_iso("US").unwrap()).expect("a valid number");
        let slot = format!("CODE#{}", shared::model::code::CodeSlot::of(&self.app.config.otp_secret, &phone).name());
        self.scan().await.into_iter().find(|i| i["PK"].as_s().is_ok_and(|pk| *pk == slot))
    }

    pub async fn items_with_sk_prefix(&self, prefix: &str) -> Vec<Item> {
        self.scan().await.into_iter().filter(|i| i["SK"].as_s().is_ok_and(|sk| sk.starts_with(prefix))).collect()
    }
}

/// A signed-in user.
pub struct Person {
    pub phone: PhoneNumber,
    pub token: String,
}

/// A new number, signed in.
pub async fn person(t: &TestApp) -> Person {
    let phone = random_phone();
    let token = t.sign_in(phone.e164()).await;
    Person { phone, token }
}

/// A valid US number nobody else in this test run will draw, noted as a secret for the log-privacy check.
pub fn random_phone() -> PhoneNumber {
    let phone = local_stack::harness::random_phone();
    secret(phone.e164());
    phone
}

/// Every SMS moto has recorded for this number: (phone, message) in order.
pub async fn sms_to(phone: &str) -> Vec<String> {
    let data = http_get_json(&stack_env("MOTO_URL"), "/moto-api/data.json").await;
    data["sns"]["SMS"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|sms| sms["phone_number"] == phone)
                .map(|sms| sms["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The six-digit code in the last SMS to this number.
pub async fn last_sms_code(phone: &str) -> Option<String> {
    let messages = sms_to(phone).await;
    let last = messages.last()?;
    let code = last.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).map(str::to_owned)?;
    secret(&code);
    Some(code)
}

pub use local_stack::recorder::{CallRecorder, RecordedCall};

/// A DynamoDB client on the local stack that records its calls.
pub async fn recording_dynamodb() -> (aws_sdk_dynamodb::Client, CallRecorder) {
    let sdk = shared::app::sdk_config().await;
    let recorder = CallRecorder::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(recorder.clone()).build();
    (aws_sdk_dynamodb::Client::from_conf(config), recorder)
}

/// The real SNS publisher, remembering what it published.
pub struct RecordingSink {
    inner: shared::adapters::sns::SnsEvents,
    published: std::sync::Mutex<Vec<shared::model::events::ContactEvent>>,
}

impl RecordingSink {
    pub fn new(inner: shared::adapters::sns::SnsEvents) -> Self {
        Self { inner, published: Default::default() }
    }

    pub fn events(&self) -> Vec<shared::model::events::ContactEvent> {
        self.published.lock().unwrap().clone()
    }
}

impl shared::usecase::ports::EventSink for RecordingSink {
    async fn publish(
        &self,
        events: &[shared::model::events::ContactEvent],
    ) -> Result<(), shared::usecase::ports::PublishFailed> {
        self.inner.publish(events).await?;
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    async fn push(
        &self,
        endpoint_arn: &str,
        event: &shared::model::events::ContactEvent,
    ) -> Result<(), shared::usecase::ports::PublishFailed> {
        self.inner.push(endpoint_arn, event).await
    }
}

/// A topic of its own in moto (nobody subscribed): for publishers whose output a test reads back another way.
/// A platform application of its own in moto, so its endpoints are this test's.
pub async fn fcm_application() -> String {
    let sdk = shared::app::sdk_config().await;
    aws_sdk_sns::Client::new(&sdk)
        .create_platform_application()
        .name(format!("fcm-{}", random_hex(6)))
        .platform("GCM")
        .attributes("PlatformCredential", "server-key")
        .send()
        .await
        .unwrap()
        .platform_application_arn
        .unwrap()
}

pub async fn scratch_topic() -> String {
    let sdk = shared::app::sdk_config().await;
    let name = format!("scratch-{}", random_hex(6));
    aws_sdk_sns::Client::new(&sdk).create_topic().name(name).send().await.expect("moto topic").topic_arn.expect("arn")
}

/// With `LOG_CAPTURE_DIR` set (make test sets it), every log line of the whole suite goes, as JSON, to
/// `logs.jsonl` there (and every metric line, [`observe_metrics`]), and every number, code, token and address the
/// tests use goes to `secrets.txt`; afterwards `infra/check-log-privacy.sh` asserts that no secret appears in any
/// line.
fn capture_suite_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let Some(file) = log_capture() else { return };
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || SharedFile(file.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// `logs.jsonl` in `LOG_CAPTURE_DIR`, opened once.
fn log_capture() -> Option<Arc<Mutex<std::fs::File>>> {
    static FILE: std::sync::OnceLock<Option<Arc<Mutex<std::fs::File>>>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        let dir = std::env::var("LOG_CAPTURE_DIR").ok()?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(format!("{dir}/logs.jsonl"));
        Some(Arc::new(Mutex::new(file.expect("log capture file"))))
    });
    file.clone()
}

struct SharedFile(Arc<Mutex<std::fs::File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

/// Notes a value that must never be logged (see [`capture_suite_logs`]).
pub fn secret(value: &str) {
    let Ok(dir) = std::env::var("LOG_CAPTURE_DIR") else { return };
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(format!("{dir}/secrets.txt")) {
        let _ = writeln!(file, "{value}");
    }
}

/// Puts `numbers` in the address book of whoever holds `token` (getcontacts, as the apps sync it before anyone picks
/// group members from it): a group takes only users from its adder's address book, so a number without a profile
/// gets one first (as if she had signed up).
pub async fn add_to_address_book(t: &TestApp, token: &str, numbers: &[&str]) {
    use shared::Clock;
    use shared::usecase::ports::ProfileStore;
    let region = shared::model::phone::DefaultRegion::from_iso("US").expect("a region");
    let owned: Vec<String> = numbers.iter().map(|n| (*n).to_owned()).collect();
    let users: Vec<String> =
        t.app.store.profile_records(&owned).await.expect("read").into_iter().map(|p| p.e164).collect();
    for number in owned.iter().filter(|n| !users.contains(n)) {
        let phone = PhoneNumber::parse(number, region).expect("a number");
        let profile = shared::model::profile::Profile::new(phone, "member".into(), t.clock.now(), None);
        t.app.store.put_profile(&profile).await.expect("seeded");
    }
    let call = HttpCall::post("/getcontacts").json(&serde_json::json!({ "phones": numbers })).bearer(token);
    let reply = t.call(call).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
}

/// Sends `body` with a direct upload's presigned request (`upload` of a `POST /upload` with `size`): the status.
pub async fn presigned_put(upload: &serde_json::Value, body: &[u8]) -> u16 {
    let headers: Vec<(String, String)> = upload["headers"]
        .as_object()
        .expect("the headers to send")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a header value").to_owned()))
        .collect();
    local_stack::harness::http_raw("PUT", upload["url"].as_str().expect("the URL"), &headers, body).await.0
}

/// Entries of `numbers` in `owner`'s address book as a sync writes them for numbers that are not users (yet): under
/// their keyed names, expiring after the default retention.
pub async fn seed_address_book(
    store: &shared::adapters::dynamodb::DynamoStore,
    secret: &shared::model::secrets::OtpSecret,
    owner: &str,
    numbers: &[String],
    now: i64,
) {
    use shared::model::address_book::{ContactKey, Retention};
    use shared::usecase::ports::ContactStore;
    let retention = Retention::new(365);
    let entries: Vec<_> = numbers.iter().map(|n| retention.entry(ContactKey::of(secret, n), None, now, now)).collect();
    store.put_entries(owner, &entries).await.expect("seeded");
}

/// Removes `numbers` from `owner`'s address book, as `/delcontacts` does.
pub async fn unseed_address_book(
    store: &shared::adapters::dynamodb::DynamoStore,
    secret: &shared::model::secrets::OtpSecret,
    owner: &str,
    numbers: &[String],
) {
    use shared::model::address_book::{ContactKey, EntryName};
    use shared::usecase::ports::ContactStore;
    let names: Vec<_> = numbers.iter().map(|n| EntryName::Keyed(ContactKey::of(secret, n))).collect();
    store.remove_entries(owner, &names).await.expect("removed");
}
