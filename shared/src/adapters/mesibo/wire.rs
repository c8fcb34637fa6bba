//! mesibo's backend API on the wire: each call as the one JSON object mesibo's own helper POSTs for it (mesibo/samples
//! `backend-api/php/mesibohelper.php` and `mesiboapi.php`: `Content-Type: application/json`, the app token inside as
//! `token`), and the JSON answer (`{"op", "result": true|false, "error", "properties", "user": {uid, token}, "group":
//! {gid}}`) back ([`super::answer`]). README, mesibo, has the table of every call with its source;
//! `infra/local/fixtures` holds mesibo's documented examples, which the tests below compare with what is built
//! here, field by field.

use serde::Serialize;

use crate::usecase::ports::{MesiboMessage, NewMesiboUser};

/// A backend notification: a mesibo message of type 1 (the 2021 apps' filter for "from the backend"), transient
/// (flag 4: not stored for offline delivery beyond its expiry), expiring after an hour, as mesibo's backend sent them.
const NOTICE_TYPE: u32 = 1;
const NOTICE_FLAGS: u32 = 4;
const NOTICE_EXPIRY_SECONDS: u32 = 3600;

/// Groups where only members send (mesibo's group flag 0), as mesibo's own backend creates them.
const GROUP_FLAGS: u32 = 0;

/// A group's lifetime at mesibo, in seconds (`group.duration`; mesibo's default is one year, after which the group
/// would lapse there while it lives on here): five years from each write, since `groupadd` sets it and every
/// `groupset` (each rename, and each mirror of a change of the group) sets it again from then. Seconds, as the docs
/// and the console give a group's expiry; five years keeps `now + duration` (mesibo/on-premise stores `ets =
/// unix_timestamp() + duration`) within a signed 32-bit time until 2033.
pub const GROUP_DURATION_SECONDS: u64 = 5 * 365 * 86_400;

/// Each message or other activity in the group extends its lifetime by a year (`group.expiryext`, the docs' "auto
/// extend expiry on group activity, in seconds"), so a group in use never lapses between two writes.
pub const GROUP_EXTENSION_SECONDS: u64 = 365 * 86_400;

/// Every member may send, receive, publish, subscribe and list members: mesibo's helper's permissions for members
/// of a normal group.
const MEMBER_PERMISSIONS: Permissions = Permissions { send: true, recv: true, publish: true, sub: true, list: true };

/// One call to mesibo's backend API. No `Debug`: it may carry a user's token.
#[derive(Clone, Copy)]
pub enum Call<'a> {
    AddUser(NewMesiboUser<'a>),
    DeleteUser {
        address: &'a str,
    },
    /// `session`: that one session's token; `None`: mesibo's helper's call, every token of the user.
    EndSession {
        address: &'a str,
        session: Option<u32>,
    },
    AddGroup {
        name: &'a str,
    },
    SetGroup {
        gid: u64,
        name: &'a str,
    },
    DeleteGroup {
        gid: u64,
    },
    EditMembers {
        gid: u64,
        addresses: &'a [String],
        delete: bool,
    },
    Message(&'a MesiboMessage<'a>),
}

impl Call<'_> {
    pub fn op(&self) -> &'static str {
        match self {
            Self::AddUser(_) => "useradd",
            Self::DeleteUser { .. } => "userdel",
            Self::EndSession { .. } => "userset",
            Self::AddGroup { .. } => "groupadd",
            Self::SetGroup { .. } => "groupset",
            Self::DeleteGroup { .. } => "groupdel",
            Self::EditMembers { .. } => "groupeditmembers",
            Self::Message(_) => "message",
        }
    }

    /// Safe to send twice: a retry after a lost answer changes nothing more. `useradd` names its session, and mesibo
    /// keeps one token per session, so a second one hands back or replaces the token of the first, and the token
    /// of the answer that arrives is the one that works. `groupadd` would make a second group and `message` send a
    /// second message, so those are sent once.
    pub fn idempotent(&self) -> bool {
        !matches!(self, Self::AddGroup { .. } | Self::Message(_))
    }

    /// The request body: one JSON object with the app token.
    pub fn body(&self, app_token: &str) -> Vec<u8> {
        let op = self.op();
        let request = match *self {
            Self::AddUser(user) => Request::User {
                op,
                token: app_token,
                user: User {
                    address: user.address,
                    name: Some(user.name),
                    token: Some(UserToken {
                        appid: Some(user.app_id),
                        expiry: Some(user.expiry_minutes),
                        session: Some(user.session),
                        remove: None,
                    }),
                },
            },
            Self::DeleteUser { address } => {
                Request::User { op, token: app_token, user: User { address, name: None, token: None } }
            }
            Self::EndSession { address, session } => Request::User {
                op,
                token: app_token,
                user: User {
                    address,
                    name: None,
                    token: Some(UserToken { appid: None, expiry: None, session, remove: Some(true) }),
                },
            },
            Self::AddGroup { name } => Request::Group {
                op,
                token: app_token,
                group: Group {
                    gid: None,
                    name: Some(name),
                    flags: Some(GROUP_FLAGS),
                    duration: Some(GROUP_DURATION_SECONDS),
                    expiryext: Some(GROUP_EXTENSION_SECONDS),
                    ..Group::default()
                },
            },
            Self::SetGroup { gid, name } => Request::Group {
                op,
                token: app_token,
                group: Group {
                    gid: Some(gid),
                    name: Some(name),
                    flags: Some(GROUP_FLAGS),
                    duration: Some(GROUP_DURATION_SECONDS),
                    expiryext: Some(GROUP_EXTENSION_SECONDS),
                    ..Group::default()
                },
            },
            Self::DeleteGroup { gid } => {
                Request::Group { op, token: app_token, group: Group { gid: Some(gid), ..Group::default() } }
            }
            Self::EditMembers { gid, addresses, delete } => Request::Group {
                op,
                token: app_token,
                group: Group {
                    gid: Some(gid),
                    delete: Some(delete),
                    members: Some(Members {
                        m: addresses.join(","),
                        permissions: (!delete).then_some(MEMBER_PERMISSIONS),
                    }),
                    ..Group::default()
                },
            },
            Self::Message(message) => Request::Message {
                op,
                token: app_token,
                message: Message {
                    from: message.from,
                    to: message.to.join(","),
                    gid: 0,
                    r#type: NOTICE_TYPE,
                    expiry: NOTICE_EXPIRY_SECONDS,
                    flags: NOTICE_FLAGS,
                    // The sender is a user of this app, but may not be one at mesibo yet (signed up before mesibo mode,
                    // or its useradd still under way): mesibo then creates it rather than refusing.
                    forced: true,
                    message: message.body,
                },
            },
        };
        serde_json::to_vec(&request).expect("a request serialises")
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Request<'a> {
    User { op: &'a str, token: &'a str, user: User<'a> },
    Group { op: &'a str, token: &'a str, group: Group<'a> },
    Message { op: &'a str, token: &'a str, message: Message<'a> },
}

#[derive(Serialize)]
struct User<'a> {
    address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<UserToken<'a>>,
}

#[derive(Serialize)]
struct UserToken<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    appid: Option<&'a str>,
    /// Minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remove: Option<bool>,
}

#[derive(Serialize, Default)]
struct Group<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<u32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiryext: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Members>,
}

#[derive(Serialize)]
struct Members {
    /// Addresses, comma-separated.
    m: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Permissions>,
}

#[derive(Serialize, Clone, Copy)]
struct Permissions {
    send: bool,
    recv: bool,
    #[serde(rename = "pub")]
    publish: bool,
    sub: bool,
    list: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    /// Addresses, comma-separated.
    to: String,
    gid: u64,
    r#type: u32,
    /// Seconds.
    expiry: u32,
    flags: u32,
    forced: bool,
    message: &'a str,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::answer::Answer;
    use super::*;
    use crate::usecase::ports::MesiboFailed;

    /// mesibo's documented requests and answers, each with its source (infra/local/fixtures).
    fn fixture(name: &str) -> Value {
        let all: Value =
            serde_json::from_str(include_str!("../../../../infra/local/fixtures/mesibo-backend-api.json")).unwrap();
        let found = all["fixtures"].as_array().unwrap().iter().find(|f| f["name"] == name);
        found.unwrap_or_else(|| panic!("no fixture {name}")).clone()
    }

    fn sent(call: Call) -> Value {
        serde_json::from_slice(&call.body("<APP_TOKEN>")).unwrap()
    }

    /// What a request of ours may differ in from the documented one, each a choice README, mesibo, explains.
    #[derive(Default)]
    struct Leeway<'a> {
        /// Fields whose value must be the documented one (the others are the example's, such as an address).
        same: &'a [&'a str],
        /// Fields we send that the example does not show.
        extra: &'a [&'a str],
        /// Fields of the example we do not send.
        omitted: &'a [&'a str],
    }

    /// Every field of the documented request, with the same JSON type (an example's `null` says nothing of the
    /// type), within the leeway.
    fn assert_shape(ours: &Value, documented: &Value, path: &str, leeway: &Leeway) {
        match (ours, documented) {
            (Value::Object(ours), Value::Object(documented)) => {
                for (key, value) in documented {
                    let path = format!("{path}.{key}");
                    match ours.get(key) {
                        Some(our) => assert_shape(our, value, &path, leeway),
                        None => assert!(leeway.omitted.contains(&path.as_str()), "{path}: documented, not sent"),
                    }
                }
                for key in ours.keys().filter(|k| !documented.contains_key(*k)) {
                    let path = format!("{path}.{key}");
                    assert!(leeway.extra.contains(&path.as_str()), "{path}: sent, not documented");
                }
            }
            (_, Value::Null) => {}
            (ours, documented) => {
                let kind = |v: &Value| std::mem::discriminant(v);
                assert_eq!(kind(ours), kind(documented), "{path}: {ours} is not of the type of {documented}");
                if leeway.same.contains(&path) {
                    assert_eq!(ours, documented, "{path}");
                }
            }
        }
    }

    #[test]
    fn users_are_sent_as_mesibos_helper_sends_them() {
        let user = NewMesiboUser {
            address: "919876543210",
            name: "Ada & co",
            app_id: "com.mesibo.app",
            expiry_minutes: 525_600,
            session: 3,
        };
        let leeway = Leeway { same: &[".op", ".token"], extra: &[".user.token.session"], ..Leeway::default() };
        assert_shape(&sent(Call::AddUser(user)), &fixture("useradd")["request"], "", &leeway);
        assert_eq!(sent(Call::AddUser(user))["user"]["token"]["session"], 3);
        assert!(Call::AddUser(user).idempotent());

        let removal = &fixture("userset-remove-token")["request"];
        let ended = sent(Call::EndSession { address: "919876543210", session: Some(3) });
        let same = &[".op", ".token", ".user.token.remove"];
        assert_shape(&ended, removal, "", &Leeway { same, extra: &[".user.token.session"], ..Leeway::default() });
        let every = sent(Call::EndSession { address: "919876543210", session: None });
        assert_shape(&every, removal, "", &Leeway { same, ..Leeway::default() });
        let deleted = sent(Call::DeleteUser { address: "919876543210" });
        assert_shape(&deleted, &fixture("userdel")["request"], "", &Leeway { same: &[".op"], ..Leeway::default() });
    }

    #[test]
    fn groups_and_messages_are_sent_as_mesibos_helper_sends_them() {
        // Members are added by groupeditmembers, in batches, not with the group: no groupadd or groupset names any.
        let added = sent(Call::AddGroup { name: "Family" });
        let leeway =
            Leeway { same: &[".op", ".group.flags"], extra: &[".group.expiryext"], omitted: &[".group.members"] };
        assert_shape(&added, &fixture("groupadd")["request"], "", &leeway);
        assert_eq!(added["group"]["duration"], GROUP_DURATION_SECONDS);
        let set = sent(Call::SetGroup { gid: 102529, name: "Family" });
        let leeway = Leeway {
            same: &[".op", ".group.flags"],
            extra: &[".group.duration", ".group.expiryext"],
            omitted: &[".group.members"],
        };
        assert_shape(&set, &fixture("groupset")["request"], "", &leeway);
        let same = Leeway { same: &[".op"], ..Leeway::default() };
        assert_shape(&sent(Call::DeleteGroup { gid: 102529 }), &fixture("groupdel")["request"], "", &same);

        let members = ["12015550100".to_owned(), "12015550101".to_owned()];
        let edit = Leeway { same: &[".op", ".group.delete", ".group.members.permissions"], ..Leeway::default() };
        let add = sent(Call::EditMembers { gid: 102529, addresses: &members, delete: false });
        assert_shape(&add, &fixture("groupeditmembers-add")["request"], "", &edit);
        assert_eq!(add["group"]["members"]["m"], "12015550100,12015550101");
        let remove = sent(Call::EditMembers { gid: 102529, addresses: &members, delete: true });
        assert_shape(&remove, &fixture("groupeditmembers-delete")["request"], "", &edit);
        assert!(Call::EditMembers { gid: 1, addresses: &members, delete: false }.idempotent());

        let message = MesiboMessage { from: "12015550100", to: &members, body: r#"{"subject":"x"}"# };
        let sent_message = sent(Call::Message(&message));
        let leeway = Leeway { same: &[".op", ".message.forced"], ..Leeway::default() };
        assert_shape(&sent_message, &fixture("message")["request"], "", &leeway);
        let fields = &sent_message["message"];
        assert_eq!((&fields["to"], &fields["message"]), (&Value::from(members.join(",")), &Value::from(message.body)));
        assert_eq!((&fields["type"], &fields["flags"], &fields["expiry"]), (&1.into(), &4.into(), &3600.into()));
        assert_eq!(fields["gid"], 0, "to people, not a group");
        assert!(!Call::Message(&message).idempotent());
    }

    #[test]
    fn every_call_is_one_json_object_with_the_app_token() {
        let members = ["12015550100".to_owned()];
        let message = MesiboMessage { from: "12015550100", to: &members, body: "{}" };
        let user = NewMesiboUser { address: "1", name: "", app_id: "a.b", expiry_minutes: 1, session: 1 };
        let calls = [
            Call::AddUser(user),
            Call::DeleteUser { address: "1" },
            Call::EndSession { address: "1", session: None },
            Call::AddGroup { name: "g" },
            Call::SetGroup { gid: 1, name: "g" },
            Call::DeleteGroup { gid: 1 },
            Call::EditMembers { gid: 1, addresses: &members, delete: true },
            Call::Message(&message),
        ];
        for call in calls {
            let body = sent(call);
            assert!(body.is_object(), "{}", call.op());
            assert_eq!((&body["op"], &body["token"]), (&Value::from(call.op()), &Value::from("<APP_TOKEN>")));
        }
    }

    #[test]
    fn answers_are_read_as_documented() {
        let user = fixture("useradd")["answer"].to_string();
        let answer = Answer::parse(user.as_bytes()).unwrap();
        assert!(answer.uid().is_some() && answer.user_token().is_some_and(|t| !t.is_empty()));
        let group = fixture("groupadd")["answer"].to_string();
        assert_eq!(Answer::parse(group.as_bytes()).unwrap().gid(), Some(102529));
        assert_eq!(Answer::parse(br#"{"group":{"gid":"77"},"result":"true"}"#).unwrap().gid(), Some(77));
        // The documented failures.
        for (name, code) in [("error-badop", "BADOP"), ("error-authfail", "AUTHFAIL")] {
            let failure = fixture(name)["answer"].to_string();
            assert_eq!(Answer::parse(failure.as_bytes()).err(), Some(MesiboFailed::Refused(code.into())));
        }
        assert_eq!(Answer::parse(br#"{"result":false}"#).err(), Some(MesiboFailed::Refused("FAIL".into())));
        // Cut or foreign bodies are no answer.
        for body in [&br#"{"user":{"uid":12"#[..], b"<html>502</html>", b"", br#"{"op":"useradd"}"#] {
            assert_eq!(Answer::parse(body).err(), Some(MesiboFailed::Unreachable), "{body:?}");
        }
        // A value naming nothing mesibo has, by the field it names.
        let unknown = br#"{"op":"groupset","result":false,"error":"INVALIDVALUE","properties":["gid"]}"#;
        assert_eq!(Answer::parse(unknown).err(), Some(MesiboFailed::UnknownGroup));
        let nobody = br#"{"op":"userdel","result":false,"error":"INVALIDVALUE","properties":["address"]}"#;
        assert_eq!(Answer::parse(nobody).err(), Some(MesiboFailed::UnknownUser));
        let other = br#"{"op":"useradd","result":false,"error":"INVALIDVALUE","properties":["expiry"]}"#;
        assert_eq!(Answer::parse(other).err(), Some(MesiboFailed::Refused("INVALIDVALUE".into())));
    }

    #[test]
    fn which_refusals_may_pass_later() {
        for code in ["AUTHFAIL", "TOKENBREACH", "QUOTAEXCEEDED", "CREDITSEXCEEDED", "UNUSEDTRIALUSERS", "RATELIMITED"] {
            assert!(MesiboFailed::Refused(code.into()).may_pass_later(), "{code}");
        }
        for code in ["FAIL", "BADVALUE", "MISSINGPARAMS", "BADPAYLOAD", "BADOP"] {
            assert!(!MesiboFailed::Refused(code.into()).may_pass_later(), "{code}");
        }
        assert!(MesiboFailed::Unreachable.may_pass_later() && !MesiboFailed::UnknownGroup.may_pass_later());
        assert!(MesiboFailed::Refused("QUOTAEXCEEDED".into()).is_the_accounts());
        assert!(!MesiboFailed::Refused("RATELIMITED".into()).is_the_accounts());
    }
}
