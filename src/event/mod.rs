//! Outreach events: health lectures, free clinics (义诊) and member days (会员日).
//!
//! An [`OutreachEvent`] has seats, a start, and an invitation whose copy goes through the
//! Advertising Law lint campaigns use. [`check_event`] is its static check before
//! publishing, in the style of [`check_book`](crate::campaign::check_book): a free clinic
//! without an approval reference (社区义诊活动需要批准才能开展) cannot be published. A
//! [`Roster`] is the aggregate of one event's registrations and attendance, with
//! [`decide`] and [`apply`]; registering past the capacity is refused, and a store's
//! version check makes two staff racing for the last seat give it to one.
//! [`event_conversion`] compares attendees with registered no-shows by paid visits within
//! N days. [`plan_reminders`] reminds registered patients before the start, as follow-up
//! tasks under consent and out of quiet hours, in a fixed order; [`cancelled_event_reminders`]
//! closes the reminders of a seat given back or an event called off.
//!
//! ```
//! use clinic_ops::campaign::AdLawWords;
//! use clinic_ops::event::{self, OutreachEvent, OutreachEventError, OutreachEventKind, RosterCommand};
//! use clinic_ops::id::{ClinicId, OutreachEventId, PatientId};
//! use clinic_ops::text::Label;
//!
//! let now = chrono::DateTime::from_timestamp(1_772_416_800, 0).ok_or("time")?;
//! let starts = now + chrono::Duration::days(3);
//! let clinic = OutreachEvent::new(
//!     OutreachEventId::new(1), ClinicId::new(1),
//!     OutreachEventKind::FreeClinic { approval: None },
//!     Label::parse("社区义诊")?, starts, 1,
//! )?
//! .with_invitation("免费测血压、血糖", &AdLawWords::default())?;
//! let mut roster = None;
//! for e in event::decide(None, &RosterCommand::Create(clinic), now)? {
//!     event::apply(&mut roster, &e);
//! }
//! // No approval reference yet: publishing is refused.
//! let refused = event::decide(roster.as_ref(), &RosterCommand::Publish, now).unwrap_err();
//! assert!(matches!(refused, OutreachEventError::Unpublishable { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod conversion;
mod definition;
mod reminders;
mod roster;

pub use conversion::{EventConversion, event_conversion};
pub use definition::{EventCheck, LectureVenue, OutreachEvent, OutreachEventKind, check_event};
pub use reminders::{
    EventReminderPolicy, cancelled_event_reminders, plan_reminders, reminder_purpose,
};
pub use roster::{Roster, RosterCommand, RosterEvent, RosterStatus, Seat, apply, decide};

use crate::id::{OutreachEventId, PatientId};

/// Why an outreach event or a command on it was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutreachEventError {
    /// Zero seats, or more than allowed.
    #[error("event {event} capacity {capacity} is not between 1 and {max}")]
    Capacity {
        /// The event.
        event: OutreachEventId,
        /// The capacity given.
        capacity: u32,
        /// The limit.
        max: u32,
    },
    /// An invitation that is too long.
    #[error("event {event} invitation has {chars} characters, more than {max}")]
    InvitationTooLong {
        /// The event.
        event: OutreachEventId,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The event was already created.
    #[error("event {event} already exists")]
    AlreadyCreated {
        /// The event.
        event: OutreachEventId,
    },
    /// No event to act on.
    #[error("event does not exist")]
    NotCreated,
    /// Publishing an event that is not a draft.
    #[error("event {event} is not a draft")]
    NotDraft {
        /// The event.
        event: OutreachEventId,
    },
    /// The static check found something.
    #[error("event {event} cannot be published: {}", describe(.found))]
    Unpublishable {
        /// The event.
        event: OutreachEventId,
        /// What the check found.
        found: Vec<EventCheck>,
    },
    /// Registration or attendance before the event is published.
    #[error("event {event} is not published")]
    NotPublished {
        /// The event.
        event: OutreachEventId,
    },
    /// The event is cancelled.
    #[error("event {event} is cancelled")]
    Cancelled {
        /// The event.
        event: OutreachEventId,
    },
    /// Every seat is taken.
    #[error("event {event} is full: all {capacity} seats are taken")]
    Full {
        /// The event.
        event: OutreachEventId,
        /// Its seats.
        capacity: u32,
    },
    /// Registration after the start.
    #[error("event {event} has started: registration is closed")]
    RegistrationClosed {
        /// The event.
        event: OutreachEventId,
    },
    /// A patient already registered.
    #[error("patient {patient} is already registered for event {event}")]
    AlreadyRegistered {
        /// The event.
        event: OutreachEventId,
        /// The patient.
        patient: PatientId,
    },
    /// A patient not registered.
    #[error("patient {patient} is not registered for event {event}")]
    NotRegistered {
        /// The event.
        event: OutreachEventId,
        /// The patient.
        patient: PatientId,
    },
    /// A reminder policy field that is wrong.
    #[error("event reminder policy {path}: {why}")]
    ReminderPolicy {
        /// The field (`offsets[1].minutes`).
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A patient already checked in.
    #[error("patient {patient} already attended event {event}")]
    AlreadyAttended {
        /// The event.
        event: OutreachEventId,
        /// The patient.
        patient: PatientId,
    },
}

fn describe(found: &[EventCheck]) -> String {
    found
        .iter()
        .map(|c| match c {
            EventCheck::FreeClinicWithoutApproval => {
                "a free clinic needs an approval reference".to_owned()
            }
            EventCheck::StartsInPast => "it starts in the past".to_owned(),
            EventCheck::AdLaw { word, rule } => format!("invitation word {word:?}: {rule}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
