//! Erasure across ports: the one call a host makes when a patient must be anonymised.

use chrono::{DateTime, Utc};

use super::{
    ContactStore, ExecuteError, GroupStore, PatientStore, PurchaseStore, TaskStore, Version,
    retry_on_conflict,
};
use crate::calendar::ClinicCalendar;
use crate::followup::FollowUpHistory;
use crate::id::PatientId;
use crate::patient::{self, PatientCommand, PatientError};

/// Every storage port that holds a patient's personal or health data, for
/// [`erase_patient`].
///
/// A port that comes to hold such data gets a method here, so that every implementor
/// (and so every host) fails to compile until it says where that port lives: erasure
/// cannot forget it. The ports left out hold none (see the [module docs](super)).
///
/// Implemented for a tuple `(patients, tasks, purchases, contacts, groups)` of handles, and by an adapter
/// that keeps every port behind one handle (`clinic_ops_sqlite::SqliteStore`).
pub trait PersonalDataPorts {
    /// The patients: identity, contact details, chronic files.
    fn patients(&mut self) -> &mut dyn PatientStore;
    /// The follow-up histories: task reasons name conditions, drugs and dates.
    fn follow_ups(&mut self) -> &mut dyn TaskStore;
    /// The purchases: a product category can name a drug or a treatment.
    fn purchases(&mut self) -> &mut dyn PurchaseStore;
    /// The contact logs: which staff accounts hold the patient, through which channel.
    fn contacts(&mut self) -> &mut dyn ContactStore;
    /// The group events: membership of a condition's group is health data.
    fn groups(&mut self) -> &mut dyn GroupStore;
}

impl<P: PatientStore, T: TaskStore, B: PurchaseStore, C: ContactStore, G: GroupStore>
    PersonalDataPorts for (P, T, B, C, G)
{
    fn patients(&mut self) -> &mut dyn PatientStore {
        &mut self.0
    }
    fn follow_ups(&mut self) -> &mut dyn TaskStore {
        &mut self.1
    }
    fn purchases(&mut self) -> &mut dyn PurchaseStore {
        &mut self.2
    }
    fn contacts(&mut self) -> &mut dyn ContactStore {
        &mut self.3
    }
    fn groups(&mut self) -> &mut dyn GroupStore {
        &mut self.4
    }
}

/// The versions an erasure left, one per versioned port of [`PersonalDataPorts`] (the
/// purchases are records, not a versioned aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct Erased {
    /// The patient's version after anonymisation.
    pub patient: Version,
    /// The follow-up history's version after its erasure.
    pub follow_ups: Version,
}

/// Anonymises a patient in every port that holds their personal or health data: the
/// patient ([`PatientCommand::Anonymise`]), then their follow-up history
/// ([`FollowUpHistory::anonymise`]), each a load–decide–commit loop retried up to
/// `max_attempts` times on [`StoreError::Conflict`](super::StoreError::Conflict), then
/// their purchases' categories ([`PurchaseStore::erase_purchase_categories`]), then their
/// contact log ([`ContactStore::erase_contacts`]) and their group events
/// ([`GroupStore::erase_group_member`]).
///
/// Idempotent: each step decides nothing for a port already erased, so a host that failed
/// half-way (a crash, a backend error) calls it again and it finishes the job. The patient
/// goes first because it links the pseudonymous id to a person; once it is anonymised, what
/// is left elsewhere is no longer about anyone a reader can name.
///
/// # Errors
///
/// [`ExecuteError::Domain`] with [`PatientError::NotRegistered`] when no such patient was
/// ever stored (nothing is written); [`ExecuteError::Store`] when a port fails, or still
/// conflicts after `max_attempts`. Call again after an error: the steps already done are
/// not repeated.
pub fn erase_patient<S: PersonalDataPorts + ?Sized>(
    ports: &mut S,
    id: PatientId,
    now: DateTime<Utc>,
    cal: ClinicCalendar,
    max_attempts: u32,
) -> Result<Erased, ExecuteError<PatientError>> {
    let patients = ports.patients();
    let patient = retry_on_conflict(max_attempts, || {
        let loaded = patients.get(id)?;
        let events = patient::decide(
            loaded.as_ref().map(|v| &v.value),
            id,
            &PatientCommand::Anonymise,
            now,
            cal,
        )
        .map_err(ExecuteError::Domain)?;
        Ok::<_, ExecuteError<PatientError>>(patients.commit(
            id,
            loaded.map(|v| v.version),
            &events,
        )?)
    })?;
    let tasks = ports.follow_ups();
    let follow_ups = retry_on_conflict(max_attempts, || {
        let loaded = tasks.get(id)?;
        let events = match &loaded {
            Some(h) => h.value.anonymise(now),
            None => FollowUpHistory::new(id).anonymise(now),
        };
        Ok::<_, ExecuteError<PatientError>>(tasks.commit(id, loaded.map(|v| v.version), &events)?)
    })?;
    ports.purchases().erase_purchase_categories(id)?;
    let _had_contacts = ports.contacts().erase_contacts(id)?;
    let _group_events = ports.groups().erase_group_member(id)?;
    Ok(Erased {
        patient,
        follow_ups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{
        MemoryContactStore, MemoryGroupStore, MemoryPatientStore, MemoryPurchaseStore,
        MemoryTaskStore,
    };

    #[test]
    fn an_unknown_patient_is_refused_and_nothing_is_written() {
        let tasks = MemoryTaskStore::new();
        let mut ports = (
            MemoryPatientStore::new(),
            tasks.clone(),
            MemoryPurchaseStore::new(),
            MemoryContactStore::new(),
            MemoryGroupStore::new(),
        );
        let now = DateTime::from_timestamp(1_772_416_800, 0).unwrap_or_default();
        let r = erase_patient(
            &mut ports,
            PatientId::new(4),
            now,
            ClinicCalendar::default(),
            3,
        );
        assert!(
            matches!(
                r,
                Err(ExecuteError::Domain(PatientError::NotRegistered { .. }))
            ),
            "{r:?}"
        );
        assert!(tasks.is_empty());
    }
}
