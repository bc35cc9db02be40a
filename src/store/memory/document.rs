use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::campaign::CampaignBook;
use crate::id::ClinicId;
use crate::segment::TagCatalog;
use crate::store::{
    CampaignBookStore, StoreError, TagCatalogStore, Version, Versioned, stage_document_commit,
};

/// The in-memory [`TagCatalogStore`].
///
/// It keeps the typed catalog itself: a value of the type is valid by construction, so
/// there is nothing to validate on the way out (a database adapter decodes through serde).
#[derive(Debug, Clone, Default)]
pub struct MemoryTagCatalogStore {
    inner: Arc<Mutex<Option<Versioned<TagCatalog>>>>,
}

impl MemoryTagCatalogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TagCatalogStore for MemoryTagCatalogStore {
    fn catalog(&self) -> Result<Option<Versioned<TagCatalog>>, StoreError> {
        Ok(lock(&self.inner).clone())
    }

    fn commit_catalog(
        &mut self,
        expected: Option<Version>,
        catalog: &TagCatalog,
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let version = stage_document_commit(g.as_ref().map(|c| c.version), expected)?;
        *g = Some(Versioned {
            value: catalog.clone(),
            version,
        });
        Ok(version)
    }
}

/// The in-memory [`CampaignBookStore`]: every version of every clinic's book, in memory for
/// the life of the store.
#[derive(Debug, Clone, Default)]
pub struct MemoryCampaignBookStore {
    /// Per clinic, version `n` at index `n − 1`.
    inner: Arc<Mutex<BTreeMap<ClinicId, Vec<CampaignBook>>>>,
}

impl MemoryCampaignBookStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn current(books: &[CampaignBook]) -> Option<Version> {
    (!books.is_empty()).then(|| Version::new(books.len() as u64))
}

impl CampaignBookStore for MemoryCampaignBookStore {
    fn book(&self, clinic: ClinicId) -> Result<Option<Versioned<CampaignBook>>, StoreError> {
        let g = lock(&self.inner);
        let Some(books) = g.get(&clinic) else {
            return Ok(None);
        };
        Ok(books
            .last()
            .cloned()
            .zip(current(books))
            .map(|(value, version)| Versioned { value, version }))
    }

    fn book_at(
        &self,
        clinic: ClinicId,
        version: Version,
    ) -> Result<Option<CampaignBook>, StoreError> {
        let g = lock(&self.inner);
        let at = usize::try_from(version.get())
            .ok()
            .and_then(|v| v.checked_sub(1));
        Ok(g.get(&clinic)
            .zip(at)
            .and_then(|(books, i)| books.get(i).cloned()))
    }

    fn book_version(&self, clinic: ClinicId) -> Result<Option<Version>, StoreError> {
        Ok(lock(&self.inner).get(&clinic).and_then(|b| current(b)))
    }

    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        book: &CampaignBook,
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let books = g.entry(clinic).or_default();
        let version = stage_document_commit(current(books), expected)?;
        books.push(book.clone());
        Ok(version)
    }
}
