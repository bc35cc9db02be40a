//! Appointment metrics: no-show rate by doctor, weekday and hour, booking lead time, slot
//! utilisation, and reminder → arrival conversion. Partial tallies over disjoint books merge.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use super::book::{AppointmentBook, BookingStatus};
use super::schedule::Schedule;
use crate::calendar::ClinicCalendar;
use crate::followup::{TaskKind, TaskRecord};
use crate::id::{AppointmentId, DoctorId};
use crate::metrics::rates::{DurationStats, Rate};

fn count(r: &mut Rate, hit: bool) {
    r.denominator = r.denominator.saturating_add(1);
    r.numerator = r.numerator.saturating_add(u64::from(hit));
}

/// A mergeable tally of appointment outcomes. Add books with [`AppointmentTally::add_book`],
/// reminders with [`AppointmentTally::add_reminders`], merge partial tallies, then
/// [`AppointmentTally::report`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppointmentTally {
    by_doctor: BTreeMap<DoctorId, Rate>,
    /// Monday = 1 … Sunday = 7.
    by_weekday: BTreeMap<u8, Rate>,
    by_hour: BTreeMap<u8, Rate>,
    lead_seconds: Vec<i64>,
    /// Places taken and offered, per doctor, over the days counted.
    taken: BTreeMap<DoctorId, u64>,
    offered: BTreeMap<DoctorId, u64>,
    /// Reminded appointments: `None` until they reach their time, then whether they arrived.
    reminded: BTreeMap<AppointmentId, Option<bool>>,
}

/// The report of an [`AppointmentTally`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AppointmentReport {
    /// No-shows ÷ appointments that reached their time (checked in, completed or no-show),
    /// by doctor.
    pub no_show_by_doctor: BTreeMap<DoctorId, Rate>,
    /// The same by local weekday of the slot, Monday = 1.
    pub no_show_by_weekday: BTreeMap<u8, Rate>,
    /// The same by local hour of the slot's start.
    pub no_show_by_hour: BTreeMap<u8, Rate>,
    /// Booking to slot start.
    pub lead_time: DurationStats,
    /// Places taken ÷ places offered, by doctor (over the days passed to `add_book`).
    pub utilisation: BTreeMap<DoctorId, Rate>,
    /// Reminded appointments that reached their time, and how many of them arrived.
    pub reminder_arrival: Rate,
}

impl AppointmentTally {
    /// Counts a book's bookings whose slot's local date is in `days` (inclusive): no-shows
    /// among those that reached their time at `as_of`, lead times of all booked, and
    /// utilisation against the schedule's places on those days.
    pub fn add_book(
        &mut self,
        book: &AppointmentBook,
        schedule: &Schedule,
        days: (NaiveDate, NaiveDate),
        as_of: DateTime<Utc>,
        calendar: ClinicCalendar,
    ) {
        let (from, to) = days;
        for b in book.bookings() {
            let local = calendar.local_datetime(b.start);
            if local.date() < from || local.date() > to {
                continue;
            }
            if b.status.holds_place() {
                *self.taken.entry(b.doctor).or_default() += 1;
                self.lead_seconds
                    .push((b.start - b.booked_at).num_seconds().max(0));
            }
            let reached = match b.status {
                BookingStatus::NoShow { .. } => Some(true),
                BookingStatus::CheckedIn { .. } | BookingStatus::Completed { .. } => Some(false),
                _ => None,
            };
            if let Some(no_show) = reached.filter(|_| b.start <= as_of) {
                count(self.by_doctor.entry(b.doctor).or_default(), no_show);
                let wd = u8::try_from(local.weekday().number_from_monday()).unwrap_or(0);
                count(self.by_weekday.entry(wd).or_default(), no_show);
                let hour = u8::try_from(local.hour()).unwrap_or(0);
                count(self.by_hour.entry(hour).or_default(), no_show);
                if let Some(r) = self.reminded.get_mut(&b.id) {
                    *r = Some(!no_show);
                }
            }
        }
        for d in schedule.doctors() {
            let mut day = from;
            let mut n = 0u64;
            while day <= to {
                n +=
                    schedule.slots_on(d.doctor, day, calendar).len() as u64 * u64::from(d.capacity);
                match day.succ_opt() {
                    Some(next) => day = next,
                    None => break,
                }
            }
            *self.offered.entry(d.doctor).or_default() += n;
        }
    }

    /// Notes which appointments had a reminder task before they are counted with
    /// [`Self::add_book`] (call this first).
    pub fn add_reminders<'a, I: IntoIterator<Item = &'a TaskRecord>>(&mut self, records: I) {
        for r in records {
            if r.task.kind == TaskKind::AppointmentReminder
                && let crate::followup::Reason::Appointment { appointment, .. } = &r.task.reason
            {
                self.reminded.entry(*appointment).or_insert(None);
            }
        }
    }

    /// Adds another tally over disjoint books.
    pub fn merge(&mut self, other: &AppointmentTally) {
        fn add<K: Ord + Copy>(a: &mut BTreeMap<K, Rate>, b: &BTreeMap<K, Rate>) {
            for (k, v) in b {
                let e = a.entry(*k).or_default();
                *e = e.merge(*v);
            }
        }
        add(&mut self.by_doctor, &other.by_doctor);
        add(&mut self.by_weekday, &other.by_weekday);
        add(&mut self.by_hour, &other.by_hour);
        self.lead_seconds.extend_from_slice(&other.lead_seconds);
        for (k, v) in &other.taken {
            *self.taken.entry(*k).or_default() += v;
        }
        for (k, v) in &other.offered {
            *self.offered.entry(*k).or_default() += v;
        }
        for (k, v) in &other.reminded {
            let e = self.reminded.entry(*k).or_insert(None);
            *e = e.or(*v);
        }
    }

    /// The report.
    #[must_use]
    pub fn report(&self) -> AppointmentReport {
        let utilisation = self
            .offered
            .iter()
            .map(|(d, offered)| {
                (
                    *d,
                    Rate {
                        numerator: self.taken.get(d).copied().unwrap_or(0),
                        denominator: *offered,
                    },
                )
            })
            .collect();
        // Reminded appointments that reached their time: arrived is `true` after add_book.
        let mut reminder_arrival = Rate::default();
        for arrived in self.reminded.values().flatten() {
            count(&mut reminder_arrival, *arrived);
        }
        AppointmentReport {
            no_show_by_doctor: self.by_doctor.clone(),
            no_show_by_weekday: self.by_weekday.clone(),
            no_show_by_hour: self.by_hour.clone(),
            lead_time: DurationStats::from_seconds(self.lead_seconds.clone()),
            utilisation,
            reminder_arrival,
        }
    }
}
