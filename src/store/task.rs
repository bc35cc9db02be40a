//! The follow-up task storage port.

use super::{StoreError, Version, Versioned};
use crate::followup::{FollowUpEvent, FollowUpHistory};
use crate::id::PatientId;

/// Where follow-up tasks and their outcomes are kept, one [`FollowUpHistory`] per patient.
///
/// Planning and recording outcomes are load–decide–commit loops like every other aggregate:
/// [`crate::followup::Plan::events`] and [`crate::followup::record_outcome`] decide the
/// events, and `commit` writes them if the history is still at the version loaded. Adapters
/// apply committed events with [`followup::apply`](crate::followup::apply) (through [`stage_task_commit`]).
///
/// Task reasons name conditions, drugs and dates: health data. Erasing a patient commits
/// [`FollowUpHistory::anonymise`]'s event here, which [`super::erase_patient`] does, and an
/// adapter must leave no copy of the old history in its storage.
pub trait TaskStore {
    /// Loads a patient's follow-up history and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get(&self, patient: PatientId) -> Result<Option<Versioned<FollowUpHistory>>, StoreError>;

    /// Applies `events` to the patient's history atomically if its version is still
    /// `expected` (`None`: no history stored yet), and returns the new version. An empty
    /// `events` writes nothing and returns the current version after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::NotFound`] for an empty
    /// commit with `expected` `None` on a missing history, [`StoreError::Backend`].
    fn commit(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[FollowUpEvent],
    ) -> Result<Version, StoreError>;

    /// Up to `limit` histories of patients with ids greater than `after`, in ascending
    /// patient order: a page of a full scan (the nightly planning run, the staff metrics).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<FollowUpHistory>>, StoreError>;
}

/// Checks `expected` against the stored version and applies `events` to the stored history
/// (or a new, empty one). `Ok(None)` means the commit is valid and writes nothing (no
/// events). Every adapter runs this inside its transaction, so the version rule and the
/// state a commit leaves are the same everywhere.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version.
pub fn stage_task_commit(
    patient: PatientId,
    current: Option<Versioned<FollowUpHistory>>,
    expected: Option<Version>,
    events: &[FollowUpEvent],
) -> Result<Option<Versioned<FollowUpHistory>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut history = current
        .map(|v| v.value)
        .unwrap_or_else(|| FollowUpHistory::new(patient));
    for e in events {
        crate::followup::apply(&mut history, e);
    }
    Ok(Some(Versioned {
        value: history,
        version: Version::after(expected)?,
    }))
}
