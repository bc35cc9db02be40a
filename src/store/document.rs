//! The versioned-document storage ports: the tag catalog and the campaign books.

use super::{StoreError, Version, Versioned};
use crate::campaign::CampaignBook;
use crate::id::ClinicId;
use crate::segment::TagCatalog;

/// Where the organisation's [`TagCatalog`] is kept: one document, replaced whole by each
/// commit under an optimistic version.
///
/// A host loads it, changes it ([`TagCatalog::add`], [`TagCatalog::delete`]) and commits it
/// with the version it loaded; of two editors who loaded the same version, the second to
/// commit gets [`StoreError::Conflict`] and edits again. What comes back from storage went
/// through the catalog's serde validation (a stored catalog past its limit is refused), so
/// an adapter never hands out a catalog the type could not have built.
pub trait TagCatalogStore {
    /// The catalog and its version; `None` before the first commit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails or the stored catalog is invalid.
    fn catalog(&self) -> Result<Option<Versioned<TagCatalog>>, StoreError>;

    /// Stores `catalog` if the stored version is still `expected` (`None`: none stored yet)
    /// and returns the new version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, and nothing is written;
    /// [`StoreError::Backend`] when the backend fails.
    fn commit_catalog(
        &mut self,
        expected: Option<Version>,
        catalog: &TagCatalog,
    ) -> Result<Version, StoreError>;
}

/// Where each clinic's [`CampaignBook`] is kept, with every version it ever had.
///
/// A commit replaces the clinic's book under an optimistic version, as for the tag catalog.
/// Old versions are kept, never edited, so that an evaluation recorded with the version of
/// the book that decided it ([`Versioned::version`] of what [`CampaignBookStore::book`]
/// returned) can be audited later against exactly that book
/// ([`CampaignBookStore::book_at`]).
///
/// Books come back from storage through their serde validation (the same checks as
/// [`CampaignBook::new`]): a stored book that no longer validates is an error, never a
/// book. Loading validates and indexes every campaign, so a host keeps the book it loaded
/// and reloads only when [`CampaignBookStore::book_version`] moved.
pub trait CampaignBookStore {
    /// The clinic's current book and its version; `None` before the first commit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails or the stored book is invalid.
    fn book(&self, clinic: ClinicId) -> Result<Option<Versioned<CampaignBook>>, StoreError>;

    /// The clinic's book as it was at `version`; `None` when the clinic never had that
    /// version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails or the stored book is invalid.
    fn book_at(
        &self,
        clinic: ClinicId,
        version: Version,
    ) -> Result<Option<CampaignBook>, StoreError>;

    /// The clinic's current book version, without loading the book.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn book_version(&self, clinic: ClinicId) -> Result<Option<Version>, StoreError>;

    /// Stores `book` as the clinic's next version if its current version is still
    /// `expected` (`None`: no book yet), and returns the new version. The previous versions
    /// stay readable with [`CampaignBookStore::book_at`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, and nothing is written;
    /// [`StoreError::Backend`] when the backend fails.
    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        book: &CampaignBook,
    ) -> Result<Version, StoreError>;
}

/// Checks `expected` against a document's stored version and returns the version the
/// commit writes. Every adapter runs it inside its transaction, so the version rule of the
/// document ports is the same everywhere.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale `expected`; [`StoreError::Backend`] when the
/// version counter is exhausted.
pub fn stage_document_commit(
    current: Option<Version>,
    expected: Option<Version>,
) -> Result<Version, StoreError> {
    if current != expected {
        return Err(StoreError::Conflict {
            expected,
            actual: current,
        });
    }
    Version::after(expected)
}
