//! An SDK interceptor that records every call a client makes: its operation, when it started and ended (so calls
//! and sequential rounds can be counted), the request as sent and the status it got (so `make bench` can replay the
//! same calls directly), and, when asked, the capacity DynamoDB says it consumed.
//!
//! Used by the integration tests and the benchmarks; never installed on a deployed function.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::operation as ddb;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Clone, Default)]
pub struct CallRecorder {
    calls: Arc<Mutex<Vec<RecordedCall>>>,
    ask_consumed_capacity: bool,
}

#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub operation: String,
    pub started: Instant,
    pub ended: Option<Instant>,
    /// The last attempt as it went on the wire (signed).
    pub request: Option<SentRequest>,
    pub status: Option<u16>,
    pub read_units: f64,
    pub write_units: f64,
}

#[derive(Debug, Clone)]
pub struct SentRequest {
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Which recorded call an operation is, kept in the operation's own config bag between hooks.
#[derive(Debug, Clone, Copy)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl CallRecorder {
    /// Also asks DynamoDB for the capacity each call consumes (`ReturnConsumedCapacity: TOTAL`).
    pub fn with_consumed_capacity() -> Self {
        Self { ask_consumed_capacity: true, ..Self::default() }
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap().clear();
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls recorded so far, leaving none.
    pub fn take(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Calls per operation name.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        counts(&self.calls())
    }

    pub fn rounds(&self) -> usize {
        rounds(&self.calls()).len()
    }

    fn update(&self, cfg: &ConfigBag, change: impl FnOnce(&mut RecordedCall)) {
        if let Some(CallIndex(index)) = cfg.load::<CallIndex>()
            && let Some(call) = self.calls.lock().unwrap().get_mut(*index)
        {
            change(call);
        }
    }
}

pub fn counts(calls: &[RecordedCall]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.clone()).or_default() += 1;
    }
    counts
}

/// Sequential rounds: a call that starts after every call of the current round has ended opens a new round.
/// Calls issued together (even through a bounded pipeline) overlap and stay in one round. Each round lists its
/// calls in the order they started.
pub fn rounds(calls: &[RecordedCall]) -> Vec<Vec<RecordedCall>> {
    let mut calls = calls.to_vec();
    calls.sort_by_key(|c| c.started);
    let mut rounds: Vec<Vec<RecordedCall>> = vec![];
    let mut round_end: Option<Instant> = None;
    for call in calls {
        let ended = call.ended.unwrap_or(call.started);
        match (round_end, rounds.last_mut()) {
            (Some(end), Some(round)) if call.started < end => {
                round_end = Some(end.max(ended));
                round.push(call);
            }
            _ => {
                round_end = Some(ended);
                rounds.push(vec![call]);
            }
        }
    }
    rounds
}

/// The most calls of one round that were in flight at the same moment.
pub fn max_in_flight(round: &[RecordedCall]) -> usize {
    let mut edges: Vec<(Instant, i32)> = vec![];
    for call in round {
        edges.push((call.started, 1));
        edges.push((call.ended.unwrap_or(call.started), -1));
    }
    // At equal instants an end comes first: back-to-back calls were not in flight together.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    most.max(1) as usize
}

macro_rules! ask_capacity {
    ($input:expr, $($module:ident :: $type:ident),+) => {
        $(if let Some(input) = $input.downcast_mut::<ddb::$module::$type>() {
            input.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
        })+
    };
}

macro_rules! capacity_of {
    ($output:expr, single: [$($s_module:ident :: $s_type:ident),*], many: [$($m_module:ident :: $m_type:ident),*]) => {{
        let mut found: Vec<ConsumedCapacity> = vec![];
        $(if let Some(output) = $output.downcast_ref::<ddb::$s_module::$s_type>() {
            found.extend(output.consumed_capacity.clone());
        })*
        $(if let Some(output) = $output.downcast_ref::<ddb::$m_module::$m_type>() {
            found.extend(output.consumed_capacity.clone().unwrap_or_default());
        })*
        found
    }};
}

fn is_read(operation: &str) -> bool {
    matches!(operation, "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems")
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.ask_consumed_capacity {
            let input = context.input_mut();
            ask_capacity!(
                input,
                get_item::GetItemInput,
                put_item::PutItemInput,
                update_item::UpdateItemInput,
                delete_item::DeleteItemInput,
                query::QueryInput,
                scan::ScanInput,
                batch_get_item::BatchGetItemInput,
                batch_write_item::BatchWriteItemInput,
                transact_get_items::TransactGetItemsInput,
                transact_write_items::TransactWriteItemsInput
            );
        }
        Ok(())
    }

    // Not read_before_execution: client-level interceptors see that hook before the operation's metadata is set.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned()).unwrap_or_default();
        let mut calls = self.calls.lock().unwrap();
        cfg.interceptor_state().store_put(CallIndex(calls.len()));
        calls.push(RecordedCall {
            operation,
            started: Instant::now(),
            ended: None,
            request: None,
            status: None,
            read_units: 0.0,
            write_units: 0.0,
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let sent = SentRequest {
            uri: request.uri().to_owned(),
            headers: request.headers().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            body: request.body().bytes().unwrap_or_default().to_vec(),
        };
        self.update(cfg, |call| call.request = Some(sent));
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context.response().status().as_u16();
        self.update(cfg, |call| call.status = Some(status));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else { return Ok(()) };
        let consumed = capacity_of!(
            output,
            single: [
                get_item::GetItemOutput,
                put_item::PutItemOutput,
                update_item::UpdateItemOutput,
                delete_item::DeleteItemOutput,
                query::QueryOutput,
                scan::ScanOutput
            ],
            many: [
                batch_get_item::BatchGetItemOutput,
                batch_write_item::BatchWriteItemOutput,
                transact_get_items::TransactGetItemsOutput,
                transact_write_items::TransactWriteItemsOutput
            ]
        );
        self.update(cfg, |call| {
            for capacity in consumed {
                let total = capacity.capacity_units.unwrap_or(0.0);
                match (capacity.read_capacity_units, capacity.write_capacity_units) {
                    (None, None) if is_read(&call.operation) => call.read_units += total,
                    (None, None) => call.write_units += total,
                    (read, write) => {
                        call.read_units += read.unwrap_or(0.0);
                        call.write_units += write.unwrap_or(0.0);
                    }
                }
            }
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.update(cfg, |call| call.ended = Some(Instant::now()));
        Ok(())
    }
}
