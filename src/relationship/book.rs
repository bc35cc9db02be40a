//! Every patient's pool at once: the view a handover and the risk metrics read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{ContactEvent, ContactLog, ContactPool, apply};
use crate::id::{PatientId, StaffId};

/// The contact pools of many patients, by patient id: who holds each patient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactBook {
    pools: BTreeMap<PatientId, ContactPool>,
}

impl ContactBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The book of these logs (a later log of the same patient replaces an earlier one).
    pub fn from_logs<'a>(logs: impl IntoIterator<Item = &'a ContactLog>) -> Self {
        let mut book = ContactBook::new();
        for log in logs {
            book.insert(ContactPool::from_log(log));
        }
        book
    }

    /// The book at an earlier instant: each log's events up to `at`.
    pub fn as_of<'a>(logs: impl IntoIterator<Item = &'a ContactLog>, at: DateTime<Utc>) -> Self {
        let mut book = ContactBook::new();
        for log in logs {
            book.insert(ContactPool::as_of(log, at));
        }
        book
    }

    /// Adds or replaces a pool.
    pub fn insert(&mut self, pool: ContactPool) {
        self.pools.insert(pool.patient(), pool);
    }

    /// Removes a patient's pool (their erasure), returning it.
    pub fn remove(&mut self, patient: PatientId) -> Option<ContactPool> {
        self.pools.remove(&patient)
    }

    /// One patient's pool.
    pub fn get(&self, patient: PatientId) -> Option<&ContactPool> {
        self.pools.get(&patient)
    }

    /// Applies events to one patient's pool (creating it).
    pub fn apply(&mut self, patient: PatientId, events: &[ContactEvent]) {
        let pool = self
            .pools
            .entry(patient)
            .or_insert_with(|| ContactPool::new(patient));
        for e in events {
            apply(pool, e);
        }
    }

    /// Every pool, in patient order.
    pub fn pools(&self) -> impl Iterator<Item = &ContactPool> {
        self.pools.values()
    }

    /// The number of patients.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// The patients `staff` holds, in id order.
    pub fn patients_of(&self, staff: StaffId) -> Vec<PatientId> {
        self.pools
            .values()
            .filter(|p| p.is_held_by(staff))
            .map(ContactPool::patient)
            .collect()
    }

    /// Each account's load: the contacts it holds plus the transfers pending to it (a
    /// successor's capacity must have room for both).
    pub fn loads(&self) -> BTreeMap<StaffId, u32> {
        let mut loads: BTreeMap<StaffId, u32> = BTreeMap::new();
        for pool in self.pools.values() {
            for (s, _) in pool.holders() {
                let n = loads.entry(s).or_insert(0);
                *n = n.saturating_add(1);
            }
            if let Some(p) = pool.pending()
                && !pool.is_held_by(p.to)
            {
                let n = loads.entry(p.to).or_insert(0);
                *n = n.saturating_add(1);
            }
        }
        loads
    }
}
