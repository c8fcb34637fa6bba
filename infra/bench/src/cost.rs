//! docs/COST.md: the AWS bill per 1 M sign-ins and per 1 M monthly active users, computed from what the bench measured
//! (docs/bench-results.json: capacity and rounds per operation, handler time, init), the usage assumptions
//! (infra/bench/usage.json) and list prices with their sources (infra/bench/prices.json), beside hosted
//! alternatives' prices for the same work. Nothing in it is typed by hand: a test checks that the committed document
//! is what these inputs give.
//!
//! A price that could not be read anywhere stays `null` in prices.json and shows as "not found" here; totals add the
//! priced lines only and say which are left out, rather than guess.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use crate::BoxError;
use crate::notifier::News;
use crate::results::{NotifierRecord, Results, WorkOperation};

/// The countries whose SMS prices are compared (prices.json has these keys).
const COUNTRIES: [(&str, &str); 5] =
    [("US", "United States"), ("IN", "India"), ("GB", "United Kingdom"), ("BR", "Brazil"), ("DE", "Germany")];
const MILLION: f64 = 1e6;
/// Seconds in a 30-day month: X-Ray's reservoir traces one request a second.
const SECONDS_A_MONTH: f64 = 30.0 * 24.0 * 3600.0;

#[derive(Debug, Deserialize)]
pub struct Price {
    pub usd: Option<f64>,
    pub read: String,
    pub source: String,
    pub note: String,
}

#[derive(Debug, Deserialize)]
pub struct AwsPrices {
    pub lambda_request_per_million: Price,
    pub lambda_gb_second_arm64: Price,
    pub lambda_gb_second_x86_64: Price,
    pub api_gateway_http_per_million: Price,
    pub dynamodb_write_request_units_per_million: Price,
    pub dynamodb_read_request_units_per_million: Price,
    pub dynamodb_storage_gb_month: Price,
    pub sns_sms: BTreeMap<String, Price>,
    /// What SMS by SNS costs beyond the price per message, unpriced: named beside every total it is left out of.
    pub sns_sms_unpriced: String,
    pub sns_publish_per_million: Price,
    pub sns_mobile_push_per_million: Price,
    pub secrets_manager_secret_month: Price,
    pub secrets_manager_per_10k_calls: Price,
    pub cloudwatch_logs_ingested_gb: Price,
    pub xray_traces_recorded_per_million: Price,
    pub s3_storage_gb_month: Price,
    pub s3_put_per_thousand: Price,
    pub s3_get_per_thousand: Price,
    pub data_transfer_out_gb: Price,
    pub sqs_requests_per_million: Price,
}

#[derive(Debug, Deserialize)]
pub struct MauTiers {
    /// (users up to this bound, USD per user); the last bound is open.
    pub tiers: Vec<(Option<u64>, f64)>,
    pub read: String,
    pub source: String,
    pub note: String,
}

#[derive(Debug, Deserialize)]
pub struct CognitoPrice {
    pub usd: Option<f64>,
    pub free_mau: u64,
    pub read: String,
    pub source: String,
    pub note: String,
}

#[derive(Debug, Deserialize)]
pub struct Alternatives {
    pub twilio_verify_per_verification: Price,
    /// Verify's SMS channel fee: Twilio's per-country price of each SMS it sends, on top of each verification.
    pub twilio_sms: BTreeMap<String, Price>,
    /// What Twilio's SMS costs beyond its price list, unpriced: named beside every total it is left out of.
    pub twilio_sms_unpriced: String,
    pub identity_platform_sms: BTreeMap<String, Price>,
    pub identity_platform_mau_tiers: MauTiers,
    pub cognito_mau_essentials: CognitoPrice,
}

#[derive(Debug, Deserialize)]
pub struct Prices {
    pub aws: AwsPrices,
    pub alternatives: Alternatives,
}

#[derive(Debug, Deserialize)]
pub struct PerUserMonth {
    /// First sign-ins: a new profile, which the notifier tells the audience of.
    pub sign_ups: f64,
    /// Sign-ins of people with an account (a new phone, a reinstall): no new profile, no notifier.
    pub returning_sign_ins: f64,
    pub full_syncs: f64,
    pub days: f64,
    pub profile_updates: f64,
    pub photo_changes: f64,
    pub attachments_sent: f64,
}

/// How much address book a user has and how often her app syncs it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Scenario {
    pub contacts: usize,
    pub syncs_per_day: f64,
}

impl PerUserMonth {
    fn sign_ins(&self) -> f64 {
        self.sign_ups + self.returning_sign_ins
    }
}

impl Scenario {
    fn label(&self) -> String {
        format!(
            "{} contacts, {} sync{} a day",
            self.contacts,
            self.syncs_per_day,
            if self.syncs_per_day == 1.0 { "" } else { "s" }
        )
    }
}

#[derive(Debug, Deserialize)]
pub struct Usage {
    pub architectures: Vec<String>,
    pub architecture_note: String,
    pub memory_mb: BTreeMap<String, f64>,
    pub memory_note: String,
    pub round_trip_ms: f64,
    pub round_trip_note: String,
    pub cold_start_share: f64,
    pub cold_start_note: String,
    pub sms_per_sign_in: f64,
    pub sms_note: String,
    pub per_active_user_month: PerUserMonth,
    pub per_active_user_note: String,
    pub scenarios: Vec<Scenario>,
    pub headline_scenario: Scenario,
    pub scenario_note: String,
    pub audience_note: String,
    pub push_devices_per_recipient: f64,
    pub push_note: String,
    pub xray_traced_share: f64,
    pub xray_note: String,
    pub photo_bytes: f64,
    pub attachment_bytes: f64,
    pub attachment_downloads: f64,
    pub attachment_days: f64,
    pub files_note: String,
    pub hosted_mau_note: String,
    pub secret_reads_per_cold_start: f64,
    pub secrets_per_deployment: f64,
    pub secrets_note: String,
    pub log_bytes_per_invocation: f64,
    pub log_note: String,
    pub stored_bytes_per_user: f64,
    pub stored_bytes_per_contact: f64,
    pub storage_note: String,
}

/// The three inputs, from the repository root.
pub fn read_inputs(root: &Path, results: &Path) -> Result<(Results, Prices, Usage), BoxError> {
    let path = root.join("infra/bench/prices.json");
    let prices = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((
        Results::read(results)?,
        serde_json::from_str(&prices).map_err(|e| format!("prices.json: {e}"))?,
        read_usage(root)?,
    ))
}

/// infra/bench/usage.json, from the repository root.
pub fn read_usage(root: &Path) -> Result<Usage, BoxError> {
    let path = root.join("infra/bench/usage.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("usage.json: {e}"))?)
}

/// What a piece of work uses, meter by meter, before any price: the model's counts, each from a measured figure
/// times a usage assumption.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Activity {
    pub api_requests: f64,
    pub lambda_requests: f64,
    /// Lambda duration times memory, whatever the architecture (each has its own price).
    pub gb_seconds: f64,
    pub read_units: f64,
    pub write_units: f64,
    /// Contact events published to SNS (what its message quota counts).
    pub events: f64,
    /// SNS publish requests, as billed: a PublishBatch of up to ten events is one, and so is each push.
    pub publish_requests: f64,
    /// Events pushed to devices (SNS mobile push deliveries).
    pub pushes: f64,
    pub log_gb: f64,
    pub secret_reads: f64,
    pub traces: f64,
    pub s3_puts: f64,
    pub s3_gets: f64,
    pub egress_gb: f64,
    pub table_gb_month: f64,
    pub bucket_gb_month: f64,
}

impl Activity {
    fn meters(&mut self) -> [&mut f64; 16] {
        [
            &mut self.api_requests,
            &mut self.lambda_requests,
            &mut self.gb_seconds,
            &mut self.read_units,
            &mut self.write_units,
            &mut self.events,
            &mut self.publish_requests,
            &mut self.pushes,
            &mut self.log_gb,
            &mut self.secret_reads,
            &mut self.traces,
            &mut self.s3_puts,
            &mut self.s3_gets,
            &mut self.egress_gb,
            &mut self.table_gb_month,
            &mut self.bucket_gb_month,
        ]
    }

    fn scaled(&self, times: f64) -> Self {
        let mut out = self.clone();
        for meter in out.meters() {
            *meter *= times;
        }
        out
    }

    fn plus(mut self, other: &Activity) -> Self {
        let mut other = other.clone();
        for (mine, theirs) in self.meters().into_iter().zip(other.meters()) {
            *mine += *theirs;
        }
        self
    }
}

/// Dollars by service, with the services whose price was not found named rather than counted.
#[derive(Default, Clone)]
struct Bill {
    lines: BTreeMap<&'static str, f64>,
    unpriced: Vec<&'static str>,
}

impl Bill {
    fn add(&mut self, service: &'static str, quantity: f64, price: &Price, per: f64) {
        match price.usd {
            Some(usd) => *self.lines.entry(service).or_default() += quantity * usd / per,
            None if quantity > 0.0 && !self.unpriced.contains(&service) => self.unpriced.push(service),
            None => {}
        }
    }

    fn total(&self) -> f64 {
        self.lines.values().sum()
    }
}

/// The bill for `activity` with Lambda on `architecture`.
fn price(activity: &Activity, prices: &Prices, architecture: &str) -> Bill {
    let aws = &prices.aws;
    let gb_second = match architecture {
        "arm64" => &aws.lambda_gb_second_arm64,
        _ => &aws.lambda_gb_second_x86_64,
    };
    let a = activity;
    let mut bill = Bill::default();
    bill.add("API Gateway (HTTP API)", a.api_requests, &aws.api_gateway_http_per_million, MILLION);
    bill.add("Lambda requests", a.lambda_requests, &aws.lambda_request_per_million, MILLION);
    bill.add("Lambda duration", a.gb_seconds, gb_second, 1.0);
    bill.add("DynamoDB reads", a.read_units, &aws.dynamodb_read_request_units_per_million, MILLION);
    bill.add("DynamoDB writes", a.write_units, &aws.dynamodb_write_request_units_per_million, MILLION);
    bill.add("DynamoDB storage", a.table_gb_month, &aws.dynamodb_storage_gb_month, 1.0);
    bill.add("SNS publishes (events and pushes)", a.publish_requests, &aws.sns_publish_per_million, MILLION);
    bill.add("SNS mobile push deliveries", a.pushes, &aws.sns_mobile_push_per_million, MILLION);
    bill.add("CloudWatch Logs", a.log_gb, &aws.cloudwatch_logs_ingested_gb, 1.0);
    bill.add("Secrets Manager reads", a.secret_reads, &aws.secrets_manager_per_10k_calls, 10_000.0);
    bill.add("X-Ray traces", a.traces, &aws.xray_traces_recorded_per_million, MILLION);
    bill.add("S3 requests", a.s3_puts, &aws.s3_put_per_thousand, 1000.0);
    bill.add("S3 requests", a.s3_gets, &aws.s3_get_per_thousand, 1000.0);
    bill.add("S3 storage", a.bucket_gb_month, &aws.s3_storage_gb_month, 1.0);
    bill.add("Data transfer out (downloads)", a.egress_gb, &aws.data_transfer_out_gb, 1.0);
    bill
}

struct Model<'a> {
    results: &'a Results,
    usage: &'a Usage,
}

impl Model<'_> {
    fn operation(&self, label: &str) -> Result<&WorkOperation, BoxError> {
        let work =
            self.results.work.as_ref().ok_or("bench-results.json has no work section: run BENCH_SECTIONS=work")?;
        Ok(work
            .operations
            .iter()
            .find(|o| o.operation == label)
            .ok_or_else(|| format!("no {label} in the work section: run BENCH_SECTIONS=work"))?)
    }

    fn notifier_record(&self, news: News, audience: usize) -> Result<&NotifierRecord, BoxError> {
        let section = self
            .results
            .notifier
            .as_ref()
            .ok_or("bench-results.json has no notifier section: run BENCH_SECTIONS=notifier")?;
        Ok(section
            .records
            .iter()
            .find(|r| r.news == news.label() && r.audience == audience)
            .ok_or_else(|| format!("no {} at an audience of {audience} in the notifier section", news.label()))?)
    }

    fn cold_init(&self, function: &str) -> Result<f64, BoxError> {
        let cold =
            self.results.cold.as_ref().ok_or("bench-results.json has no cold section: run BENCH_SECTIONS=cold")?;
        let f = cold.functions.iter().find(|f| f.name == function).ok_or_else(|| format!("no {function} in cold"))?;
        Ok(f.init_ms)
    }

    fn memory_gb(&self, function: &str) -> Result<f64, BoxError> {
        Ok(self.usage.memory_mb.get(function).ok_or_else(|| format!("usage.json: no memory for {function}"))? / 1024.0)
    }

    /// The billed milliseconds of one request: the handler time measured on loopback plus a round trip inside the
    /// region for each sequential round and each call to another service; plus the share of a cold start's init.
    fn billed_ms(&self, operation: &WorkOperation, function: &str) -> Result<f64, BoxError> {
        let others: usize = operation.other_calls.values().sum();
        let warm = operation.handler_p50_ms + (operation.rounds + others) as f64 * self.usage.round_trip_ms;
        Ok(warm + self.usage.cold_start_share * self.cold_init(function)?)
    }

    /// One invocation of `function` billed `ms`: and what every invocation adds beyond its work, its log lines, its
    /// share of a cold start's secret reads, its share of traces.
    fn invocation(&self, function: &str, ms: f64) -> Result<Activity, BoxError> {
        let u = self.usage;
        Ok(Activity {
            lambda_requests: 1.0,
            gb_seconds: ms / 1000.0 * self.memory_gb(function)?,
            log_gb: u.log_bytes_per_invocation / 1e9,
            secret_reads: u.cold_start_share * u.secret_reads_per_cold_start,
            traces: u.xray_traced_share,
            ..Activity::default()
        })
    }

    /// One HTTP request of this operation, served by this function.
    fn request(&self, label: &str, function: &str) -> Result<Activity, BoxError> {
        let operation = self.operation(label)?;
        let work = Activity {
            api_requests: 1.0,
            read_units: operation.billed_read_units(),
            write_units: operation.billed_write_units(),
            ..Activity::default()
        };
        Ok(work.plus(&self.invocation(function, self.billed_ms(operation, function)?)?))
    }

    /// The notifier's invocation for one record, at its measured time (the round trips inside the region are in
    /// it), and the events it publishes (in the PublishBatch calls it made) and pushes (a Publish each).
    fn notifier(&self, news: News, audience: usize) -> Result<Activity, BoxError> {
        let record = self.notifier_record(news, audience)?;
        let ms = record.handler_p50_ms + self.usage.cold_start_share * self.cold_init("notifier")?;
        let pushes = record.events * self.usage.push_devices_per_recipient;
        let work = Activity {
            read_units: record.read_units,
            write_units: record.write_units,
            events: record.events,
            publish_requests: record.other_calls.values().sum::<f64>() + pushes,
            pushes,
            ..Activity::default()
        };
        Ok(work.plus(&self.invocation("notifier", ms)?))
    }

    /// A returning user's sign-in: login and verify, without the SMS (priced by country). Login as measured for a
    /// new number: an upper bound, since a returning number's code is counted on two counters fewer.
    fn returning_sign_in(&self) -> Result<Activity, BoxError> {
        Ok(self.request("login", "login")?.plus(&self.request("verify", "verify")?))
    }

    /// A first sign-in: login and verify, and the notifier's invocation for the new profile.
    fn sign_up(&self, scenario: &Scenario) -> Result<Activity, BoxError> {
        Ok(self.returning_sign_in()?.plus(&self.notifier(News::SignUp, scenario.contacts)?))
    }

    /// A stored file fetched: its link from the files function, then the bytes from S3 to the phone.
    fn download(&self, bytes: f64) -> Result<Activity, BoxError> {
        let fetch = Activity { s3_gets: 1.0, egress_gb: bytes / 1e9, ..Activity::default() };
        Ok(self.request("file download", "files")?.plus(&fetch))
    }

    /// A file stored through the files function (a picture re-encoded, as measured).
    fn upload(&self) -> Result<Activity, BoxError> {
        Ok(self.request("photo upload", "files")?.plus(&Activity { s3_puts: 1.0, ..Activity::default() }))
    }

    /// A monthly active user's month, without SMS.
    fn active_user_month(&self, scenario: &Scenario) -> Result<Activity, BoxError> {
        let u = self.usage;
        let per = &u.per_active_user_month;
        let contacts = scenario.contacts;
        let deltas = (per.days * scenario.syncs_per_day - per.full_syncs).max(0.0);
        let profile_change = self.notifier(News::ProfileChange, contacts)?;
        let kept = Activity {
            table_gb_month: (u.stored_bytes_per_user + contacts as f64 * u.stored_bytes_per_contact) / 1e9,
            bucket_gb_month: (u.photo_bytes + per.attachments_sent * u.attachment_bytes * u.attachment_days / 30.0)
                / 1e9,
            ..Activity::default()
        };
        Ok(self
            .sign_up(scenario)?
            .scaled(per.sign_ups)
            .plus(&self.returning_sign_in()?.scaled(per.returning_sign_ins))
            .plus(&self.request(&format!("getcontacts N={contacts}"), "getcontacts")?.scaled(per.full_syncs))
            .plus(&self.request(&format!("delta sync, {contacts} contacts"), "getcontacts")?.scaled(deltas))
            .plus(&self.request("profile update", "account")?.plus(&profile_change).scaled(per.profile_updates))
            .plus(&self.upload()?.plus(&profile_change).scaled(per.photo_changes))
            .plus(&self.download(u.photo_bytes)?.scaled(per.photo_changes * contacts as f64))
            .plus(&self.upload()?.scaled(per.attachments_sent))
            .plus(&self.download(u.attachment_bytes)?.scaled(per.attachments_sent * u.attachment_downloads))
            .plus(&kept))
    }
}

/// What one sign-in asks of each resource a quota bounds (docs/SCALE.md), for users with `scenario`'s contacts.
pub struct SignInDemand {
    pub reads: f64,
    pub writes: f64,
    pub api_requests: f64,
    /// Seconds of login and verify: executions at once per sign-in a second.
    pub http_seconds: f64,
    /// Events and pushes published.
    pub sns_messages: f64,
    pub sms: f64,
}

/// `None`: a returning user's sign-in, which writes no new profile and so wakes no notifier.
pub fn sign_in_demand(results: &Results, usage: &Usage, scenario: Option<&Scenario>) -> Result<SignInDemand, BoxError> {
    let model = Model { results, usage };
    let activity = match scenario {
        Some(scenario) => model.sign_up(scenario)?,
        None => model.returning_sign_in()?,
    };
    let ms =
        model.billed_ms(model.operation("login")?, "login")? + model.billed_ms(model.operation("verify")?, "verify")?;
    Ok(SignInDemand {
        reads: activity.read_units,
        writes: activity.write_units,
        api_requests: activity.api_requests,
        http_seconds: ms / 1000.0,
        sns_messages: activity.events + activity.pushes,
        sms: usage.sms_per_sign_in,
    })
}

fn usd(amount: f64) -> String {
    if amount >= 100.0 { format!("${}", crate::report::thousands(amount)) } else { format!("${amount:.2}") }
}

fn price_cell(price: &Price) -> String {
    match price.usd {
        Some(usd) => format!("${usd}"),
        None => "not found".into(),
    }
}

fn identity_platform_mau(tiers: &MauTiers, users: u64) -> f64 {
    let mut cost = 0.0;
    let mut below = 0;
    for (bound, per_user) in &tiers.tiers {
        let upper = bound.unwrap_or(u64::MAX).min(users);
        if upper > below {
            cost += (upper - below) as f64 * per_user;
            below = upper;
        }
    }
    cost
}

/// Beyond a bill's own unpriced lines: what no figure here covers, named beside every total.
const NOT_MODELLED: [&str; 3] = [
    "SQS (fan-outs past one page)",
    "ContactEventsTopic's deliveries to the operator's subscribers",
    "API responses' data transfer out",
];

/// The document. Deterministic: the same inputs give the same bytes (the dates are those of the inputs).
pub fn markdown(results: &Results, prices: &Prices, usage: &Usage) -> Result<String, BoxError> {
    let model = Model { results, usage };
    let headline = usage.headline_scenario;
    let first_architecture = usage.architectures.first().map(String::as_str).unwrap_or("x86_64");
    let million_sign_ups = model.sign_up(&headline)?.scaled(MILLION);
    let million_returning = model.returning_sign_in()?.scaled(MILLION);
    let returning_bill = price(&million_returning, prices, first_architecture);
    let million_users = model.active_user_month(&headline)?.scaled(MILLION);
    let sign_ups_bill = price(&million_sign_ups, prices, first_architecture);
    let users_bill = price(&million_users, prices, first_architecture);
    let per = &usage.per_active_user_month;
    let sms_sign_ins = per.sign_ins() * MILLION;

    let mut md = String::new();
    let _ = writeln!(md, "# Cost\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (`make cost` alone recomputes it) from the figures the bench measured \
         (docs/bench-results.json: section 1 on {}, sections 2 and 3 on {}, section 7 on {}), the usage assumptions \
         in infra/bench/usage.json and the list prices in infra/bench/prices.json, each with the date and place it \
         was read. Do not edit it: edit those and regenerate (a test fails when this file is not what they give, and \
         another when a count below is not the sum of the measured operations it stands for).\n",
        results
            .cold
            .as_ref()
            .map(|c| {
                let mut dates: Vec<&str> = c.functions.iter().map(|f| f.measured.as_str()).collect();
                dates.sort_unstable();
                dates.dedup();
                dates.join(", ")
            })
            .unwrap_or_else(|| "never".into()),
        results.work.as_ref().map(|w| w.measured.as_str()).unwrap_or("never"),
        results.notifier.as_ref().map(|n| n.measured.as_str()).unwrap_or("never"),
    );
    let _ = writeln!(
        md,
        "Prices are US dollars, us-east-1, without AWS's free tier (Cognito's and Identity Platform's free users, \
         deducted from every bill, are counted). A price the stored sources did not have is shown as **not found** \
         and left out of every total, which then names it: no figure here is a guess. Lambda is priced on {} (the \
         template's default) unless a column says otherwise.\n",
        first_architecture
    );

    let twilio = &prices.alternatives.twilio_verify_per_verification;
    let tiers = &prices.alternatives.identity_platform_mau_tiers;
    let cognito = &prices.alternatives.cognito_mau_essentials;
    let cognito_mau = cognito.usd.map(|p| p * (MILLION - cognito.free_mau as f64).max(0.0));
    let sms_for_users = sms_sign_ins * usage.sms_per_sign_in;
    let sms_for_sign_ins = MILLION * usage.sms_per_sign_in;
    let _ = writeln!(md, "## Headline\n");
    let _ = writeln!(
        md,
        "The bill a month for users with {}, SMS included, with every code sent to one country ({} SMS per sign-in: \
         {}). The hosted alternatives replace sign-in only: contact discovery, profiles and groups still need a \
         backend such as this one.\n",
        headline.label(),
        usage.sms_per_sign_in,
        usage.sms_note
    );
    let header: Vec<String> = COUNTRIES.iter().map(|(code, name)| format!("{name} ({code})")).collect();
    let _ = writeln!(md, "| per month | before SMS | {} | not priced |", header.join(" | "));
    let _ = writeln!(md, "|---|---:|{}---|", "---:|".repeat(COUNTRIES.len()));
    let mut headline_row =
        |what: &str, before_sms: Option<f64>, sms: &BTreeMap<String, Price>, count: f64, unpriced: &str| {
            let cells: Vec<String> = COUNTRIES
                .iter()
                .map(|(code, _)| match (before_sms, sms.get(*code).and_then(|p| p.usd)) {
                    (Some(base), Some(price)) => usd(base + price * count),
                    _ => "not found".into(),
                })
                .collect();
            let base = before_sms.map(usd).unwrap_or_else(|| "not found".into());
            let _ = writeln!(md, "| {what} | {base} | {} | {unpriced} |", cells.join(" | "));
        };
    let sns = &prices.aws.sns_sms;
    let unpriced = |bill: &Bill| {
        let extras = NOT_MODELLED.iter().copied().chain([prices.aws.sns_sms_unpriced.as_str()]);
        bill.unpriced.iter().copied().chain(extras).collect::<Vec<_>>().join("; ")
    };
    let twilio_unpriced = &prices.alternatives.twilio_sms_unpriced;
    headline_row(
        &format!("1 M sign-ups ({} contacts each): this backend", headline.contacts),
        Some(sign_ups_bill.total()),
        sns,
        sms_for_sign_ins,
        &unpriced(&sign_ups_bill),
    );
    headline_row(
        "1 M returning sign-ins: this backend",
        Some(returning_bill.total()),
        sns,
        sms_for_sign_ins,
        &unpriced(&returning_bill),
    );
    headline_row(
        "1 M monthly active users: this backend",
        Some(users_bill.total()),
        sns,
        sms_for_users,
        &unpriced(&users_bill),
    );
    let twilio_sms = &prices.alternatives.twilio_sms;
    let twilio_sign_ins = twilio.usd.map(|p| p * MILLION);
    headline_row("1 M sign-ins: Twilio Verify", twilio_sign_ins, twilio_sms, sms_for_sign_ins, twilio_unpriced);
    headline_row(
        "1 M monthly active users: Twilio Verify",
        twilio.usd.map(|p| p * sms_sign_ins),
        twilio_sms,
        sms_for_users,
        twilio_unpriced,
    );
    let identity_platform = Some(identity_platform_mau(tiers, MILLION as u64));
    let google_sms = &prices.alternatives.identity_platform_sms;
    headline_row("1 M monthly active users: Identity Platform", identity_platform, google_sms, sms_for_users, "–");
    let sns_unpriced = &prices.aws.sns_sms_unpriced;
    headline_row(
        "1 M monthly active users: Cognito Essentials, SMS by SNS",
        cognito_mau,
        sns,
        sms_for_users,
        sns_unpriced,
    );
    let _ = writeln!(md);

    let _ = writeln!(md, "## Scenarios and architectures\n");
    let _ = writeln!(
        md,
        "This backend before SMS, a month, for each usage scenario ({}) on each architecture ({}).\n",
        usage.scenario_note, usage.architecture_note
    );
    let arch_header: Vec<String> = usage.architectures.iter().map(|a| format!("1 M sign-ups, {a}")).collect();
    let arch_users: Vec<String> =
        usage.architectures.iter().map(|a| format!("1 M monthly active users, {a}")).collect();
    let _ = writeln!(md, "| scenario | {} | {} |", arch_header.join(" | "), arch_users.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(2 * usage.architectures.len()));
    for scenario in &usage.scenarios {
        let sign_up = model.sign_up(scenario)?.scaled(MILLION);
        let month = model.active_user_month(scenario)?.scaled(MILLION);
        let cells = |activity: &Activity| -> Vec<String> {
            usage.architectures.iter().map(|a| usd(price(activity, prices, a).total())).collect()
        };
        let _ = writeln!(
            md,
            "| {}{} | {} | {} |",
            scenario.label(),
            if *scenario == headline { " (headline)" } else { "" },
            cells(&sign_up).join(" | "),
            cells(&month).join(" | ")
        );
    }

    let _ = writeln!(md, "\n## This backend, by service\n");
    let _ = writeln!(
        md,
        "Users with {}. A sign-up is `POST /login` (one code by SMS) and `POST /verify`, and the notifier's \
         invocation for the new profile, which tells her {} contacts; a returning user's sign-in is the two requests \
         alone. A monthly active user makes, a month: {} sign-ups and {} returning sign-ins, {} full address-book syncs and a delta sync on each other sync ({} a day over {} days), {} profile \
         changes, {} photo changes (each downloaded by every contact) and {} attachments sent.\n",
        headline.label(),
        headline.contacts,
        per.sign_ups,
        per.returning_sign_ins,
        per.full_syncs,
        headline.syncs_per_day,
        per.days,
        per.profile_updates,
        per.photo_changes,
        per.attachments_sent
    );
    let mut columns = vec![];
    for architecture in &usage.architectures {
        columns.push((format!("1 M sign-ups, {architecture}"), price(&million_sign_ups, prices, architecture)));
    }
    for architecture in &usage.architectures {
        columns
            .push((format!("1 M monthly active users, {architecture}"), price(&million_users, prices, architecture)));
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let _ = writeln!(md, "| service | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(columns.len()));
    let mut services: Vec<&str> = columns.iter().flat_map(|(_, bill)| bill.lines.keys().copied()).collect();
    services.sort_unstable();
    services.dedup();
    for service in services {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, bill)| {
                bill.lines.get(service).filter(|v| **v > 0.0).map(|v| usd(*v)).unwrap_or_else(|| "–".into())
            })
            .collect();
        let _ = writeln!(md, "| {service} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = columns.iter().map(|(_, bill)| format!("**{}**", usd(bill.total()))).collect();
    let _ = writeln!(md, "| **total of the priced lines** | {} |", totals.join(" | "));
    let secrets = &prices.aws.secrets_manager_secret_month;
    let functions = local_stack::template::function_names().len();
    let _ = writeln!(
        md,
        "\nBeside these, a deployment pays whatever its traffic: its secrets, {} a month ({} secrets at {} each); and \
         X-Ray's reservoir, the first trace each second of each of its {} functions (template.yaml), at most {} a \
         month when every function is busy every second.",
        secrets.usd.map(|p| usd(p * usage.secrets_per_deployment)).unwrap_or_else(|| "not found".into()),
        usage.secrets_per_deployment,
        price_cell(secrets),
        functions,
        prices
            .aws
            .xray_traces_recorded_per_million
            .usd
            .map(|p| usd(p * functions as f64 * SECONDS_A_MONTH / MILLION))
            .unwrap_or_else(|| "not found".into()),
    );
    let _ = writeln!(md, "\nSMS, per country ({} per sign-in: {}):\n", usage.sms_per_sign_in, usage.sms_note);
    let _ =
        writeln!(md, "| country | SNS price per SMS | 1 M sign-ins | 1 M monthly active users |\n|---|---:|---:|---:|");
    for (code, name) in COUNTRIES {
        let price = prices.aws.sns_sms.get(code).and_then(|p| p.usd);
        let cost = |n: f64| price.map(|p| usd(p * n * usage.sms_per_sign_in)).unwrap_or_else(|| "not found".into());
        let _ = writeln!(
            md,
            "| {name} ({code}) | {} | {} | {} |",
            price.map(|p| format!("${p}")).unwrap_or_else(|| "not found".into()),
            cost(MILLION),
            cost(sms_sign_ins)
        );
    }

    let _ = writeln!(md, "\n## Units, as counted\n");
    let _ = writeln!(
        md,
        "What the model counts per sign-up, per returning sign-in and per monthly active user, each count the \
         sum of the measured operations it is made of (sections 2, 3 and 7 of docs/BENCHMARKS.md) times the usage \
         above: a test recomputes each column but Lambda's GB-s from docs/bench-results.json without the model. Read \
         and write units are DynamoDB's request units (the larger of what DynamoDB Local reported and the least its \
         pricing charges, section 2); events are messages to the topic, sent ten to a PublishBatch; pushes are one \
         Publish each; GB-s is Lambda's duration times memory.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | per | API requests | invocations | read units | write units | events | pushes | Lambda GB-s | \
         S3 requests | GB out |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = vec![("any".to_owned(), "returning sign-in", model.returning_sign_in()?)];
    for scenario in &usage.scenarios {
        rows.push((scenario.label(), "sign-up", model.sign_up(scenario)?));
        rows.push((scenario.label(), "active user, month", model.active_user_month(scenario)?));
    }
    {
        for (scenario, per_what, activity) in rows {
            let _ = writeln!(
                md,
                "| {scenario} | {per_what} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {:.1} | {:.4} |",
                activity.api_requests,
                activity.lambda_requests,
                activity.read_units,
                activity.write_units,
                activity.events,
                activity.pushes,
                activity.gb_seconds,
                activity.s3_puts + activity.s3_gets,
                activity.egress_gb,
            );
        }
    }

    let _ = writeln!(md, "\n## Per request, as measured\n");
    let _ = writeln!(
        md,
        "Capacity billed is the larger of what DynamoDB Local reported and the least DynamoDB's on-demand pricing \
         charges for the same calls (section 2 of docs/BENCHMARKS.md). Billed time is the handler's median against \
         DynamoDB Local plus {} ms per sequential round and per call to another service, plus {} % of a cold \
         start's init. The notifier's records were timed with that round trip on every answer (section 7).\n",
        usage.round_trip_ms,
        usage.cold_start_share * 100.0
    );
    let _ = writeln!(
        md,
        "| operation | function (MB) | RRU | WRU | rounds | other calls | handler p50 | billed ms | per 1 M, {first_architecture} |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut labels = vec![("login".to_owned(), "login"), ("verify".to_owned(), "verify")];
    for scenario in &usage.scenarios {
        for label in
            [format!("getcontacts N={}", scenario.contacts), format!("delta sync, {} contacts", scenario.contacts)]
        {
            if !labels.iter().any(|(l, _)| *l == label) {
                labels.push((label, "getcontacts"));
            }
        }
    }
    labels.extend([
        ("profile update".to_owned(), "account"),
        ("photo upload".to_owned(), "files"),
        ("file download".to_owned(), "files"),
    ]);
    for (label, function) in &labels {
        let operation = model.operation(label)?;
        let others: usize = operation.other_calls.values().sum();
        let _ = writeln!(
            md,
            "| {label} | {function} ({}) | {} | {} | {} | {others} | {:.2} ms | {:.2} | {} |",
            usage.memory_mb.get(*function).copied().unwrap_or_default(),
            operation.billed_read_units(),
            operation.billed_write_units(),
            operation.rounds,
            operation.handler_p50_ms,
            model.billed_ms(operation, function)?,
            usd(price(&model.request(label, function)?.scaled(MILLION), prices, first_architecture).total())
        );
    }
    let mut audiences: Vec<usize> = usage.scenarios.iter().map(|s| s.contacts).collect();
    audiences.sort_unstable();
    audiences.dedup();
    for audience in audiences {
        for news in [News::SignUp, News::ProfileChange] {
            let record = model.notifier_record(news, audience)?;
            let others: f64 = record.other_calls.values().sum();
            let _ = writeln!(
                md,
                "| notifier: {}, audience {audience} | notifier ({}) | {} | {} | – | {others} | {:.2} ms | {:.2} | {} |",
                news.label(),
                usage.memory_mb.get("notifier").copied().unwrap_or_default(),
                record.read_units,
                record.write_units,
                record.handler_p50_ms,
                record.handler_p50_ms + usage.cold_start_share * model.cold_init("notifier")?,
                usd(price(&model.notifier(news, audience)?.scaled(MILLION), prices, first_architecture).total())
            );
        }
    }

    let _ = writeln!(md, "\n## Hosted alternatives, same work\n");
    let _ = writeln!(
        md,
        "How each is charged (the headline's rows for them; prices by country under Prices). They replace sign-in \
         only: contact discovery, profiles and groups still need a backend such as this one (the tables above \
         without their sign-in rows).\n"
    );
    let _ = writeln!(md, "| service | what is charged | before SMS: 1 M sign-ins | 1 M monthly active users |");
    let _ = writeln!(md, "|---|---|---:|---:|");
    let found = |amount: Option<f64>| amount.map(usd).unwrap_or_else(|| "not found".into());
    let _ = writeln!(
        md,
        "| Twilio Verify | {} per successful verification, plus Twilio's SMS price for each SMS sent | {} | {} |",
        price_cell(twilio),
        found(twilio.usd.map(|p| p * MILLION)),
        found(twilio.usd.map(|p| p * sms_sign_ins))
    );
    let _ = writeln!(
        md,
        "| Firebase phone auth / Identity Platform | per monthly active user (tiers under Prices), plus Google's price \
         for each SMS sent | – | {} |",
        found(identity_platform)
    );
    let _ = writeln!(
        md,
        "| Cognito (Essentials), SMS by SNS | {} per monthly active user above {} free, plus SNS's price for each SMS \
         | – | {} |",
        cognito.usd.map(|p| format!("${p}")).unwrap_or_else(|| "not found".into()),
        cognito.free_mau,
        found(cognito_mau)
    );

    let _ = writeln!(md, "\n## Assumptions\n");
    for (what, note) in [
        ("Architectures", &usage.architecture_note),
        ("Memory", &usage.memory_note),
        ("Round trips", &usage.round_trip_note),
        ("Cold starts", &usage.cold_start_note),
        ("SMS", &usage.sms_note),
        ("Active users", &usage.per_active_user_note),
        ("Scenarios", &usage.scenario_note),
        ("Audience", &usage.audience_note),
        ("Push", &usage.push_note),
        ("X-Ray", &usage.xray_note),
        ("Files", &usage.files_note),
        ("Hosted alternatives' users", &usage.hosted_mau_note),
        ("Secrets", &usage.secrets_note),
        ("Logs", &usage.log_note),
        ("Storage", &usage.storage_note),
    ] {
        let _ = writeln!(md, "- {what}: {note}.");
    }
    let _ = writeln!(md, "- Not modelled, named beside every total: {}.", NOT_MODELLED.join("; "));

    let _ = writeln!(md, "\n## Prices\n");
    let _ = writeln!(md, "| price | USD | read | where | note |\n|---|---:|---|---|---|");
    let aws = &prices.aws;
    let mut rows: Vec<(String, &Price)> = vec![
        ("Lambda, per 1 M requests".into(), &aws.lambda_request_per_million),
        ("Lambda, per GB-second, arm64".into(), &aws.lambda_gb_second_arm64),
        ("Lambda, per GB-second, x86_64".into(), &aws.lambda_gb_second_x86_64),
        ("API Gateway HTTP API, per 1 M requests".into(), &aws.api_gateway_http_per_million),
        ("DynamoDB on-demand, per 1 M write request units".into(), &aws.dynamodb_write_request_units_per_million),
        ("DynamoDB on-demand, per 1 M read request units".into(), &aws.dynamodb_read_request_units_per_million),
        ("DynamoDB storage, per GB-month".into(), &aws.dynamodb_storage_gb_month),
        ("SNS, per 1 M publishes".into(), &aws.sns_publish_per_million),
        ("SNS mobile push, per 1 M".into(), &aws.sns_mobile_push_per_million),
        ("Secrets Manager, per secret a month".into(), &aws.secrets_manager_secret_month),
        ("Secrets Manager, per 10,000 API calls".into(), &aws.secrets_manager_per_10k_calls),
        ("CloudWatch Logs, per GB ingested".into(), &aws.cloudwatch_logs_ingested_gb),
        ("X-Ray, per 1 M traces recorded".into(), &aws.xray_traces_recorded_per_million),
        ("S3 Standard, per GB-month".into(), &aws.s3_storage_gb_month),
        ("S3 PUT, per 1,000 requests".into(), &aws.s3_put_per_thousand),
        ("S3 GET, per 1,000 requests".into(), &aws.s3_get_per_thousand),
        ("Data transfer out to the internet, per GB".into(), &aws.data_transfer_out_gb),
        (
            "SQS standard, per 1 M requests (fan-outs past one page; not in the totals)".into(),
            &aws.sqs_requests_per_million,
        ),
    ];
    for (code, _) in COUNTRIES {
        if let Some(price) = aws.sns_sms.get(code) {
            rows.push((format!("SNS SMS to {code}"), price));
        }
    }
    rows.push(("Twilio Verify, per successful verification".into(), twilio));
    for (code, _) in COUNTRIES {
        if let Some(price) = prices.alternatives.twilio_sms.get(code) {
            rows.push((format!("Twilio SMS channel fee to {code}"), price));
        }
    }
    for (code, _) in COUNTRIES {
        if let Some(price) = prices.alternatives.identity_platform_sms.get(code) {
            rows.push((format!("Identity Platform SMS to {code}"), price));
        }
    }
    for (name, price) in rows {
        let _ =
            writeln!(md, "| {name} | {} | {} | <{}> | {} |", price_cell(price), price.read, price.source, price.note);
    }
    let tier_text: Vec<String> = tiers
        .tiers
        .iter()
        .map(|(bound, usd)| match bound {
            Some(bound) => format!("${usd} up to {bound}"),
            None => format!("${usd} beyond"),
        })
        .collect();
    let _ = writeln!(
        md,
        "| Identity Platform, per MAU | {} | {} | <{}> | {} |",
        tier_text.join("; "),
        tiers.read,
        tiers.source,
        tiers.note
    );
    let _ = writeln!(
        md,
        "| Cognito Essentials, per MAU | {} | {} | <{}> | {} |",
        cognito.usd.map(|p| format!("${p}")).unwrap_or_else(|| "not found".into()),
        cognito.read,
        cognito.source,
        cognito.note
    );
    Ok(md)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// docs/COST.md is generated: edited by hand, or left behind when an input changed, it fails here.
    #[test]
    fn the_committed_cost_document_is_what_its_inputs_give() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let (results, prices, usage) = inputs();
        let expected = markdown(&results, &prices, &usage).unwrap();
        let committed = std::fs::read_to_string(root.join("docs/COST.md")).unwrap();
        assert!(
            committed == expected,
            "docs/COST.md is not what its inputs give: run `BENCH_SECTIONS=cost` (make cost)"
        );
    }

    fn inputs() -> (Results, Prices, Usage) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        read_inputs(&root, &root.join("docs/bench-results.json")).unwrap()
    }

    fn assert_close(what: &str, counted: f64, measured: f64) {
        assert!(
            (counted - measured).abs() < 1e-9 * measured.abs().max(1.0),
            "{what}: counted {counted}, measured {measured}"
        );
    }

    /// Each count of docs/COST.md is the sum of the measured operations it stands for, times the usage: recomputed
    /// here from docs/bench-results.json, without the model.
    #[test]
    fn the_model_counts_what_the_bench_measured() {
        let (results, _, usage) = inputs();
        let model = Model { results: &results, usage: &usage };
        let work = results.work.as_ref().expect("a work section");
        let op = |label: &str| work.operations.iter().find(|o| o.operation == label).expect(label);
        let notifier = results.notifier.as_ref().expect("a notifier section");
        let record = |news: &str, audience: usize| {
            notifier.records.iter().find(|r| r.news == news && r.audience == audience).expect(news)
        };
        let batches = |r: &NotifierRecord| r.other_calls["PublishBatch"];
        let per = &usage.per_active_user_month;
        let (login, verify) = (op("login"), op("verify"));
        let returning_reads = login.billed_read_units() + verify.billed_read_units();
        let returning_writes = login.billed_write_units() + verify.billed_write_units();
        let returning = model.returning_sign_in().unwrap();
        assert_close("returning reads", returning.read_units, returning_reads);
        assert_close("returning writes", returning.write_units, returning_writes);
        assert_close("returning events", returning.events, 0.0);
        for scenario in &usage.scenarios {
            let contacts = scenario.contacts;
            let (joined, changed) = (record("sign-up", contacts), record("profile change", contacts));
            let sign_up = model.sign_up(scenario).unwrap();
            let sign_up_reads = returning_reads + joined.read_units;
            let sign_up_writes = returning_writes + joined.write_units;
            assert_close("sign-up reads", sign_up.read_units, sign_up_reads);
            assert_close("sign-up writes", sign_up.write_units, sign_up_writes);
            assert_close("sign-up events", sign_up.events, joined.events);
            let devices = usage.push_devices_per_recipient;
            assert_close("sign-up pushes", sign_up.pushes, joined.events * devices);
            assert_close("sign-up publishes", sign_up.publish_requests, batches(joined) + joined.events * devices);
            assert_close("sign-up requests", sign_up.api_requests, 2.0);
            assert_close("sign-up invocations", sign_up.lambda_requests, 3.0);

            let month = model.active_user_month(scenario).unwrap();
            let full = op(&format!("getcontacts N={contacts}"));
            let delta = op(&format!("delta sync, {contacts} contacts"));
            let (profile, upload, download) = (op("profile update"), op("photo upload"), op("file download"));
            let deltas = per.days * scenario.syncs_per_day - per.full_syncs;
            let uploads = per.photo_changes + per.attachments_sent;
            let downloads = per.photo_changes * contacts as f64 + per.attachments_sent * usage.attachment_downloads;
            let changes = per.profile_updates + per.photo_changes;
            let units = |of: &dyn Fn(&WorkOperation) -> f64, sign_up: f64, returning: f64, changed: f64| {
                per.sign_ups * sign_up
                    + per.returning_sign_ins * returning
                    + per.full_syncs * of(full)
                    + deltas * of(delta)
                    + per.profile_updates * of(profile)
                    + changes * changed
                    + uploads * of(upload)
                    + downloads * of(download)
            };
            let reads = units(&|o| o.billed_read_units(), sign_up_reads, returning_reads, changed.read_units);
            let writes = units(&|o| o.billed_write_units(), sign_up_writes, returning_writes, changed.write_units);
            assert_close("monthly reads", month.read_units, reads);
            assert_close("monthly writes", month.write_units, writes);
            let events = per.sign_ups * joined.events + changes * changed.events;
            assert_close("monthly events", month.events, events);
            assert_close("monthly pushes", month.pushes, events * devices);
            let batches = per.sign_ups * batches(joined) + changes * batches(changed);
            assert_close("monthly publishes", month.publish_requests, batches + events * devices);
            let sign_ins = per.sign_ups + per.returning_sign_ins;
            let requests = sign_ins * 2.0 + per.full_syncs + deltas + per.profile_updates + uploads + downloads;
            assert_close("monthly API requests", month.api_requests, requests);
            assert_close("monthly invocations", month.lambda_requests, requests + per.sign_ups + changes);
            assert_close("monthly S3 requests", month.s3_puts + month.s3_gets, uploads + downloads);
            let bytes = per.photo_changes * contacts as f64 * usage.photo_bytes
                + per.attachments_sent * usage.attachment_downloads * usage.attachment_bytes;
            assert_close("monthly egress", month.egress_gb, bytes / 1e9);
        }
    }

    /// usage.json says how people use the app, never what an operation costs: those come from the bench.
    #[test]
    fn the_usage_assumptions_type_no_measured_figure() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let usage: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("infra/bench/usage.json")).unwrap()).unwrap();
        fn keys(value: &serde_json::Value, out: &mut Vec<String>) {
            if let Some(map) = value.as_object() {
                for (key, inner) in map {
                    out.push(key.clone());
                    keys(inner, out);
                }
            }
        }
        let mut all = vec![];
        keys(&usage, &mut all);
        let measured = ["units", "rcu", "wcu", "rounds", "calls", "handler", "events", "init"];
        let typed: Vec<&String> = all.iter().filter(|k| measured.iter().any(|m| k.contains(m))).collect();
        assert!(typed.is_empty(), "usage.json types what the bench measures: {typed:?}");
    }

    #[test]
    fn identity_platform_tiers_charge_each_band_at_its_rate() {
        let tiers = MauTiers {
            tiers: vec![(Some(50_000), 0.0), (Some(100_000), 0.0055), (Some(1_000_000), 0.0046), (None, 0.0032)],
            read: String::new(),
            source: String::new(),
            note: String::new(),
        };
        assert_eq!(identity_platform_mau(&tiers, 40_000), 0.0);
        assert!((identity_platform_mau(&tiers, 1_000_000) - (50_000.0 * 0.0055 + 900_000.0 * 0.0046)).abs() < 1e-6);
    }

    #[test]
    fn dollars_read_as_people_write_them() {
        assert_eq!(usd(0.5), "$0.50");
        assert_eq!(usd(1234.4), "$1,234");
        assert_eq!(usd(50_000.0), "$50,000");
    }
}
