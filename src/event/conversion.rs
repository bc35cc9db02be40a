//! Did an event convert anyone: attendees against registered no-shows.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::Roster;
use crate::id::PatientId;

/// Paid visits after an event, for attendees and for registered patients who did not come
/// (the comparison group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[must_use]
pub struct EventConversion {
    /// Patients who attended.
    pub attendees: u64,
    /// Attendees with a paid visit within the days after the event.
    pub attendees_converted: u64,
    /// Registered patients who did not come.
    pub no_shows: u64,
    /// No-shows with a paid visit within the days after the event.
    pub no_shows_converted: u64,
}

impl EventConversion {
    /// Attendees converted ÷ attendees, at the reporting edge; `None` without attendees.
    #[must_use]
    pub fn attendee_rate(&self) -> Option<f64> {
        rate(self.attendees_converted, self.attendees)
    }

    /// No-shows converted ÷ no-shows; `None` without no-shows.
    #[must_use]
    pub fn no_show_rate(&self) -> Option<f64> {
        rate(self.no_shows_converted, self.no_shows)
    }
}

#[allow(clippy::cast_precision_loss)] // counts of patients, far below 2^53
fn rate(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Counts attendees and no-shows with a paid visit in `(starts, starts + days]`: after the
/// event started, up to `days` whole days of 24 hours later. `paid_visits` may hold any
/// patients in any order; only the roster's are read.
pub fn event_conversion(
    roster: &Roster,
    paid_visits: &[(PatientId, DateTime<Utc>)],
    days: u32,
) -> EventConversion {
    let from = roster.event().starts();
    let to = from + Duration::days(i64::from(days));
    let mut out = EventConversion::default();
    // Sorted once so each seat's lookup is a binary search, not a scan of every visit.
    let mut visits: Vec<(PatientId, DateTime<Utc>)> = paid_visits
        .iter()
        .copied()
        .filter(|(_, at)| *at > from && *at <= to)
        .collect();
    visits.sort_unstable();
    let hit = |p: PatientId| visits.binary_search_by(|(q, _)| q.cmp(&p)).is_ok();
    for (p, seat) in roster.seats() {
        let c = u64::from(hit(*p));
        if seat.attended_at.is_some() {
            out.attendees += 1;
            out.attendees_converted += c;
        } else {
            out.no_shows += 1;
            out.no_shows_converted += c;
        }
    }
    out
}
