use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::campaign::{UsageKey, UsageReservation, UsageSnapshot};
use crate::store::{StoreError, UsageStore, Versioned, stage_usage_commit};

/// The in-memory [`UsageStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryUsageStore {
    inner: Arc<Mutex<BTreeMap<UsageKey, Versioned<u64>>>>,
}

impl MemoryUsageStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of counters stored.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether no counter was ever written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl UsageStore for MemoryUsageStore {
    fn load(&self, keys: &[UsageKey]) -> Result<UsageSnapshot, StoreError> {
        let g = lock(&self.inner);
        let mut snap = UsageSnapshot::new();
        for k in keys {
            if let Some(v) = g.get(k) {
                snap.insert(*k, v.clone());
            }
        }
        Ok(snap)
    }

    fn commit(&mut self, reservation: &UsageReservation) -> Result<(), StoreError> {
        let mut g = lock(&self.inner);
        let staged = stage_usage_commit(reservation, |k| Ok(g.get(k).cloned()))?;
        for (k, v) in staged {
            g.insert(k, v);
        }
        Ok(())
    }
}
