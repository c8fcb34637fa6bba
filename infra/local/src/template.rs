//! `template.yaml` as the single source of truth for the table and the routes. Every reader sees it expanded as
//! CloudFormation's `AWS::LanguageExtensions` transform expands it: each `Fn::ForEach` loop (the functions' log groups
//! and alarms) becomes the resources it makes.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use serde::Deserialize;
use serde_yaml_ng::value::TaggedValue;
use serde_yaml_ng::{Mapping, Value};

pub const TEMPLATE_YAML: &str = include_str!("../../../template.yaml");
pub const TABLE_RESOURCE: &str = "Table";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    pub method: String,
    pub path: String,
}

impl Route {
    /// Whether a request path is this route's (`{name}` stands for one path segment, as in API Gateway).
    pub fn matches(&self, path: &str) -> bool {
        let (route, request): (Vec<&str>, Vec<&str>) = (self.path.split('/').collect(), path.split('/').collect());
        route.len() == request.len()
            && route
                .iter()
                .zip(&request)
                .all(|(r, p)| r == p || (r.starts_with('{') && r.ends_with('}') && !p.is_empty()))
    }
}

/// The files bucket (template.yaml's `FilesBucket`), in moto: created if missing.
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) -> Result<(), aws_sdk_s3::Error> {
    match client.create_bucket().bucket(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// template.yaml, parsed once, with every `Fn::ForEach` expanded ([`expand_for_each`]).
pub fn template() -> Value {
    static TEMPLATE: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        expand_for_each(&serde_yaml_ng::from_str(TEMPLATE_YAML).expect("template.yaml is valid YAML"))
            .unwrap_or_else(|problem| panic!("template.yaml: {problem}"))
    });
    TEMPLATE.clone()
}

const FOR_EACH: &str = "Fn::ForEach::";

/// The value with every `Fn::ForEach::<Name>: [Identifier, [items], {OutputKey: OutputValue}]` replaced by one
/// `OutputKey: OutputValue` per item, `${Identifier}` (and `&{Identifier}`, the item's letters and digits only)
/// replaced by the item in keys and values, nested loops included, as `AWS::LanguageExtensions` does. Only a literal
/// list of strings is supported as the collection (what template.yaml uses); anything else, or a loop making a key
/// that is already there, is an error rather than a template read wrongly.
pub fn expand_for_each(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Mapping(mapping) => {
            let mut out = Mapping::new();
            for (key, item) in mapping {
                let Some(name) = key.as_str().and_then(|k| k.strip_prefix(FOR_EACH)) else {
                    insert_new(&mut out, mapping, key.clone(), expand_for_each(item)?, "")?;
                    continue;
                };
                let parts = item.as_sequence().filter(|p| p.len() == 3);
                let parts = parts.ok_or(format!("{FOR_EACH}{name} is not [Identifier, Collection, Output]"))?;
                let identifier = parts[0].as_str().ok_or(format!("{FOR_EACH}{name}: the identifier is a string"))?;
                let collection = parts[1].as_sequence().ok_or(format!("{FOR_EACH}{name}: only a literal list"))?;
                for element in collection {
                    let element = element.as_str().ok_or(format!("{FOR_EACH}{name}: items are strings"))?;
                    let output = expand_for_each(&substitute(&parts[2], identifier, element))?;
                    let output = output.as_mapping().ok_or(format!("{FOR_EACH}{name}: the output is a mapping"))?;
                    for (key, value) in output {
                        insert_new(&mut out, mapping, key.clone(), value.clone(), name)?;
                    }
                }
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(expand_for_each).collect::<Result<_, _>>()?),
        Value::Tagged(tagged) => {
            Value::Tagged(Box::new(TaggedValue { tag: tagged.tag.clone(), value: expand_for_each(&tagged.value)? }))
        }
        other => other.clone(),
    })
}

/// `key: value` into `out`, unless a loop (or the loop and the mapping it is in) makes that key twice.
fn insert_new(out: &mut Mapping, written: &Mapping, key: Value, value: Value, looped: &str) -> Result<(), String> {
    if out.contains_key(&key) || (!looped.is_empty() && written.contains_key(&key)) {
        return Err(format!("{:?} is made twice ({FOR_EACH}{looped})", key.as_str().unwrap_or_default()));
    }
    out.insert(key, value);
    Ok(())
}

/// `${identifier}` and `&{identifier}` replaced by the item in every key and string of the value, and
/// `!Ref identifier` by the item.
fn substitute(value: &Value, identifier: &str, item: &str) -> Value {
    match value {
        Value::String(text) => {
            let alphanumeric: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
            let text = text.replace(&format!("${{{identifier}}}"), item);
            Value::String(text.replace(&format!("&{{{identifier}}}"), &alphanumeric))
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(|v| substitute(v, identifier, item)).collect()),
        Value::Mapping(mapping) => Value::Mapping(
            mapping.iter().map(|(k, v)| (substitute(k, identifier, item), substitute(v, identifier, item))).collect(),
        ),
        // `!Ref Identifier`: the item itself.
        Value::Tagged(tagged) if tagged.tag == "!Ref" && tagged.value.as_str() == Some(identifier) => {
            Value::String(item.to_owned())
        }
        Value::Tagged(tagged) => Value::Tagged(Box::new(TaggedValue {
            tag: tagged.tag.clone(),
            value: substitute(&tagged.value, identifier, item),
        })),
        other => other.clone(),
    }
}

fn resources() -> BTreeMap<String, Value> {
    serde_yaml_ng::from_value(template()["Resources"].clone()).expect("template.yaml has Resources")
}

/// Every `HttpApi` event of every function: the routes API Gateway will serve.
pub fn http_routes() -> Vec<Route> {
    let mut routes = vec![];
    for (name, resource) in resources() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() == Some("HttpApi") {
                let props = &event["Properties"];
                routes.push(Route {
                    function: name.clone(),
                    method: props["Method"].as_str().unwrap_or("ANY").to_ascii_uppercase(),
                    path: props["Path"].as_str().expect("HttpApi events have a Path").to_owned(),
                });
            }
        }
    }
    routes
}

pub fn function_names() -> Vec<String> {
    resources()
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, _)| name)
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableProperties {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub billing_mode: String,
    pub time_to_live_specification: Option<TtlDef>,
    pub stream_specification: Option<StreamDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_view_type: String,
}

pub fn table_properties() -> TableProperties {
    let resource = resources().remove(TABLE_RESOURCE).expect("template.yaml defines the Table resource");
    serde_yaml_ng::from_value(resource["Properties"].clone()).expect("the Table's Properties are a table definition")
}

fn key_schema(keys: &[KeyDef]) -> Vec<KeySchemaElement> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("name and type are set")
        })
        .collect()
}

/// Creates a table named `name` exactly as the template defines it (keys, indexes, billing, stream, TTL).
/// An existing table of that name is left as it is.
pub async fn create_table(client: &Client, name: &str) -> Result<(), aws_sdk_dynamodb::Error> {
    let props = table_properties();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(props.billing_mode.as_str()))
        .set_key_schema(Some(key_schema(&props.key_schema)));
    for attribute in &props.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .expect("name and type are set"),
        );
    }
    for index in &props.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty()).then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)))
                .projection(projection)
                .build()
                .expect("name and keys are set"),
        );
    }
    if let Some(stream) = &props.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .expect("enabled is set"),
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(ttl) = props.time_to_live_specification.filter(|t| t.enabled) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl.attribute_name)
                    .enabled(true)
                    .build()
                    .expect("set"),
            )
            .send()
            .await?;
    }
    Ok(())
}
