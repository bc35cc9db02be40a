//! A patient's follow-up history: the tasks planned and the outcomes recorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::FollowUpError;
use super::task::{OutcomeRecord, Task, TaskOutcome};
use crate::id::{PatientId, StaffId, TaskId};

/// One planned task and its outcome, once recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task as planned.
    pub task: Task,
    /// Its outcome, if recorded. A task has at most one: a retry is a new task.
    pub outcome: Option<OutcomeRecord>,
}

/// A fact about a patient's follow-ups. Applied in order by [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FollowUpEvent {
    /// A task was planned.
    TaskPlanned(Task),
    /// An outcome was recorded for a planned task.
    OutcomeRecorded {
        /// The task.
        task: TaskId,
        /// What happened.
        record: OutcomeRecord,
    },
    /// The patient was anonymised: every task, with the conditions, drugs and dates in its
    /// reason, is removed for good, and no task is ever planned again. Decided by
    /// [`FollowUpHistory::anonymise`].
    Anonymised {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Every task planned for one patient and its outcome: the state the planner reads to know
/// what was done, what to retry, and whether the patient opted out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawHistory")]
pub struct FollowUpHistory {
    patient: PatientId,
    tasks: BTreeMap<TaskId, TaskRecord>,
    /// Derived from `tasks`, kept so the planner's hot loop need not scan for it.
    #[serde(skip)]
    opted_out_at: Option<DateTime<Utc>>,
    /// Left out of the serde form until set, so histories of live patients keep the form
    /// they always had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anonymised_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawHistory {
    patient: PatientId,
    tasks: BTreeMap<TaskId, TaskRecord>,
    #[serde(default)]
    anonymised_at: Option<DateTime<Utc>>,
}

impl From<RawHistory> for FollowUpHistory {
    fn from(r: RawHistory) -> Self {
        let opted_out_at = r
            .tasks
            .values()
            .filter_map(|t| t.outcome)
            .filter(|o| o.outcome == TaskOutcome::OptedOut)
            .map(|o| o.at)
            .max();
        FollowUpHistory {
            patient: r.patient,
            tasks: r.tasks,
            opted_out_at,
            anonymised_at: r.anonymised_at,
        }
    }
}

impl FollowUpHistory {
    /// An empty history for a patient.
    #[must_use]
    pub fn new(patient: PatientId) -> Self {
        FollowUpHistory {
            patient,
            tasks: BTreeMap::new(),
            opted_out_at: None,
            anonymised_at: None,
        }
    }

    /// The patient.
    #[must_use]
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// Every task, in id order.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// One task.
    #[must_use]
    pub fn get(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.get(&id)
    }

    /// The number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task was ever planned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The latest instant the patient opted out, if they ever did.
    #[must_use]
    pub fn opted_out_at(&self) -> Option<DateTime<Utc>> {
        self.opted_out_at
    }

    /// When the patient was anonymised, if they were: the history then holds no task and
    /// never will again.
    #[must_use]
    pub fn anonymised_at(&self) -> Option<DateTime<Utc>> {
        self.anonymised_at
    }

    /// Decides the events that erase this history because its patient is anonymised: none
    /// when it already is (so a retried erasure is harmless), else one
    /// [`FollowUpEvent::Anonymised`].
    ///
    /// Every task goes, not only its reason: the rule key (`diabetes_call`), the task kind
    /// and the task id (a hash over the condition code or drug, easily reversed over the
    /// short list of codes) each tell the patient's conditions. Erasing a patient who has no
    /// stored history yet still commits this event (on [`FollowUpHistory::new`]), so that a
    /// plan decided before the erasure and committed after it plants nothing.
    ///
    /// A host erases every port at once with `store::erase_patient`.
    #[must_use]
    pub fn anonymise(&self, at: DateTime<Utc>) -> Vec<FollowUpEvent> {
        if self.anonymised_at.is_some() {
            vec![]
        } else {
            vec![FollowUpEvent::Anonymised { at }]
        }
    }

    /// Rebuilds a history from its events, in order.
    pub fn replay<'a, I: IntoIterator<Item = &'a FollowUpEvent>>(
        patient: PatientId,
        events: I,
    ) -> Self {
        let mut h = FollowUpHistory::new(patient);
        for e in events {
            apply(&mut h, e);
        }
        h
    }
}

/// Applies one event to a patient's follow-up history: the `apply` of the follow-up
/// aggregate, whose decisions are [`plan`](super::plan), [`record_outcome`] and
/// [`FollowUpHistory::anonymise`].
///
/// Events are facts already decided, so this never fails; an event for another patient, a
/// task planned twice or after anonymisation, or an outcome for an unknown task or one that
/// already has an outcome changes nothing.
pub fn apply(history: &mut FollowUpHistory, event: &FollowUpEvent) {
    match event {
        FollowUpEvent::TaskPlanned(task) => {
            if task.patient == history.patient && history.anonymised_at.is_none() {
                history.tasks.entry(task.id).or_insert_with(|| TaskRecord {
                    task: task.clone(),
                    outcome: None,
                });
            }
        }
        FollowUpEvent::OutcomeRecorded { task, record } => {
            if let Some(r) = history.tasks.get_mut(task)
                && r.outcome.is_none()
            {
                r.outcome = Some(*record);
                if record.outcome == TaskOutcome::OptedOut {
                    history.opted_out_at = history.opted_out_at.max(Some(record.at));
                }
            }
        }
        FollowUpEvent::Anonymised { at } => {
            if history.anonymised_at.is_none() {
                history.tasks.clear();
                // Derived from the tasks, which are gone.
                history.opted_out_at = None;
                history.anonymised_at = Some(*at);
            }
        }
    }
}

/// Decides the events that record an outcome for a planned task.
///
/// Recording the same outcome again (at any time, by anyone) returns no events, so a retried
/// request is harmless; a different outcome for a task that already has one is refused (a
/// retry after "not reached" is a new task, which the next plan proposes).
///
/// # Errors
///
/// [`FollowUpError::UnknownTask`] when the task was never planned for this patient,
/// [`FollowUpError::OutcomeAlreadyRecorded`] when it has a different outcome.
pub fn record_outcome(
    history: &FollowUpHistory,
    task: TaskId,
    outcome: TaskOutcome,
    by: Option<StaffId>,
    at: DateTime<Utc>,
) -> Result<Vec<FollowUpEvent>, FollowUpError> {
    let record = history.get(task).ok_or(FollowUpError::UnknownTask {
        task,
        patient: history.patient,
    })?;
    let given = OutcomeRecord { outcome, at, by };
    match record.outcome {
        None => Ok(vec![FollowUpEvent::OutcomeRecorded {
            task,
            record: given,
        }]),
        // A retried request carries a later time; the outcome is what must agree.
        Some(existing) if existing.outcome == outcome => Ok(vec![]),
        Some(existing) => Err(FollowUpError::OutcomeAlreadyRecorded {
            task,
            recorded: existing.outcome,
            given: outcome,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::followup::{Reason, RuleKey, TaskChannel, TaskKind, task_id};
    use crate::patient::ConditionCode;
    use chrono::{Days, NaiveDate};
    use proptest::prelude::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_416_800 + secs, 0).unwrap_or_default()
    }

    /// A chronic follow-up task `n` for patient 1: its reason names the condition.
    fn diabetes_task(n: u64) -> Task {
        let patient = PatientId::new(1);
        let rule = RuleKey::parse("diabetes_call").unwrap();
        let due = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + Days::new(n);
        let task = Task::new(
            patient,
            rule.clone(),
            TaskKind::ChronicFollowUp,
            due,
            TaskChannel::Call,
            Reason::ChronicFollowUp {
                condition: ConditionCode::parse("E11").unwrap(),
                name: "2型糖尿病".into(),
                last: None,
                per_year: 4,
            },
        )
        .with_assignee(StaffId::new(1));
        // The constructor derives the id the planner would.
        assert_eq!(task.id, task_id(patient, &rule, due, Some("E11"), 0));
        task
    }

    fn opted_out(task: &Task, secs: i64) -> FollowUpEvent {
        FollowUpEvent::OutcomeRecorded {
            task: task.id,
            record: OutcomeRecord {
                outcome: TaskOutcome::OptedOut,
                at: at(secs),
                by: None,
            },
        }
    }

    #[test]
    fn anonymising_removes_every_task_and_keeps_them_out() {
        let t = diabetes_task(1);
        let mut h = FollowUpHistory::replay(
            PatientId::new(1),
            &[FollowUpEvent::TaskPlanned(t.clone()), opted_out(&t, 5)],
        );
        assert_eq!(h.opted_out_at(), Some(at(5)));
        let erase = h.anonymise(at(10));
        assert_eq!(erase, vec![FollowUpEvent::Anonymised { at: at(10) }]);
        apply(&mut h, &erase[0]);
        assert!(h.is_empty());
        assert_eq!(h.opted_out_at(), None);
        assert_eq!(h.anonymised_at(), Some(at(10)));
        // A plan decided before the erasure and committed after it plants nothing.
        apply(&mut h, &FollowUpEvent::TaskPlanned(diabetes_task(2)));
        assert!(h.is_empty());
        // Erasing again decides nothing and a replayed second event keeps the first time.
        assert!(h.anonymise(at(20)).is_empty());
        apply(&mut h, &FollowUpEvent::Anonymised { at: at(20) });
        assert_eq!(h.anonymised_at(), Some(at(10)));
    }

    #[test]
    fn the_serde_form_of_a_live_history_is_unchanged() {
        let h = FollowUpHistory::replay(
            PatientId::new(1),
            &[FollowUpEvent::TaskPlanned(diabetes_task(1))],
        );
        let json = serde_json::to_value(&h).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["patient", "tasks"]);
        let old_form = r#"{"patient":1,"tasks":{}}"#;
        let back: FollowUpHistory = serde_json::from_str(old_form).unwrap();
        assert_eq!(back, FollowUpHistory::new(PatientId::new(1)));
    }

    #[test]
    fn an_anonymised_history_round_trips_without_its_tasks() {
        let mut h = FollowUpHistory::replay(
            PatientId::new(1),
            &[FollowUpEvent::TaskPlanned(diabetes_task(1))],
        );
        apply(&mut h, &FollowUpEvent::Anonymised { at: at(3) });
        let json = serde_json::to_string(&h).unwrap();
        assert!(!json.contains("E11") && !json.contains("糖尿病"), "{json}");
        assert_eq!(serde_json::from_str::<FollowUpHistory>(&json).unwrap(), h);
    }

    fn arb_event() -> impl Strategy<Value = FollowUpEvent> {
        prop_oneof![
            (0u64..6).prop_map(|n| FollowUpEvent::TaskPlanned(diabetes_task(n))),
            (0u64..6, 0i64..100).prop_map(|(n, s)| opted_out(&diabetes_task(n), s)),
            (0i64..100).prop_map(|s| FollowUpEvent::Anonymised { at: at(s) }),
        ]
    }

    proptest! {
        /// Once an `Anonymised` event is applied, whatever came before or after, the history
        /// holds no task, reports no opt-out, serialises without the condition, and keeps the
        /// first erasure's time.
        #[test]
        fn nothing_survives_or_follows_an_erasure(
            before in proptest::collection::vec(arb_event(), 0..12),
            when in 0i64..100,
            after in proptest::collection::vec(arb_event(), 0..12),
        ) {
            let mut h = FollowUpHistory::replay(PatientId::new(1), &before);
            let first = h.anonymised_at();
            for e in h.anonymise(at(when)) {
                apply(&mut h, &e);
            }
            for e in &after {
                apply(&mut h, e);
            }
            prop_assert!(h.is_empty());
            prop_assert_eq!(h.opted_out_at(), None);
            prop_assert_eq!(h.anonymised_at(), Some(first.unwrap_or(at(when))));
            prop_assert!(h.anonymise(at(when)).is_empty());
            let json = serde_json::to_string(&h).unwrap();
            prop_assert!(!json.contains("E11") && !json.contains("糖尿病"));
            prop_assert_eq!(serde_json::from_str::<FollowUpHistory>(&json).unwrap(), h);
        }
    }
}
