//! docs/SCALE.md's table of what binds first: what one sign-in asks of each resource a quota bounds (computed from
//! the bench's measured figures, as docs/COST.md's are) against the quotas in infra/bench/quotas.json, each with its
//! source and how it is raised. The table sits between two markers in the hand-written document; a test fails when
//! it is not what its inputs give.

use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use crate::BoxError;
use crate::cost::{SignInDemand, Usage, sign_in_demand};
use crate::results::Results;

pub const BEGIN: &str =
    "<!-- written by `make cost` from here (infra/bench/quotas.json, usage.json, bench-results.json) -->";
pub const END: &str = "<!-- written by `make cost` up to here -->";

#[derive(Debug, Deserialize)]
pub struct Quotas {
    pub rates: Vec<f64>,
    pub quotas: Vec<Quota>,
}

#[derive(Debug, Deserialize)]
pub struct Quota {
    pub resource: String,
    /// Which of a sign-in's demands it bounds: `sms`, `sns`, `reads`, `writes`, `api`, `concurrency`.
    pub demand: String,
    pub value: f64,
    pub unit: String,
    pub read: String,
    pub source: String,
    pub note: String,
    pub raise: String,
}

pub fn read_quotas(root: &Path) -> Result<Quotas, BoxError> {
    let path = root.join("infra/bench/quotas.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("quotas.json: {e}"))?)
}

fn per_sign_in(demand: &SignInDemand, which: &str) -> Result<f64, BoxError> {
    Ok(match which {
        "sms" => demand.sms,
        "sns" => demand.sns_messages,
        "reads" => demand.reads,
        "writes" => demand.writes,
        "api" => demand.api_requests,
        "concurrency" => demand.http_seconds,
        other => return Err(format!("quotas.json: no demand {other}").into()),
    })
}

/// `1,234` from 100 up; below, the digits that matter.
fn count(n: f64) -> String {
    if n >= 100.0 {
        crate::report::thousands(n)
    } else if n >= 10.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

/// The generated part of docs/SCALE.md, markers included.
pub fn block(results: &Results, usage: &Usage, quotas: &Quotas) -> Result<String, BoxError> {
    let headline = usage.headline_scenario;
    let demand = sign_in_demand(results, usage, Some(&headline))?;
    let mut others = vec![];
    for scenario in &usage.scenarios {
        let column = format!("allows, {} contacts", scenario.contacts);
        if scenario.contacts != headline.contacts && !others.iter().any(|(c, _)| *c == column) {
            others.push((column, sign_in_demand(results, usage, Some(scenario))?));
        }
    }
    others.push(("allows, a returning user".to_owned(), sign_in_demand(results, usage, None)?));
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}\n");
    let _ = writeln!(
        md,
        "One sign-up (login, verify and the notifier's invocation for the new profile), for a user with {} \
         contacts, as docs/COST.md counts it from the bench's measured figures (docs/bench-results.json: work on \
         {}, notifier on {}): {} read units, {} write units, {} API requests, {:.3} s of login and verify, {} SNS \
         messages (an event to each contact, and a push to each one's device) and {} SMS. A returning user's sign-in \
         writes no new profile, so the notifier has nothing to tell: its column counts login and verify only (login \
         as measured for a new number, an upper bound: a returning number's code is counted on two counters fewer).\n",
        headline.contacts,
        results.work.as_ref().map(|w| w.measured.as_str()).unwrap_or("never"),
        results.notifier.as_ref().map(|n| n.measured.as_str()).unwrap_or("never"),
        count(demand.reads),
        count(demand.writes),
        count(demand.api_requests),
        demand.http_seconds,
        count(demand.sns_messages),
        demand.sms,
    );
    let mut rows: Vec<(&Quota, f64)> = quotas
        .quotas
        .iter()
        .map(|q| Ok((q, q.value / per_sign_in(&demand, &q.demand)?)))
        .collect::<Result<_, BoxError>>()?;
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    let rates: Vec<String> = quotas.rates.iter().map(|r| format!("at {} sign-ins/s", count(*r))).collect();
    let other_headers: Vec<String> = others.iter().map(|(column, _)| column.clone()).collect();
    let _ = writeln!(
        md,
        "| resource | per sign-in | {} | default quota | allows (sign-ins/s) | {} | raised by |",
        rates.join(" | "),
        other_headers.join(" | ")
    );
    let _ = writeln!(md, "|---|---:|{}---:|---:|{}---|", "---:|".repeat(rates.len()), "---:|".repeat(others.len()));
    for (quota, allows) in &rows {
        let each = per_sign_in(&demand, &quota.demand)?;
        let cells: Vec<String> = quotas
            .rates
            .iter()
            .map(|rate| {
                let need = rate * each;
                format!("{}{}", count(need), if need > quota.value { " ✗" } else { "" })
            })
            .collect();
        let other_cells: Vec<String> = others
            .iter()
            .map(|(_, d)| {
                per_sign_in(d, &quota.demand)
                    .map(|e| if e > 0.0 { count(quota.value / e) } else { "– (none used)".into() })
            })
            .collect::<Result<_, _>>()?;
        let _ = writeln!(
            md,
            "| {} | {} | {} | [{} {}]({}) | **{}** | {} | {} |",
            quota.resource,
            if quota.demand == "concurrency" { format!("{each:.3} s") } else { count(each) },
            cells.join(" | "),
            count(quota.value),
            quota.unit,
            quota.source,
            count(*allows),
            other_cells.join(" | "),
            quota.raise
        );
    }
    let _ = writeln!(md, "\nWhat binds first, in order, at each rate (✗ above; the first is the binding one):\n");
    for rate in &quotas.rates {
        let over: Vec<String> = rows
            .iter()
            .filter(|(_, allows)| rate > allows)
            .map(|(q, allows)| format!("{} (×{:.1} its quota)", q.resource, rate / allows))
            .collect();
        let _ = writeln!(
            md,
            "- **{} sign-ins/s**: {}.",
            count(*rate),
            if over.is_empty() { "nothing: every default quota holds".into() } else { over.join("; ") }
        );
    }
    let _ = writeln!(md, "\nThe quotas' notes, as read on the date beside each:\n");
    for quota in &quotas.quotas {
        let _ = writeln!(md, "- {} ({}, read {}): {}.", quota.resource, count(quota.value), quota.read, quota.note);
    }
    let _ = writeln!(md, "\n{END}");
    Ok(md)
}

/// `document` with its generated part replaced by `block`.
pub fn replaced(document: &str, block: &str) -> Result<String, BoxError> {
    let start = document.find(BEGIN).ok_or("docs/SCALE.md has no start marker")?;
    let end = document.find(END).ok_or("docs/SCALE.md has no end marker")? + END.len();
    // The block ends with the end marker and a newline; the document's own newline after the marker stays.
    Ok(format!("{}{}{}", &document[..start], block.trim_end(), &document[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SCALE.md's table is generated: edited by hand, or left behind when an input changed, it fails here.
    #[test]
    fn the_committed_scale_table_is_what_its_inputs_give() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let (results, _, usage) = crate::cost::read_inputs(&root, &root.join("docs/bench-results.json")).unwrap();
        let quotas = read_quotas(&root).unwrap();
        let committed = std::fs::read_to_string(root.join("docs/SCALE.md")).unwrap();
        let expected = replaced(&committed, &block(&results, &usage, &quotas).unwrap()).unwrap();
        assert!(committed == expected, "docs/SCALE.md's table is not what its inputs give: run `make cost`");
    }
}
