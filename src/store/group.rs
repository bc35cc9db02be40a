//! The group storage port: each group series' events.

use super::{StoreError, Version, Versioned};
use crate::id::{GroupId, PatientId};
use crate::relationship::{GroupEvent, RelationshipError};

/// The most events one commit appends.
pub const MAX_GROUP_COMMIT: usize = 100_000;

/// Where group events are kept: per [`GroupSeries`](crate::relationship::GroupSeries), an
/// append-only list under an optimistic version. The membership is
/// [`apply_group`](crate::relationship::apply_group) over the events.
///
/// A planner run loads the series' events, plans ([`plan_groups`](crate::relationship::plan_groups))
/// and commits the invitations at the version loaded: two runs racing over one series
/// cannot both fill the last seat of a group, because the second commit is a
/// [`StoreError::Conflict`].
///
/// Membership of a group named after a condition (`高血压群`) is health data:
/// [`GroupStore::erase_group_member`] deletes every event of the patient in every series,
/// which [`super::erase_patient`] does.
pub trait GroupStore {
    /// A series' events, in the order appended, and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn group_events(
        &self,
        series: GroupId,
    ) -> Result<Option<Versioned<Vec<GroupEvent>>>, StoreError>;

    /// Appends `events` to the series atomically if its version is still `expected`
    /// (`None`: nothing stored yet), and returns the new version. An empty `events` writes
    /// nothing and returns the current version after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`; [`StoreError::NotFound`] for an
    /// empty commit with `expected` `None` on a missing series; [`StoreError::Backend`]
    /// for an event of another series, more than [`MAX_GROUP_COMMIT`] events, or a backend
    /// failure. Nothing is written on any error.
    fn commit_group(
        &mut self,
        series: GroupId,
        expected: Option<Version>,
        events: &[GroupEvent],
    ) -> Result<Version, StoreError>;

    /// Deletes every event of `patient` in every series and returns how many went.
    /// Versions do not change: what is left is what a reader would see had the patient
    /// never been in the groups. Erasing twice deletes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn erase_group_member(&mut self, patient: PatientId) -> Result<usize, StoreError>;
}

/// Checks `expected` against the stored version and `events` against the series, and
/// returns the version to store (`Ok(None)`: valid, nothing to write).
///
/// # Errors
///
/// As [`GroupStore::commit_group`].
pub fn stage_group_commit(
    series: GroupId,
    actual: Option<Version>,
    expected: Option<Version>,
    events: &[GroupEvent],
) -> Result<Option<Version>, StoreError> {
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.len() > MAX_GROUP_COMMIT {
        return Err(StoreError::backend(RelationshipError::TooMany {
            what: "group commit",
            len: events.len(),
            max: MAX_GROUP_COMMIT,
        }));
    }
    if let Some(e) = events.iter().find(|e| e.chat().series != series) {
        return Err(StoreError::backend(RelationshipError::OutOfRange {
            field: "group event series",
            value: e.chat().series.to_string(),
            reason: "an event belongs to the series it is committed to",
        }));
    }
    if events.is_empty() {
        return Ok(None);
    }
    Version::after(expected).map(Some)
}
