//! CORS as API Gateway (HTTP API) serves it, from template.yaml's `CorsConfiguration`: `make dev` answers browsers
//! exactly as the deployed API does. API Gateway answers a preflight itself (204, before any route or function), adds
//! the headers to the answers of an allowed origin, and gives a refused origin no CORS header at all, so its browser
//! withholds the answer from the page.

use serde_yaml_ng::Value;

/// The HTTP API's `CorsConfiguration`, with `AllowedOrigins` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `*`, or the origins allowed, each as a browser writes it (`https://app.example.com`).
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: u64,
}

impl Cors {
    /// The template's configuration, with `allowed_origins` as the `AllowedOrigins` parameter (`make dev`:
    /// ALLOWED_ORIGINS), else the parameter's default, as `sam deploy` resolves it; `None` when the parameter
    /// turns CORS off (the block's condition is false).
    pub fn from_template(template: &Value, allowed_origins: Option<&str>) -> Result<Option<Self>, String> {
        let api = template["Resources"]
            .as_mapping()
            .and_then(|resources| resources.values().find(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi")))
            .ok_or("template.yaml has no AWS::Serverless::HttpApi")?;
        let (condition, config) = conditional(&api["Properties"]["CorsConfiguration"])?;
        let parameter = split_parameter(&config["AllowOrigins"])?;
        let default = template["Parameters"][parameter.as_str()]["Default"].as_str();
        let value = allowed_origins.or(default).ok_or(format!("parameter {parameter} has no default"))?;
        if !holds(&template["Conditions"][condition.as_str()], &parameter, value)? {
            return Ok(None);
        }
        let strings = |key: &str| -> Result<Vec<String>, String> {
            let list = config[key].as_sequence().ok_or(format!("CorsConfiguration.{key} is not a list"))?;
            list.iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(format!("CorsConfiguration.{key}: strings")))
                .collect()
        };
        Ok(Some(Self {
            origins: parse_origins(value)?,
            methods: strings("AllowMethods")?,
            headers: strings("AllowHeaders")?,
            expose_headers: strings("ExposeHeaders").unwrap_or_default(),
            max_age: config["MaxAge"].as_u64().ok_or("CorsConfiguration.MaxAge is not a number")?,
        }))
    }

    fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    fn allows(&self, origin: &str) -> bool {
        self.any_origin() || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    fn allow_origin(&self, origin: &str) -> Vec<(&'static str, String)> {
        if self.any_origin() {
            vec![("access-control-allow-origin", "*".into())]
        } else {
            // The answer depends on the asking page: caches must keep one per origin.
            vec![("access-control-allow-origin", origin.into()), ("vary", "Origin".into())]
        }
    }

    /// A preflight's answer headers (empty: refused), or `None` when the request is no preflight (it then goes
    /// to the routes, as in API Gateway: an `OPTIONS` without `Access-Control-Request-Method` is a plain request).
    pub fn preflight(
        &self,
        method: &str,
        origin: Option<&str>,
        request_method: Option<&str>,
        request_headers: Option<&str>,
    ) -> Option<Vec<(&'static str, String)>> {
        let (origin, request_method) = (origin?, request_method?);
        if !method.eq_ignore_ascii_case("OPTIONS") {
            return None;
        }
        let method_allowed = self.methods.iter().any(|m| m == "*" || m.eq_ignore_ascii_case(request_method));
        let headers_allowed = request_headers
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|asked| self.headers.iter().any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(asked)));
        if !self.allows(origin) || !method_allowed || !headers_allowed {
            return Some(vec![]);
        }
        let mut headers = self.allow_origin(origin);
        headers.push(("access-control-allow-methods", self.methods.join(",")));
        headers.push(("access-control-allow-headers", self.headers.join(",").to_ascii_lowercase()));
        headers.push(("access-control-max-age", self.max_age.to_string()));
        Some(headers)
    }

    /// The headers added to an answer for a page of `origin` (none for a refused one, or without `Origin`).
    pub fn answer_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let Some(origin) = origin.filter(|o| self.allows(o)) else {
            return vec![];
        };
        let mut headers = self.allow_origin(origin);
        if !self.expose_headers.is_empty() {
            headers.push(("access-control-expose-headers", self.expose_headers.join(",").to_ascii_lowercase()));
        }
        headers
    }
}

/// `!If [Condition, {configuration}, !Ref AWS::NoValue]`: the condition's name and the configuration.
fn conditional(value: &Value) -> Result<(String, &Value), String> {
    let wrong = || "CorsConfiguration is not !If [<condition>, {…}, !Ref AWS::NoValue]".to_owned();
    let Value::Tagged(when) = value else { return Err(wrong()) };
    let parts = when.value.as_sequence().filter(|p| when.tag == "!If" && p.len() == 3).ok_or_else(wrong)?;
    let otherwise =
        matches!(&parts[2], Value::Tagged(r) if r.tag == "!Ref" && r.value.as_str() == Some("AWS::NoValue"));
    match (parts[0].as_str(), parts[1].is_mapping() && otherwise) {
        (Some(condition), true) => Ok((condition.to_owned(), &parts[1])),
        _ => Err(wrong()),
    }
}

/// A condition over one parameter (`!Equals [!Ref Parameter, 'literal']`, possibly under `!Not`), for its value.
fn holds(condition: &Value, parameter: &str, value: &str) -> Result<bool, String> {
    let wrong = || format!("the CORS condition is not !Equals/!Not over !Ref {parameter}: {condition:?}");
    let Value::Tagged(function) = condition else { return Err(wrong()) };
    let args = function.value.as_sequence().ok_or_else(wrong)?;
    match (function.tag.to_string().as_str(), args.as_slice()) {
        ("!Not", [inner]) => Ok(!holds(inner, parameter, value)?),
        ("!Equals", [Value::Tagged(reference), Value::String(literal)])
            if reference.tag == "!Ref" && reference.value.as_str() == Some(parameter) =>
        {
            Ok(value == literal)
        }
        _ => Err(wrong()),
    }
}

/// `!Split [',', !Ref Parameter]`: the parameter's name.
fn split_parameter(value: &Value) -> Result<String, String> {
    let wrong = || "CorsConfiguration.AllowOrigins is not !Split [',', !Ref <parameter>]".to_owned();
    let Value::Tagged(split) = value else { return Err(wrong()) };
    let parts = split.value.as_sequence().filter(|p| split.tag == "!Split" && p.len() == 2).ok_or_else(wrong)?;
    let Value::Tagged(reference) = &parts[1] else { return Err(wrong()) };
    if parts[0].as_str() != Some(",") || reference.tag != "!Ref" {
        return Err(wrong());
    }
    reference.value.as_str().map(str::to_owned).ok_or_else(wrong)
}

/// `*`, or a comma list of `http(s)://host[:port]` origins, as the parameter's AllowedPattern takes them.
fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    if value == "*" {
        return Ok(vec!["*".into()]);
    }
    value
        .split(',')
        .map(|origin| {
            let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            match host {
                Some(host) if !host.is_empty() && !host.contains(['/', ' ', '*']) => Ok(origin.to_owned()),
                _ => Err(format!("ALLOWED_ORIGINS: {origin:?} is not an origin like https://app.example.com")),
            }
        })
        .collect()
}
