//! Who may join a group, and what a change of a group costs the person making it (docs/SECURITY.md, "Groups"):
//! newcomers only from the adder's address book and not lately departed from the adder's groups, and a day's
//! allowance of groups created, members added and people told of changes, taken atomically before the change.
//! Shared by the group operations and the group photo upload.

use std::collections::HashSet;

use tracing::warn;

use crate::error::ApiError;
use crate::model::address_book::NamedNumber;
use crate::model::clock::Timestamp;
use crate::model::group::{adder_name, readd_bar_name};
use crate::model::measured;
use crate::model::phone::PhoneNumber;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{ContactStore, GroupStore, ProfileStore, RateLimitStore};
use crate::usecase::{App, Ports};

/// Before a change of group `gid` by `by` (an owner or admin there) that adds whoever of `members` is new (none:
/// a rename, new photo, removal or change of roles): the newcomers and everyone the change reaches are admitted by
/// [`admit`]. The newcomers are returned; only they are added (anyone else who is no member by the time the group is
/// written, someone who left meanwhile, was not admitted).
pub async fn admit_change(
    app: &App<impl Ports>,
    gid: u64,
    by: &PhoneNumber,
    members: &[String],
    now: Timestamp,
) -> Result<Vec<String>, ApiError> {
    let group = app.store.group(gid).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
    group.require_admin(by.e164())?;
    let newcomers = group.newcomers(members);
    // Over the size limit: refused before anything is counted.
    let adder = adder_name(&app.config.otp_secret, by.e164());
    group.clone().add_members(&newcomers, &adder, now, app.config.max_group_members)?;
    admit(app, by, &newcomers, group.members.len() + newcomers.len(), false, now).await?;
    Ok(newcomers)
}

/// Before `newcomers` join a group through `by` (and, `creating`, before the group is created): each is in `by`'s
/// address book (as the apps pick members, from the synced contacts) and not barred from being added by `by` again
/// ([`crate::model::group::READD_BAR_SECONDS`] after leaving or being removed), unless the newcomer has `by` in her
/// own address book; then they, the `reach` people the change tells (members before and after, owner included) and
/// the new group are taken from `by`'s allowances of the day, all or nothing. Refused: nothing is stored or counted.
/// The refusals name nobody, and depend only on `by`'s own address book and groups (and, for someone who left one of
/// them, whether she has `by`'s number), so they tell nothing about who is registered.
pub async fn admit(
    app: &App<impl Ports>,
    by: &PhoneNumber,
    newcomers: &[String],
    reach: usize,
    creating: bool,
    now: Timestamp,
) -> Result<(), ApiError> {
    let (me, limits, secret) = (by.e164(), &app.config.abuse, &app.config.otp_secret);
    if !newcomers.is_empty() {
        let named: Vec<NamedNumber> = newcomers.iter().map(|n| NamedNumber::new(secret, n)).collect();
        let (known, profiles) =
            tokio::join!(app.store.in_address_book(me, &named), app.store.profile_records(newcomers));
        let known: HashSet<String> = known?.into_iter().collect();
        let users: HashSet<String> = profiles?.into_iter().filter(|p| !p.deleted).map(|p| p.e164).collect();
        // Only users join groups: a number that never signed up is kept nowhere in clear (docs/PRIVACY.md), and
        // mesibo could not reach her anyway. Refused alike, so the refusal says no more than a sync would.
        if !newcomers.iter().all(|n| known.contains(n) && users.contains(n)) {
            return Err(ApiError::NotInContacts);
        }
        let adder = adder_name(secret, me);
        let bars: Vec<String> = newcomers.iter().map(|member| readd_bar_name(secret, &adder, member)).collect();
        let barred = app.store.readding_barred(&bars, now).await?;
        for (member, _) in newcomers.iter().zip(&bars).filter(|(_, bar)| barred.contains(bar)) {
            // As WhatsApp's "my contacts may add me to groups": the bar keeps away people she does not know, and
            // lets through someone she has in her own address book (she left a group, then a friend makes another).
            if app.store.in_address_book(member, &[NamedNumber::new(secret, me)]).await?.is_empty() {
                return Err(ApiError::RecentlyLeft);
            }
        }
        if newcomers.len() as i64 > limits.group_member_adds_per_day {
            return Err(ApiError::TooMany(limits.group_member_adds_per_day as usize));
        }
    }
    let adds = RateLimit::group_member_adds(limits, secret, by);
    let notices = RateLimit::group_notices(limits, secret, by);
    let mut takes = vec![(adds, newcomers.len() as i64), (notices, reach as i64)];
    if creating {
        takes.push((RateLimit::groups_created(limits, secret, by), 1));
    }
    match app.store.take_amounts(&takes, now).await? {
        true => Ok(()),
        false => {
            warn!(phone = %by, newcomers = newcomers.len(), reach, creating, "group limit of the day reached");
            app.limit_hit(measured::GROUP_ALLOWANCES, now);
            Err(ApiError::RateLimited { retry_after: takes[0].0.retry_after(now) })
        }
    }
}
