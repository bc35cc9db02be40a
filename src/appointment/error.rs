//! The refusals of the appointment book.

use chrono::{DateTime, Utc};

use super::policy::Requirement;
use crate::id::{AppointmentId, DoctorId, PatientId};

fn rfc(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Why the appointment book refused a command. Each names the appointment (or slot) and,
/// for a transition, the state it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppointmentError {
    /// The doctor has no schedule at this clinic.
    #[error("appointment {appointment}: doctor {doctor} has no schedule at this clinic")]
    UnknownDoctor {
        /// The appointment.
        appointment: AppointmentId,
        /// The doctor.
        doctor: DoctorId,
    },
    /// The time is not the start of one of the doctor's slots: outside working hours, off
    /// the slot grid, or on a closed day.
    #[error("appointment {appointment}: {} is not a slot of doctor {doctor} ({why})", rfc(.start))]
    OutsideHours {
        /// The appointment.
        appointment: AppointmentId,
        /// The doctor.
        doctor: DoctorId,
        /// The start asked for.
        start: DateTime<Utc>,
        /// Why not.
        why: &'static str,
    },
    /// The slot starts at or before `now`.
    #[error("appointment {appointment}: slot {} is in the past", rfc(.start))]
    InPast {
        /// The appointment.
        appointment: AppointmentId,
        /// The slot's start.
        start: DateTime<Utc>,
    },
    /// Every place of the slot is taken.
    #[error("appointment {appointment}: slot {} of doctor {doctor} is full ({capacity} of {capacity})", rfc(.start))]
    SlotFull {
        /// The appointment.
        appointment: AppointmentId,
        /// The doctor.
        doctor: DoctorId,
        /// The slot's start.
        start: DateTime<Utc>,
        /// The slot's capacity.
        capacity: u16,
    },
    /// The patient already holds a live booking that overlaps this one.
    #[error(
        "appointment {appointment}: patient {patient} is already booked at that time in appointment {other}"
    )]
    DoubleBooking {
        /// The appointment.
        appointment: AppointmentId,
        /// The patient.
        patient: PatientId,
        /// The booking it overlaps.
        other: AppointmentId,
    },
    /// An appointment id already used in this book.
    #[error("appointment {appointment} already exists")]
    DuplicateId {
        /// The appointment.
        appointment: AppointmentId,
    },
    /// No such appointment in this book.
    #[error("appointment {appointment} not found")]
    NotFound {
        /// The appointment.
        appointment: AppointmentId,
    },
    /// The command does not apply to the appointment's state.
    #[error("appointment {appointment} is {state}: cannot {action}")]
    NotApplicable {
        /// The appointment.
        appointment: AppointmentId,
        /// Its state's code (`booked`, `checked_in`, `cancelled`, `no_show`, `completed`).
        state: &'static str,
        /// What was asked (`check in`, `cancel`…).
        action: &'static str,
    },
    /// A no-show marked before the grace period after the slot's start is over.
    #[error("appointment {appointment}: no-show only after {}", rfc(.not_before))]
    TooEarlyForNoShow {
        /// The appointment.
        appointment: AppointmentId,
        /// The first instant a no-show may be marked.
        not_before: DateTime<Utc>,
    },
    /// The patient has too many recent no-shows: the booking needs a guarantee.
    #[error(
        "appointment {appointment}: patient {patient} has {no_shows} recent no-shows and must give {requirement}"
    )]
    GuaranteeRequired {
        /// The appointment.
        appointment: AppointmentId,
        /// The patient.
        patient: PatientId,
        /// No-shows in the policy's window.
        no_shows: u32,
        /// What the booking needs.
        requirement: Requirement,
    },
    /// Intake answers for an appointment that is not a first visit, or given without the
    /// patient's care consent.
    #[error("appointment {appointment}: intake refused ({why})")]
    Intake {
        /// The appointment.
        appointment: AppointmentId,
        /// Why.
        why: &'static str,
    },
    /// The book already holds the most appointments it may.
    #[error("appointment {appointment}: the book is full ({max} appointments)")]
    BookFull {
        /// The appointment.
        appointment: AppointmentId,
        /// The limit.
        max: usize,
    },
    /// `now` or a slot lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}
