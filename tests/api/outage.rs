//! DynamoDB going away: requests answer 503 with a code, quickly, and leave no half-written state behind.
//! This test runs a DynamoDB Local of its own (on disk, so it can be stopped and started again with its data).

use std::process::Stdio;
use std::time::{Duration, Instant};

use integration_tests::*;
use tokio::process::{Child, Command};

struct OwnDynamoDb {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnDynamoDb {
    async fn start(port: u16, dir: std::path::PathBuf) -> Self {
        let jar_dir = stack_env("DYNAMODB_LOCAL_DIR");
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={jar_dir}/DynamoDBLocal_lib"))
            .args(["-jar", &format!("{jar_dir}/DynamoDBLocal.jar"), "-sharedDb", "-dbPath"])
            .arg(&dir)
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("java runs DynamoDB Local");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "own DynamoDB Local did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, port, dir }
    }

    async fn stop(mut self) -> (u16, std::path::PathBuf) {
        self.child.kill().await.unwrap();
        (self.port, self.dir)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn client_for(port: u16) -> aws_sdk_dynamodb::Client {
    let sdk = shared::app::sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(format!("http://127.0.0.1:{port}")).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test]
async fn dynamodb_stopped_mid_flow_answers_503_and_leaves_no_half_written_state() {
    let dir = std::env::temp_dir().join(format!("ddb-outage-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let db = OwnDynamoDb::start(free_port(), dir).await;
    let sns = aws_sdk_sns::Client::new(&shared::app::sdk_config().await);
    let t = spawn_app_on(&[], client_for(db.port).await, sns).await;
    let phone = random_phone();
    assert_eq!(t.login(phone.e164()).await.status, 200);
    let code = last_sms_code(phone.e164()).await.unwrap();

    let (port, dir) = db.stop().await;
    let started = Instant::now();
    let verify = t.verify(phone.e164(), &code).await;
    assert_eq!((verify.status, verify.error()), (503, "UNAVAILABLE"), "{:?}", verify.json);
    let login = t.login(random_phone().e164()).await;
    assert_eq!((login.status, login.error()), (503, "UNAVAILABLE"));
    assert!(started.elapsed() < Duration::from_secs(29), "within API Gateway's limit: {:?}", started.elapsed());

    let db = OwnDynamoDb::start(port, dir.clone()).await;
    let items = t.scan().await;
    let personal: Vec<&Item> = items.iter().filter(|i| !i["PK"].as_s().unwrap().starts_with("LIMIT#")).collect();
    assert_eq!(personal.len(), 1, "the code record only: no user, no token: {personal:?}");
    let otp = personal[0];
    assert_eq!(otp["SK"].as_s().unwrap(), "OTP");
    assert_eq!(otp["attempts"].as_n().unwrap(), "0", "the failed verify spent no attempt");
    assert!(otp.contains_key("code_digest"), "the code is still usable");
    assert_eq!(t.verify(phone.e164(), &code).await.status, 200, "and it works once DynamoDB is back");
    db.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_failed_sms_leaves_no_usable_code_and_says_so() {
    let dead_sns = {
        let sdk = shared::app::sdk_config().await;
        let config =
            aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(format!("http://127.0.0.1:{}", free_port())).build();
        aws_sdk_sns::Client::from_conf(config)
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&shared::app::sdk_config().await);
    let t = spawn_app_on(&[], dynamodb, dead_sns).await;
    let phone = random_phone();
    let login = t.login(phone.e164()).await;
    assert_eq!((login.status, login.error()), (502, "SMSFAIL"), "{:?}", login.json);
    let items = t.scan().await;
    let otp: Vec<&Item> = items.iter().filter(|i| i["SK"].as_s().unwrap() == "OTP").collect();
    assert_eq!(otp.len(), 1);
    assert!(!otp[0].contains_key("code_digest"), "the unsent code was withdrawn");
    assert!(items.iter().all(|i| i["SK"].as_s().unwrap() == "OTP" || i["PK"].as_s().unwrap().starts_with("LIMIT#")));
    assert_eq!(t.verify(phone.e164(), "123456").await.error(), "CODEEXPIRED");
}
