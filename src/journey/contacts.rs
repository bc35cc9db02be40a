//! The journey layer's glue for staff contacts: a contact change or a staff member leaving,
//! decided by [`relationship`](crate::relationship) against the clinic's contact book.
//!
//! The configured roster does not change while the clinic runs; the accounts a resigned
//! handover marked as left are kept in the clinic's state ([`Clinic::departed`]) and
//! marked on a copy of the roster whenever a decision names one of them, so a doctor who
//! left cannot add a patient or receive a transfer afterwards.
//!
//! [`Clinic::departed`]: super::Clinic::departed

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::layer::Implications;
use super::{JourneyConfig, JourneyError};
use crate::id::{PatientId, StaffId};
use crate::relationship::{
    self, ContactBook, ContactCommand, ContactPool, Handover, StaffRoster, TransferMode,
};

/// The configured roster with every departed account marked as left; borrowed (no copy)
/// when the decision names none of them, the common case.
fn roster<'a>(
    config: &'a JourneyConfig,
    departed: &BTreeSet<StaffId>,
    named: &[StaffId],
) -> Cow<'a, StaffRoster> {
    if !named.iter().any(|s| departed.contains(s)) {
        return Cow::Borrowed(&config.staff);
    }
    let mut roster = config.staff.clone();
    for s in departed {
        roster.mark_left(*s);
    }
    Cow::Owned(roster)
}

/// `Contact`: one patient's contact command, decided against their pool.
pub(crate) fn contact_step(
    book: &ContactBook,
    departed: &BTreeSet<StaffId>,
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
    let named: &[StaffId] = match command {
        ContactCommand::Add { staff, .. }
        | ContactCommand::RemoveByPatient { staff }
        | ContactCommand::RemoveByStaff { staff } => &[*staff],
        ContactCommand::Transfer { from, to, .. } => &[*from, *to],
        _ => &[],
    };
    let roster = roster(config, departed, named);
    let events = relationship::decide(pool, command, at, &roster, &config.transfer_rules)?;
    step.contacts
        .extend(events.into_iter().map(|e| (patient, e)));
    Ok(())
}

/// `StaffLeft`: the handover of the departing account's patients. The roster is the
/// configured one with the departing account and every account that left before marked
/// as left (a resigned-staff transfer needs the departing account to have left; a
/// colleague who left takes nobody). A resigned handover records the departure in
/// [`Implications::departed`]. Every patient gets a transfer or a refusal; the refusals
/// and the messages go to the host.
pub(crate) fn staff_left_step(
    book: &ContactBook,
    departed: &BTreeSet<StaffId>,
    config: &JourneyConfig,
    handover: &Handover,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let mut roster = config.staff.clone();
    for s in departed {
        roster.mark_left(*s);
    }
    if handover.mode == TransferMode::Resigned {
        roster.mark_left(handover.departing);
        step.departed = Some(handover.departing);
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
