//! mesibo's backend API on the wire: each call as the form-encoded parameters mesibo documents for it, and the JSON
//! answer (`{"op", "result": true|false, "error", "user": {uid, token}, "group": {gid}}`) back.
//!
//! Form parameters, not the JSON objects of the newer reference pages: the backend still accepts them, every
//! operation used here has them documented (docs.mesibo.com/api/backend-api, legacy form; mesibo's own
//! messenger-app-backend `mesibohelper.php` sends exactly these), while the JSON objects are published in full only
//! for `useradd` and `message`. The one operation whose name mesibo does not document consistently is token
//! deletion ([`DELETE_TOKENS_OP`]); see README, mesibo.

use serde::Deserialize;

use crate::usecase::ports::{MesiboFailed, MesiboMessage, MesiboUserRef, NewMesiboUser};

/// mesibo's own helper names it `deltoken`; the legacy reference page lists the section under `userdel`, which
/// deletes the whole user. A server that does not know it answers `BADOP` (the adapter then says so in the log).
const DELETE_TOKENS_OP: &str = "deltoken";

/// A backend notification: a mesibo message of type 1 (the apps' filter for "from the backend"), transient
/// (flag 4: not stored for offline delivery beyond its expiry), expiring after an hour, as mesibo's backend sent them.
const NOTICE_TYPE: &str = "1";
const NOTICE_FLAGS: &str = "4";
const NOTICE_EXPIRY_SECONDS: &str = "3600";

/// Groups where only members send (mesibo's group flag 0), as mesibo's own backend creates them.
const GROUP_FLAG: &str = "0";

/// One call to mesibo's backend API. No `Debug`: it may carry a user's token.
#[derive(Clone, Copy)]
pub enum Call<'a> {
    AddUser(NewMesiboUser<'a>),
    DeleteUser(MesiboUserRef<'a>),
    DeleteTokens { user: MesiboUserRef<'a>, token: Option<&'a str> },
    AddGroup { name: &'a str },
    SetGroup { gid: u64, name: &'a str },
    DeleteGroup { gid: u64 },
    EditMembers { gid: u64, addresses: &'a [String], delete: bool },
    Message(&'a MesiboMessage<'a>),
}

impl Call<'_> {
    pub fn op(&self) -> &'static str {
        match self {
            Self::AddUser(_) => "useradd",
            Self::DeleteUser(_) => "userdel",
            Self::DeleteTokens { .. } => DELETE_TOKENS_OP,
            Self::AddGroup { .. } => "groupadd",
            Self::SetGroup { .. } => "groupset",
            Self::DeleteGroup { .. } => "groupdel",
            Self::EditMembers { .. } => "groupeditmembers",
            Self::Message(_) => "message",
        }
    }

    /// Safe to send twice: a retry after a lost answer changes nothing more. `useradd` would issue a second token,
    /// `groupadd` a second group and `message` a second message, so those are sent once.
    pub fn idempotent(&self) -> bool {
        !matches!(self, Self::AddUser(_) | Self::AddGroup { .. } | Self::Message(_))
    }

    /// The request body, `application/x-www-form-urlencoded`, with the app token.
    pub fn form(&self, app_token: &str) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("op", self.op()).append_pair("token", app_token);
        let user = |form: &mut form_urlencoded::Serializer<String>, user: &MesiboUserRef| {
            match user {
                MesiboUserRef::Uid(uid) => form.append_pair("uid", &uid.to_string()),
                MesiboUserRef::Address(address) => form.append_pair("addr", address),
            };
        };
        match self {
            Self::AddUser(new) => {
                form.append_pair("addr", new.address)
                    .append_pair("name", new.name)
                    .append_pair("appid", new.app_id)
                    .append_pair("expiry", &new.expiry_minutes.to_string());
            }
            Self::DeleteUser(who) => {
                user(&mut form, who);
            }
            Self::DeleteTokens { user: who, token } => {
                user(&mut form, who);
                if let Some(token) = token {
                    form.append_pair("usertoken", token);
                }
            }
            Self::AddGroup { name } => {
                form.append_pair("name", name).append_pair("flag", GROUP_FLAG);
            }
            Self::SetGroup { gid, name } => {
                form.append_pair("gid", &gid.to_string()).append_pair("name", name);
            }
            Self::DeleteGroup { gid } => {
                form.append_pair("gid", &gid.to_string());
            }
            Self::EditMembers { gid, addresses, delete } => {
                form.append_pair("gid", &gid.to_string())
                    .append_pair("m", &addresses.join(","))
                    .append_pair("delete", if *delete { "1" } else { "0" });
            }
            Self::Message(message) => {
                form.append_pair("from", message.from)
                    .append_pair("to", &message.to.join(","))
                    .append_pair("type", NOTICE_TYPE)
                    .append_pair("flag", NOTICE_FLAGS)
                    .append_pair("expiry", NOTICE_EXPIRY_SECONDS)
                    .append_pair("forced", "1")
                    .append_pair("msg", message.body);
            }
        }
        form.finish()
    }
}

/// mesibo's answer. Numbers may come as JSON numbers or strings (its older answers quote everything). No `Debug`:
/// it may carry a user's token.
#[derive(Default, Deserialize)]
pub struct Answer {
    #[serde(default)]
    result: Flag,
    #[serde(default)]
    error: Option<String>,
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

/// Error codes that mean the user, or the group, named does not exist (mesibo does not document its codes; these are
/// the ones its API and on-premise server use for a wrong uid or gid).
const UNKNOWN_USER: &[&str] = &["NOUSER", "BADUID"];
const UNKNOWN_GROUP: &[&str] = &["NOGROUP", "BADGID"];

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
        match (ok, answer.error.as_deref()) {
            (true, _) => Ok(answer),
            (false, Some(code)) if UNKNOWN_USER.contains(&code) => Err(MesiboFailed::UnknownUser),
            (false, Some(code)) if UNKNOWN_GROUP.contains(&code) => Err(MesiboFailed::UnknownGroup),
            (false, code) => Err(MesiboFailed::Refused(code.unwrap_or("FAIL").to_owned())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(body: &[u8]) -> MesiboFailed {
        match Answer::parse(body) {
            Ok(_) => panic!("{} parsed as a success", String::from_utf8_lossy(body)),
            Err(failure) => failure,
        }
    }

    fn pairs(form: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(form.as_bytes()).into_owned().collect()
    }

    #[test]
    fn useradd_is_sent_as_documented() {
        let user = NewMesiboUser {
            address: "919876543210",
            name: "Ada & co",
            app_id: "com.mesibo.app",
            expiry_minutes: 525_600,
        };
        let form = pairs(&Call::AddUser(user).form("apptoken"));
        let expected = [
            ("op", "useradd"),
            ("token", "apptoken"),
            ("addr", "919876543210"),
            ("name", "Ada & co"),
            ("appid", "com.mesibo.app"),
            ("expiry", "525600"),
        ];
        assert_eq!(form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert!(!Call::AddUser(user).idempotent());
    }

    #[test]
    fn groups_and_messages_are_sent_as_documented() {
        let members = ["12015550100".to_owned(), "12015550101".to_owned()];
        let edit = pairs(&Call::EditMembers { gid: 102529, addresses: &members, delete: true }.form("t"));
        assert_eq!(
            &edit[2..],
            &[
                ("gid".into(), "102529".into()),
                ("m".into(), "12015550100,12015550101".into()),
                ("delete".into(), "1".into())
            ]
        );
        assert!(Call::EditMembers { gid: 1, addresses: &members, delete: false }.idempotent());
        let message = MesiboMessage { from: "12015550100", to: &members, body: r#"{"subject":"x"}"# };
        let sent = pairs(&Call::Message(&message).form("t"));
        let field = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(
            (field("op"), field("to"), field("msg")),
            (Some("message"), Some("12015550100,12015550101"), Some(r#"{"subject":"x"}"#))
        );
        assert_eq!((field("type"), field("flag"), field("expiry")), (Some("1"), Some("4"), Some("3600")));
        assert_eq!(pairs(&Call::DeleteUser(MesiboUserRef::Uid(456)).form("t"))[2], ("uid".into(), "456".into()));
    }

    #[test]
    fn answers_are_read_as_documented() {
        // docs.mesibo.com, backend API (legacy form): the useradd and groupadd examples.
        let user = br#"{"user":{"uid":123,"address":"xyz@example.com","token":"79a818d7a1b2c3d4"},"op":"useradd","result":true}"#;
        let answer = Answer::parse(user).unwrap();
        assert_eq!((answer.uid(), answer.user_token()), (Some(123), Some("79a818d7a1b2c3d4")));
        let group = br#"{"group":{"gid":102529},"op":"groupadd","result":true}"#;
        assert_eq!(Answer::parse(group).unwrap().gid(), Some(102529));
        assert_eq!(Answer::parse(br#"{"group":{"gid":"77"},"result":"true"}"#).unwrap().gid(), Some(77));
        // The documented failure.
        let failed = failure(br#"{"op":"someop","result":false,"error":"BADOP"}"#);
        assert_eq!(failed, MesiboFailed::Refused("BADOP".into()));
        assert_eq!(failure(br#"{"result":false}"#), MesiboFailed::Refused("FAIL".into()));
        // Cut or foreign bodies are no answer.
        for body in [&br#"{"user":{"uid":12"#[..], b"<html>502</html>", b"", br#"{"op":"useradd"}"#] {
            assert_eq!(failure(body), MesiboFailed::Unreachable, "{body:?}");
        }
        let unknown = failure(br#"{"op":"groupset","result":false,"error":"NOGROUP"}"#);
        assert_eq!(unknown, MesiboFailed::UnknownGroup);
        assert_eq!(failure(br#"{"op":"userdel","result":false,"error":"NOUSER"}"#), MesiboFailed::UnknownUser);
        assert!(!unknown.may_pass_later() && MesiboFailed::Unreachable.may_pass_later());
        assert!(MesiboFailed::Refused("AUTHFAIL".into()).may_pass_later());
        assert!(!MesiboFailed::Refused("FAIL".into()).may_pass_later());
    }
}
