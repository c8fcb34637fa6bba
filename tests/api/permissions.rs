//! Each function's IAM policy in template.yaml, both ways: every AWS call a function makes (at start and serving
//! its events) is allowed by its own statements, on the resource it names (table, index, secret, topic, endpoint,
//! object), and every action a statement grants on a resource is used by some call. DynamoDB Local and moto check
//! no permissions, so without this a missing grant only shows deployed (a 503, AccessDenied) and a superfluous one
//! never shows.
//!
//! Every function of the template is started the way its binary starts ([`App::start`], with the environment the
//! template gives it) against a recording proxy of its own, so its calls are told apart from the others' by
//! construction, and every client it builds (Secrets Manager's at start included) is recorded. Then it gets its
//! events: HTTP functions the requests of their routes, stream functions the table's stream, read as the
//! event-source mapping reads it. Both modes run: standalone and mesibo (whose `!If MesiboMode` grants and
//! `MesiboFunction` exist only there).
//!
//! Only the `Policies` of a function are checked: what SAM adds to every role (logs, X-Ray with `Tracing: Active`,
//! stream reading for a DynamoDB event source, writing its on-failure destination) is used by Lambda itself, not by
//! the function's code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_tests::fake_cloudformation::FakeCloudFormation;
use integration_tests::recording_proxy::{AwsCall, RecordingProxy};
use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::harness::http_raw;
use local_stack::iam::Stack;
use local_stack::sms_voice::SmsVoiceEmulator;
use local_stack::stream::StreamPoller;
use local_stack::template::{function_names, http_routes, template};
use serde_json::{Value, json};
use shared::App;
use shared::Clock;
use shared::adapters::cloudformation::CustomResourceReply;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::sms_voice::SmsVoiceProtection;
use shared::adapters::sns::SnsEvents;
use shared::adapters::sqs::SqsFanout;
use shared::edge::lambda::answer_custom_resource;
use shared::edge::stream::MesiboEvent;
use shared::model::address_book::ContactKey;
use shared::model::events::FanoutTask;
use shared::usecase::backfill::{Backfill, backfill};
use shared::usecase::ports::FanoutQueue;

/// Grants no test can use, each with why it stays. Keep it short: prefer narrowing the template.
const NOT_EXERCISED: &[(&str, &str, &str)] = &[(
    "VerifyFunction",
    "dynamodb:GetItem",
    "in mesibo mode read only when the sign-in's write fails after mesibo issued a token (sign_in.rs: the token \
     looked up before mesibo's is withdrawn), which takes a write racing the request; standalone uses it always",
)];

/// A function of the template, started.
struct Function {
    /// `None` for the code-key rotation, which runs on a Secrets Manager client alone.
    app: Option<App>,
    proxy: RecordingProxy,
    /// Requests or stream batches it was given.
    events: AtomicUsize,
}

/// One stack of the template on the local stack: every function it has, each with its own recorder.
struct Deployment {
    stack: Stack,
    functions: BTreeMap<String, Function>,
    clock: Arc<ManualClock>,
    poller: StreamPoller,
    /// The fan-out queue, read as the fan-out function's event source reads it.
    fanout: local_stack::queue::QueuePoller,
    /// Kept running for the functions that call it.
    _mesibo: Option<MesiboEmulator>,
    /// AWS End User Messaging SMS, which moto lacks, and the protect configuration the stack made there.
    sms_voice: SmsVoiceEmulator,
    protect_configuration: String,
}

async fn secret_arn(secrets: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let created = secrets.create_secret().name(format!("secret-{}", random_hex(6))).secret_string(value);
    created.send().await.expect("a secret in moto").arn.expect("an ARN")
}

/// Creates what the template's resources would be (table, bucket, topic, secrets, a push application) and starts
/// every function the stack has.
async fn deploy(mesibo_mode: bool) -> Deployment {
    let sdk = shared::app::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("test-{}", random_hex(8));
    local_stack::template::create_table(&dynamodb, &table).await.expect("table created from template.yaml");
    let bucket = format!("test-files-{}", random_hex(8));
    let s3 = shared::app::s3_client(&sdk);
    local_stack::template::create_bucket(&s3, &bucket).await.expect("the files bucket is created in moto");
    let topic = scratch_topic().await;
    let account = topic.split(':').nth(4).expect("a topic ARN names its account").to_owned();
    let region = sdk.region().expect("a region").to_string();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    // What Secrets Manager generates from the template: its JSON, with the generated key beside the settings.
    let generator = &template()["Resources"]["AppSecrets"]["Properties"]["GenerateSecretString"];
    let mut app_secrets: serde_json::Map<String, Value> =
        serde_json::from_str(generator["SecretStringTemplate"].as_str().unwrap()).expect("a JSON template");
    app_secrets.insert(generator["GenerateStringKey"].as_str().unwrap().to_owned(), json!(random_hex(4)));
    let app_secrets = Value::Object(app_secrets).to_string();
    let mesibo = match mesibo_mode {
        true => Some(MesiboEmulator::start().await),
        false => None,
    };
    let table_arn = format!("arn:aws:dynamodb:{region}:{account}:table/{table}");
    let sms_voice = SmsVoiceEmulator::start().await;
    let protect_configuration = sms_voice.create_configuration();
    let protect_arn = format!("arn:aws:sms-voice:{region}:{account}:protect-configuration/{protect_configuration}");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let fanout = local_stack::queue::QueuePoller::create(sqs, &format!("fanout-{table}"), 2).await.expect("queue");
    let fanout_name = fanout.url.rsplit('/').next().expect("a queue URL ends in its name").to_owned();
    let fanout_arn = format!("arn:aws:sqs:{region}:{account}:{fanout_name}");
    let mut refs = BTreeMap::from([
        ("Table", table.clone()),
        ("FanoutQueue", fanout.url.clone()),
        // Pages of ten, so an audience of eleven goes through the queue.
        ("FanoutPageSize", "10".to_owned()),
        ("FilesBucket", bucket.clone()),
        ("ContactEventsTopic", topic.clone()),
        ("OtpSecret", secret_arn(&secrets, &random_hex(32)).await),
        ("AppSecrets", secret_arn(&secrets, &app_secrets).await),
        ("CodeKeySecret", secret_arn(&secrets, &random_hex(32)).await),
        ("AWS::StackName", "messenger-test".to_owned()),
        ("PushFcmApplicationArn", fcm_application().await),
        ("MesiboAppTokenSecretArn", String::new()),
        // An opt-in: on here, so that its function's policy is checked too.
        ("SmsProtect", "Enabled".to_owned()),
    ]);
    if let Some(mesibo) = &mesibo {
        refs.insert("MesiboAppTokenSecretArn", secret_arn(&secrets, &mesibo.app_token).await);
        refs.insert("MesiboApiUrl", mesibo.url.clone());
    }
    let stack = Stack {
        partition: "aws".into(),
        region,
        account,
        refs: refs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        attributes: [
            ("Table.Arn", table_arn.clone()),
            ("Table.StreamArn", format!("{table_arn}/stream/*")),
            ("FilesBucket.Arn", format!("arn:aws:s3:::{bucket}")),
            ("FanoutQueue.Arn", fanout_arn),
            ("SmsProtectConfiguration.Arn", protect_arn),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let clock = Arc::new(ManualClock::new());
    let mut functions = BTreeMap::new();
    for name in function_names().into_iter().filter(|f| stack.has_function(f)) {
        let proxy = RecordingProxy::start().await;
        let environment = stack.environment(&name);
        let app = match name.as_str() {
            // As serve_key_rotation and serve_sms_protect start: an SDK client, no configuration.
            "KeyRotationFunction" | "SmsProtectFunction" => None,
            _ => {
                let sdk = proxy.sdk_config().await;
                let started = App::start(|v| environment.get(v).cloned(), &sdk, clock.clone()).await;
                let mut app =
                    started.unwrap_or_else(|e| panic!("{name} does not start with its template environment: {e}"));
                // Its metric lines to the suite's log capture (checked for privacy), not the test's output.
                observe_metrics(&mut app, &MetricLines::default());
                Some(app)
            }
        };
        proxy.route("sms-voice", &sms_voice.url);
        functions.insert(name, Function { app, proxy, events: AtomicUsize::new(0) });
    }
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let poller = StreamPoller::new(&dynamodb, streams, &table).await.expect("the table's stream");
    Deployment { stack, functions, clock, poller, fanout, _mesibo: mesibo, sms_voice, protect_configuration }
}

/// How a client reaches the operations: the REST routes, or mesibo's api.php.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Rest,
    ApiPhp,
}

type File<'a> = (&'a str, &'a str, &'a str, &'a [u8]);

impl Deployment {
    /// A request to the function whose route it is, as API Gateway sends it.
    async fn call(&self, call: HttpCall) -> Reply {
        let route = http_routes().into_iter().find(|r| r.matches(&call.path) && r.method == call.method);
        let route = route.unwrap_or_else(|| panic!("no route {} {}", call.method, call.path));
        let function = &self.functions[&route.function];
        function.events.fetch_add(1, Ordering::Relaxed);
        let app = function.app.as_ref().expect("an HTTP function");
        decode(Box::pin(local_stack::harness::call(app, call)).await)
    }

    /// An operation, through the REST route of its name or as api.php's `op`, with a token if given.
    async fn op(
        &self,
        via: Via,
        token: Option<&str>,
        op: &str,
        fields: &[(&str, &str)],
        file: Option<File<'_>>,
    ) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![];
        let path = match via {
            Via::Rest => format!("/{op}"),
            Via::ApiPhp => {
                all.push(("op", if op == "verify" { "login" } else { op }));
                all.extend(token.map(|t| ("token", t)));
                "/api.php".to_owned()
            }
        };
        all.extend_from_slice(fields);
        let mut call = match file {
            Some(file) => HttpCall::post(&path).multipart(&all, &[file]),
            None => HttpCall::post(&path).form(&all),
        };
        if let (Via::Rest, Some(token)) = (via, token) {
            call = call.bearer(token);
        }
        let reply = self.call(call).await;
        assert!(reply.status < 500 && reply.json["result"] != "FAIL", "{op}: {:?}", reply.json);
        reply
    }

    async fn sign_in(&self, via: Via, phone: &str) -> String {
        self.op(via, None, "login", &[("phone", phone)], None).await;
        let code = last_sms_code(phone).await.expect("a code by SMS");
        let fields = [("phone", phone), ("code", code.as_str()), ("appid", APP_ID)];
        let verified = self.op(via, None, "verify", &fields, None).await;
        verified.json["token"].as_str().expect("a token").to_owned()
    }

    /// Follows a link the app was given (a presigned upload or download), with the function's signature.
    async fn follow(&self, method: &str, url: &str, headers: &[(String, String)], body: &[u8]) {
        let (status, _, _) = http_raw(method, url, headers, body).await;
        assert_eq!(status, 200, "{method} {url}");
    }

    /// Everything a person does with the app, through `via`: each call that reaches AWS differently. Returns the
    /// person, who keeps their push devices.
    async fn use_the_app(&self, via: Via) -> String {
        let [me, friend, other] = [random_phone(), random_phone(), random_phone()];
        let jpeg = |shade: u8| {
            let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, shade]));
            let mut jpeg = vec![];
            image::codecs::jpeg::JpegEncoder::new(&mut jpeg).encode_image(&picture).unwrap();
            jpeg
        };
        let (first, second, third, fourth) = (jpeg(10), jpeg(90), jpeg(150), jpeg(200));
        let my_token = self.sign_in(via, me.e164()).await;
        let my = Some(my_token.as_str());
        // One device more than a person may keep replaces the oldest (its item and endpoint deleted).
        for i in 0..11 {
            let token = format!("fcm-token-{i}-{}", random_hex(8));
            self.op(via, my, "setnotify", &[("notifytoken", &token)], None).await;
        }
        let book = format!("{},{}", friend.e164(), other.e164());
        self.op(via, my, "getcontacts", &[("phones", &book)], None).await;
        // Joining: a contact_joined for whoever has the number (the stream, below).
        let friends = self.sign_in(via, friend.e164()).await;
        let friends = Some(friends.as_str());
        let others = self.sign_in(via, other.e164()).await;
        self.op(via, my, "profile", &[("name", "Ada"), ("status", "here")], None).await;
        // A photo, then another in its place (the first deleted).
        for photo in [&first, &second] {
            self.op(via, my, "profile", &[], Some(("photo", "me.jpg", "image/jpeg", photo))).await;
        }
        let attachment = [("profile", "0")];
        let sent = self.op(via, my, "upload", &attachment, Some(("photo", "a.jpg", "image/jpeg", &third))).await;
        // A large file straight to the bucket, then confirmed (copied out of pending/); once only.
        let started = self.op(via, my, "upload", &[("size", "2000000")], None).await;
        let upload = &started.json["upload"];
        let headers: Vec<(String, String)> = upload["headers"]
            .as_object()
            .expect("the upload's headers")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
        video.resize(2_000_000, 7);
        self.follow("PUT", upload["url"].as_str().expect("an upload URL"), &headers, &video).await;
        let uploaded = started.json["uploaded"].as_str().expect("the upload's name").to_owned();
        self.op(via, my, "upload", &[("uploaded", &uploaded)], None).await;
        // One never sent: not in the bucket (S3's 404).
        let started = self.op(via, my, "upload", &[("size", "1000")], None).await;
        let never_sent = started.json["uploaded"].as_str().expect("the upload's name");
        let confirm = |uploaded: &str| match via {
            Via::Rest => HttpCall::post("/upload").form(&[("uploaded", uploaded)]).bearer(&my_token),
            Via::ApiPhp => {
                HttpCall::post("/api.php").form(&[("op", "upload"), ("token", &my_token), ("uploaded", uploaded)])
            }
        };
        assert_eq!(self.call(confirm(never_sent)).await.error(), "NOTFOUND");
        // The profile photo through upload, then removed.
        let own = [("profile", "1")];
        self.op(via, my, "upload", &own, Some(("photo", "me.jpg", "image/jpeg", &first))).await;
        self.op(via, my, "upload", &[("profile", "1"), ("delete", "1")], None).await;
        // Signing in again on a number that has an account (after the resend cooldown).
        self.clock.advance(60);
        self.sign_in(via, me.e164()).await;
        if via == Via::Rest {
            // Downloads by name (an attachment, a photo): a redirect to a presigned link, which the app follows.
            let own = [("profile", "1")];
            let photo = self.op(via, my, "upload", &own, Some(("photo", "me.jpg", "image/jpeg", &fourth))).await;
            let photo = format!("/files/{}", photo.json["photo"].as_str().expect("the photo's name"));
            let url = sent.json["file"].as_str().expect("the file's URL");
            for path in [&url[url.find("/files/").expect("a download path")..], &photo] {
                let reply = self.call(HttpCall { method: "GET".into(), ..HttpCall::post(path) }).await;
                assert_eq!(reply.status, 302, "{path}: {:?}", reply.json);
                self.follow("GET", reply.headers["location"].to_str().unwrap(), &[], &[]).await;
            }
        }

        // A group's life, with a picture replaced.
        let token = format!("fcm-token-friend-{}", random_hex(8));
        self.op(via, friends, "setnotify", &[("notifytoken", &token)], None).await;
        // mesibo mode: a ninth device signs out the first, here and at mesibo, with the push device it registered.
        let ninth;
        let friends = match self._mesibo.is_some() {
            true => {
                let mut last = String::new();
                for _ in 0..shared::model::sessions::MAX_SESSIONS {
                    self.clock.advance(601);
                    last = self.sign_in(via, friend.e164()).await;
                }
                ninth = last;
                Some(ninth.as_str())
            }
            false => friends,
        };
        let book = format!("{},{}", me.e164(), other.e164());
        self.op(via, friends, "getcontacts", &[("phones", &book)], None).await;
        let group = [("name", "Pair"), ("m", me.e164())];
        let created = self.op(via, friends, "setgroup", &group, Some(("photo", "g.jpg", "image/jpeg", &third))).await;
        let gid = created.json["gid"].as_u64().expect("a group").to_string();
        let gid = gid.as_str();
        self.op(via, friends, "setgroup", &[("gid", gid)], Some(("photo", "g.jpg", "image/jpeg", &fourth))).await;
        let group_photo = [("profile", "1"), ("gid", gid)];
        self.op(via, friends, "upload", &group_photo, Some(("photo", "g.jpg", "image/jpeg", &first))).await;
        self.op(via, friends, "editmembers", &[("gid", gid), ("m", other.e164())], None).await;
        self.op(via, friends, "setadmin", &[("gid", gid), ("m", other.e164()), ("admin", "1")], None).await;
        self.op(via, friends, "setgroup", &[("gid", gid), ("name", "Trio")], None).await;
        self.op(via, friends, "getgroup", &[("gid", gid)], None).await;
        self.op(via, friends, "editmembers", &[("gid", gid), ("m", me.e164()), ("delete", "1")], None).await;
        self.op(via, friends, "delgroup", &[("gid", gid)], None).await;
        // Delta sync: what changed among my contacts, who has me, my groups.
        self.op(via, friends, "getcontacts", &[("ts", "0")], None).await;
        self.op(via, friends, "delcontacts", &[("phones", other.e164())], None).await;
        self.op(via, friends, "logout", &[], None).await;

        // Account deletion, with a fresh code.
        self.clock.advance(60);
        self.op(via, None, "login", &[("phone", other.e164())], None).await;
        let code = last_sms_code(other.e164()).await.expect("a code by SMS");
        self.op(via, Some(&others), "deleteaccount", &[("code", &code)], None).await;
        me.e164().to_owned()
    }

    /// The table's changes so far to each reader of the stream, as their event-source mappings deliver them; the
    /// mesibo function also gets an operator's resync. Later deliveries carry what the readers wrote themselves
    /// (news told, for the mesibo function), if anything.
    async fn deliver_the_stream(&mut self, first: bool) {
        let event = self.poller.poll().await.expect("the stream is read");
        assert!(!first || !event.records.is_empty(), "the app's use left changes on the stream");
        if event.records.is_empty() {
            return;
        }
        for (name, function) in &self.functions {
            let Some(app) = &function.app else { continue };
            function.events.fetch_add(1, Ordering::Relaxed);
            match name.as_str() {
                "NotifierFunction" => {
                    // As serve_stream builds it: the topic and the queue from the function's environment.
                    let topic = app.config.contacts.events_topic_arn.clone().expect("the notifier's topic");
                    let sink = SnsEvents::new(app.sns_client(), topic);
                    let queue = function.queue().await;
                    let done = Box::pin(shared::edge::stream::handle(app, &sink, &queue, event.clone())).await;
                    assert!(done.batch_item_failures.is_empty(), "{:?}", done.batch_item_failures);
                }
                "MesiboFunction" => {
                    let mesibo = app.mesibo.as_ref().expect("the mesibo function runs in mesibo mode");
                    let batch = MesiboEvent::Stream(event.clone());
                    Box::pin(shared::edge::stream::handle_mesibo_event(app, mesibo, batch)).await.expect("synced");
                    let resync = serde_json::from_value(json!({ "resync": "groups" })).expect("an operator's command");
                    Box::pin(shared::edge::stream::handle_mesibo_event(app, mesibo, resync)).await.expect("resynced");
                }
                // Not a reader of the stream.
                _ => {
                    function.events.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
}

impl Function {
    /// The fan-out queue as this function sends to it (`FANOUT_QUEUE_URL`), through its recorder.
    async fn queue(&self) -> SqsFanout {
        let app = self.app.as_ref().expect("a function with a configuration");
        let url = app.config.contacts.fanout_queue_url.clone().expect("FANOUT_QUEUE_URL in its environment");
        SqsFanout::new(aws_sdk_sqs::Client::new(&self.proxy.sdk_config().await), url)
    }
}

impl Deployment {
    /// A number in twelve address books joins (written straight to the table, as no function's call): more than a
    /// page (ten here), so the notifier queues its audience. One of them is `with_devices`, whose devices are pushed.
    async fn a_popular_number_joins(&self, with_devices: &str) -> String {
        let notifier = self.functions["NotifierFunction"].app.as_ref().expect("the notifier");
        let sdk = shared::app::sdk_config().await;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), notifier.config.table_name.clone());
        let star = random_phone();
        let now = self.clock.now();
        let profile = |phone: &shared::PhoneNumber| {
            shared::model::profile::Profile::new(phone.clone(), "someone".into(), now, None)
        };
        for _ in 0..11 {
            let owner = random_phone();
            store.put_profile(&profile(&owner)).await.expect("seeded");
            seed_address_book(&store, &notifier.config.otp_secret, owner.e164(), &[star.e164().to_owned()], now).await;
        }
        seed_address_book(&store, &notifier.config.otp_secret, with_devices, &[star.e164().to_owned()], now).await;
        store.put_profile(&profile(&star)).await.expect("seeded");
        star.e164().to_owned()
    }

    /// The fan-out function on its queue, as the event source feeds it, until the queue is empty; and a coalesced
    /// profile change come due (the notifier queues one only after an hour's worth of changes).
    async fn deliver_the_queue(&self, star: &str) {
        let function = &self.functions["FanoutFunction"];
        let app = function.app.as_ref().expect("the fan-out function");
        let topic = app.config.contacts.events_topic_arn.clone().expect("the fan-out function's topic");
        let sink = SnsEvents::new(app.sns_client(), topic);
        let queue = function.queue().await;
        let due = FanoutTask::Coalesced { e164: star.to_owned(), due: self.clock.now() };
        self.fanout.sender().enqueue(&due, 0).await.expect("queued");
        let mut rounds = 0;
        while self.fanout.depth().await.expect("the queue's depth") > 0 {
            rounds += 1;
            assert!(rounds < 50, "the fan-out queue drains");
            let (event, receipts) = self.fanout.receive(1).await.expect("received");
            if event.records.is_empty() {
                continue;
            }
            function.events.fetch_add(1, Ordering::Relaxed);
            let done = Box::pin(shared::edge::stream::handle_fanout(app, &sink, &queue, event.clone())).await;
            assert!(done.batch_item_failures.is_empty(), "{:?}", done.batch_item_failures);
            self.fanout.settle(&event, &receipts, &done).await.expect("settled");
        }
    }
}

impl Deployment {
    /// The operator's backfill after an upgrade: an entry of the shape before keyed names gets its keyed name, one
    /// already replaced is removed, and a deleted user's entry is rewritten in place.
    async fn backfill_the_address_books(&self) {
        let function = &self.functions["BackfillFunction"];
        let app = function.app.as_ref().expect("the backfill");
        let dynamodb = aws_sdk_dynamodb::Client::new(&shared::app::sdk_config().await);
        let (owner, renamed, replaced, gone) = (random_phone(), random_phone(), random_phone(), random_phone());
        let secret = &app.config.otp_secret;
        let key = |phone: &shared::PhoneNumber| ContactKey::of(secret, phone.e164()).as_str().to_owned();
        let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
        let entry = |name: String, phone: Option<&str>| {
            let mut put = dynamodb
                .put_item()
                .table_name(&app.config.table_name)
                .item("PK", s(&format!("USER#{}", owner.e164())))
                .item("SK", s(&format!("CONTACT#{name}")))
                .item("GSI1PK", s(&format!("HASCONTACT#{name}")))
                .item("GSI1SK", s(&format!("USER#{}", owner.e164())))
                .item("added_at", aws_sdk_dynamodb::types::AttributeValue::N("1".into()));
            if let Some(phone) = phone {
                put = put.item("phone", s(phone));
            }
            put.send()
        };
        entry(renamed.e164().to_owned(), None).await.expect("seeded");
        entry(replaced.e164().to_owned(), None).await.expect("seeded");
        entry(key(&replaced), None).await.expect("seeded");
        entry(key(&gone), Some(gone.e164())).await.expect("seeded");
        function.events.fetch_add(1, Ordering::Relaxed);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let run = Backfill { until, restart: true, page_items: shared::usecase::backfill::PAGE_ITEMS };
        let report = backfill(app, run).await.expect("backfilled");
        assert!(report.done && report.progress.rewritten >= 3, "{report:?}");
    }

    /// A scheduled rotation of the code key: Secrets Manager stages the new version (moto runs no Lambda: its
    /// RotateSecret stages it, then reports it cannot invoke the function) and invokes the function for each step.
    async fn rotate_the_code_key(&self) {
        let Some(function) = self.functions.get("KeyRotationFunction") else { return };
        let secret = self.stack.refs["CodeKeySecret"].clone();
        let secrets = aws_sdk_secretsmanager::Client::new(&shared::app::sdk_config().await);
        let token =
            format!("{}-{}-{}-{}-{}", random_hex(4), random_hex(2), random_hex(2), random_hex(2), random_hex(6));
        let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder().automatically_after_days(30).build();
        let staging = secrets.rotate_secret().secret_id(&secret).client_request_token(&token).rotation_rules(rules);
        let _cannot_invoke =
            staging.rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:x").send().await;
        let client = aws_sdk_secretsmanager::Client::new(&function.proxy.sdk_config().await);
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            function.events.fetch_add(1, Ordering::Relaxed);
            let event = json!({ "Step": step, "SecretId": secret, "ClientRequestToken": token });
            let event = serde_json::from_value(event).expect("a rotation event");
            shared::edge::lambda::rotation_step(&client, event).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        }
    }
}

impl Deployment {
    /// The SMS protect configuration's custom resource, as CloudFormation drives it: made the account default at
    /// Create, its countries changed at Update, the default removed at Delete.
    async fn protect_sms_and_remove_the_stack(&self) {
        let Some(function) = self.functions.get("SmsProtectFunction") else { return };
        let sdk = function.proxy.sdk_config().await;
        let aws = SmsVoiceProtection::new(aws_sdk_pinpointsmsvoicev2::Client::new(&sdk));
        let reply = CustomResourceReply::new().expect("an HTTP client");
        let cloudformation = FakeCloudFormation::start().await;
        let id = self.protect_configuration.as_str();
        for (kind, countries) in [("Create", "US"), ("Update", "US,IN"), ("Delete", "US,IN")] {
            function.events.fetch_add(1, Ordering::Relaxed);
            let mut request = json!({
                "RequestType": kind,
                "ResponseURL": cloudformation.url,
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/messenger/0f1e2d3c",
                "RequestId": random_hex(4),
                "ResourceType": "Custom::SmsProtectConfiguration",
                "LogicalResourceId": "SmsProtectDefault",
                "ResourceProperties": { "ProtectConfigurationId": id, "AllowedCountries": countries },
            });
            if kind != "Create" {
                request["PhysicalResourceId"] = json!(id);
            }
            answer_custom_resource(&aws, &reply, request).await.expect("answered");
            assert_eq!(cloudformation.last().answer["Status"], "SUCCESS", "{kind}: {:?}", cloudformation.last());
        }
        assert_eq!(self.sms_voice.account_default(), None, "the stack's default removed with it");
    }
}

/// What one call asks IAM for: each action on each resource it names.
fn needs(stack: &Stack, call: &AwsCall) -> Vec<(String, String)> {
    let body: Value = serde_json::from_slice(&call.body).unwrap_or_default();
    let operation = || call.header("x-amz-target").and_then(|t| t.rsplit_once('.')).map(|(_, op)| op.to_owned());
    let (partition, region, account) = (&stack.partition, &stack.region, &stack.account);
    match call.service.as_str() {
        "dynamodb" => {
            let table =
                |name: &Value| format!("arn:{partition}:dynamodb:{region}:{account}:table/{}", name.as_str().unwrap());
            let op = operation().expect("DynamoDB names its operation");
            let action = |name: &str| format!("dynamodb:{name}");
            match op.as_str() {
                "BatchGetItem" | "BatchWriteItem" => {
                    let tables = body["RequestItems"].as_object().expect("RequestItems").keys();
                    tables.map(|t| (action(&op), table(&json!(t)))).collect()
                }
                "TransactWriteItems" | "TransactGetItems" => {
                    let steps = body["TransactItems"].as_array().expect("TransactItems").iter();
                    steps
                        .map(|step| {
                            let (kind, step) = step.as_object().and_then(|o| o.iter().next()).expect("one step");
                            let name = match kind.as_str() {
                                "Put" => "PutItem",
                                "Update" => "UpdateItem",
                                "Delete" => "DeleteItem",
                                "ConditionCheck" => "ConditionCheckItem",
                                "Get" => "GetItem",
                                other => panic!("unknown transaction step {other}"),
                            };
                            (action(name), table(&step["TableName"]))
                        })
                        .collect()
                }
                _ => {
                    let mut resource = table(&body["TableName"]);
                    if let Some(index) = body["IndexName"].as_str() {
                        resource = format!("{resource}/index/{index}");
                    }
                    vec![(action(&op), resource)]
                }
            }
        }
        "secretsmanager" => {
            let op = operation().expect("Secrets Manager names its operation");
            vec![(format!("secretsmanager:{op}"), body["SecretId"].as_str().expect("a SecretId").to_owned())]
        }
        "sns" => {
            let form: BTreeMap<String, String> = form_urlencoded::parse(&call.body).into_owned().collect();
            let mut op = form.get("Action").expect("SNS names its Action").clone();
            // IAM has no action of its own for a batch: PublishBatch is authorised as sns:Publish.
            if op == "PublishBatch" {
                op = "Publish".into();
            }
            let resource = ["TopicArn", "TargetArn", "EndpointArn", "PlatformApplicationArn"]
                .iter()
                .find_map(|k| form.get(*k).cloned())
                // An SMS names a phone number, no ARN: IAM matches it as `*`.
                .unwrap_or_else(|| "*".into());
            vec![(format!("sns:{op}"), resource)]
        }
        "s3" => s3_needs(call),
        "sqs" => {
            let op = operation().expect("SQS names its operation");
            let url = body["QueueUrl"].as_str().expect("a QueueUrl");
            let name = url.rsplit('/').next().expect("a queue URL ends in its name");
            vec![(format!("sqs:{op}"), format!("arn:{partition}:sqs:{region}:{account}:{name}"))]
        }
        "sms-voice" => {
            let op = operation().expect("End User Messaging SMS names its operation");
            let resource = match body["ProtectConfigurationId"].as_str() {
                Some(id) => format!("arn:{partition}:sms-voice:{region}:{account}:protect-configuration/{id}"),
                None => "*".into(),
            };
            vec![(format!("sms-voice:{op}"), resource)]
        }
        other => vec![(format!("{other}:{}", operation().unwrap_or_else(|| call.target.clone())), "*".into())],
    }
}

/// S3's REST calls as IAM sees them (path-style: `/bucket/key?query`).
fn s3_needs(call: &AwsCall) -> Vec<(String, String)> {
    let (path, query) = call.target.split_once('?').unwrap_or((&call.target, ""));
    let query: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let decode = |text: &str| {
        form_urlencoded::parse(format!("k={}", text.replace('+', "%2B")).as_bytes()).next().unwrap().1.into_owned()
    };
    let path = decode(path.trim_start_matches('/'));
    let object = |key: &str| format!("arn:aws:s3:::{key}");
    let action = |name: &str| format!("s3:{name}");
    let Some((bucket, _)) = path.split_once('/').filter(|(_, key)| !key.is_empty()) else {
        return match call.method.as_str() {
            "GET" if query.contains_key("list-type") => vec![(action("ListBucket"), object(&path))],
            method => panic!("an unknown S3 bucket call {method} {}", call.target),
        };
    };
    match call.method.as_str() {
        // Of a missing object S3 answers 404 (NoSuchKey) only to who may list the bucket, 403 to anyone else.
        "GET" | "HEAD" if call.status == 404 => {
            vec![(action("GetObject"), object(&path)), (action("ListBucket"), object(bucket))]
        }
        "GET" | "HEAD" => vec![(action("GetObject"), object(&path))],
        "PUT" => match call.header("x-amz-copy-source") {
            Some(source) => vec![
                (action("GetObject"), object(&decode(source.trim_start_matches('/')))),
                (action("PutObject"), object(&path)),
            ],
            None => vec![(action("PutObject"), object(&path))],
        },
        "DELETE" => vec![(action("DeleteObject"), object(&path))],
        "POST" if query.contains_key("uploads") || query.contains_key("uploadId") => {
            vec![(action("PutObject"), object(&path))]
        }
        method => panic!("an unknown S3 object call {method} {} (bucket {bucket})", call.target),
    }
}

#[tokio::test]
#[ignore = "heavy: make test runs it alone, after the others (two whole deployments' calls through moto)"]
async fn each_functions_policy_allows_exactly_the_calls_it_makes() {
    let (mut standalone, mut mesibo) = tokio::join!(deploy(false), deploy(true));
    for deployment in [&mut standalone, &mut mesibo] {
        let someone = deployment.use_the_app(Via::Rest).await;
        deployment.use_the_app(Via::ApiPhp).await;
        let star = deployment.a_popular_number_joins(&someone).await;
        deployment.deliver_the_stream(true).await;
        deployment.deliver_the_queue(&star).await;
        deployment.deliver_the_stream(false).await;
        deployment.rotate_the_code_key().await;
        deployment.protect_sms_and_remove_the_stack().await;
        deployment.backfill_the_address_books().await;
    }

    let mut denied: BTreeMap<String, String> = BTreeMap::new();
    let mut unused = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for (mode, deployment) in [("standalone", &standalone), ("mesibo mode", &mesibo)] {
        for (name, function) in &deployment.functions {
            let grants = deployment.stack.grants(name);
            let calls = function.proxy.calls();
            if function.events.load(Ordering::Relaxed) > 0 && !calls.is_empty() {
                covered.insert(name.clone());
            }
            let mut used = BTreeSet::new();
            for call in &calls {
                for (action, resource) in needs(&deployment.stack, call) {
                    match grants.iter().find(|g| g.allows(&action, &resource)) {
                        Some(grant) => {
                            used.insert(grant.clone());
                        }
                        None => {
                            let body: String = String::from_utf8_lossy(&call.body).chars().take(200).collect();
                            let example = format!("{} {} {body}", call.method, call.target);
                            denied.entry(format!("{name} ({mode}): {action} on {resource}")).or_insert(example);
                        }
                    }
                }
            }
            for grant in grants.into_iter().filter(|g| !used.contains(g)) {
                let exempt = NOT_EXERCISED.iter().any(|(f, a, _)| f == name && *a == grant.action);
                if !exempt {
                    unused.insert(format!("{name} ({mode}): {grant}"));
                }
            }
        }
    }
    for (function, action, _) in NOT_EXERCISED {
        let granted = [&standalone, &mesibo].iter().any(|d| {
            d.functions.contains_key(*function) && d.stack.grants(function).iter().any(|g| g.action == *action)
        });
        assert!(granted, "NOT_EXERCISED names {function} {action}, which template.yaml no longer grants");
    }
    // A function added to the template fails here until this test gives it its events.
    let uncovered: Vec<String> = function_names().into_iter().filter(|f| !covered.contains(f)).collect();
    assert!(
        uncovered.is_empty(),
        "not covered (no events given, or no AWS call recorded): {}; drive each with its events here",
        uncovered.join(", ")
    );
    let denied: Vec<String> = denied.into_iter().map(|(what, call)| format!("{what}\n    e.g. {call}")).collect();
    assert!(denied.is_empty(), "template.yaml does not allow:\n{}", denied.join("\n"));
    let unused: Vec<String> = unused.into_iter().collect();
    assert!(unused.is_empty(), "template.yaml grants what no call uses:\n{}", unused.join("\n"));
}

#[test]
fn resources_match_as_iam_matches_them() {
    use local_stack::iam::{Grant, wildcard_match};
    assert!(wildcard_match("arn:aws:s3:::b/photos/*", "arn:aws:s3:::b/photos/a.jpg"));
    assert!(!wildcard_match("arn:aws:s3:::b/photos/*", "arn:aws:s3:::b/attachments/a.jpg"));
    assert!(!wildcard_match("arn:aws:dynamodb:r:1:table/t", "arn:aws:dynamodb:r:1:table/t/index/GSI1"));
    assert!(wildcard_match("a?c*", "abcdef") && !wildcard_match("a?c", "abcd"));
    let sms = Grant {
        action: "sns:Publish".into(),
        resource: "arn:aws:sns:*:*:*".into(),
        not_resource: true,
        written: String::new(),
    };
    assert!(sms.allows("sns:Publish", "*"), "an SMS names no ARN");
    assert!(!sms.allows("sns:Publish", "arn:aws:sns:us-east-1:1:topic"));
    assert!(!sms.allows("sns:CreateTopic", "*"));
}

/// A SAM policy template is checked as the statements SAM makes of it (samtranslator's own definitions).
#[test]
fn sam_policy_templates_expand_to_their_statements() {
    let stack = Stack { partition: "aws".into(), region: "r".into(), account: "1".into(), ..Default::default() };
    let policies = serde_yaml_ng::from_str("- DynamoDBReadPolicy: {TableName: t}").unwrap();
    let grants = stack.policy_grants(&policies).expect("a SAM policy template");
    let on = |action: &str, resource: &str| grants.iter().any(|g| g.allows(action, resource));
    assert!(on("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/t"));
    assert!(on("dynamodb:Query", "arn:aws:dynamodb:r:1:table/t/index/GSI1"));
    assert!(!on("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/t"));
    let managed = serde_yaml_ng::from_str("- AWSLambdaBasicExecutionRole").unwrap();
    assert!(stack.policy_grants(&managed).is_err(), "a managed policy cannot be checked, so it is refused");
}
