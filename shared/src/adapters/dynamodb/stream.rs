//! The table's stream as Lambda delivers it (DynamoDB JSON images), decoded with the same item mappings as every
//! read, into the changes the notifier acts on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::groups::group_from;
use super::item::{Item, get_n, get_s};
use super::keys::{self, attr};
use super::profiles::profile_record_of;
use crate::model::clock::Timestamp;
use crate::model::events::{ProfileNews, TableChange};

/// The part of a DynamoDB Streams Lambda event the notifier reads.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, Value>,
    #[serde(rename = "NewImage", default)]
    pub new_image: HashMap<String, Value>,
    #[serde(rename = "OldImage", default)]
    pub old_image: HashMap<String, Value>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
    /// When the write happened (unix seconds, as the stream reports it).
    #[serde(rename = "ApproximateCreationDateTime", default)]
    pub approximate_creation: Option<f64>,
}

/// `ReportBatchItemFailures`: the stream is retried from the first failed record.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn retry_from(sequence_number: &str) -> Self {
        Self { batch_item_failures: vec![ItemFailure { item_identifier: sequence_number.to_owned() }] }
    }
}

impl StreamRecord {
    /// The item's partition key: records of one key keep their order, records of two need not.
    pub fn partition_key(&self) -> String {
        self.dynamodb.keys.get(keys::PK).and_then(|k| k["S"].as_str()).unwrap_or_default().to_owned()
    }

    /// When the write happened, if the stream says.
    pub fn written_at(&self) -> Option<Timestamp> {
        self.dynamodb.approximate_creation.map(|seconds| seconds as Timestamp)
    }

    /// What was written, in the model's terms.
    pub fn change(&self) -> TableChange {
        let written = matches!(self.event_name.as_str(), "INSERT" | "MODIFY");
        let (old, new) = (item(&self.dynamodb.old_image), item(&self.dynamodb.new_image));
        let sk = get_s(&item(&self.dynamodb.keys), keys::SK);
        match sk.as_str() {
            keys::PROFILE if written && new.contains_key(attr::PHONE) => {
                let inserted = self.event_name == "INSERT";
                TableChange::Profile {
                    inserted,
                    old: (!inserted).then(|| profile_record_of(&old)),
                    new: profile_record_of(&new),
                }
            }
            keys::GROUP
                if written && [attr::GID, attr::MEMBERS, attr::UPDATED_AT].iter().all(|a| new.contains_key(*a)) =>
            {
                TableChange::Group {
                    old: old.contains_key(attr::MEMBERS).then(|| group_from(&old)),
                    new: group_from(&new),
                }
            }
            keys::TOLD if self.event_name == "INSERT" => {
                let text = |name: &str| get_s(&new, name);
                let (kind, e164, ts) = (text(attr::KIND), text(attr::PHONE), get_n(&new, attr::UPDATED_AT));
                match ProfileNews::from_page(
                    &kind,
                    &e164,
                    &text(attr::NAME),
                    &text(attr::STATUS),
                    &text(attr::PHOTO),
                    ts,
                ) {
                    Some(news) => TableChange::Told(ProfileNews { tn: text(attr::TN), ..news }),
                    None => TableChange::Other,
                }
            }
            _ => TableChange::Other,
        }
    }
}

fn item(image: &HashMap<String, Value>) -> Item {
    image.iter().filter_map(|(name, value)| Some((name.clone(), attribute(value)?))).collect()
}

/// An attribute in DynamoDB JSON (`{"S": "…"}`, `{"N": "…"}`, `{"L": […]}`, …). Binary attributes are left out:
/// no item the notifier reads carries one.
fn attribute(value: &Value) -> Option<AttributeValue> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    let strings = || inner.as_array().map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect());
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "L" => AttributeValue::L(inner.as_array()?.iter().filter_map(attribute).collect()),
        "M" => {
            AttributeValue::M(inner.as_object()?.iter().filter_map(|(k, v)| Some((k.clone(), attribute(v)?))).collect())
        }
        _ => return None,
    })
}
