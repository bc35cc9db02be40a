//! # clinic-ops
//!
//! The rules of running a clinic's patient relationship, as a pure Rust library: patients and
//! their consent, segmentation, membership points, campaigns, referrals, care follow-ups and
//! the journey metrics, for the software teams that build HIS, SCRM and WeChat mini-program
//! back ends for Chinese TCM clinic chains and community clinics.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{ClinicId, PatientId};
//! use clinic_ops::patient::{self, Channel, MobileNumber, PatientCommand, PersonName, Registration};
//! use clinic_ops::store::{PatientStore, memory::MemoryPatientStore};
//!
//! let cal = ClinicCalendar::default(); // UTC+8
//! let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
//! let mut store = MemoryPatientStore::new();
//!
//! let id = PatientId::new(1);
//! let cmd = PatientCommand::Register(Registration::new(
//!     PersonName::parse("李四")?,
//!     MobileNumber::parse("0086 139 0000 1111")?,
//!     ClinicId::new(1),
//!     Channel::parse("doctor_ip/douyin")?,
//! )); // optional fields: `.with_resident_id(..)`, `.with_owner(..)`, …
//! // Load, decide, commit: the library decides, the host stores.
//! let events = patient::decide(None, id, &cmd, now, cal)?;
//! store.commit(id, None, &events)?;
//!
//! let p = store.get(id)?.unwrap().value;
//! assert_eq!(p.mobile().unwrap().to_string(), "139****1111"); // masked everywhere
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Overview
//!
//! The library follows the patient journey of a clinic (客户运营流程): a lead arrives from a
//! channel (a doctor's Xiaohongshu account, a KOL, a free clinic), is converted on WeChat,
//! books, arrives, sees a doctor, buys a course of treatment, is followed up, comes back, and
//! refers friends. Each module owns one part of it:
//!
//! | module | what it decides |
//! |---|---|
//! | [`calendar`] | the clinic's local days, weeks and months (UTC+8 by default) |
//! | [`money`] | yuan with a named rounding rule, whole points |
//! | [`id`] | typed, compact ids |
//! | [`text`] | short checked labels and the one text error every module refuses with |
//! | [`patient`] | identity (mobile, resident id) with masking, consent per purpose, chronic files, anonymisation |
//! | [`journey`] | one clinic event in, everything it implies across the modules out: the shared records (visits, purchases, fills), the typed bridges where modules meet, and the pure `decide`/`apply` layer with its in-memory `Clinic` |
//! | [`segment`] | tags, the one expression language, auto-tag rules, RFM, lifecycle, relationship strength |
//! | `churn` | BG/NBD churn risk (p_alive, expected visits) and Gamma-Gamma spend, fitted lifetimes-exact; CLV (feature `churn`, default) |
//! | [`points`] | the membership points ledger: lots, expiry, pending points, refunds, idempotency, tiers |
//! | [`referral`] | the referral forest: binding rules, lawful rewards, referral analytics |
//! | [`relationship`] | staff contact pools, handover under WeCom's transfer rules, concentration risk, patient groups |
//! | [`campaign`] | campaigns as data, the pure explainable engine, caps, conflicts, static checks |
//! | [`followup`] | the care follow-up planner: due and overdue tasks, outcomes, contact caps |
//! | [`appointment`] | schedules, the booking book, no-shows, pre-visit intake, reminders and recovery tasks |
//! | [`feedback`] | feedback feeding NPS/CSAT, complaints with owners and service levels |
//! | [`metrics`] | ClickHouse-exact funnels, retention, clinic rates, adherence, satisfaction, economics |
//! | [`store`] | the storage ports, their shared error and version, the in-memory adapters |
//! | `testkit` | the conformance kit every adapter runs (feature `testkit`) |
//!
//! ## Journey
//!
//! A clinic's day crosses the modules: a purchase is evaluated by the campaign book, earns
//! points with the multiplier a member day granted, and a refund must undo all of it, once.
//! The [`journey`] layer does that glue: the host hands it clinic events, it returns (and
//! [`journey::Clinic`] applies) what each one implies for every module.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{ClinicId, PatientId, PurchaseId};
//! use clinic_ops::journey::{
//!     Clinic, ClinicEvent, ClinicEventKind, Decision, EventKey, JourneyConfig, Purchase,
//! };
//! use clinic_ops::money::{Points, Yuan};
//! use clinic_ops::patient::{
//!     Channel, ConsentPurpose, Label, MobileNumber, PersonName, Registration,
//! };
//!
//! // 1 point per ¥ by default; the member day doubles them on the 23rd, with marketing consent.
//! let mut config = JourneyConfig::new(ClinicCalendar::default());
//! config.campaigns = serde_json::from_str(r#"{ "campaigns": [ {
//!     "id": 23, "name": "会员日",
//!     "window": { "start": "2026-01-01T00:00:00+08:00",
//!                 "recurrence": { "every": "month_day", "day": 23 } },
//!     "trigger": { "on": "purchase" }, "consent": ["marketing"],
//!     "effects": [ { "type": "points_multiplier", "factor": "2" } ] } ] }"#)?;
//!
//! let (p, order) = (PatientId::new(1), PurchaseId::new(9));
//! let at = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(); // 10:00 clinic time
//! let mut clinic = Clinic::new();
//! let mut key = 0;
//! let mut event = |kind| {
//!     key += 1; // a host uses its order number or message id
//!     ClinicEvent { key: EventKey::new(key), at, kind }
//! };
//! let registration = Registration::new(
//!     PersonName::parse("李四")?,
//!     MobileNumber::parse("139 0000 1111")?,
//!     ClinicId::new(1),
//!     Channel::WalkIn,
//! );
//! let register = event(ClinicEventKind::Register {
//!     patient: p,
//!     registration: Box::new(registration),
//! });
//! let consent = event(ClinicEventKind::Consent {
//!     patient: p,
//!     purpose: ConsentPurpose::Marketing,
//!     granted: true,
//!     source: Label::parse("mini_program")?,
//! });
//! let buy = event(ClinicEventKind::Purchase {
//!     purchase: Purchase {
//!         id: order,
//!         patient: p,
//!         at,
//!         amount: Yuan::parse("128.50")?,
//!         category: None,
//!         days_supply: None,
//!     },
//!     visit: None,
//!     points: Points::ZERO,
//! });
//! let refund = event(ClinicEventKind::Refund {
//!     purchase: order,
//!     amount: Yuan::parse("128.50")?,
//! });
//!
//! for e in [&register, &consent] {
//!     let _ = clinic.handle(&config, e)?;
//! }
//! if let Decision::New(step) = clinic.handle(&config, &buy)? {
//!     assert_eq!(step.effects.len(), 1); // the member day, with its provenance
//! }
//! // 128 points at ×1, and the member day's 128 more.
//! assert_eq!(clinic.account(p).map(|a| a.balance()), Some(Points::new(256)));
//!
//! // The refund takes both back, and gives the member day's use back to its counters.
//! let _ = clinic.handle(&config, &refund)?;
//! assert_eq!(clinic.account(p).map(|a| a.balance()), Some(Points::ZERO));
//! // The till retries: the key is known, nothing happens twice.
//! assert_eq!(clinic.handle(&config, &refund)?, Decision::Replayed { refused: false });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A host with stores loads what an event touches into a [`journey::Clinic`], calls
//! [`journey::decide`], commits each part of the [`journey::Implications`] to its store and carries
//! out its host tasks (cashback, coupons, messages). The typed bridges ([`journey::earning`],
//! [`journey::reward_posting`], [`journey::patient_facts`], …) are there for a host that
//! calls the modules itself. `cargo run --example clinic_day` tells a whole clinic day this
//! way.
//!
//! ## Principles
//!
//! - **Pure.** Nothing here reads a clock, a random source, a file, the network or an
//!   environment variable. `now`, the calendar and any seed are arguments. Domain operations
//!   are `decide(state, command, now) -> events` plus `apply(state, event)`.
//! - **Parse, don't validate.** A `MobileNumber`, `ResidentId`, `Yuan` or `Points` that exists
//!   is valid; serde goes through the same checks.
//! - **Private by construction.** Personal data is masked in `Debug` and `Display`
//!   (`138****1234`, `110101********2176`, `张*`) and reached only through `expose()`.
//! - **Deterministic.** The same inputs give the same outputs in the same order.
//!
//! ## Storage
//!
//! Each aggregate has a small synchronous port in [`store`] with an in-memory adapter. The
//! crate `clinic-ops-sqlite` (in `adapters/sqlite`) implements every port on SQLite, and
//! every adapter runs the same conformance kit (`testkit`), races included.
//!
//! ## Crate features
//!
//! - `parallel` (default): the funnel engine splits its passes over scoped std threads. The
//!   results are identical without it; no dependency comes with it.
//! - `testkit`: the conformance scenarios for storage adapters and proptest strategies.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod appointment;
pub mod calendar;
pub mod campaign;
pub mod content;

#[cfg(feature = "churn")]
pub mod churn;
mod error;
pub mod event;

pub mod feedback;
pub mod followup;
pub mod id;
pub mod journey;
pub mod label;
pub mod metrics;
pub mod money;
pub mod patient;
pub mod points;
pub mod referral;
pub mod relationship;
pub mod segment;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod text;
pub mod version;

mod from_str;

/// The date and time crate of this API (`DateTime<Utc>`, `NaiveDate`, …), re-exported so a
/// host needs no dependency of its own, and no version mismatch can arise.
pub use chrono;
pub use error::Error;
/// The decimal crate behind [`money::Yuan`], re-exported like [`chrono`].
pub use rust_decimal;
/// The decimal type of amounts, rates and factors in this API.
pub use rust_decimal::Decimal;

/// The names almost every host uses: `use clinic_ops::prelude::*;`.
///
/// It holds the vocabulary (calendar, money, ids), the crate [`Error`], the storage ports with
/// their error and version, the patient's main types, and the third-party types that appear
/// in signatures. Module functions (`patient::decide`, `points::decide`, …) stay behind
/// their module's name, where they read best.
pub mod prelude {
    pub use super::store::{
        LedgerStore, PatientStore, ReferralStore, StoreError, TaskStore, UsageStore, Version,
        Versioned,
    };
    pub use crate::Error;
    pub use crate::calendar::{ClinicCalendar, Period};
    pub use crate::id::{
        CampaignId, ClinicId, DoctorId, LotId, PatientId, PurchaseId, StaffId, TaskId, VisitId,
    };
    pub use crate::money::{Points, SignedYuan, Yuan};
    pub use crate::patient::{ConsentPurpose, Patient, PatientCommand, PatientEvent};
    pub use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
    pub use rust_decimal::Decimal;
}
