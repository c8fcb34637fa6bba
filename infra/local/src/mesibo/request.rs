//! A call's data as mesibo reads it, and mesibo's refusals: its codes with its own texts, and the properties a
//! refusal names.

use serde_json::{Map, Value, json};

use super::*;

/// A refusal in mesibo's shape. Its `cause` and `action` texts are mesibo's own (mesibo/on-premise bin/backend
/// (3e0bd47), its strings); `code` is 401 for AUTHFAIL as mesibo's cloud answered it, and, the emulator's reading
/// (mesibo documents no other), 400 for a refused request and 500 for FAIL.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refusal {
    pub(super) error: &'static str,
    pub(super) cause: Option<&'static str>,
    pub(super) action: Option<&'static str>,
    pub(super) properties: Vec<&'static str>,
}

/// mesibo/on-premise bin/backend (3e0bd47), its strings.
pub(super) const REFER_PARAMETERS: &str =
    "Refer to the mesibo backend API documentation to learn about required parameters";
pub(super) const REFER_VALUES: &str =
    "Refer to the mesibo backend API documentation to learn about required parameters and expected values";

impl Refusal {
    pub(super) fn new(error: &'static str) -> Self {
        // mesibo/on-premise bin/backend (3e0bd47), its strings: each code with the texts that follow it there (the
        // binary does not say which text goes with which code; pairing them by their order is the emulator's reading).
        let (cause, action) = match error {
            "AUTHFAIL" => (Some("Invalid or expired app token"), None),
            "BADPAYLOAD" => (Some("The input request is not a valid JSON object"), None),
            // docs.mesibo.com/api/backend-api/ names the code BADOP; the on-premise server's text for it is this.
            "BADOP" => (
                Some("Invalid API method (op) received. Refer to the mesibo backend API documentation to learn more."),
                Some("Refer to the mesibo backend API documentation to learn about correct parameters"),
            ),
            "MISSINGPARAMS" => (
                Some(
                    "One or more required properties for this operation type are missing. Refer to the properties \
                     array in the response to learn more.",
                ),
                Some(REFER_PARAMETERS),
            ),
            "BADVALUE" => (
                Some(
                    "One or more properties contain bad values. Refer to the properties array in the response to \
                     learn more.",
                ),
                Some(REFER_VALUES),
            ),
            "INVALIDVALUE" => (
                Some(
                    "One or more properties contain invalid values. Refer to the properties array in the response \
                     to learn more.",
                ),
                Some(REFER_VALUES),
            ),
            "BADREQ" => (
                Some("bad request"),
                Some(
                    "Refer to the mesibo backend API documentation to learn about required parameters, expected \
                     values, and combinations",
                ),
            ),
            _ => (None, None),
        };
        Self { error, cause, action, properties: vec![] }
    }

    pub(super) fn properties(mut self, properties: &[&'static str]) -> Self {
        self.properties = properties.to_vec();
        self
    }

    pub(super) fn cause(mut self, cause: &'static str) -> Self {
        self.cause = Some(cause);
        self
    }

    pub(super) fn action(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }

    pub(super) fn answer(&self, op: Option<&str>) -> Value {
        let code = match self.error {
            "AUTHFAIL" => 401,
            "FAIL" => 500,
            _ => 400,
        };
        let mut answer = Map::new();
        answer.insert("error".into(), json!(self.error));
        answer.insert("code".into(), json!(code));
        if let Some(cause) = self.cause {
            answer.insert("cause".into(), json!(cause));
        }
        if let Some(action) = self.action {
            answer.insert("action".into(), json!(action));
        }
        if !self.properties.is_empty() {
            answer.insert("properties".into(), json!(self.properties));
        }
        if let Some(op) = op {
            answer.insert("op".into(), json!(op));
        }
        answer.insert("result".into(), json!(false));
        Value::Object(answer)
    }
}

pub(super) fn missing(properties: &[&'static str]) -> Refusal {
    Refusal::new("MISSINGPARAMS").properties(properties)
}

pub(super) fn bad(property: &'static str) -> Refusal {
    Refusal::new("BADVALUE").properties(&[property])
}

/// A value that is well formed but names nothing (no such user, no such group). mesibo's sources do not say which
/// code that gets; the emulator's reading: INVALIDVALUE ("One or more properties contain invalid values").
pub(super) fn invalid(property: &'static str) -> Refusal {
    Refusal::new("INVALIDVALUE").properties(&[property])
}

pub(super) type Outcome = Result<Map<String, Value>, Refusal>;

/// One JSON object of a call, read strictly. `null` reads as absent: the docs' own message example sends `"flags":
/// null` (docs.mesibo.com/api/backend-api/messaging/), as mesibo's helper does for what its caller left unset
/// (`$m['flags'] = $flags` of an undefined `$flags`, mesibo/samples mesibohelper.php (df0b75e)).
#[derive(Clone, Copy)]
pub(super) struct Obj<'a>(pub(super) &'a Map<String, Value>);

impl<'a> Obj<'a> {
    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub(super) fn object(&self, name: &'static str) -> Result<Option<Obj<'a>>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Obj(fields))),
            Some(_) => Err(bad(name)),
        }
    }

    pub(super) fn string(&self, name: &'static str) -> Result<Option<&'a str>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(bad(name)),
        }
    }

    /// A string that must be there and not be empty.
    pub(super) fn required_string(&self, name: &'static str) -> Result<&'a str, Refusal> {
        self.string(name)?.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| missing(&[name]))
    }

    /// An unsigned integer (a JSON number: mesibo's helper sends numbers as numbers).
    pub(super) fn number(&self, name: &'static str) -> Result<Option<u64>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| bad(name)),
        }
    }

    /// `true`/`false` or `1`/`0`: mesibo's helper sends JSON booleans, its query-string form sent 1 and 0
    /// (mesibo/samples mesiboapi.php (df0b75e), CreateURLEncoded).
    pub(super) fn flag(&self, name: &'static str) -> Result<Option<bool>, Refusal> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(value) => match value.as_u64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad(name)),
            },
        }
    }

    /// Addresses: a comma-separated string (mesibo's helper and docs) or an array of strings.
    pub(super) fn addresses(&self, name: &'static str) -> Result<Option<Vec<String>>, Refusal> {
        let list: Vec<String> = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(list)) => list.split(',').map(|a| a.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(|a| a.trim().to_owned()).ok_or_else(|| bad(name)))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad(name)),
        };
        let mut seen = BTreeSet::new();
        Ok(Some(list.into_iter().filter(|a| !a.is_empty() && seen.insert(a.clone())).collect()))
    }
}

/// Whom a `user` object names: `uid` or `address`, never both ("Both uid and address are specified" → BADREQ;
/// "Specify either uid or address", mesibo/on-premise bin/backend (3e0bd47), its strings).
pub(super) enum Who {
    Uid(u64),
    Address(String),
}

pub(super) fn who(user: Obj) -> Result<Who, Refusal> {
    let uid = user.number("uid")?;
    let address = user.string("address")?.map(str::trim).filter(|a| !a.is_empty());
    match (uid, address) {
        (Some(_), Some(_)) => {
            Err(Refusal::new("BADREQ").cause("Both uid and address are specified").properties(&["uid", "address"]))
        }
        (Some(uid), None) => Ok(Who::Uid(uid)),
        (None, Some(address)) => Ok(Who::Address(address.to_owned())),
        (None, None) => Err(missing(&["uid", "address"]).cause("Specify either uid or address")),
    }
}

/// The address of the existing user `who` names.
pub(super) fn existing(state: &State, who: &Who) -> Result<String, Refusal> {
    match who {
        Who::Address(address) if state.users.contains_key(address) => Ok(address.clone()),
        Who::Address(_) => Err(invalid("address")),
        Who::Uid(uid) => {
            state.users.values().find(|u| u.uid == *uid).map(|u| u.address.clone()).ok_or_else(|| invalid("uid"))
        }
    }
}

/// mesibo/on-premise bin/backend (3e0bd47), its strings: "appid should be non-numeric and dotted (for example,
/// com.example.xyz)".
pub(super) fn valid_appid(appid: &str) -> bool {
    appid.contains('.')
        && appid.split('.').all(|part| !part.is_empty())
        && !appid.chars().all(|c| c.is_ascii_digit() || c == '.')
}

pub(super) fn bad_appid() -> Refusal {
    bad("appid")
        .cause(
            "appid should be non-numeric and dotted (for example, com.example.xyz). For Android, it should be your \
             Android package name declared in the AndroidManifest.xml. For iOS, it should be the bundle id declared \
             in the Xcode project. For other platforms, make sure it is non-numeric and pass the same app id to the \
             setAppName API function",
        )
        .action("fix and send correct appid")
}
