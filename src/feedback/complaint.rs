//! The complaint aggregate: category, severity, owner, status, service level and escalation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::FeedbackError;
use super::comment::Comment;
use super::sla::SlaPolicy;
use crate::calendar::{ClinicCalendar, check_instant};
use crate::id::{ClinicId, ComplaintId, DoctorId, FeedbackId, PatientId, StaffId, VisitId};

/// What a complaint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Waiting time (候诊时间).
    WaitingTime,
    /// Staff attitude (服务态度).
    Attitude,
    /// Treatment efficacy (疗效).
    Efficacy,
    /// Price (价格).
    Price,
    /// Environment (环境).
    Environment,
    /// Privacy (隐私).
    Privacy,
    /// Anything else.
    Other,
}

impl Category {
    /// The snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Category::WaitingTime => "waiting_time",
            Category::Attitude => "attitude",
            Category::Efficacy => "efficacy",
            Category::Price => "price",
            Category::Environment => "environment",
            Category::Privacy => "privacy",
            Category::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How serious a complaint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Minor.
    Low,
    /// The usual.
    Medium,
    /// Serious.
    High,
    /// Patient safety or privacy at stake.
    Critical,
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// Opened, not yet acknowledged.
    Open,
    /// The owner acknowledged it to the patient.
    Acknowledged,
    /// Resolved; the patient may still reopen it.
    Resolved,
    /// Closed.
    Closed,
    /// Reopened after resolution or closure.
    Reopened,
}

impl ComplaintStatus {
    /// The snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            ComplaintStatus::Open => "open",
            ComplaintStatus::Acknowledged => "acknowledged",
            ComplaintStatus::Resolved => "resolved",
            ComplaintStatus::Closed => "closed",
            ComplaintStatus::Reopened => "reopened",
        }
    }
}

/// Which clock a breach ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// The time to acknowledge.
    Acknowledge,
    /// The time to resolve.
    Resolve,
}

/// What a complaint is opened with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewComplaint {
    /// A new, host-assigned id.
    pub id: ComplaintId,
    /// The patient.
    pub patient: PatientId,
    /// The clinic.
    pub clinic: ClinicId,
    /// The doctor concerned, if any.
    #[serde(default)]
    pub doctor: Option<DoctorId>,
    /// The visit concerned, if any.
    #[serde(default)]
    pub visit: Option<VisitId>,
    /// The feedback that opened it, if any.
    #[serde(default)]
    pub feedback: Option<FeedbackId>,
    /// What about.
    pub category: Category,
    /// How serious.
    pub severity: Severity,
    /// Who owns it.
    pub owner: StaffId,
    /// The patient's words.
    #[serde(default)]
    pub comment: Option<Comment>,
}

/// A complaint: what, how serious, who owns it, where it stands and its service-level clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    /// What it was opened with.
    pub opened: NewComplaint,
    /// The owner now.
    pub owner: StaffId,
    /// Where it stands.
    pub status: ComplaintStatus,
    /// When it was opened.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub opened_at: DateTime<Utc>,
    /// When the current round started (opened or last reopened): the clocks run from here.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub round_at: DateTime<Utc>,
    /// Acknowledge by.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub acknowledge_by: DateTime<Utc>,
    /// Resolve by.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub resolve_by: DateTime<Utc>,
    /// When it was first acknowledged in this round.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was last resolved.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The clocks breached in this round, each escalated once.
    pub breached: Vec<Clock>,
    /// How often it was reopened.
    pub reopened: u16,
    /// Notes from staff and patient, in order (personal data, masked in `Debug`).
    pub notes: Vec<Comment>,
}

/// A command to a complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComplaintCommand {
    /// Open a complaint.
    Open(NewComplaint),
    /// The owner acknowledged it to the patient.
    Acknowledge,
    /// Resolved, with what was done.
    Resolve {
        /// What was done.
        note: Comment,
    },
    /// Close a resolved complaint.
    Close,
    /// Reopen a resolved or closed complaint.
    Reopen {
        /// Why.
        note: Comment,
    },
    /// Hand it to another owner.
    Reassign {
        /// The new owner.
        owner: StaffId,
    },
}

/// A fact about a complaint. Applied in order by [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComplaintEvent {
    /// Opened, with its clocks.
    Opened {
        /// What it was opened with.
        complaint: NewComplaint,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
        /// Acknowledge by.
        #[serde(with = "crate::calendar::in_range::instant")]
        acknowledge_by: DateTime<Utc>,
        /// Resolve by.
        #[serde(with = "crate::calendar::in_range::instant")]
        resolve_by: DateTime<Utc>,
    },
    /// Acknowledged.
    Acknowledged {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Resolved.
    Resolved {
        /// What was done.
        note: Comment,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Closed.
    Closed {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Reopened, with fresh clocks.
    Reopened {
        /// Why.
        note: Comment,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
        /// Acknowledge by.
        #[serde(with = "crate::calendar::in_range::instant")]
        acknowledge_by: DateTime<Utc>,
        /// Resolve by.
        #[serde(with = "crate::calendar::in_range::instant")]
        resolve_by: DateTime<Utc>,
    },
    /// Handed to another owner.
    Reassigned {
        /// The new owner.
        owner: StaffId,
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A clock ran out: escalated.
    Escalated {
        /// Which clock.
        clock: Clock,
        /// Its deadline.
        #[serde(with = "crate::calendar::in_range::instant")]
        due: DateTime<Utc>,
        /// To whom, if the policy names someone.
        to: Option<StaffId>,
        /// When it was noticed.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient was anonymised: the complaint's free text (their words and every note)
    /// is gone for good; its category, severity, owner, status and clocks stay for the
    /// metrics, keyed by the pseudonymous patient id.
    PatientErased {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

impl Complaint {
    /// Decides the event that erases the complaint's free text: none when it holds none,
    /// so erasing twice commits nothing.
    #[must_use]
    pub fn anonymise(&self, at: DateTime<Utc>) -> Vec<ComplaintEvent> {
        if self.opened.comment.is_some() || !self.notes.is_empty() {
            vec![ComplaintEvent::PatientErased { at }]
        } else {
            vec![]
        }
    }
}

/// The most notes a complaint keeps.
pub const MAX_NOTES: usize = 200;

/// Decides a command against a complaint (`None` before it is opened) at `now`, with the
/// service-level policy that sets its clocks.
///
/// Transitions: open → acknowledged → resolved → closed; open, acknowledged or reopened →
/// resolved (resolving acknowledges too); resolved or closed → reopened (with fresh clocks);
/// reassigning applies to any complaint not closed. Acknowledging again is harmless (no
/// events).
///
/// # Errors
///
/// [`FeedbackError::ComplaintExists`], [`FeedbackError::ComplaintNotFound`],
/// [`FeedbackError::NotApplicable`] naming the complaint and its state,
/// [`FeedbackError::TooManyNotes`], [`FeedbackError::Calendar`] for `now` out of range.
pub fn decide(
    complaint: Option<&Complaint>,
    command: &ComplaintCommand,
    policy: &SlaPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Result<Vec<ComplaintEvent>, FeedbackError> {
    check_instant("now", now)?;
    let c = match (complaint, command) {
        (Some(c), ComplaintCommand::Open(n)) => {
            let _ = n;
            return Err(FeedbackError::ComplaintExists {
                complaint: c.opened.id,
            });
        }
        (None, ComplaintCommand::Open(n)) => {
            return Ok(vec![ComplaintEvent::Opened {
                complaint: n.clone(),
                at: now,
                acknowledge_by: policy.acknowledge_by(now, calendar),
                resolve_by: policy.resolve_by(now, calendar),
            }]);
        }
        (None, _) => return Err(FeedbackError::ComplaintNotFound),
        (Some(c), _) => c,
    };
    let refuse = |action| FeedbackError::NotApplicable {
        complaint: c.opened.id,
        state: c.status.code(),
        action,
    };
    let note_room = |action| {
        if c.notes.len() >= MAX_NOTES {
            Err(FeedbackError::TooManyNotes {
                complaint: c.opened.id,
                max: MAX_NOTES,
                action,
            })
        } else {
            Ok(())
        }
    };
    use ComplaintStatus as S;
    let e = match command {
        ComplaintCommand::Open(_) => return Err(refuse("open")),
        ComplaintCommand::Acknowledge => match c.status {
            S::Open | S::Reopened => ComplaintEvent::Acknowledged { at: now },
            S::Acknowledged => return Ok(vec![]),
            _ => return Err(refuse("acknowledge")),
        },
        ComplaintCommand::Resolve { note } => match c.status {
            S::Open | S::Acknowledged | S::Reopened => {
                note_room("resolve")?;
                ComplaintEvent::Resolved {
                    note: note.clone(),
                    at: now,
                }
            }
            _ => return Err(refuse("resolve")),
        },
        ComplaintCommand::Close => match c.status {
            S::Resolved => ComplaintEvent::Closed { at: now },
            _ => return Err(refuse("close")),
        },
        ComplaintCommand::Reopen { note } => match c.status {
            S::Resolved | S::Closed => {
                note_room("reopen")?;
                ComplaintEvent::Reopened {
                    note: note.clone(),
                    at: now,
                    acknowledge_by: policy.acknowledge_by(now, calendar),
                    resolve_by: policy.resolve_by(now, calendar),
                }
            }
            _ => return Err(refuse("reopen")),
        },
        ComplaintCommand::Reassign { owner } => match c.status {
            S::Closed => return Err(refuse("reassign")),
            _ if *owner == c.owner => return Ok(vec![]),
            _ => ComplaintEvent::Reassigned {
                owner: *owner,
                at: now,
            },
        },
    };
    Ok(vec![e])
}

/// The escalations due at `now`: one per clock of the current round that ran out while the
/// complaint still waited on it (not acknowledged by the acknowledge deadline, not resolved
/// by the resolve deadline) and was not escalated yet. Running it again adds nothing.
#[must_use]
pub fn escalations(
    complaint: &Complaint,
    policy: &SlaPolicy,
    now: DateTime<Utc>,
) -> Vec<ComplaintEvent> {
    let waiting_ack = matches!(
        complaint.status,
        ComplaintStatus::Open | ComplaintStatus::Reopened
    );
    let waiting_resolve = !matches!(
        complaint.status,
        ComplaintStatus::Resolved | ComplaintStatus::Closed
    );
    let mut out = vec![];
    for (clock, due, waiting) in [
        (Clock::Acknowledge, complaint.acknowledge_by, waiting_ack),
        (Clock::Resolve, complaint.resolve_by, waiting_resolve),
    ] {
        if waiting && now > due && !complaint.breached.contains(&clock) {
            out.push(ComplaintEvent::Escalated {
                clock,
                due,
                to: policy.escalate_to(),
                at: now,
            });
        }
    }
    out
}

/// Applies one event. Never fails: an event that does not fit the state changes nothing.
pub fn apply(state: &mut Option<Complaint>, event: &ComplaintEvent) {
    if let ComplaintEvent::Opened {
        complaint,
        at,
        acknowledge_by,
        resolve_by,
    } = event
    {
        if state.is_none() {
            *state = Some(Complaint {
                owner: complaint.owner,
                notes: complaint.comment.iter().cloned().collect(),
                opened: complaint.clone(),
                status: ComplaintStatus::Open,
                opened_at: *at,
                round_at: *at,
                acknowledge_by: *acknowledge_by,
                resolve_by: *resolve_by,
                acknowledged_at: None,
                resolved_at: None,
                breached: vec![],
                reopened: 0,
            });
        }
        return;
    }
    let Some(c) = state.as_mut() else {
        return;
    };
    match event {
        ComplaintEvent::Opened { .. } => {}
        ComplaintEvent::Acknowledged { at } => {
            if matches!(c.status, ComplaintStatus::Open | ComplaintStatus::Reopened) {
                c.status = ComplaintStatus::Acknowledged;
                c.acknowledged_at = Some(*at);
            }
        }
        ComplaintEvent::Resolved { note, at } => {
            c.status = ComplaintStatus::Resolved;
            c.acknowledged_at = c.acknowledged_at.or(Some(*at));
            c.resolved_at = Some(*at);
            c.notes.push(note.clone());
        }
        ComplaintEvent::Closed { .. } => c.status = ComplaintStatus::Closed,
        ComplaintEvent::Reopened {
            note,
            at,
            acknowledge_by,
            resolve_by,
        } => {
            c.status = ComplaintStatus::Reopened;
            c.round_at = *at;
            c.acknowledge_by = *acknowledge_by;
            c.resolve_by = *resolve_by;
            c.acknowledged_at = None;
            c.resolved_at = None;
            c.breached.clear();
            c.reopened = c.reopened.saturating_add(1);
            c.notes.push(note.clone());
        }
        ComplaintEvent::Reassigned { owner, .. } => c.owner = *owner,
        ComplaintEvent::Escalated { clock, .. } => {
            if !c.breached.contains(clock) {
                c.breached.push(*clock);
            }
        }
        ComplaintEvent::PatientErased { .. } => {
            c.opened.comment = None;
            c.notes.clear();
        }
    }
}
