//! Erasure across ports: the one call a host makes when a patient must be anonymised.

use chrono::{DateTime, Utc};

use super::{
    AppointmentStore, ContactStore, ExecuteError, FeedbackStore, GroupStore, OutreachEventStore,
    PatientStore, PurchaseStore, StoreError, TaskStore, Version, retry_on_conflict,
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
/// Implemented for a tuple `(patients, tasks, purchases, contacts, groups, appointments,
/// feedback, outreach_events)` of handles, and by an adapter that keeps every port behind
/// one handle (`clinic_ops_sqlite::SqliteStore`, `clinic_ops_postgres::PgStore`).
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
    /// The appointment books: a first visit's intake answers are health data.
    fn appointments(&mut self) -> &mut dyn AppointmentStore;
    /// Complaints and feedback: the patient's words, and staff notes about them.
    fn feedback(&mut self) -> &mut dyn FeedbackStore;
    /// The outreach event rosters: attending a lecture on a condition is health data.
    fn outreach_events(&mut self) -> &mut dyn OutreachEventStore;
}

impl<P, T, B, C, G, A, F, O> PersonalDataPorts for (P, T, B, C, G, A, F, O)
where
    P: PatientStore,
    T: TaskStore,
    B: PurchaseStore,
    C: ContactStore,
    G: GroupStore,
    A: AppointmentStore,
    F: FeedbackStore,
    O: OutreachEventStore,
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
    fn appointments(&mut self) -> &mut dyn AppointmentStore {
        &mut self.5
    }
    fn feedback(&mut self) -> &mut dyn FeedbackStore {
        &mut self.6
    }
    fn outreach_events(&mut self) -> &mut dyn OutreachEventStore {
        &mut self.7
    }
}

/// How many books, complaints or rosters erasure reads per page while looking for the
/// patient's.
const ERASURE_PAGE: usize = 256;

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
/// ([`GroupStore::erase_group_member`]), then their intake answers in every appointment
/// book ([`AppointmentBook::anonymise`](crate::appointment::AppointmentBook::anonymise)),
/// the words and notes of each of their complaints
/// ([`Complaint::anonymise`](crate::feedback::Complaint::anonymise)), their feedback
/// comments ([`FeedbackStore::erase_feedback_comments`]) and their seats in outreach event
/// rosters ([`Roster::anonymise`](crate::event::Roster::anonymise)); each book, complaint
/// and roster is its own load–decide–commit loop, retried like the patient's.
///
/// Books, complaints and rosters are not indexed by patient, so this reads every one of
/// them, a page at a time: an erasure costs a scan of those three stores. It is rare, and
/// what it must not do is miss one.
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
    erase_intake(ports.appointments(), id, now, max_attempts)?;
    erase_complaints(ports.feedback(), id, now, max_attempts)?;
    let _comments = ports.feedback().erase_feedback_comments(id)?;
    erase_seats(ports.outreach_events(), id, max_attempts)?;
    Ok(Erased {
        patient,
        follow_ups,
    })
}

/// Commits [`AppointmentBook::anonymise`](crate::appointment::AppointmentBook::anonymise)
/// to every book that holds the patient's intake answers.
fn erase_intake(
    books: &mut dyn AppointmentStore,
    id: PatientId,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let clinics = books.book_clinics(after, ERASURE_PAGE)?;
        for &clinic in &clinics {
            retry_on_conflict(max_attempts, || {
                let Some(loaded) = books.get_book(clinic)? else {
                    return Ok(());
                };
                let events = loaded.value.anonymise(id, now);
                if !events.is_empty() {
                    books.commit_book(clinic, Some(loaded.version), &events)?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        match clinics.last() {
            Some(&last) if clinics.len() >= ERASURE_PAGE => after = Some(last),
            _ => return Ok(()),
        }
    }
}

/// Commits [`Complaint::anonymise`](crate::feedback::Complaint::anonymise) to every
/// complaint of the patient that still holds words or notes.
fn erase_complaints(
    store: &mut dyn FeedbackStore,
    id: PatientId,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = store.scan_complaints(after, ERASURE_PAGE)?;
        for c in &page {
            let cid = c.value.opened.id;
            if c.value.opened.patient != id || c.value.anonymise(now).is_empty() {
                continue;
            }
            retry_on_conflict(max_attempts, || {
                let Some(loaded) = store.get_complaint(cid)? else {
                    return Ok(());
                };
                let events = loaded.value.anonymise(now);
                if !events.is_empty() {
                    store.commit_complaint(cid, Some(loaded.version), &events)?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        match page.last() {
            Some(last) if page.len() >= ERASURE_PAGE => after = Some(last.value.opened.id),
            _ => return Ok(()),
        }
    }
}

/// Commits [`Roster::anonymise`](crate::event::Roster::anonymise) to every roster that
/// holds a seat of the patient.
fn erase_seats(
    rosters: &mut dyn OutreachEventStore,
    id: PatientId,
    max_attempts: u32,
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = rosters.scan(after, ERASURE_PAGE)?;
        for r in &page {
            let event = r.value.event().id();
            if r.value.anonymise(id).is_empty() {
                continue;
            }
            retry_on_conflict(max_attempts, || {
                let Some(loaded) = rosters.get(event)? else {
                    return Ok(());
                };
                let events = loaded.value.anonymise(id);
                if !events.is_empty() {
                    rosters.commit(event, Some(loaded.version), &events)?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        match page.last() {
            Some(last) if page.len() >= ERASURE_PAGE => after = Some(last.value.event().id()),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{
        MemoryAppointmentStore, MemoryContactStore, MemoryFeedbackStore, MemoryGroupStore,
        MemoryOutreachEventStore, MemoryPatientStore, MemoryPurchaseStore, MemoryTaskStore,
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
            MemoryAppointmentStore::new(),
            MemoryFeedbackStore::new(),
            MemoryOutreachEventStore::new(),
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
