//! The one error of the relationship module.

use crate::id::{GroupId, PatientId, StaffId};

/// A contact, handover or group command or value was refused.
///
/// Patient ids are pseudonymous and named as they are; no personal value of a patient
/// reaches these messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelationshipError {
    /// The staff account is not on the roster.
    #[error("staff {staff} is not on the roster")]
    UnknownStaff {
        /// The account.
        staff: StaffId,
    },
    /// The staff account has left and can no longer add or take over contacts.
    #[error("staff {staff} has left")]
    StaffLeft {
        /// The account.
        staff: StaffId,
    },
    /// A resigned-staff transfer names a departing account that is still active.
    #[error("staff {staff} has not left: use an on-job transfer")]
    StaffNotLeft {
        /// The account.
        staff: StaffId,
    },
    /// The patient is not among the patients the command may touch.
    #[error("patient {patient} is unknown")]
    UnknownPatient {
        /// The patient.
        patient: PatientId,
    },
    /// The staff account does not hold the patient.
    #[error("staff {staff} does not hold patient {patient}")]
    NotHeld {
        /// The account.
        staff: StaffId,
        /// The patient.
        patient: PatientId,
    },
    /// A transfer to the account that already holds the contact.
    #[error("patient {patient} cannot be transferred from staff {staff} to itself")]
    SelfTransfer {
        /// The account.
        staff: StaffId,
        /// The patient.
        patient: PatientId,
    },
    /// A transfer of the patient is already waiting for its decline window to close.
    #[error("patient {patient} already has a transfer pending until {until}")]
    TransferPending {
        /// The patient.
        patient: PatientId,
        /// When the pending transfer takes effect.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The patient has been transferred as often as the platform allows in the period.
    #[error("patient {patient} was transferred {count} times in {days} days, the limit is {limit}")]
    OverTransferLimit {
        /// The patient.
        patient: PatientId,
        /// Transfers counted in the period.
        count: u32,
        /// The limit.
        limit: u32,
        /// The period in days.
        days: u32,
    },
    /// The successor already holds as many contacts as its capacity allows.
    #[error("staff {staff} is at capacity ({capacity} contacts)")]
    SuccessorAtCapacity {
        /// The successor.
        staff: StaffId,
        /// Its capacity.
        capacity: u32,
    },
    /// No successor fits the handover rule.
    #[error("no successor fits the rule for patient {patient}")]
    NoSuccessor {
        /// The patient.
        patient: PatientId,
    },
    /// The patient declined a transfer away from this account already.
    #[error("patient {patient} declined the transfer from staff {staff}")]
    PatientDeclined {
        /// The patient.
        patient: PatientId,
        /// The account the patient stays with (or left).
        staff: StaffId,
    },
    /// No transfer is pending for the patient.
    #[error("patient {patient} has no pending transfer")]
    NoPendingTransfer {
        /// The patient.
        patient: PatientId,
    },
    /// The decline came after the window closed.
    #[error("patient {patient} declined after the window closed at {closed}")]
    DeclineWindowClosed {
        /// The patient.
        patient: PatientId,
        /// When the window closed.
        closed: chrono::DateTime<chrono::Utc>,
    },
    /// A group would hold more members than its platform allows.
    #[error("group {group} would hold {members} members, more than its capacity of {capacity}")]
    GroupOverCapacity {
        /// The group.
        group: GroupId,
        /// Members it would hold.
        members: u32,
        /// Its capacity.
        capacity: u32,
    },
    /// A group's membership rule names a tag the catalog does not know.
    #[error("group {group} rule references unknown tag {tag}")]
    UnknownTag {
        /// The group.
        group: GroupId,
        /// The tag.
        tag: String,
    },
    /// The group is not among the series given.
    #[error("group {group} is unknown")]
    UnknownGroup {
        /// The group series.
        group: GroupId,
    },
    /// A group's membership rule is not a valid expression.
    #[error("group {group} rule is invalid: {reason}")]
    InvalidRule {
        /// The group series.
        group: GroupId,
        /// The expression's error.
        reason: String,
    },
    /// A value out of its documented range.
    #[error("{field} {value} is out of range: {reason}")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A collection from outside is larger than its named limit.
    #[error("{what} has {len} entries, more than the limit of {max}")]
    TooMany {
        /// Which collection.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The same id was given twice.
    #[error("{what} {id} is given twice")]
    DuplicateId {
        /// What kind of id.
        what: &'static str,
        /// The id.
        id: String,
    },
}
