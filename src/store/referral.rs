//! The referral storage port.

use super::{StoreError, Version, Versioned};
use crate::id::PatientId;
use crate::referral::{Binding, ReferralEvent};

/// Where referral bindings are kept: per referee, the binding in force and its version.
///
/// The referee is the aggregate. "The first referrer wins" becomes a version check: a first
/// binding commits with `expected = None`, so of two racing first bindings of one referee
/// exactly one succeeds and the other gets [`StoreError::Conflict`]. A rebinding commits with
/// the version it loaded.
///
/// The binding rules themselves (cycles, identity, windows) are the pure
/// [`crate::referral::decide`]; the host loads the forest, decides, and commits the event here.
pub trait ReferralStore {
    /// The binding in force for a referee, with its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get(&self, referee: PatientId) -> Result<Option<Versioned<Binding>>, StoreError>;

    /// Records `events` for `referee` atomically if its version is still `expected` (`None`:
    /// the referee must not be bound yet), and returns the new version. An empty `events`
    /// writes nothing and returns the current version, after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`; [`StoreError::NotFound`] for an empty
    /// commit against an unbound referee; [`StoreError::Backend`] when an event names
    /// another referee, or the backend fails.
    fn commit(
        &mut self,
        referee: PatientId,
        expected: Option<Version>,
        events: &[ReferralEvent],
    ) -> Result<Version, StoreError>;

    /// The bindings in force whose referrer is `referrer`, in ascending referee order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn referees_of(&self, referrer: PatientId) -> Result<Vec<Binding>, StoreError>;

    /// Up to `limit` bindings with referees greater than `after`, in ascending referee order:
    /// a page of a full scan, for loading the forest.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Binding>>, StoreError>;
}

/// An event committed under the wrong referee: a host bug, refused as a backend error so
/// that nothing is written.
#[derive(Debug, thiserror::Error)]
#[error("referral event for referee {found} committed under referee {expected}")]
struct WrongReferee {
    expected: PatientId,
    found: PatientId,
}

/// Checks `expected` against the stored version and applies `events` to the stored binding.
/// Every adapter runs this inside its transaction. `Ok(None)` means the commit is valid and
/// writes nothing (no events).
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version; [`StoreError::Backend`] when an event names
/// another referee.
pub fn stage_referral_commit(
    referee: PatientId,
    current: Option<Versioned<Binding>>,
    expected: Option<Version>,
    events: &[ReferralEvent],
) -> Result<Option<Versioned<Binding>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    let Some(last) = events.last() else {
        return Ok(None);
    };
    if let Some(bad) = events.iter().find(|e| e.binding().referee != referee) {
        return Err(StoreError::backend(WrongReferee {
            expected: referee,
            found: bad.binding().referee,
        }));
    }
    Ok(Some(Versioned {
        value: *last.binding(),
        version: Version::after(expected)?,
    }))
}
