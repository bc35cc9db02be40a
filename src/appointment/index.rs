//! The appointment book's indexes, which keep [`decide`](super::decide) from reading the
//! bookings themselves: places taken per slot, and per patient their bookings, live slots and
//! no-shows.

use chrono::{DateTime, Utc};

use super::book::{Booking, BookingStatus};
use crate::id::{AppointmentId, DoctorId, IdMap, PatientId};

const DAY: i64 = 86_400;

/// Places taken per doctor and slot start.
///
/// Kept per (doctor, UTC day) as a short list of (second of the day, places) in order: a
/// day holds a few dozen slots, so the hash map has one entry per doctor-day (small enough
/// to stay in cache, where one entry per slot was not) and a slot is a short search in a
/// list that bookings made in time order only append to. A slot whose places all went
/// keeps its entry at zero, which reads the same as no entry.
#[derive(Debug, Clone, Default)]
pub(super) struct SlotIndex {
    days: IdMap<(DoctorId, i64), Vec<(u32, u16)>>,
}

/// The (doctor, day) key and the second of the day of a slot: whole seconds, as slot starts
/// are compared (a fraction of a second is not part of the key).
fn slot_key(doctor: DoctorId, start: DateTime<Utc>) -> ((DoctorId, i64), u32) {
    let t = start.timestamp();
    let second = u32::try_from(t.rem_euclid(DAY)).unwrap_or(0);
    ((doctor, t.div_euclid(DAY)), second)
}

impl SlotIndex {
    /// Places taken in the slot of `doctor` starting at `start`.
    pub(super) fn get(&self, doctor: DoctorId, start: DateTime<Utc>) -> u16 {
        let (day, second) = slot_key(doctor, start);
        self.days.get(&day).map_or(0, |slots| {
            slots
                .binary_search_by_key(&second, |&(s, _)| s)
                .ok()
                .and_then(|i| slots.get(i))
                .map_or(0, |&(_, n)| n)
        })
    }

    /// Takes (`add`) or frees a place in a slot, saturating at 0 and `u16::MAX`.
    pub(super) fn change(&mut self, doctor: DoctorId, start: DateTime<Utc>, add: bool) {
        let (day, second) = slot_key(doctor, start);
        let slots = self.days.entry(day).or_default();
        // Bookings mostly come in time order: the slot is the last one or a new last one.
        let i = match slots.last() {
            Some(&(s, _)) if s < second => Err(slots.len()),
            _ => slots.binary_search_by_key(&second, |&(s, _)| s),
        };
        match i {
            Ok(i) => {
                if let Some((_, n)) = slots.get_mut(i) {
                    *n = if add {
                        n.saturating_add(1)
                    } else {
                        n.saturating_sub(1)
                    };
                }
            }
            Err(i) => slots.insert(i, (second, u16::from(add))),
        }
    }
}

/// Where a booking is in the book's list.
pub(super) type Position = usize;

/// A live booking in the per-patient index: its id and slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct LiveSlot {
    pub(super) id: AppointmentId,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
}

/// One patient's entry: their bookings as a chain through the book's list (first and last;
/// each booking links to the next, see [`PatientIndex::next`]), so a patient costs no list
/// of their own; their live slots, for the double-booking check; and their no-shows' slot
/// starts, for the no-show policy.
#[derive(Debug, Clone)]
pub(super) struct PatientEntry {
    first: Position,
    last: Position,
    pub(super) live: Vec<LiveSlot>,
    pub(super) no_shows: Vec<DateTime<Utc>>,
}

/// The per-patient index, one hash lookup a booking for all three.
#[derive(Debug, Clone, Default)]
pub(super) struct PatientIndex {
    patients: IdMap<PatientId, PatientEntry>,
    /// For each booking in the book's list (same order), the position of the same patient's
    /// next booking.
    next: Vec<Option<Position>>,
}

impl PatientIndex {
    /// One patient's entry.
    pub(super) fn get(&self, patient: PatientId) -> Option<&PatientEntry> {
        self.patients.get(&patient)
    }

    /// Links a booking just pushed at `at` (the end of the book's list) to its patient,
    /// and adds it to the live and no-show lists as its status says.
    pub(super) fn push(&mut self, at: Position, b: &Booking) {
        self.next.push(None);
        match self.patients.entry(b.patient) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let e = o.get_mut();
                if let Some(link) = self.next.get_mut(e.last) {
                    *link = Some(at);
                }
                e.last = at;
                e.change(b, true);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(PatientEntry {
                    first: at,
                    last: at,
                    live: Vec::new(),
                    no_shows: Vec::new(),
                })
                .change(b, true);
            }
        }
    }

    /// Adds (`add`) or removes a booking already linked from its patient's live and no-show
    /// lists, as its status says.
    pub(super) fn change(&mut self, b: &Booking, add: bool) {
        if let Some(e) = self.patients.get_mut(&b.patient) {
            e.change(b, add);
        }
    }

    /// The positions of a patient's bookings, in the order they were booked.
    pub(super) fn positions(&self, patient: PatientId) -> impl Iterator<Item = Position> + '_ {
        let first = self.patients.get(&patient).map(|e| e.first);
        std::iter::successors(first, |&p| self.next.get(p).copied().flatten())
    }
}

impl PatientEntry {
    fn change(&mut self, b: &Booking, add: bool) {
        if b.status.is_live() {
            if add {
                self.live.push(LiveSlot {
                    id: b.id,
                    start: b.start,
                    end: b.end,
                });
            } else {
                self.live.retain(|x| x.id != b.id);
            }
        }
        if matches!(b.status, BookingStatus::NoShow { .. }) {
            if add {
                self.no_shows.push(b.start);
            } else if let Some(i) = self.no_shows.iter().position(|&s| s == b.start) {
                self.no_shows.swap_remove(i);
            }
        }
    }
}
