//! The care follow-up planner (诊后随访): due and overdue care tasks from chronic files,
//! visits, fills and consent.

mod history;
mod metrics;
mod occurrence;
mod planner;
mod policy;
mod rules;
mod solar;
mod task;

pub use history::{FollowUpEvent, FollowUpHistory, TaskRecord, record_outcome};
pub use task::{
    Outcome, OutcomeRecord, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind, task_id,
};

pub use metrics::{StaffFollowUpMetrics, staff_metrics};
pub use planner::{Facts, HeldTask, Hold, OverdueTask, Plan, Skip, Skipped, plan};
pub use policy::{FollowUpPolicy, MAX_WEEKLY_CAP, QuietHours};
pub use rules::{CarePlan, FixedDate, MAX_RULES, Rule, RuleKind, SeasonDates};
pub use solar::{SolarTerm, SolarTermTable};

use chrono::NaiveTime;

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
    /// A solar-term table entry is wrong.
    #[error("solar terms of {year}: {why}")]
    SolarTerms {
        /// The year.
        year: i32,
        /// What is wrong.
        why: &'static str,
    },
    /// Quiet hours that start when they end.
    #[error("quiet hours from {start} to {end} are empty or cover the whole day")]
    QuietHours {
        /// The start given.
        start: NaiveTime,
        /// The end given.
        end: NaiveTime,
    },
    /// A number outside its allowed range.
    #[error("{field} {value} is outside {min}..={max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A rule with an empty list where it needs entries.
    #[error("{what} must not be empty")]
    EmptyRule {
        /// Which list.
        what: &'static str,
    },
    /// A fixed season date that does not exist or has no usable name.
    #[error("fixed date {month}-{day} is not a real month-day with a 1 to 16 character name")]
    FixedDate {
        /// The month given.
        month: u8,
        /// The day given.
        day: u8,
    },
    /// A care plan's name is empty, too long or holds control characters.
    #[error("care plan name {value:?} is not 1 to 64 printable characters")]
    PlanName {
        /// The name given.
        value: String,
    },
    /// Two rules of a plan share a key.
    #[error("rule key {key} is used twice in the care plan")]
    DuplicateRule {
        /// The key.
        key: RuleKey,
    },
}

#[cfg(test)]
mod tests;
