//! The patient storage port.

use super::{StoreError, Version, Versioned};
use crate::id::PatientId;
use crate::patient::{MobileNumber, Patient, PatientEvent, ResidentId};

/// Where patients are kept.
///
/// The store keeps each patient's current state (the result of applying its events), not
/// the event history: anonymisation must really erase personal data (PIPL art. 47), and an
/// append-only history of registrations would keep it. Adapters apply committed events with
/// [`crate::patient::apply`]. Erasure goes through [`super::erase_patient`], which also
/// reaches the other ports that hold the patient's data.
///
/// Mobile numbers and resident ids are unique across live patients: a commit whose events
/// claim one that another patient holds fails with [`StoreError::Duplicate`] and writes
/// nothing. Anonymisation frees them.
pub trait PatientStore {
    /// Loads a patient and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get(&self, id: PatientId) -> Result<Option<Versioned<Patient>>, StoreError>;

    /// Applies `events` to the patient atomically if its version is still `expected`
    /// (`None`: the patient must not exist yet), and returns the new version. An empty
    /// `events` writes nothing and returns the current version, after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::Duplicate`] when the
    /// events claim another patient's mobile or resident id, [`StoreError::NotFound`] when
    /// `expected` is `Some` but the events leave no patient, [`StoreError::Backend`].
    fn commit(
        &mut self,
        id: PatientId,
        expected: Option<Version>,
        events: &[PatientEvent],
    ) -> Result<Version, StoreError>;

    /// The live patient holding a mobile number.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn find_by_mobile(&self, mobile: &MobileNumber) -> Result<Option<PatientId>, StoreError>;

    /// The live patient holding a resident id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn find_by_resident_id(&self, id: &ResidentId) -> Result<Option<PatientId>, StoreError>;

    /// Up to `limit` patients with ids greater than `after`, in ascending id order: a page of
    /// a full scan. Pass the last id of a page as `after` to get the next one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Patient>>, StoreError>;
}

/// The outcome of checking and applying a patient commit, before an adapter writes it.
///
/// Every adapter runs [`stage_patient_commit`] inside its transaction and then checks the
/// keys against its own unique index, so that the version rule and the state a commit leaves
/// are the same in every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPatient {
    /// The patient after the events.
    pub patient: Patient,
    /// The version to store.
    pub version: Version,
    /// The mobile number the patient holds afterwards (`None` once anonymised).
    pub mobile: Option<MobileNumber>,
    /// The resident id the patient holds afterwards.
    pub resident_id: Option<ResidentId>,
}

/// Checks `expected` against the stored version and applies `events` to the stored state.
/// `Ok(None)` means the commit is valid and writes nothing (no events).
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version; [`StoreError::NotFound`] when the events
/// leave no patient (events for an unregistered id).
pub fn stage_patient_commit(
    id: PatientId,
    current: Option<Versioned<Patient>>,
    expected: Option<Version>,
    events: &[PatientEvent],
) -> Result<Option<StagedPatient>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut state = current.map(|v| v.value);
    for e in events {
        crate::patient::apply(&mut state, e);
    }
    let patient = state.ok_or_else(|| StoreError::NotFound {
        what: "patient",
        key: id.to_string(),
    })?;
    Ok(Some(StagedPatient {
        mobile: patient.mobile().copied(),
        resident_id: patient.resident_id().copied(),
        version: Version::after(expected)?,
        patient,
    }))
}
