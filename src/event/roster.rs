//! The registration aggregate of one outreach event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{EventCheck, OutreachEvent, OutreachEventError, check_event};
use crate::id::PatientId;

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RosterStatus {
    /// Being prepared: no registration yet.
    Draft,
    /// Open for registration.
    Published,
    /// Called off; nothing more happens.
    Cancelled,
}

/// One registered patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// When they registered.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub registered_at: DateTime<Utc>,
    /// When they were checked in, if they came.
    #[serde(with = "crate::calendar::in_range::option_instant")]
    pub attended_at: Option<DateTime<Utc>>,
}

/// An event with its registrations and attendance: the aggregate
/// [`decide`] and [`apply`] work on.
///
/// A stored roster is checked again when read: more seats than the capacity is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRoster")]
pub struct Roster {
    event: OutreachEvent,
    status: RosterStatus,
    seats: BTreeMap<PatientId, Seat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoster {
    event: OutreachEvent,
    status: RosterStatus,
    seats: BTreeMap<PatientId, Seat>,
}

impl TryFrom<RawRoster> for Roster {
    type Error = OutreachEventError;
    fn try_from(r: RawRoster) -> Result<Self, Self::Error> {
        if r.seats.len() > r.event.capacity() as usize {
            return Err(OutreachEventError::Full {
                event: r.event.id(),
                capacity: r.event.capacity(),
            });
        }
        Ok(Roster {
            event: r.event,
            status: r.status,
            seats: r.seats,
        })
    }
}

impl Roster {
    /// The event.
    #[must_use]
    pub fn event(&self) -> &OutreachEvent {
        &self.event
    }

    /// Where it stands.
    #[must_use]
    pub fn status(&self) -> RosterStatus {
        self.status
    }

    /// The registered patients, by id.
    #[must_use]
    pub fn seats(&self) -> &BTreeMap<PatientId, Seat> {
        &self.seats
    }

    /// Seats still free.
    #[must_use]
    pub fn free_seats(&self) -> u32 {
        let taken = u32::try_from(self.seats.len()).unwrap_or(u32::MAX);
        self.event.capacity().saturating_sub(taken)
    }

    /// Patients who came.
    pub fn attendees(&self) -> impl Iterator<Item = PatientId> + '_ {
        self.seats
            .iter()
            .filter(|(_, s)| s.attended_at.is_some())
            .map(|(p, _)| *p)
    }

    /// Registered patients who did not come.
    pub fn no_shows(&self) -> impl Iterator<Item = PatientId> + '_ {
        self.seats
            .iter()
            .filter(|(_, s)| s.attended_at.is_none())
            .map(|(p, _)| *p)
    }
}

/// What staff or a patient asks of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RosterCommand {
    /// Sets the event up, as a draft.
    Create(OutreachEvent),
    /// Opens registration, if [`check_event`] finds nothing.
    Publish,
    /// Registers a patient for a free seat.
    Register {
        /// Who.
        patient: PatientId,
    },
    /// Gives a seat back (before the patient attended).
    Unregister {
        /// Who.
        patient: PatientId,
    },
    /// Checks a registered patient in.
    Attend {
        /// Who.
        patient: PatientId,
    },
    /// Calls the event off.
    Cancel,
}

/// What happened to an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RosterEvent {
    /// Set up as a draft.
    Created(OutreachEvent),
    /// Opened for registration.
    Published {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A patient took a seat.
    Registered {
        /// Who.
        patient: PatientId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A patient gave a seat back.
    Unregistered {
        /// Who.
        patient: PatientId,
    },
    /// A patient came.
    Attended {
        /// Who.
        patient: PatientId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Called off.
    Cancelled,
    /// The patient was anonymised: their seat goes, attended or not. Who came to an event
    /// named after a condition (`糖尿病健康讲座`) is health data, as a condition's group is.
    PatientErased {
        /// Who.
        patient: PatientId,
    },
}

impl Roster {
    /// Decides the event that erases a patient's seat: none when they hold none, so
    /// erasing twice commits nothing.
    #[must_use]
    pub fn anonymise(&self, patient: PatientId) -> Vec<RosterEvent> {
        if self.seats.contains_key(&patient) {
            vec![RosterEvent::PatientErased { patient }]
        } else {
            vec![]
        }
    }
}

fn open(state: Option<&Roster>) -> Result<&Roster, OutreachEventError> {
    let r = state.ok_or(OutreachEventError::NotCreated)?;
    match r.status {
        RosterStatus::Published => Ok(r),
        RosterStatus::Draft => Err(OutreachEventError::NotPublished {
            event: r.event.id(),
        }),
        RosterStatus::Cancelled => Err(OutreachEventError::Cancelled {
            event: r.event.id(),
        }),
    }
}

/// Decides what a command does to an event; changes nothing.
///
/// # Errors
///
/// - [`OutreachEventError::AlreadyCreated`], [`OutreachEventError::NotCreated`];
/// - [`OutreachEventError::Unpublishable`] when [`check_event`] finds anything (a free
///   clinic without approval among them), [`OutreachEventError::NotDraft`] to publish twice;
/// - [`OutreachEventError::NotPublished`], [`OutreachEventError::Cancelled`] to register or
///   attend outside registration;
/// - [`OutreachEventError::Full`] when every seat is taken (the event is over capacity);
/// - [`OutreachEventError::RegistrationClosed`] to register once the event has started;
/// - [`OutreachEventError::AlreadyRegistered`], [`OutreachEventError::NotRegistered`],
///   [`OutreachEventError::AlreadyAttended`].
pub fn decide(
    state: Option<&Roster>,
    command: &RosterCommand,
    at: DateTime<Utc>,
) -> Result<Vec<RosterEvent>, OutreachEventError> {
    match command {
        RosterCommand::Create(e) => match state {
            Some(r) => Err(OutreachEventError::AlreadyCreated {
                event: r.event.id(),
            }),
            None => Ok(vec![RosterEvent::Created(e.clone())]),
        },
        RosterCommand::Publish => {
            let r = state.ok_or(OutreachEventError::NotCreated)?;
            if r.status != RosterStatus::Draft {
                return Err(OutreachEventError::NotDraft {
                    event: r.event.id(),
                });
            }
            let found: Vec<EventCheck> = check_event(&r.event, at);
            if !found.is_empty() {
                return Err(OutreachEventError::Unpublishable {
                    event: r.event.id(),
                    found,
                });
            }
            Ok(vec![RosterEvent::Published { at }])
        }
        RosterCommand::Register { patient } => register(state, *patient, at),
        RosterCommand::Unregister { patient } => {
            let r = open(state)?;
            match r.seats.get(patient) {
                None => Err(OutreachEventError::NotRegistered {
                    event: r.event.id(),
                    patient: *patient,
                }),
                Some(s) if s.attended_at.is_some() => Err(OutreachEventError::AlreadyAttended {
                    event: r.event.id(),
                    patient: *patient,
                }),
                Some(_) => Ok(vec![RosterEvent::Unregistered { patient: *patient }]),
            }
        }
        RosterCommand::Attend { patient } => {
            let r = open(state)?;
            match r.seats.get(patient) {
                None => Err(OutreachEventError::NotRegistered {
                    event: r.event.id(),
                    patient: *patient,
                }),
                Some(s) if s.attended_at.is_some() => Err(OutreachEventError::AlreadyAttended {
                    event: r.event.id(),
                    patient: *patient,
                }),
                Some(_) => Ok(vec![RosterEvent::Attended {
                    patient: *patient,
                    at,
                }]),
            }
        }
        RosterCommand::Cancel => {
            let r = state.ok_or(OutreachEventError::NotCreated)?;
            if r.status == RosterStatus::Cancelled {
                return Err(OutreachEventError::Cancelled {
                    event: r.event.id(),
                });
            }
            Ok(vec![RosterEvent::Cancelled])
        }
    }
}

fn register(
    state: Option<&Roster>,
    patient: PatientId,
    at: DateTime<Utc>,
) -> Result<Vec<RosterEvent>, OutreachEventError> {
    let r = open(state)?;
    let event = r.event.id();
    if at >= r.event.starts() {
        return Err(OutreachEventError::RegistrationClosed { event });
    }
    if r.seats.contains_key(&patient) {
        return Err(OutreachEventError::AlreadyRegistered { event, patient });
    }
    if r.free_seats() == 0 {
        return Err(OutreachEventError::Full {
            event,
            capacity: r.event.capacity(),
        });
    }
    Ok(vec![RosterEvent::Registered { patient, at }])
}

/// Applies an event; never fails (an event that does not fit the state changes nothing).
pub fn apply(state: &mut Option<Roster>, event: &RosterEvent) {
    match (state.as_mut(), event) {
        (None, RosterEvent::Created(e)) => {
            *state = Some(Roster {
                event: e.clone(),
                status: RosterStatus::Draft,
                seats: BTreeMap::new(),
            });
        }
        (Some(r), RosterEvent::Published { .. }) if r.status == RosterStatus::Draft => {
            r.status = RosterStatus::Published;
        }
        (Some(r), RosterEvent::Registered { patient, at }) => {
            r.seats.entry(*patient).or_insert(Seat {
                registered_at: *at,
                attended_at: None,
            });
        }
        (
            Some(r),
            RosterEvent::Unregistered { patient } | RosterEvent::PatientErased { patient },
        ) => {
            r.seats.remove(patient);
        }
        (Some(r), RosterEvent::Attended { patient, at }) => {
            if let Some(s) = r.seats.get_mut(patient) {
                s.attended_at.get_or_insert(*at);
            }
        }
        (Some(r), RosterEvent::Cancelled) => r.status = RosterStatus::Cancelled,
        _ => {}
    }
}
