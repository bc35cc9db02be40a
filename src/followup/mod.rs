//! The care follow-up planner (诊后随访): due and overdue care tasks from chronic files,
//! visits, fills and consent.
//!
//! A clinic writes its [`CarePlan`]s as data: rules for the efficacy check after a visit,
//! booking the revisit, refills before supply runs out, re-checks per condition, chronic
//! follow-ups at the file's cadence, season-change calls (solar terms or fixed dates),
//! birthdays and win-back. Each day the host calls [`plan`] per patient with the journey
//! records ([`Facts`]), the patient's [`FollowUpHistory`] and the clinic's
//! [`FollowUpPolicy`], stores the new tasks ([`Plan::events`]) through a
//! [`crate::store::TaskStore`], and records what staff report with [`record_outcome`].
//!
//! The planner enforces the rules a host must not forget:
//!
//! - **Consent.** Refill, re-check, chronic follow-up, post-visit, revisit and season tasks
//!   need [`ConsentPurpose::CareReminder`](crate::patient::ConsentPurpose); birthday, win-back
//!   and any rule marked `promotional` need `Marketing`. An opt-out stops marketing even
//!   where consent is on file, until marketing consent is granted again.
//! - **Quiet hours.** Calls and messages are never due inside them (default 21:00–08:00).
//! - **Weekly cap.** At most N contacts per patient per local week (Monday start), the most
//!   important first; the rest are held, not lost.
//! - **Anonymised patients** get nothing.
//! - **Idempotency.** Task ids derive from patient, rule, occurrence, subject and attempt, so
//!   planning twice stores nothing new, and "not reached" retries are new, predictable tasks.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::followup::{self, CarePlan, Facts, FollowUpHistory, FollowUpPolicy, TaskOutcome};
//! use clinic_ops::id::PatientId;
//! use clinic_ops::patient::{self, ConsentGiver, ConsentPurpose, Label, PatientCommand};
//! use clinic_ops::testkit::patient_store::registration;
//!
//! let cal = ClinicCalendar::default();
//! let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 30, 0).unwrap(); // 09:30 in the clinic
//! let id = PatientId::new(1);
//! let mut p = None;
//! for cmd in [
//!     PatientCommand::Register(registration(1)),
//!     PatientCommand::GrantConsent {
//!         purpose: ConsentPurpose::CareReminder,
//!         source: Label::parse("mini_program")?,
//!         policy_version: Label::parse("2026-01")?,
//!         given_by: ConsentGiver::Patient,
//!     },
//!     PatientCommand::OpenChronicFile {
//!         condition: patient::ConditionCode::parse("E11")?,
//!         name: "2型糖尿病".into(),
//!         diagnosed_on: cal.local_date(now) - Duration::days(120),
//!         cadence: patient::FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
//!     },
//! ] {
//!     for e in patient::decide(p.as_ref(), id, &cmd, now, cal)? {
//!         patient::apply(&mut p, &e);
//!     }
//! }
//! let patient = p.unwrap();
//! let care: CarePlan = serde_json::from_str(
//!     r#"{"name": "糖尿病", "rules": [
//!         {"key": "file", "kind": "chronic_follow_up", "channel": "call", "priority": "urgent"}
//!     ]}"#,
//! )?;
//! let policy = FollowUpPolicy::default();
//! let mut history = FollowUpHistory::new(id);
//!
//! let today = followup::plan(&patient, &Facts::default(), &history, &care, &policy, now, cal)?;
//! let overdue = &today.overdue[0];
//! assert_eq!(overdue.days_overdue, 120 - 91);
//! println!("{}", overdue.task.reason); // 2型糖尿病(E11) 慢病随访，每年4次，建档后尚未随访
//! for e in today.events(&history) {
//!     followup::apply(&mut history, &e);
//! }
//! // Planning again stores nothing new.
//! assert!(followup::plan(&patient, &Facts::default(), &history, &care, &policy, now, cal)?
//!     .events(&history)
//!     .is_empty());
//! // Nobody answered: the retry comes 4 hours later, outside quiet hours.
//! let call = overdue.task.id;
//! for e in followup::record_outcome(&history, call, TaskOutcome::NotReached, None, now)? {
//!     followup::apply(&mut history, &e);
//! }
//! let later = followup::plan(&patient, &Facts::default(), &history, &care, &policy, now, cal)?;
//! let retry = later.tasks().next().unwrap();
//! assert_eq!((retry.attempt, retry.due_at), (1, Some(now + Duration::hours(4))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod history;
mod metrics;
mod occurrence;
mod planner;
mod policy;
mod rules;
mod solar;
mod task;

pub use history::{FollowUpEvent, FollowUpHistory, TaskRecord, apply, record_outcome};
pub use task::{
    OutcomeRecord, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind, TaskOutcome, task_id,
};

pub use metrics::{StaffFollowUpMetrics, staff_metrics};
pub use planner::{Facts, HeldTask, Hold, OverdueTask, Plan, Skip, SkippedRule, plan};
pub use policy::{FollowUpPolicy, MAX_WEEKLY_CAP, QuietHours};
pub use rules::{CarePlan, FixedDate, MAX_RULES, Rule, RuleKind, SeasonDates};
pub use solar::{SolarTerm, SolarTermTable};

use chrono::NaiveTime;

use crate::id::{PatientId, TaskId};

/// Errors from loading care plans, planning and recording outcomes.
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
        recorded: TaskOutcome,
        /// The outcome given now.
        given: TaskOutcome,
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
    /// `now` lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

#[cfg(test)]
mod tests;
