//! Membership points: a ledger of lots with expiry, pending points, refunds, idempotency and tiers.

mod account;
mod command;
mod decide;
mod error;
mod policy;
mod posting;
mod types;

pub use account::{Account, PurchasePoints, apply};
pub use command::{AdjustReason, CommandKind, Fingerprint, LedgerCommand};
pub use decide::{Outcome, Receipt, decide};
pub use error::{PointsError, PolicyError};
pub use policy::{Chronology, EarnPolicy, ExpiryRule, Policy, ShortfallPolicy, Tier, TierPolicy};
pub use posting::{Posting, PostingKind, TierReason};
pub use types::{
    CommandKey, Draw, EarnRate, Lot, Multiplier, MultiplierError, PendingLot, RateError, TierCode,
};

#[cfg(test)]
mod tests;
