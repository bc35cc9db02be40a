//! The journey's in-visit part (预约挂号 → 到馆, and the patient's voice after it): what an
//! appointment command, a complaint command or a piece of feedback implies, as pure functions
//! the layer calls from one match arm each.
//!
//! An appointment event also plans the patient's reminder and recovery tasks and cancels the
//! reminders of a booking that no longer stands; a resolved complaint plans the
//! service-recovery call; feedback with a low score opens a complaint when the clinic's
//! [`AutoComplaintPolicy`] says so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::JourneyError;
use super::layer::Implications;
use crate::appointment::{
    self, AppointmentBook, AppointmentCommand, AppointmentEvent, NoShowPolicy, ReminderPolicy,
    Schedule,
};
use crate::calendar::ClinicCalendar;
use crate::feedback::{
    self, AutoComplaintPolicy, Complaint, ComplaintCommand, Feedback, SlaPolicy,
};
use crate::followup::{FollowUpEvent, FollowUpHistory};
use crate::id::{ClinicId, ComplaintId, FeedbackId, PatientId};
use crate::patient::Patient;

/// The in-visit rules of the journey: schedules per clinic, the no-show, reminder and
/// service-level policies, and whether low scores open complaints.
///
/// The default: no schedules, the default policies, no complaints opened by scores, and the
/// service-recovery call 24 hours after a resolution.
#[derive(Debug, Clone)]
pub struct AppointmentConfig {
    /// Each clinic's schedule. A booking at a clinic without one is refused.
    pub schedules: BTreeMap<ClinicId, Schedule>,
    /// The no-show policy.
    pub no_show: NoShowPolicy,
    /// Reminder offsets and recovery tasks.
    pub reminders: ReminderPolicy,
    /// Complaint service levels.
    pub sla: SlaPolicy,
    /// Opening complaints for low scores; `None` never does.
    pub auto_complaint: Option<AutoComplaintPolicy>,
    /// Hours after a resolution the service-recovery call falls due.
    pub recovery_after_hours: u32,
}

impl Default for AppointmentConfig {
    fn default() -> Self {
        AppointmentConfig {
            schedules: BTreeMap::new(),
            no_show: NoShowPolicy::default(),
            reminders: ReminderPolicy::default(),
            sla: SlaPolicy::default(),
            auto_complaint: None,
            recovery_after_hours: 24,
        }
    }
}

/// The in-visit state the journey holds: appointment books, complaints and feedback.
#[derive(Debug, Clone, Default)]
pub struct AppointmentState {
    pub(super) books: BTreeMap<ClinicId, AppointmentBook>,
    pub(super) complaints: BTreeMap<ComplaintId, Complaint>,
    pub(super) feedback: BTreeMap<FeedbackId, Feedback>,
}

impl AppointmentState {
    /// A clinic's appointment book.
    #[must_use]
    pub fn book(&self, clinic: ClinicId) -> Option<&AppointmentBook> {
        self.books.get(&clinic)
    }

    /// Every appointment book, by clinic.
    pub fn books(&self) -> impl Iterator<Item = &AppointmentBook> {
        self.books.values()
    }

    /// A complaint.
    #[must_use]
    pub fn complaint(&self, id: ComplaintId) -> Option<&Complaint> {
        self.complaints.get(&id)
    }

    /// Every complaint, by id.
    pub fn complaints(&self) -> impl Iterator<Item = &Complaint> {
        self.complaints.values()
    }

    /// Every piece of feedback, by id.
    pub fn feedback(&self) -> impl Iterator<Item = &Feedback> {
        self.feedback.values()
    }

    /// Applies the in-visit parts of an [`Implications`].
    pub(super) fn apply(&mut self, step: &Implications) {
        for (clinic, e) in &step.appointments {
            let b = self
                .books
                .entry(*clinic)
                .or_insert_with(|| AppointmentBook::new(*clinic));
            appointment::apply(b, e);
        }
        for (id, e) in &step.complaints {
            let mut c = self.complaints.remove(id);
            feedback::apply(&mut c, e);
            if let Some(c) = c {
                self.complaints.insert(*id, c);
            }
        }
        for f in &step.feedback {
            self.feedback.entry(f.id).or_insert_with(|| f.clone());
        }
    }
}

/// The id of a complaint opened by feedback: 2⁶³ plus the feedback's id, a range a host's
/// own complaint ids stay below.
#[must_use]
pub fn complaint_id_for(feedback: FeedbackId) -> ComplaintId {
    ComplaintId::new((1 << 63) | feedback.get())
}

/// The patient and their follow-up history, as the layer holds them.
pub(super) type PatientOf<'a> =
    &'a dyn Fn(PatientId) -> Option<(&'a Patient, Option<&'a FollowUpHistory>)>;

/// `Appointment`: the book's decision at the clinic, and the patient's reminder and recovery
/// tasks after it (new tasks planned, reminders of a booking that no longer stands
/// cancelled).
///
/// # Errors
///
/// [`JourneyError::NoSchedule`], [`JourneyError::UnknownPatient`], or the book's
/// [`AppointmentError`](crate::appointment::AppointmentError).
#[allow(clippy::too_many_arguments)]
pub(super) fn appointment_step(
    state: &AppointmentState,
    config: &AppointmentConfig,
    clinic: ClinicId,
    command: &AppointmentCommand,
    patient_of: PatientOf<'_>,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let schedule = config
        .schedules
        .get(&clinic)
        .ok_or(JourneyError::NoSchedule { clinic })?;
    let empty;
    let book = match state.books.get(&clinic) {
        Some(b) => b,
        None => {
            empty = AppointmentBook::new(clinic);
            &empty
        }
    };
    let who = match command {
        AppointmentCommand::Book { patient, .. } => Some(*patient),
        AppointmentCommand::Reschedule { id, .. }
        | AppointmentCommand::Cancel { id, .. }
        | AppointmentCommand::CheckIn { id }
        | AppointmentCommand::MarkNoShow { id }
        | AppointmentCommand::Complete { id } => book.get(*id).map(|b| b.patient),
    };
    let found = who.and_then(patient_of);
    if let (Some(p), None) = (who, found) {
        return Err(JourneyError::UnknownPatient { patient: p });
    }
    let events = appointment::decide(book, schedule, &config.no_show, command, at, cal)?;
    if let (Some(p), Some((patient, history))) = (who, found) {
        // The patient's bookings after the events, in a book of their own: planning reads
        // only them.
        let mut mine = AppointmentBook::new(clinic);
        for b in book.of_patient(p) {
            appointment::apply(&mut mine, &AppointmentEvent::Booked(b.clone()));
        }
        for e in &events {
            appointment::apply(&mut mine, e);
        }
        let fresh;
        let history = match history {
            Some(h) => h,
            None => {
                fresh = FollowUpHistory::new(p);
                &fresh
            }
        };
        for e in appointment::cancelled_reminders(history, &mine, at, cal) {
            step.followup.push((p, e));
        }
        for t in appointment::plan_tasks(&mine, patient, &config.reminders, at, cal) {
            if history.get(t.id).is_none() {
                step.followup.push((p, FollowUpEvent::TaskPlanned(t)));
            }
        }
    }
    step.appointments
        .extend(events.into_iter().map(|e| (clinic, e)));
    Ok(())
}

/// `Complaint`: the complaint's escalations due at `at`, then its decision; a resolution
/// plans the service-recovery call.
///
/// # Errors
///
/// [`JourneyError::UnknownPatient`] when opening for an unregistered patient, or the
/// complaint's [`FeedbackError`](crate::feedback::FeedbackError).
#[allow(clippy::too_many_arguments)]
pub(super) fn complaint_step(
    state: &AppointmentState,
    config: &AppointmentConfig,
    id: ComplaintId,
    command: &ComplaintCommand,
    patient_of: PatientOf<'_>,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let current = state.complaints.get(&id);
    if let ComplaintCommand::Open(n) = command {
        if n.id != id {
            return Err(JourneyError::ComplaintIdMismatch {
                given: id,
                opened: n.id,
            });
        }
        patient_of(n.patient).ok_or(JourneyError::UnknownPatient { patient: n.patient })?;
    }
    let mut scratch = current.cloned();
    let mut events = scratch
        .as_ref()
        .map(|c| feedback::escalations(c, &config.sla, at))
        .unwrap_or_default();
    for e in &events {
        feedback::apply(&mut scratch, e);
    }
    let decided = feedback::decide(scratch.as_ref(), command, &config.sla, at, cal)?;
    for e in &decided {
        feedback::apply(&mut scratch, e);
    }
    events.extend(decided);
    if matches!(command, ComplaintCommand::Resolve { .. })
        && let Some(c) = &scratch
        && let Some((patient, history)) = patient_of(c.opened.patient)
        && let Some(t) = feedback::service_recovery_task(
            c,
            patient,
            config.recovery_after_hours,
            config.reminders.quiet_hours(),
            at,
            cal,
        )
        && history.is_none_or(|h| h.get(t.id).is_none())
    {
        step.followup
            .push((c.opened.patient, FollowUpEvent::TaskPlanned(t)));
    }
    step.complaints.extend(events.into_iter().map(|e| (id, e)));
    Ok(())
}

/// `Feedback`: recorded once (the same id with other content is refused); a low score
/// opens a complaint when the policy says so.
///
/// # Errors
///
/// [`JourneyError::UnknownPatient`], [`JourneyError::DuplicateRecord`], or the complaint's
/// refusal.
pub(super) fn feedback_step(
    state: &AppointmentState,
    config: &AppointmentConfig,
    given: &Feedback,
    patient_of: PatientOf<'_>,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    patient_of(given.patient).ok_or(JourneyError::UnknownPatient {
        patient: given.patient,
    })?;
    feedback::check(given)?;
    match state.feedback.get(&given.id) {
        Some(old) if old == given => return Ok(()),
        Some(_) => {
            return Err(JourneyError::DuplicateRecord {
                what: "feedback",
                id: given.id.get(),
            });
        }
        None => step.feedback.push(given.clone()),
    }
    let id = complaint_id_for(given.id);
    if let Some(cmd) = feedback::complaint_for(given, config.auto_complaint.as_ref(), id) {
        let events = feedback::decide(state.complaints.get(&id), &cmd, &config.sla, at, cal)?;
        step.complaints.extend(events.into_iter().map(|e| (id, e)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::feedback::{Category, Severity};
    use crate::followup::{TaskKind, TaskOutcome};
    use crate::id::{AppointmentId, DoctorId, StaffId, VisitId};
    use crate::journey::{Clinic, ClinicEvent, ClinicEventKind, EventKey, JourneyConfig};
    use crate::metrics::satisfaction::NpsScore;
    use crate::patient::{ConsentPurpose, Label};
    use crate::testkit::appointment_store::sample_schedule;
    use crate::testkit::patient_store::registration;

    fn config() -> JourneyConfig {
        let mut c = JourneyConfig::new(ClinicCalendar::CHINA);
        c.appointments
            .schedules
            .insert(ClinicId::new(1), sample_schedule(1));
        c.appointments.auto_complaint = Some(AutoComplaintPolicy {
            open_at_or_below: NpsScore::new(4).unwrap(),
            category: Category::Other,
            severity: Severity::Medium,
            owner: StaffId::new(5),
        });
        c
    }

    /// 2026-03-02 10:00 local (Monday) + `h` hours.
    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap() + Duration::hours(h)
    }

    fn ev(key: u64, at: DateTime<Utc>, kind: ClinicEventKind) -> ClinicEvent {
        ClinicEvent {
            key: EventKey::new(key),
            at,
            kind,
        }
    }

    #[test]
    fn booking_plans_reminders_and_cancelling_cancels_them() {
        let cfg = config();
        let mut c = Clinic::new();
        let p = PatientId::new(1);
        let _ = c
            .handle(
                &cfg,
                &ev(
                    1,
                    t(0),
                    ClinicEventKind::Register {
                        patient: p,
                        registration: Box::new(registration(1)),
                    },
                ),
            )
            .unwrap();
        let _ = c
            .handle(
                &cfg,
                &ev(
                    2,
                    t(0),
                    ClinicEventKind::Consent {
                        patient: p,
                        purpose: ConsentPurpose::CareReminder,
                        granted: true,
                        source: Label::parse("form").unwrap(),
                    },
                ),
            )
            .unwrap();
        // Tuesday 09:00 local.
        let start = t(23);
        let book = AppointmentCommand::Book {
            id: AppointmentId::new(1),
            patient: p,
            doctor: DoctorId::new(1),
            start,
            first_visit: true,
            guarantee: crate::appointment::Guarantee::None,
        };
        let _ = c
            .handle(
                &cfg,
                &ev(
                    3,
                    t(0),
                    ClinicEventKind::Appointment {
                        clinic: ClinicId::new(1),
                        command: book,
                    },
                ),
            )
            .unwrap();
        let kinds: Vec<TaskKind> = c.tasks().map(|t| t.kind).collect();
        assert!(kinds.contains(&TaskKind::AppointmentReminder), "{kinds:?}");
        assert!(kinds.contains(&TaskKind::PreVisitIntake), "{kinds:?}");
        // A second patient cannot take the one place.
        let other = PatientId::new(2);
        let _ = c
            .handle(
                &cfg,
                &ev(
                    4,
                    t(0),
                    ClinicEventKind::Register {
                        patient: other,
                        registration: Box::new(registration(2)),
                    },
                ),
            )
            .unwrap();
        let full = AppointmentCommand::Book {
            id: AppointmentId::new(2),
            patient: other,
            doctor: DoctorId::new(1),
            start,
            first_visit: false,
            guarantee: crate::appointment::Guarantee::None,
        };
        let e = c
            .handle(
                &cfg,
                &ev(
                    5,
                    t(0),
                    ClinicEventKind::Appointment {
                        clinic: ClinicId::new(1),
                        command: full,
                    },
                ),
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                JourneyError::Appointment(crate::appointment::AppointmentError::SlotFull { .. })
            ),
            "{e}"
        );
        // Cancelling closes every open reminder and plans the rebooking call.
        let cancel = AppointmentCommand::Cancel {
            id: AppointmentId::new(1),
            by: crate::appointment::CancelledBy::Patient,
            reason: Label::parse("busy").unwrap(),
        };
        let _ = c
            .handle(
                &cfg,
                &ev(
                    6,
                    t(1),
                    ClinicEventKind::Appointment {
                        clinic: ClinicId::new(1),
                        command: cancel,
                    },
                ),
            )
            .unwrap();
        let open_reminders = c
            .tasks()
            .filter(|t| t.kind == TaskKind::AppointmentReminder)
            .count();
        assert!(open_reminders > 0);
        let book = c.appointments().book(ClinicId::new(1)).unwrap();
        assert!(matches!(
            book.get(AppointmentId::new(1)).unwrap().status,
            crate::appointment::BookingStatus::Cancelled { .. }
        ));
        assert!(c.tasks().any(|t| t.kind == TaskKind::Rebooking));
        let _ = TaskOutcome::Cancelled;
    }

    #[test]
    fn low_score_opens_a_complaint_and_resolution_plans_recovery() {
        let cfg = config();
        let mut c = Clinic::new();
        let p = PatientId::new(1);
        let _ = c
            .handle(
                &cfg,
                &ev(
                    1,
                    t(0),
                    ClinicEventKind::Register {
                        patient: p,
                        registration: Box::new(registration(1)),
                    },
                ),
            )
            .unwrap();
        let _ = c
            .handle(
                &cfg,
                &ev(
                    2,
                    t(0),
                    ClinicEventKind::Consent {
                        patient: p,
                        purpose: ConsentPurpose::CareReminder,
                        granted: true,
                        source: Label::parse("form").unwrap(),
                    },
                ),
            )
            .unwrap();
        let f = Feedback {
            id: FeedbackId::new(7),
            patient: p,
            visit: VisitId::new(1),
            doctor: DoctorId::new(1),
            clinic: ClinicId::new(1),
            score: NpsScore::new(2).unwrap(),
            csat: None,
            comment: None,
            at: t(1),
        };
        let _ = c
            .handle(&cfg, &ev(3, t(1), ClinicEventKind::Feedback(f)))
            .unwrap();
        let id = complaint_id_for(FeedbackId::new(7));
        assert!(c.appointments().complaint(id).is_some());
        let resolve = ComplaintCommand::Resolve {
            note: crate::feedback::Comment::parse("已致歉").unwrap(),
        };
        let _ = c
            .handle(
                &cfg,
                &ev(
                    4,
                    t(2),
                    ClinicEventKind::Complaint {
                        id,
                        command: resolve,
                    },
                ),
            )
            .unwrap();
        assert!(c.tasks().any(|t| t.kind == TaskKind::ServiceRecovery && t.assignee == Some(StaffId::new(5))));
    }
}
