//! Campaign rules: campaigns as data, a pure explainable engine, caps, conflicts, consent and
//! ad-law checks.
//!
//! A clinic's campaigns (会员日 member days, cashback on medicine, birthday care, win-back
//! offers) are serde data in a [`CampaignBook`]. [`evaluate`] takes one trigger event, the
//! patient's facts, the usage counters and `now`, and returns:
//!
//! - the effects to carry out, each with its provenance: campaign, rule, desired and granted
//!   amount, and the cap that cut it ([`Granted`]);
//! - a [`UsageReservation`] that the host commits through [`crate::store::UsageStore`], so
//!   that budgets are never oversold by racing hosts;
//! - if asked, a trace with one entry per campaign of the book saying why it applied or not
//!   ([`Outcome`]), the answer to "why didn't my promotion apply?".
//!
//! [`check_book`] finds what can never fire or should not go live: windows in the past,
//! audiences that can never be true, overlapping exclusive campaigns, cash without a ¥
//! budget, sensitive targeting without `health_data_segmentation` consent, and copy that
//! breaks the Advertising Law ([`AdLawWords`]).

mod book;
mod checks;
mod effects;
mod engine;
mod error;
mod model;
mod outcome;
mod usage;
mod window;

pub use book::{BookSpec, CampaignBook, CapRef, GroupMode};
pub use checks::{AdLawRule, AdLawWords, Finding, FindingKind, check_book, lint_copy};
pub use engine::evaluate;
pub use error::CampaignError;
pub use model::{
    Anniversary, Budget, Campaign, CampaignSpec, Caps, Effect, EventClass, LimitKey, LimitPeriod,
    MAX_COPY_CHARS, MAX_EFFECTS, MAX_FIXED_POINTS, MAX_LIMITS, MAX_NAME_CHARS, MessageCopy,
    Recurrence, StaffTaskKind, Trigger, UsageLimit, Window, WindowMiss,
};
pub use outcome::{
    Amount, Cut, EvalOptions, Evaluation, Event, EventKind, Granted, Outcome, TraceEntry,
    TriggerMiss,
};
pub use usage::{
    Bucket, ReservationError, UsageAction, UsageIncrement, UsageKey, UsageReservation,
    UsageSnapshot,
};

#[cfg(test)]
mod tests;
