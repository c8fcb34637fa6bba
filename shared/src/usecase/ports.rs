//! What the use cases need from the outside world, as traits: the table (one trait per aggregate), SMS, events,
//! push and metrics. The adapters (`crate::adapters`) implement them; the use cases see only these, so the arrows
//! point inward.
//!
//! Every store call either does all it says or, failing, reports [`StoreUnavailable`] (details are logged where it
//! happens); conditional writes report their condition as a typed error.

use std::future::Future;

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::code::{CodeRecord, CodeSlot, NewCode, ReservedAttempt};
use crate::model::devices::RegisteredDevice;
use crate::model::events::ProfileNews;
use crate::model::events::{ContactEvent, FanoutTask, NotifyRun};
use crate::model::group::{Group, MemberChange, Membership};
use crate::model::lookup_quota::{Charge, LookupDay};
use crate::model::measured::Measured;
use crate::model::phone::PhoneNumber;
use crate::model::profile::{ContactProfile, Profile, ShownPhoto};
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::{AccessToken, CodeKey, OtpCode, TokenHash};
use crate::model::sessions::SessionSlot;

/// The store could not be reached or refused the call (after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the table is unavailable")]
pub struct StoreUnavailable;

impl From<StoreUnavailable> for ApiError {
    fn from(_: StoreUnavailable) -> Self {
        Self::Unavailable
    }
}

/// Profiles read in bulk are fetched this many at a time (DynamoDB BatchGetItem's limit).
pub const PROFILES_PER_READ: usize = 100;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PutCodeError {
    #[error("another code was issued concurrently")]
    Conflict,
    /// The limit at this index of the ones given is reached.
    #[error("a limit is reached")]
    Limited(usize),
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error("no code is pending")]
    NoCode,
    #[error("the code expired")]
    Expired,
    #[error("all attempts are spent")]
    Exhausted { next_send_at: Timestamp },
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// A sign-in, written at once: the code consumed, the token stored, on a first sign-in the profile created.
pub struct SignIn<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a CodeSlot,
    pub attempt: &'a ReservedAttempt,
    pub token: &'a TokenHash,
    pub token_expires_at: Timestamp,
    pub now: Timestamp,
    /// `Some` for a first sign-in: the profile to create. `None`: the profile must still exist.
    pub new_profile: Option<&'a Profile>,
    /// mesibo mode: the session number this sign-in claimed (`TokenStore::claim_session`) and its claim, which the
    /// token is bound to only if the claim still holds it.
    pub session: Option<(u32, &'a str)>,
    /// mesibo's id of the user, to keep on an existing profile that lacks it (a new profile carries its own).
    pub set_mesibo_uid: Option<u64>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the code was used or replaced meanwhile")]
    CodeGone,
    #[error("the profile was created or deleted meanwhile")]
    ProfileChanged,
    #[error("another sign-in took the session number meanwhile")]
    SessionTaken,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub phone: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// mesibo mode: the device's session number at mesibo (none on tokens of standalone mode, or from before).
    pub session: Option<u32>,
}

/// A sign-in's claim on a session number (`model::sessions`).
#[derive(Debug, Clone)]
pub struct SessionClaim<'a> {
    pub number: u32,
    /// Random, the sign-in's own: the token is bound to the number only while it holds it.
    pub claim: &'a str,
    /// The slot as read, when the number was taken before: taken only if it is unchanged since.
    pub replacing: Option<&'a SessionSlot>,
    /// The token of a device signed out to make room: revoked with the claim.
    pub evicted: Option<TokenHash>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaveGroupError {
    #[error("the group changed since it was read")]
    Conflict,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// A position in a walk over every group; opaque to everyone but the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct GroupCursor(pub String);

/// Groups, each with the cursor after it, and where the next page starts (`None`: the walk is done).
pub type GroupsPage = (Vec<(Group, GroupCursor)>, Option<GroupCursor>);

/// Where a notification run got to: recipients up to `last_recipient` (in index order) have their event; a paged
/// run also knows where the page after it starts (`next_page`) and whether that page is queued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyProgress {
    pub last_recipient: Option<String>,
    pub next_page: Option<String>,
    pub next_queued: bool,
}

/// A device registered for push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device<'a> {
    pub platform: &'a str,
    /// The device token's fingerprint: its identity in the store.
    pub token_digest: &'a str,
    pub notify_token: &'a str,
    /// The SNS platform endpoint, when a platform application is configured.
    pub endpoint: Option<&'a str>,
    /// The hash of the access token it was registered with.
    pub registered_with: &'a str,
}

/// A person's devices, and the version of the list they were read at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceList {
    pub devices: Vec<RegisteredDevice>,
    pub version: i64,
    /// The person has a live profile (not none, not a tombstone): only then can the list change.
    pub live: bool,
}

/// One change of a person's devices, written only if the list is still at `version`.
#[derive(Debug, Clone)]
pub struct DeviceChange<'a> {
    pub version: i64,
    pub add: Option<Device<'a>>,
    /// Token digests of the devices that go.
    pub remove: Vec<&'a str>,
    /// The endpoints of every device there afterwards: the profile's copy, which the notifier reads.
    pub endpoints: Vec<String>,
    pub now: Timestamp,
}

/// Devices removed in one change at most (a DynamoDB transaction holds 100 writes; a longer list from before the
/// limit is shortened over several changes).
pub const DEVICE_REMOVALS_PER_CHANGE: usize = 50;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeDevicesError {
    #[error("the devices changed since they were read, or the profile is gone")]
    Conflict,
    /// A device is added only while the token registering it is live: a logout that revoked it meanwhile wins.
    #[error("the token registering the device was revoked")]
    SignedOut,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

type Stored<T> = Result<T, StoreUnavailable>;

/// One-time codes and the sign-in transaction.
pub trait CodeStore: Sync {
    fn code_record(&self, slot: &CodeSlot) -> impl Future<Output = Stored<Option<CodeRecord>>> + Send;

    /// Replaces any previous code (and resets its attempts) if nobody else did since `previous` was read, and counts
    /// the send against `limits` — all at once: a send over any limit stores no code and counts nothing, and a
    /// stored code has always been counted.
    fn put_code(
        &self,
        slot: &CodeSlot,
        code: &NewCode,
        previous: Option<&CodeRecord>,
        limits: &[RateLimit],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), PutCodeError>> + Send;

    /// Makes the code issued at `issued_at` unusable (its SMS could not be sent). Keeps the send state.
    fn withdraw_code(&self, slot: &CodeSlot, issued_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Counts one attempt against the pending code, atomically, and returns the code's digest to compare against.
    fn reserve_attempt(
        &self,
        slot: &CodeSlot,
        now: Timestamp,
        max_attempts: u32,
    ) -> impl Future<Output = Result<ReservedAttempt, ReserveError>> + Send;

    /// Gives back an attempt whose code was right but whose sign-in could not finish (mesibo failed): the person
    /// retries with the same code, as many times as the outage lasts. Only while that code is still pending.
    fn release_attempt(&self, slot: &CodeSlot, attempt: &ReservedAttempt) -> impl Future<Output = Stored<()>> + Send;

    /// Spends the pending code (re-authentication for a sensitive operation): it works once.
    fn consume_code(
        &self,
        slot: &CodeSlot,
        attempt: &ReservedAttempt,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Code consumed, token stored and, on a first sign-in, profile created: all of it or none, and a code can be
    /// consumed once only however many requests race for it.
    fn sign_in(&self, sign_in: SignIn<'_>) -> impl Future<Output = Result<(), SignInError>> + Send;
}

/// Profiles, tombstones, and whatever else is kept under a person.
pub trait ProfileStore: Sync {
    /// The live profile (a deleted account's tombstone is none: signing up again starts afresh).
    fn profile(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Option<Profile>>> + Send;

    /// Changes what contacts see and moves `updated_at`; `None` if there is no live profile.
    fn update_profile(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        status: Option<&str>,
        photo: Option<&ShownPhoto>,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<ContactProfile>>> + Send;

    /// Notes that every token of the person was revoked (mesibo mode: the stream then ends them at mesibo too).
    fn mark_signed_out(&self, phone: &PhoneNumber, now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Notes that mesibo has been told of the person's deletion or sign-out at `at` (see
    /// `ContactProfile::mesibo_cleanup_due`); never moves the note back.
    fn confirm_mesibo_cleanup(&self, e164: &str, at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Replaces the profile by a tombstone: the number and when it went, nothing else (mesibo's user deletion names
    /// the user by address).
    fn tombstone_profile(&self, phone: &PhoneNumber, now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Profiles (and tombstones) of whichever of `numbers` have one; any order.
    fn contact_profiles(&self, numbers: &[String]) -> impl Future<Output = Stored<Vec<ContactProfile>>> + Send;

    /// The number's profile (or tombstone) as it is now, read strongly consistent: for work that must neither act on
    /// an account deleted a moment ago nor miss one created a moment ago.
    fn profile_now(&self, e164: &str) -> impl Future<Output = Stored<Option<ContactProfile>>> + Send;

    /// Everything else kept under the person (code and send state, push devices) and their notification progress;
    /// not the profile and address book, and not the lookup quota, which is not the account's (it outlives the
    /// account, so deleting and signing up again does not reset it). How many items went.
    fn delete_personal_items(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<usize>> + Send;
}

/// Access tokens, by hash.
pub trait TokenStore: Sync {
    /// The token's record, if it exists. Expiry is for the caller to judge.
    fn token(&self, token: &TokenHash) -> impl Future<Output = Stored<Option<TokenRecord>>> + Send;

    fn tokens_of(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Vec<TokenHash>>> + Send;

    /// A revoked token is an unknown token from then on.
    fn revoke_tokens(&self, hashes: &[TokenHash]) -> impl Future<Output = Stored<()>> + Send;

    /// The person's mesibo session numbers as taken now (read consistently).
    fn sessions(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Vec<SessionSlot>>> + Send;

    /// Takes a session number for a sign-in, with the evicted device's token if any; `false`: another sign-in took
    /// it since it was read.
    fn claim_session(
        &self,
        phone: &PhoneNumber,
        claim: &SessionClaim<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Gives back a number this sign-in claimed but did not bind a token to (it failed), as stale (mesibo may hold a
    /// token for it): only while the claim is still the one named. `false`: another sign-in holds it by now.
    fn abandon_claim(&self, phone: &PhoneNumber, number: u32, claim: &str)
    -> impl Future<Output = Stored<bool>> + Send;

    /// Gives session numbers back (logout): each only while the token bound to it is the one named; `None`: every
    /// number of the person.
    fn release_sessions(
        &self,
        phone: &PhoneNumber,
        sessions: Option<&[(u32, TokenHash)]>,
    ) -> impl Future<Output = Stored<()>> + Send;
}

/// The contact graph: address-book edges, who has whom, and the lookup quota.
pub trait ContactStore: Sync {
    /// The E.164 numbers in `owner`'s stored address book.
    fn address_book(&self, owner: &str) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// Owners of the address books that hold `number`, in index order, after `after` when resuming.
    fn who_has(&self, number: &str, after: Option<&str>) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// One page of [`Self::who_has`]: at most `limit` owners after `after`, and whether more may follow.
    fn who_has_page(
        &self,
        number: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Stored<(Vec<String>, bool)>> + Send;

    /// Adds edges owner → number (registered or not: they are how a later join finds its audience).
    fn add_contacts(&self, owner: &str, numbers: &[String], now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    fn remove_contacts(&self, owner: &str, numbers: &[String]) -> impl Future<Output = Stored<()>> + Send;

    /// Which of `numbers` are in `owner`'s stored address book (any order).
    fn in_address_book(&self, owner: &str, numbers: &[String]) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// The stored days, from `first_day` to `last_day`, of the lookup quota named `quota`
    /// ([`crate::model::lookup_quota::LookupQuota::name`]): each day's count and charged tags.
    fn lookup_days(
        &self,
        quota: &str,
        first_day: i64,
        last_day: i64,
    ) -> impl Future<Output = Stored<Vec<LookupDay>>> + Send;

    /// Adds the charge's tags and their count to its day, both at once, if the day's count stays within
    /// `charge.day_limit`; false when it would not (nothing changes).
    fn charge_lookups(&self, quota: &str, charge: &Charge) -> impl Future<Output = Stored<bool>> + Send;
}

/// Groups and who belongs to them.
pub trait GroupStore: Sync {
    fn group(&self, gid: u64) -> impl Future<Output = Stored<Option<Group>>> + Send;

    fn groups(&self, gids: &[u64]) -> impl Future<Output = Stored<Vec<Group>>> + Send;

    /// The groups `member` belongs to, and those they left (kept so a delta can send the tombstone).
    fn memberships_of(&self, member: &str) -> impl Future<Output = Stored<Vec<Membership>>> + Send;

    /// Writes the group if nobody else did since `group.version` was read (a new group: if the id is unused), then
    /// brings who-belongs-where in line with `change`.
    fn save_group(
        &self,
        group: &Group,
        change: &MemberChange,
    ) -> impl Future<Output = Result<(), SaveGroupError>> + Send;

    /// One page of a walk over every group (deleted ones too), each with the cursor that goes on after it, and where
    /// the next page starts (`None`: done).
    fn groups_page(&self, from: Option<&GroupCursor>) -> impl Future<Output = Stored<GroupsPage>> + Send;

    /// Everyone who left (or was removed from) the group and has not come back.
    fn former_members(&self, gid: u64) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// Forgets the person's memberships (after the groups themselves no longer list them).
    fn delete_memberships(&self, phone: &PhoneNumber, gids: &[u64]) -> impl Future<Output = Stored<()>> + Send;

    /// Bars each pair named (`model::group::readd_bar_name`) until `until`: its adder may not add its member again.
    fn bar_readding(&self, bars: &[String], until: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Which of the pairs named still hold a bar at `now`.
    fn readding_barred(&self, bars: &[String], now: Timestamp) -> impl Future<Output = Stored<Vec<String>>> + Send;
}

/// Counters of the abuse limits. A split limit (`shards` > 1: the SMS limits) is counted only where a code is
/// stored ([`CodeStore::put_code`]) and read by [`RateLimitStore::used`]; the others here take limits of one item.
pub trait RateLimitStore: Sync {
    /// Counts one more, if that stays within the limit. False: the limit is reached (nothing was counted).
    fn take(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;

    /// Counts one more against every limit at once, before the work they guard: `enforced` ones only if that stays
    /// within each (`Err(i)`: `enforced[i]` is reached, and nothing was counted), `counted` ones without a ceiling.
    fn take_all(
        &self,
        enforced: &[RateLimit],
        counted: &[RateLimit],
        now: Timestamp,
    ) -> impl Future<Output = Stored<Result<(), usize>>> + Send;

    /// Gives back what a request took at `taken_at` whose outcome turned out legitimate (a right code).
    fn give_back(&self, limits: &[RateLimit], taken_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// How many were counted in the current window.
    fn used(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<i64>> + Send;

    /// Counts each limit's amount, all or none at once: only if every one stays within its limit. False: some limit
    /// would be passed (nothing was counted).
    fn take_amounts(&self, takes: &[(RateLimit, i64)], now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;

    /// True for exactly one caller per window: lets a flood of rejections log one line, not one per request.
    fn first_in_window(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;
}

/// Devices registered for push.
pub trait DeviceStore: Sync {
    /// The person's devices, read consistently after the version, so a change written against that version
    /// cannot be based on a list older than it.
    fn devices(&self, owner: &str) -> impl Future<Output = Stored<DeviceList>> + Send;

    /// Adds and removes devices and rewrites the profile's endpoints (where the notifier finds them with the
    /// profile it reads anyway), all at once, if the list is still at `change.version` and the profile live.
    fn change_devices(
        &self,
        owner: &str,
        change: DeviceChange<'_>,
    ) -> impl Future<Output = Result<(), ChangeDevicesError>> + Send;

    /// Makes `owner` the one owner of a device token (by its digest): the previous owner, if another.
    fn own_device_token(&self, digest: &str, owner: &str) -> impl Future<Output = Stored<Option<String>>> + Send;

    /// Makes `previous` the owner of a device token again, if `owner` still is (a move that could not be finished).
    fn return_device_token(&self, digest: &str, owner: &str, previous: &str)
    -> impl Future<Output = Stored<()>> + Send;

    /// Gives up `owner`'s ownership of a device token: `false` if someone else owns it now (then its endpoint is
    /// theirs, not to be deleted).
    fn disown_device_token(&self, digest: &str, owner: &str) -> impl Future<Output = Stored<bool>> + Send;
}

/// Direct uploads started and not yet stored, each bound to the account that was charged for it.
pub trait PendingUploadStore: Sync {
    /// Records an upload `owner` started (and was charged for), until `expires_at`.
    fn hold_upload(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Takes the upload for `owner`, atomically, and tells until when it was held: `None` if there is none (or it
    /// expired), it is someone else's, or another request took it first. Whoever took it either stores it or gives
    /// it back with [`Self::hold_upload`].
    fn take_upload_hold(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<Timestamp>>> + Send;
}

/// Resume points of the notifier.
pub trait NotifyProgressStore: Sync {
    fn notify_progress(&self, run: &NotifyRun) -> impl Future<Output = Stored<NotifyProgress>> + Send;

    fn save_notify_progress(
        &self,
        run: &NotifyRun,
        last_recipient: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Takes the run for its caller until `until` and returns its progress so far, unless another holds it still
    /// (`None`): one copy of a queued page at work at a time.
    fn claim_run(
        &self,
        run: &NotifyRun,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Stored<Option<NotifyProgress>>> + Send;

    /// Where the page after this run starts: `next` unless an earlier attempt fixed it already (then that one).
    fn fix_next_page(
        &self,
        run: &NotifyRun,
        next: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<String>> + Send;

    /// The run's next page (or first page) is on the queue.
    fn mark_next_queued(&self, run: &NotifyRun, expires_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Records a person's news as told (kept until `expires_at`), so that the mesibo sync tells it as well: written
    /// once per news (writing it again changes nothing, and the stream then carries nothing).
    fn record_told(&self, news: &ProfileNews, expires_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;
}

/// The whole table, as the composition root hands it to the use cases.
pub trait Store:
    CodeStore
    + ProfileStore
    + TokenStore
    + ContactStore
    + GroupStore
    + RateLimitStore
    + DeviceStore
    + NotifyProgressStore
    + PendingUploadStore
{
}

impl<T> Store for T where
    T: CodeStore
        + ProfileStore
        + TokenStore
        + ContactStore
        + GroupStore
        + RateLimitStore
        + DeviceStore
        + NotifyProgressStore
        + PendingUploadStore
{
}

/// The code keys could not be read (Secrets Manager unreachable, after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the code keys are unavailable")]
pub struct KeysUnavailable;

impl From<KeysUnavailable> for ApiError {
    fn from(_: KeysUnavailable) -> Self {
        Self::Unavailable
    }
}

/// The keys one-time codes are digested under. New codes are made under the current key; a pending code is checked
/// under the key it names, so codes issued before a rotation (or by an instance that has not seen it yet) stay valid
/// through the overlap.
pub trait CodeKeys: Sync {
    fn signing_key(&self, now: Timestamp) -> impl Future<Output = Result<CodeKey, KeysUnavailable>> + Send;
    fn key(&self, version: Option<&str>) -> impl Future<Output = Result<CodeKey, KeysUnavailable>> + Send;
}

/// The adapters a deployment runs on, one per port.
pub trait Ports: 'static {
    type Store: Store;
    type CodeKeys: CodeKeys;
    type Sms: SmsGateway;
    type Push: PushRegistry;
    type Mesibo: Mesibo;
    type Files: FileStore;
    type Metrics: Metrics;
}

/// File storage could not be reached or refused the call (after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("file storage is unavailable")]
pub struct FilesUnavailable;

impl From<FilesUnavailable> for ApiError {
    fn from(_: FilesUnavailable) -> Self {
        Self::FilesUnavailable
    }
}

/// Where a stored file is, by what it is for: photos, attachments, and attachments uploaded directly whose content
/// has not been checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileArea {
    Photos,
    Attachments,
    Pending,
}

/// A request the client makes itself, straight to storage (a presigned upload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectUpload {
    pub url: String,
    pub method: &'static str,
    /// Headers the request must carry exactly as given (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The start of a stored file, and what identifies the whole of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStart {
    pub bytes: Vec<u8>,
    pub size: u64,
    /// Changes whenever the file is written again (S3's ETag).
    pub version: String,
}

/// Photos and attachments (S3). Names are [`crate::model::media::FileName`]s; an area is a prefix.
pub trait FileStore: Sync {
    fn put(
        &self,
        area: FileArea,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), FilesUnavailable>> + Send;

    /// Gone already counts as deleted.
    fn delete(&self, area: FileArea, name: &str) -> impl Future<Output = Result<(), FilesUnavailable>> + Send;

    /// Up to `max_bytes` from the start of the file, its whole size and its version; `None` if there is no such
    /// file, or (with `version`) if it is no longer that version.
    fn read_start(
        &self,
        area: FileArea,
        name: &str,
        max_bytes: u64,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Option<FileStart>, FilesUnavailable>> + Send;

    /// Copies a file to another area and name, as `content_type`, if it is still `version`: `false` if it is not
    /// (or is gone).
    fn copy(
        &self,
        from: (FileArea, &str),
        version: &str,
        to: (FileArea, &str),
        content_type: &str,
    ) -> impl Future<Output = Result<bool, FilesUnavailable>> + Send;

    /// A PUT the client sends itself, of exactly `size` bytes, valid for `expires_in` seconds.
    fn upload_url(
        &self,
        area: FileArea,
        name: &str,
        size: u64,
        expires_in: u64,
    ) -> impl Future<Output = Result<DirectUpload, FilesUnavailable>> + Send;

    /// A GET anyone holding it may send, valid for `expires_in` seconds, answered as `content_type` and as an
    /// attachment (a browser saves it, never renders it in the link's origin).
    fn download_url(
        &self,
        area: FileArea,
        name: &str,
        content_type: &str,
        expires_in: u64,
    ) -> impl Future<Output = Result<String, FilesUnavailable>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SMS could not be published")]
pub struct SmsFailed;

/// Sends codes by SMS.
pub trait SmsGateway: Sync {
    fn send_code(&self, phone: &PhoneNumber, code: &OtpCode) -> impl Future<Output = Result<(), SmsFailed>> + Send;
}

/// Counts outcomes for the operator's dashboard and alarms. Called where the outcome is known, once per outcome;
/// it never fails the request (a count that cannot be written is lost, as a log line would be).
pub trait Metrics: Sync {
    fn record(&self, measured: Measured, at: Timestamp);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events could not be published")]
pub struct PublishFailed;

/// Where events go.
pub trait EventSink: Sync {
    /// Publishes up to [`crate::model::events::PUBLISH_BATCH`] events; succeeds only if every one was accepted.
    fn publish(&self, events: &[ContactEvent]) -> impl Future<Output = Result<(), PublishFailed>> + Send;

    /// Pushes one event to one device's platform endpoint.
    fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fan-out task could not be queued")]
pub struct QueueFailed;

/// Where fan-out work waits for the fan-out function (SQS).
pub trait FanoutQueue: Sync {
    /// Queues one task, delivered after `delay_seconds` (at most 900, SQS's longest delay).
    fn enqueue(&self, task: &FanoutTask, delay_seconds: u32) -> impl Future<Output = Result<(), QueueFailed>> + Send;
}

/// Registers devices with a push service.
pub trait PushRegistry: Sync {
    /// The endpoint of a device (created, or the existing one for a token the service already knows).
    fn create_endpoint(
        &self,
        application_arn: &str,
        device_token: &str,
    ) -> impl Future<Output = Result<String, PublishFailed>> + Send;

    /// Deletes an endpoint (a device that was replaced or signed out); gone already counts as deleted.
    fn delete_endpoint(&self, endpoint_arn: &str) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}

/// Why a call to mesibo did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MesiboFailed {
    /// No answer in time, no connection, an HTTP error or an answer that is not mesibo's JSON.
    #[error("mesibo could not be reached or gave no usable answer")]
    Unreachable,
    /// The user named does not exist at mesibo.
    #[error("mesibo does not know that user")]
    UnknownUser,
    /// The group named does not exist at mesibo.
    #[error("mesibo does not know that group")]
    UnknownGroup,
    /// mesibo answered `result: false` with this error code (`AUTHFAIL`, `BADOP`, …).
    #[error("mesibo refused: {0}")]
    Refused(String),
}

/// mesibo's codes for a refusal about the app's account, not the call: a wrong or breached app token, a quota, the
/// credits or the trial spent (mesibo/on-premise's error codes). Nothing works until the operator acts, so each is
/// logged as an error and counted (`MesiboAccountRefused`, with an alarm), and the call may pass once they have.
pub const MESIBO_ACCOUNT_REFUSALS: &[&str] =
    &["AUTHFAIL", "TOKENBREACH", "QUOTAEXCEEDED", "CREDITSEXCEEDED", "UNUSEDTRIALUSERS"];

impl MesiboFailed {
    /// Trying again later may help: no answer, a refusal about the app's account (the operator fixes it), or
    /// mesibo's rate limit.
    pub fn may_pass_later(&self) -> bool {
        match self {
            Self::Unreachable => true,
            Self::UnknownUser | Self::UnknownGroup => false,
            Self::Refused(code) => self.is_the_accounts() || code == "RATELIMITED",
        }
    }

    /// A refusal about the app's account ([`MESIBO_ACCOUNT_REFUSALS`]).
    pub fn is_the_accounts(&self) -> bool {
        matches!(self, Self::Refused(code) if MESIBO_ACCOUNT_REFUSALS.contains(&code.as_str()))
    }
}

/// A user as mesibo knows them, with a new access token for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesiboUser {
    pub uid: u64,
    pub token: AccessToken,
}

/// Who to add (or whose session to renew) at mesibo.
#[derive(Debug, Clone, Copy)]
pub struct NewMesiboUser<'a> {
    /// E.164 digits without `+`: the address mesibo apps use for a person.
    pub address: &'a str,
    pub name: &'a str,
    pub app_id: &'a str,
    pub expiry_minutes: i64,
    /// The device's session (`model::sessions`): mesibo keeps one token per user session.
    pub session: u32,
}

/// A transient backend notification (mesibo's `message`): `body` is JSON the apps parse.
#[derive(Debug, Clone)]
pub struct MesiboMessage<'a> {
    /// A mesibo user address.
    pub from: &'a str,
    /// Addresses, at most [`MESIBO_RECIPIENTS_PER_MESSAGE`].
    pub to: &'a [String],
    pub body: &'a str,
}

/// Recipients named in one `message` call (mesibo takes a comma-separated list).
pub const MESIBO_RECIPIENTS_PER_MESSAGE: usize = 100;

/// Members named in one `groupeditmembers` call.
pub const MESIBO_MEMBERS_PER_EDIT: usize = 200;

/// mesibo's backend API: users, groups and messages at the real-time service. Only in mesibo mode. Users are named by
/// address (E.164 digits without `+`), as mesibo's helper names them.
pub trait Mesibo: Sync {
    /// Creates the user if new and issues the token of one session (replacing that session's earlier token, or
    /// handing it back while it lives).
    fn add_user(&self, user: NewMesiboUser<'_>) -> impl Future<Output = Result<MesiboUser, MesiboFailed>> + Send;

    /// Deletes the user and every token of theirs; an unknown user is already deleted.
    fn delete_user(&self, address: &str) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// Ends the token of one session (`Some`) or, as mesibo's helper does, the user's tokens (`None`) at mesibo; the
    /// user stays. An unknown user has none left.
    fn end_session(&self, address: &str, session: Option<u32>)
    -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// A new group; mesibo's gid is the group's id everywhere.
    fn add_group(&self, name: &str) -> impl Future<Output = Result<u64, MesiboFailed>> + Send;

    fn set_group(&self, gid: u64, name: &str) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// An unknown group is already deleted.
    fn delete_group(&self, gid: u64) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// Adds (or, `delete`, removes) up to [`MESIBO_MEMBERS_PER_EDIT`] addresses; both are idempotent.
    fn edit_members(
        &self,
        gid: u64,
        addresses: &[String],
        delete: bool,
    ) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    fn send_message(&self, message: &MesiboMessage<'_>) -> impl Future<Output = Result<(), MesiboFailed>> + Send;
}

/// AWS End User Messaging SMS could not be reached or refused the call (after the SDK's retries): what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS End User Messaging SMS: {0}")]
pub struct ProtectUnavailable(pub String);

/// The account's SMS protect configurations (AWS End User Messaging SMS), for the custom resource that makes the
/// stack's one the account default.
pub trait SmsProtection: Sync {
    /// Every country the configuration has an SMS rule for: every country AWS sends SMS to.
    fn countries(&self, id: &str) -> impl Future<Output = Result<Vec<String>, ProtectUnavailable>> + Send;

    /// Sets these SMS rules of the configuration (the others stay as they are).
    fn set_countries(
        &self,
        id: &str,
        rules: &std::collections::BTreeMap<String, crate::model::sms_protect::ProtectStatus>,
    ) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;

    /// The account default protect configuration's id, if there is one.
    fn account_default(&self) -> impl Future<Output = Result<Option<String>, ProtectUnavailable>> + Send;

    fn set_account_default(&self, id: &str) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;

    /// Removes the account default (the configuration itself stays).
    fn clear_account_default(&self) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;
}
