//! The journey layer's glue for staff contacts: a contact change or a staff member leaving,
//! decided by [`relationship`](crate::relationship) against the clinic's contact book.

use chrono::{DateTime, Utc};

use super::layer::Implications;
use super::{JourneyConfig, JourneyError};
use crate::id::PatientId;
use crate::relationship::{self, ContactBook, ContactCommand, ContactPool, Handover, TransferMode};

/// `Contact`: one patient's contact command, decided against their pool.
pub(crate) fn contact_step(
    book: &ContactBook,
    config: &JourneyConfig,
    patient: PatientId,
    command: &ContactCommand,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let empty;
    let pool = match book.get(patient) {
        Some(p) => p,
        None => {
            empty = ContactPool::new(patient);
            &empty
        }
    };
    let (roster, rules) = (&config.staff, &config.transfer_rules);
    let events = relationship::decide(pool, command, at, roster, rules)?;
    step.contacts
        .extend(events.into_iter().map(|e| (patient, e)));
    Ok(())
}

/// `StaffLeft`: the handover of the departing account's patients. The roster is the
/// configured one with the departing account marked as left (a resigned-staff transfer
/// needs it to have left; the host's next configuration carries the same mark). Every
/// patient gets a transfer or a refusal; the refusals and the messages go to the host.
pub(crate) fn staff_left_step(
    book: &ContactBook,
    config: &JourneyConfig,
    handover: &Handover,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let mut roster = config.staff.clone();
    if handover.mode == TransferMode::Resigned {
        roster.mark_left(handover.departing);
    }
    let plan = relationship::plan_handover(book, handover, at, &roster, &config.transfer_rules)?;
    for t in plan.transfers {
        step.contacts
            .extend(t.events.into_iter().map(|e| (t.patient, e)));
    }
    step.handover_refusals.extend(plan.refusals);
    step.handover_messages.extend(plan.messages);
    Ok(())
}
