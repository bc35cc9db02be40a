use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::appointment::{AppointmentBook, AppointmentEvent};
use crate::feedback::{Complaint, ComplaintEvent, Feedback};
use crate::id::{ClinicId, ComplaintId, FeedbackId};
use crate::store::{
    AppointmentStore, FeedbackStore, StoreError, Version, Versioned, stage_book_commit,
    stage_complaint_commit, stage_feedback_append,
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
}

#[derive(Debug, Default)]
struct FeedbackInner {
    complaints: BTreeMap<ComplaintId, Versioned<Complaint>>,
    feedback: BTreeMap<FeedbackId, Feedback>,
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
        let new = stage_feedback_append(records, |id| Ok(g.feedback.get(&id).cloned()))?;
        let n = new.len();
        for r in new {
            g.feedback.insert(r.id, r);
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
}
