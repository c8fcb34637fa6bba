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
use crate::results::{Results, WorkOperation};

/// The countries whose SMS prices are compared (prices.json has these keys).
const COUNTRIES: [(&str, &str); 5] =
    [("US", "United States"), ("IN", "India"), ("GB", "United Kingdom"), ("BR", "Brazil"), ("DE", "Germany")];
const MILLION: f64 = 1e6;

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
    pub secrets_manager_secret_month: Price,
    pub secrets_manager_per_10k_calls: Price,
    pub cloudwatch_logs_ingested_gb: Price,
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
    pub sign_ins: f64,
    pub full_syncs: f64,
    pub delta_syncs: f64,
    pub profile_updates: f64,
}

#[derive(Debug, Deserialize)]
pub struct Usage {
    pub architecture: String,
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
    pub contacts_per_user: u64,
    pub notifier_per_sign_in: f64,
    pub notifier_note: String,
    pub audience_per_user: f64,
    pub audience_note: String,
    pub hosted_mau_note: String,
    pub secret_reads_per_cold_start: f64,
    pub secrets_per_deployment: f64,
    pub secrets_note: String,
    pub log_bytes_per_invocation: f64,
    pub log_note: String,
    pub stored_bytes_per_user: f64,
    pub storage_note: String,
}

/// The three inputs, from the repository root.
pub fn read_inputs(root: &Path, results: &Path) -> Result<(Results, Prices, Usage), BoxError> {
    let json = |path: &Path| -> Result<String, BoxError> {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
    };
    let prices = json(&root.join("infra/bench/prices.json"))?;
    let usage = json(&root.join("infra/bench/usage.json"))?;
    Ok((
        Results::read(results)?,
        serde_json::from_str(&prices).map_err(|e| format!("prices.json: {e}"))?,
        serde_json::from_str(&usage).map_err(|e| format!("usage.json: {e}"))?,
    ))
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

    fn scaled(&self, times: f64) -> Self {
        Self { lines: self.lines.iter().map(|(k, v)| (*k, v * times)).collect(), unpriced: self.unpriced.clone() }
    }

    fn plus(mut self, other: &Bill) -> Self {
        for (k, v) in &other.lines {
            *self.lines.entry(k).or_default() += v;
        }
        for service in &other.unpriced {
            if !self.unpriced.contains(service) {
                self.unpriced.push(service);
            }
        }
        self
    }

    fn total(&self) -> f64 {
        self.lines.values().sum()
    }
}

struct Model<'a> {
    results: &'a Results,
    prices: &'a Prices,
    usage: &'a Usage,
}

impl Model<'_> {
    fn gb_second(&self) -> &Price {
        match self.usage.architecture.as_str() {
            "x86_64" => &self.prices.aws.lambda_gb_second_x86_64,
            _ => &self.prices.aws.lambda_gb_second_arm64,
        }
    }

    fn operation(&self, label: &str) -> Result<&WorkOperation, BoxError> {
        let work =
            self.results.work.as_ref().ok_or("bench-results.json has no work section: run BENCH_SECTIONS=work")?;
        Ok(work
            .operations
            .iter()
            .find(|o| o.operation == label)
            .ok_or_else(|| format!("no {label} in the work section"))?)
    }

    fn cold(&self, function: &str) -> Result<(f64, f64), BoxError> {
        let cold =
            self.results.cold.as_ref().ok_or("bench-results.json has no cold section: run BENCH_SECTIONS=cold")?;
        let f = cold.functions.iter().find(|f| f.name == function).ok_or_else(|| format!("no {function} in cold"))?;
        Ok((f.init_ms, f.first_request_ms))
    }

    fn memory_gb(&self, function: &str) -> Result<f64, BoxError> {
        Ok(self.usage.memory_mb.get(function).ok_or_else(|| format!("usage.json: no memory for {function}"))? / 1024.0)
    }

    /// The billed milliseconds of one request: the handler time measured on loopback plus a round trip inside the
    /// region for each sequential round and each call to another service; plus the share of a cold start's init.
    fn billed_ms(&self, operation: &WorkOperation, function: &str) -> Result<f64, BoxError> {
        let others: usize = operation.other_calls.values().sum();
        let warm = operation.handler_p50_ms + (operation.rounds + others) as f64 * self.usage.round_trip_ms;
        Ok(warm + self.usage.cold_start_share * self.cold(function)?.0)
    }

    /// One HTTP request of this operation, served by this function.
    fn request(&self, label: &str, function: &str) -> Result<Bill, BoxError> {
        let operation = self.operation(label)?;
        let aws = &self.prices.aws;
        let mut bill = Bill::default();
        bill.add("API Gateway (HTTP API)", 1.0, &aws.api_gateway_http_per_million, MILLION);
        bill.add("Lambda requests", 1.0, &aws.lambda_request_per_million, MILLION);
        let gb_seconds = self.billed_ms(operation, function)? / 1000.0 * self.memory_gb(function)?;
        bill.add("Lambda duration", gb_seconds, self.gb_second(), 1.0);
        bill.add(
            "DynamoDB reads",
            operation.billed_read_units(),
            &aws.dynamodb_read_request_units_per_million,
            MILLION,
        );
        bill.add(
            "DynamoDB writes",
            operation.billed_write_units(),
            &aws.dynamodb_write_request_units_per_million,
            MILLION,
        );
        Ok(bill.plus(&self.invocation_overheads()))
    }

    /// What every invocation adds beyond its work: its log lines, and a share of a cold start's secret reads.
    fn invocation_overheads(&self) -> Bill {
        let aws = &self.prices.aws;
        let mut bill = Bill::default();
        bill.add("CloudWatch Logs", self.usage.log_bytes_per_invocation / 1e9, &aws.cloudwatch_logs_ingested_gb, 1.0);
        let reads = self.usage.cold_start_share * self.usage.secret_reads_per_cold_start;
        bill.add("Secrets Manager reads", reads, &aws.secrets_manager_per_10k_calls, 10_000.0);
        bill
    }

    /// The notifier's invocation for a new profile: its first-request time as measured (an upper bound: the first
    /// request builds connections a warm one reuses), and the event it publishes.
    fn notifier(&self) -> Result<Bill, BoxError> {
        let aws = &self.prices.aws;
        let (init, first) = self.cold("notifier")?;
        let mut bill = Bill::default();
        bill.add("Lambda requests", 1.0, &aws.lambda_request_per_million, MILLION);
        let ms = first + self.usage.round_trip_ms + self.usage.cold_start_share * init;
        bill.add("Lambda duration", ms / 1000.0 * self.memory_gb("notifier")?, self.gb_second(), 1.0);
        let events = self.usage.audience_per_user;
        bill.add("SNS publishes (contact events)", events, &aws.sns_publish_per_million, MILLION);
        Ok(bill.plus(&self.invocation_overheads()))
    }

    /// Login and verify, and the notifier's share; without the SMS, which is priced by country.
    fn sign_in(&self) -> Result<Bill, BoxError> {
        Ok(self
            .request("login", "login")?
            .plus(&self.request("verify", "verify")?)
            .plus(&self.notifier()?.scaled(self.usage.notifier_per_sign_in)))
    }

    /// A monthly active user's month, without SMS and storage.
    fn active_user_month(&self) -> Result<Bill, BoxError> {
        let per = &self.usage.per_active_user_month;
        let full = format!("getcontacts N={}", self.usage.contacts_per_user);
        Ok(self
            .sign_in()?
            .scaled(per.sign_ins)
            .plus(&self.request(&full, "getcontacts")?.scaled(per.full_syncs))
            .plus(&self.request("getcontacts N=1", "getcontacts")?.scaled(per.delta_syncs))
            .plus(&self.request("profile update", "account")?.scaled(per.profile_updates))
            .plus(&self.notifier()?.scaled(per.profile_updates))
            .plus(&self.storage_month()))
    }

    /// A user's items (profile, address book, reverse index) kept for a month.
    fn storage_month(&self) -> Bill {
        let mut bill = Bill::default();
        let gb = self.usage.stored_bytes_per_user / 1e9;
        bill.add("DynamoDB storage", gb, &self.prices.aws.dynamodb_storage_gb_month, 1.0);
        bill
    }
}

fn usd(amount: f64) -> String {
    let whole = amount.round() as i64;
    if amount >= 100.0 {
        let digits = whole.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("${out}")
    } else {
        format!("${amount:.2}")
    }
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

/// The document. Deterministic: the same inputs give the same bytes (the dates are those of the inputs).
pub fn markdown(results: &Results, prices: &Prices, usage: &Usage) -> Result<String, BoxError> {
    let model = Model { results, prices, usage };
    let sign_in = model.sign_in()?;
    let million_sign_ins = sign_in.scaled(MILLION);
    let million_users = model.active_user_month()?.scaled(MILLION);
    let per = &usage.per_active_user_month;
    let sms_sign_ins = per.sign_ins * MILLION;

    let mut md = String::new();
    let _ = writeln!(md, "# Cost\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (`BENCH_SECTIONS=cost` alone recomputes it) from the figures the bench measured \
         (docs/bench-results.json: section 1 on {}, sections 2 and 3 on {}), the usage assumptions in \
         infra/bench/usage.json and the list prices in infra/bench/prices.json, each with the date and place it was \
         read. Do not edit it: edit those and regenerate (a test fails when this file is not what they give).\n",
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
    );
    let _ = writeln!(
        md,
        "Prices are US dollars, us-east-1, {} Lambda, without AWS's free tier (Cognito's and Identity Platform's \
         free users, deducted from every bill, are counted). A price the stored sources did not have is shown \
         as **not found** and left out of every total, which then names it: no figure here is a guess.\n",
        usage.architecture
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
        "The bill a month, SMS included, with every code sent to one country ({} SMS per sign-in: {}). The hosted \
         alternatives replace sign-in only: contact discovery, profiles and groups still need a backend such as \
         this one.\n",
        usage.sms_per_sign_in, usage.sms_note
    );
    let header: Vec<String> = COUNTRIES.iter().map(|(code, name)| format!("{name} ({code})")).collect();
    let _ = writeln!(md, "| per month | before SMS | {} | not priced |", header.join(" | "));
    let _ = writeln!(md, "|---|---:|{}---|", "---:|".repeat(COUNTRIES.len()));
    let mut headline =
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
    // Beyond the bill's own unpriced lines: SMS extras, and SQS, which only fan-outs past one page use.
    let unpriced = |bill: &Bill| {
        let extras = ["SQS (fan-outs past one page)", prices.aws.sns_sms_unpriced.as_str()];
        bill.unpriced.iter().copied().chain(extras).collect::<Vec<_>>().join("; ")
    };
    let (sign_ins_unpriced, users_unpriced) = (unpriced(&million_sign_ins), unpriced(&million_users));
    let twilio_unpriced = &prices.alternatives.twilio_sms_unpriced;
    headline("1 M sign-ins: this backend", Some(million_sign_ins.total()), sns, sms_for_sign_ins, &sign_ins_unpriced);
    headline(
        "1 M monthly active users: this backend",
        Some(million_users.total()),
        sns,
        sms_for_users,
        &users_unpriced,
    );
    let twilio_sms = &prices.alternatives.twilio_sms;
    let twilio_sign_ins = twilio.usd.map(|p| p * MILLION);
    headline("1 M sign-ins: Twilio Verify", twilio_sign_ins, twilio_sms, sms_for_sign_ins, twilio_unpriced);
    headline(
        "1 M monthly active users: Twilio Verify",
        twilio.usd.map(|p| p * sms_sign_ins),
        twilio_sms,
        sms_for_users,
        twilio_unpriced,
    );
    let identity_platform = Some(identity_platform_mau(tiers, MILLION as u64));
    let google_sms = &prices.alternatives.identity_platform_sms;
    headline("1 M monthly active users: Identity Platform", identity_platform, google_sms, sms_for_users, "–");
    let sns_unpriced = &prices.aws.sns_sms_unpriced;
    headline("1 M monthly active users: Cognito Essentials, SMS by SNS", cognito_mau, sns, sms_for_users, sns_unpriced);
    let _ = writeln!(md);

    let _ = writeln!(md, "## This backend, by service\n");
    let _ = writeln!(
        md,
        "A sign-in is `POST /login` (one code by SMS) and `POST /verify`, and the notifier's invocation for the new \
         profile. A monthly active user makes, a month: {} sign-ins, {} full address-book syncs ({} contacts), {} \
         delta syncs and {} profile changes.\n",
        per.sign_ins, per.full_syncs, usage.contacts_per_user, per.delta_syncs, per.profile_updates
    );
    let _ = writeln!(md, "| service | 1 M sign-ins | 1 M monthly active users |\n|---|---:|---:|");
    let services: Vec<&str> = million_users.lines.keys().chain(million_sign_ins.lines.keys()).copied().collect();
    let mut seen = vec![];
    for service in services {
        if seen.contains(&service) {
            continue;
        }
        seen.push(service);
        let cell = |bill: &Bill| bill.lines.get(service).map(|v| usd(*v)).unwrap_or_else(|| "–".into());
        let _ = writeln!(md, "| {service} | {} | {} |", cell(&million_sign_ins), cell(&million_users));
    }
    let _ = writeln!(
        md,
        "| **total of the priced lines** | **{}** | **{}** |",
        usd(million_sign_ins.total()),
        usd(million_users.total())
    );
    let secrets = &prices.aws.secrets_manager_secret_month;
    let _ = writeln!(
        md,
        "\nBeside these, a deployment pays for its secrets whatever its traffic: {} a month ({} secrets at {} each).",
        secrets.usd.map(|p| usd(p * usage.secrets_per_deployment)).unwrap_or_else(|| "not found".into()),
        usage.secrets_per_deployment,
        price_cell(secrets),
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

    let _ = writeln!(md, "\n## Per request, as measured\n");
    let _ = writeln!(
        md,
        "Capacity billed is the larger of what DynamoDB Local reported and the least DynamoDB's on-demand pricing \
         charges for the same calls (section 2 of docs/BENCHMARKS.md). Billed time is the handler's median against \
         DynamoDB Local plus {} ms per sequential round and per call to another service, plus {} % of a cold \
         start's init.\n",
        usage.round_trip_ms,
        usage.cold_start_share * 100.0
    );
    let _ = writeln!(
        md,
        "| operation | function (MB) | RRU | WRU | rounds | other calls | handler p50 | billed ms | per 1 M requests |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let full = format!("getcontacts N={}", usage.contacts_per_user);
    for (label, function) in [
        ("login", "login"),
        ("verify", "verify"),
        ("getcontacts N=1", "getcontacts"),
        (full.as_str(), "getcontacts"),
        ("profile update", "account"),
    ] {
        let operation = model.operation(label)?;
        let others: usize = operation.other_calls.values().sum();
        let _ = writeln!(
            md,
            "| {label} | {function} ({}) | {} | {} | {} | {others} | {:.2} ms | {:.2} | {} |",
            usage.memory_mb.get(function).copied().unwrap_or_default(),
            operation.billed_read_units(),
            operation.billed_write_units(),
            operation.rounds,
            operation.handler_p50_ms,
            model.billed_ms(operation, function)?,
            usd(model.request(label, function)?.scaled(MILLION).total())
        );
    }

    let _ = writeln!(md, "\n## Hosted alternatives, same work\n");
    let _ = writeln!(
        md,
        "How each is charged (the headline's rows for them; prices by country under Prices). They replace sign-in \
         only: contact discovery, profiles and groups still need a backend such as this one (the table above \
         without its sign-in rows).\n"
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
        ("Memory", &usage.memory_note),
        ("Round trips", &usage.round_trip_note),
        ("Cold starts", &usage.cold_start_note),
        ("SMS", &usage.sms_note),
        ("Active users", &usage.per_active_user_note),
        ("Notifier", &usage.notifier_note),
        ("Audience", &usage.audience_note),
        ("Hosted alternatives' users", &usage.hosted_mau_note),
        ("Secrets", &usage.secrets_note),
        ("Logs", &usage.log_note),
        ("Storage", &usage.storage_note),
    ] {
        let _ = writeln!(md, "- {what}: {note}.");
    }

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
        ("Secrets Manager, per secret a month".into(), &aws.secrets_manager_secret_month),
        ("Secrets Manager, per 10,000 API calls".into(), &aws.secrets_manager_per_10k_calls),
        ("CloudWatch Logs, per GB ingested".into(), &aws.cloudwatch_logs_ingested_gb),
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
        let (results, prices, usage) = read_inputs(&root, &root.join("docs/bench-results.json")).unwrap();
        let expected = markdown(&results, &prices, &usage).unwrap();
        let committed = std::fs::read_to_string(root.join("docs/COST.md")).unwrap();
        assert!(
            committed == expected,
            "docs/COST.md is not what its inputs give: run `BENCH_SECTIONS=cost` (make cost)"
        );
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
