use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::id::{GroupId, PatientId};
use crate::relationship::GroupEvent;
use crate::store::{GroupStore, StoreError, Version, Versioned, stage_group_commit};

/// The in-memory [`GroupStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryGroupStore {
    inner: Arc<Mutex<BTreeMap<GroupId, Versioned<Vec<GroupEvent>>>>>,
}

impl MemoryGroupStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// With feature `testkit`: everything the store holds, **with health data** (who is in
/// which condition's group), for erasure checks. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryGroupStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl GroupStore for MemoryGroupStore {
    fn group_events(
        &self,
        series: GroupId,
    ) -> Result<Option<Versioned<Vec<GroupEvent>>>, StoreError> {
        Ok(lock(&self.inner).get(&series).cloned())
    }

    fn commit_group(
        &mut self,
        series: GroupId,
        expected: Option<Version>,
        events: &[GroupEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let actual = g.get(&series).map(|v| v.version);
        let Some(version) = stage_group_commit(series, actual, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "group series",
                key: series.to_string(),
            });
        };
        let entry = g.entry(series).or_insert(Versioned {
            value: Vec::new(),
            version,
        });
        entry.value.extend_from_slice(events);
        entry.version = version;
        Ok(version)
    }

    fn erase_group_member(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let mut g = lock(&self.inner);
        let mut n = 0usize;
        for v in g.values_mut() {
            let before = v.value.len();
            v.value.retain(|e| e.patient() != patient);
            n = n.saturating_add(before - v.value.len());
        }
        Ok(n)
    }
}
