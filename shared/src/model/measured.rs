//! What the operator counts beyond the logs (README, Deploy: the dashboard and alarms): codes sent, codes right and
//! wrong, requests refused by a limit, numbers charged to lookup quotas. None names a person, a number, an address
//! or a country: a count, and for a limit only its kind. Reported through `crate::usecase::ports::Metrics`.

/// The kinds of limit that are no [`super::rate_limit::RateLimit`] counter: a code requested again before the send
/// policy allows it (or while another request for the number is sending one).
pub const CODE_RESENDS: &str = "code-resends";
/// Every attempt of the pending code is spent.
pub const CODE_ATTEMPTS: &str = "code-attempts";
/// A contact lookup over its owner's quota (`super::lookup_quota`).
pub const LOOKUP_QUOTA: &str = "lookup-quota";
/// A group change over one of its maker's allowances of the day (groups created, members added, people told).
pub const GROUP_ALLOWANCES: &str = "group-allowances";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measured {
    /// A code's SMS was handed to the SMS service (test numbers get none); `new_number`: to a number without an
    /// account, the ones an SMS pumper uses.
    CodeSent { new_number: bool },
    /// A code tried at sign-in or to confirm an account's deletion was right.
    CodeRight,
    /// … was wrong.
    CodeWrong,
    /// A request was refused by a limit: its kind only (`RateLimit::kind` or a constant above), a closed set.
    LimitHit { kind: String },
    /// Numbers one contact lookup charged to its owner's quota (none are not reported).
    LookupsCharged { numbers: u64 },
    /// mesibo refused a call for a reason about the app's account (`MESIBO_ACCOUNT_REFUSALS`, a closed set): its code.
    MesiboAccountRefused { code: String },
}
