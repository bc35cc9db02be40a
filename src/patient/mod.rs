//! Patients, their identity, consent and chronic-disease files.
//!
//! A [`Patient`] is the first aggregate. It changes only through [`decide`] (a command, the
//! current state, `now` and the clinic calendar in; events out) and [`apply`]. Personal fields
//! (name, mobile, resident id, WeChat id, full birth date) live in [`Identity`], are masked in
//! every `Debug` and `Display`, and are removed for good by [`PatientCommand::Anonymise`].
//!
//! `serde::Serialize` writes personal values in full: it is the form a store keeps. To log a
//! patient, an event or a command, serialise [`Masked`]`(&value)`: the same JSON shape with
//! every mobile, resident id, name and external id masked as `Debug` masks them, full birth
//! dates cut to the year and chronic conditions hidden. The full values are reached only
//! through the explicit `expose()` accessors.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{ClinicId, PatientId};
//! use clinic_ops::patient::{
//!     self, Channel, ConsentGiver, ConsentPurpose, Label, MobileNumber, PatientCommand,
//!     PersonName, Registration,
//! };
//!
//! let cal = ClinicCalendar::default();
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
//! let id = PatientId::new(1);
//! let register = PatientCommand::Register(Registration::new(
//!     PersonName::parse("张三")?,
//!     MobileNumber::parse("+86 138-0013-8000")?,
//!     ClinicId::new(1),
//!     Channel::parse("doctor_ip/xiaohongshu")?,
//! ));
//! let mut state = None;
//! for e in patient::decide(state.as_ref(), id, &register, now, cal)? {
//!     patient::apply(&mut state, &e);
//! }
//! let grant = PatientCommand::GrantConsent {
//!     purpose: ConsentPurpose::CareReminder,
//!     source: Label::parse("mini_program")?,
//!     policy_version: Label::parse("2026-01")?,
//!     given_by: ConsentGiver::Patient,
//! };
//! for e in patient::decide(state.as_ref(), id, &grant, now, cal)? {
//!     patient::apply(&mut state, &e);
//! }
//! let p = state.unwrap();
//! assert!(p.may(ConsentPurpose::CareReminder, now));
//! assert!(!p.may(ConsentPurpose::Marketing, now));
//! assert_eq!(format!("{}", p.mobile().unwrap()), "138****8000");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aggregate;
mod channel;
mod chronic;
mod command;
mod consent;
mod error;
mod identity;
mod masked;
mod range;

/// The vocabulary's text types, re-exported where they were first defined so that existing
/// paths (`patient::Label`, `patient::TextError`) keep working; new code names
/// [`crate::text`].
pub use crate::text::{Label, TextError};
pub use aggregate::{
    ContactUpdate, DeletionDeadline, DeletionReason, GUARDIAN_AGE, Identity, Patient, Registration,
};
pub use channel::{Channel, Platform};
pub use chronic::{CadenceError, ChronicFile, ConditionCode, FollowUpCadence};
pub(crate) use command::apply_to;
pub use command::{PatientCommand, PatientEvent, apply, decide};
pub use consent::{ConsentAction, ConsentGiver, ConsentLog, ConsentPurpose, ConsentRecord};
pub use error::PatientError;
pub use identity::{
    ExternalId, MobileError, MobileNumber, PersonName, ResidentId, ResidentIdError, Sex, age_on,
};
pub use masked::Masked;
