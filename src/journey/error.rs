//! The journey layer's refusals.

use crate::id::{ClinicId, ComplaintId, PatientId, PurchaseId, VisitId};
use crate::money::Yuan;

use super::keys::EventKey;

/// Why the journey layer refused a clinic event. A module's refusal keeps its own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// The patient command was refused.
    #[error(transparent)]
    Patient(#[from] crate::patient::PatientError),
    /// The ledger refused a command.
    #[error(transparent)]
    Points(#[from] crate::points::PointsError),
    /// An outreach event refused the command (issue 20).
    #[error(transparent)]
    OutreachEvent(#[from] crate::event::OutreachEventError),
    /// The referral binding was refused.
    #[error(transparent)]
    Bind(#[from] crate::referral::BindError),
    /// The campaign evaluation failed.
    #[error(transparent)]
    Campaign(#[from] crate::campaign::CampaignError),
    /// Building the patient's facts failed.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    /// A contact command or handover was refused.
    #[error(transparent)]
    Relationship(#[from] crate::relationship::RelationshipError),
    /// Planning follow-ups failed.
    #[error(transparent)]
    FollowUp(#[from] crate::followup::FollowUpError),
    /// The appointment book refused the command.
    #[error(transparent)]
    Appointment(#[from] crate::appointment::AppointmentError),
    /// The complaint refused the command.
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
    /// A content sequence refused the command (issue 20).
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    /// A content sequence the configuration does not hold (issue 20).
    #[error("sequence {sequence} is not configured")]
    UnknownSequence {
        /// The sequence.
        sequence: crate::id::SequenceId,
    },
    /// A booking at a clinic the configuration holds no schedule for.
    #[error("clinic {clinic} has no appointment schedule")]
    NoSchedule {
        /// The clinic.
        clinic: ClinicId,
    },
    /// A complaint opened under another id than the event names.
    #[error("complaint event for {given} opens complaint {opened}")]
    ComplaintIdMismatch {
        /// The id the event names.
        given: ComplaintId,
        /// The id the command opens.
        opened: ComplaintId,
    },
    /// The patient is not registered.
    #[error("patient {patient} is not registered")]
    UnknownPatient {
        /// The patient.
        patient: PatientId,
    },
    /// The patient was anonymised (erased): nothing new that holds personal data (a
    /// booking with its intake answers, a complaint, feedback, a seat at an event) is
    /// recorded about them. A person who comes back registers again.
    #[error("patient {patient} was anonymised: nothing new is recorded about them")]
    Anonymised {
        /// The patient.
        patient: PatientId,
    },
    /// The purchase is not known.
    #[error("purchase {purchase} is not known")]
    UnknownPurchase {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// The visit a purchase names is not known, or is another patient's.
    #[error("visit {visit} is not a visit of patient {patient}")]
    UnknownVisit {
        /// The visit.
        visit: VisitId,
        /// The purchasing patient.
        patient: PatientId,
    },
    /// A visit or purchase id was used before for a different record.
    #[error("{what} {id} was recorded before with other content")]
    DuplicateRecord {
        /// `visit` or `purchase`.
        what: &'static str,
        /// The id.
        id: u64,
    },
    /// A refund would exceed what was paid.
    #[error(
        "refund of ¥{amount} on purchase {purchase} exceeds ¥{paid} paid less ¥{refunded} refunded"
    )]
    OverRefund {
        /// The purchase.
        purchase: PurchaseId,
        /// What was paid.
        paid: Yuan,
        /// Refunded before.
        refunded: Yuan,
        /// This refund.
        amount: Yuan,
    },
    /// A refund of nothing.
    #[error("refund of ¥0 on purchase {purchase}")]
    ZeroRefund {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// The event key was used before for a different event.
    #[error("event key {key} was used before for a different event")]
    KeyReused {
        /// The key.
        key: EventKey,
    },
}
