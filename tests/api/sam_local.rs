//! Every fixture in `events/` run as `sam local invoke -e <fixture> --env-vars events/env.json` runs it, without
//! Docker: the built function binary, started with the variables SAM would give it, under the Lambda runtime API
//! emulator (`local_stack::runtime_api`), against the local stack.
//!
//! What each fixture must answer is in `events/expected/<fixture>` (SAM never reads it): the function it is for,
//! and its runs, by `step` across all fixtures (state flows from one to the next: login leaves a code, verify a
//! token, deleteaccount a tombstone). A run expects `statusCode` and `body` fields (an HTTP function's response,
//! its JSON body), or `response` fields (a stream function's answer); `wait_seconds` waits before it, and
//! `mesibo_users` says which numbers mesibo knows after it. A fixture without expectations fails the test.
//!
//! The test's env-vars file is events/env.json with the stack's own endpoints, table, secrets, topic and mesibo
//! emulator put in, the way SAM applies an env-vars file: only over variables the template declares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use integration_tests::*;
use local_stack::harness::http_raw;
use local_stack::runtime_api::{FunctionProcess, InvokeError, Outcome, RuntimeApi};
use local_stack::sam_local::sam_function;
use serde_json::{Value, json};

/// The review number and code the fixtures use (login.json, verify.json, deleteaccount.json); events/env.json
/// names the secret that holds them, as the deployed AppSecrets does.
const TEST_NUMBERS: &str = "+12015550100:428913";
/// getcontacts.json and deleteaccount.json carry this where the token from verify goes.
const TOKEN_PLACEHOLDER: &str = "REPLACE_WITH_THE_TOKEN_FROM_VERIFY_0000000";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// The fixtures: every JSON file in events/ but the env-vars file.
fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "env.json")
        .collect();
    names.sort();
    names
}

/// One run of a fixture, as its expectations file says.
struct Run {
    step: u64,
    fixture: String,
    function: String,
    expected: Value,
}

/// Every run of every fixture, in step order; a fixture without an expectations file, or with no run, fails here.
fn runs() -> Vec<Run> {
    let mut runs = vec![];
    for fixture in fixtures() {
        let path = events_dir().join("expected").join(&fixture);
        assert!(path.is_file(), "events/{fixture} has no expectations: add events/expected/{fixture}");
        let expected = read_json(&path);
        let function = expected["function"].as_str().unwrap_or_else(|| panic!("{fixture}: no function")).to_owned();
        let fixture_runs = expected["runs"].as_array().filter(|r| !r.is_empty());
        for run in fixture_runs.unwrap_or_else(|| panic!("events/expected/{fixture}: no runs")) {
            let step =
                run["step"].as_u64().unwrap_or_else(|| panic!("events/expected/{fixture}: a run without a step"));
            runs.push(Run { step, fixture: fixture.clone(), function: function.clone(), expected: run.clone() });
        }
    }
    runs.sort_by_key(|run| run.step);
    for pair in runs.windows(2) {
        assert_ne!(pair[0].step, pair[1].step, "{} and {} share a step", pair[0].fixture, pair[1].fixture);
    }
    runs
}

/// Where `expected` is a part of `actual`: every field it names, recursively, with the same value (arrays whole).
fn mismatch(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(fields), Value::Object(actual_fields)) => fields.iter().find_map(|(key, value)| {
            mismatch(value, actual_fields.get(key).unwrap_or(&Value::Null), &format!("{path}.{key}"))
        }),
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// What a run's response fails to be; `None` when it is what the run expects.
fn check(run: &Run, response: &Value) -> Option<String> {
    let Some(status) = run.expected.get("statusCode") else {
        return mismatch(&run.expected["response"], response, "response");
    };
    if let Some(wrong) = mismatch(status, &response["statusCode"], "statusCode") {
        return Some(wrong);
    }
    let body: Value = match response["body"].as_str() {
        Some(text) => serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())),
        None => Value::Null,
    };
    mismatch(&run.expected["body"], &body, "body")
}

/// The function binaries, built as `make test` leaves the workspace (cargo test builds no other package's
/// binaries): beside the test binary's profile directory, so the same target and profile.
fn function_binaries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // <target>/<profile>/deps/api-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("the test runs from <target>/<profile>/deps");
        let target = profile_dir.parent().expect("a target directory");
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev".to_owned(),
            other => other.to_owned(),
        };
        let mut build = std::process::Command::new(env!("CARGO"));
        build.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).args(["build", "--quiet", "--profile"]);
        build.arg(&profile).arg("--target-dir").arg(target);
        for function in local_stack::template::function_names() {
            build.args(["--bin", &sam_function(&function, &Value::Null, &|_| None).unwrap().binary]);
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "the function binaries did not build: {status}");
        profile_dir.to_owned()
    })
}

/// events/env.json with this test's stack in it. Each value replaced must be one env.json sets, so the file keeps
/// naming everything a fixture needs.
async fn env_vars(mesibo: &MesiboEmulator) -> Value {
    let mut env_vars = read_json(&events_dir().join("env.json"));
    let sdk = shared::app::sdk_config().await;
    let table = format!("test-sam-{}", random_hex(6));
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    local_stack::template::create_table(&dynamodb, &table).await.expect("table created from template.yaml");
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let put = |name: &str, value: String| {
        let request = secrets.create_secret().name(format!("{table}/{name}")).secret_string(value);
        async move { request.send().await.expect("a secret in moto").arn.expect("an ARN") }
    };
    let (otp_key, code_key) = (random_hex(32), random_hex(32));
    secret(&otp_key);
    secret(&code_key);
    let app_settings = json!({ "TEST_NUMBERS": TEST_NUMBERS }).to_string();
    let stack: BTreeMap<&str, String> = [
        ("TABLE_NAME", table.clone()),
        ("OTP_SECRET_ARN", put("otp", otp_key).await),
        ("CODE_KEY_SECRET_ARN", put("code-key", code_key).await),
        ("APP_SECRETS_ARN", put("app", app_settings).await),
        ("CONTACT_EVENTS_TOPIC_ARN", scratch_topic().await),
        ("MESIBO_API_URL", mesibo.url.clone()),
        ("MESIBO_APP_TOKEN_SECRET_ARN", put("mesibo-app-token", mesibo.app_token.clone()).await),
        ("AWS_ENDPOINT_URL_DYNAMODB", stack_env("AWS_ENDPOINT_URL_DYNAMODB")),
        ("AWS_ENDPOINT_URL_SNS", stack_env("AWS_ENDPOINT_URL_SNS")),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", stack_env("AWS_ENDPOINT_URL_SECRETS_MANAGER")),
        ("AWS_ENDPOINT_URL_S3", stack_env("AWS_ENDPOINT_URL_S3")),
        ("AWS_ENDPOINT_URL_SQS", stack_env("AWS_ENDPOINT_URL_SQS")),
        ("FANOUT_QUEUE_URL", fanout_queue(&sdk, &table).await),
    ]
    .into();
    let parameters = env_vars["Parameters"].as_object_mut().expect("events/env.json has Parameters");
    for (name, value) in stack {
        assert!(parameters.contains_key(name), "events/env.json does not set {name}");
        parameters.insert(name.to_owned(), Value::String(value));
    }
    // login.json runs twice: the second code may follow the first after a second, not the default 30.
    parameters.insert("RESEND_COOLDOWN_SECONDS".into(), json!("1"));
    env_vars
}

/// A fan-out queue of this test's own in moto, as `make dev` makes `FanoutQueue`.
async fn fanout_queue(sdk: &aws_config::SdkConfig, table: &str) -> String {
    let created = aws_sdk_sqs::Client::new(sdk).create_queue().queue_name(format!("{table}-fanout")).send().await;
    created.expect("a queue in moto").queue_url.expect("a queue URL")
}

/// One fixture through its function's binary, as `invoke <function> -e events/<fixture> -n <env-vars>` runs it:
/// the response JSON, or the function's error, init failure or crash with its log.
async fn invoke(function: &str, event: String, env_vars: &Value, log_dir: &Path) -> Result<Value, String> {
    // The shell's AWS credentials and region only: nothing else of the developer's shell reaches the function.
    let shell = |name: &str| match name {
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_REGION" => std::env::var(name).ok(),
        _ => None,
    };
    let spec = sam_function(function, env_vars, &shell)?;
    let binary = function_binaries().join(&spec.binary);
    let log_path = log_dir.join(format!("{function}-{}.log", random_hex(4)));
    let log = std::fs::File::create(&log_path).unwrap();
    let output = || log.try_clone().map_or(Stdio::null(), Stdio::from);
    let mut process =
        FunctionProcess::start(function, &binary, &spec.env, spec.timeout, output).await.map_err(|e| e.to_string())?;
    let result = process.invoke(event.into()).await;
    process.stop().await;
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    match result.map(|answer| answer.outcome) {
        Ok(Outcome::Response(body)) => {
            serde_json::from_slice(&body).map_err(|e| format!("the response is not JSON ({e}); log:\n{}", log()))
        }
        Ok(Outcome::Error(error)) => Err(format!("{error}; log:\n{}", log())),
        Err(error) => Err(format!("{error}; log:\n{}", log())),
    }
}

#[tokio::test]
async fn every_fixture_answers_as_expected_under_the_runtime_api_emulator() {
    let runs = runs();
    let mesibo = MesiboEmulator::start().await;
    secret(&mesibo.app_token);
    let env_vars = env_vars(&mesibo).await;
    let log_dir = std::env::temp_dir().join(format!("sam-local-{}", random_hex(4)));
    std::fs::create_dir_all(&log_dir).unwrap();
    let mut token: Option<String> = None;
    for run in &runs {
        if let Some(seconds) = run.expected["wait_seconds"].as_f64() {
            tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
        }
        let mut event = std::fs::read_to_string(events_dir().join(&run.fixture)).unwrap();
        if event.contains(TOKEN_PLACEHOLDER) {
            let token =
                token.as_deref().unwrap_or_else(|| panic!("{} needs a token from an earlier step", run.fixture));
            event = event.replace(TOKEN_PLACEHOLDER, token);
        }
        let response = invoke(&run.function, event, &env_vars, &log_dir)
            .await
            .unwrap_or_else(|e| panic!("step {} ({} through {}): {e}", run.step, run.fixture, run.function));
        if let Some(wrong) = check(run, &response) {
            panic!("step {} ({} through {}): {wrong}\nresponse: {response}", run.step, run.fixture, run.function);
        }
        let body: Value = response["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
        if let Some(issued) = body["token"].as_str() {
            secret(issued);
            token = Some(issued.to_owned());
        }
        for (number, known) in run.expected["mesibo_users"].as_object().into_iter().flatten() {
            let at_mesibo = mesibo.user(number).is_some();
            assert_eq!(Some(at_mesibo), known.as_bool(), "step {} ({}): mesibo knows {number}", run.step, run.fixture);
        }
    }
    let _ = std::fs::remove_dir_all(&log_dir);
}

/// `sam local invoke` passes a function only the variables its template declares: a name in events/env.json that
/// no function declares would silently never arrive.
#[test]
fn env_json_sets_only_variables_the_template_declares() {
    let env_vars = read_json(&events_dir().join("env.json"));
    let functions = local_stack::template::function_names();
    let declared = |function: &str| -> Vec<String> {
        let spec = sam_function(function, &Value::Null, &|_| None).unwrap();
        spec.env.into_iter().map(|(name, _)| name).collect()
    };
    for (section, variables) in env_vars.as_object().expect("an object") {
        let section_functions: Vec<&String> = match section.as_str() {
            "Parameters" => functions.iter().collect(),
            function => {
                assert!(functions.iter().any(|f| f == function), "env.json: {function} is no function of the template");
                functions.iter().filter(|f| *f == function).collect()
            }
        };
        for name in variables.as_object().expect("an object of variables").keys() {
            assert!(
                section_functions.iter().any(|f| declared(f).contains(name)),
                "env.json: {section}.{name} is declared by no function, so SAM would never pass it"
            );
        }
    }
}

/// A function that cannot start fails the invocation at once, with its log, instead of leaving it waiting: here
/// VerifyFunction without the secret that holds the code key (it exits naming the variable, as on Lambda).
#[tokio::test]
async fn a_function_that_cannot_start_fails_the_invocation_with_its_log() {
    let mut env_vars = read_json(&events_dir().join("env.json"));
    env_vars["Parameters"]["OTP_SECRET_ARN"] = json!(format!("missing-{}", random_hex(4)));
    env_vars["Parameters"]["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = json!(stack_env("AWS_ENDPOINT_URL_SECRETS_MANAGER"));
    let event = std::fs::read_to_string(events_dir().join("verify.json")).unwrap();
    let error = invoke("VerifyFunction", event, &env_vars, &std::env::temp_dir()).await.expect_err("no key, no start");
    assert!(error.contains("exited before answering") && error.contains("OTP_SECRET_ARN"), "{error}");
}

/// The emulator speaks the runtime API as AWS documents it: `next` hands over the event with the request id,
/// deadline, function ARN and trace headers; `response` and `error` answer that request id only; `init/error`
/// fails what waits.
#[tokio::test]
async fn the_runtime_api_answers_as_aws_documents_it() {
    let api = RuntimeApi::start("probe").await.unwrap();
    let base = format!("http://{}/2018-06-01/runtime", api.endpoint());
    let header = |headers: &[(String, String)], name: &str| {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {name}"))
    };
    let timeout = std::time::Duration::from_secs(5);
    let function = async {
        let (status, headers, body) = http_raw("GET", &format!("{base}/invocation/next"), &[], b"").await;
        assert_eq!((status, body.as_slice()), (200, br#"{"n":1}"#.as_slice()));
        let id = header(&headers, "lambda-runtime-aws-request-id");
        assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "a UUID: {id}");
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let deadline: u128 = header(&headers, "lambda-runtime-deadline-ms").parse().unwrap();
        assert!(deadline > now_ms && deadline <= now_ms + 5000, "the deadline is the timeout away");
        assert!(header(&headers, "lambda-runtime-invoked-function-arn").ends_with(":function:probe"));
        assert!(header(&headers, "lambda-runtime-trace-id").starts_with("Root=1-"));
        let (status, _, _) = http_raw("POST", &format!("{base}/invocation/not-{id}/response"), &[], b"{}").await;
        assert_eq!(status, 400, "only the request in flight may be answered");
        let (status, _, _) = http_raw("POST", &format!("{base}/invocation/{id}/response"), &[], b"{\"ok\":1}").await;
        assert_eq!(status, 202);

        let (_, headers, _) = http_raw("GET", &format!("{base}/invocation/next"), &[], b"").await;
        let id = header(&headers, "lambda-runtime-aws-request-id");
        let kind = [("Lambda-Runtime-Function-Error-Type".to_owned(), "Runtime.Unhandled".to_owned())];
        let error = br#"{"errorMessage":"boom","errorType":"Runtime.Unhandled"}"#;
        let (status, _, _) = http_raw("POST", &format!("{base}/invocation/{id}/error"), &kind, error).await;
        assert_eq!(status, 202);
    };
    let invoker = async {
        let first = api.invoke(br#"{"n":1}"#.as_slice().into(), timeout).await.unwrap();
        assert!(matches!(&first.outcome, Outcome::Response(body) if body.as_ref() == br#"{"ok":1}"#));
        let second = api.invoke(br#"{"n":2}"#.as_slice().into(), timeout).await.unwrap();
        match second.outcome {
            Outcome::Error(error) => assert_eq!(error.error_type.as_deref(), Some("Runtime.Unhandled")),
            Outcome::Response(body) => panic!("an error was reported, not {body:?}"),
        }
    };
    tokio::join!(function, invoker);

    let fresh = RuntimeApi::start("probe").await.unwrap();
    let init_error = format!("http://{}/2018-06-01/runtime/init/error", fresh.endpoint());
    let report = async {
        let (status, _, _) = http_raw("POST", &init_error, &[], br#"{"errorMessage":"no config"}"#).await;
        assert_eq!(status, 202);
    };
    let (failed, ()) = tokio::join!(fresh.invoke(br#"{}"#.as_slice().into(), timeout), report);
    assert!(matches!(failed, Err(InvokeError::Init(e)) if e.body.as_ref() == br#"{"errorMessage":"no config"}"#));
}
