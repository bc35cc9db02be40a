//! The points-ledger storage port.

use super::{StoreError, Version, Versioned};
use crate::id::PatientId;
use crate::points::Posting;

/// Where members' points postings are kept: one append-only ledger per account, with a
/// version that grows by one with every append.
///
/// Postings serialise with serde (JSON works), so an adapter may keep one row per posting
/// or one blob per append. The ledger is never edited: corrections are new postings.
pub trait LedgerStore {
    /// Loads every posting of an account, in `seq` order, with the account's version.
    /// `None` when nothing was ever appended.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn load(&self, account: PatientId) -> Result<Option<Versioned<Vec<Posting>>>, StoreError>;

    /// Appends `postings` atomically if the account's version is still `expected` (`None`:
    /// nothing appended yet), and returns the new version. Nothing is written on any error.
    /// An empty `postings` writes nothing and returns the current version, after the same
    /// check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] with both versions on a stale `expected`;
    /// [`StoreError::NotFound`] for an empty append to an account that has no postings;
    /// [`StoreError::Backend`] when a posting is for another account or its `seq` does not
    /// follow the stored ones, or the backend fails.
    fn append(
        &mut self,
        account: PatientId,
        expected: Option<Version>,
        postings: &[Posting],
    ) -> Result<Version, StoreError>;
}

fn invalid(msg: String) -> StoreError {
    StoreError::backend(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
}

/// Checks an append against the stored version and posting count, before an adapter writes
/// it. Every adapter runs it inside its transaction, so the rules are the same everywhere.
/// `Ok(None)` means the append is valid and writes nothing.
///
/// # Errors
///
/// As [`LedgerStore::append`]: `Conflict` on a stale version, `NotFound` for an empty first
/// append, `Backend` for postings of another account or out of sequence.
pub fn stage_ledger_append(
    account: PatientId,
    current: Option<Version>,
    stored_postings: u64,
    expected: Option<Version>,
    postings: &[Posting],
) -> Result<Option<Version>, StoreError> {
    if current != expected {
        return Err(StoreError::Conflict {
            expected,
            actual: current,
        });
    }
    if postings.is_empty() {
        return match expected {
            Some(_) => Ok(None),
            None => Err(StoreError::NotFound {
                what: "points account",
                key: account.to_string(),
            }),
        };
    }
    let mut want = stored_postings;
    for p in postings {
        want = want
            .checked_add(1)
            .ok_or_else(|| invalid("posting sequence overflow".to_owned()))?;
        if p.account != account {
            return Err(invalid(format!(
                "posting {} is for account {}, not {account}",
                p.seq, p.account
            )));
        }
        if p.seq != want {
            return Err(invalid(format!(
                "posting seq {} does not follow the stored {} postings of {account}",
                p.seq, stored_postings
            )));
        }
    }
    Version::after(expected).map(Some)
}
