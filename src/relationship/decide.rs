//! The contact commands and their decision.

use chrono::{DateTime, Utc};

use super::{
    ContactEvent, ContactPool, DeclineOutcome, RelationshipError, StaffRoster, TransferMode,
    TransferRules,
};
use crate::id::StaffId;
use crate::text::Label;

/// What a host asks of one patient's contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactCommand {
    /// Record that an account and the patient became contacts.
    Add {
        /// The account.
        staff: StaffId,
        /// The channel code it came through.
        channel: Option<Label>,
    },
    /// The patient deleted the account.
    RemoveByPatient {
        /// The account.
        staff: StaffId,
    },
    /// The account deleted the patient.
    RemoveByStaff {
        /// The account.
        staff: StaffId,
    },
    /// Start a transfer of the contact from one account to another.
    Transfer {
        /// The account handing over.
        from: StaffId,
        /// The successor.
        to: StaffId,
        /// On-job or resigned.
        mode: TransferMode,
    },
    /// The patient declined the pending transfer.
    Decline,
    /// Let a pending transfer take effect if its window has closed (the host's timer, or
    /// WeCom's "takeover done" callback). Decides nothing otherwise.
    Settle,
}

/// Decides a contact command against the patient's pool. Never changes the pool.
///
/// - `Add` is idempotent: an account that holds the patient already decides nothing.
/// - `Transfer` needs `from` to hold the patient, `to` to be an active account other than
///   `from`, no transfer pending, the mode's limit not reached, and for a resigned transfer
///   `from` to have left. A successor's capacity is the handover's to check, as it knows
///   every patient's load ([`plan_handover`](super::plan_handover)).
/// - `Decline` inside the window ends the transfer; with [`DeclineOutcome::ContactLost`]
///   the original contact ends as well (a `RemovedByStaff` of it follows).
/// - `Settle` at or after the window's end completes it. Any other command decided after
///   the window's end completes it first (the completion event comes first), so the log
///   stays in time order whenever the host's timer fires.
///
/// # Errors
///
/// [`RelationshipError::UnknownStaff`], [`RelationshipError::StaffLeft`] (adding or
/// taking over with an account that left), [`RelationshipError::StaffNotLeft`],
/// [`RelationshipError::NotHeld`], [`RelationshipError::SelfTransfer`],
/// [`RelationshipError::TransferPending`], [`RelationshipError::OverTransferLimit`],
/// [`RelationshipError::NoPendingTransfer`], [`RelationshipError::DeclineWindowClosed`].
pub fn decide(
    pool: &ContactPool,
    command: &ContactCommand,
    at: DateTime<Utc>,
    roster: &StaffRoster,
    rules: &TransferRules,
) -> Result<Vec<ContactEvent>, RelationshipError> {
    if *command == ContactCommand::Decline {
        return decide_decline(pool, at, rules);
    }
    match settle_due(pool, at) {
        None => decide_now(pool, command, at, roster, rules),
        Some((settled, done)) => {
            let mut events = vec![done];
            events.extend(decide_now(&settled, command, at, roster, rules)?);
            Ok(events)
        }
    }
}

/// A transfer whose window closed by `at` takes effect before anything else is decided,
/// so its completion (at the window's end) never comes after a later event in the log:
/// the pool after it, and the completion event.
pub(crate) fn settle_due(
    pool: &ContactPool,
    at: DateTime<Utc>,
) -> Option<(ContactPool, ContactEvent)> {
    let p = pool.pending().filter(|p| at >= p.settles_at)?;
    let done = ContactEvent::TransferCompleted { at: p.settles_at };
    let mut settled = pool.clone();
    super::apply(&mut settled, &done);
    Some((settled, done))
}

fn decide_now(
    pool: &ContactPool,
    command: &ContactCommand,
    at: DateTime<Utc>,
    roster: &StaffRoster,
    rules: &TransferRules,
) -> Result<Vec<ContactEvent>, RelationshipError> {
    match command {
        ContactCommand::Add { staff, channel } => {
            roster.active(*staff)?;
            if pool.is_held_by(*staff) {
                return Ok(Vec::new());
            }
            Ok(vec![ContactEvent::Added {
                staff: *staff,
                channel: channel.clone(),
                at,
            }])
        }
        ContactCommand::RemoveByPatient { staff } => {
            holder(pool, roster, *staff)?;
            Ok(vec![ContactEvent::RemovedByPatient { staff: *staff, at }])
        }
        ContactCommand::RemoveByStaff { staff } => {
            holder(pool, roster, *staff)?;
            Ok(vec![ContactEvent::RemovedByStaff { staff: *staff, at }])
        }
        ContactCommand::Transfer { from, to, mode } => {
            check_transfer(pool, *from, *to, *mode, at, roster, rules)?;
            Ok(vec![ContactEvent::TransferStarted {
                from: *from,
                to: *to,
                mode: *mode,
                at,
                settles_at: rules.settles_at(*mode, at),
            }])
        }
        ContactCommand::Decline => decide_decline(pool, at, rules),
        ContactCommand::Settle => Ok(match pool.pending() {
            Some(p) if at >= p.settles_at => {
                vec![ContactEvent::TransferCompleted { at: p.settles_at }]
            }
            _ => Vec::new(),
        }),
    }
}

fn holder(
    pool: &ContactPool,
    roster: &StaffRoster,
    staff: StaffId,
) -> Result<(), RelationshipError> {
    roster.account(staff)?;
    if !pool.is_held_by(staff) {
        return Err(RelationshipError::NotHeld {
            staff,
            patient: pool.patient(),
        });
    }
    Ok(())
}

/// Every check of a transfer but the successor's capacity.
///
/// # Errors
///
/// As [`decide`] for `Transfer`.
pub(crate) fn check_transfer(
    pool: &ContactPool,
    from: StaffId,
    to: StaffId,
    mode: TransferMode,
    at: DateTime<Utc>,
    roster: &StaffRoster,
    rules: &TransferRules,
) -> Result<(), RelationshipError> {
    check_source(pool, from, mode, at, roster, rules)?;
    roster.active(to)?;
    if from == to {
        return Err(RelationshipError::SelfTransfer {
            staff: from,
            patient: pool.patient(),
        });
    }
    Ok(())
}

/// The checks of a transfer that do not depend on the successor.
///
/// # Errors
///
/// [`RelationshipError::UnknownStaff`], [`RelationshipError::StaffNotLeft`],
/// [`RelationshipError::NotHeld`], [`RelationshipError::TransferPending`],
/// [`RelationshipError::OverTransferLimit`].
pub(crate) fn check_source(
    pool: &ContactPool,
    from: StaffId,
    mode: TransferMode,
    at: DateTime<Utc>,
    roster: &StaffRoster,
    rules: &TransferRules,
) -> Result<(), RelationshipError> {
    let source = roster.account(from)?;
    if mode == TransferMode::Resigned && source.is_active() {
        return Err(RelationshipError::StaffNotLeft { staff: from });
    }
    if !pool.is_held_by(from) {
        return Err(RelationshipError::NotHeld {
            staff: from,
            patient: pool.patient(),
        });
    }
    if let Some(p) = pool.pending() {
        return Err(RelationshipError::TransferPending {
            patient: pool.patient(),
            until: p.settles_at,
        });
    }
    pool.check_limit(rules, mode, at)
}

fn decide_decline(
    pool: &ContactPool,
    at: DateTime<Utc>,
    rules: &TransferRules,
) -> Result<Vec<ContactEvent>, RelationshipError> {
    let Some(p) = pool.pending() else {
        return Err(RelationshipError::NoPendingTransfer {
            patient: pool.patient(),
        });
    };
    if at >= p.settles_at {
        return Err(RelationshipError::DeclineWindowClosed {
            patient: pool.patient(),
            closed: p.settles_at,
        });
    }
    let mut events = vec![ContactEvent::TransferDeclined { at }];
    if rules.mode(p.mode).on_decline == DeclineOutcome::ContactLost {
        events.push(ContactEvent::RemovedByStaff { staff: p.from, at });
    }
    Ok(events)
}
