//! Appointments (预约挂号 → 到馆): schedules as data, the booking book with its typed refusals,
//! the no-show policy, pre-visit consults, and the reminder and recovery tasks the follow-up
//! planner hands to staff.
//!
//! A clinic writes its [`Schedule`] as data: per doctor, working hours per weekday in the
//! clinic calendar, a slot length and a capacity per slot, and the clinic's closed days. Each
//! clinic keeps one [`AppointmentBook`], an aggregate in the decide/apply shape: [`decide`]
//! checks a [`AppointmentCommand`] against the book, the schedule and the [`NoShowPolicy`] and
//! returns [`AppointmentEvent`]s or a typed [`AppointmentError`]; [`apply`] folds them in.
//!
//! The book refuses what must not happen: a slot over capacity, a time outside the doctor's
//! hours or on a closed day, a booking in the past, a patient in two places at once, a
//! transition that does not apply to the appointment's state (a second check-in, a no-show
//! before the grace period is over). A patient with too many recent no-shows must confirm or
//! leave a deposit, as the policy says.
//!
//! [`plan_tasks`] turns a patient's bookings into follow-up [`Task`](crate::followup::Task)s:
//! reminders at the policy's offsets (never in quiet hours, only with
//! [`CareReminder`](crate::patient::ConsentPurpose::CareReminder) consent), the pre-visit
//! intake before a first visit, a recovery call after a no-show and a rebooking prompt after
//! a cancellation. [`cancelled_reminders`] closes the open reminders of a cancelled booking.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::appointment::{self, AppointmentBook, AppointmentCommand, Guarantee, NoShowPolicy, Schedule};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{AppointmentId, ClinicId, DoctorId, PatientId};
//!
//! let cal = ClinicCalendar::default();
//! let schedule: Schedule = serde_json::from_str(r#"{
//!     "clinic": 1,
//!     "doctors": [{"doctor": 7, "slot_minutes": 30, "capacity": 1,
//!                  "hours": [{"weekday": "Mon", "start": "09:00:00", "end": "12:00:00"}]}]
//! }"#)?;
//! let policy = NoShowPolicy::default();
//! let mut book = AppointmentBook::new(ClinicId::new(1));
//! let now = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
//! let slot = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(); // Monday 09:00 local
//! let book_it = |id, patient| AppointmentCommand::Book {
//!     id: AppointmentId::new(id),
//!     patient: PatientId::new(patient),
//!     doctor: DoctorId::new(7),
//!     start: slot,
//!     first_visit: true,
//!     guarantee: Guarantee::None,
//! };
//! for e in appointment::decide(&book, &schedule, &policy, &book_it(1, 1), now, cal)? {
//!     appointment::apply(&mut book, &e);
//! }
//! // The slot holds one patient: the second is refused.
//! let err = appointment::decide(&book, &schedule, &policy, &book_it(2, 2), now, cal).unwrap_err();
//! assert!(err.to_string().contains("full"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod book;
mod decide;
mod error;
mod index;
mod intake;
pub mod metrics;
mod policy;
mod reminders;
mod schedule;

pub use book::{
    AppointmentBook, AppointmentCommand, AppointmentEvent, Booking, BookingStatus, CancelledBy,
    Guarantee, MAX_BOOKINGS, apply,
};
pub use decide::{decide, decide_intake};
pub use error::AppointmentError;
pub use intake::IntakeAnswers;
pub use policy::{NoShowPolicy, Requirement};
pub use reminders::{
    MAX_OFFSETS, ReminderOffset, ReminderPolicy, appointment_subject, cancelled_reminders,
    plan_tasks,
};
pub use schedule::{
    DoctorSchedule, MAX_DOCTORS, MAX_RANGES, Schedule, ScheduleError, SlotSpec, WorkingHours,
};

#[cfg(test)]
mod tests;
