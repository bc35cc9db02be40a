//! The usage-counter storage port for campaign caps and budgets.

use super::{StoreError, Version, Versioned};
use crate::campaign::{UsageKey, UsageReservation, UsageSnapshot};

/// Where campaign usage counters are kept.
///
/// A counter is a non-negative count with a version, keyed by [`UsageKey`]. The engine
/// ([`crate::campaign::evaluate`]) reads a snapshot and returns a [`UsageReservation`]; the
/// host commits it here. The commit is all or nothing and checks every key's version, so
/// two hosts racing on the last unit of a budget cannot both win: the loser gets
/// [`StoreError::Conflict`], loads again, evaluates again and finds the budget spent.
pub trait UsageStore {
    /// Loads the counters of `keys`. Keys never written are left out of the snapshot, which
    /// reads them as zero with no version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn load(&self, keys: &[UsageKey]) -> Result<UsageSnapshot, StoreError>;

    /// Applies every increment of `reservation` atomically, if every key is still at the
    /// version the reservation expects (`None`: never written). An empty reservation writes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] naming the first stale key's versions (in reservation order), and
    /// nothing is written; [`StoreError::Backend`] when a counter would pass `u64::MAX` or the
    /// backend fails.
    fn commit(&mut self, reservation: &UsageReservation) -> Result<(), StoreError>;
}

/// Checks a reservation against the current counters and computes what to write: for each
/// key, in reservation order, its new count and version. Every adapter runs this inside its
/// transaction, so the version rule is the same everywhere.
///
/// # Errors
///
/// [`StoreError::Conflict`] for the first key (in reservation order) whose version is not the
/// expected one; [`StoreError::Backend`] when a count would overflow `u64`.
pub fn stage_usage_commit<F>(
    reservation: &UsageReservation,
    mut current: F,
) -> Result<Vec<(UsageKey, Versioned<u64>)>, StoreError>
where
    F: FnMut(&UsageKey) -> Result<Option<Versioned<u64>>, StoreError>,
{
    let mut out = Vec::with_capacity(reservation.len());
    for (key, inc) in reservation.increments() {
        let now = current(key)?;
        let actual = now.as_ref().map(|v| v.version);
        if actual != inc.expected {
            return Err(StoreError::Conflict {
                expected: inc.expected,
                actual,
            });
        }
        let count = now.map_or(0, |v| v.value);
        let value = count.checked_add(inc.add).ok_or_else(|| {
            StoreError::backend(std::io::Error::other(format!(
                "usage counter {key} would overflow"
            )))
        })?;
        out.push((
            *key,
            Versioned {
                value,
                version: Version::after(inc.expected)?,
            },
        ));
    }
    Ok(out)
}
