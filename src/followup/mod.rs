//! The care follow-up planner (诊后随访): due and overdue care tasks from chronic files,
//! visits, fills and consent.

mod history;
mod task;

pub use history::{FollowUpEvent, FollowUpHistory, TaskRecord, record_outcome};
pub use task::{
    Outcome, OutcomeRecord, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind, task_id,
};

use crate::id::{PatientId, TaskId};

/// Errors from loading care plans and recording outcomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FollowUpError {
    /// A rule key is empty, too long, or holds characters other than ASCII letters, digits,
    /// `_`, `-` and `.`.
    #[error("rule key {value:?} is not 1 to 32 ASCII letters, digits, '_', '-' or '.'")]
    RuleKey {
        /// The key given (at most 40 characters of it).
        value: String,
    },
    /// An outcome for a task that was never planned for the patient.
    #[error("task {task} was never planned for patient {patient}")]
    UnknownTask {
        /// The task.
        task: TaskId,
        /// The patient.
        patient: PatientId,
    },
    /// A second, different outcome for a task.
    #[error("task {task} already has outcome {recorded}, refusing {given}")]
    OutcomeAlreadyRecorded {
        /// The task.
        task: TaskId,
        /// The outcome recorded.
        recorded: Outcome,
        /// The outcome given now.
        given: Outcome,
    },
}
