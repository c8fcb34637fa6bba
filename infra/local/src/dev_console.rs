//! What `make dev` shows a person: each code sent, event published and call to mesibo, printed on the console and
//! kept (the last few hundred lines) for the web client's live panel, which asks for the lines after the last one it
//! saw and waits for the next when there is none (a long poll, so the panel needs no socket).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use shared::adapters::DevEcho;
use tokio::sync::Notify;

/// The dev server's path for the live panel (not one of the API's routes).
pub const LIVE_PATH: &str = "/_dev/live";

const KEPT: usize = 500;

/// Whether a request's `Host` names this machine itself (127.0.0.1, localhost or [::1], any port).
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub seq: u64,
    /// `sms`, `event` or `mesibo`, from the line's label.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Default)]
pub struct DevConsole {
    lines: Mutex<(u64, VecDeque<Line>)>,
    added: Notify,
}

impl DevConsole {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// An adapter's echo: prints the line and keeps it for the panel.
    pub fn echo(self: &Arc<Self>) -> DevEcho {
        let console = self.clone();
        Arc::new(move |text: String| console.add(text))
    }

    fn add(&self, text: String) {
        println!("{text}");
        let kind = match text.split(']').next().unwrap_or("") {
            "[dev SMS" => "sms",
            "[dev event" => "event",
            "[dev mesibo" => "mesibo",
            _ => "other",
        };
        let mut lines = self.lines.lock().expect("console lock");
        lines.0 += 1;
        let seq = lines.0;
        lines.1.push_back(Line { seq, kind, text });
        if lines.1.len() > KEPT {
            lines.1.pop_front();
        }
        drop(lines);
        self.added.notify_waiters();
    }

    /// The lines after `seq`, waiting up to `wait` for one when there is none yet.
    pub async fn after(&self, seq: u64, wait: Duration) -> Vec<Line> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let added = self.added.notified();
            let lines: Vec<Line> =
                self.lines.lock().expect("console lock").1.iter().filter(|l| l.seq > seq).cloned().collect();
            if !lines.is_empty() || tokio::time::timeout_at(deadline, added).await.is_err() {
                return lines;
            }
        }
    }
}
