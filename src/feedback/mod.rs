//! Patient feedback and complaints (倾听患者声音): feedback after a visit feeding NPS and CSAT,
//! and complaints with a category, severity, owner, status and service level.
//!
//! - [`Feedback`] is a record: a score, an optional comment, linked to visit, doctor and
//!   clinic. [`FeedbackTally`] feeds the existing NPS and CSAT; [`complaint_for`] opens a
//!   complaint for a low score when the [`AutoComplaintPolicy`] says so.
//! - A [`Complaint`] is an aggregate in the decide/apply shape ([`decide`], [`apply`]): open →
//!   acknowledged → resolved → closed, reopened when the patient is not satisfied. Its
//!   [`SlaPolicy`] sets two clocks in the clinic calendar: acknowledge within N working hours,
//!   resolve within M days. [`escalations`] escalates a breach once per clock.
//! - After resolution, [`service_recovery_task`] plans the call that checks the patient is
//!   satisfied, through the follow-up tasks.
//! - Free text ([`Comment`]) is personal data, masked in `Debug` and `Display`.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::feedback::{self, Category, ComplaintCommand, NewComplaint, Severity, SlaPolicy};
//! use clinic_ops::id::{ClinicId, ComplaintId, PatientId, StaffId};
//!
//! let cal = ClinicCalendar::default();
//! let policy = SlaPolicy::default(); // Mon–Fri 09:00–18:00, 4 working hours, 7 days
//! // Friday 17:00 local: the acknowledge clock runs one hour on Friday, three on Monday.
//! let friday = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
//! let open = ComplaintCommand::Open(NewComplaint {
//!     id: ComplaintId::new(1),
//!     patient: PatientId::new(1),
//!     clinic: ClinicId::new(1),
//!     doctor: None,
//!     visit: None,
//!     feedback: None,
//!     category: Category::WaitingTime,
//!     severity: Severity::Medium,
//!     owner: StaffId::new(2),
//!     comment: None,
//! });
//! let mut c = None;
//! for e in feedback::decide(c.as_ref(), &open, &policy, friday, cal)? {
//!     feedback::apply(&mut c, &e);
//! }
//! let c = c.unwrap();
//! assert_eq!(c.acknowledge_by, Utc.with_ymd_and_hms(2026, 11, 30, 4, 0, 0).unwrap()); // Mon 12:00
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod comment;
mod complaint;
pub mod metrics;
mod record;
mod recovery;
mod sla;

pub use comment::Comment;
pub use complaint::{
    Category, Clock, Complaint, ComplaintCommand, ComplaintEvent, ComplaintStatus, MAX_NOTES,
    NewComplaint, Severity, apply, decide, escalations,
};
pub use record::{AutoComplaintPolicy, Feedback, FeedbackTally, check, complaint_for};
pub use recovery::service_recovery_task;
pub use sla::SlaPolicy;

use crate::id::ComplaintId;

/// Errors from complaints and their policies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// Opening a complaint under an id already used.
    #[error("complaint {complaint} already exists")]
    ComplaintExists {
        /// The complaint.
        complaint: ComplaintId,
    },
    /// A command for a complaint that was never opened.
    #[error("complaint not found: open it first")]
    ComplaintNotFound,
    /// The command does not apply to the complaint's state.
    #[error("complaint {complaint} is {state}: cannot {action}")]
    NotApplicable {
        /// The complaint.
        complaint: ComplaintId,
        /// Its state's code.
        state: &'static str,
        /// What was asked.
        action: &'static str,
    },
    /// The complaint holds the most notes it may.
    #[error("complaint {complaint} holds {max} notes: cannot {action}")]
    TooManyNotes {
        /// The complaint.
        complaint: ComplaintId,
        /// The limit.
        max: usize,
        /// What was asked.
        action: &'static str,
    },
    /// A service-level policy value is refused.
    #[error("sla policy {field}: {why}")]
    Policy {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// `now` lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

#[cfg(test)]
mod tests;
