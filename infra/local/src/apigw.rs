//! HTTP calls as API Gateway (HTTP API, payload v2) would hand them to Lambda.

use base64::Engine;
use lambda_http::Request;
use serde_json::{Value, json};

/// One HTTP call, as it arrives at API Gateway.
#[derive(Debug, Clone, Default)]
pub struct HttpCall {
    pub method: String,
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

impl HttpCall {
    pub fn post(path: &str) -> Self {
        Self { method: "POST".into(), path: path.into(), source_ip: "127.0.0.1".into(), ..Self::default() }
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(pairs);
        self.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        self.body = form.finish().into_bytes();
        self
    }

    /// A multipart/form-data body, as mesibo's apps post a file: text fields, then each file with its part name,
    /// file name and content type.
    pub fn multipart(mut self, fields: &[(&str, &str)], files: &[(&str, &str, &str, &[u8])]) -> Self {
        let boundary = "----MesiboFormBoundary5bd8c1e0f3a94a27";
        let mut body = vec![];
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        for (name, file_name, content_type, bytes) in files {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                     Content-Type: {content_type}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend(*bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        self.body = body;
        self.headers.push(("content-type".into(), format!("multipart/form-data; boundary={boundary}")));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.headers.push(("content-type".into(), "application/json".into()));
        self.body = body.to_string().into_bytes();
        self
    }

    /// Adds `Authorization: Bearer <token>`, as apps send the token from /verify.
    pub fn bearer(mut self, token: &str) -> Self {
        self.headers.push(("authorization".into(), format!("Bearer {token}")));
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(pairs);
        self.query = query.finish();
        self
    }

    /// The v2 event: headers lower-cased and comma-joined, binary bodies base64-encoded, as API Gateway does.
    pub fn to_event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            let name = name.to_ascii_lowercase();
            let joined = match headers.get(&name).and_then(Value::as_str) {
                Some(previous) => format!("{previous},{value}"),
                None => value.clone(),
            };
            headers.insert(name, Value::String(joined));
        }
        let (body, is_base64) = match std::str::from_utf8(&self.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(&self.body), true),
        };
        let route_key = format!("{} {}", self.method, self.path);
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "domainPrefix": "local",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": "local"
                },
                "requestId": "local",
                "routeKey": route_key,
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 0
            },
            "isBase64Encoded": is_base64
        });
        if !self.body.is_empty() {
            event["body"] = Value::String(body);
        }
        event
    }

    /// Through lambda_http's own event deserialisation, as on Lambda.
    pub fn to_request(&self) -> Request {
        lambda_http::request::from_str(&self.to_event().to_string()).expect("a well-formed API Gateway v2 event")
    }
}
