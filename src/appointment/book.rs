//! The appointment book: one clinic's bookings, decided and applied.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::index::{PatientIndex, Position, SlotIndex};
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
/// Serialised as the clinic and its bookings by id; the indexes that keep
/// [`decide`](super::decide) fast (places taken per slot, and per patient their bookings,
/// live slots and no-shows) are rebuilt on load.
#[derive(Clone, Deserialize)]
#[serde(from = "RawBook")]
pub struct AppointmentBook {
    clinic: ClinicId,
    /// Every booking, in the order it was booked. None is ever removed, so a position holds
    /// the same booking for good.
    bookings: Vec<Booking>,
    /// Where each booking is in `bookings`, once the ids stopped coming in increasing order;
    /// until then (hosts number bookings as they come) `bookings` is in id order and found
    /// by its ids alone, and a new booking is the next id up with no lookup at all.
    positions: Option<IdMap<AppointmentId, Position>>,
    taken: SlotIndex,
    patients: PatientIndex,
}

impl PartialEq for AppointmentBook {
    fn eq(&self, other: &Self) -> bool {
        self.clinic == other.clinic
            && self.len() == other.len()
            && self.bookings().eq(other.bookings())
    }
}
impl Eq for AppointmentBook {}

impl std::fmt::Debug for AppointmentBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppointmentBook")
            .field("clinic", &self.clinic)
            .field("bookings", &DebugMap(|| self.bookings().map(|b| (b.id, b))))
            .finish()
    }
}

/// Formats `(key, value)` pairs as a map.
struct DebugMap<F>(F);

impl<'a, I: Iterator<Item = (AppointmentId, &'a Booking)>, F: Fn() -> I> std::fmt::Debug
    for DebugMap<F>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries((self.0)()).finish()
    }
}

/// The bookings member: a map from id to booking, in id order, as the map this book once
/// kept serialised.
struct ById<'a>(&'a AppointmentBook);

impl Serialize for ById<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for b in self.0.bookings() {
            m.serialize_entry(&b.id, b)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct RawBookRef<'a> {
    clinic: ClinicId,
    bookings: ById<'a>,
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
            bookings: ById(self),
        }
        .serialize(s)
    }
}

impl From<RawBook> for AppointmentBook {
    fn from(r: RawBook) -> Self {
        let mut b = AppointmentBook::new(r.clinic);
        for (_, booking) in r.bookings {
            b.insert(booking);
        }
        b
    }
}

impl AppointmentBook {
    /// An empty book for a clinic.
    #[must_use]
    pub fn new(clinic: ClinicId) -> Self {
        AppointmentBook {
            clinic,
            bookings: Vec::new(),
            positions: None,
            taken: SlotIndex::default(),
            patients: PatientIndex::default(),
        }
    }

    /// The clinic.
    #[must_use]
    pub fn clinic(&self) -> ClinicId {
        self.clinic
    }

    /// Where a booking is in the list.
    fn position(&self, id: AppointmentId) -> Option<Position> {
        match &self.positions {
            Some(p) => p.get(&id).copied(),
            None => {
                // In id order: numbered without gaps, the id says where; else search.
                let first = self.bookings.first()?.id.get();
                let guess = usize::try_from(id.get().checked_sub(first)?).ok()?;
                if self.bookings.get(guess).is_some_and(|b| b.id == id) {
                    return Some(guess);
                }
                self.bookings.binary_search_by_key(&id, |b| b.id).ok()
            }
        }
    }

    /// One booking.
    #[must_use]
    pub fn get(&self, id: AppointmentId) -> Option<&Booking> {
        if self.positions.is_none() && self.bookings.last().is_none_or(|b| b.id < id) {
            return None;
        }
        self.bookings.get(self.position(id)?)
    }

    /// Every booking, in id order.
    pub fn bookings(&self) -> impl Iterator<Item = &Booking> {
        // Sorted only when the ids came out of order; usually the list is in id order.
        let sorted = self.positions.as_ref().map(|_| {
            let mut v: Vec<&Booking> = self.bookings.iter().collect();
            v.sort_unstable_by_key(|b| b.id);
            v
        });
        let direct = sorted.is_none().then(|| self.bookings.iter());
        direct
            .into_iter()
            .flatten()
            .chain(sorted.into_iter().flatten())
    }

    /// A patient's bookings, in id order.
    pub fn of_patient(&self, patient: PatientId) -> impl Iterator<Item = &Booking> {
        let mut v: Vec<&Booking> = self
            .patients
            .positions(patient)
            .filter_map(|p| self.bookings.get(p))
            .collect();
        v.sort_unstable_by_key(|b| b.id);
        v.into_iter()
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
        self.taken.get(doctor, start)
    }

    /// The patient's no-shows whose slot started in `(at - days, at]`.
    #[must_use]
    pub fn recent_no_shows(&self, patient: PatientId, at: DateTime<Utc>, days: u32) -> u32 {
        let Some(e) = self.patients.get(patient) else {
            return 0;
        };
        if e.no_shows.is_empty() {
            return 0;
        }
        let from = at
            .checked_sub_signed(Duration::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        u32::try_from(e.no_shows.iter().filter(|&&s| s > from && s <= at).count())
            .unwrap_or(u32::MAX)
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

    /// Adds a booking with a new id, and indexes it.
    fn insert(&mut self, b: Booking) {
        let at = self.bookings.len();
        if let Some(p) = &mut self.positions {
            p.insert(b.id, at);
        } else if self.bookings.last().is_some_and(|last| last.id > b.id) {
            // The first id out of order: from now on the ids are looked up.
            let mut p: IdMap<AppointmentId, Position> = IdMap::default();
            p.reserve(at + 1);
            p.extend(self.bookings.iter().enumerate().map(|(i, x)| (x.id, i)));
            p.insert(b.id, at);
            self.positions = Some(p);
        }
        if b.status.holds_place() {
            self.taken.change(b.doctor, b.start, true);
        }
        self.patients.push(at, &b);
        self.bookings.push(b);
    }

    /// Changes the booking at `at` in place, taking it out of the indexes and back in.
    fn update(&mut self, at: Position, change: impl FnOnce(&mut Booking)) {
        let Some(b) = self.bookings.get_mut(at) else {
            return;
        };
        if b.status.holds_place() {
            self.taken.change(b.doctor, b.start, false);
        }
        self.patients.change(b, false);
        change(b);
        if b.status.holds_place() {
            self.taken.change(b.doctor, b.start, true);
        }
        self.patients.change(b, true);
    }

    /// The patient's live booking overlapping `[start, end)`, other than `except`.
    pub(super) fn overlapping(
        &self,
        patient: PatientId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        except: Option<AppointmentId>,
    ) -> Option<AppointmentId> {
        self.patients
            .get(patient)?
            .live
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
            if book.get(b.id).is_none() {
                book.insert(b.clone());
            }
            return;
        }
        AppointmentEvent::PatientErased { patient, .. } => {
            let at: Vec<Position> = book.patients.positions(*patient).collect();
            for p in at {
                if let Some(b) = book.bookings.get_mut(p) {
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
    let Some(at) = book.position(id) else {
        return;
    };
    if !book.bookings.get(at).is_some_and(applies) {
        return;
    }
    book.update(at, |b| match event {
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
    });
}
