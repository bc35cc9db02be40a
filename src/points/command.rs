//! Ledger commands and their fingerprints (what an idempotent retry is compared against).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{CommandKey, Multiplier};
use crate::id::{CampaignId, PurchaseId};
use crate::journey::Category;
use crate::money::{Points, Yuan};

/// One command to a member's points account, with the caller's idempotency key.
///
/// The time of a command is the `now` given to [`super::decide`], not part of the command:
/// a retry sent later with the same key and content is the same command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCommand {
    /// The caller's idempotency key.
    pub key: CommandKey,
    /// What to do.
    pub kind: CommandKind,
}

impl LedgerCommand {
    /// A command with its key.
    #[must_use]
    pub fn new(key: CommandKey, kind: CommandKind) -> Self {
        LedgerCommand { key, kind }
    }
}

/// What a [`LedgerCommand`] asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
#[non_exhaustive]
pub enum CommandKind {
    /// Earn points on a paid purchase: one lot, locked until `lock_until` if given.
    Earn {
        /// The purchase; each earns at most once.
        purchase: PurchaseId,
        /// The cash paid, the base of the points.
        paid: Yuan,
        /// The product category, for per-category rates.
        category: Option<Category>,
        /// The campaign multiplier (member days), ×1 by default.
        multiplier: Multiplier,
        /// The end of the return window: the points stay pending until then.
        #[serde(default, with = "crate::calendar::in_range::option_instant")]
        lock_until: Option<DateTime<Utc>>,
    },
    /// Spend points, optionally as payment for a purchase (so a refund can return them).
    Redeem {
        /// How many points.
        points: Points,
        /// The purchase they pay for; each purchase is paid with points at most once.
        purchase: Option<PurchaseId>,
    },
    /// Refund a purchase, fully or in part.
    ///
    /// `amount` is the cash refunded: the points the purchase earned are clawed back in
    /// proportion. `points` is how many of the points that paid for it are given back, to
    /// the very lots they came from. Either may be zero, not both.
    Refund {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash refunded in this refund.
        amount: Yuan,
        /// Points given back in this refund.
        points: Points,
    },
    /// Unlock the pending points of a purchase, at or after the end of its lock.
    Release {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// Expire every lot whose expiry is at or before now.
    Expire,
    /// A manual correction or bonus: positive creates a lot, negative draws in spending order.
    Adjust {
        /// The signed change, not zero.
        points: Points,
        /// Why.
        reason: AdjustReason,
    },
    /// The periodic tier review: the only way a tier goes down.
    Review,
}

/// Why an adjustment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdjustReason {
    /// Correcting an earlier mistake.
    Correction,
    /// A goodwill gesture from staff.
    Goodwill,
    /// A campaign bonus (gift, check-in, birthday).
    Campaign(CampaignId),
    /// Points moved in from another system.
    Migration,
    /// A referral reward (positive) or its reversal after the qualifying visit was refunded
    /// (negative), for the referral of `referee`; see
    /// [`crate::journey::reward_posting`].
    ReferralReward {
        /// The referee whose first paid visit qualified the reward.
        referee: crate::id::PatientId,
    },
}

/// The content of a command, kept per key so that a retry is a comparison, not a re-run.
///
/// The category is kept as a 64-bit FNV-1a hash, so the record stays small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
#[non_exhaustive]
pub enum Fingerprint {
    /// An [`CommandKind::Earn`].
    Earn {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash paid.
        paid: Yuan,
        /// FNV-1a of the category code, 0 without one.
        category: u64,
        /// The multiplier.
        multiplier: Multiplier,
        /// The lock end, in Unix seconds.
        lock_until: Option<i64>,
    },
    /// A [`CommandKind::Redeem`].
    Redeem {
        /// Points.
        points: Points,
        /// The purchase paid.
        purchase: Option<PurchaseId>,
    },
    /// A [`CommandKind::Refund`].
    Refund {
        /// The purchase.
        purchase: PurchaseId,
        /// Cash refunded.
        amount: Yuan,
        /// Points given back.
        points: Points,
    },
    /// A [`CommandKind::Release`].
    Release {
        /// The purchase.
        purchase: PurchaseId,
    },
    /// A [`CommandKind::Expire`].
    Expire,
    /// A [`CommandKind::Adjust`].
    Adjust {
        /// Points.
        points: Points,
        /// Why.
        reason: AdjustReason,
    },
    /// A [`CommandKind::Review`].
    Review,
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Fingerprint {
    /// The fingerprint of a command's content.
    #[must_use]
    pub fn of(kind: &CommandKind) -> Fingerprint {
        match kind {
            CommandKind::Earn {
                purchase,
                paid,
                category,
                multiplier,
                lock_until,
            } => Fingerprint::Earn {
                purchase: *purchase,
                paid: *paid,
                category: category.as_ref().map_or(0, |c| fnv1a(c.as_str())),
                multiplier: *multiplier,
                lock_until: lock_until.map(|t| t.timestamp()),
            },
            CommandKind::Redeem { points, purchase } => Fingerprint::Redeem {
                points: *points,
                purchase: *purchase,
            },
            CommandKind::Refund {
                purchase,
                amount,
                points,
            } => Fingerprint::Refund {
                purchase: *purchase,
                amount: *amount,
                points: *points,
            },
            CommandKind::Release { purchase } => Fingerprint::Release {
                purchase: *purchase,
            },
            CommandKind::Expire => Fingerprint::Expire,
            CommandKind::Adjust { points, reason } => Fingerprint::Adjust {
                points: *points,
                reason: *reason,
            },
            CommandKind::Review => Fingerprint::Review,
        }
    }

    /// The name of the operation (`earn`, `redeem`, ...).
    #[must_use]
    pub fn op(&self) -> &'static str {
        match self {
            Fingerprint::Earn { .. } => "earn",
            Fingerprint::Redeem { .. } => "redeem",
            Fingerprint::Refund { .. } => "refund",
            Fingerprint::Release { .. } => "release",
            Fingerprint::Expire => "expire",
            Fingerprint::Adjust { .. } => "adjust",
            Fingerprint::Review => "review",
        }
    }

    /// The first field in which `other` differs from `self`, or `None` when they are equal:
    /// `op` when the operations differ.
    #[must_use]
    pub fn first_difference(&self, other: &Fingerprint) -> Option<&'static str> {
        use Fingerprint as F;
        fn first(fields: &[(&'static str, bool)]) -> Option<&'static str> {
            fields.iter().find(|(_, same)| !same).map(|(n, _)| *n)
        }
        match (self, other) {
            (
                F::Earn {
                    purchase: a1,
                    paid: a2,
                    category: a3,
                    multiplier: a4,
                    lock_until: a5,
                },
                F::Earn {
                    purchase: b1,
                    paid: b2,
                    category: b3,
                    multiplier: b4,
                    lock_until: b5,
                },
            ) => first(&[
                ("purchase", a1 == b1),
                ("paid", a2 == b2),
                ("category", a3 == b3),
                ("multiplier", a4 == b4),
                ("lock_until", a5 == b5),
            ]),
            (
                F::Redeem {
                    points: a1,
                    purchase: a2,
                },
                F::Redeem {
                    points: b1,
                    purchase: b2,
                },
            ) => first(&[("points", a1 == b1), ("purchase", a2 == b2)]),
            (
                F::Refund {
                    purchase: a1,
                    amount: a2,
                    points: a3,
                },
                F::Refund {
                    purchase: b1,
                    amount: b2,
                    points: b3,
                },
            ) => first(&[
                ("purchase", a1 == b1),
                ("amount", a2 == b2),
                ("points", a3 == b3),
            ]),
            (F::Release { purchase: a }, F::Release { purchase: b }) => {
                first(&[("purchase", a == b)])
            }
            (F::Expire, F::Expire) | (F::Review, F::Review) => None,
            (
                F::Adjust {
                    points: a1,
                    reason: a2,
                },
                F::Adjust {
                    points: b1,
                    reason: b2,
                },
            ) => first(&[("points", a1 == b1), ("reason", a2 == b2)]),
            _ => Some("op"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_named() {
        let a = Fingerprint::of(&CommandKind::Redeem {
            points: Points::new(5),
            purchase: None,
        });
        let b = Fingerprint::of(&CommandKind::Redeem {
            points: Points::new(6),
            purchase: None,
        });
        assert_eq!(a.first_difference(&a), None);
        assert_eq!(a.first_difference(&b), Some("points"));
        assert_eq!(a.first_difference(&Fingerprint::Expire), Some("op"));
        let e = |c: &str| {
            Fingerprint::of(&CommandKind::Earn {
                purchase: PurchaseId::new(1),
                paid: Yuan::from_fen(100),
                category: Some(Category::parse(c).unwrap()),
                multiplier: Multiplier::ONE,
                lock_until: None,
            })
        };
        assert_eq!(e("herbal").first_difference(&e("course")), Some("category"));
    }
}
