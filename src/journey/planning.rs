//! The daily follow-up plan, incrementally: each `Plan` event re-plans only the patients
//! whose plan can have changed since they were last planned.
//!
//! Planning every patient every day made a year's journal quadratic (365 plans × every
//! patient, most of whom planned nothing). A patient's plan is a function of the patient,
//! their visits and purchases, their follow-up history, the configuration and the time. So
//! the clinic keeps a [`PlanIndex`]: patients whose records changed since their last plan
//! (`dirty`, kept by [`super::apply`]), and for the others the first local day on which
//! time alone could make their plan produce a new task (`wake`). A `Plan` event plans the
//! dirty patients and those whose day has come, in patient order, and nobody else.
//!
//! A wake day may be early (the patient is planned and nothing comes of it), never late.
//! Where the reasoning below does not cover a case (rule kinds other than the two that
//! count from the last visit, records dated after the plan, retries after an outcome, a
//! task held by the weekly cap), the patient is planned again the next day, as before. A
//! configuration or calendar other than the index's, or a plan earlier than the latest
//! one, plans everyone and rebuilds the index. A property test (`tests` below) compares
//! every decision with planning everyone.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::clinic::Clinic;
use super::config::JourneyConfig;
use super::error::JourneyError;
use super::layer::Implications;
use crate::calendar::{ClinicCalendar, add_days, sub_days};
use crate::followup::{self, CarePlan, FollowUpHistory, FollowUpPolicy, RuleKind};
use crate::id::PatientId;
use crate::patient::Patient;

/// What a plan's index was built under: a change of any of them plans everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlanKey {
    care_plans: Vec<CarePlan>,
    policy: FollowUpPolicy,
    calendar: ClinicCalendar,
}

impl PlanKey {
    fn matches(&self, config: &JourneyConfig) -> bool {
        self.calendar == config.calendar
            && self.policy == config.followup
            && self.care_plans == config.care_plans
    }
}

/// What a `Plan` event found, for the clinic's index: which patients were planned without
/// a new task, and from which day each must be planned again. Kept in
/// [`Implications::planned`]; opaque to hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChecked {
    key: PlanKey,
    at: DateTime<Utc>,
    /// Every patient was planned: the index starts again from this plan.
    full: bool,
    /// The patients planned, each with the day to plan them again (`None`: not until their
    /// records change). Patients whose plan produced tasks are not here: the tasks make
    /// them dirty.
    wakes: Vec<(PatientId, Option<NaiveDate>)>,
}

/// The clinic's plan index ([`super::planning`]).
#[derive(Debug, Clone, Default)]
pub(super) struct PlanIndex {
    key: Option<PlanKey>,
    /// The latest plan's time: a plan before it plans everyone.
    at: Option<DateTime<Utc>>,
    /// Patients whose records changed since they were last planned.
    dirty: BTreeSet<PatientId>,
    /// Each patient's wake day, and the same by day.
    wake_of: BTreeMap<PatientId, NaiveDate>,
    by_day: BTreeSet<(NaiveDate, PatientId)>,
}

impl PlanIndex {
    /// Whether the index answers for a plan at `at` under `config`.
    fn covers(&self, config: &JourneyConfig, at: DateTime<Utc>) -> bool {
        self.key.as_ref().is_some_and(|k| k.matches(config)) && self.at.is_some_and(|l| at >= l)
    }

    /// The patients a plan on `today` must plan, in id order.
    fn due(&self, today: NaiveDate) -> Vec<PatientId> {
        let mut out: Vec<PatientId> = self.dirty.iter().copied().collect();
        out.extend(
            self.by_day
                .range(..=(today, PatientId::new(u64::MAX)))
                .map(|(_, p)| *p),
        );
        out.sort_unstable();
        out.dedup();
        out
    }

    fn set_wake(&mut self, p: PatientId, wake: Option<NaiveDate>) {
        if let Some(old) = self.wake_of.remove(&p) {
            self.by_day.remove(&(old, p));
        }
        if let Some(d) = wake {
            self.wake_of.insert(p, d);
            self.by_day.insert((d, p));
        }
    }

    /// Folds a step into the index: a plan's findings first, then every patient whose
    /// records the step changed becomes dirty.
    pub(super) fn apply(
        &mut self,
        step: &Implications,
        visit_patient: impl Fn(crate::id::VisitId) -> Option<PatientId>,
    ) {
        if let Some(c) = &step.planned {
            if c.full {
                *self = PlanIndex {
                    key: Some(c.key.clone()),
                    ..PlanIndex::default()
                };
            }
            self.at = Some(self.at.map_or(c.at, |l| l.max(c.at)));
            for (p, wake) in &c.wakes {
                self.dirty.remove(p);
                self.set_wake(*p, *wake);
            }
        }
        if self.key.is_none() {
            // No index yet: the first plan plans everyone anyway.
            return;
        }
        let touched = step
            .patient
            .iter()
            .map(|(p, _)| *p)
            .chain(step.visits.iter().map(|v| v.patient))
            .chain(
                step.visit_refunds
                    .iter()
                    .filter_map(|(v, _)| visit_patient(*v)),
            )
            .chain(step.purchase.iter().map(|e| e.purchase.patient))
            .chain(step.followup.iter().map(|(p, _)| *p));
        for p in touched {
            self.dirty.insert(p);
        }
    }
}

/// `Plan`: the follow-ups of the local day of `at`, for every patient whose plan can have
/// changed, under every care plan. Decides what planning every patient decides.
pub(super) fn plan_step(
    state: &Clinic,
    config: &JourneyConfig,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    if config.care_plans.is_empty() || state.patients.is_empty() {
        return Ok(());
    }
    // Planning everyone refuses an instant out of range; so does planning no one.
    crate::calendar::check_instant("now", at).map_err(followup::FollowUpError::from)?;
    let today = config.calendar.local_date(at);
    let full = !state.plans.covers(config, at);
    let mut wakes = Vec::new();
    let mut plan_one = |id: PatientId, p: &Patient| -> Result<(), JourneyError> {
        let before = step.followup.len();
        plan_patient(state, config, id, p, at, step)?;
        if step.followup.len() == before {
            wakes.push((id, wake(state, config, id, p, at, today)));
        }
        Ok(())
    };
    if full {
        for (id, p) in &state.patients {
            plan_one(*id, p)?;
        }
    } else {
        for id in state.plans.due(today) {
            if let Some(p) = state.patients.get(&id) {
                plan_one(id, p)?;
            }
        }
    }
    step.planned = Some(PlanChecked {
        key: PlanKey {
            care_plans: config.care_plans.clone(),
            policy: config.followup.clone(),
            calendar: config.calendar,
        },
        at,
        full,
        wakes,
    });
    Ok(())
}

/// One patient's follow-ups at `at`, under every care plan.
fn plan_patient(
    state: &Clinic,
    config: &JourneyConfig,
    id: PatientId,
    p: &Patient,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let (visits, purchases) = state.records_of(id);
    let facts = followup::Facts {
        visits,
        fills: &[],
        purchases,
    };
    let empty;
    let history = match state.histories.get(&id) {
        Some(h) => h,
        None => {
            empty = FollowUpHistory::new(id);
            &empty
        }
    };
    for care in &config.care_plans {
        let plan = followup::plan(
            p,
            &facts,
            history,
            care,
            &config.followup,
            at,
            config.calendar,
        )?;
        step.followup
            .extend(plan.events(history).into_iter().map(|e| (id, e)));
    }
    Ok(())
}

/// The first local day after `today` on which a plan could give the patient a new task,
/// with their records as they are (`None`: never). Patients just planned without a new
/// task only.
fn wake(
    state: &Clinic,
    config: &JourneyConfig,
    id: PatientId,
    p: &Patient,
    at: DateTime<Utc>,
    today: NaiveDate,
) -> Option<NaiveDate> {
    let next = Some(add_days(today, 1));
    if p.is_anonymised() {
        return None;
    }
    // Records dated after the plan change the answer as time reaches them: from the
    // record's own local day, which may be today (a later plan the same day sees it).
    let cal = config.calendar;
    let visits = state.visits_of(id);
    let later = p
        .consents()
        .records()
        .iter()
        .map(|r| r.at)
        .chain(visits.iter().map(|v| v.at))
        .chain(visits.iter().filter_map(|v| v.refunded_at))
        .filter(|t| *t > at)
        .map(|t| cal.local_date(t))
        .min();
    if let Some(day) = later {
        return Some(day.min(add_days(today, 1)));
    }
    let last_visit = visits
        .iter()
        .filter(|v| !v.is_refunded_by(at))
        .map(|v| v.at)
        .max()
        .map(|v| config.calendar.local_date(v));
    let history = state.histories.get(&id).filter(|h| h.patient() == id);
    let lookahead = u64::from(config.followup.lookahead_days());
    let mut wake: Option<NaiveDate> = None;
    for rule in config.care_plans.iter().flat_map(CarePlan::rules) {
        let days_after = match rule.kind {
            RuleKind::PostVisitCheck { days_after } | RuleKind::RevisitBooking { days_after } => {
                days_after
            }
            // Other kinds: plan again tomorrow, as planning everyone did.
            _ => return next,
        };
        // Without consent at `at` (and no consent record after it) the rule stays silent.
        if !p.may(rule.purpose(), at) {
            continue;
        }
        let Some(last) = last_visit else { continue };
        let on = add_days(last, u64::from(days_after));
        let mut records = history
            .into_iter()
            .flat_map(FollowUpHistory::tasks)
            .filter(|r| {
                r.task.rule == rule.key
                    && r.task.occurrence == on
                    && r.task.reason.subject().is_none()
            });
        let rule_wake = match records.next() {
            // The occurrence was planned: with no outcome, every attempt the planner can
            // make is a task the history holds; an outcome may call for a retry.
            Some(first) => {
                if first.outcome.is_some() || records.any(|r| r.outcome.is_some()) {
                    next
                } else {
                    None
                }
            }
            // A first attempt is due on `on` or, moved out of quiet hours, a day after: no
            // plan before the look-ahead reaches `on` has it, none after the rule gives up.
            None => {
                let first_day = sub_days(on, lookahead);
                let give_up = u64::from(rule.give_up_after()) + 2;
                if today < first_day {
                    Some(first_day)
                } else if today > add_days(on, give_up) {
                    None
                } else {
                    next
                }
            }
        };
        wake = match (wake, rule_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    wake
}

#[cfg(test)]
mod tests {
    //! Planning only the patients the index names decides as planning everyone.

    use chrono::{Duration, NaiveTime, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::followup::{FollowUpEvent, OutcomeRecord, QuietHours, TaskOutcome};
    use crate::id::{ClinicId, PurchaseId, VisitId};
    use crate::journey::{
        ClinicEvent, ClinicEventKind, Decision, EventKey, Purchase, Visit, apply, decide,
    };
    use crate::money::{Points, Yuan};
    use crate::patient::{Channel, ConsentPurpose, Label, MobileNumber, PersonName, Registration};

    const PATIENTS: u64 = 4;

    #[derive(Debug, Clone)]
    enum Op {
        /// A visit and a purchase at it.
        Visit(u64, u32),
        /// A full refund of the n-th purchase, which refunds its visit.
        Refund(u64),
        /// Consent to care reminders (`false`) or marketing (`true`), granted or withdrawn.
        Consent(u64, bool, bool),
        Plan,
        /// An outcome for one of the patient's open tasks.
        Outcome(u64, usize),
    }

    fn op() -> impl Strategy<Value = (Op, i64)> {
        let kind = prop_oneof![
            3 => (0..PATIENTS, 0u32..300).prop_map(|(p, y)| Op::Visit(p, y)),
            1 => (0u64..12).prop_map(Op::Refund),
            2 => (0..PATIENTS, any::<bool>(), prop::bool::weighted(0.8))
                .prop_map(|(p, m, g)| Op::Consent(p, m, g)),
            4 => Just(Op::Plan),
            2 => (0..PATIENTS, 0usize..6).prop_map(|(p, o)| Op::Outcome(p, o)),
        ];
        // Hours to the event: the same instant, later that day, days later, and sometimes
        // back in time (a journal out of order).
        (
            kind,
            prop_oneof![
                2 => Just(0i64),
                3 => 1i64..30,
                3 => 30i64..400,
                1 => -60i64..0,
            ],
        )
    }

    fn rule(json: &str) -> serde_json::Value {
        serde_json::from_str(json).unwrap()
    }

    /// Care plans and a policy: the two kinds that count from the last visit, with and
    /// without marketing, a birthday rule (planned every day), a look-ahead and a cap.
    fn config(variant: u8, lookahead: u16, cap: u8) -> JourneyConfig {
        let mut c = JourneyConfig::new(ClinicCalendar::default());
        let mut rules = vec![rule(
            r#"{"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "wechat_message"}"#,
        )];
        match variant {
            0 => rules.push(rule(
                r#"{"key": "revisit", "kind": "revisit_booking", "days_after": 14, "channel": "call"}"#,
            )),
            1 => rules.push(rule(
                r#"{"key": "same-day", "kind": "post_visit_check", "days_after": 0, "channel": "call", "promotional": true}"#,
            )),
            _ => rules.push(rule(
                r#"{"key": "bday", "kind": "birthday", "days_before": 2, "channel": "wechat_message"}"#,
            )),
        }
        c.care_plans = vec![
            serde_json::from_value(serde_json::json!({ "name": "诊后", "rules": rules })).unwrap(),
        ];
        c.followup = FollowUpPolicy::new(
            QuietHours::default(),
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            cap,
        )
        .unwrap()
        .with_lookahead(lookahead)
        .unwrap();
        c
    }

    fn registration(n: u64) -> Registration {
        Registration {
            name: PersonName::parse("王五").unwrap(),
            mobile: MobileNumber::parse(&format!("139{n:08}")).unwrap(),
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: chrono::NaiveDate::from_ymd_opt(1970, 3, 1 + (n as u32 % 20)),
            owner: None,
            home_clinic: ClinicId::new(1),
            channel: Channel::WalkIn,
            channel_code: None,
        }
    }

    /// The decision with the index's own records left out (they differ by design).
    fn shown(d: Result<Decision, JourneyError>) -> String {
        match d {
            Ok(Decision::New(mut step)) => {
                step.rewards_checked = None;
                step.planned = None;
                format!("{step:?}")
            }
            other => format!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn planning_the_index_decides_as_planning_everyone(
            ops in prop::collection::vec(op(), 0..60),
            variant in 0u8..3,
            lookahead in prop_oneof![Just(0u16), Just(2)],
            cap in prop_oneof![Just(1u8), Just(3)],
            switch in prop_oneof![Just(None), (0usize..60).prop_map(Some)],
        ) {
            let first = config(variant, lookahead, cap);
            // Sometimes another configuration from some point on: everyone is planned.
            let other = config((variant + 1) % 3, lookahead, cap);
            let mut clinic = Clinic::new();
            let mut at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
            let (mut key, mut visits, mut prices) = (0u64, 0u64, Vec::new());
            let (mut indexed, mut tasks) = (0usize, 0usize);
            let mut events: Vec<(DateTime<Utc>, ClinicEventKind)> = (1..=PATIENTS)
                .map(|p| {
                    let registration = Box::new(registration(p));
                    (at, ClinicEventKind::Register { patient: PatientId::new(p), registration })
                })
                .collect();
            for (i, (o, hours)) in ops.iter().enumerate() {
                let config = if switch.is_some_and(|s| i >= s) { &other } else { &first };
                at += Duration::hours(*hours);
                match *o {
                    Op::Visit(p, y) => {
                        visits += 1;
                        let patient = PatientId::new(p + 1);
                        let paid = Yuan::from_whole(u64::from(y)).unwrap();
                        events.push((at, ClinicEventKind::Visit(Visit::new(
                            VisitId::new(visits), patient, at, ClinicId::new(1), paid,
                        ))));
                        let amount = Yuan::from_whole(u64::from(y) + 1).unwrap();
                        prices.push(amount);
                        events.push((at, ClinicEventKind::Purchase {
                            purchase: Purchase::new(
                                PurchaseId::new(prices.len() as u64), patient, at, amount,
                            ),
                            visit: Some(VisitId::new(visits)),
                            points: Points::ZERO,
                        }));
                    }
                    Op::Refund(n) => {
                        let i = n % (prices.len() as u64).max(1);
                        events.push((at, ClinicEventKind::Refund {
                            purchase: PurchaseId::new(i + 1),
                            amount: prices.get(i as usize).copied().unwrap_or(Yuan::ZERO),
                        }));
                    }
                    Op::Consent(p, marketing, granted) => events.push((at, ClinicEventKind::Consent {
                        patient: PatientId::new(p + 1),
                        purpose: if marketing {
                            ConsentPurpose::Marketing
                        } else {
                            ConsentPurpose::CareReminder
                        },
                        granted,
                        source: Label::parse("front_desk").unwrap(),
                    })),
                    Op::Plan => events.push((at, ClinicEventKind::Plan)),
                    Op::Outcome(p, o) => {
                        // Recorded by a host outside the layer: the planner reads it.
                        let p = PatientId::new(p + 1);
                        let open = clinic.histories.get(&p).and_then(|h| {
                            h.tasks().find(|r| r.outcome.is_none()).map(|r| r.task.id)
                        });
                        if let Some(task) = open {
                            let outcome = TaskOutcome::ALL[o % TaskOutcome::ALL.len()];
                            let step = Implications {
                                followup: vec![(p, FollowUpEvent::OutcomeRecorded {
                                    task,
                                    record: OutcomeRecord { outcome, at, by: None },
                                })],
                                ..Implications::default()
                            };
                            apply(&mut clinic, &step);
                        }
                    }
                }
                for (at, kind) in events.drain(..) {
                    key += 1;
                    let e = ClinicEvent { key: EventKey::new(key), at, kind };
                    let mut fresh = clinic.clone();
                    fresh.plans = PlanIndex::default();
                    let is_plan = matches!(e.kind, ClinicEventKind::Plan);
                    indexed += usize::from(is_plan && clinic.plans.covers(config, at));
                    prop_assert_eq!(
                        shown(decide(&clinic, config, &e)),
                        shown(decide(&fresh, config, &e)),
                        "event {:?}", e
                    );
                    if let Ok(Decision::New(step)) = clinic.handle(config, &e) {
                        tasks += step.followup.len();
                    }
                }
            }
            // The journals are long enough that the index answers plans that plan tasks.
            if ops.len() >= 40 {
                prop_assert!(indexed > 0);
            }
            let _ = tasks;
        }
    }

    /// The index is what the proptest exercises: a plan after the first plans only the
    /// patients whose records changed or whose day came.
    #[test]
    fn a_plan_plans_only_the_patients_that_can_change() {
        let config = config(0, 0, 3);
        let mut clinic = Clinic::new();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let mut key = 0;
        let mut handle = |clinic: &mut Clinic, at, kind| {
            key += 1;
            let e = ClinicEvent {
                key: EventKey::new(key),
                at,
                kind,
            };
            match clinic.handle(&config, &e) {
                Ok(Decision::New(step)) => step,
                other => panic!("{other:?}"),
            }
        };
        for p in 1..=3 {
            let registration = Box::new(registration(p));
            let patient = PatientId::new(p);
            let _ = handle(
                &mut clinic,
                at,
                ClinicEventKind::Register {
                    patient,
                    registration,
                },
            );
            let _ = handle(
                &mut clinic,
                at,
                ClinicEventKind::Consent {
                    patient,
                    purpose: ConsentPurpose::CareReminder,
                    granted: true,
                    source: Label::parse("front_desk").unwrap(),
                },
            );
        }
        let visit = Visit::new(
            VisitId::new(1),
            PatientId::new(2),
            at,
            ClinicId::new(1),
            Yuan::from_whole(100).unwrap(),
        );
        let _ = handle(&mut clinic, at, ClinicEventKind::Visit(visit));
        let first = handle(&mut clinic, at + Duration::hours(10), ClinicEventKind::Plan);
        let planned = first.planned.clone().unwrap();
        assert!(planned.full);
        // Patient 2's check is due three days after the visit; the others never.
        assert_eq!(
            planned.wakes,
            vec![
                (PatientId::new(1), None),
                (PatientId::new(2), NaiveDate::from_ymd_opt(2026, 3, 5)),
                (PatientId::new(3), None),
            ]
        );
        let next = handle(&mut clinic, at + Duration::days(1), ClinicEventKind::Plan);
        assert_eq!(next.planned.unwrap().wakes, vec![]);
        let due = handle(&mut clinic, at + Duration::days(3), ClinicEventKind::Plan);
        assert_eq!(due.followup.len(), 1);
        assert!(due.planned.unwrap().wakes.is_empty());
    }
}
