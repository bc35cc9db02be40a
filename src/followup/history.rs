//! A patient's follow-up history: the tasks planned and the outcomes recorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::FollowUpError;
use super::task::{Outcome, OutcomeRecord, Task};
use crate::id::{PatientId, StaffId, TaskId};

/// One planned task and its outcome, once recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task as planned.
    pub task: Task,
    /// Its outcome, if recorded. A task has at most one: a retry is a new task.
    pub outcome: Option<OutcomeRecord>,
}

/// A fact about a patient's follow-ups. Applied in order by [`FollowUpHistory::apply`].
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
}

#[derive(Deserialize)]
struct RawHistory {
    patient: PatientId,
    tasks: BTreeMap<TaskId, TaskRecord>,
}

impl From<RawHistory> for FollowUpHistory {
    fn from(r: RawHistory) -> Self {
        let opted_out_at = r
            .tasks
            .values()
            .filter_map(|t| t.outcome)
            .filter(|o| o.outcome == Outcome::OptedOut)
            .map(|o| o.at)
            .max();
        FollowUpHistory {
            patient: r.patient,
            tasks: r.tasks,
            opted_out_at,
        }
    }
}

impl FollowUpHistory {
    /// An empty history for a patient.
    pub fn new(patient: PatientId) -> Self {
        FollowUpHistory {
            patient,
            tasks: BTreeMap::new(),
            opted_out_at: None,
        }
    }

    /// The patient.
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// Every task, in id order.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// One task.
    pub fn get(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.get(&id)
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task was ever planned.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The latest instant the patient opted out, if they ever did.
    pub fn opted_out_at(&self) -> Option<DateTime<Utc>> {
        self.opted_out_at
    }

    /// Applies one event. Events are facts already decided, so this never fails; an event for
    /// another patient, a task planned twice, or an outcome for an unknown task or one that
    /// already has an outcome changes nothing.
    pub fn apply(&mut self, event: &FollowUpEvent) {
        match event {
            FollowUpEvent::TaskPlanned(task) => {
                if task.patient == self.patient {
                    self.tasks.entry(task.id).or_insert_with(|| TaskRecord {
                        task: task.clone(),
                        outcome: None,
                    });
                }
            }
            FollowUpEvent::OutcomeRecorded { task, record } => {
                if let Some(r) = self.tasks.get_mut(task)
                    && r.outcome.is_none()
                {
                    r.outcome = Some(*record);
                    if record.outcome == Outcome::OptedOut {
                        self.opted_out_at = self.opted_out_at.max(Some(record.at));
                    }
                }
            }
        }
    }

    /// Rebuilds a history from its events, in order.
    pub fn replay<'a, I: IntoIterator<Item = &'a FollowUpEvent>>(
        patient: PatientId,
        events: I,
    ) -> Self {
        let mut h = FollowUpHistory::new(patient);
        for e in events {
            h.apply(e);
        }
        h
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
    outcome: Outcome,
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
