use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::event::{Roster, RosterEvent};
use crate::id::OutreachEventId;
use crate::store::{OutreachEventStore, StoreError, Version, Versioned, stage_roster_commit};

/// The in-memory [`OutreachEventStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryOutreachEventStore {
    inner: Arc<Mutex<BTreeMap<OutreachEventId, Versioned<Roster>>>>,
}

impl MemoryOutreachEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// With feature `testkit`: everything the store holds, **with health data** (who came to
/// which event), for erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryOutreachEventStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl OutreachEventStore for MemoryOutreachEventStore {
    fn get(&self, event: OutreachEventId) -> Result<Option<Versioned<Roster>>, StoreError> {
        Ok(lock(&self.inner).get(&event).cloned())
    }

    fn commit(
        &mut self,
        event: OutreachEventId,
        expected: Option<Version>,
        events: &[RosterEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.get(&event).cloned();
        let Some(staged) = stage_roster_commit(event, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "outreach event",
                key: event.to_string(),
            });
        };
        let version = staged.version;
        g.insert(event, staged);
        Ok(version)
    }

    fn scan(
        &self,
        after: Option<OutreachEventId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Roster>>, StoreError> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.inner)
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
