//! docs/bench-results.json: the figures of the last run of each section, machine-readable, so that docs/COST.md can be
//! computed again (`BENCH_SECTIONS=cost`) without measuring again. A run replaces the sections it measured and keeps
//! the others, each with the date it was measured.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::BoxError;
use crate::cold_start::ColdStartFigures;
use crate::notifier::{NotifierReport, RecordWork};
use crate::report::minimum_units;
use crate::work::OperationFigures;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Results {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifier: Option<NotifierSection>,
}

/// Section 7: the notifier's throughput before and after, and one record's work.
#[derive(Debug, Serialize, Deserialize)]
pub struct NotifierSection {
    pub measured: String,
    pub audience: usize,
    pub round_trip_ms: f64,
    pub batch_size: usize,
    pub parallelization: usize,
    /// Sign-ups told per second, the median of the rounds.
    pub before_per_second: f64,
    pub after_per_second: f64,
    pub records: Vec<NotifierRecord>,
}

/// One stream record's work, per record, handled alone.
#[derive(Debug, Serialize, Deserialize)]
pub struct NotifierRecord {
    /// `sign-up` or `profile change`.
    pub news: String,
    pub audience: usize,
    pub dynamodb_calls: f64,
    pub read_units: f64,
    pub write_units: f64,
    /// Calls to SNS by action (`PublishBatch`).
    pub other_calls: BTreeMap<String, f64>,
    /// Events published: messages, as SNS's quota counts them (billed by the PublishBatch calls that carry them).
    pub events: f64,
    /// The median, with the round trips inside the region in it.
    pub handler_p50_ms: f64,
}

/// Each function as its last start measured it: a run that starts some functions (`BENCH_FUNCTIONS`) keeps the
/// others' figures, with their dates.
#[derive(Debug, Serialize, Deserialize)]
pub struct ColdSection {
    pub functions: Vec<ColdFunction>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ColdFunction {
    pub name: String,
    pub measured: String,
    pub init_ms: f64,
    pub first_request_ms: f64,
    /// `None` in figures carried over from a report that printed no more than the columns above.
    pub init_plus_first_request_ms: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    pub binary_bytes: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkSection {
    pub measured: String,
    pub operations: Vec<WorkOperation>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkOperation {
    /// As section 2 labels it: `login`, `getcontacts N=100`.
    pub operation: String,
    pub dynamodb_calls: usize,
    pub rounds: usize,
    /// As DynamoDB Local reported them.
    pub read_units: f64,
    pub write_units: f64,
    /// What DynamoDB's on-demand pricing charges at least for the same work (transactions twice, missing items and
    /// empty queries too), which DynamoDB Local does not report.
    pub minimum_read_units: f64,
    pub minimum_write_units: f64,
    /// Calls to SNS by action (`Publish`) per request.
    pub other_calls: BTreeMap<String, usize>,
    /// Section 3's handler median, in process against DynamoDB Local.
    pub handler_p50_ms: f64,
}

impl WorkOperation {
    pub fn billed_read_units(&self) -> f64 {
        self.read_units.max(self.minimum_read_units)
    }

    pub fn billed_write_units(&self) -> f64 {
        self.write_units.max(self.minimum_write_units)
    }
}

impl Results {
    /// The file as the last run left it; none yet: empty.
    pub fn read(path: &Path) -> Result<Self, BoxError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display()).into()),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), BoxError> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    pub fn set_cold<'a>(&mut self, measured: &str, cold: impl IntoIterator<Item = &'a ColdStartFigures>) {
        let section = self.cold.get_or_insert_with(|| ColdSection { functions: vec![] });
        for c in cold {
            let figures = ColdFunction {
                name: c.name.clone(),
                measured: measured.to_owned(),
                init_ms: round(c.init_median.as_secs_f64() * 1000.0),
                first_request_ms: round(c.first_request_median.as_secs_f64() * 1000.0),
                init_plus_first_request_ms: Some(round(c.init_plus_first_median.as_secs_f64() * 1000.0)),
                peak_rss_kib: Some(c.peak_rss_kib),
                binary_bytes: Some(c.binary_bytes),
            };
            match section.functions.iter_mut().find(|f| f.name == c.name) {
                Some(known) => *known = figures,
                None => section.functions.push(figures),
            }
        }
    }

    pub fn set_work(&mut self, measured: &str, work: &[OperationFigures]) {
        let operations = work
            .iter()
            .map(|w| {
                let (minimum_read_units, minimum_write_units) = minimum_units(w.operation);
                WorkOperation {
                    operation: w.operation.label(),
                    dynamodb_calls: w.dynamodb_calls(),
                    rounds: w.rounds,
                    read_units: w.read_units,
                    write_units: w.write_units,
                    minimum_read_units,
                    minimum_write_units,
                    other_calls: w.other_calls.clone(),
                    handler_p50_ms: round(w.handler.p50.as_secs_f64() * 1000.0),
                }
            })
            .collect();
        self.work = Some(WorkSection { measured: measured.to_owned(), operations });
    }

    pub fn set_notifier(&mut self, measured: &str, report: &NotifierReport) {
        let median = |values: &[f64]| round(crate::notifier::median(values));
        let record = |work: &RecordWork| NotifierRecord {
            news: work.news.label().to_owned(),
            audience: work.audience,
            dynamodb_calls: round(work.dynamodb_calls),
            read_units: round(work.read_units),
            write_units: round(work.write_units),
            other_calls: work.other_calls.iter().map(|(k, v)| (k.clone(), round(*v))).collect(),
            events: round(work.events),
            handler_p50_ms: round(work.handler.p50.as_secs_f64() * 1000.0),
        };
        self.notifier = Some(NotifierSection {
            measured: measured.to_owned(),
            audience: report.audience,
            round_trip_ms: report.round_trip_ms,
            batch_size: report.batch_size,
            parallelization: report.parallelization,
            before_per_second: median(&report.before),
            after_per_second: median(&report.after),
            records: report.records.iter().map(record).collect(),
        });
    }
}

/// Hundredths of a millisecond: what the reports print, and a file that does not change in its noise digits.
fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
