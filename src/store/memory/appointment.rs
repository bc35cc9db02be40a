use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::lock;
use crate::appointment::{AppointmentBook, AppointmentEvent};
use crate::feedback::{Complaint, ComplaintEvent, Feedback};
use crate::id::{ClinicId, ComplaintId, FeedbackId, PatientId};
use crate::store::{
    AppointmentStore, FeedbackStore, StoreError, Version, Versioned, erased_feedback,
    stage_book_commit, stage_complaint_commit, stage_feedback_append,
};

/// The in-memory [`AppointmentStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryAppointmentStore {
    inner: Arc<Mutex<BTreeMap<ClinicId, Versioned<AppointmentBook>>>>,
}

impl MemoryAppointmentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// With feature `testkit`: everything the store holds, **with health data** (intake
/// answers), for erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryAppointmentStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl AppointmentStore for MemoryAppointmentStore {
    fn get_book(&self, clinic: ClinicId) -> Result<Option<Versioned<AppointmentBook>>, StoreError> {
        Ok(lock(&self.inner).get(&clinic).cloned())
    }

    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        events: &[AppointmentEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.get(&clinic).cloned();
        let Some(staged) = stage_book_commit(clinic, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "appointment book",
                key: clinic.to_string(),
            });
        };
        let version = staged.version;
        g.insert(clinic, staged);
        Ok(version)
    }

    fn book_clinics(
        &self,
        after: Option<ClinicId>,
        limit: usize,
    ) -> Result<Vec<ClinicId>, StoreError> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.inner)
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(c, _)| *c)
            .collect())
    }
}

#[derive(Debug, Default)]
#[cfg_attr(feature = "testkit", derive(serde::Serialize))]
struct FeedbackInner {
    complaints: BTreeMap<ComplaintId, Versioned<Complaint>>,
    feedback: BTreeMap<FeedbackId, Feedback>,
    /// Patients whose comments were erased: later appends of theirs are stored without.
    erased: BTreeSet<PatientId>,
}

/// The in-memory [`FeedbackStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryFeedbackStore {
    inner: Arc<Mutex<FeedbackInner>>,
}

impl MemoryFeedbackStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// With feature `testkit`: everything the store holds, **with the patients' words**, for
/// erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryFeedbackStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl FeedbackStore for MemoryFeedbackStore {
    fn get_complaint(&self, id: ComplaintId) -> Result<Option<Versioned<Complaint>>, StoreError> {
        Ok(lock(&self.inner).complaints.get(&id).cloned())
    }

    fn commit_complaint(
        &mut self,
        id: ComplaintId,
        expected: Option<Version>,
        events: &[ComplaintEvent],
    ) -> Result<Version, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.complaints.get(&id).cloned();
        let Some(staged) = stage_complaint_commit(id, current, expected, events)? else {
            return expected.ok_or(StoreError::NotFound {
                what: "complaint",
                key: id.to_string(),
            });
        };
        let version = staged.version;
        g.complaints.insert(id, staged);
        Ok(version)
    }

    fn scan_complaints(
        &self,
        after: Option<ComplaintId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Complaint>>, StoreError> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.inner)
            .complaints
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn append_feedback(&mut self, records: &[Feedback]) -> Result<usize, StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        let new = stage_feedback_append(
            records,
            |p| Ok(inner.erased.contains(&p)),
            |id| Ok(inner.feedback.get(&id).cloned()),
        )?;
        let n = new.len();
        for r in new {
            inner.feedback.insert(r.id, r);
        }
        Ok(n)
    }

    fn feedback_page(
        &self,
        after: Option<FeedbackId>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(lock(&self.inner)
            .feedback
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn erase_feedback_comments(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        inner.erased.insert(patient);
        let mut n = 0usize;
        for f in inner.feedback.values_mut() {
            if f.patient == patient && f.comment.is_some() {
                *f = erased_feedback(f);
                n = n.saturating_add(1);
            }
        }
        Ok(n)
    }
}
