//! Property tests for the follow-up planner: deterministic and idempotent, quiet hours, the
//! weekly contact cap, and consent.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::followup::{
    CarePlan, Facts, FollowUpHistory, FollowUpPolicy, Plan, Priority, QuietHours, Rule, RuleKey,
    RuleKind, SeasonDates, SolarTerm, TaskChannel, TaskKind, TaskOutcome, apply, plan,
    record_outcome,
};
use clinic_ops::id::{ClinicId, PatientId, StaffId, VisitId};
use clinic_ops::journey::{Category, DaysSupply, Fill, Visit};
use clinic_ops::money::Yuan;
use clinic_ops::patient::{
    self, Channel, ConditionCode, ConsentGiver, ConsentPurpose, FollowUpCadence, Label,
    MobileNumber, Patient, PatientCommand, PersonName, Registration,
};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

/// Knuth's MMIX LCG: the world is generated from one seed so proptest can shrink it.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

struct World {
    patient: Patient,
    visits: Vec<Visit>,
    fills: Vec<Fill>,
    care: CarePlan,
    policy: FollowUpPolicy,
}

fn run(state: &mut Option<Patient>, cmd: PatientCommand, at: DateTime<Utc>) {
    let id = PatientId::new(1);
    for e in patient::decide(state.as_ref(), id, &cmd, at, CAL).unwrap() {
        patient::apply(state, &e);
    }
}

fn consent(purpose: ConsentPurpose, grant: bool) -> PatientCommand {
    let source = Label::parse("form").unwrap();
    if grant {
        PatientCommand::GrantConsent {
            purpose,
            source,
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        }
    } else {
        PatientCommand::WithdrawConsent {
            purpose,
            source,
            given_by: ConsentGiver::Patient,
        }
    }
}

fn world(seed: u64) -> World {
    let mut r = Lcg(seed);
    let start = base() - Duration::days(500);
    let mut state = None;
    run(
        &mut state,
        PatientCommand::Register(Registration {
            name: PersonName::parse("李娜").unwrap(),
            mobile: MobileNumber::parse("13900001111").unwrap(),
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: NaiveDate::from_ymd_opt(
                1950 + r.below(50) as i32,
                1 + r.below(12) as u32,
                1 + r.below(28) as u32,
            ),
            owner: r.coin().then(|| StaffId::new(1 + r.below(3))),
            home_clinic: ClinicId::new(1),
            channel: Channel::WalkIn,
            channel_code: None,
        }),
        start,
    );
    for purpose in [ConsentPurpose::CareReminder, ConsentPurpose::Marketing] {
        if r.below(4) > 0 {
            run(
                &mut state,
                consent(purpose, true),
                start + Duration::days(r.below(400) as i64),
            );
        }
        if r.below(5) == 0 {
            run(
                &mut state,
                consent(purpose, false),
                start + Duration::days(400 + r.below(100) as i64),
            );
        }
    }
    if r.below(3) > 0 {
        let diagnosed = base().date_naive() - Days::new(30 + r.below(300));
        run(
            &mut state,
            PatientCommand::OpenChronicFile {
                condition: ConditionCode::parse(if r.coin() { "E11" } else { "I10" }).unwrap(),
                name: "慢病".into(),
                diagnosed_on: diagnosed,
                cadence: FollowUpCadence::per_year(1 + r.below(12) as u8).unwrap(),
            },
            base() - Duration::days(1),
        );
    }
    let visits = (0..r.below(4))
        .map(|n| Visit {
            id: VisitId::new(n),
            patient: PatientId::new(1),
            at: base()
                - Duration::hours({
                    let span = if r.coin() { 20 } else { 400 };
                    r.below(24 * span) as i64
                }),
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::ZERO,
            refunded_at: None,
        })
        .collect();
    let fills = (0..r.below(4))
        .map(|_| Fill {
            patient: PatientId::new(1),
            drug: Category::parse(["metformin", "amlodipine"][r.below(2) as usize]).unwrap(),
            filled_on: base().date_naive() - Days::new(r.below(90)),
            days_supply: DaysSupply::new(7 + r.below(60) as u32).unwrap(),
        })
        .collect();
    let channels = [
        TaskChannel::Call,
        TaskChannel::WechatMessage,
        TaskChannel::HomeVisit,
        TaskChannel::InClinic,
    ];
    let priorities = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];
    let kinds = [
        RuleKind::PostVisitCheck {
            days_after: r.below(7) as u16,
        },
        RuleKind::RevisitBooking {
            days_after: 7 + r.below(30) as u16,
        },
        RuleKind::Refill {
            days_before: r.below(7) as u16,
        },
        RuleKind::Recheck {
            intervals: [(
                ConditionCode::parse("E11").unwrap(),
                30 + r.below(90) as u16,
            )]
            .into(),
        },
        RuleKind::ChronicFollowUp,
        RuleKind::SeasonChange {
            dates: SeasonDates::SolarTerms(
                SolarTerm::SEASON_STARTS
                    .into_iter()
                    .chain([SolarTerm::Dongzhi])
                    .collect(),
            ),
            days_before: r.below(3) as u16,
            chronic_only: r.coin(),
        },
        RuleKind::Birthday {
            days_before: r.below(3) as u16,
        },
        RuleKind::WinBack {
            lapsed_after_days: 30 + r.below(120) as u16,
            first_gap_days: 1 + r.below(20) as u16,
            max_attempts: 1 + r.below(4) as u8,
        },
    ];
    let mut rules: Vec<Rule> = vec![];
    for (i, kind) in kinds.into_iter().enumerate() {
        if r.below(3) == 0 {
            continue;
        }
        rules.push(Rule {
            key: RuleKey::parse(&format!("r{i}")).unwrap(),
            kind,
            channel: channels[r.below(4) as usize],
            priority: priorities[r.below(4) as usize],
            promotional: r.below(5) == 0,
            give_up_after_days: if r.coin() {
                Some(r.below(60) as u16)
            } else {
                None
            },
        });
    }
    let rules = if rules.is_empty() {
        vec![Rule {
            key: RuleKey::parse("file").unwrap(),
            kind: RuleKind::ChronicFollowUp,
            channel: TaskChannel::Call,
            priority: Priority::Urgent,
            promotional: false,
            give_up_after_days: None,
        }]
    } else {
        rules
    };
    let mut hour = || {
        let h = r.below(24) as u32;
        NaiveTime::from_hms_opt(h, (r.below(4) * 15) as u32, 0).unwrap()
    };
    let (qs, qe, contact) = (hour(), hour(), hour());
    let quiet = QuietHours::new(qs, qe).unwrap_or_default();
    let policy = FollowUpPolicy::new(quiet, contact, 1 + r.below(4) as u8)
        .unwrap()
        .with_retries(1 + r.below(4) as u8, 1 + r.below(12) as u16)
        .unwrap()
        .with_lookahead(r.below(8) as u16)
        .unwrap();
    World {
        patient: state.unwrap(),
        visits,
        fills,
        care: CarePlan::new("props", rules).unwrap(),
        policy,
    }
}

fn plan_at(w: &World, h: &FollowUpHistory, now: DateTime<Utc>) -> Plan {
    let facts = Facts {
        visits: &w.visits,
        fills: &w.fills,
        purchases: &[],
    };
    plan(&w.patient, &facts, h, &w.care, &w.policy, now, CAL).unwrap()
}

/// Plans day by day for `days` days, storing each plan and recording seeded outcomes, and
/// returns the history and the final `now`.
fn simulate(w: &World, seed: u64, days: u64) -> (FollowUpHistory, DateTime<Utc>) {
    let mut r = Lcg(seed ^ 0x9e37_79b9);
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let mut now = base() + Duration::minutes(r.below(24 * 60) as i64);
    for _ in 0..days {
        let p = plan_at(w, &h, now);
        for e in p.events(&h) {
            apply(&mut h, &e);
        }
        let ids: Vec<_> = p.tasks().map(|t| (t.id, t.due_at)).collect();
        for (id, due_at) in ids {
            let outcome = match r.below(8) {
                0 | 1 => continue,
                2 | 3 => TaskOutcome::NotReached,
                4 => TaskOutcome::Booked,
                5 => TaskOutcome::Declined,
                6 if r.below(4) == 0 => TaskOutcome::OptedOut,
                _ => TaskOutcome::Reached,
            };
            let at = due_at.unwrap_or(now).max(now);
            for e in record_outcome(&h, id, outcome, None, at).unwrap() {
                apply(&mut h, &e);
            }
        }
        now += Duration::hours(20 + r.below(10) as i64);
    }
    (h, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn planning_is_deterministic_and_idempotent(seed in any::<u64>(), days in 0u64..20) {
        let w = world(seed);
        let (mut h, now) = simulate(&w, seed, days);
        let first = plan_at(&w, &h, now);
        prop_assert_eq!(&first, &plan_at(&w, &h, now));
        let ids: BTreeSet<_> = first.tasks().map(|t| t.id).collect();
        prop_assert_eq!(ids.len(), first.tasks().count(), "task ids are unique");
        for e in first.events(&h) {
            apply(&mut h, &e);
        }
        let second = plan_at(&w, &h, now);
        prop_assert!(second.events(&h).is_empty(), "replanning created tasks");
        prop_assert_eq!(first, second);
    }

    #[test]
    fn no_call_or_message_due_inside_quiet_hours(seed in any::<u64>(), days in 0u64..20) {
        let w = world(seed);
        let (h, now) = simulate(&w, seed, days);
        let p = plan_at(&w, &h, now);
        let quiet = w.policy.quiet_hours();
        for t in p.tasks().chain(p.held.iter().map(|x| &x.task)).chain(h.tasks().map(|r| &r.task)) {
            prop_assert_eq!(t.due_at.is_some(), t.channel.is_remote());
            if let Some(at) = t.due_at {
                prop_assert!(!quiet.contains(CAL.local_time(at)), "{} due at {} inside {:?}", t.id, at, quiet);
                prop_assert_eq!(CAL.local_date(at), t.due_on);
            }
        }
    }

    #[test]
    fn no_patient_exceeds_the_weekly_contact_cap(seed in any::<u64>(), days in 0u64..20) {
        let w = world(seed);
        let (h, now) = simulate(&w, seed, days);
        let p = plan_at(&w, &h, now);
        let today = CAL.local_date(now);
        let mut used: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for r in h.tasks() {
            if let (Some(o), true) = (r.outcome, r.task.channel.is_contact()) {
                *used.entry(CAL.bucket(o.at, Period::Week)).or_default() += 1;
            }
        }
        let mut planned: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for t in p.tasks().filter(|t| t.channel.is_contact()) {
            *planned.entry(CAL.period_start(t.due_on.max(today), Period::Week)).or_default() += 1;
        }
        let cap = u32::from(w.policy.weekly_cap());
        for (week, n) in planned {
            let before = used.get(&week).copied().unwrap_or(0);
            prop_assert!(n + before <= cap.max(before), "week {}: {} planned + {} made > cap {}", week, n, before, cap);
        }
    }

    #[test]
    fn no_marketing_task_without_marketing_consent(seed in any::<u64>(), days in 0u64..20) {
        let w = world(seed);
        let (h, now) = simulate(&w, seed, days);
        let p = plan_at(&w, &h, now);
        let opted_out = h.opted_out_at();
        for t in p.tasks().chain(p.held.iter().map(|x| &x.task)) {
            prop_assert!(w.patient.may(t.purpose, now), "{:?} without consent", t.purpose);
            if matches!(t.kind, TaskKind::Birthday | TaskKind::WinBack) {
                prop_assert_eq!(t.purpose, ConsentPurpose::Marketing);
            }
            if t.purpose == ConsentPurpose::Marketing {
                let granted = w.patient.consents().in_force(ConsentPurpose::Marketing, now).map(|c| c.at);
                prop_assert!(opted_out.is_none_or(|o| granted.is_some_and(|g| g > o)), "marketing after opt-out");
            }
        }
    }
}

#[test]
fn generated_worlds_do_plan_tasks() {
    // Guards the properties above against passing on empty plans.
    let mut total = 0;
    let mut marketing = 0;
    let mut held = 0;
    let mut retries = 0;
    let mut overdue = 0;
    for seed in 0..200u64 {
        let w = world(seed);
        let (h, now) = simulate(&w, seed, 10);
        let p = plan_at(&w, &h, now);
        total += p.tasks().count() + h.len();
        marketing += p
            .tasks()
            .filter(|t| t.purpose == ConsentPurpose::Marketing)
            .count();
        held += p.held.len();
        overdue += p.overdue.len();
        retries += h.tasks().filter(|r| r.task.attempt > 0).count();
    }
    assert!(total > 200, "{total}");
    assert!(
        marketing > 0 && held > 0 && overdue > 0 && retries > 0,
        "marketing {marketing}, held {held}, overdue {overdue}, retries {retries}"
    );
}

#[derive(Debug, Clone)]
enum Cmd {
    Plan(u8),
    Record(u8, u8, i64),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        (0u8..6).prop_map(Cmd::Plan),
        (0u8..8, 0u8..5, 0i64..1000).prop_map(|(t, o, m)| Cmd::Record(t, o, m)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The history against a naive model: a map from task to its first outcome.
    #[test]
    fn history_matches_a_naive_model(cmds in proptest::collection::vec(cmd(), 0..40)) {
        use clinic_ops::followup::FollowUpError;
        use clinic_ops::testkit::task_store::sample_task;
        let p = PatientId::new(1);
        let outcomes = [TaskOutcome::Reached, TaskOutcome::NotReached, TaskOutcome::Booked, TaskOutcome::Declined, TaskOutcome::OptedOut];
        let mut h = FollowUpHistory::new(p);
        let mut model: BTreeMap<u8, Option<(TaskOutcome, DateTime<Utc>)>> = BTreeMap::new();
        for c in cmds {
            match c {
                Cmd::Plan(n) => {
                    apply(&mut h, &clinic_ops::followup::FollowUpEvent::TaskPlanned(sample_task(p, n.into())));
                    model.entry(n).or_insert(None);
                }
                Cmd::Record(n, o, m) => {
                    let outcome = outcomes[o as usize];
                    let at = base() + Duration::minutes(m);
                    let got = record_outcome(&h, sample_task(p, n.into()).id, outcome, None, at);
                    match (model.get(&n), got) {
                        (None, Err(FollowUpError::UnknownTask { .. })) => {}
                        (Some(None), Ok(ev)) => {
                            prop_assert_eq!(ev.len(), 1);
                            apply(&mut h, &ev[0]);
                            model.insert(n, Some((outcome, at)));
                        }
                        (Some(Some((first, _))), Ok(ev)) => {
                            prop_assert_eq!(*first, outcome);
                            prop_assert!(ev.is_empty());
                        }
                        (Some(Some((first, _))), Err(FollowUpError::OutcomeAlreadyRecorded { recorded, given, .. })) => {
                            prop_assert_eq!((*first, outcome), (recorded, given));
                            prop_assert_ne!(recorded, given);
                        }
                        (m, g) => prop_assert!(false, "model {:?} but got {:?}", m, g),
                    }
                }
            }
        }
        prop_assert_eq!(h.len(), model.len());
        for (n, want) in &model {
            let rec = h.get(sample_task(p, u64::from(*n)).id).expect("planned");
            prop_assert_eq!(rec.outcome.map(|o| (o.outcome, o.at)), *want);
        }
        let opted = model.values().flatten().filter(|(o, _)| *o == TaskOutcome::OptedOut).map(|(_, at)| *at).max();
        prop_assert_eq!(h.opted_out_at(), opted);
        let json = serde_json::to_string(&h).unwrap();
        prop_assert_eq!(serde_json::from_str::<FollowUpHistory>(&json).unwrap(), h);
    }
}
