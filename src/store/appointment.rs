//! The appointment and feedback storage ports.

use super::{StoreError, Version, Versioned};
use crate::appointment::{AppointmentBook, AppointmentEvent};
use crate::feedback::{Complaint, ComplaintEvent, Feedback};
use crate::id::{ClinicId, ComplaintId, FeedbackId, PatientId};

/// Where each clinic's [`AppointmentBook`] is kept.
///
/// Booking is a load–decide–commit loop: a till loads the book, decides
/// ([`appointment::decide`](crate::appointment::decide)) and commits the events if the book is still at the version
/// loaded. Two tills booking the last place of a slot both decide "booked", but only the
/// first commit lands: the other gets [`StoreError::Conflict`], loads again, and the next
/// decision refuses with [`SlotFull`](crate::appointment::AppointmentError::SlotFull). So no
/// slot is ever over capacity, whatever the interleaving.
///
/// Intake answers are health data: erasing a patient ([`super::erase_patient`]) commits
/// [`AppointmentBook::anonymise`]'s event to every book [`book_clinics`](Self::book_clinics)
/// lists, and an adapter must leave no copy of the old answers in its storage.
pub trait AppointmentStore {
    /// Loads a clinic's book and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get_book(&self, clinic: ClinicId) -> Result<Option<Versioned<AppointmentBook>>, StoreError>;

    /// Applies `events` to the clinic's book atomically if its version is still `expected`
    /// (`None`: no book stored yet), and returns the new version. An empty `events` writes
    /// nothing and returns the current version after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::NotFound`] for an empty
    /// commit with `expected` `None` on a missing book, [`StoreError::Backend`].
    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        events: &[AppointmentEvent],
    ) -> Result<Version, StoreError>;

    /// Up to `limit` clinics with a stored book and an id greater than `after`, in
    /// ascending order: how erasure finds every book that may hold a patient's answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn book_clinics(
        &self,
        after: Option<ClinicId>,
        limit: usize,
    ) -> Result<Vec<ClinicId>, StoreError>;
}

/// Checks `expected` against the stored version and applies `events` to the stored book (or
/// a new, empty one). `Ok(None)` means the commit is valid and writes nothing. Every adapter
/// runs this inside its transaction.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version.
pub fn stage_book_commit(
    clinic: ClinicId,
    current: Option<Versioned<AppointmentBook>>,
    expected: Option<Version>,
    events: &[AppointmentEvent],
) -> Result<Option<Versioned<AppointmentBook>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut book = current
        .map(|v| v.value)
        .unwrap_or_else(|| AppointmentBook::new(clinic));
    for e in events {
        crate::appointment::apply(&mut book, e);
    }
    Ok(Some(Versioned {
        value: book,
        version: Version::after(expected)?,
    }))
}

/// Where complaints and feedback are kept: complaints as versioned aggregates, feedback as
/// append-only records keyed by their ids (appending a stored record again is a no-op; the
/// same id with other content is [`StoreError::RecordConflict`]).
///
/// Comments and notes are personal data. Erasing a patient ([`super::erase_patient`])
/// commits [`Complaint::anonymise`]'s event to each of their complaints, and
/// [`erase_feedback_comments`](Self::erase_feedback_comments) removes the comment of
/// every feedback record of theirs, keeping the scores, ids and times the NPS and CSAT
/// read. The store remembers that erasure, as [`PurchaseStore`](super::PurchaseStore)
/// does: feedback of that patient appended later (a late import, a replay) is stored
/// without its comment, and matches the erased record.
pub trait FeedbackStore {
    /// Loads a complaint and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get_complaint(&self, id: ComplaintId) -> Result<Option<Versioned<Complaint>>, StoreError>;

    /// Applies `events` to the complaint atomically if its version is still `expected`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::NotFound`] for events
    /// that leave no complaint (or an empty commit with `expected` `None`),
    /// [`StoreError::Backend`].
    fn commit_complaint(
        &mut self,
        id: ComplaintId,
        expected: Option<Version>,
        events: &[ComplaintEvent],
    ) -> Result<Version, StoreError>;

    /// Up to `limit` complaints with ids greater than `after`, in id order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan_complaints(
        &self,
        after: Option<ComplaintId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Complaint>>, StoreError>;

    /// Appends feedback records, all or nothing, and returns how many were new.
    ///
    /// # Errors
    ///
    /// [`StoreError::RecordConflict`] when an id is stored (or repeated in the batch) with
    /// other content; [`StoreError::Backend`] for an instant out of range or a backend failure.
    fn append_feedback(&mut self, records: &[Feedback]) -> Result<usize, StoreError>;

    /// Up to `limit` feedback records with ids greater than `after`, in id order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn feedback_page(
        &self,
        after: Option<FeedbackId>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError>;

    /// Removes the comment of every feedback record of `patient`, and of every record of
    /// theirs appended later, and returns how many stored records it rewrote. Idempotent:
    /// erasing twice rewrites nothing. An adapter must leave no copy of the old comments
    /// in its storage.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn erase_feedback_comments(&mut self, patient: PatientId) -> Result<usize, StoreError>;
}

/// A feedback record as stored for a patient whose data was erased: no comment.
#[must_use]
pub fn erased_feedback(f: &Feedback) -> Feedback {
    Feedback {
        comment: None,
        ..f.clone()
    }
}

/// Checks `expected` and applies complaint events, as [`stage_book_commit`] does for books.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version; [`StoreError::NotFound`] when the events
/// leave no complaint.
pub fn stage_complaint_commit(
    id: ComplaintId,
    current: Option<Versioned<Complaint>>,
    expected: Option<Version>,
    events: &[ComplaintEvent],
) -> Result<Option<Versioned<Complaint>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut state = current.map(|v| v.value);
    for e in events {
        crate::feedback::apply(&mut state, e);
    }
    let value = state
        .filter(|c| c.opened.id == id)
        .ok_or_else(|| StoreError::NotFound {
            what: "complaint",
            key: id.to_string(),
        })?;
    Ok(Some(Versioned {
        value,
        version: Version::after(expected)?,
    }))
}

/// Stages a feedback batch against what is stored: the records to write (new ones, once
/// each), in batch order. A record of a patient whose comments were erased (`erased` says
/// whose) is staged, and compared, without its comment.
///
/// # Errors
///
/// [`StoreError::RecordConflict`] for an id stored or repeated with other content;
/// [`StoreError::Backend`] for an instant out of range, or what `erased` or `current`
/// returns.
pub fn stage_feedback_append<E, F>(
    records: &[Feedback],
    mut erased: E,
    mut current: F,
) -> Result<Vec<Feedback>, StoreError>
where
    E: FnMut(PatientId) -> Result<bool, StoreError>,
    F: FnMut(FeedbackId) -> Result<Option<Feedback>, StoreError>,
{
    let mut out: Vec<Feedback> = vec![];
    // Where each id staged so far sits in `out`: a batch repeating ids is checked in
    // O(n log n), not by a scan of `out` per record.
    let mut staged: std::collections::BTreeMap<FeedbackId, usize> = Default::default();
    for r in records {
        let cleaned;
        let r = if r.comment.is_some() && erased(r.patient)? {
            cleaned = erased_feedback(r);
            &cleaned
        } else {
            r
        };
        crate::feedback::check(r).map_err(StoreError::backend)?;
        let conflict = || StoreError::RecordConflict {
            what: "feedback",
            id: r.id.to_string(),
        };
        if let Some(prev) = staged.get(&r.id).and_then(|&i| out.get(i)) {
            if prev != r {
                return Err(conflict());
            }
            continue;
        }
        match current(r.id)? {
            Some(stored) if stored == *r => {}
            Some(_) => return Err(conflict()),
            None => {
                staged.insert(r.id, out.len());
                out.push(r.clone());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{ClinicId, DoctorId, VisitId};
    use crate::metrics::satisfaction::NpsScore;

    fn feedback(id: u64, score: i64) -> Feedback {
        Feedback {
            id: FeedbackId::new(id),
            patient: PatientId::new(id % 3),
            visit: VisitId::new(id),
            doctor: DoctorId::new(1),
            clinic: ClinicId::new(1),
            score: NpsScore::new(score).unwrap_or_else(|e| panic!("{e}")),
            csat: None,
            comment: None,
            at: chrono::DateTime::from_timestamp(1_772_416_800, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_batch_repeating_ids_stages_each_once_and_refuses_other_content() {
        let batch: Vec<Feedback> = (0..2_000).map(|i| feedback(i % 500, 7)).collect();
        let staged = stage_feedback_append(&batch, |_| Ok(false), |_| Ok(None))
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<u64> = staged.iter().map(|f| f.id.get()).collect();
        assert_eq!(ids, (0..500).collect::<Vec<_>>());
        let clash = [feedback(1, 7), feedback(2, 7), feedback(1, 8)];
        assert!(matches!(
            stage_feedback_append(&clash, |_| Ok(false), |_| Ok(None)),
            Err(StoreError::RecordConflict {
                what: "feedback",
                ..
            })
        ));
    }
}
