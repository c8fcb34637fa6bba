//! The operations measured, on an in-process app over the local stack whose SDK clients record every call.

use std::collections::HashMap;
use std::sync::Arc;

use local_stack::apigw::HttpCall;
use local_stack::harness::{Reply, decode, random_hex, random_phone};
use local_stack::recorder::{CallRecorder, RecordedCall};
use serde_json::json;
use shared::{App, Config, PhoneNumber, SystemClock};

use crate::BoxError;

pub const OTP_SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";
/// Photos and attachments (moto's S3), as the template's FilesBucket.
pub const FILES_BUCKET: &str = "bench-files";

/// The configuration every benchmarked function runs with: the product's defaults, except that the abuse limits,
/// which would stop a benchmark issuing thousands of codes from one address, are set out of reach.
pub fn function_env(table: &str) -> Vec<(String, String)> {
    [
        ("TABLE_NAME", table),
        ("OTP_HMAC_SECRET", OTP_SECRET),
        ("APP_NAME", "Bench"),
        ("DEFAULT_COUNTRY", "US"),
        ("IP_CODE_REQUESTS_PER_HOUR", "1000000"),
        ("IP_FAILED_VERIFIES_PER_HOUR", "1000000"),
        ("SMS_HOURLY_LIMIT_PER_COUNTRY", "10000000"),
        ("SMS_DAILY_BUDGET", "100000000"),
        ("CONTACT_LOOKUP_BUDGET", "30000"),
        ("CONTACT_SYNCS_PER_HOUR", "100000"),
        ("CONTACT_WRITES_PER_DAY", "10000000"),
        ("UPLOADS_PER_HOUR", "100000"),
        ("FILES_BUCKET", FILES_BUCKET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// One measured operation, as the issue lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Login,
    Verify,
    GetContacts(usize),
    /// getcontacts without numbers, by someone whose address book holds this many (10 % of them users): what a
    /// returning app asks for on each sync.
    DeltaSync(usize),
    ProfileUpdate,
    /// `POST /upload` of my profile photo (a phone camera's JPEG, re-encoded and stored).
    PhotoUpload,
    /// `GET /files/{name}` of a photo: the redirect to its signed link (the bytes come from S3).
    Download,
}

impl Operation {
    pub const ALL: [Operation; 12] = [
        Operation::Login,
        Operation::Verify,
        Operation::GetContacts(1),
        Operation::GetContacts(100),
        Operation::GetContacts(250),
        Operation::GetContacts(1000),
        Operation::GetContacts(5000),
        Operation::DeltaSync(100),
        Operation::DeltaSync(250),
        Operation::ProfileUpdate,
        Operation::PhotoUpload,
        Operation::Download,
    ];

    pub fn label(self) -> String {
        match self {
            Operation::Login => "login".into(),
            Operation::Verify => "verify".into(),
            Operation::GetContacts(n) => format!("getcontacts N={n}"),
            Operation::DeltaSync(n) => format!("delta sync, {n} contacts"),
            Operation::ProfileUpdate => "profile update".into(),
            Operation::PhotoUpload => "photo upload".into(),
            Operation::Download => "file download".into(),
        }
    }

    /// The most sequential rounds of DynamoDB calls the issue allows.
    pub fn round_goal(self) -> usize {
        match self {
            // Two limits, each taken before the work it guards (issue 24): the person's request rate before
            // anything is read, the day's write allowance before the quota charge and the edges.
            Operation::GetContacts(_) | Operation::DeltaSync(_) => 6,
            // The token, the profile, the hour's uploads; the profile written after the file is stored.
            Operation::PhotoUpload => 4,
            _ => 2,
        }
    }
}

/// A request ready to be timed: everything it needs (a code, a token, registered contacts) is already in place.
pub struct Prepared {
    pub call: HttpCall,
}

pub struct BenchApp {
    pub app: App,
    /// The app's own DynamoDB client (recording), for setting up its table.
    dynamodb: aws_sdk_dynamodb::Client,
    pub calls: CallRecorder,
    /// Users already signed up, drawn from for the 10 % of uploaded numbers that are registered.
    registered: Vec<PhoneNumber>,
}

impl BenchApp {
    /// An app on a new table created from template.yaml. Both clients share one recorder, so the calls of a request
    /// to DynamoDB and to SNS are in one list, in order.
    pub async fn new(table: &str) -> Result<Self, BoxError> {
        Self::create(table, &local_stack::harness::stack_env("AWS_ENDPOINT_URL_DYNAMODB")).await
    }

    /// The same on the DynamoDB at `dynamodb_endpoint`.
    pub async fn create(table: &str, dynamodb_endpoint: &str) -> Result<Self, BoxError> {
        let app = Self::at(table, dynamodb_endpoint).await?;
        local_stack::template::create_table(&app.dynamodb, table).await?;
        app.calls.reset();
        Ok(app)
    }

    /// An app on an existing `table` of the DynamoDB at `dynamodb_endpoint`.
    pub async fn at(table: &str, dynamodb_endpoint: &str) -> Result<Self, BoxError> {
        let sdk = shared::app::sdk_config().await;
        let calls = CallRecorder::with_consumed_capacity();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(dynamodb_endpoint)
                .interceptor(calls.clone())
                .build(),
        );
        let sns =
            aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&sdk).interceptor(calls.clone()).build());
        let vars: HashMap<String, String> = function_env(table).into_iter().collect();
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        // Not recorded: the bench compares the handler with its DynamoDB calls; S3's are the storage's own time.
        let s3 = shared::app::s3_client(&sdk);
        local_stack::template::create_bucket(&s3, FILES_BUCKET).await?;
        let app = App::from_clients(config, dynamodb.clone(), sns, Arc::new(SystemClock)).with_files(s3);
        Ok(Self { app, dynamodb, calls, registered: vec![] })
    }

    pub async fn call(&self, call: HttpCall) -> Reply {
        decode(local_stack::harness::call(&self.app, call).await)
    }

    /// Login, the code from the SMS just sent (read from the recorded SNS request), verify: the token.
    pub async fn sign_in(&self, phone: &PhoneNumber) -> Result<String, BoxError> {
        let code = self.request_code(phone).await?;
        let reply = self.call(verify_call(phone, &code)).await;
        expect_ok("verify", &reply)?;
        Ok(reply.json["token"].as_str().ok_or("verify answered no token")?.to_owned())
    }

    pub async fn request_code(&self, phone: &PhoneNumber) -> Result<String, BoxError> {
        self.request_code_from(phone, &login_call(phone).source_ip).await
    }

    /// The same from the source address `ip`.
    pub async fn request_code_from(&self, phone: &PhoneNumber, ip: &str) -> Result<String, BoxError> {
        let already = self.calls.calls().len();
        let reply = self.call(HttpCall { source_ip: ip.into(), ..login_call(phone) }).await;
        expect_ok("login", &reply)?;
        self.calls.calls()[already..].iter().rev().find_map(sms_code).ok_or_else(|| "login sent no SMS".into())
    }

    /// Users signed up on another app whose table mirrors this one's.
    pub fn share_registered_users(&mut self, other: &BenchApp) {
        self.registered = other.registered.clone();
    }

    /// Signs up `count` users with a name and status, so uploads can find them.
    pub async fn register_users(&mut self, count: usize) -> Result<(), BoxError> {
        while self.registered.len() < count {
            let phone = random_phone();
            let token = self.sign_in(&phone).await?;
            let profile = HttpCall::post("/profile").bearer(&token).form(&[("name", "Bench user"), ("status", "here")]);
            expect_ok("profile", &self.call(profile).await)?;
            self.registered.push(phone);
        }
        Ok(())
    }

    /// Sets up what the operation needs (untimed) and returns the request to time.
    pub async fn prepare(&self, operation: Operation) -> Result<Prepared, BoxError> {
        Ok(match operation {
            Operation::Login => Prepared { call: login_call(&random_phone()) },
            Operation::Verify => {
                let phone = random_phone();
                let code = self.request_code(&phone).await?;
                Prepared { call: verify_call(&phone, &code) }
            }
            Operation::GetContacts(n) => {
                // A first sync by a new user: 10 % of the numbers are registered users, the rest nobody yet.
                let token = self.sign_in(&random_phone()).await?;
                let call =
                    HttpCall::post("/getcontacts").bearer(&token).json(&json!({ "phones": self.address_book(n)? }));
                Prepared { call }
            }
            Operation::DeltaSync(n) => {
                // The same user's next sync: nothing uploaded, what changed since the first one.
                let token = self.sign_in(&random_phone()).await?;
                let upload =
                    HttpCall::post("/getcontacts").bearer(&token).json(&json!({ "phones": self.address_book(n)? }));
                let reply = self.call(upload).await;
                expect_ok("getcontacts", &reply)?;
                let since = reply.json["ts"].clone();
                let call = HttpCall::post("/getcontacts").bearer(&token).json(&json!({ "ts": since }));
                Prepared { call }
            }
            Operation::PhotoUpload => {
                let token = self.sign_in(&random_phone()).await?;
                Prepared { call: photo_upload(&token) }
            }
            Operation::Download => {
                let token = self.sign_in(&random_phone()).await?;
                let reply = self.call(photo_upload(&token)).await;
                expect_ok("upload", &reply)?;
                let name = reply.json["photo"].as_str().ok_or("the upload named no photo")?;
                let call = HttpCall { method: "GET".into(), path: format!("/files/{name}"), ..HttpCall::post("/") };
                Prepared { call }
            }
            Operation::ProfileUpdate => {
                let token = self.sign_in(&random_phone()).await?;
                let call = HttpCall::post("/profile")
                    .bearer(&token)
                    .form(&[("name", &format!("Bench {}", random_hex(4))), ("status", "Available")]);
                Prepared { call }
            }
        })
    }
}

impl BenchApp {
    /// `n` numbers, 10 % of them registered users, the rest nobody yet.
    fn address_book(&self, n: usize) -> Result<Vec<String>, BoxError> {
        let registered = n / 10;
        if registered > self.registered.len() {
            return Err(format!("{registered} registered users needed, {} signed up", self.registered.len()).into());
        }
        let mut phones: Vec<String> = self.registered[..registered].iter().map(|p| p.e164().to_owned()).collect();
        while phones.len() < n {
            phones.push(random_phone().e164().to_owned());
        }
        Ok(phones)
    }
}

/// My new profile photo: a phone camera's picture (1600 × 1200), as mesibo's apps upload it.
fn photo_upload(token: &str) -> HttpCall {
    static PHOTO: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        use image::codecs::jpeg::JpegEncoder;
        let picture = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([(x * 7 % 251) as u8, (y * 3 % 241) as u8, ((x * y) % 239) as u8])
        });
        let mut out = vec![];
        JpegEncoder::new_with_quality(&mut out, 85).encode_image(&picture).expect("a JPEG in memory");
        out
    });
    HttpCall::post("/upload").bearer(token).multipart(&[("profile", "1")], &[("photo", "me.jpg", "image/jpeg", &PHOTO)])
}

pub fn login_call(phone: &PhoneNumber) -> HttpCall {
    HttpCall::post("/login").form(&[("phone", phone.e164())])
}

pub fn verify_call(phone: &PhoneNumber, code: &str) -> HttpCall {
    HttpCall::post("/verify").form(&[("phone", phone.e164()), ("code", code)])
}

/// Answered: 200, or a download's redirect.
pub fn expect_ok(what: &str, reply: &Reply) -> Result<(), BoxError> {
    if matches!(reply.status, 200 | 302) {
        Ok(())
    } else {
        Err(format!("{what} answered {}: {}", reply.status, reply.json).into())
    }
}

/// The code in an SNS Publish request (form-encoded `Message=…`), if the call is one.
fn sms_code(call: &RecordedCall) -> Option<String> {
    if call.operation != "Publish" {
        return None;
    }
    let body = &call.request.as_ref()?.body;
    let message = form_urlencoded::parse(body).find(|(k, _)| k == "Message")?.1;
    message.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).map(str::to_owned)
}
