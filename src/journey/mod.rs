//! The patient journey across the modules: the shared records of what patients did, the
//! typed bridges where modules meet, and the pure layer that turns one clinic event into
//! everything it implies.
//!
//! - **Records** ([`Visit`], [`Purchase`], [`Fill`]): the facts segmentation, referrals,
//!   follow-ups and the metrics all read, defined once. Plain values the host builds from
//!   its HIS or order tables; the library never fetches them.
//! - **Bridges** ([`base_points`], [`purchase_event`], [`earning`], [`refund_command`],
//!   [`refund_bonus`], [`reward_posting`], [`patient_facts`]): what a campaign grant, a
//!   purchase, a referral reward or a refund means for the points ledger, and a patient's
//!   facts in one call, so no host converts between modules by hand.
//! - **The layer** ([`decide`], [`apply`], [`Clinic`]): a clinic event (registration,
//!   consent, visit, purchase, refund, redemption, referral, expiry run, day plan,
//!   erasure, and the in-visit, contact, group, outreach and content events) in,
//!   a [`Implications`] out: the patient events, ledger postings, referral events, usage counters,
//!   follow-up events, campaign effects with provenance and the host's tasks it implies.
//!   Sans-IO like rustls and quinn-proto: state is passed in, nothing is read or written.
//!   Every key it derives comes from the event's [`EventKey`], so a replay decides nothing
//!   new.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{PatientId, PurchaseId};
//! use clinic_ops::journey::{
//!     Clinic, ClinicEvent, ClinicEventKind, Decision, EventKey, JourneyConfig, Purchase,
//! };
//! use clinic_ops::money::{Points, Yuan};
//! use clinic_ops::testkit::patient_store::registration;
//!
//! let config = JourneyConfig::new(ClinicCalendar::default());
//! let mut clinic = Clinic::new();
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
//! let p = PatientId::new(1);
//! let register = ClinicEvent {
//!     key: EventKey::new(1),
//!     at,
//!     kind: ClinicEventKind::Register { patient: p, registration: Box::new(registration(1)) },
//! };
//! let buy = ClinicEvent {
//!     key: EventKey::new(2),
//!     at,
//!     kind: ClinicEventKind::Purchase {
//!         purchase: Purchase {
//!             id: PurchaseId::new(9),
//!             patient: p,
//!             at,
//!             amount: Yuan::parse("128.50")?,
//!             category: None,
//!             days_supply: None,
//!         },
//!         visit: None,
//!         points: Points::ZERO,
//!     },
//! };
//! for e in [&register, &buy] {
//!     clinic.handle(&config, e)?;
//! }
//! assert_eq!(clinic.account(p).unwrap().balance(), Points::new(128));
//! // The till retries: nothing new.
//! assert_eq!(clinic.handle(&config, &buy)?, Decision::Replayed { refused: false });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod appointments;
mod bridge;
mod clinic;
mod config;

mod contacts;
mod content;
mod erasure;
mod error;
mod groups;
mod keys;
mod layer;
mod outreach;
mod planning;
mod records;
mod rewards;
mod sequence_plans;

pub use appointments::{
    AppointmentConfig, AppointmentConfigError, AppointmentState, MAX_RECOVERY_HOURS, MAX_SCHEDULES,
    complaint_id_for,
};
pub use bridge::{
    CampaignBonus, Cashback, PurchaseEarning, RewardLeg, RewardPosting, base_points, earning,
    patient_facts, purchase_event, refund_bonus, refund_cashback, refund_command, refund_share,
    reward_key, reward_posting,
};
pub use clinic::{Clinic, apply};
pub use config::JourneyConfig;
pub use content::{ContentConfig, ContentConfigError, MAX_SEQUENCES};
pub use error::JourneyError;
pub use keys::{EventKey, KeyUse};
pub use layer::{
    AppliedEffect, ClinicEvent, ClinicEventKind, Decision, HostTask, Implications, PurchaseEntry,
    decide,
};
pub use planning::PlanChecked;
pub use records::{Category, DaysSupply, DaysSupplyError, Fill, Purchase, Visit};
pub use rewards::RewardsChecked;
pub use sequence_plans::SequencesChecked;

#[cfg(test)]
mod tests;
