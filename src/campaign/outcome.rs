//! What the engine takes and gives: events, options, granted effects with provenance, and
//! the trace's outcomes.

use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

use super::book::{CapRef, GroupMode};
use super::model::{Effect, EventClass, WindowMiss};
use super::usage::{UsageAction, UsageReservation};
use crate::id::CampaignId;
use crate::money::{Points, Yuan};
use crate::patient::ConsentPurpose;
use crate::segment::Explanation;

/// What happened, as the host reports it to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum EventKind {
    /// A visit; `first` for the patient's first one.
    Visit {
        /// What the patient paid.
        paid: Yuan,
        /// Whether it is the patient's first visit.
        #[serde(default)]
        first: bool,
    },
    /// A purchase.
    Purchase {
        /// The amount paid.
        amount: Yuan,
    },
    /// A referral the patient made qualified.
    ReferralQualified,
    /// The patient's birthday.
    Birthday,
    /// The patient enrolled as a member.
    Enrollment,
    /// The patient's tier changed.
    TierChanged {
        /// The new tier code.
        to: String,
    },
    /// A follow-up came due.
    FollowUpDue,
    /// A manager broadcast one campaign.
    ManualBroadcast {
        /// The campaign broadcast.
        campaign: CampaignId,
    },
}

impl EventKind {
    /// The class of the event, which picks the campaigns to look at.
    pub fn class(&self) -> EventClass {
        match self {
            EventKind::Visit { .. } => EventClass::Visit,
            EventKind::Purchase { .. } => EventClass::Purchase,
            EventKind::ReferralQualified => EventClass::ReferralQualified,
            EventKind::Birthday => EventClass::Birthday,
            EventKind::Enrollment => EventClass::Enrollment,
            EventKind::TierChanged { .. } => EventClass::TierChanged,
            EventKind::FollowUpDue => EventClass::FollowUpDue,
            EventKind::ManualBroadcast { .. } => EventClass::ManualBroadcast,
        }
    }

    /// The amount paid, ¥0 for events without one.
    pub fn amount(&self) -> Yuan {
        match self {
            EventKind::Visit { paid, .. } => *paid,
            EventKind::Purchase { amount } => *amount,
            _ => Yuan::ZERO,
        }
    }
}

/// A trigger event with what the engine needs beyond the patient's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The points the standard earning policy gives for it, which multipliers multiply
    /// (0 when none). Negative values count as 0.
    #[serde(default)]
    pub base_points: Points,
    /// The patient's birth date, for birthday anniversaries (only month and day are read).
    #[serde(default)]
    #[serde(with = "crate::calendar::in_range::option_date")]
    pub birth_date: Option<NaiveDate>,
}

impl Event {
    /// An event with no base points and no birth date.
    pub fn new(kind: EventKind) -> Self {
        Event {
            kind,
            base_points: Points::ZERO,
            birth_date: None,
        }
    }

    /// The same event with base points for multipliers.
    pub fn with_base_points(mut self, p: Points) -> Self {
        self.base_points = p;
        self
    }

    /// The same event with the patient's birth date.
    pub fn with_birth_date(mut self, d: Option<NaiveDate>) -> Self {
        self.birth_date = d;
        self
    }
}

/// Evaluation options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalOptions {
    /// Build a trace entry for every campaign in the book.
    pub trace: bool,
}

impl EvalOptions {
    /// With the trace on.
    pub const TRACE: EvalOptions = EvalOptions { trace: true };
}

/// An amount of an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Amount {
    /// Points.
    Points(Points),
    /// Money.
    Yuan(Yuan),
    /// A number of items (coupons, gifts, tasks, messages).
    Count(u32),
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Points(p) => write!(f, "{p} pt"),
            Amount::Yuan(y) => write!(f, "¥{y}"),
            Amount::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Why a granted amount is below the desired one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cut {
    /// The cashback effect's own cap.
    EffectCap {
        /// The cap.
        cap: Yuan,
    },
    /// A budget or usage limit, with what it had left before this effect.
    Cap {
        /// Which cap.
        cap: CapRef,
        /// What it counts.
        action: UsageAction,
        /// What it had left, in its unit (points, or fen for cashback).
        left: u64,
    },
    /// The amount would overflow; it was cut to the largest representable.
    Overflow,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::EffectCap { cap } => write!(f, "cut by the effect's cap of ¥{cap}"),
            Cut::Cap {
                cap,
                action: UsageAction::Cashback,
                left,
            } => write!(
                f,
                "cut by {cap} (¥{} left)",
                Yuan::saturating_from_fen(*left)
            ),
            Cut::Cap { cap, action, left } => {
                write!(f, "cut by {cap} ({left} {} left)", action.unit())
            }
            Cut::Overflow => f.write_str("cut at the largest representable amount"),
        }
    }
}

/// One effect the host must carry out, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Granted<'b> {
    /// The campaign.
    pub campaign: CampaignId,
    /// The rule: the effect's position in the campaign's `effects`.
    pub rule: usize,
    /// The effect as written.
    pub effect: &'b Effect,
    /// What the rule asked for.
    pub desired: Amount,
    /// What is granted: at most `desired`.
    pub granted: Amount,
    /// Why `granted` is below `desired`, if it is.
    pub cut: Option<Cut>,
}

/// Why a rule of a campaign's trigger did not match the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TriggerMiss {
    /// The campaign listens to another kind of event.
    OtherEvent {
        /// What it listens to.
        listens_to: EventClass,
    },
    /// A first-visit campaign and a later visit.
    NotFirstVisit,
    /// A purchase below the minimum.
    BelowMinimum {
        /// The minimum.
        min: Yuan,
        /// What was paid.
        paid: Yuan,
    },
    /// A tier change to another tier.
    OtherTier,
    /// A broadcast of another campaign.
    OtherBroadcast,
}

/// Why a campaign applied or did not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It applied; `cut` when some effect got less than desired.
    Applied {
        /// Whether an effect was cut.
        cut: bool,
    },
    /// Outside its window.
    OutsideWindow {
        /// Why.
        miss: WindowMiss,
    },
    /// The event is not its trigger.
    NotTrigger {
        /// Why.
        miss: TriggerMiss,
    },
    /// The patient lacks a consent it needs.
    NoConsent {
        /// The missing purpose.
        purpose: ConsentPurpose,
    },
    /// The audience expression is false for the patient.
    AudienceFalse {
        /// The explanation tree (always present in a trace; the engine skips building it
        /// when the trace is off).
        explanation: Option<Box<Explanation>>,
    },
    /// A budget or usage limit has nothing left.
    CapReached {
        /// Which.
        cap: CapRef,
        /// Counted so far, in its unit.
        used: u64,
        /// Its maximum.
        max: u64,
    },
    /// A first-match group: an earlier campaign of the group applied.
    BeatenByPriority {
        /// The campaign that applied.
        by: CampaignId,
    },
    /// Its group applied another campaign: an exclusive one, or the best for the patient.
    ExcludedByGroup {
        /// The group.
        group: String,
        /// The group's mode.
        mode: GroupMode,
        /// The campaign that applied.
        by: CampaignId,
        /// Whether `by` is exclusive.
        exclusive: bool,
    },
}

impl Outcome {
    /// Whether the campaign applied.
    pub fn applied(&self) -> bool {
        matches!(self, Outcome::Applied { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied { cut: false } => f.write_str("applied"),
            Outcome::Applied { cut: true } => f.write_str("applied, with an effect cut"),
            Outcome::OutsideWindow { miss } => write!(f, "outside its window: {miss}"),
            Outcome::NotTrigger { miss } => match miss {
                TriggerMiss::OtherEvent { listens_to } => {
                    write!(f, "not its trigger: it listens to {listens_to} events")
                }
                TriggerMiss::NotFirstVisit => f.write_str("not its trigger: not a first visit"),
                TriggerMiss::BelowMinimum { min, paid } => {
                    write!(f, "not its trigger: paid ¥{paid}, below the minimum ¥{min}")
                }
                TriggerMiss::OtherTier => f.write_str("not its trigger: a change to another tier"),
                TriggerMiss::OtherBroadcast => {
                    f.write_str("not its trigger: a broadcast of another campaign")
                }
            },
            Outcome::NoConsent { purpose } => write!(f, "no {purpose} consent"),
            Outcome::AudienceFalse { .. } => f.write_str("audience false for this patient"),
            Outcome::CapReached { cap, used, max } => {
                write!(f, "{cap} reached ({used} of {max} used)")
            }
            Outcome::BeatenByPriority { by } => {
                write!(f, "beaten by priority: {by} matched first in its group")
            }
            Outcome::ExcludedByGroup {
                group,
                by,
                exclusive,
                mode,
            } => {
                if *exclusive {
                    write!(f, "excluded: exclusive {by} applied in group {group:?}")
                } else {
                    write!(f, "excluded: group {group:?} ({mode}) chose {by}")
                }
            }
        }
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEntry {
    /// The campaign.
    pub campaign: CampaignId,
    /// Why it applied or not.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What one evaluation decided.
///
/// `#[must_use]`: dropping it drops the usage reservation, so nothing is committed and the
/// effects are not carried out.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn evaluate() -> clinic_ops::campaign::Evaluation<'static> {
///     Default::default()
/// }
/// evaluate(); // error: unused `Evaluation` that must be used
/// ```
///
/// ```
/// # #![deny(unused_must_use)]
/// # fn evaluate() -> clinic_ops::campaign::Evaluation<'static> {
/// #     Default::default()
/// # }
/// let out = evaluate(); // kept: its reservation is committed, its effects carried out
/// # drop(out);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[must_use = "an evaluation holds the usage reservation to commit and the effects to carry out"]
pub struct Evaluation<'b> {
    /// The effects to carry out, in evaluation order (campaign, then rule).
    pub effects: Vec<Granted<'b>>,
    /// The counter increments to commit through [`crate::store::UsageStore::commit`]. Until
    /// it is committed, nothing was used: on a conflict, load and evaluate again.
    pub reservation: UsageReservation,
    /// One entry per campaign of the book, in evaluation order, when asked for.
    pub trace: Vec<TraceEntry>,
}

impl Evaluation<'_> {
    /// The campaigns that applied, in evaluation order.
    pub fn applied(&self) -> Vec<CampaignId> {
        let mut v: Vec<CampaignId> = self.effects.iter().map(|g| g.campaign).collect();
        v.dedup();
        v
    }
}
