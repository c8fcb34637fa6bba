//! Request parameters: mesibo clients send them in the query string, as form posts and as JSON, so all three are
//! read into one [`Params`]. Which parameter means what is for [`super::commands`] to say.

use std::collections::HashMap;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use serde_json::Value;

use crate::error::ApiError;

/// The parameters of one request, whichever way they came. Body values win over query values of the same name.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, ParamValue>,
}

#[derive(Debug, Clone, PartialEq)]
enum ParamValue {
    Text(String),
    /// Arrays and objects from a JSON body, kept whole (`phones: [...]`).
    Json(Value),
}

impl Params {
    /// Bodies larger than `max_body_bytes` are refused before parsing.
    pub fn from_request(req: &Request, max_body_bytes: usize) -> Result<Self, ApiError> {
        let mut params = Self::default();
        if let Some(query) = req.uri().query() {
            params.add_form(query.as_bytes());
        }
        let body: &[u8] = match req.body() {
            Body::Empty => &[],
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            _ => &[],
        };
        if body.len() > max_body_bytes {
            return Err(ApiError::TooLarge(max_body_bytes));
        }
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the request body is not valid UTF-8"))?;
        if text.trim().is_empty() {
            return Ok(params);
        }
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let looks_like_json = text.trim_start().starts_with('{');
        if content_type.contains("json") || (!content_type.contains("form") && looks_like_json) {
            params.add_json(text)?;
        } else {
            params.add_form(text.as_bytes());
        }
        Ok(params)
    }

    fn add_form(&mut self, bytes: &[u8]) {
        for (key, value) in form_urlencoded::parse(bytes) {
            self.values.insert(key.into_owned(), ParamValue::Text(value.into_owned()));
        }
    }

    fn add_json(&mut self, text: &str) -> Result<(), ApiError> {
        let Value::Object(map) = serde_json::from_str::<Value>(text).map_err(|_| ApiError::BadJson)? else {
            return Err(ApiError::BadJson);
        };
        for (key, value) in map {
            let value = match value {
                Value::String(s) => ParamValue::Text(s),
                Value::Number(n) => ParamValue::Text(n.to_string()),
                Value::Bool(b) => ParamValue::Text(if b { "1" } else { "0" }.into()),
                Value::Null => continue,
                whole => ParamValue::Json(whole),
            };
            self.values.insert(key, value);
        }
        Ok(())
    }

    /// A text parameter, trimmed; absent when missing or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            ParamValue::Text(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            ParamValue::Json(_) => None,
        }
    }

    /// A text parameter, trimmed, present even when blank (to clear a field); absent only when missing.
    pub fn raw_text(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            ParamValue::Text(s) => Some(s.trim()),
            ParamValue::Json(_) => None,
        }
    }

    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.text(name).ok_or(ApiError::MissingParam(name))
    }

    /// `1`/`true` as true; anything else, or absence, as false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.text(name), Some("1" | "true" | "yes"))
    }

    /// A list: a JSON array (in a JSON body, or as text such as `["+1…","+44…"]`) or comma-separated text.
    /// Absent and empty are both `[]`.
    pub fn list(&self, name: &'static str) -> Result<Vec<String>, ApiError> {
        let from_json = |items: &Vec<Value>| -> Result<Vec<String>, ApiError> {
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(ApiError::BadRequest("list entries must be strings or numbers")),
                })
                .collect()
        };
        match self.values.get(name) {
            None => Ok(vec![]),
            Some(ParamValue::Json(Value::Array(items))) => from_json(items),
            Some(ParamValue::Json(_)) => Err(ApiError::BadRequest("expected a list")),
            Some(ParamValue::Text(text)) if text.trim_start().starts_with('[') => {
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Array(items)) => from_json(&items),
                    _ => Err(ApiError::BadJson),
                }
            }
            Some(ParamValue::Text(text)) => {
                // `, 98765 43210` is a person's separator; only a list whose first entry lost its `+` to form
                // decoding (`phones=+1…,+44…` sent unencoded) has its pluses restored.
                let pluses_lost = restore_lost_plus(text).starts_with('+') && !text.trim_start().starts_with('+');
                let entries = text.split(',').filter(|entry| !entry.trim().is_empty());
                Ok(entries.map(|e| if pluses_lost { restore_lost_plus(e) } else { e.trim().to_owned() }).collect())
            }
        }
    }

    /// A phone number as sent. An unencoded `+` in a query string or form body arrives as a space
    /// (`phone=+91…` → `" 91…"`): restore it rather than misread the number as national.
    pub fn phone_text(&self, name: &'static str) -> Result<String, ApiError> {
        let Some(ParamValue::Text(raw)) = self.values.get(name) else {
            return Err(ApiError::MissingParam(name));
        };
        if raw.trim().is_empty() {
            return Err(ApiError::MissingParam(name));
        }
        Ok(restore_lost_plus(raw))
    }
}

fn restore_lost_plus(raw: &str) -> String {
    let trimmed = raw.trim();
    let lost_plus = raw.starts_with(' ') && trimmed.starts_with(|c: char| c.is_ascii_digit());
    if lost_plus { format!("+{trimmed}") } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::Request as HttpRequest;

    const MAX_BODY_BYTES: usize = 64 * 1024;

    impl Params {
        fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
            let values = pairs.into_iter().map(|(k, v)| (k.to_owned(), ParamValue::Text(v.to_owned()))).collect();
            Self { values }
        }
    }

    fn parse(req: &Request) -> Result<Params, ApiError> {
        Params::from_request(req, MAX_BODY_BYTES)
    }

    fn request(uri: &str, content_type: Option<&str>, body: Body) -> Request {
        let mut builder = HttpRequest::builder().method("POST").uri(uri);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(body).unwrap()
    }

    #[test]
    fn reads_query_form_and_json_alike() {
        let from_query = parse(&request("/login?phone=%2B12015550123&name=A", None, Body::Empty)).unwrap();
        let from_form = parse(&request(
            "/login",
            Some("application/x-www-form-urlencoded"),
            Body::Text("phone=%2B12015550123&name=A".into()),
        ))
        .unwrap();
        let from_json = parse(&request(
            "/login",
            Some("application/json"),
            Body::Text(r#"{"phone":"+12015550123","name":"A","ts":5,"phones":["1","2"]}"#.into()),
        ))
        .unwrap();
        for params in [&from_query, &from_form, &from_json] {
            assert_eq!(params.phone_text("phone").unwrap(), "+12015550123");
            assert_eq!(params.text("name"), Some("A"));
        }
        assert_eq!(from_json.text("ts"), Some("5"));
        assert_eq!(from_json.text("phones"), None, "arrays are not text");
    }

    #[test]
    fn body_overrides_query_and_json_is_sniffed_without_content_type() {
        let params = parse(&request("/login?name=query", None, Body::Text(r#"{"name":"body"}"#.into()))).unwrap();
        assert_eq!(params.text("name"), Some("body"));
    }

    #[test]
    fn an_unencoded_plus_is_restored_in_phone_numbers() {
        let params = parse(&request("/login?phone=+12015550123", None, Body::Empty)).unwrap();
        assert_eq!(params.phone_text("phone").unwrap(), "+12015550123");
        let params = parse(&request("/login", None, Body::Text("phone=+919876543210".into()))).unwrap();
        assert_eq!(params.phone_text("phone").unwrap(), "+919876543210");
    }

    #[test]
    fn bad_bodies_are_client_errors() {
        let json = Some("application/json");
        let cases = [
            (request("/x", json, Body::Text("{not json".into())), ApiError::BadJson),
            (request("/x", json, Body::Text("[1,2]".into())), ApiError::BadJson),
            (request("/x", json, Body::Text(format!("{}1{}", "[".repeat(500), "]".repeat(500)))), ApiError::BadJson),
            (
                request("/x", None, Body::Binary(vec![0xff, 0xfe, b'='])),
                ApiError::BadRequest("the request body is not valid UTF-8"),
            ),
            (request("/x", None, Body::Text("a".repeat(MAX_BODY_BYTES + 1))), ApiError::TooLarge(MAX_BODY_BYTES)),
        ];
        for (req, expected) in cases {
            assert_eq!(parse(&req).unwrap_err(), expected);
        }
    }

    #[test]
    fn lists_come_as_json_arrays_json_text_or_commas() {
        let json = parse(&request(
            "/x",
            Some("application/json"),
            Body::Text(r#"{"phones":["+1 201 555 0123", 14155550123]}"#.into()),
        ))
        .unwrap();
        assert_eq!(json.list("phones").unwrap(), ["+1 201 555 0123", "14155550123"]);
        let text = Params::from_pairs([("phones", r#"["a","b"]"#), ("csv", "+12015550123, 98765 43210,,")]);
        assert_eq!(text.list("phones").unwrap(), ["a", "b"]);
        assert_eq!(text.list("csv").unwrap(), ["+12015550123", "98765 43210"]);
        assert_eq!(text.list("absent").unwrap(), Vec::<String>::new());
        let form = parse(&request("/x?phones=+12015550123,+14155550123", None, Body::Empty)).unwrap();
        assert_eq!(form.list("phones").unwrap(), ["+12015550123", "+14155550123"]);
        assert_eq!(Params::from_pairs([("phones", "[1,")]).list("phones"), Err(ApiError::BadJson));
        let nested = parse(&request("/x", Some("application/json"), Body::Text(r#"{"phones":[[1]]}"#.into()))).unwrap();
        assert!(nested.list("phones").is_err());
        assert!(Params::from_pairs([("reset", "1")]).flag("reset"));
        assert!(!Params::from_pairs([("reset", "0")]).flag("reset"));
    }

    #[test]
    fn missing_and_blank_parameters_are_missing() {
        let params = Params::from_pairs([("phone", "  "), ("name", "x")]);
        assert_eq!(params.required("phone"), Err(ApiError::MissingParam("phone")));
        assert_eq!(params.phone_text("phone"), Err(ApiError::MissingParam("phone")));
        assert_eq!(params.required("code"), Err(ApiError::MissingParam("code")));
    }

    use proptest::prelude::*;

    proptest! {
        /// Any body, any query, any content type: parameters or a 4xx error, never a panic.
        #[test]
        fn parameter_parsing_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            json_text in "\\{.{0,200}",
            query in "[a-z=&%+0-9\\[\\],]{0,80}",
            content_type in prop_oneof![Just("application/json"), Just("application/x-www-form-urlencoded"), Just("text/plain"), Just("")],
        ) {
            for payload in [Body::Binary(body.clone()), Body::Text(json_text.clone())] {
                let req = request(&format!("/x?{query}"), Some(content_type), payload);
                if let Ok(params) = parse(&req) {
                    let _ = params.list("phones");
                    let _ = params.phone_text("phone");
                    let _ = params.flag("reset");
                } else if let Err(e) = parse(&req) {
                    prop_assert!(e.status() >= 400 && e.status() < 500);
                }
            }
        }
    }
}
