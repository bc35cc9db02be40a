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
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::campaign::{self, Amount, CampaignBook, EvalOptions, Event, EventKind, Outcome};
//! use clinic_ops::id::PatientId;
//! use clinic_ops::money::{Points, Yuan};
//! use clinic_ops::patient::ConsentPurpose;
//! use clinic_ops::segment::PatientFacts;
//! use clinic_ops::store::memory::MemoryUsageStore;
//! use clinic_ops::store::UsageStore;
//!
//! let book: CampaignBook = serde_json::from_str(r#"{ "campaigns": [ {
//!     "id": 23, "name": "会员日",
//!     "window": { "start": "2026-01-01T00:00:00+08:00",
//!                 "recurrence": { "every": "month_day", "day": 23 } },
//!     "trigger": { "on": "purchase", "min": "100" },
//!     "effects": [ { "type": "points_multiplier", "factor": "2" },
//!                  { "type": "cashback", "percent": "5", "cap": "20" } ],
//!     "caps": { "budget": { "yuan": "1000" } } } ] }"#)?;
//! let cal = ClinicCalendar::default();
//! let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(); // 10:00 on the 23rd, UTC+8
//! let patient = PatientId::new(7);
//! let facts = PatientFacts::builder(patient, cal.local_date(now))
//!     .consent(ConsentPurpose::Marketing)
//!     .build();
//! let event = Event::new(EventKind::Purchase { amount: Yuan::parse("500")? })
//!     .with_base_points(Points::new(500));
//!
//! // Load the counters the evaluation may read, evaluate, commit what it reserved.
//! let mut usage = MemoryUsageStore::new();
//! let snapshot = usage.load(&book.usage_keys(&event, patient, now, cal))?;
//! let out = campaign::evaluate(&book, &event, &facts, &snapshot, now, cal, EvalOptions::TRACE)?;
//! usage.commit(&out.reservation)?;
//!
//! assert_eq!(out.effects[0].granted, Amount::Points(Points::new(500)));
//! assert_eq!(out.effects[1].desired, Amount::Yuan(Yuan::parse("25")?));
//! assert_eq!(out.effects[1].granted, Amount::Yuan(Yuan::parse("20")?)); // the effect's cap
//! assert_eq!(out.trace[0].outcome, Outcome::Applied { cut: true });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`check_book`] finds what can never fire or should not go live: windows in the past,
//! audiences that can never be true, overlapping exclusive campaigns, cash without a ¥
//! budget, sensitive targeting without `health_data_segmentation` consent, care campaigns
//! whose copy promotes, and copy that breaks the Advertising Law ([`AdLawWords`]). Its
//! findings grow with the book, not its square: a book holds at most [`MAX_CAMPAIGNS`]
//! campaigns and [`MAX_GROUPS`] groups, at load and in [`CampaignBook::new`].
//!
//! Consent is checked where targeting happens: a campaign reaches a patient only with every
//! purpose in its `consent` list, and a campaign that [promotes](Campaign::promotes) (a
//! marketing benefit, or copy with a [`PROMOTION_MARKERS`] word) also needs `marketing`,
//! even when it is a care campaign.

mod assess;
mod book;
mod checks;
mod effects;
mod engine;
mod error;
mod model;
mod outcome;
mod resolve;
mod usage;
mod window;

pub use book::{BookSpec, CampaignBook, CapRef, GroupMode, MAX_CAMPAIGNS, MAX_GROUPS};
pub use checks::{
    AdLawRule, AdLawWords, Finding, FindingKind, MAX_LISTED_OVERLAPS, OPT_OUT_MARKERS, check_book,
    lint_copy,
};
pub(crate) use engine::evaluate_with_slots;
pub use engine::{Evaluator, evaluate};
pub use error::CampaignError;
pub use model::{
    Anniversary, Budget, Campaign, CampaignSpec, Caps, Effect, EventClass, LimitKey, LimitPeriod,
    MAX_COPY_CHARS, MAX_EFFECTS, MAX_FIXED_POINTS, MAX_LIMITS, MAX_NAME_CHARS, MessageCopy,
    PROMOTION_MARKERS, Recurrence, StaffTaskKind, Trigger, UsageLimit, Window, WindowMiss,
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
#[cfg(test)]
mod tests_model;
