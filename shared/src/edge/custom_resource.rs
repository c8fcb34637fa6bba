//! CloudFormation custom resource requests in (`Create`, `Update`, `Delete`), the SMS protect use case, and the
//! answer CloudFormation waits for out: `SUCCESS` or `FAILED` with a reason, always with the physical id (the
//! protect configuration's), so that a replaced configuration gets its own `Delete`.

use serde_json::{Value, json};

use crate::model::sms_protect::CountryAllowList;
use crate::usecase::ports::SmsProtection;
use crate::usecase::sms_protect::{self, ProtectError};

/// The properties the template gives the resource.
pub const CONFIGURATION_ID: &str = "ProtectConfigurationId";
pub const ALLOWED_COUNTRIES: &str = "AllowedCountries";

/// A request, read field by field: whatever else it lacks or gets wrong, it is answered if it names a
/// `ResponseURL` (a request that does not cannot be).
#[derive(Debug, Default)]
pub struct CustomResourceRequest {
    pub request_type: String,
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_properties: serde_json::Map<String, Value>,
}

impl CustomResourceRequest {
    /// `None`: no `ResponseURL`, so nobody to answer.
    pub fn read(event: &Value) -> Option<Self> {
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let request = Self {
            request_type: text("RequestType"),
            response_url: text("ResponseURL"),
            stack_id: text("StackId"),
            request_id: text("RequestId"),
            logical_resource_id: text("LogicalResourceId"),
            physical_resource_id: Some(text("PhysicalResourceId")).filter(|id| !id.is_empty()),
            resource_properties: event
                .get("ResourceProperties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        (!request.response_url.is_empty()).then_some(request)
    }

    fn property(&self, name: &str) -> Option<&str> {
        self.resource_properties.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// Does what the request asks and says how it went, as CloudFormation reads it.
pub async fn handle(aws: &impl SmsProtection, request: &CustomResourceRequest) -> Value {
    let id = request.property(CONFIGURATION_ID);
    // A resource that was never created has no configuration of its own; its id names the request's resource.
    let physical_id = match request.request_type.as_str() {
        "Delete" => request.physical_resource_id.clone(),
        _ => id.map(str::to_owned),
    }
    .unwrap_or_else(|| request.logical_resource_id.clone());
    let outcome = match (request.request_type.as_str(), id) {
        ("Delete", _) => sms_protect::release(aws, &physical_id).await.map_err(|e| e.to_string()),
        ("Create" | "Update", Some(id)) => {
            match request.property(ALLOWED_COUNTRIES).and_then(CountryAllowList::parse) {
                Some(allowed) => {
                    let previous = request.physical_resource_id.as_deref().filter(|_| request.request_type == "Update");
                    sms_protect::apply(aws, id, previous, &allowed).await.map_err(|e: ProtectError| e.to_string())
                }
                None => Err(format!("{ALLOWED_COUNTRIES}: `*` or comma-separated ISO 3166 regions such as US,CA")),
            }
        }
        ("Create" | "Update", None) => Err(format!("{CONFIGURATION_ID} is required")),
        (other, _) => Err(format!("unknown request type {other:?}")),
    };
    match &outcome {
        Ok(()) => tracing::info!(request = request.request_type, id = physical_id, "SMS protect configuration done"),
        Err(reason) => tracing::error!(request = request.request_type, reason, "SMS protect configuration failed"),
    }
    let (status, reason) = match outcome {
        Ok(()) => ("SUCCESS", String::new()),
        Err(reason) => ("FAILED", reason),
    };
    json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
    })
}
