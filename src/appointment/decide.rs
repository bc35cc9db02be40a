//! Deciding commands against the appointment book.

use chrono::{DateTime, Duration, Utc};

use super::AppointmentError;
use super::book::{
    AppointmentBook, AppointmentCommand, AppointmentEvent, Booking, BookingStatus, MAX_BOOKINGS,
};
use super::intake::IntakeAnswers;
use super::policy::NoShowPolicy;
use super::schedule::Schedule;
use crate::calendar::{ClinicCalendar, check_instant};
use crate::id::AppointmentId;
use crate::patient::{ConsentPurpose, Patient};

fn not_applicable(b: &Booking, action: &'static str) -> AppointmentError {
    AppointmentError::NotApplicable {
        appointment: b.id,
        state: b.status.code(),
        action,
    }
}

/// Decides a command against a clinic's book, its schedule and no-show policy at `now`.
///
/// Booking and rescheduling check, in order: the slot exists in the schedule (doctor, hours,
/// grid, closed days), it starts after `now`, it has a free place, and the patient has no
/// other live booking overlapping it; a booking also needs a new id and, when the patient
/// had the policy's threshold of no-shows in its window, a [`Guarantee`](super::Guarantee) meeting its
/// requirement. Cancel and reschedule apply to booked appointments; check-in to booked ones;
/// a no-show to booked ones once the grace period after the start is over; complete to
/// checked-in ones.
///
/// # Errors
///
/// An [`AppointmentError`] naming the appointment (and its state, for a transition that does
/// not apply); [`AppointmentError::Calendar`] when `now` or a start is out of range.
pub fn decide(
    book: &AppointmentBook,
    schedule: &Schedule,
    policy: &NoShowPolicy,
    command: &AppointmentCommand,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Result<Vec<AppointmentEvent>, AppointmentError> {
    check_instant("now", now)?;
    let existing = |id: AppointmentId| {
        book.get(id)
            .ok_or(AppointmentError::NotFound { appointment: id })
    };
    // The checks a slot must pass, for booking and rescheduling alike.
    let place = |id, patient, doctor, start: DateTime<Utc>, except| {
        check_instant("start", start)?;
        let slot = schedule.slot(id, doctor, start, calendar)?;
        if start <= now {
            return Err(AppointmentError::InPast {
                appointment: id,
                start,
            });
        }
        if book.taken(doctor, start) >= slot.capacity {
            return Err(AppointmentError::SlotFull {
                appointment: id,
                doctor,
                start,
                capacity: slot.capacity,
            });
        }
        if let Some(other) = book.overlapping(patient, start, slot.end, except) {
            return Err(AppointmentError::DoubleBooking {
                appointment: id,
                patient,
                other,
            });
        }
        Ok(slot)
    };
    let event = match command {
        AppointmentCommand::Book {
            id,
            patient,
            doctor,
            start,
            first_visit,
            guarantee,
        } => {
            if book.get(*id).is_some() {
                return Err(AppointmentError::DuplicateId { appointment: *id });
            }
            if book.len() >= MAX_BOOKINGS {
                return Err(AppointmentError::BookFull {
                    appointment: *id,
                    max: MAX_BOOKINGS,
                });
            }
            let slot = place(*id, *patient, *doctor, *start, None)?;
            let no_shows = book.recent_no_shows(*patient, now, policy.window_days());
            if no_shows >= policy.threshold() && !guarantee.meets(policy.requirement()) {
                return Err(AppointmentError::GuaranteeRequired {
                    appointment: *id,
                    patient: *patient,
                    no_shows,
                    requirement: policy.requirement(),
                });
            }
            AppointmentEvent::Booked(Booking {
                id: *id,
                patient: *patient,
                doctor: *doctor,
                start: *start,
                end: slot.end,
                booked_at: now,
                first_visit: *first_visit,
                guarantee: *guarantee,
                reschedules: 0,
                status: BookingStatus::Booked,
                intake: None,
            })
        }
        AppointmentCommand::Reschedule { id, doctor, start } => {
            let b = existing(*id)?;
            if b.status != BookingStatus::Booked {
                return Err(not_applicable(b, "reschedule"));
            }
            let doctor = doctor.unwrap_or(b.doctor);
            if doctor == b.doctor && *start == b.start {
                return Ok(vec![]);
            }
            let slot = place(*id, b.patient, doctor, *start, Some(*id))?;
            AppointmentEvent::Rescheduled {
                id: *id,
                doctor,
                start: *start,
                end: slot.end,
                at: now,
            }
        }
        AppointmentCommand::Cancel { id, by, reason } => {
            let b = existing(*id)?;
            if b.status != BookingStatus::Booked {
                return Err(not_applicable(b, "cancel"));
            }
            AppointmentEvent::Cancelled {
                id: *id,
                by: *by,
                reason: reason.clone(),
                at: now,
            }
        }
        AppointmentCommand::CheckIn { id } => {
            let b = existing(*id)?;
            if b.status != BookingStatus::Booked {
                return Err(not_applicable(b, "check in"));
            }
            AppointmentEvent::CheckedIn { id: *id, at: now }
        }
        AppointmentCommand::MarkNoShow { id } => {
            let b = existing(*id)?;
            if b.status != BookingStatus::Booked {
                return Err(not_applicable(b, "mark no-show"));
            }
            let not_before = b
                .start
                .checked_add_signed(Duration::minutes(i64::from(policy.grace_minutes())))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if now < not_before {
                return Err(AppointmentError::TooEarlyForNoShow {
                    appointment: *id,
                    not_before,
                });
            }
            AppointmentEvent::NoShow { id: *id, at: now }
        }
        AppointmentCommand::Complete { id } => {
            let b = existing(*id)?;
            if !matches!(b.status, BookingStatus::CheckedIn { .. }) {
                return Err(not_applicable(b, "complete"));
            }
            AppointmentEvent::Completed { id: *id, at: now }
        }
    };
    Ok(vec![event])
}

/// Decides the recording of a first visit's intake answers: the answers are health data, so
/// the patient must hold [`ConsentPurpose::CareReminder`] consent at `now` (the pre-visit
/// consult is part of the care they agreed to receive).
///
/// # Errors
///
/// [`AppointmentError::NotFound`]; [`AppointmentError::Intake`] for another patient, a
/// booking that is not a first visit or no longer booked, or no care consent.
pub fn decide_intake(
    book: &AppointmentBook,
    patient: &Patient,
    id: AppointmentId,
    answers: &IntakeAnswers,
    now: DateTime<Utc>,
) -> Result<Vec<AppointmentEvent>, AppointmentError> {
    check_instant("now", now)?;
    let b = book
        .get(id)
        .ok_or(AppointmentError::NotFound { appointment: id })?;
    let refuse = |why| {
        Err(AppointmentError::Intake {
            appointment: id,
            why,
        })
    };
    if b.patient != patient.id() {
        return refuse("the booking is another patient's");
    }
    if !b.first_visit {
        return refuse("not a first visit");
    }
    if !b.status.is_live() {
        return refuse("the booking is no longer live");
    }
    if !patient.may(ConsentPurpose::CareReminder, now) {
        return refuse("no care consent");
    }
    Ok(vec![AppointmentEvent::IntakeRecorded {
        id,
        answers: answers.clone(),
        at: now,
    }])
}
