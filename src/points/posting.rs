//! Postings: the immutable facts of a points account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::command::{AdjustReason, Fingerprint};
use super::types::{CommandKey, Draw, TierCode};
use crate::id::{LotId, PatientId, PurchaseId};
use crate::money::{Points, Yuan};

/// One immutable entry of a member's ledger. A command yields zero or more postings, all
/// carrying its key and fingerprint, with consecutive sequence numbers.
///
/// Postings are what a [`crate::store::LedgerStore`] keeps; [`super::Account::replay`]
/// rebuilds the account from them. Corrections are new postings, never edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// The account (the member).
    pub account: PatientId,
    /// Position in the account's ledger, from 1, without gaps.
    pub seq: u64,
    /// The key of the command that made it.
    pub key: CommandKey,
    /// The command's content, for idempotent retries after a replay.
    pub command: Fingerprint,
    /// When it was posted (the `now` of the command).
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: PostingKind,
}

impl Posting {
    /// A posting with every field given: postings are facts, so nothing is optional. The
    /// ledger makes them; this is for adapters and tests that rebuild them from rows.
    #[must_use]
    pub fn new(
        account: PatientId,
        seq: u64,
        key: CommandKey,
        command: Fingerprint,
        at: DateTime<Utc>,
        kind: PostingKind,
    ) -> Self {
        Posting {
            account,
            seq,
            key,
            command,
            at,
            kind,
        }
    }
}

/// What a [`Posting`] records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum PostingKind {
    /// A purchase earned points: a new lot (pending when `locked_until` is set; a purchase
    /// that earns zero points is still recorded, with no lot, so it can be refunded).
    Earned {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash paid.
        paid: Yuan,
        /// The new lot (its id is this posting's `seq`), `None` when it earned nothing.
        lot: Option<LotId>,
        /// Points earned.
        points: Points,
        /// When the lot expires (`None`: never).
        expires: Option<DateTime<Utc>>,
        /// Locked until then: not spendable, not counted toward tier.
        #[serde(default, with = "crate::calendar::in_range::option_instant")]
        locked_until: Option<DateTime<Utc>>,
        /// Points that paid off an earlier debt instead of staying in the lot.
        settled: Points,
        /// Growth value credited (0 while locked).
        growth: i64,
    },
    /// A pending lot was unlocked.
    Released {
        /// The purchase.
        purchase: PurchaseId,
        /// The lot.
        lot: LotId,
        /// Points unlocked.
        points: Points,
        /// Its expiry.
        expires: Option<DateTime<Utc>>,
        /// Points that paid off a debt.
        settled: Points,
        /// Growth value credited.
        growth: i64,
    },
    /// Points were spent, from these lots.
    Redeemed {
        /// The purchase paid, if any.
        purchase: Option<PurchaseId>,
        /// Points spent.
        points: Points,
        /// The lots drawn, in spending order.
        draws: Vec<Draw>,
    },
    /// Lots reached their expiry.
    Expired {
        /// Points expired.
        points: Points,
        /// The lots, emptied.
        draws: Vec<Draw>,
    },
    /// A manual adjustment.
    Adjusted {
        /// Why.
        reason: AdjustReason,
        /// The signed change.
        points: Points,
        /// The lot created by a positive adjustment.
        lot: Option<LotId>,
        /// Its expiry.
        expires: Option<DateTime<Utc>>,
        /// Points of a positive adjustment that paid off a debt.
        settled: Points,
        /// The lots drawn by a negative adjustment.
        draws: Vec<Draw>,
    },
    /// A refund clawed back points a purchase had earned.
    ClawedBack {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash refunded by this refund.
        refunded: Yuan,
        /// Points due back: `floor(earned × refunded so far ÷ paid)` less what earlier
        /// refunds already took.
        points: Points,
        /// Of those, locked points voided.
        voided: Points,
        /// Of those, taken from lots, in this order (the purchase's own lot first).
        draws: Vec<Draw>,
        /// Of those, booked as debt (policy `AllowNegative`).
        debt: Points,
        /// Of those, not taken because they were already spent (policy `TakeAvailable`).
        shortfall: Points,
        /// Growth value removed.
        growth: i64,
    },
    /// A refund gave back points that had paid for the purchase, to the lots they came from.
    Returned {
        /// The purchase.
        purchase: PurchaseId,
        /// Points given back.
        points: Points,
        /// The lots refilled (reopened if they had been emptied).
        draws: Vec<Draw>,
        /// Points that paid off a debt instead.
        settled: Points,
    },
    /// The member's tier changed.
    TierChanged {
        /// The old tier (`None`: none yet).
        from: Option<TierCode>,
        /// The new tier (`None`: below every tier).
        to: Option<TierCode>,
        /// Why.
        reason: TierReason,
        /// Growth value in the rolling window at the time.
        window_growth: i64,
    },
    /// A tier review ran; growth earned before `window_start` no longer counts.
    Reviewed {
        /// The start of the rolling window.
        window_start: DateTime<Utc>,
        /// Growth value in the window.
        window_growth: i64,
    },
}

/// Why a tier changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
#[non_exhaustive]
pub enum TierReason {
    /// Window growth reached the tier's upgrade threshold.
    Upgrade {
        /// The threshold crossed.
        threshold: i64,
    },
    /// At a review, window growth was below the current tier's retain (保级) threshold.
    BelowRetain {
        /// The retain threshold missed.
        retain: i64,
    },
}
