//! Posting plans: a cadence per account, and the posts it is owed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{ContentError, Post};
use crate::calendar::{ClinicCalendar, add_days, day_number};
use crate::id::AccountId;

/// How often an account should post, as data: one post in every `every_days` local days,
/// counted from `starting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawPostingPlan")]
pub struct PostingPlan {
    account: AccountId,
    #[serde(with = "crate::calendar::in_range::date")]
    starting: NaiveDate,
    every_days: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostingPlan {
    account: AccountId,
    #[serde(with = "crate::calendar::in_range::date")]
    starting: NaiveDate,
    every_days: u16,
}

impl TryFrom<RawPostingPlan> for PostingPlan {
    type Error = ContentError;
    fn try_from(r: RawPostingPlan) -> Result<Self, Self::Error> {
        PostingPlan::new(r.account, r.starting, r.every_days)
    }
}

/// One slot of a plan that has no post: due on `due`, overdue since the day after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OverduePost {
    /// The account.
    pub account: AccountId,
    /// The first local day of the slot, when the post was due.
    pub due: NaiveDate,
    /// Whole days since it was due (at least 1).
    pub days_overdue: u32,
}

impl PostingPlan {
    /// The longest cadence accepted, in days.
    pub const MAX_EVERY_DAYS: u16 = 366;
    /// The most slots [`overdue`](Self::overdue) looks back over: older slots are history,
    /// not work.
    pub const MAX_SLOTS_BACK: u32 = 400;

    /// A plan of one post every `every_days` days from `starting`.
    ///
    /// # Errors
    ///
    /// [`ContentError::Cadence`] for 0 days or more than [`PostingPlan::MAX_EVERY_DAYS`].
    pub fn new(
        account: AccountId,
        starting: NaiveDate,
        every_days: u16,
    ) -> Result<Self, ContentError> {
        if every_days == 0 || every_days > Self::MAX_EVERY_DAYS {
            return Err(ContentError::Cadence {
                account,
                every_days,
                max: Self::MAX_EVERY_DAYS,
            });
        }
        Ok(PostingPlan {
            account,
            starting,
            every_days,
        })
    }

    /// The account.
    #[must_use]
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The slots due before `today` (local) that have no post of the account in them, the
    /// oldest first. Slot k covers the local days `starting + k × every_days` up to the
    /// next slot; any post of the account on one of those days fills it, late or not. A
    /// slot is due on its first day and overdue from the next day while no post fills it.
    /// Posts of other accounts are ignored; only the last [`PostingPlan::MAX_SLOTS_BACK`]
    /// slots are looked at.
    #[must_use]
    pub fn overdue(
        &self,
        posts: &[Post],
        today: NaiveDate,
        calendar: ClinicCalendar,
    ) -> Vec<OverduePost> {
        let every = i64::from(self.every_days);
        let start = day_number(self.starting);
        let now = day_number(today);
        if now <= start {
            return Vec::new();
        }
        // Slots wholly or partly before today: the one holding `today` is the last, and it
        // is due (and overdue) only if today is past its first day.
        let current = (now - start) / every;
        let first = (current - i64::from(Self::MAX_SLOTS_BACK)).max(0);
        let mut filled = vec![false; usize::try_from(current - first + 1).unwrap_or(0)];
        for p in posts.iter().filter(|p| p.account() == self.account) {
            let d = day_number(calendar.local_date(p.at())) - start;
            if d < 0 {
                continue;
            }
            let slot = d / every - first;
            if let Some(f) = usize::try_from(slot).ok().and_then(|s| filled.get_mut(s)) {
                *f = true;
            }
        }
        let mut out = Vec::new();
        for (i, f) in filled.iter().enumerate() {
            let k = first + i64::try_from(i).unwrap_or(0);
            let due_day = k * every;
            let due = add_days(self.starting, u64::try_from(due_day).unwrap_or(0));
            let late = now - (start + due_day);
            if !*f && late >= 1 {
                out.push(OverduePost {
                    account: self.account,
                    due,
                    days_overdue: u32::try_from(late).unwrap_or(u32::MAX),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::AdLawWords;
    use crate::id::PostId;
    use crate::text::Label;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn weekly_plan_with_one_missed_week() {
        let cal = ClinicCalendar::default();
        let a = AccountId::new(1);
        let plan = PostingPlan::new(a, d(3, 2), 7).unwrap();
        // Posts in week 1 (Mar 3) and week 3 (late, Mar 22): week 2 (Mar 9) is missed.
        let post = |id, at: NaiveDate| {
            Post::new(
                PostId::new(id),
                a,
                cal.start_of(at) + chrono::Duration::hours(20),
                Label::parse(&format!("c{id}")).unwrap(),
                vec![],
                "",
                &AdLawWords::default(),
            )
            .unwrap()
        };
        let posts = [post(1, d(3, 3)), post(2, d(3, 22))];
        let due = plan.overdue(&posts, d(3, 24), cal);
        // Slot 4 (Mar 23) holds today and is one day late too.
        assert_eq!(
            due.iter()
                .map(|o| (o.due, o.days_overdue))
                .collect::<Vec<_>>(),
            vec![(d(3, 9), 15), (d(3, 23), 1)]
        );
        assert!(plan.overdue(&posts, d(3, 2), cal).is_empty());
        assert!(PostingPlan::new(a, d(3, 2), 0).is_err());
    }
}
