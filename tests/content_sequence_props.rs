//! Content sequences (issue 20): the enrolment aggregate against a plain model of its rules
//! (one step a day, consent per step, quiet hours, the weekly cap, the stops), driven by
//! random days of plans, consent changes, outcomes and file closures.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::campaign::AdLawWords;
use clinic_ops::content::{
    self, ContentItem, ContentLibrary, ContentNature, ContentSequence, Enrolment, EnrolmentCommand,
    EnrolmentEvent, EnrolmentStatus, SequenceContext, SequenceStep, SequenceTrigger, StopReason,
};
use clinic_ops::followup::{
    self, FollowUpEvent, FollowUpHistory, FollowUpPolicy, TaskKind, TaskOutcome,
};
use clinic_ops::id::{ContentItemId, PatientId, SequenceId};
use clinic_ops::patient::{
    self, ConditionCode, ConsentGiver, ConsentPurpose, FollowUpCadence, Label, Patient,
    PatientCommand,
};
use clinic_ops::testkit::patient_store::registration;
use clinic_ops::text::Label as Title;
use proptest::prelude::*;

const LOCAL: i64 = 8 * 3600;

fn t0() -> DateTime<Utc> {
    // Monday 2026-03-02 09:00 in the clinic (UTC+8).
    DateTime::from_timestamp(1_772_413_200, 0).unwrap()
}

fn e11() -> ConditionCode {
    ConditionCode::parse("E11").unwrap()
}

fn library() -> ContentLibrary {
    let words = AdLawWords::default();
    let edu = ContentItem::new(
        ContentItemId::new(1),
        Title::parse("控糖饮食").unwrap(),
        ContentNature::Education,
        vec![e11()],
        "每天主食定量，少喝含糖饮料",
        &words,
    )
    .unwrap();
    let promo = ContentItem::new(
        ContentItemId::new(2),
        Title::parse("会员日").unwrap(),
        ContentNature::Promotional,
        vec![],
        "本月会员日免费测血糖",
        &words,
    )
    .unwrap();
    ContentLibrary::new(vec![edu, promo]).unwrap()
}

fn sequence(days: &[(u16, bool)]) -> ContentSequence {
    let steps = days
        .iter()
        .map(|&(after_days, promo)| SequenceStep {
            after_days,
            item: ContentItemId::new(if promo { 2 } else { 1 }),
        })
        .collect();
    ContentSequence::new(
        SequenceId::new(3),
        Title::parse("每日一学").unwrap(),
        SequenceTrigger::ChronicFileOpened,
        Some(e11()),
        steps,
        followup::TaskChannel::WechatMessage,
    )
    .unwrap()
}

fn patient_cmd(p: &mut Option<Patient>, cmd: PatientCommand, at: DateTime<Utc>) {
    let cal = ClinicCalendar::default();
    if let Ok(events) = patient::decide(p.as_ref(), PatientId::new(1), &cmd, at, cal) {
        for e in &events {
            patient::apply(p, e);
        }
    }
}

fn consent(purpose: ConsentPurpose, granted: bool) -> PatientCommand {
    let source = Label::parse("mini_program").unwrap();
    if granted {
        PatientCommand::GrantConsent {
            purpose,
            source: source.clone(),
            policy_version: source,
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

#[derive(Debug, Clone)]
enum Op {
    /// Time passes by this many hours, then the daily plan runs.
    Plan(u8),
    Care(bool),
    Marketing(bool),
    /// The latest task's outcome.
    Outcome(bool),
    CloseFile,
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u8..40).prop_map(Op::Plan),
        1 => any::<bool>().prop_map(Op::Care),
        1 => any::<bool>().prop_map(Op::Marketing),
        2 => any::<bool>().prop_map(Op::Outcome),
        1 => Just(Op::CloseFile),
        1 => Just(Op::Stop),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(u16, bool)>> {
    prop::collection::vec((0u16..3, prop::bool::weighted(0.3)), 1..8).prop_map(|v| {
        let mut day = 0u16;
        v.into_iter()
            .enumerate()
            .map(|(i, (gap, promo))| {
                day += if i == 0 { gap } else { gap + 1 };
                (day, promo)
            })
            .collect()
    })
}

/// The model: the rules as plain arithmetic in UTC+8.
#[derive(Debug)]
struct Model {
    status: &'static str,
    planned: usize,
    last_due: Option<NaiveDate>,
    care: bool,
    marketing: bool,
    /// Marketing withdrawn, care withdrawn (after the start: all of them are).
    care_withdrawn: bool,
    marketing_withdrawn: bool,
    file_open: bool,
    opted_out: bool,
    /// (due_on, outcome week start if recorded)
    tasks: Vec<(NaiveDate, Option<NaiveDate>)>,
}

fn local_date(at: DateTime<Utc>) -> NaiveDate {
    DateTime::from_timestamp(at.timestamp() + LOCAL, 0)
        .unwrap()
        .date_naive()
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

impl Model {
    /// What the plan at `now` does: `Some(Ok(due_at))` plans a step, `Some(Err(why))` stops,
    /// `None` nothing (waiting, held, no consent, not active).
    fn plan(
        &self,
        steps: &[(u16, bool)],
        now: DateTime<Utc>,
    ) -> Option<Result<DateTime<Utc>, StopReason>> {
        if self.status != "active" {
            return None;
        }
        let &(after, promo) = steps.get(self.planned)?;
        if !self.file_open {
            return Some(Err(StopReason::FileClosed));
        }
        if self.opted_out {
            return Some(Err(StopReason::OptedOut));
        }
        let (may, withdrawn) = if promo {
            (self.marketing, self.marketing_withdrawn)
        } else {
            (self.care, self.care_withdrawn)
        };
        if !may {
            return withdrawn.then_some(Err(StopReason::ConsentWithdrawn));
        }
        let today = local_date(now);
        let mut on = local_date(t0()) + Duration::days(i64::from(after));
        if let Some(l) = self.last_due {
            on = on.max(l + Duration::days(1));
        }
        if on > today {
            return None;
        }
        let ten = DateTime::from_timestamp(
            today.and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp() - LOCAL,
            0,
        )
        .unwrap();
        let mut at = ten.max(now);
        let local_hour = DateTime::from_timestamp(at.timestamp() + LOCAL, 0)
            .unwrap()
            .hour();
        if local_hour >= 21 {
            let next = today + Duration::days(1);
            at = DateTime::from_timestamp(
                next.and_hms_opt(8, 0, 0).unwrap().and_utc().timestamp() - LOCAL,
                0,
            )
            .unwrap();
        }
        let week = monday(local_date(at));
        let used = self
            .tasks
            .iter()
            .filter(|(due, out)| match out {
                Some(w) => *w == week,
                None => monday(*due) == week,
            })
            .count();
        if used >= 3 {
            return None;
        }
        Some(Ok(at))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn enrolments_follow_the_model(steps in steps(), ops in prop::collection::vec(op(), 1..60)) {
        let cal = ClinicCalendar::default();
        let lib = library();
        let seq = sequence(&steps);
        let policy = FollowUpPolicy::default();
        let mut p = None;
        patient_cmd(&mut p, PatientCommand::Register(registration(1)), t0());
        patient_cmd(&mut p, consent(ConsentPurpose::CareReminder, true), t0());
        patient_cmd(&mut p, PatientCommand::OpenChronicFile {
            condition: e11(),
            name: "2型糖尿病".into(),
            diagnosed_on: local_date(t0()),
            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
        }, t0());
        let mut history = FollowUpHistory::new(PatientId::new(1));
        let mut state: Option<Enrolment> = None;
        let started_at = p.as_ref().and_then(|x| seq.triggered_at(x));
        prop_assert_eq!(started_at, Some(t0()));
        {
            let ctx = SequenceContext { sequence: &seq, library: &lib, patient: p.as_ref().unwrap(),
                history: &history, policy: &policy, calendar: cal };
            for e in content::decide(None, &EnrolmentCommand::Enrol { started_at: t0() }, &ctx, t0()).unwrap() {
                content::apply(&mut state, &e);
            }
            let again = content::decide(state.as_ref(), &EnrolmentCommand::Enrol { started_at: t0() }, &ctx, t0());
            prop_assert!(again.is_err());
        }
        let mut m = Model {
            status: "active", planned: 0, last_due: None, care: true, marketing: false,
            care_withdrawn: false, marketing_withdrawn: false, file_open: true, opted_out: false,
            tasks: vec![],
        };
        let mut now = t0();
        let mut days = BTreeSet::new();
        let mut last_task = None;
        for op in ops {
            match op {
                Op::Plan(h) => {
                    now += Duration::hours(i64::from(h));
                    let expected = m.plan(&steps, now);
                    let ctx = SequenceContext { sequence: &seq, library: &lib, patient: p.as_ref().unwrap(),
                        history: &history, policy: &policy, calendar: cal };
                    let events = content::decide(state.as_ref(), &EnrolmentCommand::Plan, &ctx, now).unwrap();
                    match expected {
                        None => prop_assert!(events.is_empty(), "{:?} at {} in {:?}", events, now, m),
                        Some(Err(why)) => {
                            prop_assert_eq!(&events, &vec![EnrolmentEvent::Stopped { why, at: now }]);
                            m.status = "stopped";
                        }
                        Some(Ok(at)) => {
                            let Some(EnrolmentEvent::StepPlanned { step, task }) = events.first() else {
                                return Err(TestCaseError::fail(format!("{events:?} at {now}, model {m:?}")));
                            };
                            prop_assert_eq!(usize::from(*step), m.planned);
                            prop_assert_eq!(task.due_at, Some(at));
                            prop_assert_eq!(task.kind, TaskKind::ContentSequence);
                            let purpose = if steps[m.planned].1 { ConsentPurpose::Marketing } else { ConsentPurpose::CareReminder };
                            prop_assert_eq!(task.purpose, purpose);
                            prop_assert!(p.as_ref().unwrap().may(purpose, now));
                            prop_assert!(days.insert(task.due_on), "two steps on {}", task.due_on);
                            prop_assert!(history.get(task.id).is_none(), "task id reused");
                            m.planned += 1;
                            m.last_due = Some(task.due_on);
                            m.tasks.push((task.due_on, None));
                            last_task = Some(task.id);
                            let done = m.planned == steps.len();
                            prop_assert_eq!(events.len(), if done { 2 } else { 1 });
                            if done {
                                m.status = "completed";
                            }
                            followup::apply(&mut history, &FollowUpEvent::TaskPlanned((**task).clone()));
                        }
                    }
                    for e in &events {
                        content::apply(&mut state, e);
                    }
                }
                Op::Care(g) => {
                    // A minute on: at one instant a withdrawal wins over a grant.
                    now += Duration::minutes(1);
                    patient_cmd(&mut p, consent(ConsentPurpose::CareReminder, g), now);
                    m.care = g;
                    m.care_withdrawn = !g;
                }
                Op::Marketing(g) => {
                    now += Duration::minutes(1);
                    patient_cmd(&mut p, consent(ConsentPurpose::Marketing, g), now);
                    m.marketing = g;
                    m.marketing_withdrawn = !g;
                }
                Op::Outcome(opt_out) => {
                    let Some(id) = last_task else { continue };
                    let outcome = if opt_out { TaskOutcome::OptedOut } else { TaskOutcome::Reached };
                    if let Ok(es) = followup::record_outcome(&history, id, outcome, None, now) {
                        for e in &es {
                            followup::apply(&mut history, e);
                        }
                        if let Some(t) = m.tasks.last_mut().filter(|t| t.1.is_none()) {
                            t.1 = Some(monday(local_date(now)));
                            m.opted_out |= opt_out;
                        }
                    }
                }
                Op::CloseFile => {
                    patient_cmd(&mut p, PatientCommand::CloseChronicFile { condition: e11() }, now);
                    m.file_open = false;
                }
                Op::Stop => {
                    let ctx = SequenceContext { sequence: &seq, library: &lib, patient: p.as_ref().unwrap(),
                        history: &history, policy: &policy, calendar: cal };
                    let r = content::decide(state.as_ref(), &EnrolmentCommand::Stop { why: StopReason::Staff }, &ctx, now);
                    prop_assert_eq!(r.is_ok(), m.status == "active");
                    if let Ok(es) = r {
                        for e in &es {
                            content::apply(&mut state, e);
                        }
                        m.status = "stopped";
                    }
                }
            }
            let s = state.as_ref().unwrap();
            prop_assert_eq!(usize::from(s.planned), m.planned);
            prop_assert_eq!(s.last_due_on, m.last_due);
            let status = match s.status {
                EnrolmentStatus::Active => "active",
                EnrolmentStatus::Completed { .. } => "completed",
                EnrolmentStatus::Stopped { .. } => "stopped",
                _ => "other",
            };
            prop_assert_eq!(status, m.status);
        }
    }
}

/// A sequence whose item breaks the Advertising Law, or names an item the library lacks,
/// enrols nobody; a bad step order is refused with its path.
#[test]
fn unusable_sequences_are_refused() {
    let words = AdLawWords::default();
    let cure = ContentItem::new(
        ContentItemId::new(9),
        Title::parse("根治").unwrap(),
        ContentNature::Promotional,
        vec![],
        "三天根治糖尿病，治愈率100%",
        &words,
    )
    .unwrap();
    assert!(!cure.findings().is_empty());
    let lib = ContentLibrary::new(vec![cure]).unwrap();
    let seq = ContentSequence::new(
        SequenceId::new(1),
        Title::parse("x").unwrap(),
        SequenceTrigger::Manual,
        None,
        vec![
            SequenceStep {
                after_days: 0,
                item: ContentItemId::new(9),
            },
            SequenceStep {
                after_days: 1,
                item: ContentItemId::new(8),
            },
        ],
        followup::TaskChannel::WechatMessage,
    )
    .unwrap();
    let found = content::check_sequence(&seq, &lib);
    assert!(
        matches!(
            found.last(),
            Some(content::SequenceCheck::UnknownItem { step: 1, .. })
        ),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|c| matches!(c, content::SequenceCheck::AdLaw { step: 0, .. }))
    );
    let mut p = None;
    patient_cmd(&mut p, PatientCommand::Register(registration(1)), t0());
    let history = FollowUpHistory::new(PatientId::new(1));
    let policy = FollowUpPolicy::default();
    let ctx = SequenceContext {
        sequence: &seq,
        library: &lib,
        patient: p.as_ref().unwrap(),
        history: &history,
        policy: &policy,
        calendar: ClinicCalendar::default(),
    };
    let err = content::decide(
        None,
        &EnrolmentCommand::Enrol { started_at: t0() },
        &ctx,
        t0(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("steps[1] names unknown content item CI8"),
        "{err}"
    );
    let bad = serde_json::from_str::<ContentSequence>(
        r#"{"id":2,"name":"x","trigger":"manual","steps":[{"after_days":3,"item":1},{"after_days":3,"item":1}],"channel":"wechat_message"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("steps[1].after_days"), "{bad}");
    let no_condition = serde_json::from_str::<ContentSequence>(
        r#"{"id":2,"name":"x","trigger":"chronic_file_opened","steps":[{"after_days":0,"item":1}],"channel":"call"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(no_condition.contains("condition"), "{no_condition}");
}
