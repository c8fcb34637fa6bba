//! Section 4: the `make dev` API (the same dev server, release-built) under wrk at a fixed concurrency, endpoint by
//! endpoint, and DynamoDB Local and moto under the same load directly, for their ceilings.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::BoxError;
use crate::scenario::function_env;
use crate::servers::{DynamoDbLocal, free_port, http_client};

pub const THREADS: usize = 2;
pub const CONNECTIONS: usize = 16;
const SIGNED_IN_USERS: usize = 32;
/// The login load's numbers, one prefix per wrk thread: the verify load takes its codes from SMS to these only.
const LOGIN_LOAD_PREFIXES: [&str; THREADS] = ["+12012", "+12013"];
const TOP_UP_PREFIX: &str = "+12014";
/// Codes prepared for the verify load, per second of it.
const VERIFIES_PER_SECOND_AT_MOST: usize = 800;

pub struct LoadFigures {
    pub target: String,
    pub what: String,
    pub seconds: f64,
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub non_2xx: u64,
    /// Statuses over 299 and how often each came.
    pub failures: BTreeMap<String, u64>,
    pub socket_errors: u64,
}

impl LoadFigures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

#[derive(Deserialize)]
struct WrkReport {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    non2xx: u64,
    errors: u64,
    #[serde(default)]
    statuses: BTreeMap<String, u64>,
    #[serde(default)]
    sample: String,
}

/// Every script ends with this (and starts with [`THREAD_IDS_LUA`], whose threads it reads): one JSON line with what the issue asks for, and which statuses the non-2xx were
/// (with one answer's start, to say why).
const REPORT_LUA: &str = r#"
failures = {}
sample = ""
function response(status, headers, body)
  if status > 299 then
    local key = tostring(status)
    failures[key] = (failures[key] or 0) + 1
    if sample == "" then sample = key .. " " .. string.sub(body, 1, 160) end
  end
end

function done(summary, latency, requests)
  local merged, parts, first = {}, {}, ""
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("failures") or {}) do merged[status] = (merged[status] or 0) + count end
    if first == "" then first = thread:get("sample") or "" end
  end
  for status, count in pairs(merged) do table.insert(parts, string.format('"%s":%d', status, count)) end
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d,"statuses":{%s},"sample":"%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ","), (first:gsub('[%c"\\]', "'"))))
end
"#;

/// Threads are numbered in `setup` (the main Lua state) and told their number, so they can split work; `done`
/// reads their counts back.
const THREAD_IDS_LUA: &str = r#"
local next_id = 0
threads = {}
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
"#;

pub async fn run(devserver: &Path, seconds: u64) -> Result<Vec<LoadFigures>, BoxError> {
    let dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let table = format!("bench-load-{}", local_stack::harness::random_hex(4));
    // A fresh DynamoDB Local each for the API and for the ceilings: DynamoDB Local slows down for good once it holds
    // many stream records, so neither may inherit the other's (or an earlier section's) writes.
    let api_db = DynamoDbLocal::start().await?;
    let mut server = tokio::process::Command::new(devserver)
        .envs(function_env(&table))
        .env("AWS_ENDPOINT_URL_DYNAMODB", &api_db.endpoint)
        .env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &api_db.endpoint)
        .env("PORT", port.to_string())
        .env("AWS_LAMBDA_LOG_LEVEL", "warn")
        // Standalone, as the functions the other sections measure (and as the earlier runs it is compared with).
        .env("MESIBO_EMULATOR", "off")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("devserver.log"))?)
        .kill_on_drop(true)
        .spawn()?;
    let api = format!("http://127.0.0.1:{port}");
    let http = http_client();
    wait_until_up(&http, &api).await?;
    let moto = local_stack::harness::stack_env("MOTO_URL");
    let earlier_sms = sent_sms(&moto).await.len();

    eprintln!("bench: load, signing in {SIGNED_IN_USERS} users through the API");
    let mut tokens = vec![];
    let mut phones = vec![];
    for i in 0..SIGNED_IN_USERS {
        let phone = format!("+12019{i:06}");
        let (status, _) =
            post(&http, &format!("{api}/login"), "phone=".to_owned() + &phone.replace('+', "%2B"), &[]).await?;
        if status != 200 {
            return Err(format!("login through the dev server answered {status}").into());
        }
        let code = codes_by_phone(&moto, earlier_sms).await?.remove(&phone).ok_or("no SMS for a load user")?;
        let body = format!("phone={}&code={code}", phone.replace('+', "%2B"));
        let (status, reply) = post(&http, &format!("{api}/verify"), body, &[]).await?;
        let token = reply["token"].as_str().filter(|_| status == 200).ok_or("verify through the dev server failed")?;
        tokens.push(token.to_owned());
        phones.push(phone);
    }
    // 100 numbers per upload, 10 % of them registered: the same upload again is the steady state of an app.
    let mut upload: Vec<String> = phones.iter().take(10).cloned().collect();
    upload.extend((0..90).map(|i| format!("+12018{i:06}")));
    let lua_tokens = lua_list(tokens.iter().map(|t| format!("Bearer {t}")));

    let mut figures = vec![];
    let login = r#"local n = 0
request = function()
  n = n + 1
  local body = string.format("phone=%%2B1201%d%06d", 2 + id, n) -- LOGIN_LOAD_PREFIXES
  return wrk.format("POST", "/login", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"#;
    figures.push(wrk(&dir, "API", "POST /login (new number each, SMS via moto)", &api, login, seconds).await?);

    // The codes just sent are the verify load's input, each used once; topped up (untimed) so that verify, faster than
    // login, does not run out within its time: wrk cannot stop early without miscounting the rate.
    let wanted = VERIFIES_PER_SECOND_AT_MOST * seconds as usize;
    let sent = codes_by_phone(&moto, earlier_sms)
        .await?
        .keys()
        .filter(|phone| LOGIN_LOAD_PREFIXES.iter().any(|prefix| phone.starts_with(prefix)))
        .count();
    let more: Vec<String> = (0..wanted.saturating_sub(sent)).map(|i| format!("{TOP_UP_PREFIX}{i:06}")).collect();
    eprintln!("bench: load: {} more codes for the verify load", more.len());
    stream::iter(more.iter().map(|phone| {
        let (http, url) = (&http, format!("{api}/login"));
        async move { post(http, &url, format!("phone={}", phone.replace('+', "%2B")), &[]).await }
    }))
    .buffer_unordered(CONNECTIONS)
    .try_collect::<Vec<_>>()
    .await?;
    let pairs: Vec<String> = codes_by_phone(&moto, earlier_sms)
        .await?
        .into_iter()
        .filter(|(phone, _)| LOGIN_LOAD_PREFIXES.iter().chain([&TOP_UP_PREFIX]).any(|prefix| phone.starts_with(prefix)))
        .map(|(phone, code)| format!("phone={}&code={code}", phone.replace('+', "%2B")))
        .collect();
    let verify = format!(
        r#"local codes = {codes}
local i = 0
request = function()
  local k = id + 1 + i * {THREADS}
  i = i + 1
  -- Past the end (not enough codes after all) a code is used twice: those answers count as non-2xx.
  return wrk.format("POST", "/verify", {{["Content-Type"] = "application/x-www-form-urlencoded"}}, codes[(k - 1) % #codes + 1])
end
"#,
        codes = lua_list(pairs.iter().cloned())
    );
    figures.push(wrk(&dir, "API", "POST /verify (right code, each used once)", &api, &verify, seconds).await?);

    let upload_body = json!({ "phones": upload }).to_string();
    let getcontacts = format!(
        r#"local tokens = {lua_tokens}
local i = 0
request = function()
  i = i + 1
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = tokens[(i + id) % #tokens + 1]}}
  return wrk.format("POST", "/getcontacts", headers, {body})
end
"#,
        body = lua_string(&upload_body)
    );
    figures.push(wrk(&dir, "API", "POST /getcontacts (100 numbers, repeat sync)", &api, &getcontacts, seconds).await?);

    let delta = format!(
        r#"local tokens = {lua_tokens}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/getcontacts", {{["Authorization"] = tokens[(i + id) % #tokens + 1]}})
end
"#
    );
    figures.push(wrk(&dir, "API", "GET /getcontacts (delta, nothing new)", &api, &delta, seconds).await?);

    let profile = format!(
        r#"local tokens = {lua_tokens}
local i = 0
request = function()
  i = i + 1
  local headers = {{["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = tokens[(i + id) % #tokens + 1]}}
  return wrk.format("POST", "/profile", headers, "name=Load+" .. i .. "&status=busy")
end
"#
    );
    figures.push(wrk(&dir, "API", "POST /profile", &api, &profile, seconds).await?);

    // The ceilings: the same load straight at the servers behind the API, the same table on a fresh DynamoDB Local.
    let _ = server.kill().await;
    drop(api_db);
    let ceiling_db = DynamoDbLocal::start().await?;
    let dynamodb = ceiling_db.endpoint.clone();
    let ceiling_table = format!("bench-ceiling-{}", local_stack::harness::random_hex(4));
    let sdk = shared::app::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&dynamodb).build(),
    );
    local_stack::template::create_table(&client, &ceiling_table).await?;
    let dynamodb_headers = r#"["Content-Type"] = "application/x-amz-json-1.0", ["Authorization"] = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0""#;
    let get_item = format!(
        r#"request = function()
  return wrk.format("POST", "/", {{{dynamodb_headers}, ["X-Amz-Target"] = "DynamoDB_20120810.GetItem"}},
    '{{"TableName":"{ceiling_table}","Key":{{"PK":{{"S":"USER#+12015550100"}},"SK":{{"S":"PROFILE"}}}}}}')
end
"#
    );
    figures.push(wrk(&dir, "DynamoDB Local", "GetItem (one key)", &dynamodb, &get_item, seconds).await?);
    let put_item = format!(
        r#"local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/", {{{dynamodb_headers}, ["X-Amz-Target"] = "DynamoDB_20120810.PutItem"}},
    string.format('{{"TableName":"{ceiling_table}","Item":{{"PK":{{"S":"BENCH#%d-%d"}},"SK":{{"S":"X"}},"v":{{"S":"0123456789"}}}}}}', id, n))
end
"#
    );
    figures.push(wrk(&dir, "DynamoDB Local", "PutItem (new key each)", &dynamodb, &put_item, seconds).await?);

    // moto keeps every SMS it sends, and the verify load reads them all back: its ceiling goes last.
    let publish = r#"local n = 0
request = function()
  n = n + 1
  local body = string.format("Action=Publish&Version=2010-03-31&PhoneNumber=%%2B12017%06d&Message=Your+code+is+123456", n)
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"#;
    figures.push(wrk(&dir, "moto (SNS)", "Publish SMS", &moto, publish, seconds).await?);
    Ok(figures)
}

async fn wrk(
    dir: &Path,
    target: &str,
    what: &str,
    url: &str,
    script: &str,
    seconds: u64,
) -> Result<LoadFigures, BoxError> {
    eprintln!("bench: load: {target}: {what}");
    let file = dir.join(format!("load-{}.lua", figures_slug(target, what)));
    std::fs::write(&file, format!("{THREAD_IDS_LUA}\n{script}\n{REPORT_LUA}"))?;
    let output = tokio::process::Command::new("wrk")
        .args(["-t", &THREADS.to_string(), "-c", &CONNECTIONS.to_string(), "-d", &format!("{seconds}s")])
        .args(["--timeout", "10s", "-s"])
        .arg(&file)
        .arg(url)
        .output()
        .await
        .map_err(|e| format!("wrk: {e} (make bench installs it: infra/install.sh bench)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or_else(|| format!("wrk printed no report:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)))?;
    let report: WrkReport = serde_json::from_str(line).map_err(|e| format!("wrk's report {line}: {e}"))?;
    if !report.sample.is_empty() {
        eprintln!("bench: load: {target}: {what}: {} non-2xx, the first: {}", report.non2xx, report.sample);
    }
    Ok(LoadFigures {
        target: target.into(),
        what: what.into(),
        seconds: report.duration_us as f64 / 1e6,
        requests: report.requests,
        p50: Duration::from_micros(report.p50_us),
        p99: Duration::from_micros(report.p99_us),
        non_2xx: report.non2xx,
        failures: report.statuses,
        socket_errors: report.errors,
    })
}

fn figures_slug(target: &str, what: &str) -> String {
    format!("{target}-{what}").chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect()
}

fn lua_string(text: &str) -> String {
    format!("{:?}", text).replace("\\u{", "\\u{")
}

fn lua_list(items: impl Iterator<Item = String>) -> String {
    let quoted: Vec<String> = items.map(|s| lua_string(&s)).collect();
    format!("{{{}}}", quoted.join(", "))
}

async fn wait_until_up(http: &Client<HttpConnector, Full<Bytes>>, api: &str) -> Result<(), BoxError> {
    for _ in 0..300 {
        if http.get(format!("{api}/getcontacts").parse()?).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the dev server did not answer at {api}; see target/bench/devserver.log").into())
}

async fn post(
    http: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    form: String,
    headers: &[(&str, &str)],
) -> Result<(u16, Value), BoxError> {
    let mut request = hyper::Request::post(url).header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = http.request(request.body(Full::new(Bytes::from(form)))?).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Every SMS moto has sent, oldest first (it only ever appends).
async fn sent_sms(moto: &str) -> Vec<Value> {
    let mut data = local_stack::harness::http_get_json(moto, "/moto-api/data.json").await;
    match data["sns"]["SMS"].take() {
        Value::Array(sent) => sent,
        _ => vec![],
    }
}

/// The last code moto has sent to each number, counting only SMS after the first `skip`: earlier sections send
/// codes to numbers of the same area code (from databases of their own), which this API's table never issued.
async fn codes_by_phone(moto: &str, skip: usize) -> Result<HashMap<String, String>, BoxError> {
    let mut codes = HashMap::new();
    for sms in sent_sms(moto).await.iter().skip(skip) {
        let (Some(phone), Some(message)) = (sms["phone_number"].as_str(), sms["message"].as_str()) else { continue };
        if let Some(code) = message.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6) {
            codes.insert(phone.to_owned(), code.to_owned());
        }
    }
    Ok(codes)
}
