//! Concentration risk: how much of the clinic walks out of the door with one doctor.
//!
//! A patient is **at risk with doctor X** when X's own account is the only account that
//! holds them and they are in none of the clinic's groups: no assistant, brand or employee
//! account, no second doctor, no group. That is the seed's "医生一走关门大吉" measured per
//! doctor. The clinic's index is the share of patients at risk with some doctor.
//!
//! [`Concentration`] is mergeable: shards of patients (disjoint) are measured apart and
//! [`Concentration::merge`]d, as the other metrics are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AccountKind, ContactBook, StaffRoster};
use crate::id::{IdMap, PatientId, StaffId};
use crate::money::Yuan;

/// What the measure needs of one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientHold<'a> {
    /// The patient.
    pub patient: PatientId,
    /// The accounts that hold them (any order; repeats count once).
    pub holders: &'a [StaffId],
    /// Whether they are in at least one clinic group.
    pub in_group: bool,
    /// Their revenue over the host's period.
    pub revenue: Yuan,
    /// Whether they have an open chronic file.
    pub chronic: bool,
}

/// One doctor's exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DoctorExposure {
    /// Patients the doctor's account holds.
    pub held: u64,
    /// Patients held by the doctor alone: at risk if the doctor leaves.
    pub sole: u64,
    /// Their revenue, in fen (saturating).
    pub sole_revenue_fen: u64,
    /// Those of them with a chronic file.
    pub sole_chronic: u64,
}

/// The concentration of a set of patients.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[must_use]
pub struct Concentration {
    /// Patients measured.
    pub patients: u64,
    /// Their revenue, in fen (saturating).
    pub revenue_fen: u64,
    /// Those with a chronic file.
    pub chronic: u64,
    /// Patients no account and no group holds: lost already.
    pub unheld: u64,
    /// Patients at risk with some doctor.
    pub at_risk: u64,
    /// Per doctor who holds anyone, by id.
    pub by_doctor: BTreeMap<StaffId, DoctorExposure>,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Reporting edge: counts far below 2^53 convert exactly.
        part as f64 / whole as f64
    }
}

impl Concentration {
    /// Adds a disjoint shard's measure.
    pub fn merge(&mut self, other: &Concentration) {
        self.patients = self.patients.saturating_add(other.patients);
        self.revenue_fen = self.revenue_fen.saturating_add(other.revenue_fen);
        self.chronic = self.chronic.saturating_add(other.chronic);
        self.unheld = self.unheld.saturating_add(other.unheld);
        self.at_risk = self.at_risk.saturating_add(other.at_risk);
        for (s, e) in &other.by_doctor {
            let m = self.by_doctor.entry(*s).or_default();
            m.held = m.held.saturating_add(e.held);
            m.sole = m.sole.saturating_add(e.sole);
            m.sole_revenue_fen = m.sole_revenue_fen.saturating_add(e.sole_revenue_fen);
            m.sole_chronic = m.sole_chronic.saturating_add(e.sole_chronic);
        }
    }

    /// The clinic's index: the share of patients at risk with some doctor (0 to 1).
    pub fn index(&self) -> f64 {
        share(self.at_risk, self.patients)
    }

    /// The share of patients, of revenue and of chronic patients that `doctor` holds alone.
    pub fn shares(&self, doctor: StaffId) -> DoctorShares {
        let e = self.by_doctor.get(&doctor).copied().unwrap_or_default();
        DoctorShares {
            patients: share(e.sole, self.patients),
            revenue: share(e.sole_revenue_fen, self.revenue_fen),
            chronic: share(e.sole_chronic, self.chronic),
        }
    }

    /// The patients at risk if `doctor` leaves (a count; [`patients_at_risk`] lists them).
    pub fn at_risk_if_leaves(&self, doctor: StaffId) -> u64 {
        self.by_doctor.get(&doctor).map_or(0, |e| e.sole)
    }

    /// Their revenue.
    pub fn revenue(&self) -> Yuan {
        Yuan::saturating_from_fen(self.revenue_fen)
    }
}

/// A doctor's shares held alone, at the reporting edge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DoctorShares {
    /// Of patients.
    pub patients: f64,
    /// Of revenue.
    pub revenue: f64,
    /// Of chronic patients.
    pub chronic: f64,
}

/// Which accounts are doctors, for the hot loop (one hash probe per holder).
fn doctors(roster: &StaffRoster) -> IdMap<StaffId, ()> {
    roster
        .iter()
        .filter(|a| a.kind == AccountKind::Doctor)
        .map(|a| (a.id, ()))
        .collect()
}

/// Measures concentration over `rows`. Accounts not on the roster count as clinic
/// accounts (not doctors): an unknown holder still holds the patient. O(holders).
pub fn concentration<'a>(
    rows: impl IntoIterator<Item = PatientHold<'a>>,
    roster: &StaffRoster,
) -> Concentration {
    let doctors = doctors(roster);
    let mut c = Concentration::default();
    for row in rows {
        measure(&mut c, &doctors, &row);
    }
    c
}

fn measure(c: &mut Concentration, doctors: &IdMap<StaffId, ()>, row: &PatientHold<'_>) {
    let fen = row.revenue.to_fen();
    c.patients = c.patients.saturating_add(1);
    c.revenue_fen = c.revenue_fen.saturating_add(fen);
    c.chronic = c.chronic.saturating_add(u64::from(row.chronic));
    // Holders are one to three accounts in practice: a linear repeat check beats a sort;
    // a long list from outside is sorted once instead of checked quadratically.
    let small = row.holders.len() <= 16;
    let sorted;
    let hs: &[StaffId] = if small {
        row.holders
    } else {
        let mut v = row.holders.to_vec();
        v.sort_unstable();
        v.dedup();
        sorted = v;
        &sorted
    };
    let mut first: Option<StaffId> = None;
    let mut distinct = 0usize;
    for (i, &h) in hs.iter().enumerate() {
        if small && hs.get(..i).is_some_and(|seen| seen.contains(&h)) {
            continue;
        }
        first = first.or(Some(h));
        distinct = distinct.saturating_add(1);
        if doctors.contains_key(&h) {
            let e = c.by_doctor.entry(h).or_default();
            e.held = e.held.saturating_add(1);
        }
    }
    if distinct == 0 && !row.in_group {
        c.unheld = c.unheld.saturating_add(1);
        return;
    }
    if distinct == 1
        && !row.in_group
        && let Some(d) = first.filter(|d| doctors.contains_key(d))
    {
        c.at_risk = c.at_risk.saturating_add(1);
        let e = c.by_doctor.entry(d).or_default();
        e.sole = e.sole.saturating_add(1);
        e.sole_revenue_fen = e.sole_revenue_fen.saturating_add(fen);
        e.sole_chronic = e.sole_chronic.saturating_add(u64::from(row.chronic));
    }
}

/// Measures a book: holders from the pools, the rest from `value` (in group, revenue,
/// chronic) per patient.
pub fn book_concentration(
    book: &ContactBook,
    roster: &StaffRoster,
    mut value: impl FnMut(PatientId) -> (bool, Yuan, bool),
) -> Concentration {
    let doctors = doctors(roster);
    let mut c = Concentration::default();
    let mut holders = Vec::new();
    for pool in book.pools() {
        holders.clear();
        holders.extend(pool.holders().map(|(s, _)| s));
        let (in_group, revenue, chronic) = value(pool.patient());
        let row = PatientHold {
            patient: pool.patient(),
            holders: &holders,
            in_group,
            revenue,
            chronic,
        };
        measure(&mut c, &doctors, &row);
    }
    c
}

/// The patients at risk if `doctor` leaves: held by that account alone and in no group
/// (`in_group`), in id order.
pub fn patients_at_risk(
    book: &ContactBook,
    doctor: StaffId,
    mut in_group: impl FnMut(PatientId) -> bool,
) -> Vec<PatientId> {
    book.pools()
        .filter(|p| {
            let mut hs = p.holders();
            matches!((hs.next(), hs.next()), (Some((s, _)), None) if s == doctor)
        })
        .map(|p| p.patient())
        .filter(|p| !in_group(*p))
        .collect()
}

/// One point of the clinic's index over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConcentrationPoint {
    /// The instant measured.
    pub at: DateTime<Utc>,
    /// The index then.
    pub index: f64,
    /// Patients measured then.
    pub patients: u64,
}

/// The clinic's index at each of `instants` (in the order given), each from the logs'
/// events up to that instant ([`ContactBook::as_of`]).
pub fn concentration_series(
    logs: &[super::ContactLog],
    instants: &[DateTime<Utc>],
    roster: &StaffRoster,
    mut value: impl FnMut(PatientId) -> (bool, Yuan, bool),
) -> Vec<ConcentrationPoint> {
    instants
        .iter()
        .map(|&at| {
            let book = ContactBook::as_of(logs, at);
            let c = book_concentration(&book, roster, &mut value);
            ConcentrationPoint {
                at,
                index: c.index(),
                patients: c.patients,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClinicId;
    use crate::relationship::{StaffAccount, StaffRoster};

    fn roster() -> StaffRoster {
        let c = ClinicId::new(1);
        StaffRoster::new(vec![
            StaffAccount::new(StaffId::new(1), AccountKind::Doctor, c, 10),
            StaffAccount::new(StaffId::new(2), AccountKind::Doctor, c, 10),
            StaffAccount::new(StaffId::new(3), AccountKind::Brand, c, 10),
        ])
        .unwrap()
    }

    type Row = (u64, Vec<StaffId>, bool, Yuan, bool);

    fn hold(r: &Row) -> PatientHold<'_> {
        PatientHold {
            patient: PatientId::new(r.0),
            holders: &r.1,
            in_group: r.2,
            revenue: r.3,
            chronic: r.4,
        }
    }

    #[test]
    fn sole_doctor_patients_are_at_risk_and_shards_merge_exactly() {
        let s = StaffId::new;
        let y = Yuan::from_fen;
        let rows: [Row; 5] = [
            // Dr 1 alone (listed twice: counts once), chronic.
            (1, vec![s(1), s(1)], false, y(10_000), true),
            // Dr 1 and the brand account: held by the clinic.
            (2, vec![s(1), s(3)], false, y(5_000), false),
            // Dr 2 alone but in a group.
            (3, vec![s(2)], true, y(1_000), true),
            // Nobody.
            (4, vec![], false, y(0), false),
            // Dr 2 alone.
            (5, vec![s(2)], false, y(4_000), false),
        ];
        let whole = concentration(rows.iter().map(hold), &roster());
        assert_eq!((whole.patients, whole.at_risk, whole.unheld), (5, 2, 1));
        assert_eq!(whole.at_risk_if_leaves(s(1)), 1);
        assert_eq!(whole.by_doctor.get(&s(1)).map(|e| e.held), Some(2));
        let sh = whole.shares(s(1));
        assert!((sh.patients - 0.2).abs() < 1e-12);
        assert!((sh.revenue - 0.5).abs() < 1e-12);
        assert!((sh.chronic - 0.5).abs() < 1e-12);
        assert!((whole.index() - 0.4).abs() < 1e-12);
        let mut a = concentration(rows[..2].iter().map(hold), &roster());
        a.merge(&concentration(rows[2..].iter().map(hold), &roster()));
        assert_eq!(a, whole);
    }
}
