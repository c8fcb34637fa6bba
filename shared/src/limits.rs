//! Abuse limits, kept in DynamoDB so they hold across every Lambda instance (docs/SECURITY.md: what each stops).
//!
//! | limit                                   | default      | counted                          | answer                 |
//! |-----------------------------------------|--------------|----------------------------------|------------------------|
//! | code requests per source IP             | 20 / hour    | every /login from that IP        | 429 `RATELIMIT`        |
//! | failed verifies per source IP           | 50 / hour    | each wrong code from that IP     | 429 `RATELIMIT`        |
//! | failed verifies per number, across codes| 100 / 24 h   | each wrong code for that number  | 429 `RATELIMIT`        |
//! | SMS per country calling code            | 200 / hour   | each SMS sent there              | 429 `RATELIMIT`        |
//! | SMS per deployment                      | 1000 / day   | each SMS sent (UTC day)          | 503 `SMSBUDGET`        |
//!
//! Sends are counted in the same transaction that stores the code, so a send over any limit stores no code, sends
//! nothing and counts nothing. IPs and numbers appear in counters only as keyed HMACs. Test numbers send no SMS and
//! spend no SMS budget.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::app::App;
use crate::phone::PhoneNumber;
use crate::secrets::keyed_name;
use crate::storage::Counter;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// The caller's address as API Gateway saw it (never a header the client sets).
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}

pub fn ip_code_requests(app: &App, ip: &str) -> Counter {
    Counter {
        subject: format!("ip-codes#{}", keyed_name(&app.config.otp_secret, "ip", ip)),
        window_seconds: HOUR,
        max: app.config.limits.ip_code_requests_per_hour,
    }
}

pub fn ip_failed_verifies(app: &App, ip: &str) -> Counter {
    Counter {
        subject: format!("ip-failures#{}", keyed_name(&app.config.otp_secret, "ip", ip)),
        window_seconds: HOUR,
        max: app.config.limits.ip_failed_verifies_per_hour,
    }
}

pub fn number_failed_verifies(app: &App, phone: &PhoneNumber) -> Counter {
    Counter {
        subject: format!("number-failures#{}", keyed_name(&app.config.otp_secret, "phone", phone.e164())),
        window_seconds: DAY,
        max: app.config.limits.number_failed_verifies_per_day,
    }
}

pub fn country_sms(app: &App, calling_code: u16) -> Counter {
    Counter {
        subject: format!("country-sms#{calling_code}"),
        window_seconds: HOUR,
        max: app.config.limits.sms_hourly_limit_per_country,
    }
}

pub fn sms_budget(app: &App) -> Counter {
    Counter { subject: "sms-budget".into(), window_seconds: DAY, max: app.config.limits.sms_daily_budget }
}

/// The once-an-hour marker for logging that the budget is spent.
pub fn budget_alarm() -> Counter {
    Counter { subject: "sms-budget-alarm".into(), window_seconds: HOUR, max: 1 }
}
