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
use super::clinic::{Clinic, Ledgers};
use super::config::JourneyConfig;
use super::error::JourneyError;
use super::layer::Implications;
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

#[cfg(test)]
mod tests {
    //! The skipped check decides as the full check would.

    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::id::{ClinicId, PatientId, PurchaseId, VisitId};
    use crate::journey::{ClinicEvent, ClinicEventKind, Decision, EventKey, Purchase, decide};
    use crate::money::{Points, Yuan};
    use crate::patient::{Channel, MobileNumber, PersonName, Registration};
    use crate::referral::{
        Basis, Beneficiary, ComplianceProfile, Reward, RewardCaps, RuleId, RuleSpec, ScheduleSpec,
    };

    const PATIENTS: u64 = 5;

    #[derive(Debug, Clone)]
    enum Op {
        Refer(u64, u64),
        Visit(u64, u32),
        Refund(u64),
        Purchase(u64, u32),
    }

    fn op() -> impl Strategy<Value = (Op, i64)> {
        let kind = prop_oneof![
            (0..PATIENTS, 0..PATIENTS).prop_map(|(a, b)| Op::Refer(a, b)),
            (0..PATIENTS, 0u32..300).prop_map(|(p, y)| Op::Visit(p, y)),
            (0u64..12).prop_map(Op::Refund),
            (0..PATIENTS, 1u32..300).prop_map(|(p, y)| Op::Purchase(p, y)),
        ];
        // Hours to the event: often the same instant, sometimes past a pending delay.
        (kind, prop_oneof![Just(0i64), 1i64..30, 40i64..100])
    }

    fn config(depth: u8, pending_days: u32, per_month: Option<u32>) -> JourneyConfig {
        let mut c = JourneyConfig::new(ClinicCalendar::default());
        let mut rules = vec![RuleSpec {
            id: RuleId::parse("friend").unwrap(),
            beneficiary: Beneficiary::Referrer { level: 1 },
            basis: Basis::FirstPaidVisit,
            reward: Reward::Points(Points::new(50)),
        }];
        if depth == 2 {
            rules.push(RuleSpec {
                id: RuleId::parse("friend-2").unwrap(),
                beneficiary: Beneficiary::Referrer { level: 2 },
                basis: Basis::FirstPaidVisit,
                reward: Reward::Points(Points::new(10)),
            });
        }
        c.referral = Some(
            RewardSchedule::new(ScheduleSpec {
                profile: if depth == 2 {
                    ComplianceProfile::General
                } else {
                    ComplianceProfile::MedicalInstitution
                },
                depth,
                min_paid: Yuan::from_whole(100).unwrap(),
                pending_days,
                caps: RewardCaps {
                    per_month,
                    lifetime: None,
                },
                rules,
            })
            .unwrap(),
        );
        c
    }

    fn registration(n: u64) -> Registration {
        Registration {
            name: PersonName::parse("王五").unwrap(),
            mobile: MobileNumber::parse(&format!("139{n:08}")).unwrap(),
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: None,
            owner: None,
            home_clinic: ClinicId::new(1),
            channel: Channel::WalkIn,
            channel_code: None,
        }
    }

    fn journal(ops: &[(Op, i64)]) -> Vec<ClinicEvent> {
        let mut at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        let mut kinds = Vec::new();
        for p in 1..=PATIENTS {
            let registration = Box::new(registration(p));
            kinds.push((
                at,
                ClinicEventKind::Register {
                    patient: PatientId::new(p),
                    registration,
                },
            ));
        }
        let (mut visits, mut prices) = (0u64, Vec::new());
        for (o, hours) in ops {
            at += Duration::hours(*hours);
            let kind = match *o {
                Op::Refer(a, b) => ClinicEventKind::Refer {
                    referrer: PatientId::new(a + 1),
                    referee: PatientId::new(b + 1),
                },
                Op::Visit(p, y) => {
                    visits += 1;
                    ClinicEventKind::Visit(Visit::new(
                        VisitId::new(visits),
                        PatientId::new(p + 1),
                        at,
                        ClinicId::new(1),
                        Yuan::from_whole(u64::from(y)).unwrap(),
                    ))
                }
                // At the latest visit (another patient's is refused, which is fine too), so
                // a full refund refunds the visit.
                Op::Purchase(p, y) => {
                    let amount = Yuan::from_whole(u64::from(y)).unwrap();
                    prices.push(amount);
                    ClinicEventKind::Purchase {
                        purchase: Purchase::new(
                            PurchaseId::new(prices.len() as u64),
                            PatientId::new(p + 1),
                            at,
                            amount,
                        ),
                        visit: (visits > 0).then(|| VisitId::new(visits)),
                        points: Points::ZERO,
                    }
                }
                Op::Refund(n) => {
                    let i = n % (prices.len() as u64).max(1);
                    ClinicEventKind::Refund {
                        purchase: PurchaseId::new(i + 1),
                        amount: prices.get(i as usize).copied().unwrap_or(Yuan::ZERO),
                    }
                }
            };
            kinds.push((at, kind));
        }
        kinds
            .into_iter()
            .enumerate()
            .map(|(k, (at, kind))| ClinicEvent {
                key: EventKey::new(k as u64 + 1),
                at,
                kind,
            })
            .collect()
    }

    /// The decision with the check's own record left out (the skipped path has none).
    fn shown(d: Result<Decision, JourneyError>) -> String {
        match d {
            Ok(Decision::New(mut step)) => {
                step.rewards_checked = None;
                format!("{step:?}")
            }
            other => format!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn skipping_the_check_decides_as_checking_every_time(
            ops in prop::collection::vec(op(), 0..40),
            depth in 1u8..=2,
            pending in prop_oneof![Just(0u32), Just(1), Just(3)],
            per_month in prop_oneof![Just(None), Just(Some(1u32))],
        ) {
            let config = config(depth, pending, per_month);
            let mut clinic = Clinic::new();
            let mut skipped = 0;
            for e in journal(&ops) {
                let mut fresh = clinic.clone();
                fresh.rewards_checked = None;
                skipped += usize::from(clinic.rewards_checked.is_some());
                prop_assert_eq!(
                    shown(decide(&clinic, &config, &e)),
                    shown(decide(&fresh, &config, &e)),
                    "event {:?}", e
                );
                let _ = clinic.handle(&config, &e);
            }
            // The journals are long enough that the check is skipped somewhere.
            prop_assert!(ops.len() < 10 || skipped > 0);
        }
    }
}
