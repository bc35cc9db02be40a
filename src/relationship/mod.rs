//! The clinic owns the relationship: staff contact pools, handover when staff leave,
//! concentration risk and patient groups.
//!
//! The seeds' central argument: when "客户资源基本上都在医生手里" (the patients are in the
//! doctor's own WeChat), "医生一走关门大吉" (the doctor leaves and the clinic closes). This
//! module records which staff account holds each patient, hands a departing account's
//! patients to successors under the platform's transfer rules, and measures how many
//! patients would leave with each doctor. Consent still decides what may be sent: holding
//! a contact is not consent to market.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clinic_ops::id::{ClinicId, PatientId, StaffId};
//! use clinic_ops::relationship::{
//!     self, AccountKind, ContactBook, ContactCommand, ContactPool, Handover, HandoverScope,
//!     StaffAccount, StaffRoster, SuccessorRule, TransferMode, TransferRules,
//! };
//!
//! let (dr_li, assistant) = (StaffId::new(1), StaffId::new(2));
//! let mut roster = StaffRoster::new(vec![
//!     StaffAccount::new(dr_li, AccountKind::Doctor, ClinicId::new(1), 5_000),
//!     StaffAccount::new(assistant, AccountKind::Assistant, ClinicId::new(1), 5_000),
//! ])?;
//! let rules = TransferRules::wecom();
//! let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
//! let p = PatientId::new(7);
//! let mut pool = ContactPool::new(p);
//! let add = ContactCommand::Add { staff: dr_li, channel: None };
//! for e in relationship::decide(&pool, &add, at, &roster, &rules)? {
//!     relationship::apply(&mut pool, &e);
//! }
//! let mut book = ContactBook::new();
//! book.insert(pool);
//!
//! // Dr Li leaves: every patient goes to the clinic's least-loaded account.
//! roster.mark_left(dr_li);
//! let handover = Handover {
//!     departing: dr_li,
//!     mode: TransferMode::Resigned,
//!     scope: HandoverScope::All,
//!     rule: SuccessorRule::SameClinic,
//!     notice: None,
//! };
//! let plan = relationship::plan_handover(&book, &handover, at, &roster, &rules)?;
//! assert!(plan.refusals.is_empty());
//! let after = plan.settled(&book);
//! assert!(after.get(p).is_some_and(|pool| pool.is_held_by(assistant)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **Contact pools** ([`ContactEvent`], [`ContactPool`], [`ContactLog`], [`decide`],
//!   [`apply`], [`ContactBook`]): per patient, the accounts that hold them and since when.
//! - **Transfer rules** ([`TransferRules`]): WeCom's on-job and resigned-staff transfer
//!   rules as data, with the sources cited.
//! - **Handover** ([`Handover`], [`plan_handover`], [`HandoverPlan`]): by name, same clinic,
//!   same specialty or a list, load-balanced, with typed refusals.
//! - **Concentration risk** ([`concentration`], [`Concentration`], [`patients_at_risk`],
//!   [`concentration_series`]).
//! - **Patient groups (社群)** ([`GroupSeries`], [`plan_groups`], [`GroupEvent`],
//!   [`GroupMembership`], [`group_stats`], [`compare_members`]): membership rules in the
//!   segment expression language, overflow into numbered groups, never without `GroupChat`
//!   consent.
//! - **Group rules** ([`lint_group_post`], [`GroupPostRules`]): the Advertising Law words
//!   plus group rules as data, a finding per rule.

mod book;
mod concentration;
mod contact;
mod decide;
mod error;
mod group;
mod group_lint;
mod group_metrics;
mod group_plan;
mod handover;
mod rules;
mod staff;

pub use book::ContactBook;
pub use concentration::{
    Concentration, ConcentrationPoint, DoctorExposure, DoctorShares, PatientHold,
    book_concentration, concentration, concentration_series, patients_at_risk,
};
pub use contact::{
    ContactEvent, ContactLog, ContactPool, DeclinedTransfer, Holding, HoldingSource,
    MAX_CONTACT_EVENTS, PendingTransfer, apply,
};
pub use decide::{ContactCommand, decide};
pub use error::RelationshipError;
pub use group::{
    ChatMembers, GroupChatRef, GroupEvent, GroupMembership, GroupSeries, MAX_GROUP_CAPACITY,
    WECHAT_GROUP_CAPACITY, apply_group, decide_group,
};
pub use group_lint::{GroupPostFinding, GroupPostRule, GroupPostRules, lint_group_post};
pub use group_metrics::{GroupCohort, GroupStats, MemberComparison, compare_members, group_stats};
pub use group_plan::{GroupPlan, MAX_GROUP_SERIES, NewGroupChat, plan_groups};
pub use handover::{
    Handover, HandoverMessage, HandoverPlan, HandoverScope, MAX_HANDOVER_PATIENTS, PlannedTransfer,
    SuccessorRule, TransferNotice, plan_handover,
};
pub use rules::{
    DeclineOutcome, MAX_DECLINE_WINDOW_HOURS, MAX_LIMIT_DAYS, ModeRules, TransferLimit,
    TransferMode, TransferRules,
};
pub use staff::{AccountKind, MAX_STAFF, StaffAccount, StaffRoster, StaffStatus};
