//! What `sam local invoke` makes of template.yaml and an `--env-vars` file for one function, done the way SAM CLI
//! does it (samcli/local/lambdafn/env_vars.py, samcli/commands/local/lib/local_lambda.py), so that `invoke` runs a
//! function as `sam local invoke` would, only without Docker:
//!
//! - the function's variables are those the template declares (Globals, then the function's own): SAM passes no
//!   other, so a variable only the env-vars file names never reaches the function;
//! - each gets the template's value (a parameter's default, a resource's logical ID for `!Ref`, `!If` by its
//!   condition; anything else empty), then the shell's value of that name, then the env-vars file's: its
//!   `Parameters` object for every function, then the object under the function's logical ID;
//! - SAM's own variables come first: `AWS_SAM_LOCAL`, the function's name, memory, timeout, handler and log
//!   settings, and the region and credentials of the shell (SAM's placeholders without).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::template::template;

/// A function of the template, ready to start as `sam local invoke` would start it.
#[derive(Debug, Clone)]
pub struct SamFunction {
    pub logical_id: String,
    /// The cargo binary `sam build` builds for it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub timeout: Duration,
    /// Every variable the function's process gets, in name order.
    pub env: Vec<(String, String)>,
}

/// SAM's stand-ins when the shell has no AWS region or credentials.
const DEFAULT_REGION: &str = "us-east-1";

/// The function `logical_id` with the variables SAM would give it: `env_vars` is the `--env-vars` file's JSON
/// (`Json::Null` without one), `shell` the invoking shell's environment.
pub fn sam_function(
    logical_id: &str,
    env_vars: &Json,
    shell: &dyn Fn(&str) -> Option<String>,
) -> Result<SamFunction, String> {
    let template = template();
    let function = &template["Resources"][logical_id];
    if function["Type"].as_str() != Some("AWS::Serverless::Function") {
        let known = crate::template::function_names().join(", ");
        return Err(format!("template.yaml has no function {logical_id} (its functions: {known})"));
    }
    let resolver = Resolver { template: &template };
    let (globals, properties) = (&template["Globals"]["Function"], &function["Properties"]);
    let setting = |name: &str| match &properties[name] {
        Value::Null => &globals[name],
        own => own,
    };
    let binary = function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .ok_or_else(|| format!("{logical_id} names no Metadata.BuildProperties.Binary"))?
        .to_owned();
    let number =
        |name: &str, default: u64| resolver.resolve(setting(name)).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (memory, timeout) = (number("MemorySize", 128), number("Timeout", 3));

    let overrides = overrides(env_vars, logical_id)?;
    let mut env = BTreeMap::new();
    let region = shell("AWS_REGION").or_else(|| shell("AWS_DEFAULT_REGION")).unwrap_or(DEFAULT_REGION.into());
    let sam_own = [
        ("AWS_SAM_LOCAL", "true".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout.to_string()),
        ("AWS_LAMBDA_FUNCTION_HANDLER", resolver.resolve(setting("Handler")).unwrap_or_default()),
        ("AWS_LAMBDA_FUNCTION_NAME", logical_id.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("aws/lambda/{logical_id}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST".to_owned()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", shell("AWS_ACCESS_KEY_ID").unwrap_or("defaultkey".into())),
        ("AWS_SECRET_ACCESS_KEY", shell("AWS_SECRET_ACCESS_KEY").unwrap_or("defaultsecret".into())),
        ("AWS_ACCOUNT_ID", "123456789012".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
    ];
    env.extend(sam_own.map(|(k, v)| (k.to_owned(), v)));
    if let Some(token) = shell("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()) {
        env.insert("AWS_SESSION_TOKEN".into(), token);
    }
    // The log settings: Globals' LoggingConfig with the function's own keys over it.
    let logging = |key: &str| match &properties["LoggingConfig"][key] {
        Value::Null => resolver.resolve(&globals["LoggingConfig"][key]),
        own => resolver.resolve(own),
    };
    if let Some(group) = logging("LogGroup") {
        env.insert("AWS_LAMBDA_LOG_GROUP_NAME".into(), group);
    }
    if let Some(format) = logging("LogFormat") {
        if format == "JSON" {
            env.insert("AWS_LAMBDA_LOG_LEVEL".into(), logging("ApplicationLogLevel").unwrap_or("INFO".into()));
        }
        env.insert("AWS_LAMBDA_LOG_FORMAT".into(), format);
    }

    let mut declared: BTreeMap<String, Option<String>> = BTreeMap::new();
    for variables in [&globals["Environment"]["Variables"], &properties["Environment"]["Variables"]] {
        for (name, value) in variables.as_mapping().into_iter().flatten() {
            let name = name.as_str().ok_or("an environment variable's name is not a string")?;
            declared.insert(name.to_owned(), resolver.resolve(value));
        }
    }
    for (name, value) in declared {
        let value = overrides.get(&name).cloned().or_else(|| shell(&name)).or(value).unwrap_or_default();
        env.insert(name, value);
    }
    Ok(SamFunction {
        logical_id: logical_id.to_owned(),
        binary,
        timeout: Duration::from_secs(timeout),
        env: env.into_iter().collect(),
    })
}

/// The env-vars file's values for this function: `Parameters`, then the function's own object over them. Every
/// top-level value must be an object, as SAM requires.
fn overrides(env_vars: &Json, logical_id: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(sections) = env_vars.as_object() else {
        return match env_vars {
            Json::Null => Ok(BTreeMap::new()),
            _ => Err("the env-vars file is not a JSON object".into()),
        };
    };
    if let Some((name, _)) = sections.iter().find(|(_, v)| !v.is_object()) {
        return Err(format!("env-vars: {name} is not an object of variables"));
    }
    let mut values = BTreeMap::new();
    for section in [&sections.get("Parameters"), &sections.get(logical_id)].into_iter().flatten() {
        for (name, value) in section.as_object().into_iter().flatten() {
            values.insert(name.clone(), stringify(value));
        }
    }
    Ok(values)
}

/// A value as SAM passes it: strings as they are, `true`/`false`, numbers as written, anything else empty.
fn stringify(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Intrinsic functions as far as SAM resolves them locally.
struct Resolver<'a> {
    template: &'a Value,
}

impl Resolver<'_> {
    /// `None`: no value (`AWS::NoValue`, or a function SAM leaves unresolved, which it passes as empty).
    fn resolve(&self, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Tagged(tagged) => match tag(tagged).as_str() {
                "Ref" => self.reference(tagged.value.as_str()?),
                "If" => self.choice(&tagged.value),
                _ => None,
            },
            _ => None,
        }
    }

    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::AccountId" => Some("123456789012".into()),
            "AWS::Region" => Some(DEFAULT_REGION.into()),
            _ => match &self.template["Parameters"][name] {
                Value::Null => self.template["Resources"].get(name).map(|_| name.to_owned()),
                parameter => self.resolve(&parameter["Default"]),
            },
        }
    }

    fn choice(&self, arguments: &Value) -> Option<String> {
        let [condition, then, otherwise] = arguments.as_sequence()?.as_slice() else { return None };
        let chosen = if self.condition(&self.template["Conditions"][condition.as_str()?])? { then } else { otherwise };
        self.resolve(chosen)
    }

    fn condition(&self, value: &Value) -> Option<bool> {
        let Value::Tagged(tagged) = value else { return None };
        let arguments = tagged.value.as_sequence();
        match tag(tagged).as_str() {
            "Equals" => match arguments?.as_slice() {
                [a, b] => Some(self.resolve(a).unwrap_or_default() == self.resolve(b).unwrap_or_default()),
                _ => None,
            },
            "Not" => Some(!self.condition(arguments?.first()?)?),
            "And" => arguments?
                .iter()
                .map(|c| self.condition(c))
                .collect::<Option<Vec<_>>>()
                .map(|all| all.iter().all(|c| *c)),
            "Or" => arguments?
                .iter()
                .map(|c| self.condition(c))
                .collect::<Option<Vec<_>>>()
                .map(|all| all.iter().any(|c| *c)),
            "Condition" => self.condition(&self.template["Conditions"][tagged.value.as_str()?]),
            _ => None,
        }
    }
}

/// A short-form intrinsic's name (`!Ref` is `Ref`).
fn tag(tagged: &serde_yaml_ng::value::TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_owned()
}
