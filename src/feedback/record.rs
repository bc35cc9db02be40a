//! Feedback after a visit: a score, an optional comment, linked to visit, doctor and clinic;
//! it feeds NPS and CSAT, and a low score may open a complaint.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::FeedbackError;
use super::comment::Comment;
use super::complaint::{Category, ComplaintCommand, NewComplaint, Severity};
use crate::id::{ClinicId, ComplaintId, DoctorId, FeedbackId, PatientId, StaffId, VisitId};
use crate::metrics::satisfaction::{CsatScore, CsatTally, NpsScore, NpsTally};

/// One piece of feedback after a visit (诊后评价). Immutable once recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The feedback's id.
    pub id: FeedbackId,
    /// The patient.
    pub patient: PatientId,
    /// The visit it is about.
    pub visit: VisitId,
    /// The doctor seen.
    pub doctor: DoctorId,
    /// The clinic.
    pub clinic: ClinicId,
    /// The NPS answer, 0–10.
    pub score: NpsScore,
    /// The CSAT answer, 1–5, when asked.
    #[serde(default)]
    pub csat: Option<CsatScore>,
    /// The patient's words (personal data, masked in `Debug`).
    #[serde(default)]
    pub comment: Option<Comment>,
    /// When it was given.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
}

/// When feedback opens a complaint by itself: a score at or below `open_at_or_below` opens
/// one of `category` and `severity`, owned by `owner` (the clinic's patient-relations lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoComplaintPolicy {
    /// The highest NPS score that opens a complaint (0–10).
    pub open_at_or_below: NpsScore,
    /// The category given.
    pub category: Category,
    /// The severity given.
    pub severity: Severity,
    /// The owner.
    pub owner: StaffId,
}

/// The command that opens a complaint for a low score, if the policy says so: the complaint
/// links the feedback, visit, doctor and clinic and carries the feedback's comment. `None`
/// without a policy or for a higher score.
#[must_use]
pub fn complaint_for(
    feedback: &Feedback,
    policy: Option<&AutoComplaintPolicy>,
    id: ComplaintId,
) -> Option<ComplaintCommand> {
    let p = policy?;
    (feedback.score <= p.open_at_or_below).then(|| {
        ComplaintCommand::Open(NewComplaint {
            id,
            patient: feedback.patient,
            clinic: feedback.clinic,
            doctor: Some(feedback.doctor),
            visit: Some(feedback.visit),
            feedback: Some(feedback.id),
            category: p.category,
            severity: p.severity,
            owner: p.owner,
            comment: feedback.comment.clone(),
        })
    })
}

/// NPS and CSAT from feedback, overall and by doctor and clinic. Partial tallies over
/// disjoint feedback merge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FeedbackTally {
    /// Every answer.
    pub nps: NpsTally,
    /// Every CSAT answer.
    pub csat: CsatTally,
    /// NPS by doctor.
    pub nps_by_doctor: BTreeMap<DoctorId, NpsTally>,
    /// NPS by clinic.
    pub nps_by_clinic: BTreeMap<ClinicId, NpsTally>,
}

impl FeedbackTally {
    /// Counts one piece of feedback.
    pub fn add(&mut self, f: &Feedback) {
        self.nps.add(f.score);
        self.nps_by_doctor.entry(f.doctor).or_default().add(f.score);
        self.nps_by_clinic.entry(f.clinic).or_default().add(f.score);
        if let Some(c) = f.csat {
            self.csat.add(c);
        }
    }

    /// Adds a tally over other feedback.
    pub fn merge(&mut self, o: &FeedbackTally) {
        self.nps = self.nps.merge(o.nps);
        self.csat = self.csat.merge(o.csat);
        for (k, v) in &o.nps_by_doctor {
            let e = self.nps_by_doctor.entry(*k).or_default();
            *e = e.merge(*v);
        }
        for (k, v) in &o.nps_by_clinic {
            let e = self.nps_by_clinic.entry(*k).or_default();
            *e = e.merge(*v);
        }
    }
}

/// Checks a feedback record a host built from outside.
///
/// # Errors
///
/// [`FeedbackError::Calendar`] when `at` is out of range.
pub fn check(feedback: &Feedback) -> Result<(), FeedbackError> {
    crate::calendar::check_instant("at", feedback.at)?;
    Ok(())
}
