//! Segmentation: tags, the one expression language, auto-tag rules, RFM, lifecycle and
//! relationship strength.
//!
//! Clinics group patients by condition, value and relationship so the right patient gets the
//! right care or offer: the hypertension WeChat group, win-back for dormant patients, advocacy
//! for core patients. Everything here reads one value, [`PatientFacts`], built by a pure
//! function of the patient, their journey records and `now`; and one language, [`Expr`],
//! serves auto-tag rules here and campaign audiences in `campaign`.
//!
//! ```
//! use chrono::NaiveDate;
//! use clinic_ops::id::PatientId;
//! use clinic_ops::patient::ConsentPurpose;
//! use clinic_ops::segment::{Expr, Lifecycle, PatientFacts, TagName};
//!
//! let audience: Expr = serde_json::from_str(
//!     r#"{"all":[{"has_tag":"condition/高血压"},{"not":{"lifecycle":"dormant"}},
//!               {"consent":{"purpose":"marketing"}}]}"#,
//! )?;
//! let today = NaiveDate::from_ymd_opt(2026, 11, 23).ok_or("date")?;
//! let facts = PatientFacts::builder(PatientId::new(8), today)
//!     .tag(TagName::parse("condition/高血压")?)
//!     .lifecycle(Lifecycle::Active)
//!     .consent(ConsentPurpose::Marketing)
//!     .build();
//! assert!(audience.evaluate(&facts));
//! let why = audience.explain(&facts);
//! assert!(why.value);
//! assert_eq!(why.children[1].children[0].fact.to_string(), "active");
//! assert!(audience.contradiction().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **Tags** ([`TagName`], [`TagCatalog`], [`TagSet`]): `group/name`, at most 30 characters,
//!   3,000 live tags per organisation, soft delete, sensitive groups (`condition`).
//! - **Facts** ([`PatientFacts`], [`FactsInput`]): consents, age, channel, lifecycle, visits
//!   and spend per local-day window, conditions, points, tier, referrals, tags, and a churn
//!   model's `p_alive` when the host scores one ([`Probability`], see `crate::churn`).
//! - **Expressions** ([`Expr`]): `evaluate`, `explain`, `check_tags`, `uses_sensitive_data`,
//!   `contradiction`; validated on load with paths like `any[2].not.visits_in.days`.
//! - **Auto-tag rules** ([`TagRule`], [`TagRuleSet`]): a pure, idempotent step to
//!   [`TagEvent`]s, with PIPL's separate consent for health data.
//! - **RFM** ([`summarize_rfm`] to [`RfmSummary`], [`score_rfm`] to [`RfmScore`] and
//!   [`RfmClass`]): lifetimes-exact summaries, quintile scores, the 8 Chinese classes.
//! - **Lifecycle** ([`Lifecycle`], [`LifecycleRules`]) and **relationship strength**
//!   ([`Relationship`], [`RelationshipRules`]).

mod compiled;
mod error;
mod eval;
mod expr;
mod facts;
mod lifecycle;
mod load;
mod probability;
mod rfm;
mod rules;
mod tag;

pub(crate) use compiled::{CompiledExprs, ExprRef, TagMemo};
pub use error::SegmentError;
pub use eval::{Explanation, FactValue};
pub use expr::{
    CountRange, Expr, MAX_AGE, MAX_CHILDREN, MAX_COUNT, MAX_DEPTH, MAX_NODES, MAX_WINDOW_DAYS,
    PointsRange,
};
pub use facts::{ConsentSet, FactsBuilder, FactsInput, PatientFacts};
pub use lifecycle::{
    Lifecycle, LifecycleRules, LifecycleThreshold, Relationship, RelationshipRules,
};
pub use probability::{Probability, ProbabilityRange};
pub use rfm::{RFM_HIGH_SCORE, RfmClass, RfmScore, RfmSummary, score_rfm, summarize_rfm};
pub use rules::{
    MAX_RULES, SkipReason, SkippedTagRule, TagEvent, TagOutcome, TagRule, TagRuleSet, TagUse, apply,
};
pub use tag::{
    DEFAULT_TAG_LIMIT, MAX_TAG_CHARS, TagCatalog, TagEntry, TagError, TagName, TagSet, TagStatus,
};
