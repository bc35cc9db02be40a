//! Schedules as data: per doctor, working hours per weekday, slot length and capacity, and
//! the clinic's closed days.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::AppointmentError;
use crate::calendar::ClinicCalendar;
use crate::id::{AppointmentId, ClinicId, DoctorId};

/// The most doctors one schedule may hold.
pub const MAX_DOCTORS: usize = 2_000;
/// The most working-hour ranges one doctor may have in a week.
pub const MAX_RANGES: usize = 64;

/// A schedule that cannot be loaded: where (a JSON path such as `doctors[1].hours[0]`) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {path}: {why}")]
pub struct ScheduleError {
    /// The JSON path of the offending value.
    pub path: String,
    /// What is wrong with it.
    pub why: String,
}

fn err(path: String, why: impl Into<String>) -> ScheduleError {
    ScheduleError {
        path,
        why: why.into(),
    }
}

/// One range of working hours on a weekday, local time, `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// The weekday.
    pub weekday: Weekday,
    /// The first slot's start.
    pub start: NaiveTime,
    /// When the last slot must have ended.
    pub end: NaiveTime,
}

/// One doctor's week: working hours, slot length and places per slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorSchedule {
    /// The doctor.
    pub doctor: DoctorId,
    /// Minutes per slot, 5 to 480.
    pub slot_minutes: u16,
    /// Patients per slot, 1 to 500.
    pub capacity: u16,
    /// Working hours; ranges of one weekday must not overlap.
    pub hours: Vec<WorkingHours>,
}

/// A slot a booking may take: its end and capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSpec {
    /// When the slot starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// Places in it.
    pub capacity: u16,
}

/// A clinic's appointment schedule. Loading (serde or [`Schedule::new`]) refuses a zero
/// capacity, a slot length out of range, a range that ends before it starts or holds no
/// whole slot, ranges of one doctor that overlap, and a doctor listed twice, each with the
/// JSON path of the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSchedule", into = "RawSchedule")]
pub struct Schedule {
    clinic: ClinicId,
    /// Sorted by doctor, for binary search on the hot path.
    doctors: Vec<DoctorSchedule>,
    /// Per doctor (same order), per weekday from Monday: (start, end) seconds of day.
    ranges: Vec<[Vec<(u32, u32)>; 7]>,
    closed_days: BTreeSet<NaiveDate>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    clinic: ClinicId,
    doctors: Vec<DoctorSchedule>,
    #[serde(default)]
    closed_days: BTreeSet<NaiveDate>,
}

impl TryFrom<RawSchedule> for Schedule {
    type Error = ScheduleError;
    fn try_from(r: RawSchedule) -> Result<Self, Self::Error> {
        Schedule::new(r.clinic, r.doctors, r.closed_days)
    }
}

impl From<Schedule> for RawSchedule {
    fn from(s: Schedule) -> Self {
        RawSchedule {
            clinic: s.clinic,
            doctors: s.doctors,
            closed_days: s.closed_days,
        }
    }
}

fn secs(t: NaiveTime) -> u32 {
    t.num_seconds_from_midnight()
}

impl Schedule {
    /// Checks and builds a schedule.
    ///
    /// # Errors
    ///
    /// [`ScheduleError`] naming the JSON path (`doctors[0].capacity`) of the first bad value.
    pub fn new(
        clinic: ClinicId,
        mut doctors: Vec<DoctorSchedule>,
        closed_days: BTreeSet<NaiveDate>,
    ) -> Result<Self, ScheduleError> {
        if doctors.len() > MAX_DOCTORS {
            return Err(err(
                "doctors".into(),
                format!("{} doctors, more than {MAX_DOCTORS}", doctors.len()),
            ));
        }
        for d in &closed_days {
            crate::calendar::check_date("closed_days", *d)
                .map_err(|e| err("closed_days".into(), e.to_string()))?;
        }
        let mut seen = BTreeSet::new();
        let mut ranges = Vec::with_capacity(doctors.len());
        for (i, d) in doctors.iter().enumerate() {
            let at = |f: &str| format!("doctors[{i}]{f}");
            if !seen.insert(d.doctor) {
                return Err(err(
                    at(".doctor"),
                    format!("doctor {} is listed twice", d.doctor),
                ));
            }
            if !(5..=480).contains(&d.slot_minutes) {
                return Err(err(
                    at(".slot_minutes"),
                    format!("{} is outside 5..=480", d.slot_minutes),
                ));
            }
            if !(1..=500).contains(&d.capacity) {
                return Err(err(
                    at(".capacity"),
                    format!("{} is outside 1..=500", d.capacity),
                ));
            }
            if d.hours.len() > MAX_RANGES {
                return Err(err(at(".hours"), format!("more than {MAX_RANGES} ranges")));
            }
            let slot = u32::from(d.slot_minutes) * 60;
            let mut week: [Vec<(u32, u32)>; 7] = Default::default();
            for (j, h) in d.hours.iter().enumerate() {
                let (s, e) = (secs(h.start), secs(h.end));
                if s % 60 != 0 || e % 60 != 0 {
                    return Err(err(
                        at(&format!(".hours[{j}]")),
                        "times must be whole minutes",
                    ));
                }
                if e < s.saturating_add(slot) {
                    return Err(err(
                        at(&format!(".hours[{j}]")),
                        format!("{}–{} holds no whole slot", h.start, h.end),
                    ));
                }
                let day = &mut week[h.weekday.num_days_from_monday() as usize % 7];
                if let Some(k) = day.iter().position(|&(os, oe)| s < oe && os < e) {
                    return Err(err(
                        at(&format!(".hours[{j}]")),
                        format!(
                            "overlaps another range of {} (index {k} of that day)",
                            h.weekday
                        ),
                    ));
                }
                day.push((s, e));
                day.sort_unstable();
            }
            ranges.push(week);
        }
        // Sort both together by doctor.
        let mut order: Vec<usize> = (0..doctors.len()).collect();
        order.sort_by_key(|&i| doctors.get(i).map(|d| d.doctor));
        let mut sorted_ranges = Vec::with_capacity(ranges.len());
        for &i in &order {
            if let Some(r) = ranges.get_mut(i) {
                sorted_ranges.push(std::mem::take(r));
            }
        }
        doctors.sort_by_key(|d| d.doctor);
        Ok(Schedule {
            clinic,
            doctors,
            ranges: sorted_ranges,
            closed_days,
        })
    }

    /// The clinic.
    #[must_use]
    pub fn clinic(&self) -> ClinicId {
        self.clinic
    }

    /// The doctors' schedules, in doctor order.
    #[must_use]
    pub fn doctors(&self) -> &[DoctorSchedule] {
        &self.doctors
    }

    /// Whether the clinic is closed on a local date.
    #[must_use]
    pub fn is_closed(&self, date: NaiveDate) -> bool {
        self.closed_days.contains(&date)
    }

    /// The slot of `doctor` that starts at `start`.
    ///
    /// # Errors
    ///
    /// [`AppointmentError::UnknownDoctor`] or [`AppointmentError::OutsideHours`] (closed day,
    /// no hours that weekday, outside the hours, or off the slot grid), naming `appointment`.
    pub fn slot(
        &self,
        appointment: AppointmentId,
        doctor: DoctorId,
        start: DateTime<Utc>,
        calendar: ClinicCalendar,
    ) -> Result<SlotSpec, AppointmentError> {
        let i = self
            .doctors
            .binary_search_by_key(&doctor, |d| d.doctor)
            .map_err(|_| AppointmentError::UnknownDoctor {
                appointment,
                doctor,
            })?;
        let (Some(d), Some(week)) = (self.doctors.get(i), self.ranges.get(i)) else {
            return Err(AppointmentError::UnknownDoctor {
                appointment,
                doctor,
            });
        };
        let outside = |why| AppointmentError::OutsideHours {
            appointment,
            doctor,
            start,
            why,
        };
        let local = calendar.local_datetime(start);
        if self.closed_days.contains(&local.date()) {
            return Err(outside("the clinic is closed that day"));
        }
        let day = week
            .get(local.weekday().num_days_from_monday() as usize)
            .ok_or(outside("no hours that weekday"))?;
        if day.is_empty() {
            return Err(outside("no hours that weekday"));
        }
        if start.timestamp_subsec_nanos() != 0 || local.second() != 0 {
            return Err(outside("not on the slot grid"));
        }
        let t = local.num_seconds_from_midnight();
        let slot = u32::from(d.slot_minutes) * 60;
        let Some(&(s, _)) = day
            .iter()
            .find(|&&(s, e)| s <= t && t.saturating_add(slot) <= e)
        else {
            return Err(outside("outside working hours"));
        };
        if !(t - s).is_multiple_of(slot) {
            return Err(outside("not on the slot grid"));
        }
        // From the Unix seconds: chrono's general `checked_add_signed` was most of this
        // function's cost on the booking path, and the start is whole seconds (checked above).
        let end = start
            .timestamp()
            .checked_add(i64::from(slot))
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or(outside("outside working hours"))?;
        Ok(SlotSpec {
            start,
            end,
            capacity: d.capacity,
        })
    }

    /// Every slot start of `doctor` on a local date, in order (none on a closed day).
    #[must_use]
    pub fn slots_on(
        &self,
        doctor: DoctorId,
        date: NaiveDate,
        calendar: ClinicCalendar,
    ) -> Vec<DateTime<Utc>> {
        let Ok(i) = self.doctors.binary_search_by_key(&doctor, |d| d.doctor) else {
            return vec![];
        };
        let (Some(d), Some(week)) = (self.doctors.get(i), self.ranges.get(i)) else {
            return vec![];
        };
        if self.closed_days.contains(&date) {
            return vec![];
        }
        let slot = u32::from(d.slot_minutes) * 60;
        let midnight = calendar.start_of(date);
        let mut out = vec![];
        for &(s, e) in week
            .get(date.weekday().num_days_from_monday() as usize)
            .map_or(&[][..], |v| v.as_slice())
        {
            let mut t = s;
            while t.saturating_add(slot) <= e {
                if let Some(at) = midnight.checked_add_signed(Duration::seconds(i64::from(t))) {
                    out.push(at);
                }
                t = t.saturating_add(slot);
            }
        }
        out
    }
}
