//! The referral forest (转介绍, 裂变): binding rules, lawful rewards and referral analytics.
//!
//! Referrals are the cheapest way a clinic gains patients, and the easiest to game or to run
//! into the law. This module keeps the three apart:
//!
//! - **Binding** ([`ReferralForest`], [`decide`], [`apply`]): each patient has at most one
//!   referrer, the first one wins, and every refusal is its own [`BindError`]: self-referral,
//!   a cycle, already bound, a referee who was a patient first, a shared mobile or resident
//!   id (a second account), a code entered after the attribution window, an unknown patient.
//! - **Rewards** ([`RewardSchedule`], [`decide_rewards`]): two-sided, paid on the referee's
//!   first qualifying paid visit and never on sign-up, pending for a delay, reversed on a
//!   refund, capped per referrer per month and for life. Schedules deeper than 2 levels,
//!   rewards for a referee's own recruits (both pyramid selling under 《禁止传销条例》
//!   art. 7) and cash under the medical-institution profile (kickbacks) are refused when the
//!   schedule is built. Every [`RewardDecision`] carries its provenance.
//! - **Analytics** ([`ReferralForest::stats`], [`conversion`], [`ViralReport`]): subtree
//!   sizes and depths in O(n), descendants per level, top advocates, conversion and the
//!   viral K-factor with its growth model.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{ClinicId, PatientId, VisitId};
//! use clinic_ops::journey::Visit;
//! use clinic_ops::money::{Points, Yuan};
//! use clinic_ops::referral::{
//!     BindError, BindingPolicy, Basis, Beneficiary, RewardCaps, ComplianceProfile, Member,
//!     ReferralForest, Reward, RewardSchedule, RewardStatus, RuleId, RuleSpec, ScheduleSpec,
//!     decide_rewards,
//! };
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
//! let (a, b) = (PatientId::new(1), PatientId::new(2));
//! let mut forest = ReferralForest::new();
//! forest.upsert_member(Member::new(a, t0))?;
//! forest.upsert_member(Member::new(b, t0 + Duration::days(3)))?;
//! let policy = BindingPolicy::default(); // 30-day window, first referrer wins for good
//!
//! assert!(matches!(
//!     forest.bind(a, a, t0, &policy),
//!     Err(BindError::SelfReferral { .. })
//! ));
//! forest.bind(b, a, t0 + Duration::days(3), &policy)?;
//! assert_eq!(forest.referrer_of(b), Some(a));
//!
//! let friend = RuleSpec {
//!     id: RuleId::parse("friend-200")?,
//!     beneficiary: Beneficiary::Referrer { level: 1 },
//!     basis: Basis::FirstPaidVisit,
//!     reward: Reward::Points(Points::new(200)),
//! };
//! let schedule = RewardSchedule::new(
//!     ScheduleSpec::new(Yuan::from_whole(100)?, 7, vec![friend])
//!         .with_profile(ComplianceProfile::MedicalInstitution)
//!         .with_caps(RewardCaps { per_month: Some(5), lifetime: None }),
//! )?;
//! let paid_at = t0 + Duration::days(5);
//! let visit = Visit::new(VisitId::new(9), b, paid_at, ClinicId::new(1), Yuan::parse("268.00")?);
//! let as_of = t0 + Duration::days(20);
//! let rewards = decide_rewards(&forest, &[visit], &schedule, as_of, ClinicCalendar::default());
//! assert_eq!(rewards.len(), 1);
//! assert_eq!(rewards[0].beneficiary, a);
//! assert!(matches!(rewards[0].status, RewardStatus::Approved { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod analytics;
mod binding;
mod forest;
mod rewards;
mod schedule;

pub use analytics::{
    Advocate, Conversion, ForestStats, MAX_PROJECTION_CYCLES, ViralReport, conversion, cycle_time,
};
pub use binding::{
    Bind, BindError, Binding, BindingPolicy, IdentityKey, Member, Protection, ReferralEvent,
};
pub use forest::{Ancestors, BindOutcome, ReferralForest, apply, bind_all, decide};
pub use rewards::{CapKind, RewardDecision, RewardStatus, decide_rewards, first_qualifying_visit};
pub use schedule::{
    Basis, Beneficiary, ComplianceProfile, MAX_REWARD_DEPTH, Reward, RewardCaps, RewardSchedule,
    RuleId, RuleSpec, ScheduleError, ScheduleSpec,
};

#[cfg(test)]
mod tests;
