//! Content sequences and event reminders in the journey layer (issue 20): the glue the
//! layer's match arms call, kept out of `layer.rs`.
//!
//! - A `Sequence` event enrols a patient in a content sequence, plans its next step or
//!   stops it ([`content::decide`]).
//! - The daily `Plan` enrols the patients a sequence's trigger names (an open chronic file
//!   of its condition) and plans the next step of every active enrolment, after the care
//!   plans' tasks of the same day, so the weekly cap counts those first
//!   ([`super::sequence_plans`], which visits only the enrolments that can change).
//! - An `Outreach` command plans the reminders of the patients it leaves registered
//!   ([`event::plan_reminders`]) and cancels those of a seat given back, a check-in or a
//!   cancelled event ([`event::cancelled_event_reminders`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::JourneyError;
use super::clinic::Clinic;
use super::config::JourneyConfig;
use super::layer::Implications;
use serde::{Deserialize, Serialize};

use crate::content::{
    self, ContentItem, ContentLibrary, ContentSequence, Enrolment, EnrolmentCommand,
    EnrolmentEvent, SequenceCheck, SequenceContext,
};
use crate::event::{self, EventReminderPolicy, Roster, RosterEvent};
use crate::followup::{self, FollowUpEvent, FollowUpHistory};
use crate::id::{OutreachEventId, PatientId, SequenceId};

/// The content the journey sends: the library, the sequences patients are enrolled in, and
/// how registered patients are reminded of outreach events. The default: nothing to send,
/// and [`EventReminderPolicy::default`].
///
/// Its serde form (the `content` member of [`JourneyConfig`]'s) goes through
/// [`ContentConfig::new`]: `library` is a list of [`ContentItem`](crate::content::ContentItem)s,
/// `sequences` a list of [`ContentSequence`]s, `event_reminders` an
/// [`EventReminderPolicy`], each optional. A refusal names the JSON path and the value
/// (`sequences[1].steps[0].item: content item CI9 is not in the library`):
///
/// ```
/// use clinic_ops::id::SequenceId;
/// use clinic_ops::journey::ContentConfig;
///
/// let config: ContentConfig = serde_json::from_str(r#"{
///     "library": [{"id": 1, "title": "降压药怎么吃", "nature": "education",
///                  "conditions": ["I10"], "copy": "按时服药，定期测量血压"}],
///     "sequences": [{"id": 1, "name": "每日一药", "trigger": "chronic_file_opened",
///                    "condition": "I10", "channel": "wechat_message",
///                    "steps": [{"after_days": 0, "item": 1}]}]
/// }"#)?;
/// assert!(config.sequences.contains_key(&SequenceId::new(1)));
/// let refused = serde_json::from_str::<ContentConfig>(
///     r#"{"sequences": [{"id": 1, "name": "x", "trigger": "manual", "channel": "call",
///                        "steps": [{"after_days": 0, "item": 9}]}]}"#,
/// );
/// assert!(refused.unwrap_err().to_string().contains("sequences[0].steps[0].item"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawContentConfig", into = "RawContentConfig")]
pub struct ContentConfig {
    /// The content library.
    pub library: ContentLibrary,
    /// The sequences, by id.
    pub sequences: BTreeMap<SequenceId, ContentSequence>,
    /// Reminders before outreach events.
    pub event_reminders: EventReminderPolicy,
}

/// The most sequences one configuration holds.
pub const MAX_SEQUENCES: usize = 10_000;

/// A [`ContentConfig`] that cannot be loaded: where (a JSON path such as
/// `sequences[2].steps[0].item`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content config {path}: {why}")]
pub struct ContentConfigError {
    /// The JSON path of the offending value.
    pub path: String,
    /// What is wrong with it.
    pub why: String,
}

impl ContentConfig {
    /// Checks and builds the content configuration: each sequence (already checked by
    /// [`ContentSequence::new`] or its serde form) keyed by its id, and usable with the
    /// library: [`content::check_sequence`] finds nothing (every step's item is in the
    /// library, with no Advertising Law findings), so no enrolment is refused later for
    /// what the configuration could have said at load.
    ///
    /// # Errors
    ///
    /// [`ContentConfigError`] naming `sequences` (more than [`MAX_SEQUENCES`]),
    /// `sequences[i].id` (a sequence given twice) or `sequences[i].steps[j].item` (an item
    /// the library does not hold, or whose copy has Advertising Law findings).
    pub fn new(
        library: ContentLibrary,
        sequences: Vec<ContentSequence>,
        event_reminders: EventReminderPolicy,
    ) -> Result<Self, ContentConfigError> {
        if sequences.len() > MAX_SEQUENCES {
            return Err(ContentConfigError {
                path: "sequences".into(),
                why: format!("{} sequences, more than {MAX_SEQUENCES}", sequences.len()),
            });
        }
        let mut by_id = BTreeMap::new();
        for (i, s) in sequences.into_iter().enumerate() {
            if let Some(found) = content::check_sequence(&s, &library).first() {
                let (step, why) = match found {
                    SequenceCheck::UnknownItem { step, item } => {
                        (*step, format!("content item {item} is not in the library"))
                    }
                    SequenceCheck::AdLaw {
                        step,
                        item,
                        word,
                        rule,
                    } => (
                        *step,
                        format!("content item {item} copy has {word:?}: {rule}"),
                    ),
                };
                return Err(ContentConfigError {
                    path: format!("sequences[{i}].steps[{step}].item"),
                    why,
                });
            }
            let id = s.id();
            if by_id.insert(id, s).is_some() {
                return Err(ContentConfigError {
                    path: format!("sequences[{i}].id"),
                    why: format!("sequence {id} is given twice"),
                });
            }
        }
        Ok(ContentConfig {
            library,
            sequences: by_id,
            event_reminders,
        })
    }
}

/// [`ContentConfig`]'s serde form: the library and the sequences as lists.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContentConfig {
    #[serde(default, deserialize_with = "indexed_items")]
    library: Vec<ContentItem>,
    #[serde(default, deserialize_with = "indexed_sequences")]
    sequences: Vec<ContentSequence>,
    #[serde(default, deserialize_with = "named_reminders")]
    event_reminders: EventReminderPolicy,
}

/// A list of `T`, at most `max` long, with a refused element's index put in front of its
/// own message (`library[3]: content item CI4 copy has ...`).
fn indexed<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    name: &'static str,
    max: usize,
) -> Result<Vec<T>, D::Error> {
    struct Seq<T> {
        name: &'static str,
        max: usize,
        out: std::marker::PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of {}", self.name)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            use serde::de::Error;
            let mut out = Vec::new();
            loop {
                let i = out.len();
                if i >= self.max {
                    return Err(A::Error::custom(format_args!(
                        "content config {}: more than {}",
                        self.name, self.max
                    )));
                }
                match seq.next_element::<T>() {
                    Ok(Some(x)) => out.push(x),
                    Ok(None) => return Ok(out),
                    Err(e) => {
                        return Err(A::Error::custom(format_args!(
                            "content config {}[{i}]: {e}",
                            self.name
                        )));
                    }
                }
            }
        }
    }
    d.deserialize_seq(Seq {
        name,
        max,
        out: std::marker::PhantomData,
    })
}

fn indexed_items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ContentItem>, D::Error> {
    indexed(d, "library", ContentLibrary::MAX_ITEMS)
}

fn indexed_sequences<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ContentSequence>, D::Error> {
    indexed(d, "sequences", MAX_SEQUENCES)
}

fn named_reminders<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<EventReminderPolicy, D::Error> {
    EventReminderPolicy::deserialize(d)
        .map_err(|e| serde::de::Error::custom(format_args!("content config event_reminders: {e}")))
}

impl TryFrom<RawContentConfig> for ContentConfig {
    type Error = ContentConfigError;
    fn try_from(r: RawContentConfig) -> Result<Self, Self::Error> {
        // The library's own check, with the index of the item it refuses.
        let mut seen = std::collections::BTreeSet::new();
        for (i, item) in r.library.iter().enumerate() {
            if !seen.insert(item.id()) {
                return Err(ContentConfigError {
                    path: format!("library[{i}].id"),
                    why: format!("content item {} is given twice", item.id()),
                });
            }
        }
        let library = ContentLibrary::new(r.library).map_err(|e| ContentConfigError {
            path: "library".into(),
            why: e.to_string(),
        })?;
        ContentConfig::new(library, r.sequences, r.event_reminders)
    }
}

impl From<ContentConfig> for RawContentConfig {
    fn from(c: ContentConfig) -> Self {
        RawContentConfig {
            library: c.library.into(),
            sequences: c.sequences.into_values().collect(),
            event_reminders: c.event_reminders,
        }
    }
}

impl Clinic {
    /// A patient's enrolment in a content sequence (issue 20).
    pub fn enrolment(&self, patient: PatientId, sequence: SequenceId) -> Option<&Enrolment> {
        self.enrolments.get(&(patient, sequence))
    }

    /// Every enrolment, by patient, then sequence.
    pub fn enrolments(&self) -> impl Iterator<Item = &Enrolment> {
        self.enrolments.values()
    }
}

/// The patient's follow-up history with the follow-up events `step` already holds for them
/// folded in, so a decision sees the tasks planned earlier in the same event.
fn history_with<'a>(
    state: &'a Clinic,
    step: &Implications,
    patient: PatientId,
    owned: &'a mut Option<FollowUpHistory>,
) -> &'a FollowUpHistory {
    let pending = step.followup.iter().filter(|(p, _)| *p == patient);
    if pending.clone().next().is_none()
        && let Some(h) = state.histories.get(&patient)
    {
        return h;
    }
    let h = owned.insert(
        state
            .histories
            .get(&patient)
            .cloned()
            .unwrap_or_else(|| FollowUpHistory::new(patient)),
    );
    for (_, e) in pending {
        followup::apply(h, e);
    }
    h
}

/// Decides one command on one enrolment and adds its events, and the task of a planned
/// step, to `step`.
#[allow(clippy::too_many_arguments)]
pub(super) fn enrolment_decision(
    state: &Clinic,
    config: &JourneyConfig,
    sequence: &ContentSequence,
    patient: PatientId,
    current: Option<&Enrolment>,
    command: &EnrolmentCommand,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let p = state
        .patients
        .get(&patient)
        .ok_or(JourneyError::UnknownPatient { patient })?;
    let mut owned = None;
    let history = history_with(state, step, patient, &mut owned);
    let ctx = SequenceContext {
        sequence,
        library: &config.content.library,
        patient: p,
        history,
        policy: &config.followup,
        calendar: config.calendar,
    };
    let events = content::decide(current, command, &ctx, at)?;
    let mut tasks = Vec::new();
    for e in &events {
        if let EnrolmentEvent::StepPlanned { task, .. } = e
            && history.get(task.id).is_none()
        {
            tasks.push((patient, FollowUpEvent::TaskPlanned((**task).clone())));
        }
    }
    step.followup.extend(tasks);
    let id = sequence.id();
    step.enrolments
        .extend(events.into_iter().map(|e| (patient, id, e)));
    Ok(())
}

/// `Sequence`: a command on a patient's enrolment.
///
/// # Errors
///
/// [`JourneyError::UnknownSequence`], [`JourneyError::UnknownPatient`], or the enrolment's
/// [`ContentError`](crate::content::ContentError).
pub(super) fn sequence_step(
    state: &Clinic,
    config: &JourneyConfig,
    patient: PatientId,
    sequence: SequenceId,
    command: &EnrolmentCommand,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let seq = config
        .content
        .sequences
        .get(&sequence)
        .ok_or(JourneyError::UnknownSequence { sequence })?;
    let current = state.enrolments.get(&(patient, sequence));
    enrolment_decision(state, config, seq, patient, current, command, at, step)
}

/// `Outreach`, after the roster's decision: the reminders of the patients the event leaves
/// registered, and the cancellation of reminders that no longer apply for the patient the
/// command names (or, for a cancellation, for every registered patient).
pub(super) fn event_reminders_step(
    state: &Clinic,
    config: &JourneyConfig,
    id: OutreachEventId,
    at: DateTime<Utc>,
    step: &mut Implications,
) {
    let mut roster: Option<Roster> = state.rosters.get(&id).cloned();
    let mut touched: Vec<PatientId> = Vec::new();
    for (e_id, e) in &step.rosters {
        if *e_id != id {
            continue;
        }
        event::apply(&mut roster, e);
        match e {
            RosterEvent::Registered { patient, .. }
            | RosterEvent::Unregistered { patient }
            | RosterEvent::Attended { patient, .. } => touched.push(*patient),
            RosterEvent::Cancelled => {
                touched.extend(
                    state
                        .rosters
                        .get(&id)
                        .into_iter()
                        .flat_map(|r| r.seats().keys()),
                );
            }
            _ => {}
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let Some(roster) = roster else { return };
    let mut out: Vec<(PatientId, FollowUpEvent)> = Vec::new();
    for &p in &touched {
        let Some(history) = state.histories.get(&p) else {
            continue;
        };
        let others = |e: OutreachEventId| {
            if e == id {
                Some(&roster)
            } else {
                state.rosters.get(&e)
            }
        };
        for e in event::cancelled_event_reminders(history, others, at) {
            if let FollowUpEvent::OutcomeRecorded { task, .. } = &e
                && history
                    .get(*task)
                    .is_some_and(|r| r.task.reason.subject() == Some(&id.to_string()))
            {
                out.push((p, e));
            }
        }
    }
    // Only the patients this command touched: the others' reminders were planned when
    // they registered, and planning every seat again would make registering quadratic.
    let patient_of = |p: PatientId| {
        touched
            .binary_search(&p)
            .ok()
            .and_then(|_| state.patients.get(&p))
    };
    for t in event::plan_reminders(
        &roster,
        patient_of,
        &config.content.event_reminders,
        at,
        config.calendar,
    ) {
        let known = state
            .histories
            .get(&t.patient)
            .is_some_and(|h| h.get(t.id).is_some());
        if !known {
            out.push((t.patient, FollowUpEvent::TaskPlanned(t)));
        }
    }
    step.followup.extend(out);
}

/// Folds the enrolment events of one decision into the clinic's enrolments.
pub(super) fn apply_enrolments(
    enrolments: &mut BTreeMap<(PatientId, SequenceId), Enrolment>,
    events: &[(PatientId, SequenceId, EnrolmentEvent)],
) {
    for (p, s, e) in events {
        let mut current = enrolments.remove(&(*p, *s));
        content::apply(&mut current, e);
        if let Some(c) = current {
            enrolments.insert((*p, *s), c);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::calendar::ClinicCalendar;
    use crate::campaign::AdLawWords;
    use crate::content::{ContentItem, ContentNature, SequenceStep, SequenceTrigger};
    use crate::event::{LectureVenue, OutreachEvent, OutreachEventKind, RosterCommand};
    use crate::followup::{TaskChannel, TaskKind, TaskOutcome};
    use crate::id::{ClinicId, ContentItemId};
    use crate::journey::{ClinicEvent, ClinicEventKind, Decision, EventKey};
    use crate::patient::{Channel, ConsentPurpose, MobileNumber, PersonName, Registration};
    use crate::text::Label;

    /// Monday 2026-03-02 09:00 in the clinic.
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_413_200, 0).unwrap()
    }

    fn ev(key: u64, at: DateTime<Utc>, kind: ClinicEventKind) -> ClinicEvent {
        ClinicEvent {
            key: EventKey::new(key),
            at,
            kind,
        }
    }

    fn config() -> JourneyConfig {
        let mut c = JourneyConfig::new(ClinicCalendar::default());
        let item = ContentItem::new(
            ContentItemId::new(1),
            Label::parse("春季养生").unwrap(),
            ContentNature::Promotional,
            vec![],
            "春季养肝，欢迎到馆体验艾灸",
            &AdLawWords::default(),
        )
        .unwrap();
        c.content.library = ContentLibrary::new(vec![item]).unwrap();
        let steps = (0..3)
            .map(|d| SequenceStep {
                after_days: d,
                item: ContentItemId::new(1),
            })
            .collect();
        let seq = ContentSequence::new(
            SequenceId::new(1),
            Label::parse("每日一学").unwrap(),
            SequenceTrigger::Manual,
            None,
            steps,
            TaskChannel::WechatMessage,
        )
        .unwrap();
        c.content.sequences.insert(seq.id(), seq);
        c
    }

    fn registered(clinic: &mut Clinic, config: &JourneyConfig) -> PatientId {
        let p = PatientId::new(1);
        let reg = Registration::new(
            PersonName::parse("王五").unwrap(),
            MobileNumber::parse("13800000001").unwrap(),
            ClinicId::new(1),
            Channel::CommunityEvent,
        );
        let register = ClinicEventKind::Register {
            patient: p,
            registration: Box::new(reg),
        };
        let _ = clinic.handle(config, &ev(1, t0(), register)).unwrap();
        for (k, purpose) in [
            (2, ConsentPurpose::Marketing),
            (3, ConsentPurpose::CareReminder),
        ] {
            let consent = ClinicEventKind::Consent {
                patient: p,
                purpose,
                granted: true,
                source: Label::parse("front_desk").unwrap(),
            };
            let _ = clinic.handle(config, &ev(k, t0(), consent)).unwrap();
        }
        p
    }

    #[test]
    fn a_sequence_sends_one_step_a_day_through_the_daily_plan() {
        let config = config();
        let mut clinic = Clinic::new();
        let p = registered(&mut clinic, &config);
        let enrol = ClinicEventKind::Sequence {
            patient: p,
            sequence: SequenceId::new(1),
            command: EnrolmentCommand::Enrol { started_at: t0() },
        };
        let _ = clinic
            .handle(&config, &ev(10, t0(), enrol.clone()))
            .unwrap();
        assert!(matches!(
            clinic.handle(&config, &ev(11, t0(), enrol)),
            Err(JourneyError::Content(_))
        ));
        for day in 0..5 {
            let at = t0() + Duration::days(day);
            let done = clinic.handle(&config, &ev(20 + day as u64, at, ClinicEventKind::Plan));
            assert!(matches!(done, Ok(Decision::New(_))), "{done:?}");
        }
        let sent: Vec<_> = clinic
            .tasks()
            .filter(|t| t.kind == TaskKind::ContentSequence)
            .map(|t| (t.due_on, t.purpose))
            .collect();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(sent.iter().all(|s| s.1 == ConsentPurpose::Marketing));
        let e = clinic.enrolment(p, SequenceId::new(1)).unwrap();
        assert!(matches!(
            e.status,
            content::EnrolmentStatus::Completed { .. }
        ));
        let unknown = ClinicEventKind::Sequence {
            patient: p,
            sequence: SequenceId::new(9),
            command: EnrolmentCommand::Plan,
        };
        assert!(matches!(
            clinic.handle(&config, &ev(40, t0(), unknown)),
            Err(JourneyError::UnknownSequence { .. })
        ));
    }

    fn reminders(clinic: &Clinic, p: PatientId) -> Vec<Option<TaskOutcome>> {
        clinic
            .histories
            .get(&p)
            .map(|h| {
                h.tasks()
                    .filter(|r| r.task.kind == TaskKind::EventReminder)
                    .map(|r| r.outcome.map(|o| o.outcome))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn registering_plans_reminders_and_giving_the_seat_back_cancels_them() {
        let config = config();
        let mut clinic = Clinic::new();
        let p = registered(&mut clinic, &config);
        let lecture = OutreachEvent::new(
            OutreachEventId::new(1),
            ClinicId::new(1),
            OutreachEventKind::Lecture {
                venue: LectureVenue::OnSite,
            },
            Label::parse("控糖讲堂").unwrap(),
            t0() + Duration::hours(49),
            30,
        )
        .unwrap();
        let outreach = |command| ClinicEventKind::Outreach {
            event: OutreachEventId::new(1),
            command,
        };
        for (k, c) in [
            (10, RosterCommand::Create(lecture)),
            (11, RosterCommand::Publish),
            (12, RosterCommand::Register { patient: p }),
        ] {
            let _ = clinic.handle(&config, &ev(k, t0(), outreach(c))).unwrap();
        }
        assert_eq!(reminders(&clinic, p), vec![None, None]);
        let back = outreach(RosterCommand::Unregister { patient: p });
        let _ = clinic.handle(&config, &ev(13, t0(), back)).unwrap();
        assert_eq!(
            reminders(&clinic, p),
            vec![Some(TaskOutcome::Cancelled), Some(TaskOutcome::Cancelled)]
        );
    }
}
