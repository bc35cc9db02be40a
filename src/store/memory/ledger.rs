use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::id::PatientId;
use crate::points::Posting;
use crate::store::{LedgerStore, StoreError, Version, Versioned, stage_ledger_append};

/// The in-memory [`LedgerStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryLedgerStore {
    inner: Arc<Mutex<HashMap<PatientId, Versioned<Vec<Posting>>>>>,
}

impl MemoryLedgerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of accounts with postings.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether no account has postings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LedgerStore for MemoryLedgerStore {
    fn load(&self, account: PatientId) -> Result<Option<Versioned<Vec<Posting>>>, StoreError> {
        Ok(lock(&self.inner).get(&account).cloned())
    }

    fn append(
        &mut self,
        account: PatientId,
        expected: Option<Version>,
        postings: &[Posting],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.get(&account);
        let version = current.map(|v| v.version);
        let stored = current.map_or(0, |v| v.value.len() as u64);
        let Some(next) = stage_ledger_append(account, version, stored, expected, postings)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "points account",
                key: account.to_string(),
            });
        };
        let entry = g.entry(account).or_insert_with(|| Versioned {
            value: Vec::new(),
            version: next,
        });
        entry.value.extend_from_slice(postings);
        entry.version = next;
        Ok(next)
    }
}
