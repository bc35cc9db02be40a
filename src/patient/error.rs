//! The errors of patient commands and of their fields.

use chrono::{DateTime, NaiveDate, Utc};

use super::chronic::{CadenceError, ConditionCode};
use super::identity::{MobileError, ResidentIdError};
use crate::id::PatientId;
use crate::text::TextError;

/// Errors from patient commands, and the parse errors of their fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatientError {
    /// `Register` for an id that already exists.
    #[error("patient {id} is already registered")]
    AlreadyRegistered {
        /// The patient.
        id: PatientId,
    },
    /// A command for a patient who was never registered.
    #[error("patient {id} is not registered")]
    NotRegistered {
        /// The patient.
        id: PatientId,
    },
    /// A command for a patient who was anonymised: nothing personal may be added back.
    #[error("patient {id} was anonymised and takes no further commands")]
    Anonymised {
        /// The patient.
        id: PatientId,
    },
    /// A patient under 14 tried to consent without a guardian.
    #[error("patient {id} is {age}, under 14: consent must be given by a guardian")]
    GuardianRequired {
        /// The patient.
        id: PatientId,
        /// Their age on the day.
        age: u32,
    },
    /// A stated sex or birth date contradicts the resident id.
    #[error("{field} contradicts the resident id")]
    IdentityMismatch {
        /// `sex` or `birth_date`.
        field: &'static str,
    },
    /// Opening a chronic file for a condition that already has an open one.
    #[error("patient {id} already has an open chronic file for {condition}")]
    ChronicFileOpen {
        /// The patient.
        id: PatientId,
        /// The condition.
        condition: ConditionCode,
    },
    /// A follow-up or close for a condition with no open file.
    #[error("patient {id} has no open chronic file for {condition}")]
    NoOpenChronicFile {
        /// The patient.
        id: PatientId,
        /// The condition.
        condition: ConditionCode,
    },
    /// A date that lies after the clinic's local today.
    #[error("{field} {date} is in the future (today is {today})")]
    DateInFuture {
        /// Which field.
        field: &'static str,
        /// The date given.
        date: NaiveDate,
        /// The clinic's local date at `now`.
        today: NaiveDate,
    },
    /// A follow-up dated before the diagnosis.
    #[error("follow-up on {on} for {condition} is before its diagnosis on {diagnosed_on}")]
    FollowUpBeforeDiagnosis {
        /// The condition.
        condition: ConditionCode,
        /// The follow-up date.
        on: NaiveDate,
        /// The diagnosis date.
        diagnosed_on: NaiveDate,
    },
    /// A deletion deadline before today.
    #[error("deletion deadline {deadline} is before today ({today})")]
    DeadlineInPast {
        /// The deadline given.
        deadline: NaiveDate,
        /// The clinic's local date at `now`.
        today: NaiveDate,
    },
    /// A command dated before the fact it would overwrite or end: contact details last changed
    /// later, or a chronic file opened later. Last-write-wins values are decided by time, so
    /// an older change arriving late is refused rather than applied over a newer one.
    #[error("{field} change at {at} is older than the one in force since {since}")]
    Backdated {
        /// `contact details` or `chronic file`.
        field: &'static str,
        /// The command's `now`.
        at: DateTime<Utc>,
        /// When the value in force was set.
        since: DateTime<Utc>,
    },
    /// A mobile number did not parse.
    #[error(transparent)]
    Mobile(#[from] MobileError),
    /// A resident id did not parse.
    #[error(transparent)]
    ResidentId(#[from] ResidentIdError),
    /// A text field was refused.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A follow-up cadence was refused.
    #[error(transparent)]
    Cadence(#[from] CadenceError),
    /// `now` lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}
