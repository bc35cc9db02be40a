use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::lock;
use crate::id::PatientId;
use crate::referral::{Binding, ReferralEvent};
use crate::store::{ReferralStore, StoreError, Version, Versioned, stage_referral_commit};

#[derive(Debug, Default)]
struct Inner {
    bindings: BTreeMap<PatientId, Versioned<Binding>>,
    by_referrer: BTreeSet<(PatientId, PatientId)>,
}

/// The in-memory [`ReferralStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryReferralStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryReferralStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of bound referees.
    pub fn len(&self) -> usize {
        lock(&self.inner).bindings.len()
    }

    /// Whether no referee is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReferralStore for MemoryReferralStore {
    fn get(&self, referee: PatientId) -> Result<Option<Versioned<Binding>>, StoreError> {
        Ok(lock(&self.inner).bindings.get(&referee).cloned())
    }

    fn commit(
        &mut self,
        referee: PatientId,
        expected: Option<Version>,
        events: &[ReferralEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        let current = inner.bindings.get(&referee).cloned();
        let Some(staged) = stage_referral_commit(referee, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "referral binding",
                key: referee.to_string(),
            });
        };
        if let Some(old) = inner.bindings.get(&referee) {
            inner.by_referrer.remove(&(old.value.referrer, referee));
        }
        inner.by_referrer.insert((staged.value.referrer, referee));
        let version = staged.version;
        inner.bindings.insert(referee, staged);
        Ok(version)
    }

    fn referees_of(&self, referrer: PatientId) -> Result<Vec<Binding>, StoreError> {
        let g = lock(&self.inner);
        let lo = (referrer, PatientId::new(0));
        let hi = (referrer, PatientId::new(u64::MAX));
        Ok(g.by_referrer
            .range(lo..=hi)
            .filter_map(|(_, referee)| g.bindings.get(referee).map(|v| v.value))
            .collect())
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Binding>>, StoreError> {
        use std::ops::Bound;
        let g = lock(&self.inner);
        let lower = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        Ok(g.bindings
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
