use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::followup::{FollowUpEvent, FollowUpHistory};
use crate::id::PatientId;
use crate::store::{StoreError, TaskStore, Version, Versioned, stage_task_commit};

/// The in-memory [`TaskStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryTaskStore {
    inner: Arc<Mutex<BTreeMap<PatientId, Versioned<FollowUpHistory>>>>,
}

impl MemoryTaskStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of patients with a history.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// With feature `testkit`: everything the store holds, **with raw health data**, for
/// erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryTaskStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl TaskStore for MemoryTaskStore {
    fn get(&self, patient: PatientId) -> Result<Option<Versioned<FollowUpHistory>>, StoreError> {
        Ok(lock(&self.inner).get(&patient).cloned())
    }

    fn commit(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[FollowUpEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.get(&patient).cloned();
        let Some(staged) = stage_task_commit(patient, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "follow-up history",
                key: patient.to_string(),
            });
        };
        let version = staged.version;
        g.insert(patient, staged);
        Ok(version)
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<FollowUpHistory>>, StoreError> {
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
}
