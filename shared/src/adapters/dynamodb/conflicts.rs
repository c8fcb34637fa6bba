//! Transaction conflicts retried like throttling. DynamoDB answers `TransactionConflictException` to a write that
//! meets an item another transaction is writing, and cancels a transaction with reason `TransactionConflict` when
//! two meet; neither wrote anything, so trying again is safe, but the SDK's standard classifiers retry neither. A
//! person's own requests side by side (a push registration beside a profile change, a login beside another) would
//! otherwise answer 503. A cancellation for any other reason (a condition that failed) is an answer, not retried.

use aws_sdk_dynamodb::config::interceptors::InterceptorContext;
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};

#[derive(Debug, Default)]
pub struct TransactionConflicts;

impl ClassifyRetry for TransactionConflicts {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(body) = ctx.response().filter(|r| r.status().as_u16() == 400).and_then(|r| r.body().bytes()) else {
            return RetryAction::NoActionIndicated;
        };
        match is_conflict(body) {
            true => RetryAction::transient_error(),
            false => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "TransactionConflicts"
    }
}

/// Whether an error body says only that a concurrent transaction was in the way.
fn is_conflict(body: &[u8]) -> bool {
    let Ok(error) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let kind = error["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default();
    match kind {
        "TransactionConflictException" => true,
        "TransactionCanceledException" => {
            let reasons = error["CancellationReasons"].as_array().cloned().unwrap_or_default();
            let code = |reason: &serde_json::Value| reason["Code"].as_str().unwrap_or("None").to_owned();
            reasons.iter().any(|r| code(r) == "TransactionConflict")
                && reasons.iter().all(|r| matches!(code(r).as_str(), "None" | "TransactionConflict"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conflicts_are_retried_never_a_failed_condition() {
        let conflict = br#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"x"}"#;
        assert!(is_conflict(conflict));
        let canceled = |codes: &str| {
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{codes}]}}"#
            )
        };
        assert!(is_conflict(canceled(r#"{"Code":"None"},{"Code":"TransactionConflict"}"#).as_bytes()));
        assert!(!is_conflict(
            canceled(r#"{"Code":"ConditionalCheckFailed"},{"Code":"TransactionConflict"}"#).as_bytes()
        ));
        assert!(!is_conflict(canceled(r#"{"Code":"None"},{"Code":"None"}"#).as_bytes()));
        assert!(!is_conflict(br#"{"__type":"x#ConditionalCheckFailedException"}"#));
        assert!(!is_conflict(b"not json"));
    }
}
