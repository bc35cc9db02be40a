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
//! | [`journey`] | the shared records of what patients did: visits, purchases, medicine fills |
//! | [`segment`] | tags, the one expression language, auto-tag rules, RFM, lifecycle, relationship strength |
//! | [`points`] | the membership points ledger: lots, expiry, pending points, refunds, idempotency, tiers |
//! | [`referral`] | the referral forest: binding rules, lawful rewards, referral analytics |
//! | [`campaign`] | campaigns as data, the pure explainable engine, caps, conflicts, static checks |
//! | [`followup`] | the care follow-up planner: due and overdue tasks, outcomes, contact caps |
//! | [`metrics`] | ClickHouse-exact funnels, retention, clinic rates, adherence, satisfaction, economics |
//! | [`store`] | the storage ports, their shared error and version, the in-memory adapters |
//! | `testkit` | the conformance kit every adapter runs (feature `testkit`) |
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

pub mod calendar;
pub mod campaign;
mod error;
pub mod followup;
pub mod id;
pub mod journey;
pub mod metrics;
pub mod money;
pub mod patient;
pub mod points;
pub mod referral;
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
