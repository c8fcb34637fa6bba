//! Reads a table's stream from DynamoDB Local and hands the records to the notifier in the shape of the Lambda
//! event, with the template's filter applied, as the event-source mapping does in AWS.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use base64::Engine;
use serde_json::{Value, json};
use shared::adapters::dynamodb::stream::StreamEvent;

pub struct StreamPoller {
    client: Client,
    stream_arn: String,
    /// Next iterator per shard; `None` once a closed shard is read to its end.
    iterators: HashMap<String, Option<String>>,
}

impl StreamPoller {
    /// From the start of the table's stream (TRIM_HORIZON, as the template's mapping).
    pub async fn new(
        dynamodb: &aws_sdk_dynamodb::Client,
        streams: Client,
        table: &str,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let description = dynamodb.describe_table().table_name(table).send().await?;
        let stream_arn = description.table.and_then(|t| t.latest_stream_arn).ok_or("the table has no stream")?;
        Ok(Self { client: streams, stream_arn, iterators: HashMap::new() })
    }

    /// Every record written since the last poll that a reader's filter lets through, as one Lambda event.
    pub async fn poll(&mut self) -> Result<StreamEvent, Box<dyn std::error::Error + Send + Sync>> {
        let stream = self.client.describe_stream().stream_arn(&self.stream_arn).send().await?;
        for shard in stream.stream_description.and_then(|d| d.shards).unwrap_or_default() {
            let Some(shard_id) = shard.shard_id else { continue };
            if !self.iterators.contains_key(&shard_id) {
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(&shard_id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await?
                    .shard_iterator;
                self.iterators.insert(shard_id, iterator);
            }
        }
        let mut records = vec![];
        for iterator in self.iterators.values_mut() {
            let Some(current) = iterator.clone() else { continue };
            let out = self.client.get_records().shard_iterator(current).send().await?;
            *iterator = out.next_shard_iterator;
            for record in out.records.unwrap_or_default() {
                let Some(change) = record.dynamodb else { continue };
                let event = json!({
                    "eventName": record.event_name.map(|e| e.as_str().to_owned()).unwrap_or_default(),
                    "dynamodb": {
                        "Keys": image(change.keys.unwrap_or_default()),
                        "NewImage": image(change.new_image.unwrap_or_default()),
                        "OldImage": image(change.old_image.unwrap_or_default()),
                        "SequenceNumber": change.sequence_number.unwrap_or_default(),
                        "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|t| t.secs()),
                    }
                });
                if passes_template_filter(&event) {
                    records.push(event);
                }
            }
        }
        Ok(serde_json::from_value(json!({ "Records": records }))?)
    }
}

/// What the stream's readers' FilterCriteria let through, read from template.yaml (the NotifierFunction's and the
/// MesiboFunction's: one local poller feeds both, and each ignores what is not its own): `{"eventName": [...],
/// "dynamodb": {"Keys": {"SK": {"S": [...]}}}}` (the shape they have; anything else there fails loudly).
fn passes_template_filter(event: &Value) -> bool {
    static PATTERNS: std::sync::LazyLock<Vec<Value>> = std::sync::LazyLock::new(|| {
        let template = crate::template::template();
        let resources = &template["Resources"];
        [
            &resources["NotifierFunction"]["Properties"]["Events"]["NewUsers"],
            &resources["MesiboFunction"]["Properties"]["Events"]["TableChanges"],
        ]
        .iter()
        .map(|source| {
            let pattern = source["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"].as_str();
            serde_json::from_str(pattern.expect("each reader's event source has a filter pattern"))
                .expect("the filter pattern is JSON")
        })
        .collect()
    });
    let allowed = |values: &Value, actual: &Value| values.as_array().is_some_and(|v| v.contains(actual));
    PATTERNS.iter().any(|pattern| {
        allowed(&pattern["eventName"], &event["eventName"])
            && allowed(&pattern["dynamodb"]["Keys"]["SK"]["S"], &event["dynamodb"]["Keys"]["SK"]["S"])
    })
}

fn image(item: HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.into_iter().map(|(k, v)| (k, attribute_json(v))).collect())
}

/// DynamoDB JSON, as Lambda delivers stream images.
fn attribute_json(value: AttributeValue) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.into_iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        _ => Value::Null,
    }
}
