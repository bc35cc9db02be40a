//! The daily plan of content sequences, incrementally: each `Plan` event visits only the
//! patients and enrolments whose sequence step can be due or whose records changed.
//!
//! Visiting every patient × every sequence every day made a year's journal quadratic, and
//! almost every visit found nothing: a patient who is not enrolled and has no trigger, an
//! enrolment that is over, or one whose next step falls on a later day. What a visit of a
//! patient in a sequence decides is a function of the patient, their follow-up history,
//! their enrolment, the configuration and the time ([`content::next_step`] and
//! [`ContentSequence::triggered_at`]). So the clinic keeps a [`SequenceIndex`], as
//! [`super::planning`] does for care plans:
//!
//! - `dirty`: patients whose records (patient events, follow-up events, enrolment events)
//!   changed since the last plan visited them: they are visited in every sequence (a new
//!   chronic file can trigger an enrolment, an opt-out or a withdrawn consent can stop one);
//! - `wake`: for each active enrolment, the first local day its next step can be due: the
//!   start's day plus the step's `after_days`, never before the day after the last step's.
//!   Before that day [`content::next_step`] answers `Waiting`, or something that only a
//!   change of the patient's records can bring about (a stop, a wait for consent), so the
//!   plan decides nothing for it. A step that was due and did not go (held by the weekly
//!   cap, waiting for consent) is visited again by every later plan, the same day's
//!   included (a plan late in the evening moves the task into the next day, perhaps the
//!   next week); a patient with a consent record dated after the plan is visited from the
//!   record's day (its answer changes as time reaches the record).
//!
//! A wake day may be early, never late. A configuration other than the index's (the
//! library, the sequences, the follow-up policy, the calendar), or a plan earlier than the
//! latest one, visits everyone and rebuilds the index. A property test (`tests` below)
//! compares every decision with visiting everyone.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::JourneyError;
use super::clinic::Clinic;
use super::config::JourneyConfig;
use super::content::enrolment_decision;
use super::layer::Implications;
use crate::calendar::{ClinicCalendar, add_days};
use crate::content::{
    self, ContentLibrary, ContentSequence, Enrolment, EnrolmentCommand, EnrolmentStatus,
};
use crate::followup::FollowUpPolicy;
use crate::id::{PatientId, SequenceId};
use crate::patient::Patient;

/// What an index was built under: a change of any of them visits everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SequenceKey {
    library: ContentLibrary,
    sequences: BTreeMap<SequenceId, ContentSequence>,
    policy: FollowUpPolicy,
    calendar: ClinicCalendar,
}

impl SequenceKey {
    fn of(config: &JourneyConfig) -> Self {
        SequenceKey {
            library: config.content.library.clone(),
            sequences: config.content.sequences.clone(),
            policy: config.followup.clone(),
            calendar: config.calendar,
        }
    }

    fn matches(&self, config: &JourneyConfig) -> bool {
        self.calendar == config.calendar
            && self.policy == config.followup
            && self.sequences == config.content.sequences
            && self.library == config.content.library
    }
}

/// What a `Plan` event's sequence pass found, for the clinic's index: which patients and
/// enrolments it visited, and from which day each enrolment must be visited again. Kept in
/// [`Implications::sequences_planned`]; opaque to hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencesChecked {
    /// The configuration, when the pass visited everyone: the index starts again from it.
    full: Option<Box<SequenceKey>>,
    at: DateTime<Utc>,
    /// The dirty patients the pass visited in every sequence.
    visited: Vec<PatientId>,
    /// Each enrolment visited, with its next wake day (`None`: not until the patient's
    /// records change).
    wakes: Vec<((PatientId, SequenceId), Option<NaiveDate>)>,
}

/// The clinic's sequence plan index ([`super::sequence_plans`]).
#[derive(Debug, Clone, Default)]
pub(super) struct SequenceIndex {
    key: Option<SequenceKey>,
    /// The latest plan's time: a plan before it visits everyone.
    at: Option<DateTime<Utc>>,
    /// Patients whose records changed since a plan last visited them.
    dirty: BTreeSet<PatientId>,
    /// Each active enrolment's wake day, and the same by day.
    wake_of: BTreeMap<(PatientId, SequenceId), NaiveDate>,
    by_day: BTreeSet<(NaiveDate, PatientId, SequenceId)>,
}

impl SequenceIndex {
    /// Whether the index answers for a plan at `at` under `config`.
    fn covers(&self, config: &JourneyConfig, at: DateTime<Utc>) -> bool {
        self.key.as_ref().is_some_and(|k| k.matches(config)) && self.at.is_some_and(|l| at >= l)
    }

    /// The pairs a plan on `today` must visit, in patient then sequence order: every
    /// sequence of a dirty patient, and the enrolments whose day has come.
    fn due(&self, today: NaiveDate, sequences: &[SequenceId]) -> Vec<(PatientId, SequenceId)> {
        let mut out: Vec<(PatientId, SequenceId)> = self
            .dirty
            .iter()
            .flat_map(|p| sequences.iter().map(move |s| (*p, *s)))
            .collect();
        let last = (today, PatientId::new(u64::MAX), SequenceId::new(u64::MAX));
        out.extend(self.by_day.range(..=last).map(|(_, p, s)| (*p, *s)));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn set_wake(&mut self, pair: (PatientId, SequenceId), wake: Option<NaiveDate>) {
        if let Some(old) = self.wake_of.remove(&pair) {
            self.by_day.remove(&(old, pair.0, pair.1));
        }
        if let Some(d) = wake {
            self.wake_of.insert(pair, d);
            self.by_day.insert((d, pair.0, pair.1));
        }
    }

    /// Folds a step into the index: a plan's findings first, then every patient whose
    /// records the step changed becomes dirty.
    pub(super) fn apply(&mut self, step: &Implications) {
        if let Some(c) = &step.sequences_planned {
            if let Some(key) = &c.full {
                *self = SequenceIndex {
                    key: Some((**key).clone()),
                    ..SequenceIndex::default()
                };
            }
            self.at = Some(self.at.map_or(c.at, |l| l.max(c.at)));
            for p in &c.visited {
                self.dirty.remove(p);
            }
            for (pair, wake) in &c.wakes {
                self.set_wake(*pair, *wake);
            }
        }
        if self.key.is_none() {
            // No index yet: the first plan visits everyone anyway.
            return;
        }
        let touched = step
            .patient
            .iter()
            .map(|(p, _)| *p)
            .chain(step.followup.iter().map(|(p, _)| *p))
            .chain(step.enrolments.iter().map(|(p, _, _)| *p));
        for p in touched {
            self.dirty.insert(p);
        }
    }
}

/// The first local day the enrolment's next step can be due, as the plan at `at` left it.
fn wake(
    e: Option<&Enrolment>,
    seq: &ContentSequence,
    p: &Patient,
    at: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Option<NaiveDate> {
    let e = e.filter(|e| e.status == EnrolmentStatus::Active)?;
    let today = calendar.local_date(at);
    let day = match seq.steps().get(usize::from(e.planned)) {
        None => today,
        Some(step) => {
            let mut on = add_days(e.started_on, u64::from(step.after_days));
            if let Some(last) = e.last_due_on {
                on = on.max(add_days(last, 1));
            }
            // A step due that did not go (held by the weekly cap, waiting for consent) is
            // tried again by every later plan, the same day's included: a plan late in
            // the evening moves the task out of quiet hours into the next day, and so
            // perhaps into a week with room under the cap.
            on.max(today)
        }
    };
    // A consent record dated after the plan changes the answer when time reaches it,
    // which may be later the same day (a journal out of order): visit on its day.
    let records = p.consents().records();
    let pending = records
        .get(records.partition_point(|r| r.at <= at))
        .map(|r| calendar.local_date(r.at));
    Some(pending.map_or(day, |d| d.min(day)))
}

/// `Plan`: enrols the patients each sequence's trigger names and plans the next step of
/// every active enrolment that can have one, patients in id order, sequences in id order.
/// Decides what visiting every patient in every sequence decides.
///
/// # Errors
///
/// The enrolment's [`ContentError`](crate::content::ContentError) (a sequence that
/// [`content::check_sequence`] refuses, when its trigger enrols someone).
pub(super) fn plan_sequences_step(
    state: &Clinic,
    config: &JourneyConfig,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    if config.content.sequences.is_empty() {
        return Ok(());
    }
    let today = config.calendar.local_date(at);
    let full = !state.sequence_plans.covers(config, at);
    let pairs: Vec<(PatientId, SequenceId)> = if full {
        let ids: Vec<SequenceId> = config.content.sequences.keys().copied().collect();
        state
            .patients
            .keys()
            .flat_map(|p| ids.iter().map(move |s| (*p, *s)))
            .collect()
    } else {
        let ids: Vec<SequenceId> = config.content.sequences.keys().copied().collect();
        state.sequence_plans.due(today, &ids)
    };
    let mut wakes = Vec::new();
    for (id, sid) in pairs {
        let (Some(p), Some(seq)) = (state.patients.get(&id), config.content.sequences.get(&sid))
        else {
            continue;
        };
        let mut current = state.enrolments.get(&(id, sid)).cloned();
        let before = step.enrolments.len();
        if current.is_none() {
            let Some(started_at) = seq.triggered_at(p) else {
                wakes.push(((id, sid), None));
                continue;
            };
            let enrol = EnrolmentCommand::Enrol { started_at };
            enrolment_decision(state, config, seq, id, None, &enrol, at, step)?;
            for (_, _, e) in step.enrolments.get(before..).unwrap_or(&[]) {
                content::apply(&mut current, e);
            }
        }
        if current
            .as_ref()
            .is_some_and(|e| e.status == EnrolmentStatus::Active)
        {
            let from = step.enrolments.len();
            let plan = EnrolmentCommand::Plan;
            enrolment_decision(state, config, seq, id, current.as_ref(), &plan, at, step)?;
            for (_, _, e) in step.enrolments.get(from..).unwrap_or(&[]) {
                content::apply(&mut current, e);
            }
        }
        wakes.push((
            (id, sid),
            wake(current.as_ref(), seq, p, at, config.calendar),
        ));
    }
    let visited = if full {
        Vec::new()
    } else {
        state.sequence_plans.dirty.iter().copied().collect()
    };
    step.sequences_planned = Some(SequencesChecked {
        full: full.then(|| Box::new(SequenceKey::of(config))),
        at,
        visited,
        wakes,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
