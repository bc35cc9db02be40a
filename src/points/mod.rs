//! Membership points: a ledger of lots with expiry, pending points, refunds, idempotency and tiers.
//!
//! A member's points are never a counter. They are a ledger of immutable [`Posting`]s, and
//! the [`Account`] is what those postings add up to ([`Account::replay`]). Every change goes
//! through one pure function and one fold, in the style of TigerBeetle:
//!
//! - [`decide`]`(&account, &command, now, &policy, calendar)` checks a [`LedgerCommand`] and
//!   returns the postings it makes ([`LedgerDecision::Posted`]), the original outcome of a retried key
//!   ([`LedgerDecision::Exists`]), or a typed [`PointsError`]. It reads no clock.
//! - [`apply`]`(&mut account, &posting)` folds a posting in. It cannot fail.
//! - [`crate::store::LedgerStore`] appends postings with an expected version, so two tills
//!   redeeming from one account at once can never both spend the same points.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{PatientId, PurchaseId};
//! use clinic_ops::money::{Points, Yuan};
//! use clinic_ops::points::{
//!     self, Account, CommandKey, CommandKind, ExpiryRule, LedgerCommand, Multiplier, LedgerDecision,
//!     Policy,
//! };
//!
//! let policy = Policy::default().with_expiry(ExpiryRule::EndOfMonth)?;
//! let cal = ClinicCalendar::default(); // UTC+8
//! let mut acc = Account::new(PatientId::new(7));
//! let now = Utc.with_ymd_and_hms(2026, 1, 22, 3, 0, 0).unwrap();
//!
//! // A member-day purchase earns double points, floored: ¥128.50 × 2 = 257.
//! let earn = LedgerCommand::new(CommandKey::new(1), CommandKind::Earn {
//!     purchase: PurchaseId::new(42),
//!     paid: Yuan::parse("128.50")?,
//!     category: None,
//!     multiplier: Multiplier::percent(200)?,
//!     lock_until: None,
//! });
//! let LedgerDecision::Posted(postings) = points::decide(&acc, &earn, now, &policy, cal)? else {
//!     unreachable!()
//! };
//! for p in &postings {
//!     points::apply(&mut acc, p);
//! }
//! assert_eq!(acc.balance(), Points::new(257));
//! // Earned on 22 January, the lot expires at 00:00 on 1 February, Beijing time.
//! let lot = &acc.lots()[0];
//! assert_eq!(lot.expires(), Some(Utc.with_ymd_and_hms(2026, 1, 31, 16, 0, 0).unwrap()));
//!
//! // The till retries after a timeout: same key, same content, nothing changes.
//! assert!(matches!(points::decide(&acc, &earn, now, &policy, cal)?, LedgerDecision::Exists(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules
//!
//! - **Lots and expiry.** Each earning is a lot ([`Lot`], 32 bytes) whose expiry follows the
//!   [`ExpiryRule`] in the clinic calendar: never, N local days, end of month, end of year.
//!   [`CommandKind::Expire`] at `now` empties every lot due at or before `now`, and no other.
//! - **Spending order.** Soonest expiry first, then oldest (lot ids are posting sequence
//!   numbers), no-expiry last. Every redemption records its [`Draw`]s.
//! - **Pending points.** An earning with `lock_until` stays locked (not spendable, no growth)
//!   until [`CommandKind::Release`] at or after that time; a refund meanwhile voids it. Its
//!   expiry is fixed at earning; if that passes while locked, the first expiry run after the
//!   release takes it.
//! - **Refunds.** [`CommandKind::Refund`] claws back `floor(earned × refunded so far ÷ paid)`
//!   less what earlier refunds took, so the member is never over-clawed and split refunds
//!   add up to exactly the points earned. It takes the locked points first, then the
//!   purchase's own lot, then other lots in spending order; what was already spent is a debt
//!   ([`ShortfallPolicy::AllowNegative`]) or a recorded shortfall
//!   ([`ShortfallPolicy::TakeAvailable`]). Points that paid for a purchase go back to the
//!   very lots they came from, most recently drawn first, never more than were drawn.
//!   A purchase earns once and is paid with points once, whatever the key.
//! - **Idempotency.** Every command has a caller [`CommandKey`]. The account keeps each
//!   key's [`Fingerprint`]: the same key with the same content is [`LedgerDecision::Exists`], with
//!   other content [`PointsError::KeyReused`] naming the first differing field. A refused
//!   command leaves no trace, so its key may be retried; an accepted command that made no
//!   postings (an expiry run with nothing due) records no key either.
//! - **Earning.** [`EarnPolicy`]: `floor(fen × points × multiplier% ÷ (per_yuan × 10 000))`
//!   in exact integers, per-category [`EarnRate`]s, a [`Multiplier`] from campaigns, a cap.
//! - **Tiers.** Growth value (成长值) is credited with unlocked earnings and removed by
//!   clawbacks, never spent. [`TierPolicy`]: upgrade as soon as the rolling window's growth
//!   reaches a threshold; down only at [`CommandKind::Review`], below the retain (保级)
//!   threshold; one direction per review; every change a [`PostingKind::TierChanged`] with
//!   its [`TierReason`]. [`TierCode::to_label`] gives the tier as a segmentation label.
//! - **Chronology.** Under [`Chronology::Strict`] a command dated before the account's last
//!   posting is refused.
//! - **Limits.** Every sum is checked: a credit that would overflow a balance or the growth
//!   value is [`PointsError::Overflow`], never a silent saturation.
//!
//! Refunds claw back first, then give points back, within one command; a debt left by the
//! clawback is paid from the points given back.

mod account;
mod command;
mod decide;
mod error;
mod ledger;
mod policy;
mod posting;
mod table;
mod types;

pub use account::{Account, PurchasePoints, apply};
pub use command::{AdjustReason, CommandKind, Fingerprint, LedgerCommand};
pub(crate) use decide::{Clock, decide_into};
pub use decide::{LedgerDecision, Receipt, decide};
pub use error::{PointsError, PolicyError};
pub use ledger::{Executed, Ledger};
pub use policy::{Chronology, EarnPolicy, ExpiryRule, Policy, ShortfallPolicy, Tier, TierPolicy};
pub use posting::{Posting, PostingKind, TierReason};
pub use types::{
    CommandKey, Draw, EarnRate, Lot, Multiplier, MultiplierError, PendingLot, RateError, TierCode,
};

#[cfg(test)]
mod tests;
