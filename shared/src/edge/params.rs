//! Request parameters: mesibo clients send them in the query string, as form posts, as multipart/form-data (whenever
//! a file is attached) and as JSON, so all four are read into one [`Params`]. Which parameter means what is for
//! [`super::commands`] to say.

use std::collections::HashMap;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use serde_json::Value;

use crate::error::ApiError;

/// The parameters of one request, whichever way they came. Body values win over query values of the same name.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, ParamValue>,
    files: Vec<AttachedFile>,
}

/// A file part of a multipart body, whole (its size is bounded by [`BodyLimits::file_bytes`]).
#[derive(Clone, PartialEq)]
pub struct AttachedFile {
    pub field: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for AttachedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttachedFile({}, {} bytes)", self.field, self.bytes.len())
    }
}

/// How large a request may be, by what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The parameters, however encoded.
    pub params_bytes: usize,
    /// One attached file; 0 where the operation takes none.
    pub file_bytes: usize,
}

impl BodyLimits {
    pub const fn params_only(params_bytes: usize) -> Self {
        Self { params_bytes, file_bytes: 0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum ParamValue {
    Text(String),
    /// Arrays and objects from a JSON body, kept whole (`phones: [...]`).
    Json(Value),
}

impl Params {
    /// Bodies larger than the limits allow are refused before parsing, multipart parts as soon as they pass them.
    pub async fn from_request(req: &Request, limits: BodyLimits) -> Result<Self, ApiError> {
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
        let raw_content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        // Lower-cased to recognise the type; the boundary keeps its case.
        let content_type = raw_content_type.to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let boundary = multer::parse_boundary(raw_content_type)
                .map_err(|_| ApiError::BadRequest("multipart/form-data without a boundary"))?;
            params.add_multipart(body, &boundary, limits).await?;
            return Ok(params);
        }
        if body.len() > limits.params_bytes {
            return Err(ApiError::TooLarge(limits.params_bytes));
        }
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the request body is not valid UTF-8"))?;
        if text.trim().is_empty() {
            return Ok(params);
        }
        let looks_like_json = text.trim_start().starts_with('{');
        if content_type.contains("json") || (!content_type.contains("form") && looks_like_json) {
            params.add_json(text)?;
        } else {
            params.add_form(text.as_bytes());
        }
        Ok(params)
    }

    /// Text parts are parameters; parts with a file name are files (mesibo's apps name theirs `photo`).
    async fn add_multipart(&mut self, body: &[u8], boundary: &str, limits: BodyLimits) -> Result<(), ApiError> {
        let whole = limits.params_bytes + limits.file_bytes;
        if body.len() > whole {
            return Err(ApiError::TooLarge(whole));
        }
        let too_large = |e: &multer::Error| {
            matches!(e, multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. })
        };
        let size_limit = multer::SizeLimit::new().whole_stream(whole as u64).per_field(whole as u64);
        let constraints = multer::Constraints::new().size_limit(size_limit);
        let chunk = hyper::body::Bytes::copy_from_slice(body);
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(chunk) });
        let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
        let malformed = ApiError::BadRequest("malformed multipart/form-data body");
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => return Ok(()),
                Err(e) if too_large(&e) => return Err(ApiError::TooLarge(whole)),
                Err(_) => return Err(malformed),
            };
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field.file_name().is_some();
            let bytes = match field.bytes().await {
                Ok(bytes) => bytes,
                Err(e) if too_large(&e) => return Err(ApiError::TooLarge(whole)),
                Err(_) => return Err(malformed),
            };
            if is_file {
                if limits.file_bytes == 0 {
                    return Err(ApiError::BadRequest("this operation takes no file"));
                }
                if bytes.len() > limits.file_bytes {
                    return Err(ApiError::TooLarge(limits.file_bytes));
                }
                self.files.push(AttachedFile { field: name, bytes: bytes.to_vec() });
            } else {
                if bytes.len() > limits.params_bytes {
                    return Err(ApiError::TooLarge(limits.params_bytes));
                }
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| ApiError::BadRequest("a multipart text part is not valid UTF-8"))?;
                self.values.insert(name, ParamValue::Text(percent_decoded(text)));
            }
        }
    }

    /// The attached file: the one in `field` if there is one, else the first (mesibo's backend takes the first file
    /// part, whatever its name).
    pub fn file(&self, field: &str) -> Option<&AttachedFile> {
        self.files.iter().find(|f| f.field == field).or(self.files.first())
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

/// mesibo's SDK URL-encodes the text parts of a multipart body (its PHP backend url-decodes them: "if file is sent
/// along with this, it's multipart data and unicode seems to be screwed"): read as PHP's `urldecode` reads them,
/// `%XX` escapes decoded and `+` a space. A `+` that began a number becomes a space and is restored where numbers
/// are read ([`Params::phone_text`], [`Params::list`]).
fn percent_decoded(text: String) -> String {
    let bytes = text.as_bytes();
    let escaped = bytes.contains(&b'+')
        || bytes.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    if !escaped {
        return text;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or(text)
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
            Self { values, files: vec![] }
        }
    }

    fn parse(req: &Request) -> Result<Params, ApiError> {
        let limits = BodyLimits { params_bytes: MAX_BODY_BYTES, file_bytes: MAX_BODY_BYTES };
        futures::executor::block_on(Params::from_request(req, limits))
    }

    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Request {
        let boundary = "----mesiboBoundary7MA4YWxkTrZu0gW";
        let mut body = vec![];
        for (name, file_name, content) in parts {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes());
            if let Some(file_name) = file_name {
                body.extend(format!("; filename=\"{file_name}\"\r\nContent-Type: image/jpeg").bytes());
            }
            body.extend(b"\r\n\r\n");
            body.extend(*content);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        request("/api.php", Some(&format!("multipart/form-data; boundary={boundary}")), Body::Binary(body))
    }

    #[test]
    fn reads_multipart_text_and_file_parts() {
        let jpeg: &[u8] = &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'];
        let req = multipart(&[
            ("op", None, b"upload"),
            ("m", None, b"12015550123,%2B447911123456"),
            ("name", None, b"Caf%C3%A9+Tr%C3%A8s+100%25"),
            ("status", None, "plain, 100% as sent".as_bytes()),
            ("photo", Some("myProfile.jpg"), jpeg),
        ]);
        let params = parse(&req).unwrap();
        assert_eq!(params.text("op"), Some("upload"));
        assert_eq!(params.list("m").unwrap(), ["12015550123", "+447911123456"]);
        assert_eq!(params.text("name"), Some("Café Très 100%"));
        assert_eq!(params.text("status"), Some("plain, 100% as sent"));
        assert_eq!(params.file("photo").unwrap().bytes, jpeg);
        assert_eq!(params.file("file").unwrap().field, "photo", "the first file, whatever its name");
        assert_eq!(params.text("photo"), None, "a file is no text parameter");
    }

    #[test]
    fn multipart_limits_and_malformed_bodies_are_client_errors() {
        let big = vec![0u8; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse(&multipart(&[("photo", Some("a.jpg"), &big)])).unwrap_err(),
            ApiError::TooLarge(MAX_BODY_BYTES)
        );
        let huge = vec![0u8; 2 * MAX_BODY_BYTES + 1];
        assert_eq!(
            parse(&multipart(&[("photo", Some("a.jpg"), &huge)])).unwrap_err(),
            ApiError::TooLarge(2 * MAX_BODY_BYTES)
        );
        let no_files = BodyLimits::params_only(MAX_BODY_BYTES);
        let refused =
            futures::executor::block_on(Params::from_request(&multipart(&[("photo", Some("a.jpg"), b"x")]), no_files));
        assert_eq!(refused.unwrap_err(), ApiError::BadRequest("this operation takes no file"));
        let truncated = request(
            "/x",
            Some("multipart/form-data; boundary=abc"),
            Body::Text("--abc\r\nContent-Disposition: form-data; name=\"op\"\r\n\r\nlog".into()),
        );
        assert_eq!(parse(&truncated).unwrap_err(), ApiError::BadRequest("malformed multipart/form-data body"));
        let no_boundary = request("/x", Some("multipart/form-data"), Body::Text("x".into()));
        assert!(parse(&no_boundary).is_err());
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
            content_type in prop_oneof![Just("application/json"), Just("application/x-www-form-urlencoded"), Just("text/plain"), Just(""), Just("multipart/form-data; boundary=b")],
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
