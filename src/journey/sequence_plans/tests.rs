//! Visiting only the enrolments the index names decides as visiting everyone.

use chrono::{Duration, NaiveTime, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::campaign::AdLawWords;
use crate::content::{ContentItem, ContentNature, SequenceStep, SequenceTrigger, StopReason};
use crate::followup::{FollowUpEvent, OutcomeRecord, QuietHours, TaskChannel, TaskOutcome};
use crate::id::{ClinicId, ContentItemId};
use crate::journey::{ClinicEvent, ClinicEventKind, Decision, EventKey, apply, decide};
use crate::patient::{
    Channel, ConditionCode, ConsentPurpose, FollowUpCadence, Label, MobileNumber, PatientCommand,
    PersonName, Registration,
};

const PATIENTS: u64 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// Consent to care reminders (`false`) or marketing (`true`), granted or withdrawn.
    Consent(u64, bool, bool),
    /// Staff enrol the patient in the manual sequence.
    Enrol(u64),
    /// Staff stop the patient's enrolment in sequence 1 or 2.
    Stop(u64, bool),
    /// A chronic file for the condition opened (`true`) or closed.
    File(u64, bool),
    Plan,
    /// An outcome for one of the patient's open tasks.
    Outcome(u64, usize),
}

fn op() -> impl Strategy<Value = (Op, i64)> {
    let kind = prop_oneof![
        2 => (0..PATIENTS, any::<bool>(), prop::bool::weighted(0.8))
            .prop_map(|(p, m, g)| Op::Consent(p, m, g)),
        2 => (0..PATIENTS).prop_map(Op::Enrol),
        1 => (0..PATIENTS, any::<bool>()).prop_map(|(p, s)| Op::Stop(p, s)),
        2 => (0..PATIENTS, prop::bool::weighted(0.7)).prop_map(|(p, o)| Op::File(p, o)),
        5 => Just(Op::Plan),
        2 => (0..PATIENTS, 0usize..6).prop_map(|(p, o)| Op::Outcome(p, o)),
    ];
    // Hours to the event: the same instant, later that day, days later, and sometimes
    // back in time (a journal out of order).
    (
        kind,
        prop_oneof![
            2 => Just(0i64),
            3 => 1i64..30,
            2 => 30i64..200,
            1 => -40i64..0,
        ],
    )
}

fn condition() -> ConditionCode {
    ConditionCode::parse("I10").unwrap()
}

/// A library of a lesson on the condition (care for a patient with its file) and an offer
/// (marketing); a manual sequence with gaps between its steps, and one the chronic file
/// triggers. `variant` changes the second sequence's steps (another configuration).
fn config(cap: u8, variant: bool) -> JourneyConfig {
    let mut c = JourneyConfig::new(ClinicCalendar::default());
    let words = AdLawWords::default();
    let item = |id, nature, conditions: Vec<ConditionCode>, copy| {
        ContentItem::new(
            ContentItemId::new(id),
            Label::parse("内容").unwrap(),
            nature,
            conditions,
            copy,
            &words,
        )
        .unwrap()
    };
    c.content.library = ContentLibrary::new(vec![
        item(1, ContentNature::Education, vec![condition()], "按时服药"),
        item(2, ContentNature::Promotional, vec![], "会员日免费测血压"),
    ])
    .unwrap();
    let steps = |days: &[(u16, u64)]| -> Vec<SequenceStep> {
        days.iter()
            .map(|&(after_days, item)| SequenceStep {
                after_days,
                item: ContentItemId::new(item),
            })
            .collect()
    };
    let manual = ContentSequence::new(
        SequenceId::new(1),
        Label::parse("每日一学").unwrap(),
        SequenceTrigger::Manual,
        None,
        steps(&[(0, 1), (2, 2), (3, 1), (9, 2)]),
        TaskChannel::WechatMessage,
    )
    .unwrap();
    let second = if variant {
        steps(&[(1, 1), (4, 1)])
    } else {
        steps(&[(0, 1), (1, 1), (5, 2)])
    };
    let triggered = ContentSequence::new(
        SequenceId::new(2),
        Label::parse("每日一药").unwrap(),
        SequenceTrigger::ChronicFileOpened,
        Some(condition()),
        second,
        TaskChannel::Call,
    )
    .unwrap();
    for s in [manual, triggered] {
        c.content.sequences.insert(s.id(), s);
    }
    c.followup = FollowUpPolicy::new(
        QuietHours::default(),
        NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        cap,
    )
    .unwrap();
    c
}

fn registration(n: u64) -> Registration {
    Registration::new(
        PersonName::parse("王五").unwrap(),
        MobileNumber::parse(&format!("139{n:08}")).unwrap(),
        ClinicId::new(1),
        Channel::WalkIn,
    )
}

/// The decision with the indexes' own records left out (they differ by design).
fn shown(d: Result<Decision, JourneyError>) -> String {
    match d {
        Ok(Decision::New(mut step)) => {
            step.rewards_checked = None;
            step.planned = None;
            step.sequences_planned = None;
            format!("{step:?}")
        }
        other => format!("{other:?}"),
    }
}

/// A patient command the layer does not cover, applied as a host would.
fn patient_command(clinic: &mut Clinic, p: PatientId, cmd: &PatientCommand, at: DateTime<Utc>) {
    let state = clinic.patients.get(&p);
    if let Ok(events) = crate::patient::decide(state, p, cmd, at, ClinicCalendar::default()) {
        let step = Implications {
            patient: events.into_iter().map(|e| (p, e)).collect(),
            ..Implications::default()
        };
        apply(clinic, &step);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_indexed_plan_decides_as_visiting_everyone(
        ops in prop::collection::vec(op(), 0..60),
        cap in prop_oneof![Just(1u8), Just(3)],
        switch in prop_oneof![Just(None), (0usize..60).prop_map(Some)],
    ) {
        let first = config(cap, false);
        // Sometimes another configuration from some point on: everyone is visited.
        let other = config(cap, true);
        let mut clinic = Clinic::new();
        let mut at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        let (mut key, mut indexed, mut visits, mut full_visits) = (0u64, 0usize, 0usize, 0usize);
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
                Op::Enrol(p) => events.push((at, ClinicEventKind::Sequence {
                    patient: PatientId::new(p + 1),
                    sequence: SequenceId::new(1),
                    command: EnrolmentCommand::Enrol { started_at: at },
                })),
                Op::Stop(p, second) => events.push((at, ClinicEventKind::Sequence {
                    patient: PatientId::new(p + 1),
                    sequence: SequenceId::new(if second { 2 } else { 1 }),
                    command: EnrolmentCommand::Stop { why: StopReason::Staff },
                })),
                Op::File(p, open) => {
                    let cmd = if open {
                        PatientCommand::OpenChronicFile {
                            condition: condition(),
                            name: "高血压".into(),
                            diagnosed_on: ClinicCalendar::default().local_date(at),
                            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
                        }
                    } else {
                        PatientCommand::CloseChronicFile { condition: condition() }
                    };
                    patient_command(&mut clinic, PatientId::new(p + 1), &cmd, at);
                }
                Op::Plan => events.push((at, ClinicEventKind::Plan)),
                Op::Outcome(p, o) => {
                    // Recorded by a host outside the layer: the plan reads it.
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
                fresh.sequence_plans = SequenceIndex::default();
                let is_plan = matches!(e.kind, ClinicEventKind::Plan);
                indexed += usize::from(is_plan && clinic.sequence_plans.covers(config, at));
                prop_assert_eq!(
                    shown(decide(&clinic, config, &e)),
                    shown(decide(&fresh, config, &e)),
                    "event {:?}", e
                );
                if let Ok(Decision::New(step)) = clinic.handle(config, &e)
                    && let Some(c) = &step.sequences_planned
                {
                    if c.full.is_some() {
                        full_visits += c.wakes.len();
                    } else {
                        visits += c.wakes.len();
                    }
                }
            }
        }
        // The journals are long enough that the index answers plans.
        if ops.len() >= 40 {
            prop_assert!(indexed > 0);
        }
        let _ = (visits, full_visits);
    }
}

/// The index is what the proptest exercises: a plan after the first visits only the
/// patients whose records changed and the enrolments whose day came.
#[test]
fn a_plan_visits_only_the_enrolments_that_can_change() {
    let config = config(3, false);
    let mut clinic = Clinic::new();
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
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
                purpose: ConsentPurpose::Marketing,
                granted: true,
                source: Label::parse("front_desk").unwrap(),
            },
        );
    }
    let enrol = ClinicEventKind::Sequence {
        patient: PatientId::new(2),
        sequence: SequenceId::new(1),
        command: EnrolmentCommand::Enrol { started_at: at },
    };
    let _ = handle(&mut clinic, at, enrol);
    // The first plan visits everyone: 3 patients × 2 sequences; P2's first step goes.
    let first = handle(&mut clinic, at + Duration::hours(2), ClinicEventKind::Plan);
    let checked = first.sequences_planned.clone().unwrap();
    assert!(checked.full.is_some());
    assert_eq!(checked.wakes.len(), 6);
    assert_eq!(first.enrolments.len(), 1);
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d);
    let p2 = (PatientId::new(2), SequenceId::new(1));
    assert!(checked.wakes.contains(&(p2, day(4))));
    // The next day: P2 is dirty (their task), in both sequences; nobody else.
    let next = handle(&mut clinic, at + Duration::days(1), ClinicEventKind::Plan);
    let checked = next.sequences_planned.unwrap();
    assert!(checked.full.is_none());
    assert_eq!(
        checked.wakes,
        vec![
            (p2, day(4)),
            ((PatientId::new(2), SequenceId::new(2)), None)
        ]
    );
    // Two days later nobody changed: only P2's enrolment, whose day came.
    let due = handle(&mut clinic, at + Duration::days(2), ClinicEventKind::Plan);
    assert_eq!(due.enrolments.len(), 1);
    assert_eq!(due.sequences_planned.unwrap().wakes, vec![(p2, day(5))]);
}
