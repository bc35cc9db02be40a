//! Why the ledger refused a command.

use chrono::{DateTime, Utc};

use super::types::CommandKey;
use crate::id::PurchaseId;
use crate::money::{Points, Yuan};

/// A command the ledger refused. Nothing was posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PointsError {
    /// A quantity that must be positive was zero or negative.
    #[error("{field} must be positive, got {value}")]
    NotPositive {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: i64,
    },
    /// A posting loaded from outside (a store, a file) does not follow the one before it:
    /// postings are numbered 1, 2, … per account, and an account is rebuilt from all of them
    /// in that order.
    #[error("posting {found} is out of sequence: expected posting {expected}")]
    OutOfSequence {
        /// The `seq` the next posting must have.
        expected: u64,
        /// The `seq` it has.
        found: u64,
    },
    /// A sum or product left the `i64` range.
    #[error("{field} overflows")]
    Overflow {
        /// What overflowed.
        field: &'static str,
    },
    /// More points asked for than are spendable.
    #[error("redeeming {requested} points but only {available} are available")]
    Insufficient {
        /// Points asked for.
        requested: Points,
        /// Points spendable.
        available: Points,
    },
    /// A refund or release names a purchase this account never earned on or paid with.
    #[error("purchase {purchase} is unknown to this account")]
    UnknownPurchase {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// A purchase may earn once and be paid with points once.
    #[error("purchase {purchase} already {what}")]
    DuplicatePurchase {
        /// The purchase.
        purchase: PurchaseId,
        /// `earned points` or `was paid with points`.
        what: &'static str,
    },
    /// Refunds would exceed the cash paid.
    #[error(
        "refunding {requested} of purchase {purchase} exceeds the {refundable} still refundable"
    )]
    RefundExceedsPaid {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash asked for in this refund.
        requested: Yuan,
        /// Cash still refundable.
        refundable: Yuan,
    },
    /// Returned points would exceed the points that paid.
    #[error(
        "returning {requested} points of purchase {purchase} exceeds the {returnable} still returnable"
    )]
    ReturnExceedsRedeemed {
        /// The purchase.
        purchase: PurchaseId,
        /// Points asked for.
        requested: Points,
        /// Points still returnable.
        returnable: Points,
    },
    /// A release before the lock ends.
    #[error("points of purchase {purchase} are locked until {until}")]
    StillLocked {
        /// The purchase.
        purchase: PurchaseId,
        /// The end of the lock.
        until: DateTime<Utc>,
    },
    /// A release of a purchase with no locked points (never locked, released or voided).
    #[error("purchase {purchase} has no locked points")]
    NotLocked {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// The command is dated before the account's last posting and the policy forbids it.
    #[error("command at {at} is before the account's last posting at {last}")]
    Backdated {
        /// The command's time.
        at: DateTime<Utc>,
        /// The last posting's time.
        last: DateTime<Utc>,
    },
    /// The key was used before for a different command.
    #[error("key {key} was used for a different command: {field} differs")]
    KeyReused {
        /// The key.
        key: CommandKey,
        /// The first differing field (`op` when the operation differs).
        field: &'static str,
    },
    /// The lock end is not after now.
    #[error("lock end {until} is not after now")]
    LockInPast {
        /// The lock end given.
        until: DateTime<Utc>,
    },
    /// The account has no room for another posting.
    #[error("the account's posting sequence is exhausted")]
    SequenceExhausted,
    /// `now` or a date in the command lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

/// A policy that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Tiers must have strictly increasing upgrade thresholds.
    #[error("tier {tier} has upgrade threshold {threshold}, not above the previous tier's")]
    TiersNotIncreasing {
        /// The tier.
        tier: String,
        /// Its threshold.
        threshold: i64,
    },
    /// A retain threshold must be between 0 and the tier's upgrade threshold.
    #[error("tier {tier} has retain threshold {retain} outside 0..={threshold}")]
    RetainOutOfRange {
        /// The tier.
        tier: String,
        /// Its retain threshold.
        retain: i64,
        /// Its upgrade threshold.
        threshold: i64,
    },
    /// The rolling window must be 1 to 3,660 days.
    #[error("tier window of {days} days is outside 1..=3660")]
    Window {
        /// Days given.
        days: u32,
    },
    /// An expiry of zero days would expire points as they are earned.
    #[error("expiry after {days} days is outside 1..=36600")]
    ExpiryDays {
        /// Days given.
        days: u32,
    },
    /// A cap must be positive.
    #[error("cap per transaction {cap} is not positive")]
    Cap {
        /// The cap.
        cap: i64,
    },
}
