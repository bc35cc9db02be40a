//! The appointment book: one clinic's bookings, decided and applied.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::intake::IntakeAnswers;
use super::policy::Requirement;
use crate::id::{AppointmentId, ClinicId, DoctorId, IdMap, PatientId};
use crate::money::Yuan;
use crate::text::Label;

/// What the patient gave to hold a booking, checked against the no-show policy's
/// [`Requirement`] when they have too many recent no-shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Guarantee {
    /// Nothing.
    #[default]
    None,
    /// The front desk confirmed with the patient.
    Confirmed,
    /// A deposit was taken.
    Deposit {
        /// How much.
        amount: Yuan,
    },
}

impl Guarantee {
    /// Whether this guarantee meets a requirement: a deposit also counts as a confirmation.
    #[must_use]
    pub fn meets(self, requirement: Requirement) -> bool {
        match (self, requirement) {
            (Guarantee::Confirmed | Guarantee::Deposit { .. }, Requirement::Confirmation) => true,
            (Guarantee::Deposit { amount }, Requirement::Deposit { amount: need }) => {
                amount >= need
            }
            _ => false,
        }
    }
}

/// Who cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    /// The patient.
    Patient,
    /// The clinic (a doctor fell ill, a closure).
    Clinic,
}

/// Where a booking stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BookingStatus {
    /// Booked, not yet arrived.
    Booked,
    /// Arrived (到馆).
    CheckedIn {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Seen and done.
    Completed {
        /// When the patient checked in.
        #[serde(with = "crate::calendar::in_range::instant")]
        checked_in_at: DateTime<Utc>,
        /// When the visit was completed.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Cancelled: the place is free again.
    Cancelled {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
        /// By whom.
        by: CancelledBy,
        /// Why.
        reason: Label,
    },
    /// The patient did not come.
    NoShow {
        /// When it was marked.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

impl BookingStatus {
    /// The snake_case code, as in refusals.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BookingStatus::Booked => "booked",
            BookingStatus::CheckedIn { .. } => "checked_in",
            BookingStatus::Completed { .. } => "completed",
            BookingStatus::Cancelled { .. } => "cancelled",
            BookingStatus::NoShow { .. } => "no_show",
        }
    }

    /// Whether the booking still holds the patient's time: booked or checked in.
    #[must_use]
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            BookingStatus::Booked | BookingStatus::CheckedIn { .. }
        )
    }

    /// Whether the booking takes a place in its slot: everything but a cancellation.
    #[must_use]
    pub fn holds_place(&self) -> bool {
        !matches!(self, BookingStatus::Cancelled { .. })
    }
}

/// One booking of a place in a doctor's slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The appointment.
    pub id: AppointmentId,
    /// The patient.
    pub patient: PatientId,
    /// The doctor.
    pub doctor: DoctorId,
    /// The slot's start.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub start: DateTime<Utc>,
    /// The slot's end.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub end: DateTime<Utc>,
    /// When it was booked: the lead time is `start - booked_at`.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub booked_at: DateTime<Utc>,
    /// A first visit, which gets the pre-visit intake.
    pub first_visit: bool,
    /// What the patient gave to hold it.
    pub guarantee: Guarantee,
    /// How often it was moved.
    pub reschedules: u16,
    /// Where it stands.
    pub status: BookingStatus,
    /// The intake answers, once given (first visits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeAnswers>,
}

/// A command to the appointment book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppointmentCommand {
    /// Book a place.
    Book {
        /// A new, host-assigned id.
        id: AppointmentId,
        /// The patient.
        patient: PatientId,
        /// The doctor.
        doctor: DoctorId,
        /// The slot's start.
        #[serde(with = "crate::calendar::in_range::instant")]
        start: DateTime<Utc>,
        /// Whether it is the patient's first visit.
        first_visit: bool,
        /// What the patient gave.
        #[serde(default)]
        guarantee: Guarantee,
    },
    /// Move a booked appointment to another slot (of the same or another doctor).
    Reschedule {
        /// The appointment.
        id: AppointmentId,
        /// Another doctor, or the same when `None`.
        #[serde(default)]
        doctor: Option<DoctorId>,
        /// The new slot's start.
        #[serde(with = "crate::calendar::in_range::instant")]
        start: DateTime<Utc>,
    },
    /// Cancel a booked appointment.
    Cancel {
        /// The appointment.
        id: AppointmentId,
        /// By whom.
        by: CancelledBy,
        /// Why.
        reason: Label,
    },
    /// The patient arrived.
    CheckIn {
        /// The appointment.
        id: AppointmentId,
    },
    /// The patient did not come (after the grace period).
    MarkNoShow {
        /// The appointment.
        id: AppointmentId,
    },
    /// The visit is done.
    Complete {
        /// The appointment.
        id: AppointmentId,
    },
}

/// A fact about the book. Applied in order by [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppointmentEvent {
    /// A place was booked.
    Booked(Booking),
    /// A booking moved.
    Rescheduled {
        /// The appointment.
        id: AppointmentId,
        /// The doctor now.
        doctor: DoctorId,
        /// The new start.
        #[serde(with = "crate::calendar::in_range::instant")]
        start: DateTime<Utc>,
        /// The new end.
        #[serde(with = "crate::calendar::in_range::instant")]
        end: DateTime<Utc>,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A booking was cancelled.
    Cancelled {
        /// The appointment.
        id: AppointmentId,
        /// By whom.
        by: CancelledBy,
        /// Why.
        reason: Label,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient arrived.
    CheckedIn {
        /// The appointment.
        id: AppointmentId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient did not come.
    NoShow {
        /// The appointment.
        id: AppointmentId,
        /// When it was marked.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The visit is done.
    Completed {
        /// The appointment.
        id: AppointmentId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The pre-visit intake was answered.
    IntakeRecorded {
        /// The appointment.
        id: AppointmentId,
        /// The answers.
        answers: IntakeAnswers,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient was anonymised: their intake answers are gone for good.
    PatientErased {
        /// The patient.
        patient: PatientId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

/// The most bookings one book holds; a host archives finished days before that.
pub const MAX_BOOKINGS: usize = 10_000_000;

/// One clinic's bookings: the state of the appointment aggregate.
///
/// Serialised as the clinic and its bookings; the indexes that keep [`decide`](super::decide) fast (places
/// taken per slot, live bookings per patient, no-shows per patient) are rebuilt on load.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawBook")]
pub struct AppointmentBook {
    clinic: ClinicId,
    bookings: BTreeMap<AppointmentId, Booking>,
    taken: IdMap<(DoctorId, i64), u16>,
    /// Live bookings per patient with their slot, so the double-booking check reads no
    /// booking from the (large) id-ordered map.
    live: IdMap<PatientId, Vec<LiveSlot>>,
    /// Every booking of each patient, whatever its state, for planning their tasks.
    all: IdMap<PatientId, Vec<AppointmentId>>,
    no_shows: IdMap<PatientId, Vec<DateTime<Utc>>>,
}

impl PartialEq for AppointmentBook {
    fn eq(&self, other: &Self) -> bool {
        self.clinic == other.clinic && self.bookings == other.bookings
    }
}
impl Eq for AppointmentBook {}

#[derive(Serialize)]
struct RawBookRef<'a> {
    clinic: ClinicId,
    bookings: &'a BTreeMap<AppointmentId, Booking>,
}

#[derive(Deserialize)]
struct RawBook {
    clinic: ClinicId,
    bookings: BTreeMap<AppointmentId, Booking>,
}

impl Serialize for AppointmentBook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawBookRef {
            clinic: self.clinic,
            bookings: &self.bookings,
        }
        .serialize(s)
    }
}

impl From<RawBook> for AppointmentBook {
    fn from(r: RawBook) -> Self {
        let mut b = AppointmentBook::new(r.clinic);
        for (_, booking) in r.bookings {
            b.all.entry(booking.patient).or_default().push(booking.id);
            b.index(&booking, 1);
            b.bookings.insert(booking.id, booking);
        }
        b
    }
}

/// A live booking in the per-patient index: its id and slot.
#[derive(Debug, Clone, Copy)]
struct LiveSlot {
    id: AppointmentId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn slot_key(doctor: DoctorId, start: DateTime<Utc>) -> (DoctorId, i64) {
    (doctor, start.timestamp())
}

impl AppointmentBook {
    /// An empty book for a clinic.
    #[must_use]
    pub fn new(clinic: ClinicId) -> Self {
        AppointmentBook {
            clinic,
            bookings: BTreeMap::new(),
            taken: IdMap::default(),
            live: IdMap::default(),
            all: IdMap::default(),
            no_shows: IdMap::default(),
        }
    }

    /// The clinic.
    #[must_use]
    pub fn clinic(&self) -> ClinicId {
        self.clinic
    }

    /// One booking.
    #[must_use]
    pub fn get(&self, id: AppointmentId) -> Option<&Booking> {
        self.bookings.get(&id)
    }

    /// Every booking, in id order.
    pub fn bookings(&self) -> impl Iterator<Item = &Booking> {
        self.bookings.values()
    }

    /// A patient's bookings, in id order.
    pub fn of_patient(&self, patient: PatientId) -> impl Iterator<Item = &Booking> {
        let mut ids = self.all.get(&patient).cloned().unwrap_or_default();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.bookings.get(&id))
    }

    /// The number of bookings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bookings.len()
    }

    /// Whether the book is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bookings.is_empty()
    }

    /// Places taken in a slot (every booking but cancelled ones).
    #[must_use]
    pub fn taken(&self, doctor: DoctorId, start: DateTime<Utc>) -> u16 {
        self.taken
            .get(&slot_key(doctor, start))
            .copied()
            .unwrap_or(0)
    }

    /// The patient's no-shows whose slot started in `(at - days, at]`.
    #[must_use]
    pub fn recent_no_shows(&self, patient: PatientId, at: DateTime<Utc>, days: u32) -> u32 {
        let from = at
            .checked_sub_signed(Duration::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.no_shows.get(&patient).map_or(0, |v| {
            u32::try_from(v.iter().filter(|&&s| s > from && s <= at).count()).unwrap_or(u32::MAX)
        })
    }

    /// Decides the events that erase a patient's intake answers: none when there are none.
    #[must_use]
    pub fn anonymise(&self, patient: PatientId, at: DateTime<Utc>) -> Vec<AppointmentEvent> {
        if self.of_patient(patient).any(|b| b.intake.is_some()) {
            vec![AppointmentEvent::PatientErased { patient, at }]
        } else {
            vec![]
        }
    }

    /// Adds (`sign` 1) or removes (`sign` -1) a booking from the indexes.
    fn index(&mut self, b: &Booking, sign: i8) {
        let add = sign > 0;
        if b.status.holds_place() {
            let e = self.taken.entry(slot_key(b.doctor, b.start)).or_insert(0);
            *e = if add {
                e.saturating_add(1)
            } else {
                e.saturating_sub(1)
            };
        }
        if b.status.is_live() {
            let v = self.live.entry(b.patient).or_default();
            if add {
                v.push(LiveSlot {
                    id: b.id,
                    start: b.start,
                    end: b.end,
                });
            } else {
                v.retain(|x| x.id != b.id);
            }
        }
        if matches!(b.status, BookingStatus::NoShow { .. }) {
            let v = self.no_shows.entry(b.patient).or_default();
            if add {
                v.push(b.start);
            } else if let Some(i) = v.iter().position(|&s| s == b.start) {
                v.swap_remove(i);
            }
        }
    }

    /// The patient's live booking overlapping `[start, end)`, other than `except`.
    pub(super) fn overlapping(
        &self,
        patient: PatientId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        except: Option<AppointmentId>,
    ) -> Option<AppointmentId> {
        self.live
            .get(&patient)?
            .iter()
            .find(|o| Some(o.id) != except && o.start < end && start < o.end)
            .map(|o| o.id)
    }
}

/// Applies one event. Events are facts already decided, so this never fails: an event for an
/// unknown appointment, or one that does not fit its state (applied already), changes
/// nothing.
pub fn apply(book: &mut AppointmentBook, event: &AppointmentEvent) {
    let id = match event {
        AppointmentEvent::Booked(b) => {
            // One descent of the id-ordered map, not a lookup and then an insert.
            if let std::collections::btree_map::Entry::Vacant(slot) = book.bookings.entry(b.id) {
                slot.insert(b.clone());
                book.all.entry(b.patient).or_default().push(b.id);
                book.index(b, 1);
            }
            return;
        }
        AppointmentEvent::PatientErased { patient, .. } => {
            for b in book.bookings.values_mut() {
                if b.patient == *patient {
                    b.intake = None;
                }
            }
            return;
        }
        AppointmentEvent::Rescheduled { id, .. }
        | AppointmentEvent::Cancelled { id, .. }
        | AppointmentEvent::CheckedIn { id, .. }
        | AppointmentEvent::NoShow { id, .. }
        | AppointmentEvent::Completed { id, .. }
        | AppointmentEvent::IntakeRecorded { id, .. } => *id,
    };
    let applies = |b: &Booking| match event {
        AppointmentEvent::Completed { .. } => matches!(b.status, BookingStatus::CheckedIn { .. }),
        AppointmentEvent::IntakeRecorded { .. } => true,
        _ => b.status == BookingStatus::Booked,
    };
    if !book.bookings.get(&id).is_some_and(applies) {
        return;
    }
    let Some(mut b) = book.bookings.remove(&id) else {
        return;
    };
    book.index(&b, -1);
    match event {
        AppointmentEvent::Rescheduled {
            doctor, start, end, ..
        } => {
            b.doctor = *doctor;
            b.start = *start;
            b.end = *end;
            b.reschedules = b.reschedules.saturating_add(1);
        }
        AppointmentEvent::Cancelled { by, reason, at, .. } => {
            b.status = BookingStatus::Cancelled {
                at: *at,
                by: *by,
                reason: reason.clone(),
            };
        }
        AppointmentEvent::CheckedIn { at, .. } => b.status = BookingStatus::CheckedIn { at: *at },
        AppointmentEvent::NoShow { at, .. } => b.status = BookingStatus::NoShow { at: *at },
        AppointmentEvent::Completed { at, .. } => {
            if let BookingStatus::CheckedIn { at: checked_in_at } = b.status {
                b.status = BookingStatus::Completed {
                    checked_in_at,
                    at: *at,
                };
            }
        }
        AppointmentEvent::IntakeRecorded { answers, .. } => b.intake = Some(answers.clone()),
        AppointmentEvent::Booked(_) | AppointmentEvent::PatientErased { .. } => {}
    }
    book.index(&b, 1);
    book.bookings.insert(id, b);
}
