use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::lock;
use crate::id::PatientId;
use crate::patient::{MobileNumber, Patient, PatientEvent, ResidentId};
use crate::store::{PatientStore, StoreError, Version, Versioned, stage_patient_commit};

// Serialize (feature `testkit`) writes everything the store holds, indexes included, so that
// `testkit::erasure` can scan for erased values that linger anywhere in it.
#[derive(Debug, Default)]
#[cfg_attr(feature = "testkit", derive(serde::Serialize))]
struct Inner {
    patients: BTreeMap<PatientId, Versioned<Patient>>,
    by_mobile: HashMap<MobileNumber, PatientId>,
    by_resident_id: HashMap<ResidentId, PatientId>,
}

/// The in-memory [`PatientStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryPatientStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryPatientStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of patients stored.
    pub fn len(&self) -> usize {
        lock(&self.inner).patients.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// With feature `testkit`: everything the store holds, indexes included, **with raw
/// personal data**, for erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryPatientStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

fn duplicate(what: &'static str, key: String, holder: PatientId) -> StoreError {
    StoreError::Duplicate {
        what,
        key,
        holder: holder.to_string(),
    }
}

impl PatientStore for MemoryPatientStore {
    fn get(&self, id: PatientId) -> Result<Option<Versioned<Patient>>, StoreError> {
        Ok(lock(&self.inner).patients.get(&id).cloned())
    }

    fn commit(
        &mut self,
        id: PatientId,
        expected: Option<Version>,
        events: &[PatientEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        let current = inner.patients.get(&id).cloned();
        let Some(staged) = stage_patient_commit(id, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "patient",
                key: id.to_string(),
            });
        };
        if let Some(m) = &staged.mobile
            && let Some(&holder) = inner.by_mobile.get(m).filter(|h| **h != id)
        {
            return Err(duplicate("mobile", m.masked(), holder));
        }
        if let Some(r) = &staged.resident_id
            && let Some(&holder) = inner.by_resident_id.get(r).filter(|h| **h != id)
        {
            return Err(duplicate("resident id", r.masked(), holder));
        }
        if let Some(old) = inner.patients.get(&id) {
            if let Some(m) = old.value.mobile() {
                inner.by_mobile.remove(m);
            }
            if let Some(r) = old.value.resident_id() {
                inner.by_resident_id.remove(r);
            }
        }
        if let Some(m) = staged.mobile {
            inner.by_mobile.insert(m, id);
        }
        if let Some(r) = staged.resident_id {
            inner.by_resident_id.insert(r, id);
        }
        inner.patients.insert(
            id,
            Versioned {
                value: staged.patient,
                version: staged.version,
            },
        );
        Ok(staged.version)
    }

    fn find_by_mobile(&self, mobile: &MobileNumber) -> Result<Option<PatientId>, StoreError> {
        Ok(lock(&self.inner).by_mobile.get(mobile).copied())
    }

    fn find_by_resident_id(&self, id: &ResidentId) -> Result<Option<PatientId>, StoreError> {
        Ok(lock(&self.inner).by_resident_id.get(id).copied())
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Patient>>, StoreError> {
        use std::ops::Bound;
        let g = lock(&self.inner);
        let lower = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        Ok(g.patients
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
