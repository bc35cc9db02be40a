//! Content accounts, posts and what each brought in (IP运营、内容运营).
//!
//! A clinic acquires patients through content: a doctor's IP account on Xiaohongshu, the
//! clinic's brand account, employees' accounts, paid KOLs and KOCs, partners. This module
//! holds those [`ContentAccount`]s with their owners and [`CostTerms`], their [`Post`]s (each with
//! the channel code its leads carry, like WeCom's "contact me" `state`, and the Advertising
//! Law findings of its copy from the same lint campaigns use), [`PostingPlan`]s with their
//! overdue posts, and the attribution of patients to posts:
//!
//! 1. [`AcquisitionSpec::attribute`] gives each patient at most one post under a
//!    [`TouchRule`] (first touch or last touch);
//! 2. [`AcquisitionSpec::compute`] runs the funnel engine (lead → converted → first paid
//!    visit → retained) with every row of a patient carrying that post, so the funnel's
//!    breakdown is per post, and sums each post's revenue over the days after the touch;
//!    the resulting [`AcquisitionState`]s merge exactly across shards of patients;
//! 3. [`acquisition_report`] adds the accounts up, costs each post under its account's
//!    terms (so post costs add up to the account's spend and a KOL's or KOC's payout), and
//!    derives cost per lead, cost per paying patient and ROI through
//!    [`metrics::economics`](crate::metrics::economics).
//!
//! Content also keeps patients: a [`ContentLibrary`] of lessons and medicine notes tagged by
//! condition (每日一学/每日一药), and [`ContentSequence`]s that send its items over days after
//! a trigger. Each patient's [`Enrolment`] in a sequence is an aggregate ([`decide`],
//! [`apply`]): the daily plan turns its next step into a follow-up task through
//! [`next_step`], under the consent the item needs (education about the patient's own
//! condition is care, anything promotional is marketing), out of quiet hours, within the
//! weekly contact cap, at most one step a day, and stops it on an opt-out, a consent
//! withdrawn, a chronic file closed or an anonymisation.
//!
//! ```
//! use clinic_ops::campaign::AdLawWords;
//! use clinic_ops::content::*;
//! use clinic_ops::id::{AccountId, PostId};
//! use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage::*};
//! use clinic_ops::metrics::funnel::ConversionWindow;
//! use clinic_ops::money::Yuan;
//! use clinic_ops::patient::Platform;
//! use clinic_ops::rust_decimal::Decimal;
//! use clinic_ops::text::Label;
//!
//! let words = AdLawWords::default();
//! let koc = ContentAccount::new(
//!     AccountId::new(1), AccountKind::Koc, Platform::Douyin, Label::parse("小王说健康")?,
//!     AccountOwner::External(Label::parse("王某")?),
//!     CostTerms::new(Yuan::from_whole(100)?, Yuan::from_whole(20)?, Decimal::from(10))?,
//! )?;
//! let at = chrono::DateTime::from_timestamp(1_772_416_800, 0).ok_or("time")?;
//! let post = Post::new(PostId::new(1), AccountId::new(1), at, Label::parse("koc-0301")?,
//!     vec![Label::parse("失眠")?], "换季失眠怎么调理？中医有办法", &words)?;
//! assert!(post.findings().is_empty());
//! let book = PostBook::new(vec![koc], vec![post])?;
//! let code = book.code_of(&Label::parse("koc-0301")?).ok_or("code")?.get();
//!
//! // Patient 0 came through the post, converted, paid ¥300 and came back; patient 1 walked in.
//! let k = |s| JourneyEventKind::stage(s).code();
//! let t0 = at.timestamp();
//! let patient = [0, 0, 0, 0, 1];
//! let kind = [k(Lead), k(Converted), k(Purchased), k(Revisited), k(Purchased)];
//! let at_s = [t0, t0 + 60, t0 + 86_400, t0 + 30 * 86_400, t0];
//! let post_col = [code, 0, 0, 0, 0];
//! let fen = [0, 0, 30_000, 0, 9_900];
//! let cols = AcquisitionColumns { patient_count: 2, patient: &patient, kind: &kind, at: &at_s,
//!     post: &post_col, amount_fen: &fen };
//! let spec = AcquisitionSpec::new(TouchRule::FirstTouch, ConversionWindow::days(90)?, 90)?;
//! let state = spec.compute(&cols, book.max_code(), 1)?;
//! let report = acquisition_report(&book, spec.rule(), &state)?;
//! let a = &report.by_account[0];
//! assert_eq!((a.counts.leads, a.counts.paying, a.counts.retained), (1, 1, 1));
//! // ¥100 a post + ¥20 a lead + 10% of ¥300 = ¥150, paid to the KOC.
//! assert_eq!(a.payout.map(|y| y.to_string()), Some("150.00".into()));
//! assert_eq!(a.counts.economics().roi.map(|r| r.to_string()), Some("1.0000".into()));
//! assert!(a.paid_for_itself());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod account;
mod attribution;
mod library;
mod plan;
mod post;
mod report;
mod sequence;

pub use account::{AccountKind, AccountOwner, ContentAccount, CostTerms};
pub use attribution::{
    ACQUISITION_STEPS, AcquisitionColumns, AcquisitionSpec, AcquisitionState, TouchRule,
};
pub use library::{ContentItem, ContentLibrary, ContentNature, MAX_CONDITIONS};
pub use plan::{OverduePost, PostingPlan};
pub use post::{CopyFinding, MAX_COPY_CHARS, MAX_TOPICS, Post, PostBook, lint_findings};
pub use report::{
    AccountAcquisition, AcquisitionCounts, AcquisitionReport, PostAcquisition, acquisition_report,
};
pub use sequence::{
    ContentSequence, Enrolment, EnrolmentCommand, EnrolmentEvent, EnrolmentStatus, NextStep,
    SequenceCheck, SequenceContext, SequenceStep, SequenceTrigger, StopReason, apply,
    check_sequence, decide, next_step,
};

use rust_decimal::Decimal;

use crate::id::{AccountId, ContentItemId, PatientId, PostId, SequenceId};
use crate::metrics::funnel::FunnelError;
use crate::text::Label;

/// Why an account, a post, a plan or an attribution was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// A revenue share outside 0–100%.
    #[error("cost terms revenue_share {value}% is not between 0% and 100%")]
    RevenueShare {
        /// The share given.
        value: Decimal,
    },
    /// An owner that does not fit the account's kind.
    #[error("account {account} of kind {kind} has an owner of another kind", kind = kind_code(*.kind))]
    OwnerMismatch {
        /// The account.
        account: AccountId,
        /// Its kind.
        kind: AccountKind,
    },
    /// An account id given twice.
    #[error("account {account} is given twice")]
    DuplicateAccount {
        /// The account.
        account: AccountId,
    },
    /// A post of an account that is not known.
    #[error("post {post} names unknown account {account}")]
    UnknownAccount {
        /// The post.
        post: PostId,
        /// The account it names.
        account: AccountId,
    },
    /// A post id given twice.
    #[error("post {post} is given twice")]
    DuplicatePost {
        /// The post.
        post: PostId,
    },
    /// A channel code another post already uses.
    #[error("post {post} channel code {code} is already used by post {holder}")]
    CodeInUse {
        /// The code.
        code: Label,
        /// The post refused.
        post: PostId,
        /// The post that holds the code.
        holder: PostId,
    },
    /// More posts than a book holds.
    #[error("{count} posts are more than the limit of {max}")]
    TooManyPosts {
        /// Posts given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Too many topic tags on a post.
    #[error("post {post} has {count} topics, more than {max}")]
    TooManyTopics {
        /// The post.
        post: PostId,
        /// Topics given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A copy that is too long.
    #[error("post {post} copy has {chars} characters, more than {max}")]
    CopyTooLong {
        /// The post.
        post: PostId,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A posting cadence of 0 days or too many.
    #[error("posting plan of account {account} every_days {every_days} is not between 1 and {max}")]
    Cadence {
        /// The account.
        account: AccountId,
        /// The cadence given.
        every_days: u16,
        /// The limit.
        max: u16,
    },
    /// A revenue horizon of 0 days or too many.
    #[error("acquisition revenue_days {days} is not between 1 and {max}")]
    RevenueDays {
        /// The days given.
        days: u16,
        /// The limit.
        max: u16,
    },
    /// Attribution columns of different lengths.
    #[error(
        "acquisition columns differ in length: patient {patient}, kind {kind}, at {at}, post {post}, amount {amount}"
    )]
    ColumnLengths {
        /// Rows in `patient`.
        patient: usize,
        /// Rows in `kind`.
        kind: usize,
        /// Rows in `at`.
        at: usize,
        /// Rows in `post`.
        post: usize,
        /// Rows in `amount_fen`.
        amount: usize,
    },
    /// A patient number beyond `patient_count`.
    #[error("row {row}: patient {patient} is not below patient_count {patient_count}")]
    PatientOutOfRange {
        /// The row.
        row: usize,
        /// The patient number.
        patient: u32,
        /// The declared count.
        patient_count: u32,
    },
    /// A post code the book does not have.
    #[error("row {row}: post code {code} is not a post of the book (codes 1 to {max_code})")]
    UnknownPostCode {
        /// The row.
        row: usize,
        /// The code.
        code: u32,
        /// The highest code of the book.
        max_code: u32,
    },
    /// A revenue beyond what [`Yuan`](crate::money::Yuan) holds.
    #[error("revenue of {fen} fen is more than an amount holds")]
    RevenueTooLarge {
        /// The revenue in fen.
        fen: u128,
    },
    /// The funnel engine refused.
    #[error(transparent)]
    Funnel(#[from] FunnelError),
    /// Too many condition tags on a content item.
    #[error("content item {item} has {count} conditions, more than {max}")]
    TooManyConditions {
        /// The item.
        item: ContentItemId,
        /// Tags given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A content item's copy that is too long.
    #[error("content item {item} copy has {chars} characters, more than {max}")]
    ItemCopyTooLong {
        /// The item.
        item: ContentItemId,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A content item id given twice.
    #[error("content item {item} is given twice")]
    DuplicateItem {
        /// The item.
        item: ContentItemId,
    },
    /// More items than a library holds.
    #[error("{count} content items are more than the limit of {max}")]
    TooManyItems {
        /// Items given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A sequence field that is wrong.
    #[error("sequence {sequence} {path}: {why}")]
    Sequence {
        /// The sequence.
        sequence: SequenceId,
        /// The field (`steps[2].after_days`).
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The static check of a sequence found something.
    #[error("sequence {sequence} cannot be used: {}", describe_checks(.found))]
    Unusable {
        /// The sequence.
        sequence: SequenceId,
        /// What the check found.
        found: Vec<SequenceCheck>,
    },
    /// A patient already enrolled in a sequence.
    #[error("patient {patient} is already enrolled in sequence {sequence}")]
    AlreadyEnrolled {
        /// The patient.
        patient: PatientId,
        /// The sequence.
        sequence: SequenceId,
    },
    /// No enrolment to act on.
    #[error("patient {patient} is not enrolled in sequence {sequence}")]
    NotEnrolled {
        /// The patient.
        patient: PatientId,
        /// The sequence.
        sequence: SequenceId,
    },
    /// An enrolment that completed or stopped.
    #[error("the enrolment of patient {patient} in sequence {sequence} is over")]
    EnrolmentOver {
        /// The patient.
        patient: PatientId,
        /// The sequence.
        sequence: SequenceId,
    },
    /// An enrolment decided with another patient's or sequence's context.
    #[error("the enrolment is not of patient {patient} in sequence {sequence}")]
    WrongEnrolment {
        /// The context's patient.
        patient: PatientId,
        /// The context's sequence.
        sequence: SequenceId,
    },
    /// An instant outside the accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

fn describe_checks(found: &[SequenceCheck]) -> String {
    found
        .iter()
        .map(|c| match c {
            SequenceCheck::UnknownItem { step, item } => {
                format!("steps[{step}] names unknown content item {item}")
            }
            SequenceCheck::AdLaw {
                step,
                item,
                word,
                rule,
            } => format!("steps[{step}] content item {item} word {word:?}: {rule}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn kind_code(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::DoctorIp => "doctor_ip",
        AccountKind::ClinicBrand => "clinic_brand",
        AccountKind::Employee => "employee",
        AccountKind::Kol => "kol",
        AccountKind::Koc => "koc",
        AccountKind::Partner => "partner",
    }
}
