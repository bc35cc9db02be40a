//! Referral rewards inside the journey: paying the approved ones, taking back the reversed
//! ones, and remembering when the next check can be due so that most events skip it.
//!
//! `referral::decide_rewards` reads the whole forest and every visit, which is right for a
//! nightly run but, done before every event, made the layer quadratic in the day's visits
//! (80% of a realistic day's time). Its answer only changes when a referral is bound, when a
//! bound referee makes a visit that may qualify, when a visit is refunded, when the schedule
//! or calendar changes, or when time reaches a pending reward's approval. So each check
//! records, in [`RewardsChecked`], the earliest such approval; [`super::apply`] forgets the
//! record when one of the other changes happens, and until then events before that instant
//! skip the check. The answer is the same as checking every time (a property test in
//! `tests/journey_props.rs` compares the two).

use chrono::{DateTime, Duration, Utc};

use super::bridge::{self, RewardLeg, RewardPosting};
use super::error::JourneyError;
use super::layer::{Clinic, Implications, JourneyConfig, Ledgers};
use super::records::Visit;
use crate::calendar::ClinicCalendar;
use crate::calendar::SECONDS_PER_DAY;
use crate::referral::{ReferralEvent, RewardSchedule, RewardStatus};

/// What the last referral-reward check found: nothing new is due before `until`, as long
/// as the referral forest, the bound referees' qualifying visits, the refunds, the schedule
/// and the calendar stay as they were. Kept by [`Clinic`] between events; opaque to hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardsChecked {
    schedule: Option<RewardSchedule>,
    calendar: ClinicCalendar,
    until: DateTime<Utc>,
    /// The latest qualifying visit among the decisions: a new first visit after it is
    /// decided after every other, so it changes no earlier decision (caps count in time
    /// order) and only adds a pending reward.
    latest: DateTime<Utc>,
}

impl RewardsChecked {
    /// Whether a check at `at` under `config` would find nothing new.
    fn covers(&self, config: &JourneyConfig, at: DateTime<Utc>) -> bool {
        at < self.until && self.calendar == config.calendar && self.schedule == config.referral
    }

    /// The record after `step` was applied to `state`, or `None` when the step changed
    /// what the check found in a way only a new check can tell.
    pub(super) fn after(mut self, state: &Clinic, step: &Implications) -> Option<Self> {
        let Some(schedule) = self.schedule.clone() else {
            return Some(self);
        };
        // A refund reverses a reward only when the visit is a bound referee's first
        // qualifying one.
        for (id, _) in &step.visit_refunds {
            if state
                .visit(*id)
                .is_some_and(|v| first_qualifying(state, &schedule, v))
            {
                return None;
            }
        }
        for e in &step.referral {
            // A new referee without a qualifying visit has no reward yet; at depth 1 their
            // own referees' rewards go to them, not to their new referrer, so none change.
            let quiet = matches!(e, ReferralEvent::Bound { .. })
                && schedule.depth() == 1
                && !state
                    .visits_of(e.binding().referee)
                    .iter()
                    .any(|v| v.paid >= schedule.min_paid());
            if !quiet {
                return None;
            }
        }
        for v in &step.visits {
            if !first_qualifying(state, &schedule, v) {
                continue;
            }
            if v.at <= self.latest {
                return None;
            }
            // Its rewards wait out the pending delay (or are withheld by a cap).
            let pending = Duration::seconds(
                i64::from(schedule.pending_days()).saturating_mul(SECONDS_PER_DAY),
            );
            let approves =
                v.at.checked_add_signed(pending)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
            self.until = self.until.min(approves);
            self.latest = v.at;
        }
        Some(self)
    }
}

/// A visit (already recorded in `state`) that is a bound referee's first qualifying one:
/// a later qualifying visit changes no reward.
fn first_qualifying(state: &Clinic, schedule: &RewardSchedule, v: &Visit) -> bool {
    let min = schedule.min_paid();
    v.paid >= min
        && state.forest().referrer_of(v.patient).is_some()
        && !state
            .visits_of(v.patient)
            .iter()
            .any(|o| o.paid >= min && (o.at, o.id) < (v.at, v.id))
}

/// Pays every approved reward not yet paid, and takes back every paid reward whose visit
/// was refunded, as of `at`; records in `step` until when nothing more can be due.
pub(super) fn pay_rewards(
    state: &Clinic,
    config: &JourneyConfig,
    at: DateTime<Utc>,
    ledgers: &mut Ledgers<'_>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    if state
        .rewards_checked
        .as_ref()
        .is_some_and(|c| c.covers(config, at))
    {
        return Ok(());
    }
    let decisions = state.rewards(config, at);
    let mut until = DateTime::<Utc>::MAX_UTC;
    let mut latest = DateTime::<Utc>::MIN_UTC;
    let mut due: Vec<RewardPosting> = Vec::new();
    for d in &decisions {
        latest = latest.max(d.visit_at);
        let account = ledgers.account(d.beneficiary);
        match bridge::reward_posting(d, &account) {
            Some(r) => due.push(r),
            None => match d.status {
                RewardStatus::Pending { approves_at } => until = until.min(approves_at),
                // Paid, reversed, and nothing available to take back yet: every later event
                // checks again, so the take-back happens once points arrive.
                RewardStatus::Reversed { .. }
                    if account
                        .postings_of(bridge::reward_key(d, RewardLeg::Pay))
                        .is_some()
                        && account
                            .postings_of(bridge::reward_key(d, RewardLeg::Reverse))
                            .is_none() =>
                {
                    until = until.min(at);
                }
                _ => {}
            },
        }
    }
    // Oldest first, so that each account's postings stay in time order.
    due.sort_by_key(|r| (r.at, r.account, r.command.key));
    for r in due {
        // Re-derived against the scratch account, which earlier rewards may have moved on.
        let a = ledgers.account(r.account);
        let at = a.last_posted_at().map_or(r.at, |l| l.max(r.at));
        ledgers.post(r.account, &r.command, at, &mut step.ledger)?;
        step.rewards.push(r);
    }
    step.rewards_checked = Some(RewardsChecked {
        schedule: config.referral.clone(),
        calendar: config.calendar,
        until,
        latest,
    });
    Ok(())
}
