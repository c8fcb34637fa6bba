//! Metrics in CloudWatch's embedded metric format (EMF): each outcome is one JSON object on one line of standard
//! output. Lambda hands a line that is JSON already to CloudWatch Logs as it is, whatever the function's log format
//! (it wraps plain text only), and CloudWatch Logs turns the object into metrics: no API call on the request's path,
//! no permission beyond writing logs. The tracing subscriber writes whole lines to the same standard output under the
//! same lock, so a metric line and a log line never interleave.
//!
//! | metric                  | dimensions           | counts                                                  |
//! |-------------------------|----------------------|---------------------------------------------------------|
//! | `CodesSent`             | none                 | code SMS handed to SNS                                  |
//! | `CodesSentToNewNumbers` | none                 | … of them to numbers without an account                 |
//! | `VerifiesSucceeded`     | none                 | right codes (sign-in, account deletion)                 |
//! | `VerifiesFailed`        | none                 | wrong codes                                             |
//! | `LimitsHit`             | none, and `Limit`    | requests refused by a limit; `Limit` is its kind only   |
//! | `LookupsCharged`        | none                 | numbers charged to contact-lookup quotas                |
//! | `MesiboAccountRefused`  | none, and `Code`     | mesibo calls refused for the app's account; `Code` its code |
//!
//! All are `Count`s in the namespace `METRICS_NAMESPACE` (the stack's name). Nothing else goes in a line: no number,
//! address, token or code, and `Limit` and `Code` take a handful of values (a dimension value is a metric of its own).

use std::io::Write;

use serde_json::{Value, json};

use crate::model::clock::Timestamp;
use crate::model::measured::Measured;
use crate::usecase::ports::Metrics;

type Output = Box<dyn Fn(&str) + Send + Sync>;

pub struct EmfMetrics {
    namespace: String,
    out: Output,
}

impl EmfMetrics {
    /// To standard output, where Lambda collects it.
    pub fn new(namespace: String) -> Self {
        Self::with_output(namespace, |line| {
            // The whole line in one write under the lock. A failed write loses the count, never the request.
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        })
    }

    /// To `out` instead, called with one whole line (newline included) per outcome.
    pub fn with_output(namespace: String, out: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self { namespace, out: Box::new(out) }
    }

    fn document(&self, measured: Measured, at: Timestamp) -> Value {
        let (counts, dimension) = match measured {
            Measured::CodeSent { new_number } => {
                (vec![("CodesSent", 1), ("CodesSentToNewNumbers", u64::from(new_number))], None)
            }
            Measured::CodeRight => (vec![("VerifiesSucceeded", 1)], None),
            Measured::CodeWrong => (vec![("VerifiesFailed", 1)], None),
            Measured::LimitHit { kind } => (vec![("LimitsHit", 1)], Some(("Limit", kind))),
            Measured::LookupsCharged { numbers } => (vec![("LookupsCharged", numbers)], None),
            Measured::MesiboAccountRefused { code } => (vec![("MesiboAccountRefused", 1)], Some(("Code", code))),
        };
        // The empty set gives each metric's total; with a dimension (`Limit`, `Code`), also one metric per value
        // (what an alarm on a kind and the dashboard's breakdown read).
        let dimensions = match &dimension {
            Some((name, _)) => json!([[], [name]]),
            None => json!([[]]),
        };
        let definitions: Vec<Value> = counts.iter().map(|(name, _)| json!({ "Name": name, "Unit": "Count" })).collect();
        let mut document = json!({
            "_aws": {
                "Timestamp": at.saturating_mul(1000),
                "CloudWatchMetrics": [{ "Namespace": self.namespace, "Dimensions": dimensions, "Metrics": definitions }],
            },
        });
        for (name, count) in counts {
            document[name] = json!(count);
        }
        if let Some((name, value)) = dimension {
            document[name] = json!(value);
        }
        document
    }
}

impl Metrics for EmfMetrics {
    fn record(&self, measured: Measured, at: Timestamp) {
        let mut line = self.document(measured, at).to_string();
        line.push('\n');
        (self.out)(&line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::model::rate_limit::{AbuseLimits, RateLimit};

    fn recorded(measured: Vec<Measured>) -> Vec<String> {
        let lines = Arc::new(Mutex::new(vec![]));
        let sink = lines.clone();
        let metrics = EmfMetrics::with_output("messenger-prod".into(), move |line| {
            sink.lock().unwrap().push(line.to_owned());
        });
        for m in measured {
            metrics.record(m, 1_764_000_000);
        }
        lines.lock().unwrap().clone()
    }

    #[test]
    fn a_limit_hit_is_one_line_of_emf_with_its_kind_as_a_dimension_and_a_total() {
        let limits = AbuseLimits {
            ip_code_requests_per_hour: 1,
            ip_failed_verifies_per_hour: 1,
            number_failed_verifies_per_day: 1,
            sms_hourly_limit_per_country: 1,
            sms_daily_budget: 1,
            uploads_per_hour: 1,
            downloads_per_file_per_hour: 1,
            contact_syncs_per_hour: 1,
            contact_writes_per_day: 1,
            groups_per_day: 1,
            group_member_adds_per_day: 1,
            group_notices_per_day: 1,
        };
        let kind = RateLimit::country_sms(&limits, 91).kind().to_owned();
        let lines = recorded(vec![Measured::LimitHit { kind }]);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
        let document: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            document,
            json!({
                "_aws": {
                    "Timestamp": 1_764_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "messenger-prod",
                        "Dimensions": [[], ["Limit"]],
                        "Metrics": [{ "Name": "LimitsHit", "Unit": "Count" }],
                    }],
                },
                "LimitsHit": 1,
                "Limit": "country-sms",
            })
        );
    }

    #[test]
    fn a_refusal_of_the_mesibo_account_is_counted_with_its_code_as_a_dimension_and_a_total() {
        let lines = recorded(vec![Measured::MesiboAccountRefused { code: "QUOTAEXCEEDED".into() }]);
        let document: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([[], ["Code"]]));
        assert_eq!(directive["Metrics"], json!([{ "Name": "MesiboAccountRefused", "Unit": "Count" }]));
        assert_eq!((&document["MesiboAccountRefused"], &document["Code"]), (&json!(1), &json!("QUOTAEXCEEDED")));
    }

    #[test]
    fn each_outcome_names_its_metrics_and_every_metric_named_has_its_value() {
        let lines = recorded(vec![
            Measured::CodeSent { new_number: true },
            Measured::CodeSent { new_number: false },
            Measured::CodeRight,
            Measured::CodeWrong,
            Measured::LookupsCharged { numbers: 7 },
        ]);
        let values: Vec<Vec<(String, u64)>> = lines
            .iter()
            .map(|line| {
                let document: Value = serde_json::from_str(line).unwrap();
                let directive = &document["_aws"]["CloudWatchMetrics"][0];
                assert_eq!(directive["Dimensions"], json!([[]]), "no dimension but the total: {line}");
                let names = directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap());
                names.map(|name| (name.to_owned(), document[name].as_u64().expect("a value per metric"))).collect()
            })
            .collect();
        let pairs = |list: &[(&str, u64)]| list.iter().map(|(n, v)| (n.to_string(), *v)).collect::<Vec<_>>();
        assert_eq!(
            values,
            vec![
                pairs(&[("CodesSent", 1), ("CodesSentToNewNumbers", 1)]),
                pairs(&[("CodesSent", 1), ("CodesSentToNewNumbers", 0)]),
                pairs(&[("VerifiesSucceeded", 1)]),
                pairs(&[("VerifiesFailed", 1)]),
                pairs(&[("LookupsCharged", 7)]),
            ]
        );
    }
}
