//! What IAM will let each function of `template.yaml` do, and what environment it will run with, resolved against a
//! stack's names: the template's own intrinsics (`!Ref`, `!GetAtt`, `!Sub`, `!If`, conditions from parameters) and
//! SAM policy templates expanded from samtranslator's own definitions, so that the tests check the statements IAM
//! will evaluate, not a restatement of them.
//!
//! Only what the template uses is supported (inline statements, SAM policy templates, the template's own managed
//! policies named by `!Ref`, any of them under `!If`); anything else (an AWS managed policy, a `Deny`, an unknown
//! intrinsic) fails loudly rather than being checked wrongly.

use std::collections::{BTreeMap, HashMap};

use serde_yaml_ng::Value;

use crate::template::template;

/// The physical names a stack gives the template's resources and parameters.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `!Ref` of a resource or a parameter (parameters not here take their `Default`).
    pub refs: HashMap<String, String>,
    /// `!GetAtt Resource.Attribute`, keyed `Resource.Attribute`.
    pub attributes: HashMap<String, String>,
}

/// One action allowed on one resource (or on everything but it: `NotResource`), as a statement of the function's
/// policies grants it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    pub resource: String,
    pub not_resource: bool,
    /// The resource as template.yaml writes it (`!GetAtt Table.Arn`): the same grant in any stack.
    pub written: String,
}

impl Grant {
    /// Whether this grant allows `action` on `resource` (ARN patterns with `*` and `?`, actions case-insensitive).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        wildcard_match(&self.action.to_ascii_lowercase(), &action.to_ascii_lowercase())
            && wildcard_match(&self.resource, resource) != self.not_resource
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = if self.not_resource { "on anything but" } else { "on" };
        write!(f, "{} {on} {}", self.action, self.written)
    }
}

/// IAM's pattern matching: `*` any run of characters, `?` any one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            (pi, ti) = (pi + 1, ti + 1);
        } else if pi < p.len() && p[pi] == '*' {
            (star, mark, pi) = (Some(pi), ti, pi + 1);
        } else if let Some(s) = star {
            (pi, mark, ti) = (s + 1, mark + 1, mark + 1);
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Stack {
    fn parameter_default(&self, name: &str) -> Option<String> {
        let parameter = &template()["Parameters"][name];
        match &parameter["Default"] {
            Value::Null if parameter.is_mapping() => Some(String::new()),
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(scalar(other)),
        }
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::Partition" => self.partition.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            _ => self.refs.get(name).cloned().or_else(|| self.parameter_default(name)).unwrap_or_else(|| {
                panic!("template.yaml refers to {name}: give the test stack its physical name (iam::Stack::refs)")
            }),
        }
    }

    fn attribute(&self, name: &str) -> String {
        self.attributes.get(name).cloned().unwrap_or_else(|| {
            panic!("template.yaml refers to {name}: give the test stack its value (iam::Stack::attributes)")
        })
    }

    /// Whether a condition of the template holds, from the parameters' values.
    pub fn condition(&self, name: &str) -> bool {
        let definition = template()["Conditions"][name].clone();
        assert!(!definition.is_null(), "template.yaml has no condition {name}");
        self.truth(&definition)
    }

    fn truth(&self, value: &Value) -> bool {
        let (function, argument) = intrinsic(value).unwrap_or_else(|| panic!("not a condition: {value:?}"));
        let list = || argument.as_sequence().cloned().unwrap_or_default();
        match function.as_str() {
            "Fn::Equals" => {
                let both = list();
                self.resolve(&both[0]).map(|v| scalar(&v)) == self.resolve(&both[1]).map(|v| scalar(&v))
            }
            "Fn::Not" => !self.truth(&list()[0]),
            "Fn::And" => list().iter().all(|c| self.truth(c)),
            "Fn::Or" => list().iter().any(|c| self.truth(c)),
            "Condition" => self.condition(argument.as_str().expect("a condition's name")),
            other => panic!("unsupported condition function {other}"),
        }
    }

    /// The value with every intrinsic resolved; `None` for `AWS::NoValue` (the key or item is left out).
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        if let Some((function, argument)) = intrinsic(value) {
            return self.intrinsic(&function, &argument);
        }
        Some(match value {
            Value::Sequence(items) => Value::Sequence(items.iter().filter_map(|v| self.resolve(v)).collect()),
            Value::Mapping(mapping) => {
                Value::Mapping(mapping.iter().filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?))).collect())
            }
            other => other.clone(),
        })
    }

    fn intrinsic(&self, function: &str, argument: &Value) -> Option<Value> {
        let text = |s: String| Some(Value::String(s));
        match function {
            "Ref" if argument.as_str() == Some("AWS::NoValue") => None,
            "Ref" => text(self.reference(argument.as_str().expect("!Ref names something"))),
            "Fn::GetAtt" => {
                let name = match argument {
                    Value::String(s) => s.clone(),
                    Value::Sequence(parts) => parts.iter().map(scalar).collect::<Vec<_>>().join("."),
                    other => panic!("unsupported !GetAtt {other:?}"),
                };
                text(self.attribute(&name))
            }
            "Fn::Sub" => {
                let (pattern, variables) = match argument {
                    Value::String(s) => (s.clone(), Value::Null),
                    Value::Sequence(parts) => (scalar(&parts[0]), parts[1].clone()),
                    other => panic!("unsupported !Sub {other:?}"),
                };
                text(self.substitute(&pattern, &variables))
            }
            "Fn::If" => {
                let parts = argument.as_sequence().expect("!If [condition, then, else]");
                let chosen = if self.condition(parts[0].as_str().expect("a condition's name")) { 1 } else { 2 };
                self.resolve(&parts[chosen])
            }
            "Fn::Join" => {
                let parts = argument.as_sequence().expect("!Join [separator, list]");
                let list = self.resolve(&parts[1]).unwrap_or(Value::Sequence(vec![]));
                let items: Vec<String> = match list {
                    Value::Sequence(items) => items.iter().map(scalar).collect(),
                    one => vec![scalar(&one)],
                };
                text(items.join(&scalar(&parts[0])))
            }
            other => panic!("unsupported intrinsic {other} in template.yaml"),
        }
    }

    fn substitute(&self, pattern: &str, variables: &Value) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("${ is closed") + start;
            let name = &rest[start + 2..end];
            let local = variables.as_mapping().and_then(|m| m.get(name));
            out.push_str(&match local {
                Some(value) => scalar(&self.resolve(value).expect("a !Sub variable has a value")),
                None if name.contains('.') && !name.starts_with("AWS::") => self.attribute(name),
                None => self.reference(name),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Whether the function is part of the stack (its `Condition`, if any, holds).
    pub fn has_function(&self, function: &str) -> bool {
        template()["Resources"][function]["Condition"].as_str().is_none_or(|c| self.condition(c))
    }

    /// Every action the function's `Policies` allow, each on each of its statement's resources.
    pub fn grants(&self, function: &str) -> Vec<Grant> {
        let policies = &template()["Resources"][function]["Properties"]["Policies"];
        self.policy_grants(policies).unwrap_or_else(|problem| panic!("{function}: {problem}"))
    }

    /// What a function's `Policies` (as the template writes them) allow.
    pub fn policy_grants(&self, policies: &Value) -> Result<Vec<Grant>, String> {
        let policies = match policies.clone() {
            Value::Null => vec![],
            Value::Sequence(list) => list,
            one => vec![one],
        };
        let mut grants = vec![];
        // An entry may be chosen by `!If` (`AWS::NoValue`: none), or name a managed policy of the template.
        for policy in policies.iter().filter_map(|p| self.select(p)) {
            let document = match &policy {
                _ if intrinsic(&policy).is_some_and(|(function, _)| function == "Ref") => {
                    self.managed_policy(&policy)?
                }
                Value::Mapping(m) if m.contains_key("Statement") => policy.clone(),
                Value::Mapping(m) if m.len() == 1 => sam_policy_template(m)?,
                other => {
                    return Err(format!(
                        "policy {other:?} cannot be checked (only inline statements and SAM policy templates can)"
                    ));
                }
            };
            let statements = match self.select(&document["Statement"]) {
                Some(Value::Sequence(list)) => list,
                Some(one) => vec![one],
                None => vec![],
            };
            for statement in statements.iter().filter_map(|s| self.select(s)) {
                let effect = self.resolve(&statement["Effect"]).map(|e| scalar(&e));
                if effect.as_deref() != Some("Allow") {
                    return Err(format!("only Allow statements are supported, not {effect:?}"));
                }
                let (resources, not_resource) = match (&statement["Resource"], &statement["NotResource"]) {
                    (r, Value::Null) => (r, false),
                    (Value::Null, r) => (r, true),
                    _ => return Err("a statement with both Resource and NotResource".into()),
                };
                let resources = match self.select(resources) {
                    Some(Value::Sequence(list)) => list,
                    Some(one) => vec![one],
                    None => vec![],
                };
                let actions = strings(&self.resolve(&statement["Action"]).unwrap_or_default());
                for raw in resources.iter().filter_map(|r| self.select(r)) {
                    let resource = scalar(&self.resolve(&raw).expect("a resource"));
                    let written = serde_yaml_ng::to_string(&raw).unwrap_or_default();
                    let written = written.split_whitespace().collect::<Vec<_>>().join(" ");
                    for action in &actions {
                        let written = written.clone();
                        grants.push(Grant {
                            action: action.clone(),
                            resource: resource.clone(),
                            not_resource,
                            written,
                        });
                    }
                }
            }
        }
        grants.sort();
        grants.dedup();
        Ok(grants)
    }

    /// The policy document of a template's `AWS::IAM::ManagedPolicy` that a function's `Policies` name (`!Ref`),
    /// which must exist in this stack (its `Condition` holds) and be attached to no role but through `Policies`.
    fn managed_policy(&self, reference: &Value) -> Result<Value, String> {
        let name = intrinsic(reference).and_then(|(_, name)| name.as_str().map(str::to_owned)).unwrap_or_default();
        let resource = &template()["Resources"][name.as_str()];
        if resource["Type"].as_str() != Some("AWS::IAM::ManagedPolicy") {
            return Err(format!("policy !Ref {name} is not a managed policy of the template"));
        }
        if !resource["Condition"].as_str().is_none_or(|c| self.condition(c)) {
            return Err(format!("the managed policy {name} is named where its condition does not hold"));
        }
        let properties = &resource["Properties"];
        if ["Roles", "Users", "Groups"].iter().any(|k| !properties[*k].is_null()) {
            return Err(format!("the managed policy {name} is attached outside Policies"));
        }
        Ok(properties["PolicyDocument"].clone())
    }

    /// The value, or the branch an `!If` chooses (`None` for `AWS::NoValue`), without resolving anything inside it.
    fn select(&self, value: &Value) -> Option<Value> {
        match intrinsic(value) {
            Some((function, argument)) if function == "Fn::If" => {
                let parts = argument.as_sequence().expect("!If [condition, then, else]");
                let chosen = if self.condition(parts[0].as_str().expect("a condition's name")) { 1 } else { 2 };
                self.select(&parts[chosen])
            }
            Some((function, argument)) if function == "Ref" && argument.as_str() == Some("AWS::NoValue") => None,
            _ => Some(value.clone()),
        }
    }

    /// The function's environment as Lambda will set it: `Globals` and its own variables, resolved.
    pub fn environment(&self, function: &str) -> BTreeMap<String, String> {
        let doc = template();
        let mut environment = BTreeMap::new();
        for variables in [
            &doc["Globals"]["Function"]["Environment"]["Variables"],
            &doc["Resources"][function]["Properties"]["Environment"]["Variables"],
        ] {
            let Some(variables) = self.resolve(variables) else { continue };
            for (name, value) in variables.as_mapping().into_iter().flatten() {
                environment.insert(scalar(name), scalar(value));
            }
        }
        environment
    }
}

/// `{Fn::X: argument}` or `{Ref: name}` (long form) or `!X argument` (short form): the function's long name and argument.
fn intrinsic(value: &Value) -> Option<(String, Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" || name == "Condition" { name.to_owned() } else { format!("Fn::{name}") };
            Some((long, tagged.value.clone()))
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (key, argument) = m.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::") || key == "Condition").then(|| (key.to_owned(), argument.clone()))
        }
        _ => None,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list.iter().map(scalar).collect(),
        Value::Null => vec![],
        one => vec![scalar(one)],
    }
}

/// A SAM policy template (`DynamoDBCrudPolicy: {TableName: !Ref Table}`) as the policy document SAM makes of it,
/// from samtranslator's own definitions (the version `infra/install.sh` installs with cfn-lint), never restated.
fn sam_policy_template(policy: &serde_yaml_ng::Mapping) -> Result<Value, String> {
    let (name, parameters) = policy.iter().next().expect("one entry");
    let name = name.as_str().ok_or("a policy template's name is a string")?;
    let templates = sam_policy_templates();
    let template = templates["Templates"].get(name).ok_or(format!("{name} is not a SAM policy template"))?;
    let definition: Value = serde_yaml_ng::to_value(&template["Definition"]).expect("JSON is YAML");
    // The template's parameters are `Ref`s inside it: replace them with what the function passes.
    fn bind(value: &Value, parameters: &Value) -> Value {
        match value {
            Value::Mapping(m) if m.len() == 1 && m.contains_key("Ref") => {
                let name = m["Ref"].as_str().unwrap_or_default();
                parameters.get(name).cloned().unwrap_or_else(|| value.clone())
            }
            Value::Mapping(m) => Value::Mapping(m.iter().map(|(k, v)| (k.clone(), bind(v, parameters))).collect()),
            Value::Sequence(items) => Value::Sequence(items.iter().map(|v| bind(v, parameters)).collect()),
            other => other.clone(),
        }
    }
    Ok(bind(&definition, parameters))
}

fn sam_policy_templates() -> serde_json::Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/venv/lib");
    let found = std::fs::read_dir(root).into_iter().flatten().flatten().find_map(|python| {
        let path = python.path().join("site-packages/samtranslator/policy_templates_data/policy_templates.json");
        std::fs::read_to_string(path).ok()
    });
    let text = found.unwrap_or_else(|| {
        panic!("samtranslator's policy_templates.json is not under {root} (infra/install.sh installs it with cfn-lint)")
    });
    serde_json::from_str(&text).expect("policy_templates.json is JSON")
}
