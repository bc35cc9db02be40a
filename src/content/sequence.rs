//! Content sequences (每日一学/每日一药): the steps of content a patient is sent over days
//! after a trigger, and the per-patient enrolment aggregate that plans them as follow-up
//! tasks under consent, quiet hours and the weekly contact cap.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ContentError;
use super::library::ContentLibrary;
use crate::calendar::{ClinicCalendar, Period, add_days};
use crate::campaign::AdLawRule;
use crate::followup::{
    FollowUpHistory, FollowUpPolicy, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind,
    TaskOutcome,
};
use crate::id::{ContentItemId, PatientId, SequenceId};
use crate::patient::{ConditionCode, ConsentAction, ConsentPurpose, Patient};
use crate::text::Label;

/// One step of a sequence: an item sent `after_days` local days after the enrolment's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceStep {
    /// Local days after the start (0: the start's day).
    pub after_days: u16,
    /// The item sent.
    pub item: ContentItemId,
}

/// What enrols a patient in a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SequenceTrigger {
    /// Staff enrol patients by hand (a key patient chosen for daily content).
    Manual,
    /// Opening a chronic file for the sequence's condition enrols the patient, from the
    /// file's opening.
    ChronicFileOpened,
}

/// A content sequence: steps of content sent over days after a trigger, through one remote
/// channel. Validated on construction and on deserialisation; whether its items exist and
/// pass the Advertising Law lint is [`check_sequence`]'s question, asked again at every
/// enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSequence", into = "RawSequence")]
pub struct ContentSequence {
    id: SequenceId,
    name: Label,
    trigger: SequenceTrigger,
    condition: Option<ConditionCode>,
    steps: Vec<SequenceStep>,
    channel: TaskChannel,
    /// The rule key of its tasks (`sequence.{id}`), made once.
    key: RuleKey,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    id: SequenceId,
    name: Label,
    trigger: SequenceTrigger,
    #[serde(default)]
    condition: Option<ConditionCode>,
    steps: Vec<SequenceStep>,
    channel: TaskChannel,
}

impl TryFrom<RawSequence> for ContentSequence {
    type Error = ContentError;
    fn try_from(r: RawSequence) -> Result<Self, Self::Error> {
        ContentSequence::new(r.id, r.name, r.trigger, r.condition, r.steps, r.channel)
    }
}

impl From<ContentSequence> for RawSequence {
    fn from(s: ContentSequence) -> Self {
        RawSequence {
            id: s.id,
            name: s.name,
            trigger: s.trigger,
            condition: s.condition,
            steps: s.steps,
            channel: s.channel,
        }
    }
}

impl ContentSequence {
    /// The most steps of one sequence: a year of daily content.
    pub const MAX_STEPS: usize = 366;
    /// The latest step, in days after the start.
    pub const MAX_AFTER_DAYS: u16 = 3660;

    /// A sequence.
    ///
    /// # Errors
    ///
    /// [`ContentError::Sequence`] naming the field: no steps or more than
    /// [`ContentSequence::MAX_STEPS`], steps not strictly later one after the other (at most
    /// one a day) or past [`ContentSequence::MAX_AFTER_DAYS`], a channel that is not a call
    /// or a message, a [`SequenceTrigger::ChronicFileOpened`] without a condition.
    pub fn new(
        id: SequenceId,
        name: Label,
        trigger: SequenceTrigger,
        condition: Option<ConditionCode>,
        steps: Vec<SequenceStep>,
        channel: TaskChannel,
    ) -> Result<Self, ContentError> {
        let bad = |path: String, why: String| ContentError::Sequence {
            sequence: id,
            path,
            why,
        };
        if steps.is_empty() || steps.len() > Self::MAX_STEPS {
            return Err(bad(
                "steps".into(),
                format!(
                    "{} steps is not between 1 and {}",
                    steps.len(),
                    Self::MAX_STEPS
                ),
            ));
        }
        let mut prev: Option<u16> = None;
        for (i, s) in steps.iter().enumerate() {
            if s.after_days > Self::MAX_AFTER_DAYS || prev.is_some_and(|p| s.after_days <= p) {
                return Err(bad(
                    format!("steps[{i}].after_days"),
                    format!(
                        "{} is not after the step before and at most {}",
                        s.after_days,
                        Self::MAX_AFTER_DAYS
                    ),
                ));
            }
            prev = Some(s.after_days);
        }
        if !channel.is_remote() {
            return Err(bad(
                "channel".into(),
                format!("{channel} is not a call or message"),
            ));
        }
        if trigger == SequenceTrigger::ChronicFileOpened && condition.is_none() {
            return Err(bad(
                "condition".into(),
                "a chronic_file_opened trigger needs a condition".into(),
            ));
        }
        let key = RuleKey::parse(&format!("sequence.{}", id.get()))
            .map_err(|e| bad("id".into(), e.to_string()))?;
        Ok(ContentSequence {
            id,
            name,
            trigger,
            condition,
            steps,
            channel,
            key,
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> SequenceId {
        self.id
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &Label {
        &self.name
    }

    /// What enrols a patient.
    #[must_use]
    pub fn trigger(&self) -> SequenceTrigger {
        self.trigger
    }

    /// The condition it is for, if any.
    #[must_use]
    pub fn condition(&self) -> Option<&ConditionCode> {
        self.condition.as_ref()
    }

    /// The steps, in order.
    #[must_use]
    pub fn steps(&self) -> &[SequenceStep] {
        &self.steps
    }

    /// The channel.
    #[must_use]
    pub fn channel(&self) -> TaskChannel {
        self.channel
    }

    /// The rule key of its tasks: `sequence.{id}`.
    #[must_use]
    pub fn rule_key(&self) -> &RuleKey {
        &self.key
    }

    /// When `patient` is enrolled by the trigger: for [`SequenceTrigger::ChronicFileOpened`],
    /// the opening of their open file for the condition; never for
    /// [`SequenceTrigger::Manual`], nor for an anonymised patient.
    #[must_use]
    pub fn triggered_at(&self, patient: &Patient) -> Option<DateTime<Utc>> {
        if patient.is_anonymised() {
            return None;
        }
        match (self.trigger, &self.condition) {
            (SequenceTrigger::ChronicFileOpened, Some(c)) => {
                patient.open_chronic_file(c).map(|f| f.opened_at)
            }
            _ => None,
        }
    }
}

/// What the static check of a sequence against its library found. Every finding blocks
/// enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SequenceCheck {
    /// A step names an item the library does not hold.
    UnknownItem {
        /// The step, from 0.
        step: usize,
        /// The item.
        item: ContentItemId,
    },
    /// An item's copy uses a word the Advertising Law forbids in medical ads.
    AdLaw {
        /// The step, from 0.
        step: usize,
        /// The item.
        item: ContentItemId,
        /// The word found.
        word: String,
        /// The rule it breaks.
        rule: AdLawRule,
    },
}

/// The static check of a sequence before patients are enrolled, in the style of
/// [`check_book`](crate::campaign::check_book): every step's item must be in `library`, and
/// no item's copy may have Advertising Law findings. An empty list means it may be used.
#[must_use]
pub fn check_sequence(sequence: &ContentSequence, library: &ContentLibrary) -> Vec<SequenceCheck> {
    let mut out = Vec::new();
    for (step, s) in sequence.steps.iter().enumerate() {
        match library.get(s.item) {
            None => out.push(SequenceCheck::UnknownItem { step, item: s.item }),
            Some(i) => out.extend(i.findings().iter().map(|f| SequenceCheck::AdLaw {
                step,
                item: s.item,
                word: f.word.clone(),
                rule: f.rule,
            })),
        }
    }
    out
}

/// Why an enrolment stopped before its last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// Staff stopped it.
    Staff,
    /// The patient asked not to be contacted: an [`TaskOutcome::OptedOut`] on one of its
    /// tasks, or, for a marketing step, any opt-out no later marketing grant lifted.
    OptedOut,
    /// The patient withdrew the consent the next step rests on, after the enrolment began.
    ConsentWithdrawn,
    /// The chronic file of the sequence's condition was closed.
    FileClosed,
    /// The patient was anonymised.
    Anonymised,
}

/// Where an enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnrolmentStatus {
    /// Steps are still to come.
    Active,
    /// Every step was planned.
    Completed {
        /// When the last one was.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Stopped early.
    Stopped {
        /// Why.
        why: StopReason,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

/// One patient's enrolment in one sequence: the aggregate [`decide`] and [`apply`] work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The patient.
    pub patient: PatientId,
    /// The sequence.
    pub sequence: SequenceId,
    /// When the trigger happened.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub started_at: DateTime<Utc>,
    /// The local date the steps count from.
    #[serde(with = "crate::calendar::in_range::date")]
    pub started_on: NaiveDate,
    /// Where it stands.
    pub status: EnrolmentStatus,
    /// Steps planned so far: the next step's index.
    pub planned: u16,
    /// The local date the last planned step is due, if any.
    #[serde(default, with = "crate::calendar::in_range::option_date")]
    pub last_due_on: Option<NaiveDate>,
}

impl Enrolment {
    /// The subject of its tasks up to the step number (`SQ3@2026-03-01#`): each enrolment's
    /// steps have their own task ids.
    fn subject_prefix(&self) -> String {
        format!("{}@{}#", self.sequence, self.started_on)
    }
}

/// What staff, a trigger or the daily plan asks of an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnrolmentCommand {
    /// Enrols the patient, the steps counting from the local date of `started_at`.
    Enrol {
        /// When the trigger happened.
        #[serde(with = "crate::calendar::in_range::instant")]
        started_at: DateTime<Utc>,
    },
    /// Plans the next step, if it is due (the daily plan sends this).
    Plan,
    /// Stops the enrolment.
    Stop {
        /// Why.
        why: StopReason,
    },
}

/// What happened to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnrolmentEvent {
    /// The patient was enrolled.
    Enrolled {
        /// The patient.
        patient: PatientId,
        /// The sequence.
        sequence: SequenceId,
        /// When the trigger happened.
        #[serde(with = "crate::calendar::in_range::instant")]
        started_at: DateTime<Utc>,
        /// The local date the steps count from.
        #[serde(with = "crate::calendar::in_range::date")]
        started_on: NaiveDate,
    },
    /// A step was planned as a follow-up task (the host stores the task in the patient's
    /// follow-up history).
    StepPlanned {
        /// The step, from 0.
        step: u16,
        /// The task.
        task: Box<Task>,
    },
    /// The last step was planned.
    Completed {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Stopped early.
    Stopped {
        /// Why.
        why: StopReason,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

/// Everything an enrolment's decisions read besides the enrolment: the sequence and its
/// library, the patient and their follow-up history, the follow-up policy (quiet hours,
/// contact time, weekly cap) and the clinic calendar.
#[derive(Debug, Clone, Copy)]
pub struct SequenceContext<'a> {
    /// The sequence.
    pub sequence: &'a ContentSequence,
    /// Its library.
    pub library: &'a ContentLibrary,
    /// The patient.
    pub patient: &'a Patient,
    /// The patient's follow-up history (another patient's is read as empty).
    pub history: &'a FollowUpHistory,
    /// Quiet hours, contact time and weekly cap.
    pub policy: &'a FollowUpPolicy,
    /// The clinic calendar.
    pub calendar: ClinicCalendar,
}

/// What an enrolment's next step calls for at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The step is due: plan this task.
    Due {
        /// The step, from 0.
        step: u16,
        /// The task.
        task: Box<Task>,
    },
    /// The step falls due on a later local date.
    Waiting {
        /// The date.
        on: NaiveDate,
    },
    /// The step is due but the patient's week already holds the cap's contacts: it waits,
    /// and the steps after it move back with it.
    Held {
        /// The Monday of the local week.
        week_of: NaiveDate,
        /// The cap.
        cap: u8,
    },
    /// The patient has not consented to what the step rests on (and never withdrew it
    /// during the enrolment): the step waits for consent.
    NoConsent {
        /// The purpose.
        purpose: ConsentPurpose,
    },
    /// The enrolment must stop.
    Stop(StopReason),
    /// Every step was planned: the enrolment is complete.
    Complete,
    /// The enrolment is not active.
    Inactive,
}

/// The next step of `enrolment` at `now`, and what it calls for. The checks, in order:
///
/// 1. an enrolment that is not active: [`NextStep::Inactive`];
/// 2. an anonymised patient: stop ([`StopReason::Anonymised`]);
/// 3. every step planned: [`NextStep::Complete`];
/// 4. the sequence's condition had a chronic file and none is open now: stop
///    ([`StopReason::FileClosed`]);
/// 5. an opt-out on one of the enrolment's tasks, or for a marketing step an opt-out no
///    later marketing grant lifted: stop ([`StopReason::OptedOut`]);
/// 6. no consent to the step's purpose ([`ContentItem::purpose_for`](super::ContentItem::purpose_for)):
///    stop if the patient withdrew it after the enrolment began
///    ([`StopReason::ConsentWithdrawn`]), otherwise wait ([`NextStep::NoConsent`]);
/// 7. the step's day is the start's day plus its `after_days`, but never before the day
///    after the last step's (at most one step a day, so a held step pushes the rest back);
///    a day after today waits ([`NextStep::Waiting`]);
/// 8. the task is due at the policy's contact time on that day, or now if later, moved out
///    of quiet hours; when the patient's local week of that day already holds the policy's
///    weekly cap of contacts (outcomes recorded in it, and open contact tasks due in it),
///    the step is [`NextStep::Held`];
/// 9. otherwise the step is [`NextStep::Due`]: a [`TaskKind::ContentSequence`] task of low
///    priority (care tasks go first), resting on the step's purpose, for the patient's
///    owner. Its id derives from the patient, the sequence, the start and the step, so
///    planning it again is recognised.
#[must_use]
pub fn next_step(enrolment: &Enrolment, ctx: &SequenceContext<'_>, now: DateTime<Utc>) -> NextStep {
    if enrolment.status != EnrolmentStatus::Active {
        return NextStep::Inactive;
    }
    let patient = ctx.patient;
    if patient.is_anonymised() {
        return NextStep::Stop(StopReason::Anonymised);
    }
    let seq = ctx.sequence;
    let Some(step) = seq.steps.get(usize::from(enrolment.planned)) else {
        return NextStep::Complete;
    };
    if let Some(c) = &seq.condition {
        let had = patient.chronic_files().iter().any(|f| &f.condition == c);
        if had && patient.open_chronic_file(c).is_none() {
            return NextStep::Stop(StopReason::FileClosed);
        }
    }
    let Some(item) = ctx.library.get(step.item) else {
        // Refused at enrolment; a library edited since leaves the step waiting.
        return NextStep::Waiting { on: NaiveDate::MAX };
    };
    let purpose = item.purpose_for(patient);
    let history = (ctx.history.patient() == patient.id()).then_some(ctx.history);
    let prefix = enrolment.subject_prefix();
    let own = |outcome: TaskOutcome| {
        history.is_some_and(|h| {
            h.tasks().any(|r| {
                r.task.rule == seq.key
                    && r.outcome.is_some_and(|o| o.outcome == outcome)
                    && r.task
                        .reason
                        .subject()
                        .is_some_and(|s| s.starts_with(&prefix))
            })
        })
    };
    if own(TaskOutcome::OptedOut) {
        return NextStep::Stop(StopReason::OptedOut);
    }
    if purpose == ConsentPurpose::Marketing
        && let Some(at) = history.and_then(FollowUpHistory::opted_out_at)
    {
        let regranted = patient
            .consents()
            .in_force(ConsentPurpose::Marketing, now)
            .is_some_and(|r| r.at > at);
        if !regranted {
            return NextStep::Stop(StopReason::OptedOut);
        }
    }
    if !patient.may(purpose, now) {
        let withdrawn = patient
            .consents()
            .in_force(purpose, now)
            .is_some_and(|r| r.action == ConsentAction::Withdrawn && r.at >= enrolment.started_at);
        return if withdrawn {
            NextStep::Stop(StopReason::ConsentWithdrawn)
        } else {
            NextStep::NoConsent { purpose }
        };
    }
    let cal = ctx.calendar;
    let today = cal.local_date(now);
    let mut on = add_days(enrolment.started_on, u64::from(step.after_days));
    if let Some(last) = enrolment.last_due_on {
        on = on.max(add_days(last, 1));
    }
    if on > today {
        return NextStep::Waiting { on };
    }
    let contact = cal
        .start_of(today)
        .checked_add_signed(ctx.policy.contact_time() - chrono::NaiveTime::MIN)
        .unwrap_or(now);
    let at = ctx.policy.quiet_hours().next_allowed(contact.max(now), cal);
    let due_on = cal.local_date(at);
    let week = cal.period_start(due_on, Period::Week);
    let cap = ctx.policy.weekly_cap();
    if contacts_in_week(history, week, cal) >= usize::from(cap) {
        return NextStep::Held { week_of: week, cap };
    }
    let of = u16::try_from(seq.steps.len()).unwrap_or(u16::MAX);
    let reason = Reason::Content {
        subject: format!("{prefix}{}", enrolment.planned + 1),
        step: enrolment.planned.saturating_add(1),
        of,
        title: item.title().as_str().to_owned(),
    };
    let mut task = Task::new(
        patient.id(),
        seq.key.clone(),
        TaskKind::ContentSequence,
        enrolment.started_on,
        seq.channel,
        reason,
    )
    .with_due_on(due_on)
    .with_due_at(at)
    .with_priority(Priority::Low)
    .with_purpose(purpose);
    if let Some(owner) = patient.owner() {
        task = task.with_assignee(owner);
    }
    NextStep::Due {
        step: enrolment.planned,
        task: Box::new(task),
    }
}

/// Contacts that fall in the local week starting `week`: outcomes recorded in it, and open
/// contact tasks due in it.
fn contacts_in_week(
    history: Option<&FollowUpHistory>,
    week: NaiveDate,
    cal: ClinicCalendar,
) -> usize {
    let Some(h) = history else { return 0 };
    h.tasks()
        .filter(|r| r.task.channel.is_contact())
        .filter(|r| match r.outcome {
            Some(o) => cal.bucket(o.at, Period::Week) == week,
            None => cal.period_start(r.task.due_on, Period::Week) == week,
        })
        .count()
}

/// Decides what a command does to an enrolment; changes nothing.
///
/// `Plan` decides [`next_step`]: a due step is [`EnrolmentEvent::StepPlanned`] (with
/// [`EnrolmentEvent::Completed`] after the last), a stop is [`EnrolmentEvent::Stopped`],
/// anything else is no event.
///
/// # Errors
///
/// - [`ContentError::WrongEnrolment`] when the context's sequence or patient is not the
///   enrolment's;
/// - `Enrol`: [`ContentError::AlreadyEnrolled`] once enrolled (whatever became of it),
///   [`ContentError::Unusable`] when [`check_sequence`] finds anything,
///   [`ContentError::Sequence`] for an anonymised patient, and
///   [`ContentError::Calendar`](ContentError::Calendar) for a start outside the accepted range;
/// - `Plan`, `Stop`: [`ContentError::NotEnrolled`]; `Stop` on an enrolment that is not
///   active: [`ContentError::EnrolmentOver`].
pub fn decide(
    state: Option<&Enrolment>,
    command: &EnrolmentCommand,
    ctx: &SequenceContext<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<EnrolmentEvent>, ContentError> {
    let (patient, sequence) = (ctx.patient.id(), ctx.sequence.id);
    if let Some(e) = state
        && (e.patient != patient || e.sequence != sequence)
    {
        return Err(ContentError::WrongEnrolment { patient, sequence });
    }
    match command {
        EnrolmentCommand::Enrol { started_at } => {
            if state.is_some() {
                return Err(ContentError::AlreadyEnrolled { patient, sequence });
            }
            crate::calendar::check_instant("started_at", *started_at)?;
            let found = check_sequence(ctx.sequence, ctx.library);
            if !found.is_empty() {
                return Err(ContentError::Unusable { sequence, found });
            }
            if ctx.patient.is_anonymised() {
                return Err(ContentError::Sequence {
                    sequence,
                    path: "patient".into(),
                    why: format!("patient {patient} is anonymised"),
                });
            }
            Ok(vec![EnrolmentEvent::Enrolled {
                patient,
                sequence,
                started_at: *started_at,
                started_on: ctx.calendar.local_date(*started_at),
            }])
        }
        EnrolmentCommand::Plan => {
            let e = state.ok_or(ContentError::NotEnrolled { patient, sequence })?;
            Ok(match next_step(e, ctx, now) {
                NextStep::Due { step, task } => {
                    let last = usize::from(step) + 1 >= ctx.sequence.steps.len();
                    let mut out = vec![EnrolmentEvent::StepPlanned { step, task }];
                    if last {
                        out.push(EnrolmentEvent::Completed { at: now });
                    }
                    out
                }
                NextStep::Stop(why) => vec![EnrolmentEvent::Stopped { why, at: now }],
                NextStep::Complete => vec![EnrolmentEvent::Completed { at: now }],
                _ => vec![],
            })
        }
        EnrolmentCommand::Stop { why } => {
            let e = state.ok_or(ContentError::NotEnrolled { patient, sequence })?;
            if e.status != EnrolmentStatus::Active {
                return Err(ContentError::EnrolmentOver { patient, sequence });
            }
            Ok(vec![EnrolmentEvent::Stopped { why: *why, at: now }])
        }
    }
}

/// Applies an event; never fails (an event that does not fit the state changes nothing).
pub fn apply(state: &mut Option<Enrolment>, event: &EnrolmentEvent) {
    match (state.as_mut(), event) {
        (
            None,
            EnrolmentEvent::Enrolled {
                patient,
                sequence,
                started_at,
                started_on,
            },
        ) => {
            *state = Some(Enrolment {
                patient: *patient,
                sequence: *sequence,
                started_at: *started_at,
                started_on: *started_on,
                status: EnrolmentStatus::Active,
                planned: 0,
                last_due_on: None,
            });
        }
        (Some(e), EnrolmentEvent::StepPlanned { step, task })
            if e.status == EnrolmentStatus::Active && *step == e.planned =>
        {
            e.planned = e.planned.saturating_add(1);
            e.last_due_on = Some(task.due_on);
        }
        (Some(e), EnrolmentEvent::Completed { at }) if e.status == EnrolmentStatus::Active => {
            e.status = EnrolmentStatus::Completed { at: *at };
        }
        (Some(e), EnrolmentEvent::Stopped { why, at }) if e.status == EnrolmentStatus::Active => {
            e.status = EnrolmentStatus::Stopped { why: *why, at: *at };
        }
        _ => {}
    }
}
