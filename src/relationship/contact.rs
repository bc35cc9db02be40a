//! A patient's contact pool: the events of the staff accounts that hold them, and the pure
//! view of who holds them now.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{RelationshipError, TransferMode, TransferRules};
use crate::calendar::in_range;
use crate::id::{PatientId, StaffId};
use crate::text::Label;

/// What happened to one of a patient's contacts. Stored per patient (the patient is the
/// stream's key, see [`ContactLog`]), in the order decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContactEvent {
    /// The patient added the account (or the account added the patient).
    Added {
        /// The account.
        staff: StaffId,
        /// The channel code it came through, like WeCom's "contact me" `state`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Label>,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient deleted the account.
    RemovedByPatient {
        /// The account.
        staff: StaffId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The account deleted the patient.
    RemovedByStaff {
        /// The account.
        staff: StaffId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A transfer started: it takes effect at `settles_at` unless the patient declines.
    TransferStarted {
        /// The account handing over.
        from: StaffId,
        /// The successor.
        to: StaffId,
        /// On-job or resigned.
        mode: TransferMode,
        /// When it started.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
        /// When it takes effect.
        #[serde(with = "in_range::instant")]
        settles_at: DateTime<Utc>,
    },
    /// The patient declined the pending transfer.
    TransferDeclined {
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The pending transfer took effect: the successor holds the contact.
    TransferCompleted {
        /// When (the pending transfer's `settles_at`).
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
}

impl ContactEvent {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ContactEvent::Added { at, .. }
            | ContactEvent::RemovedByPatient { at, .. }
            | ContactEvent::RemovedByStaff { at, .. }
            | ContactEvent::TransferStarted { at, .. }
            | ContactEvent::TransferDeclined { at }
            | ContactEvent::TransferCompleted { at } => *at,
        }
    }
}

/// How an account came to hold the contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldingSource {
    /// Added directly, through this channel code.
    Added(Option<Label>),
    /// Taken over from another account.
    Transferred {
        /// The account it came from.
        from: StaffId,
    },
}

/// One account's hold on a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holding {
    /// Since when.
    pub since: DateTime<Utc>,
    /// How.
    pub source: HoldingSource,
}

/// A transfer waiting for its decline window to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PendingTransfer {
    /// The account handing over.
    pub from: StaffId,
    /// The successor.
    pub to: StaffId,
    /// On-job or resigned.
    pub mode: TransferMode,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it takes effect.
    pub settles_at: DateTime<Utc>,
}

/// A declined transfer, kept so a handover does not push the patient again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeclinedTransfer {
    /// The account the transfer was from.
    pub from: StaffId,
    /// The successor refused.
    pub to: StaffId,
    /// When.
    pub at: DateTime<Utc>,
}

/// The most transfer starts kept per patient for the limit: older ones fall outside any
/// period a rule accepts long before this many accumulate.
const MAX_KEPT_TRANSFERS: usize = 64;

/// Who holds one patient, through which accounts, since when: the state of the contact
/// aggregate, built only by [`apply`] from the patient's [`ContactEvent`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactPool {
    patient: PatientId,
    holders: BTreeMap<StaffId, Holding>,
    pending: Option<PendingTransfer>,
    /// Transfer starts not declined, oldest first, for the limit (on-job only).
    counted: Vec<(DateTime<Utc>, TransferMode)>,
    declined: Vec<DeclinedTransfer>,
}

impl ContactPool {
    /// A patient nobody holds.
    pub fn new(patient: PatientId) -> Self {
        ContactPool {
            patient,
            holders: BTreeMap::new(),
            pending: None,
            counted: Vec::new(),
            declined: Vec::new(),
        }
    }

    /// The pool a log leaves.
    pub fn from_log(log: &ContactLog) -> Self {
        let mut pool = ContactPool::new(log.patient);
        for e in &log.events {
            apply(&mut pool, e);
        }
        pool
    }

    /// The pool the events up to `at` (inclusive) leave: the view at an earlier instant,
    /// for an index over time.
    pub fn as_of(log: &ContactLog, at: DateTime<Utc>) -> Self {
        let mut pool = ContactPool::new(log.patient);
        for e in log.events.iter().take_while(|e| e.at() <= at) {
            apply(&mut pool, e);
        }
        pool
    }

    /// The patient.
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// The accounts that hold the patient, in id order. A pending transfer's source still
    /// holds until it settles.
    pub fn holders(&self) -> impl Iterator<Item = (StaffId, &Holding)> {
        self.holders.iter().map(|(s, h)| (*s, h))
    }

    /// Whether `staff` holds the patient.
    pub fn is_held_by(&self, staff: StaffId) -> bool {
        self.holders.contains_key(&staff)
    }

    /// Whether anyone holds the patient.
    pub fn is_held(&self) -> bool {
        !self.holders.is_empty()
    }

    /// The pending transfer, if any.
    pub fn pending(&self) -> Option<&PendingTransfer> {
        self.pending.as_ref()
    }

    /// The declined transfers.
    pub fn declined(&self) -> &[DeclinedTransfer] {
        &self.declined
    }

    /// Transfers of `mode` started and not declined in the rule's period ending at `at`.
    pub fn transfers_in(&self, mode: TransferMode, days: u32, at: DateTime<Utc>) -> u32 {
        let start = at
            .checked_sub_signed(Duration::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let n = self
            .counted
            .iter()
            .filter(|(t, m)| *m == mode && *t > start && *t <= at)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Checks a new transfer of `mode` at `at` against the rules' limit.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::OverTransferLimit`] when it would exceed it.
    pub fn check_limit(
        &self,
        rules: &TransferRules,
        mode: TransferMode,
        at: DateTime<Utc>,
    ) -> Result<(), RelationshipError> {
        let Some(limit) = rules.mode(mode).limit else {
            return Ok(());
        };
        let count = self.transfers_in(mode, limit.days, at);
        if count >= limit.count {
            return Err(RelationshipError::OverTransferLimit {
                patient: self.patient,
                count,
                limit: limit.count,
                days: limit.days,
            });
        }
        Ok(())
    }
}

/// Applies one event. Never fails: an event that does not fit the state (removing an
/// account that does not hold the patient, settling with nothing pending) changes nothing.
pub fn apply(pool: &mut ContactPool, event: &ContactEvent) {
    match event {
        ContactEvent::Added { staff, channel, at } => {
            pool.holders.entry(*staff).or_insert_with(|| Holding {
                since: *at,
                source: HoldingSource::Added(channel.clone()),
            });
        }
        ContactEvent::RemovedByPatient { staff, .. }
        | ContactEvent::RemovedByStaff { staff, .. } => {
            pool.holders.remove(staff);
            // A transfer of a contact that no longer exists cannot take effect.
            if pool.pending.is_some_and(|p| p.from == *staff) {
                pool.pending = None;
            }
        }
        ContactEvent::TransferStarted {
            from,
            to,
            mode,
            at,
            settles_at,
        } => {
            if pool.pending.is_none() && pool.holders.contains_key(from) {
                pool.pending = Some(PendingTransfer {
                    from: *from,
                    to: *to,
                    mode: *mode,
                    started: *at,
                    settles_at: *settles_at,
                });
                if pool.counted.len() >= MAX_KEPT_TRANSFERS {
                    pool.counted.remove(0);
                }
                pool.counted.push((*at, *mode));
            }
        }
        ContactEvent::TransferDeclined { at } => decline(pool, *at),
        ContactEvent::TransferCompleted { at } => complete(pool, *at),
    }
}

fn decline(pool: &mut ContactPool, at: DateTime<Utc>) {
    let Some(p) = pool.pending.take() else {
        return;
    };
    if let Some(i) = pool.counted.iter().rposition(|(t, _)| *t == p.started) {
        pool.counted.remove(i);
    }
    if pool.declined.len() >= MAX_KEPT_TRANSFERS {
        pool.declined.remove(0);
    }
    pool.declined.push(DeclinedTransfer {
        from: p.from,
        to: p.to,
        at,
    });
    // What a decline leaves is a rule of the mode; it is recorded in the event's effect
    // by the decision (a `RemovedByStaff` follows a lost resigned contact), so `apply`
    // needs no rules.
}

fn complete(pool: &mut ContactPool, at: DateTime<Utc>) {
    let Some(p) = pool.pending.take() else {
        return;
    };
    pool.holders.remove(&p.from);
    pool.holders.entry(p.to).or_insert(Holding {
        since: at,
        source: HoldingSource::Transferred { from: p.from },
    });
}

/// The most events kept in one patient's log.
pub const MAX_CONTACT_EVENTS: usize = 10_000;

/// One patient's contact events, in order: what a [`ContactStore`](crate::store::ContactStore)
/// keeps. The pool is a pure function of it ([`ContactPool::from_log`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawContactLog")]
pub struct ContactLog {
    patient: PatientId,
    events: Vec<ContactEvent>,
}

#[derive(Deserialize)]
struct RawContactLog {
    patient: PatientId,
    events: Vec<ContactEvent>,
}

impl TryFrom<RawContactLog> for ContactLog {
    type Error = RelationshipError;
    fn try_from(r: RawContactLog) -> Result<Self, Self::Error> {
        let mut log = ContactLog::new(r.patient);
        log.append(&r.events)?;
        Ok(log)
    }
}

impl ContactLog {
    /// An empty log.
    pub fn new(patient: PatientId) -> Self {
        ContactLog {
            patient,
            events: Vec::new(),
        }
    }

    /// The patient.
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// The events, in order.
    pub fn events(&self) -> &[ContactEvent] {
        &self.events
    }

    /// Appends events decided against this log's pool.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::TooMany`] past [`MAX_CONTACT_EVENTS`];
    /// [`RelationshipError::OutOfRange`] for an event earlier than the last one (the log
    /// is in time order, so the view at an instant is a prefix of it). Nothing is appended
    /// on an error.
    pub fn append(&mut self, events: &[ContactEvent]) -> Result<(), RelationshipError> {
        let len = self.events.len().saturating_add(events.len());
        if len > MAX_CONTACT_EVENTS {
            return Err(RelationshipError::TooMany {
                what: "contact log",
                len,
                max: MAX_CONTACT_EVENTS,
            });
        }
        let mut last = self.events.last().map(ContactEvent::at);
        for e in events {
            if last.is_some_and(|l| e.at() < l) {
                return Err(RelationshipError::OutOfRange {
                    field: "contact event at",
                    value: e.at().to_rfc3339(),
                    reason: "earlier than the log's last event",
                });
            }
            last = Some(e.at());
        }
        self.events.extend_from_slice(events);
        Ok(())
    }
}
