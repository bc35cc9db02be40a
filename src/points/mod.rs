//! Membership points: a ledger of lots with expiry, pending points, refunds, idempotency and tiers.

mod command;
mod posting;
mod types;

pub use command::{AdjustReason, CommandKind, Fingerprint, LedgerCommand};
pub use posting::{Posting, PostingKind, TierReason};
pub use types::{
    CommandKey, Draw, EarnRate, Lot, Multiplier, MultiplierError, PendingLot, RateError, TierCode,
};
