//! The erasure scenarios on the in-memory adapters.

use crate::store::memory::{
    MemoryAppointmentStore, MemoryContactStore, MemoryFeedbackStore, MemoryGroupStore,
    MemoryOutreachEventStore, MemoryPatientStore, MemoryPurchaseStore, MemoryTaskStore,
};

type Ports = (
    MemoryPatientStore,
    MemoryTaskStore,
    MemoryPurchaseStore,
    MemoryContactStore,
    MemoryGroupStore,
    MemoryAppointmentStore,
    MemoryFeedbackStore,
    MemoryOutreachEventStore,
);

/// Everything the in-memory adapters hold, indexes included, as JSON.
fn stored_bytes(s: &Ports) -> Vec<u8> {
    let mut out = serde_json::to_vec(&s.0).unwrap_or_default();
    out.extend(serde_json::to_vec(&s.1).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.2).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.3).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.4).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.5).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.6).unwrap_or_default());
    out.extend(serde_json::to_vec(&s.7).unwrap_or_default());
    out
}

#[test]
fn memory_adapters_erase() {
    let factory = (
        || {
            (
                MemoryPatientStore::new(),
                MemoryTaskStore::new(),
                MemoryPurchaseStore::new(),
                MemoryContactStore::new(),
                MemoryGroupStore::new(),
                MemoryAppointmentStore::new(),
                MemoryFeedbackStore::new(),
                MemoryOutreachEventStore::new(),
            )
        },
        |s: &Ports| s.clone(),
    );
    super::run_all(&factory, |s: &Ports| s.clone(), stored_bytes);
}

use crate::appointment::{AppointmentBook, AppointmentEvent};
use crate::event::{Roster, RosterEvent};
use crate::feedback::{Complaint, ComplaintEvent, Feedback};
use crate::id::{ClinicId, ComplaintId, FeedbackId, OutreachEventId, PatientId};
use crate::store::{
    AppointmentStore, FeedbackStore, OutreachEventStore, StoreError, Version, Versioned,
};

/// One erasure step the in-memory ports can be made to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Intake answers: no book is listed to erasure.
    Intake,
    /// Complaints: none is listed to erasure.
    Complaints,
    /// Feedback comments: erasing them does nothing.
    FeedbackComments,
    /// Roster seats: no roster is listed to erasure.
    Seats,
}

/// A store that delegates everything, except that it skips its part of an erasure when
/// told to.
#[derive(Debug, Clone)]
struct Skipping<T> {
    inner: T,
    skip: Option<Skip>,
}

impl AppointmentStore for Skipping<MemoryAppointmentStore> {
    fn get_book(&self, clinic: ClinicId) -> Result<Option<Versioned<AppointmentBook>>, StoreError> {
        self.inner.get_book(clinic)
    }
    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        events: &[AppointmentEvent],
    ) -> Result<Version, StoreError> {
        self.inner.commit_book(clinic, expected, events)
    }
    fn book_clinics(
        &self,
        after: Option<ClinicId>,
        limit: usize,
    ) -> Result<Vec<ClinicId>, StoreError> {
        if self.skip == Some(Skip::Intake) {
            return Ok(vec![]);
        }
        self.inner.book_clinics(after, limit)
    }
}

impl FeedbackStore for Skipping<MemoryFeedbackStore> {
    fn get_complaint(&self, id: ComplaintId) -> Result<Option<Versioned<Complaint>>, StoreError> {
        self.inner.get_complaint(id)
    }
    fn commit_complaint(
        &mut self,
        id: ComplaintId,
        expected: Option<Version>,
        events: &[ComplaintEvent],
    ) -> Result<Version, StoreError> {
        self.inner.commit_complaint(id, expected, events)
    }
    fn scan_complaints(
        &self,
        after: Option<ComplaintId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Complaint>>, StoreError> {
        if self.skip == Some(Skip::Complaints) {
            return Ok(vec![]);
        }
        self.inner.scan_complaints(after, limit)
    }
    fn append_feedback(&mut self, records: &[Feedback]) -> Result<usize, StoreError> {
        self.inner.append_feedback(records)
    }
    fn feedback_page(
        &self,
        after: Option<FeedbackId>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        self.inner.feedback_page(after, limit)
    }
    fn erase_feedback_comments(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        if self.skip == Some(Skip::FeedbackComments) {
            return Ok(0);
        }
        self.inner.erase_feedback_comments(patient)
    }
}

impl OutreachEventStore for Skipping<MemoryOutreachEventStore> {
    fn get(&self, event: OutreachEventId) -> Result<Option<Versioned<Roster>>, StoreError> {
        self.inner.get(event)
    }
    fn commit(
        &mut self,
        event: OutreachEventId,
        expected: Option<Version>,
        events: &[RosterEvent],
    ) -> Result<Version, StoreError> {
        self.inner.commit(event, expected, events)
    }
    fn scan(
        &self,
        after: Option<OutreachEventId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Roster>>, StoreError> {
        if self.skip == Some(Skip::Seats) {
            return Ok(vec![]);
        }
        self.inner.scan(after, limit)
    }
}

type SkippingPorts = (
    MemoryPatientStore,
    MemoryTaskStore,
    MemoryPurchaseStore,
    MemoryContactStore,
    MemoryGroupStore,
    Skipping<MemoryAppointmentStore>,
    Skipping<MemoryFeedbackStore>,
    Skipping<MemoryOutreachEventStore>,
);

fn skipping(skip: Option<Skip>) -> SkippingPorts {
    (
        MemoryPatientStore::new(),
        MemoryTaskStore::new(),
        MemoryPurchaseStore::new(),
        MemoryContactStore::new(),
        MemoryGroupStore::new(),
        Skipping {
            inner: MemoryAppointmentStore::new(),
            skip,
        },
        Skipping {
            inner: MemoryFeedbackStore::new(),
            skip,
        },
        Skipping {
            inner: MemoryOutreachEventStore::new(),
            skip,
        },
    )
}

fn skipping_bytes(s: &SkippingPorts) -> Vec<u8> {
    stored_bytes(&(
        s.0.clone(),
        s.1.clone(),
        s.2.clone(),
        s.3.clone(),
        s.4.clone(),
        s.5.inner.clone(),
        s.6.inner.clone(),
        s.7.inner.clone(),
    ))
}

/// The leftover scenario has teeth: with any one store's erasure skipped, it fails; with
/// none skipped, the same wrappers pass it.
#[test]
fn the_scenario_fails_when_any_one_store_is_skipped() {
    let run = |skip: Option<Skip>| {
        std::panic::catch_unwind(|| {
            let factory = (move || skipping(skip), |s: &SkippingPorts| s.clone());
            super::erasure_leaves_no_trace(&factory, &skipping_bytes);
        })
        .is_ok()
    };
    assert!(run(None), "the wrappers alone must not fail the scenario");
    for skip in [
        Skip::Intake,
        Skip::Complaints,
        Skip::FeedbackComments,
        Skip::Seats,
    ] {
        assert!(!run(Some(skip)), "skipping {skip:?} went unnoticed");
    }
}
