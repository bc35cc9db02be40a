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
use serde::{Deserialize, Serialize};

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
///
/// Its serde form is one JSON object of the modules' own serde forms, each optional
/// (absent: the default), unknown members refused; it goes through
/// [`AppointmentConfig::new`], so a schedule listed twice for one clinic or a recovery call
/// later than [`MAX_RECOVERY_HOURS`] is refused with the JSON path, and so is a bad
/// schedule (`schedules[1]: schedule doctors[0].capacity: ...`):
///
/// ```
/// use clinic_ops::id::ClinicId;
/// use clinic_ops::journey::AppointmentConfig;
///
/// let config: AppointmentConfig = serde_json::from_str(r#"{
///     "schedules": [{"clinic": 1, "doctors": [{"doctor": 7, "slot_minutes": 30, "capacity": 2,
///                    "hours": [{"weekday": "Mon", "start": "09:00:00", "end": "12:00:00"}]}]}],
///     "no_show": {"threshold": 2, "window_days": 90, "requirement": {"kind": "confirmation"},
///                 "grace_minutes": 15},
///     "recovery_after_hours": 48
/// }"#)?;
/// assert!(config.schedules.contains_key(&ClinicId::new(1)));
/// let refused = serde_json::from_str::<AppointmentConfig>(r#"{"recovery_after_hours": 9999}"#);
/// assert!(refused.unwrap_err().to_string().contains("recovery_after_hours"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAppointmentConfig", into = "RawAppointmentConfig")]
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
    /// Hours after a resolution the service-recovery call falls due, at most
    /// [`MAX_RECOVERY_HOURS`].
    pub recovery_after_hours: u32,
}

/// The latest a service-recovery call may fall due after a resolution, in hours (30 days):
/// [`service_recovery_task`](crate::feedback::service_recovery_task) plans no later.
pub const MAX_RECOVERY_HOURS: u32 = 720;

/// The most clinic schedules one configuration holds.
pub const MAX_SCHEDULES: usize = 10_000;

const DEFAULT_RECOVERY_HOURS: u32 = 24;

impl Default for AppointmentConfig {
    fn default() -> Self {
        AppointmentConfig {
            schedules: BTreeMap::new(),
            no_show: NoShowPolicy::default(),
            reminders: ReminderPolicy::default(),
            sla: SlaPolicy::default(),
            auto_complaint: None,
            recovery_after_hours: DEFAULT_RECOVERY_HOURS,
        }
    }
}

/// An [`AppointmentConfig`] that cannot be loaded: where (a JSON path such as
/// `schedules[2].clinic`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("appointment config {path}: {why}")]
pub struct AppointmentConfigError {
    /// The JSON path of the offending value.
    pub path: String,
    /// What is wrong with it.
    pub why: String,
}

impl AppointmentConfig {
    /// Checks and builds the in-visit rules: each schedule (already checked by
    /// [`Schedule::new`] or its serde form) is keyed by its clinic.
    ///
    /// # Errors
    ///
    /// [`AppointmentConfigError`] naming `schedules` (more than [`MAX_SCHEDULES`]),
    /// `schedules[i].clinic` (a clinic scheduled twice) or `recovery_after_hours` (more
    /// than [`MAX_RECOVERY_HOURS`]).
    pub fn new(
        schedules: Vec<Schedule>,
        no_show: NoShowPolicy,
        reminders: ReminderPolicy,
        sla: SlaPolicy,
        auto_complaint: Option<AutoComplaintPolicy>,
        recovery_after_hours: u32,
    ) -> Result<Self, AppointmentConfigError> {
        if schedules.len() > MAX_SCHEDULES {
            return Err(AppointmentConfigError {
                path: "schedules".into(),
                why: format!("{} schedules, more than {MAX_SCHEDULES}", schedules.len()),
            });
        }
        if recovery_after_hours > MAX_RECOVERY_HOURS {
            return Err(AppointmentConfigError {
                path: "recovery_after_hours".into(),
                why: format!("{recovery_after_hours} hours, more than {MAX_RECOVERY_HOURS}"),
            });
        }
        let mut by_clinic = BTreeMap::new();
        for (i, s) in schedules.into_iter().enumerate() {
            let clinic = s.clinic();
            if by_clinic.insert(clinic, s).is_some() {
                return Err(AppointmentConfigError {
                    path: format!("schedules[{i}].clinic"),
                    why: format!("clinic {clinic} is scheduled twice"),
                });
            }
        }
        Ok(AppointmentConfig {
            schedules: by_clinic,
            no_show,
            reminders,
            sla,
            auto_complaint,
            recovery_after_hours,
        })
    }
}

/// [`AppointmentConfig`]'s serde form: the schedules as a list, each carrying its clinic.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppointmentConfig {
    #[serde(default, deserialize_with = "indexed_schedules")]
    schedules: Vec<Schedule>,
    #[serde(default)]
    no_show: NoShowPolicy,
    #[serde(default)]
    reminders: ReminderPolicy,
    #[serde(default)]
    sla: SlaPolicy,
    #[serde(default)]
    auto_complaint: Option<AutoComplaintPolicy>,
    #[serde(default = "default_recovery_hours")]
    recovery_after_hours: u32,
}

fn default_recovery_hours() -> u32 {
    DEFAULT_RECOVERY_HOURS
}

/// The schedules, with a refused one's index put in front of its own JSON path.
fn indexed_schedules<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Schedule>, D::Error> {
    struct Seq;
    impl<'de> serde::de::Visitor<'de> for Seq {
        type Value = Vec<Schedule>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of schedules")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            use serde::de::Error;
            let mut out = Vec::new();
            loop {
                if out.len() >= MAX_SCHEDULES {
                    return Err(A::Error::custom(format_args!(
                        "appointment config schedules: more than {MAX_SCHEDULES}"
                    )));
                }
                let i = out.len();
                match seq.next_element::<Schedule>() {
                    Ok(Some(s)) => out.push(s),
                    Ok(None) => return Ok(out),
                    Err(e) => {
                        return Err(A::Error::custom(format_args!(
                            "appointment config schedules[{i}]: {e}"
                        )));
                    }
                }
            }
        }
    }
    d.deserialize_seq(Seq)
}

impl TryFrom<RawAppointmentConfig> for AppointmentConfig {
    type Error = AppointmentConfigError;
    fn try_from(r: RawAppointmentConfig) -> Result<Self, Self::Error> {
        AppointmentConfig::new(
            r.schedules,
            r.no_show,
            r.reminders,
            r.sla,
            r.auto_complaint,
            r.recovery_after_hours,
        )
    }
}

impl From<AppointmentConfig> for RawAppointmentConfig {
    fn from(c: AppointmentConfig) -> Self {
        RawAppointmentConfig {
            schedules: c.schedules.into_values().collect(),
            no_show: c.no_show,
            reminders: c.reminders,
            sla: c.sla,
            auto_complaint: c.auto_complaint,
            recovery_after_hours: c.recovery_after_hours,
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
    /// Removes the comments of the patient's feedback, as
    /// [`FeedbackStore::erase_feedback_comments`](crate::store::FeedbackStore::erase_feedback_comments)
    /// does in a store.
    pub(super) fn erase_feedback_comments(&mut self, patient: PatientId) {
        for f in self.feedback.values_mut() {
            if f.patient == patient {
                f.comment = None;
            }
        }
    }

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
/// [`JourneyError::NoSchedule`], [`JourneyError::UnknownPatient`],
/// [`JourneyError::Anonymised`] for a new booking of an erased patient, or the book's
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
    // A new booking carries intake answers: none for a patient already erased. Their
    // existing bookings may still be cancelled, checked in or completed.
    if let (AppointmentCommand::Book { patient, .. }, Some((found, _))) = (command, found)
        && found.is_anonymised()
    {
        return Err(JourneyError::Anonymised { patient: *patient });
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
/// [`JourneyError::UnknownPatient`] when opening for an unregistered patient,
/// [`JourneyError::Anonymised`] when opening or reopening for an erased one, or the
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
    // Reopening starts a new round of talks with the patient: none with an erased one.
    // Resolving (and closing) stays possible, so their open complaint can be closed out.
    if let (ComplaintCommand::Reopen { .. }, Some(c)) = (command, current)
        && patient_of(c.opened.patient).is_some_and(|(p, _)| p.is_anonymised())
    {
        return Err(JourneyError::Anonymised {
            patient: c.opened.patient,
        });
    }
    if let ComplaintCommand::Open(n) = command {
        if n.id != id {
            return Err(JourneyError::ComplaintIdMismatch {
                given: id,
                opened: n.id,
            });
        }
        let (patient, _) =
            patient_of(n.patient).ok_or(JourneyError::UnknownPatient { patient: n.patient })?;
        if patient.is_anonymised() {
            return Err(JourneyError::Anonymised { patient: n.patient });
        }
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
/// [`JourneyError::UnknownPatient`], [`JourneyError::Anonymised`],
/// [`JourneyError::DuplicateRecord`], or the complaint's refusal.
pub(super) fn feedback_step(
    state: &AppointmentState,
    config: &AppointmentConfig,
    given: &Feedback,
    patient_of: PatientOf<'_>,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let (patient, _) = patient_of(given.patient).ok_or(JourneyError::UnknownPatient {
        patient: given.patient,
    })?;
    if patient.is_anonymised() {
        return Err(JourneyError::Anonymised {
            patient: given.patient,
        });
    }
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

    #[test]
    fn an_erased_patient_gets_no_new_booking_feedback_or_complaint() {
        let cfg = config();
        let mut c = Clinic::new();
        let p = PatientId::new(1);
        let register = ClinicEventKind::Register {
            patient: p,
            registration: Box::new(registration(1)),
        };
        let _ = c.handle(&cfg, &ev(1, t(0), register)).unwrap();
        let f = |id: u64, score: i64| Feedback {
            id: FeedbackId::new(id),
            patient: p,
            visit: VisitId::new(1),
            doctor: DoctorId::new(1),
            clinic: ClinicId::new(1),
            score: NpsScore::new(score).unwrap(),
            csat: None,
            comment: Some(crate::feedback::Comment::parse("医生态度不好").unwrap()),
            at: t(1),
        };
        // Before the erasure: a low score opens a complaint, which is then resolved.
        let _ = c
            .handle(&cfg, &ev(2, t(1), ClinicEventKind::Feedback(f(7, 2))))
            .unwrap();
        let id = complaint_id_for(FeedbackId::new(7));
        let resolve = ComplaintCommand::Resolve {
            note: crate::feedback::Comment::parse("已致歉").unwrap(),
        };
        let complaint = |key, command| ev(key, t(2), ClinicEventKind::Complaint { id, command });
        let _ = c.handle(&cfg, &complaint(3, resolve)).unwrap();
        // The host erased the patient and applied the patient's event to its clinic.
        let erased = Implications {
            patient: vec![(p, crate::patient::PatientEvent::Anonymised { at: t(3) })],
            ..Implications::default()
        };
        crate::journey::apply(&mut c, &erased);
        let book = AppointmentCommand::Book {
            id: AppointmentId::new(1),
            patient: p,
            doctor: DoctorId::new(1),
            start: t(23),
            first_visit: true,
            guarantee: crate::appointment::Guarantee::None,
        };
        let refused = [
            ClinicEventKind::Appointment {
                clinic: ClinicId::new(1),
                command: book,
            },
            ClinicEventKind::Feedback(f(8, 9)),
            ClinicEventKind::Complaint {
                id,
                command: ComplaintCommand::Reopen {
                    note: crate::feedback::Comment::parse("又来投诉").unwrap(),
                },
            },
        ];
        for (k, kind) in (10..).zip(refused) {
            let e = c.handle(&cfg, &ev(k, t(4), kind)).unwrap_err();
            assert_eq!(e, JourneyError::Anonymised { patient: p }, "{e}");
        }
        assert_eq!(c.appointments().feedback().count(), 1);
        assert!(
            c.appointments()
                .book(ClinicId::new(1))
                .is_none_or(|b| b.get(AppointmentId::new(1)).is_none())
        );
        // Closing the resolved complaint out is still possible.
        let closed = c.handle(&cfg, &complaint(20, ComplaintCommand::Close));
        assert!(closed.is_ok(), "{closed:?}");
    }
}
