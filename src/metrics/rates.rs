//! Clinic rates: revisit rate (复诊率), no-show rate, course repurchase rate and service
//! times, overall and broken down by doctor, clinic and channel.
//!
//! Each rate keeps its integer numerator and denominator ([`Rate`]), so partial results from
//! several clinics or shards add up exactly with [`Rate::merge`]. Every function takes `now`
//! (and the clinic calendar where local days matter) and leaves out what has not had time to
//! happen yet, so that a rate does not fall just because the month is young.
//!
//! Breakdowns follow one rule: a patient-level fact is attributed to the doctor and clinic of
//! the record that opened it (the first visit, the appointment, the service record), and to
//! the patient's acquisition channel from the `channels` map; patients missing from the map
//! go under [`UNKNOWN_CHANNEL`]. Records without a doctor count overall and per clinic, not
//! per doctor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::calendar::ClinicCalendar;
use crate::id::{ClinicId, DoctorId, PatientId, VisitId};
use crate::journey::{Purchase, Visit};
use crate::patient::Channel;

/// The channel key for patients with no known channel.
pub const UNKNOWN_CHANNEL: &str = "unknown";

/// Errors from the clinic rates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RatesError {
    /// A window of zero days: nothing could ever count.
    #[error("{field} is 0 days; it must be at least 1")]
    ZeroWindow {
        /// Which parameter.
        field: &'static str,
    },
    /// A service record whose times run backwards.
    #[error("{field} of visit {visit} is negative ({seconds} s)")]
    NegativeDuration {
        /// `wait` or `consultation`.
        field: &'static str,
        /// The record.
        visit: VisitId,
        /// The (negative) duration.
        seconds: i64,
    },
}

/// A ratio kept as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Rate {
    /// What happened (revisits, no-shows, repurchases).
    pub numerator: u64,
    /// What could have happened.
    pub denominator: u64,
}

impl Rate {
    /// `numerator ÷ denominator`, or `None` when nothing could have happened.
    #[must_use]
    pub fn value(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }

    /// The sum of two partial rates over disjoint records.
    #[must_use]
    pub fn merge(self, other: Rate) -> Rate {
        Rate {
            numerator: self.numerator.saturating_add(other.numerator),
            denominator: self.denominator.saturating_add(other.denominator),
        }
    }

    fn count(&mut self, hit: bool) {
        self.denominator += 1;
        self.numerator += u64::from(hit);
    }
}

/// A metric overall and broken down by doctor, clinic and channel.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RateBreakdown<T> {
    /// Over everything.
    pub overall: T,
    /// Per doctor (records with a doctor).
    pub by_doctor: BTreeMap<DoctorId, T>,
    /// Per clinic (empty where the records carry no clinic, as for purchases).
    pub by_clinic: BTreeMap<ClinicId, T>,
    /// Per acquisition channel code ([`Channel::code`]), [`UNKNOWN_CHANNEL`] when unknown.
    pub by_channel: BTreeMap<String, T>,
}

impl<T: Default> RateBreakdown<T> {
    fn add(
        &mut self,
        doctor: Option<DoctorId>,
        clinic: Option<ClinicId>,
        channel: String,
        f: impl Fn(&mut T),
    ) {
        f(&mut self.overall);
        if let Some(d) = doctor {
            f(self.by_doctor.entry(d).or_default());
        }
        if let Some(c) = clinic {
            f(self.by_clinic.entry(c).or_default());
        }
        f(self.by_channel.entry(channel).or_default());
    }
}

fn channel_of(channels: &BTreeMap<PatientId, Channel>, p: PatientId) -> String {
    channels
        .get(&p)
        .map_or_else(|| UNKNOWN_CHANNEL.to_owned(), Channel::code)
}

/// Revisit rate (复诊率) within `within_days`: patients with a later visit within N days of
/// their first visit ÷ patients with a first visit.
///
/// - The first visit is the patient's earliest visit (ties: lowest visit id).
/// - A revisit is a visit on a later **local date**, at most `within_days` local days after
///   the first visit's date. A second check-in on the same day is the same episode, not a
///   revisit.
/// - Only patients whose window has closed by `now` (today's local date is past
///   `first date + within_days`) are counted, in the denominator and the numerator alike.
///   Visits after `now` are ignored.
///
/// # Errors
///
/// [`RatesError::ZeroWindow`] when `within_days` is 0.
pub fn revisit_rate(
    visits: &[Visit],
    within_days: u32,
    now: DateTime<Utc>,
    cal: ClinicCalendar,
    channels: &BTreeMap<PatientId, Channel>,
) -> Result<RateBreakdown<Rate>, RatesError> {
    if within_days == 0 {
        return Err(RatesError::ZeroWindow {
            field: "within_days",
        });
    }
    let mut by_patient: BTreeMap<PatientId, Vec<&Visit>> = BTreeMap::new();
    for v in visits.iter().filter(|v| v.at <= now) {
        by_patient.entry(v.patient).or_default().push(v);
    }
    let today = cal.local_date(now);
    let n = i64::from(within_days);
    let mut out = RateBreakdown::default();
    for (patient, mut vs) in by_patient {
        vs.sort_by_key(|v| (v.at, v.id));
        let Some(first) = vs.first() else { continue };
        let first_date = cal.local_date(first.at);
        if (today - first_date).num_days() <= n {
            continue;
        }
        let revisited = vs.iter().any(|v| {
            let gap = (cal.local_date(v.at) - first_date).num_days();
            (1..=n).contains(&gap)
        });
        out.add(
            first.doctor,
            Some(first.clinic),
            channel_of(channels, patient),
            |r: &mut Rate| r.count(revisited),
        );
    }
    Ok(out)
}

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppointmentStatus {
    /// Booked, not (yet) resolved.
    Booked,
    /// Cancelled before the slot.
    Cancelled,
    /// The patient checked in.
    Arrived,
    /// Marked as not having come.
    NoShow,
}

/// An appointment (预约挂号) for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// The appointment.
    pub id: VisitId,
    /// Who booked.
    pub patient: PatientId,
    /// The start of the booked slot.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub slot: DateTime<Utc>,
    /// Where.
    pub clinic: ClinicId,
    /// With whom, if a doctor was chosen.
    pub doctor: Option<DoctorId>,
    /// Where it stands.
    pub status: AppointmentStatus,
}

impl Appointment {
    /// An appointment with no doctor chosen; name one with
    /// [`with_doctor`](Self::with_doctor).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clinic_ops::id::{ClinicId, DoctorId, PatientId, VisitId};
    /// use clinic_ops::metrics::rates::{Appointment, AppointmentStatus};
    ///
    /// let slot = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
    /// let a = Appointment::new(VisitId::new(1), PatientId::new(7), slot, ClinicId::new(1), AppointmentStatus::Booked)
    ///     .with_doctor(DoctorId::new(3));
    /// assert_eq!(a.doctor, Some(DoctorId::new(3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        id: VisitId,
        patient: PatientId,
        slot: DateTime<Utc>,
        clinic: ClinicId,
        status: AppointmentStatus,
    ) -> Self {
        Appointment {
            id,
            patient,
            slot,
            clinic,
            doctor: None,
            status,
        }
    }

    /// The same appointment with a chosen doctor.
    #[must_use]
    pub fn with_doctor(mut self, doctor: DoctorId) -> Self {
        self.doctor = Some(doctor);
        self
    }
}

/// No-show rate: no-shows ÷ appointments whose slot has been reached by `now`.
///
/// - Cancelled appointments are left out: they were released before their time.
/// - A booking whose slot has passed and that is still [`AppointmentStatus::Booked`] (nobody
///   checked the patient in) counts as a no-show.
/// - Slots after `now` are left out whatever their status.
#[must_use]
pub fn no_show_rate(
    appointments: &[Appointment],
    now: DateTime<Utc>,
    channels: &BTreeMap<PatientId, Channel>,
) -> RateBreakdown<Rate> {
    let mut out = RateBreakdown::default();
    for a in appointments.iter().filter(|a| a.slot <= now) {
        let missed = match a.status {
            AppointmentStatus::Cancelled => continue,
            AppointmentStatus::Arrived => false,
            AppointmentStatus::NoShow | AppointmentStatus::Booked => true,
        };
        out.add(
            a.doctor,
            Some(a.clinic),
            channel_of(channels, a.patient),
            |r: &mut Rate| r.count(missed),
        );
    }
    out
}

/// Which of a patient's courses the repurchase rate looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CourseBasis {
    /// The first course: did the patient buy a second one? The seed's "second box" figure.
    #[default]
    First,
    /// The latest course whose grace period is over: is the patient still on treatment?
    LatestRunOut,
}

/// Treatment-course repurchase rate: patients who bought a next course within a grace period
/// after their course ran out ÷ patients whose course ran out (and whose grace is over).
///
/// - A course is a purchase with `days_supply`; other purchases are ignored. Courses are
///   ordered by time, ties by purchase id.
/// - A course runs out on local date `purchase date + days_supply` (the first day without
///   medicine); its deadline is that date + `grace_days`.
/// - The course measured per patient is chosen by `basis`: the first course, or the latest
///   one whose deadline is before today. A patient with no course past its deadline by `now`
///   is not counted at all. Purchases after `now` are ignored.
/// - The patient repurchased when a later course was bought on or before the deadline
///   (buying early counts).
/// - Purchases carry no doctor or clinic, so only the channel breakdown is filled.
#[must_use]
pub fn repurchase_rate(
    purchases: &[Purchase],
    grace_days: u32,
    basis: CourseBasis,
    now: DateTime<Utc>,
    cal: ClinicCalendar,
    channels: &BTreeMap<PatientId, Channel>,
) -> RateBreakdown<Rate> {
    let mut by_patient: BTreeMap<PatientId, Vec<&Purchase>> = BTreeMap::new();
    for p in purchases
        .iter()
        .filter(|p| p.at <= now && p.days_supply.is_some())
    {
        by_patient.entry(p.patient).or_default().push(p);
    }
    let today = cal.local_date(now);
    let deadline = |p: &Purchase| {
        let supply = p.days_supply.map_or(0, |d| d.get());
        cal.local_date(p.at)
            .checked_add_days(chrono::Days::new(u64::from(supply) + u64::from(grace_days)))
    };
    let mut out = RateBreakdown::default();
    for (patient, mut ps) in by_patient {
        ps.sort_by_key(|p| (p.at, p.id));
        let matured = |i: &usize| {
            ps.get(*i)
                .and_then(|p| deadline(p))
                .is_some_and(|d| d < today)
        };
        let chosen = match basis {
            CourseBasis::First => Some(0).filter(matured),
            CourseBasis::LatestRunOut => (0..ps.len()).rev().find(matured),
        };
        let Some(i) = chosen else { continue };
        let Some(due) = ps.get(i).and_then(|p| deadline(p)) else {
            continue;
        };
        let repurchased = ps.iter().skip(i + 1).any(|p| cal.local_date(p.at) <= due);
        out.add(None, None, channel_of(channels, patient), |r: &mut Rate| {
            r.count(repurchased)
        });
    }
    out
}

/// One visit's service timestamps, as a queue system records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The visit.
    pub visit: VisitId,
    /// Who.
    pub patient: PatientId,
    /// Where.
    pub clinic: ClinicId,
    /// The doctor seen, if recorded.
    pub doctor: Option<DoctorId>,
    /// Check-in.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub arrived_at: DateTime<Utc>,
    /// Called in to the doctor (start of consultation), if it happened.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub called_at: Option<DateTime<Utc>>,
    /// End of consultation, if recorded.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl ServiceRecord {
    /// A check-in with no doctor, call or end recorded yet; add them with the `with_…`
    /// methods.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use clinic_ops::id::{ClinicId, PatientId, VisitId};
    /// use clinic_ops::metrics::rates::ServiceRecord;
    ///
    /// let arrived = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
    /// let r = ServiceRecord::new(VisitId::new(1), PatientId::new(7), ClinicId::new(1), arrived)
    ///     .with_called_at(arrived + Duration::minutes(12))
    ///     .with_finished_at(arrived + Duration::minutes(20));
    /// assert_eq!(r.called_at.map(|c| (c - arrived).num_minutes()), Some(12));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        visit: VisitId,
        patient: PatientId,
        clinic: ClinicId,
        arrived_at: DateTime<Utc>,
    ) -> Self {
        ServiceRecord {
            visit,
            patient,
            clinic,
            doctor: None,
            arrived_at,
            called_at: None,
            finished_at: None,
        }
    }

    /// The same record with the doctor seen.
    #[must_use]
    pub fn with_doctor(mut self, doctor: DoctorId) -> Self {
        self.doctor = Some(doctor);
        self
    }

    /// The same record, called in to the doctor at `called_at`.
    #[must_use]
    pub fn with_called_at(mut self, called_at: DateTime<Utc>) -> Self {
        self.called_at = Some(called_at);
        self
    }

    /// The same record, the consultation ended at `finished_at`.
    #[must_use]
    pub fn with_finished_at(mut self, finished_at: DateTime<Utc>) -> Self {
        self.finished_at = Some(finished_at);
        self
    }
}

/// Median and p90 of durations in seconds, by the nearest-rank rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DurationStats {
    /// How many durations.
    pub count: u64,
    /// Nearest-rank median (the lower middle value for an even count).
    pub median_seconds: Option<i64>,
    /// Nearest-rank 90th percentile.
    pub p90_seconds: Option<i64>,
}

impl DurationStats {
    /// Summarises durations in seconds, in any order.
    #[must_use]
    pub fn from_seconds(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        DurationStats {
            count: values.len() as u64,
            median_seconds: nearest_rank(&values, 50),
            p90_seconds: nearest_rank(&values, 90),
        }
    }
}

/// The `p`-th percentile (0..=100) of sorted values by nearest rank: the value at 1-based
/// rank `⌈p·n/100⌉`, at least rank 1. `None` for no values.
#[must_use]
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len() as u64;
    let rank = (u64::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Wait and consultation times.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[must_use]
pub struct ServiceTimes {
    /// Check-in to call-in.
    pub wait: DurationStats,
    /// Call-in to end of consultation.
    pub consultation: DurationStats,
}

/// Wait time (check-in → called in) and consultation time (called in → finished) as median
/// and p90, overall and by doctor, clinic and channel. A record without `called_at` has no
/// wait; without both `called_at` and `finished_at` it has no consultation time.
///
/// # Errors
///
/// [`RatesError::NegativeDuration`] when a record's times run backwards.
pub fn service_times(
    records: &[ServiceRecord],
    channels: &BTreeMap<PatientId, Channel>,
) -> Result<RateBreakdown<ServiceTimes>, RatesError> {
    type Samples = (Vec<i64>, Vec<i64>);
    let mut raw: RateBreakdown<Samples> = RateBreakdown::default();
    for r in records {
        let wait = match r.called_at {
            Some(c) => Some(duration("wait", r.visit, r.arrived_at, c)?),
            None => None,
        };
        let consult = match (r.called_at, r.finished_at) {
            (Some(c), Some(f)) => Some(duration("consultation", r.visit, c, f)?),
            _ => None,
        };
        let channel = channel_of(channels, r.patient);
        raw.add(r.doctor, Some(r.clinic), channel, |s: &mut Samples| {
            s.0.extend(wait);
            s.1.extend(consult);
        });
    }
    let summarise = |(w, c): Samples| ServiceTimes {
        wait: DurationStats::from_seconds(w),
        consultation: DurationStats::from_seconds(c),
    };
    Ok(RateBreakdown {
        overall: summarise(raw.overall),
        by_doctor: raw
            .by_doctor
            .into_iter()
            .map(|(k, v)| (k, summarise(v)))
            .collect(),
        by_clinic: raw
            .by_clinic
            .into_iter()
            .map(|(k, v)| (k, summarise(v)))
            .collect(),
        by_channel: raw
            .by_channel
            .into_iter()
            .map(|(k, v)| (k, summarise(v)))
            .collect(),
    })
}

fn duration(
    field: &'static str,
    visit: VisitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, RatesError> {
    let seconds = (to - from).num_seconds();
    if seconds < 0 {
        return Err(RatesError::NegativeDuration {
            field,
            visit,
            seconds,
        });
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::DaysSupply;
    use crate::money::Yuan;
    use chrono::{Duration, TimeZone};

    fn at(m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap()
    }
    fn visit(id: u64, p: u64, when: DateTime<Utc>, doctor: u64) -> Visit {
        Visit {
            id: VisitId::new(id),
            patient: PatientId::new(p),
            at: when,
            clinic: ClinicId::new(1),
            doctor: Some(DoctorId::new(doctor)),
            paid: Yuan::ZERO,
            refunded_at: None,
        }
    }

    #[test]
    fn revisit_counts_local_days_and_waits_for_the_window() {
        let cal = ClinicCalendar::CHINA;
        let mut channels = BTreeMap::new();
        channels.insert(PatientId::new(1), Channel::parse("kol").unwrap());
        let vs = [
            // P1: first 1 Mar 10:00 local, back 31 Mar: within 30 days.
            visit(1, 1, at(3, 1, 2), 7),
            visit(2, 1, at(3, 31, 2), 8),
            // P2: first 1 Mar, back 1 Apr 07:00 local (31 Mar 23:00 UTC): day 31, outside.
            visit(3, 2, at(3, 1, 2), 7),
            visit(4, 2, at(3, 31, 23), 7),
            // P3: two check-ins on the same day only.
            visit(5, 3, at(3, 1, 2), 8),
            visit(6, 3, at(3, 1, 5), 8),
            // P4: first visit too recent for the window to have closed.
            visit(7, 4, at(4, 20, 2), 8),
        ];
        let now = at(5, 1, 0);
        let r = revisit_rate(&vs, 30, now, cal, &channels).unwrap();
        assert_eq!(
            r.overall,
            Rate {
                numerator: 1,
                denominator: 3
            }
        );
        assert_eq!(r.by_doctor[&DoctorId::new(7)].numerator, 1);
        assert_eq!(r.by_doctor[&DoctorId::new(8)].denominator, 1);
        assert_eq!(r.by_channel["kol"].value(), Some(1.0));
        assert_eq!(r.by_channel[UNKNOWN_CHANNEL].value(), Some(0.0));
        assert!(revisit_rate(&vs, 0, now, cal, &channels).is_err());
    }

    #[test]
    fn no_shows_over_reached_slots() {
        let now = at(3, 10, 0);
        let mk = |id, slot, status| {
            Appointment::new(
                VisitId::new(id),
                PatientId::new(id),
                slot,
                ClinicId::new(1),
                status,
            )
        };
        let a = [
            mk(1, at(3, 1, 0), AppointmentStatus::Arrived),
            mk(2, at(3, 1, 0), AppointmentStatus::NoShow),
            mk(3, at(3, 1, 0), AppointmentStatus::Booked),
            mk(4, at(3, 1, 0), AppointmentStatus::Cancelled),
            mk(5, at(3, 11, 0), AppointmentStatus::Booked),
        ];
        let r = no_show_rate(&a, now, &BTreeMap::new());
        assert_eq!(
            r.overall,
            Rate {
                numerator: 2,
                denominator: 3
            }
        );
        assert!(r.by_doctor.is_empty());
    }

    #[test]
    fn repurchase_with_grace() {
        let cal = ClinicCalendar::CHINA;
        let buy = |id, p, when, days: Option<u32>| Purchase {
            id: crate::id::PurchaseId::new(id),
            patient: PatientId::new(p),
            at: when,
            amount: Yuan::from_fen(100),
            category: None,
            days_supply: days.map(|d| DaysSupply::new(d).unwrap()),
        };
        let ps = [
            // P1: 30 days from 1 Mar runs out 31 Mar; grace 7 → deadline 7 Apr; bought 7 Apr.
            buy(1, 1, at(3, 1, 2), Some(30)),
            buy(2, 1, at(4, 7, 2), Some(30)),
            // P2: bought 8 Apr: too late.
            buy(3, 2, at(3, 1, 2), Some(30)),
            buy(4, 2, at(4, 8, 2), Some(30)),
            // P3: a non-course purchase only.
            buy(5, 3, at(3, 1, 2), None),
            // P4: grace not over yet.
            buy(6, 4, at(4, 20, 2), Some(30)),
        ];
        let first = |now| repurchase_rate(&ps, 7, CourseBasis::First, now, cal, &BTreeMap::new());
        assert_eq!(
            first(at(5, 20, 0)).overall,
            Rate {
                numerator: 1,
                denominator: 2
            }
        );
        // The latest course past its deadline: P1's and P2's second courses (7 and 8 April,
        // 30 days + 7 grace → 14 and 15 May) have lapsed with no third one by 20 May.
        let latest = repurchase_rate(
            &ps,
            7,
            CourseBasis::LatestRunOut,
            at(5, 20, 0),
            cal,
            &BTreeMap::new(),
        );
        assert_eq!(
            latest.overall,
            Rate {
                numerator: 0,
                denominator: 2
            }
        );
        // On 10 May only the first courses are past their deadlines.
        let latest = repurchase_rate(
            &ps,
            7,
            CourseBasis::LatestRunOut,
            at(5, 10, 0),
            cal,
            &BTreeMap::new(),
        );
        assert_eq!(latest.overall, first(at(5, 10, 0)).overall);
    }

    #[test]
    fn service_times_nearest_rank() {
        let base = at(3, 1, 1);
        let rec = |id: u64, wait_min: i64, consult_min: i64| {
            ServiceRecord::new(VisitId::new(id), PatientId::new(id), ClinicId::new(1), base)
                .with_doctor(DoctorId::new(1 + id % 2))
                .with_called_at(base + Duration::minutes(wait_min))
                .with_finished_at(base + Duration::minutes(wait_min + consult_min))
        };
        let rs: Vec<_> = (1..=10).map(|i| rec(i, i as i64, 5)).collect();
        let t = service_times(&rs, &BTreeMap::new()).unwrap();
        assert_eq!(t.overall.wait.count, 10);
        assert_eq!(t.overall.wait.median_seconds, Some(5 * 60));
        assert_eq!(t.overall.wait.p90_seconds, Some(9 * 60));
        assert_eq!(t.overall.consultation.median_seconds, Some(300));
        assert_eq!(t.by_doctor[&DoctorId::new(1)].wait.count, 5);
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[4], 0), Some(4));
        let mut bad = rec(1, 5, 5);
        bad.finished_at = Some(base);
        assert!(matches!(
            service_times(&[bad], &BTreeMap::new()),
            Err(RatesError::NegativeDuration {
                field: "consultation",
                ..
            })
        ));
    }
}
