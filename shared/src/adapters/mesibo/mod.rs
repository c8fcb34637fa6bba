//! mesibo's backend API over HTTPS: users, groups and backend notifications at the real-time service (mesibo mode).
//!
//! Every call has one time budget ([`crate::config::MesiboConfig::timeout_ms`], at most 5 s; connecting at most 2 s
//! of it). Calls that are safe to repeat are retried within that budget, after a jittered pause; the others are sent
//! once, so a lost answer never creates a second token, group or message. The app token and users' tokens are never
//! logged; addresses are not either (they are phone numbers).

mod answer;
mod wire;

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tracing::{error, info, warn};

use crate::adapters::emf::EmfMetrics;
use crate::config::{MesiboAppToken, MesiboConfig};
use crate::model::clock::Timestamp;
use crate::model::measured::Measured;
use crate::model::secrets::AccessToken;
use crate::usecase::ports::{Mesibo, MesiboFailed, MesiboMessage, MesiboUser, Metrics, NewMesiboUser};
use answer::Answer;
use wire::Call;
pub use wire::GROUP_DURATION_SECONDS;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries of an idempotent call, time permitting.
const TRIES: u32 = 3;
/// mesibo's answers are small; anything larger is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct MesiboClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: hyper::Uri,
    app_token: MesiboAppToken,
    timeout: Duration,
    /// Where a refusal about the app's account is counted, for the operator's alarm.
    metrics: EmfMetrics,
    /// Shown every answer's body as it came (`make mesibo-check` prints them); `None` in the functions.
    answers: Option<AnswerObserver>,
}

/// Called with the operation and the body of each answer mesibo gave (it may hold a user's token).
pub type AnswerObserver = Box<dyn Fn(&'static str, &[u8]) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum MesiboSetupError {
    #[error("MESIBO_API_URL is not a valid address")]
    BadUrl,
    #[error("the system's root certificates could not be loaded: {0}")]
    Certificates(std::io::Error),
}

impl MesiboClient {
    /// `None` in standalone mode (no app token).
    pub fn from_config(config: &MesiboConfig, metrics: EmfMetrics) -> Result<Option<Self>, MesiboSetupError> {
        let Some(app_token) = config.app_token.clone() else { return Ok(None) };
        let url: hyper::Uri = config.api_url.parse().map_err(|_| MesiboSetupError::BadUrl)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(MesiboSetupError::Certificates)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Short-lived idle connections: a Lambda instance frozen between requests must not wake up to a pooled
        // connection the server has long closed (a one-shot call like useradd would fail on it).
        let http = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(15)).build(https);
        let timeout = Duration::from_millis(config.timeout_ms);
        Ok(Some(Self { http, url, app_token, timeout, metrics, answers: None }))
    }

    /// Shows `observer` the body of every answer (an operator's check of a mesibo account: `make mesibo-check`).
    pub fn observing_answers(mut self, observer: AnswerObserver) -> Self {
        self.answers = Some(observer);
        self
    }

    /// Sends the call (again, for an idempotent one whose answer was lost, while time is left) and reads the answer.
    async fn call(&self, call: Call<'_>) -> Result<Answer, MesiboFailed> {
        let deadline = Instant::now() + self.timeout;
        let tries = if call.idempotent() { TRIES } else { 1 };
        let mut outcome = Err(MesiboFailed::Unreachable);
        for attempt in 0..tries {
            if attempt > 0 {
                let pause = jittered_pause(attempt);
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            outcome = match tokio::time::timeout(left, self.send(&call)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(MesiboFailed::Unreachable),
            };
            if !matches!(outcome, Err(MesiboFailed::Unreachable)) {
                break;
            }
        }
        match &outcome {
            Ok(_) => info!(op = call.op(), "mesibo call done"),
            Err(MesiboFailed::Unreachable) => warn!(op = call.op(), "mesibo unreachable or gave no usable answer"),
            Err(failure @ (MesiboFailed::UnknownUser | MesiboFailed::UnknownGroup)) => {
                info!(op = call.op(), "{failure}")
            }
            // The app token wrong or breached, a quota, the credits or the trial spent: nothing works until the
            // operator acts, so it is said as an error and counted (the MesiboAccountRefused alarm).
            Err(failure @ MesiboFailed::Refused(code)) if failure.is_the_accounts() => {
                error!(
                    op = call.op(),
                    code, "mesibo refused the app's account: check MESIBO_APP_TOKEN and the account (README, mesibo)"
                );
                self.metrics.record(Measured::MesiboAccountRefused { code: code.clone() }, unix_now());
            }
            Err(MesiboFailed::Refused(code)) => warn!(op = call.op(), code, "mesibo refused the call"),
        }
        outcome
    }

    async fn send(&self, call: &Call<'_>) -> Result<Answer, MesiboFailed> {
        let request = hyper::Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(call.body(self.app_token.expose()))))
            .map_err(|_| MesiboFailed::Unreachable)?;
        let response = self.http.request(request).await.map_err(|_| MesiboFailed::Unreachable)?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect().await;
        let body = body.map_err(|_| MesiboFailed::Unreachable)?.to_bytes();
        if let Some(observer) = &self.answers {
            observer(call.op(), &body);
        }
        // mesibo does not document its HTTP statuses: a server error is no answer, anything else is read.
        if status.is_server_error() {
            return Err(MesiboFailed::Unreachable);
        }
        Answer::parse(&body)
    }
}

/// 100 ms, then 200 ms, … each scaled by a random factor in [0.5, 1): concurrent callers spread out.
fn jittered_pause(attempt: u32) -> Duration {
    let mut random = [0u8; 2];
    let _ = getrandom::fill(&mut random);
    let base = 100u64 << (attempt - 1).min(4);
    let factor = 500 + u64::from(u16::from_le_bytes(random)) * 500 / u64::from(u16::MAX);
    Duration::from_millis(base * factor / 1000)
}

fn unix_now() -> Timestamp {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as Timestamp)
}

/// A delete that found nothing to delete did what it was asked.
fn deleted(outcome: Result<Answer, MesiboFailed>) -> Result<(), MesiboFailed> {
    match outcome {
        Ok(_) | Err(MesiboFailed::UnknownUser | MesiboFailed::UnknownGroup) => Ok(()),
        Err(failure) => Err(failure),
    }
}

impl Mesibo for MesiboClient {
    async fn add_user(&self, user: NewMesiboUser<'_>) -> Result<MesiboUser, MesiboFailed> {
        let answer = self.call(Call::AddUser(user)).await?;
        let token = answer.user_token().and_then(AccessToken::parse);
        match (answer.uid(), token) {
            (Some(uid), Some(token)) => Ok(MesiboUser { uid, token }),
            _ => {
                warn!("mesibo useradd answered without a usable uid and token");
                Err(MesiboFailed::Unreachable)
            }
        }
    }

    async fn delete_user(&self, address: &str) -> Result<(), MesiboFailed> {
        deleted(self.call(Call::DeleteUser { address }).await)
    }

    async fn end_session(&self, address: &str, session: Option<u32>) -> Result<(), MesiboFailed> {
        deleted(self.call(Call::EndSession { address, session }).await)
    }

    async fn add_group(&self, name: &str) -> Result<u64, MesiboFailed> {
        let answer = self.call(Call::AddGroup { name }).await?;
        answer.gid().ok_or_else(|| {
            warn!("mesibo groupadd answered without a gid");
            MesiboFailed::Unreachable
        })
    }

    async fn set_group(&self, gid: u64, name: &str) -> Result<(), MesiboFailed> {
        self.call(Call::SetGroup { gid, name }).await.map(|_| ())
    }

    async fn delete_group(&self, gid: u64) -> Result<(), MesiboFailed> {
        deleted(self.call(Call::DeleteGroup { gid }).await)
    }

    async fn edit_members(&self, gid: u64, addresses: &[String], delete: bool) -> Result<(), MesiboFailed> {
        self.call(Call::EditMembers { gid, addresses, delete }).await.map(|_| ())
    }

    async fn send_message(&self, message: &MesiboMessage<'_>) -> Result<(), MesiboFailed> {
        self.call(Call::Message(message)).await.map(|_| ())
    }
}
