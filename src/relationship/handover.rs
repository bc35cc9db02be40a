//! Handover: a departing (or reassigned) account's patients to successors, by rule.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decide::{check_source, check_transfer, settle_due};
use super::{
    ContactBook, ContactEvent, ContactPool, RelationshipError, StaffAccount, StaffRoster,
    TransferMode, TransferRules,
};
use crate::id::{PatientId, StaffId};
use crate::text::{TextError, clean_text};

/// Which of the departing account's patients to hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HandoverScope {
    /// Every patient the account holds.
    All,
    /// These patients (at most [`MAX_HANDOVER_PATIENTS`]).
    Patients(Vec<PatientId>),
}

/// How successors are chosen. Every rule but `Named` balances load: each patient, in id
/// order, goes to the candidate with the fewest contacts (pending transfers to it
/// included), the lowest id on a tie, among those below capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuccessorRule {
    /// Every patient to this account.
    Named(StaffId),
    /// Active accounts of the departing account's clinic.
    SameClinic,
    /// Active accounts with the departing account's specialty, at any clinic.
    SameSpecialty,
    /// These accounts.
    Among(Vec<StaffId>),
}

/// The message a patient gets when the transfer succeeds (WeCom's
/// `transfer_success_msg`: at most 200 characters; none means the platform's default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransferNotice(String);

impl TransferNotice {
    /// The most characters WeCom accepts.
    pub const MAX_CHARS: usize = 200;

    /// Checks a notice.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, over [`Self::MAX_CHARS`] or holding a control character.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        clean_text("transfer notice", s, Self::MAX_CHARS, false).map(TransferNotice)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TransferNotice {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        TransferNotice::parse(&s)
    }
}

impl From<TransferNotice> for String {
    fn from(n: TransferNotice) -> String {
        n.0
    }
}

/// The most patients a handover names explicitly.
pub const MAX_HANDOVER_PATIENTS: usize = 1_000_000;

/// A handover command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The account whose patients go.
    pub departing: StaffId,
    /// On-job (reassignment) or resigned (the account has left).
    pub mode: TransferMode,
    /// Which patients.
    pub scope: HandoverScope,
    /// Who takes them.
    pub rule: SuccessorRule,
    /// What the patients are told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<TransferNotice>,
}

/// One patient's planned transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTransfer {
    /// The patient.
    pub patient: PatientId,
    /// The successor.
    pub to: StaffId,
    /// The events to commit to the patient's contact log.
    pub events: Vec<ContactEvent>,
}

/// A message the host sends: the platform call that starts the transfer carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverMessage {
    /// The patient told.
    pub patient: PatientId,
    /// The account handing over.
    pub from: StaffId,
    /// The successor.
    pub to: StaffId,
    /// The text, or `None` for the platform's default.
    pub notice: Option<TransferNotice>,
}

/// What a handover decided: for every patient in scope, a transfer or a typed refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct HandoverPlan {
    /// The transfers, in patient order.
    pub transfers: Vec<PlannedTransfer>,
    /// The refusals, in patient order: over the limit, successor at capacity, declined
    /// before, not held, pending, no successor.
    pub refusals: Vec<(PatientId, RelationshipError)>,
    /// The messages to send, one per transfer, in patient order.
    pub messages: Vec<HandoverMessage>,
}

impl HandoverPlan {
    /// The book after every planned transfer took effect undeclined: the "after" of the
    /// handover's before/after risk.
    pub fn settled(&self, book: &ContactBook) -> ContactBook {
        let mut after = book.clone();
        for t in &self.transfers {
            after.apply(t.patient, &t.events);
            if let Some(p) = after.get(t.patient).and_then(ContactPool::pending) {
                let done = [ContactEvent::TransferCompleted { at: p.settles_at }];
                after.apply(t.patient, &done);
            }
        }
        after
    }
}

fn candidates<'a>(
    roster: &'a StaffRoster,
    departing: &StaffAccount,
    rule: &SuccessorRule,
) -> Result<Vec<&'a StaffAccount>, RelationshipError> {
    let fits = |a: &&StaffAccount| a.is_active() && a.id != departing.id;
    Ok(match rule {
        SuccessorRule::Named(s) => vec![roster.active(*s)?],
        SuccessorRule::SameClinic => roster
            .iter()
            .filter(fits)
            .filter(|a| a.clinic == departing.clinic)
            .collect(),
        SuccessorRule::SameSpecialty => roster
            .iter()
            .filter(fits)
            .filter(|a| a.specialty.is_some() && a.specialty == departing.specialty)
            .collect(),
        SuccessorRule::Among(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids.iter().collect::<BTreeSet<_>>() {
                let a = roster.active(*id)?;
                if a.id != departing.id {
                    out.push(a);
                }
            }
            out
        }
    })
}

fn scope_patients(
    book: &ContactBook,
    handover: &Handover,
) -> Result<Vec<PatientId>, RelationshipError> {
    Ok(match &handover.scope {
        HandoverScope::All => book.patients_of(handover.departing),
        HandoverScope::Patients(ps) => {
            if ps.len() > MAX_HANDOVER_PATIENTS {
                return Err(RelationshipError::TooMany {
                    what: "handover patients",
                    len: ps.len(),
                    max: MAX_HANDOVER_PATIENTS,
                });
            }
            ps.iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        }
    })
}

/// The balancer: candidates ordered by (load, id), so the first one with room is the
/// least loaded, lowest id on a tie.
struct Balancer {
    queue: BTreeSet<(u32, StaffId)>,
    capacity: BTreeMap<StaffId, u32>,
}

impl Balancer {
    fn new(cands: &[&StaffAccount], loads: &BTreeMap<StaffId, u32>) -> Self {
        let mut queue = BTreeSet::new();
        let mut capacity = BTreeMap::new();
        for a in cands {
            queue.insert((loads.get(&a.id).copied().unwrap_or(0), a.id));
            capacity.insert(a.id, a.capacity);
        }
        Balancer { queue, capacity }
    }

    /// The least-loaded candidate with room, or the refusal.
    fn pick(&self, patient: PatientId) -> Result<StaffId, RelationshipError> {
        let Some(&(load, id)) = self.queue.first() else {
            return Err(RelationshipError::NoSuccessor { patient });
        };
        let capacity = self.capacity.get(&id).copied().unwrap_or(0);
        if load >= capacity {
            // The least loaded is full; a fuller one with a larger capacity may have room.
            return self
                .queue
                .iter()
                .find(|(l, s)| *l < self.capacity.get(s).copied().unwrap_or(0))
                .map(|(_, s)| *s)
                .ok_or(RelationshipError::SuccessorAtCapacity {
                    staff: id,
                    capacity,
                });
        }
        Ok(id)
    }

    fn took(&mut self, id: StaffId) {
        if let Some(&(load, _)) = self.queue.iter().find(|(_, s)| *s == id) {
            self.queue.remove(&(load, id));
            self.queue.insert((load.saturating_add(1), id));
        }
    }
}

fn already_declined(pool: &ContactPool, from: StaffId) -> Result<(), RelationshipError> {
    if pool.declined().iter().any(|d| d.from == from) {
        return Err(RelationshipError::PatientDeclined {
            patient: pool.patient(),
            staff: from,
        });
    }
    Ok(())
}

/// Plans a handover at `at`: for every patient in scope, in id order, either the events
/// that start a transfer to a successor (and the message to send), or a typed refusal.
/// Deterministic: the same book, roster, rules and command give the same plan.
///
/// A patient who declined a transfer away from the departing account before is refused
/// with [`RelationshipError::PatientDeclined`] rather than asked again.
///
/// # Errors
///
/// The whole command is refused (nothing planned) for an unknown departing account, an
/// unknown or departed named successor, and a scope over [`MAX_HANDOVER_PATIENTS`]; every
/// other reason is per patient, in [`HandoverPlan::refusals`].
pub fn plan_handover(
    book: &ContactBook,
    handover: &Handover,
    at: DateTime<Utc>,
    roster: &StaffRoster,
    rules: &TransferRules,
) -> Result<HandoverPlan, RelationshipError> {
    let departing = roster.account(handover.departing)?;
    let cands = candidates(roster, departing, &handover.rule)?;
    let patients = scope_patients(book, handover)?;
    let mut balancer = Balancer::new(&cands, &book.loads());
    let mut plan = HandoverPlan::default();
    let from = handover.departing;
    for patient in patients {
        let decided = book
            .get(patient)
            .ok_or(RelationshipError::UnknownPatient { patient })
            .and_then(|pool| {
                let due = settle_due(pool, at);
                let (pool, done) = match &due {
                    Some((settled, done)) => (settled, Some(done.clone())),
                    None => (pool, None),
                };
                check_source(pool, from, handover.mode, at, roster, rules)?;
                already_declined(pool, from)?;
                let to = balancer.pick(patient)?;
                check_transfer(pool, from, to, handover.mode, at, roster, rules)?;
                Ok((to, done))
            });
        match decided {
            Ok((to, done)) => {
                balancer.took(to);
                let mut events: Vec<ContactEvent> = done.into_iter().collect();
                events.push(ContactEvent::TransferStarted {
                    from,
                    to,
                    mode: handover.mode,
                    at,
                    settles_at: rules.settles_at(handover.mode, at),
                });
                plan.transfers.push(PlannedTransfer {
                    patient,
                    to,
                    events,
                });
                plan.messages.push(HandoverMessage {
                    patient,
                    from,
                    to,
                    notice: handover.notice.clone(),
                });
            }
            Err(e) => plan.refusals.push((patient, e)),
        }
    }
    Ok(plan)
}
