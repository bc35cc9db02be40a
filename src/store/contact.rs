//! The contact storage port: each patient's contact log.

use super::{StoreError, Version, Versioned};
use crate::id::PatientId;
use crate::relationship::{ContactEvent, ContactLog};

/// Where contact events are kept, one [`ContactLog`] per patient, append-only under an
/// optimistic version.
///
/// Adding a contact, a removal, a transfer and its decline or completion are
/// load–decide–commit loops: [`relationship::decide`](crate::relationship::decide) (or a
/// [`plan_handover`](crate::relationship::plan_handover)'s planned events) decides, and
/// `commit` appends if the log is still at the version loaded. Two handovers that race for
/// the same patient both load the same version; the second commit fails with
/// [`StoreError::Conflict`] and its host plans again against the winner's transfer (which it
/// then refuses as pending).
///
/// Which staff accounts hold a person, and through which channel code they came, is
/// personal data: [`ContactStore::erase_contacts`] deletes the patient's whole log, which
/// [`super::erase_patient`] does, and an adapter must leave no copy of it in its storage.
pub trait ContactStore {
    /// Loads a patient's contact log and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get_contacts(&self, patient: PatientId)
    -> Result<Option<Versioned<ContactLog>>, StoreError>;

    /// Appends `events` to the patient's log atomically if its version is still `expected`
    /// (`None`: no log stored yet), and returns the new version. An empty `events` writes
    /// nothing and returns the current version after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`; [`StoreError::NotFound`] for an
    /// empty commit with `expected` `None` on a missing log; [`StoreError::Backend`] for
    /// events the log refuses (out of time order, over its limit) or a backend failure.
    /// Nothing is written on any error.
    fn commit_contacts(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[ContactEvent],
    ) -> Result<Version, StoreError>;

    /// Up to `limit` logs of patients with ids greater than `after`, in ascending patient
    /// order: a page of a full scan (the book a handover or the risk metrics read).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan_contacts(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<ContactLog>>, StoreError>;

    /// Deletes the patient's log, and returns whether there was one. Erasing twice changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn erase_contacts(&mut self, patient: PatientId) -> Result<bool, StoreError>;
}

/// Checks `expected` against the stored version and appends `events` to the stored log
/// (or a new, empty one). `Ok(None)` means the commit is valid and writes nothing. Every
/// adapter runs this inside its transaction.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version; [`StoreError::Backend`] around the
/// [`RelationshipError`](crate::relationship::RelationshipError) of events the log refuses.
pub fn stage_contact_commit(
    patient: PatientId,
    current: Option<Versioned<ContactLog>>,
    expected: Option<Version>,
    events: &[ContactEvent],
) -> Result<Option<Versioned<ContactLog>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut log = current
        .map(|v| v.value)
        .unwrap_or_else(|| ContactLog::new(patient));
    log.append(events).map_err(StoreError::backend)?;
    Ok(Some(Versioned {
        value: log,
        version: Version::after(expected)?,
    }))
}
