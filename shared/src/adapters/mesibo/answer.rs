//! mesibo's JSON answer (`{"op", "result": true|false, "error", "properties", "user": {uid, token}, "group":
//! {gid}}`), read as leniently as mesibo writes it, and what a refusal means for the caller.

use serde::Deserialize;

use crate::usecase::ports::MesiboFailed;

/// mesibo's answer. Numbers may come as JSON numbers or strings (its older answers quote everything). No `Debug`:
/// it may carry a user's token.
#[derive(Default, Deserialize)]
pub struct Answer {
    #[serde(default)]
    result: Flag,
    #[serde(default)]
    error: Option<String>,
    /// The request's fields a refusal is about (mesibo/on-premise: "Refer to the properties array in the response").
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    pub user: Option<UserAnswer>,
    #[serde(default)]
    pub group: Option<GroupAnswer>,
}

#[derive(Deserialize)]
pub struct UserAnswer {
    #[serde(default)]
    pub uid: Option<Number>,
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GroupAnswer {
    #[serde(default)]
    pub gid: Option<Number>,
}

/// `true`, or mesibo's older string forms of it.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
    #[default]
    Missing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Int(u64),
    Text(String),
}

impl Number {
    pub fn value(&self) -> Option<u64> {
        match self {
            Self::Int(n) => Some(*n),
            Self::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// mesibo's code for a value that names nothing it has (a user's address, a group's gid): mesibo/on-premise's
/// "One or more properties contain invalid values", with the field named in `properties`.
const INVALID_VALUE: &str = "INVALIDVALUE";

impl Answer {
    /// The answer as an outcome: `result: false` is mesibo refusing (with its code), anything unparseable is no
    /// answer at all.
    pub fn parse(body: &[u8]) -> Result<Self, MesiboFailed> {
        let answer: Self = serde_json::from_slice(body).map_err(|_| MesiboFailed::Unreachable)?;
        let ok = match &answer.result {
            Flag::Bool(ok) => *ok,
            Flag::Text(text) => text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("ok"),
            Flag::Missing => return Err(MesiboFailed::Unreachable),
        };
        if ok {
            return Ok(answer);
        }
        let names = |fields: &[&str]| answer.properties.iter().any(|p| fields.contains(&p.as_str()));
        Err(match answer.error.as_deref() {
            Some(INVALID_VALUE) if names(&["address", "uid"]) => MesiboFailed::UnknownUser,
            Some(INVALID_VALUE) if names(&["gid"]) => MesiboFailed::UnknownGroup,
            code => MesiboFailed::Refused(code.unwrap_or("FAIL").to_owned()),
        })
    }

    pub fn uid(&self) -> Option<u64> {
        self.user.as_ref()?.uid.as_ref()?.value()
    }

    pub fn user_token(&self) -> Option<&str> {
        self.user.as_ref()?.token.as_deref()
    }

    pub fn gid(&self) -> Option<u64> {
        self.group.as_ref()?.gid.as_ref()?.value().filter(|gid| *gid > 0)
    }
}
