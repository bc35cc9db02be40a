use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::id::PatientId;
use crate::relationship::{ContactEvent, ContactLog};
use crate::store::{ContactStore, StoreError, Version, Versioned, stage_contact_commit};

/// The in-memory [`ContactStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryContactStore {
    inner: Arc<Mutex<BTreeMap<PatientId, Versioned<ContactLog>>>>,
}

impl MemoryContactStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of patients with a log.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// With feature `testkit`: everything the store holds, **with raw personal data**, for
/// erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryContactStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl ContactStore for MemoryContactStore {
    fn get_contacts(
        &self,
        patient: PatientId,
    ) -> Result<Option<Versioned<ContactLog>>, StoreError> {
        Ok(lock(&self.inner).get(&patient).cloned())
    }

    fn commit_contacts(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[ContactEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.get(&patient).cloned();
        let Some(staged) = stage_contact_commit(patient, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "contact log",
                key: patient.to_string(),
            });
        };
        let version = staged.version;
        g.insert(patient, staged);
        Ok(version)
    }

    fn scan_contacts(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<ContactLog>>, StoreError> {
        use std::ops::Bound;
        let lower = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        Ok(lock(&self.inner)
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn erase_contacts(&mut self, patient: PatientId) -> Result<bool, StoreError> {
        Ok(lock(&self.inner).remove(&patient).is_some())
    }
}
