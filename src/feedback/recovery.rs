//! The service-recovery follow-up after a complaint is resolved.

use chrono::{DateTime, Duration, Utc};

use super::complaint::{Complaint, ComplaintStatus};
use crate::calendar::ClinicCalendar;
use crate::followup::{Priority, QuietHours, Reason, RuleKey, Task, TaskChannel, TaskKind};
use crate::patient::{ConsentPurpose, Patient};

/// The call that checks, `hours_after` the resolution, that the patient is satisfied (out of
/// quiet hours), as a follow-up [`Task`] for the complaint's owner. `None` unless the
/// complaint is resolved or closed with a resolution time, or when the patient (anonymised
/// or not the complainant) holds no [`ConsentPurpose::CareReminder`] consent at `now`. Its id
/// derives from the complaint and its resolution date, so a complaint resolved again after
/// reopening gets a new call.
#[must_use]
pub fn service_recovery_task(
    complaint: &Complaint,
    patient: &Patient,
    hours_after: u32,
    quiet_hours: QuietHours,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Option<Task> {
    if patient.id() != complaint.opened.patient
        || !patient.may(ConsentPurpose::CareReminder, now)
        || !matches!(
            complaint.status,
            ComplaintStatus::Resolved | ComplaintStatus::Closed
        )
    {
        return None;
    }
    let resolved = complaint.resolved_at?;
    let due = quiet_hours.next_allowed(
        resolved.checked_add_signed(Duration::hours(i64::from(hours_after.min(720))))?,
        calendar,
    );
    let resolved_on = calendar.local_date(resolved);
    let task = Task::new(
        complaint.opened.patient,
        RuleKey::parse("complaint.recovery").ok()?,
        TaskKind::ServiceRecovery,
        resolved_on,
        TaskChannel::Call,
        Reason::Complaint {
            subject: complaint.opened.id.to_string(),
            resolved_on,
        },
    )
    .with_due_on(calendar.local_date(due))
    .with_due_at(due)
    .with_assignee(complaint.owner)
    .with_priority(Priority::High);
    Some(task)
}
