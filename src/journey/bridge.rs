//! Typed bridges where the modules meet: what a campaign grant, a purchase, a referral reward
//! and a refund mean for the points ledger, and a patient's facts in one call.
//!
//! Each bridge is a plain function over values. The journey layer ([`super::decide`]) is
//! built on them; a host that calls the modules itself uses them directly and converts
//! nothing by hand.

use chrono::{DateTime, NaiveDate, Utc};

use super::error::JourneyError;
use super::keys::{EventKey, KeyUse};
use super::records::{Purchase, Visit};
use crate::calendar::ClinicCalendar;
use crate::campaign::{self, Amount, Effect, Granted};
use crate::id::CampaignId;
use crate::money::{Points, Yuan};
use crate::patient::Patient;
use crate::points::{
    Account, AdjustReason, CommandKey, CommandKind, EarnPolicy, LedgerCommand, Multiplier,
    PointsError,
};
use crate::referral::{Reward, RewardDecision, RewardStatus};
use crate::segment::{FactsInput, PatientFacts, SegmentError};

/// The points the earning policy gives for a purchase before any campaign: the policy's rate
/// for the purchase's category, ×1, floored once in exact integers
/// ([`EarnPolicy::points`]). This is the base a campaign multiplier multiplies.
///
/// # Errors
///
/// [`PointsError::Overflow`] when the points do not fit in `i64`.
pub fn base_points(purchase: &Purchase, earn: &EarnPolicy) -> Result<Points, PointsError> {
    earn.points(purchase.amount, purchase.category.as_ref(), Multiplier::ONE)
}

/// The campaign trigger event of a purchase, with its base points (see [`base_points`]) and
/// the patient's birth date, ready for [`campaign::evaluate`].
///
/// # Errors
///
/// [`PointsError::Overflow`] as for [`base_points`].
pub fn purchase_event(
    purchase: &Purchase,
    earn: &EarnPolicy,
    birth_date: Option<NaiveDate>,
) -> Result<campaign::Event, PointsError> {
    Ok(campaign::Event::new(campaign::EventKind::Purchase {
        amount: purchase.amount,
    })
    .with_base_points(base_points(purchase, earn)?)
    .with_birth_date(birth_date))
}

/// Points a campaign granted, as the ledger posts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignBonus {
    /// The campaign.
    pub campaign: CampaignId,
    /// The effect's position in the campaign.
    pub rule: usize,
    /// The points granted (positive) or taken back (negative).
    pub points: Points,
    /// The ledger command: an [`CommandKind::Adjust`] with [`AdjustReason::Campaign`].
    pub command: LedgerCommand,
}

/// Cashback a campaign granted: money the host pays (or takes back, on a refund).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cashback {
    /// The campaign.
    pub campaign: CampaignId,
    /// The effect's position in the campaign.
    pub rule: usize,
    /// The amount.
    pub amount: Yuan,
}

/// What a purchase means for the ledger: its base earning, the campaigns' point bonuses and
/// the cashback the host pays.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PurchaseEarning {
    /// The base earning at ×1, `None` for a purchase paid without cash.
    pub earn: Option<LedgerCommand>,
    /// One bonus per granted point effect (fixed points, points per ¥, multipliers).
    pub bonuses: Vec<CampaignBonus>,
    /// One entry per granted cashback.
    pub cashback: Vec<Cashback>,
}

/// Turns a purchase and the effects a campaign evaluation granted for it into ledger
/// commands, each keyed from `key` (the purchase event's key), so a replay posts nothing new.
///
/// The base earning is posted at ×1 and every point effect, a
/// [`Effect::PointsMultiplier`] included, as its own bonus of exactly the points the
/// campaign *granted* (after its caps). Posting the granted figure, rather than handing the
/// multiplier to the ledger ([`Multiplier::from_factor`] does that conversion), keeps the
/// campaign's budget counters and the balances equal to the point, and a refund takes each
/// bonus back in proportion ([`refund_bonus`]). Effects with nothing granted are skipped.
/// Coupons, gifts, messages and staff tasks are not the ledger's: they stay with the
/// evaluation for the host.
pub fn earning(
    key: EventKey,
    purchase: &Purchase,
    granted: &[Granted<'_>],
    lock_until: Option<DateTime<Utc>>,
) -> PurchaseEarning {
    let earn = (!purchase.amount.is_zero()).then(|| {
        LedgerCommand::new(
            key.derive(KeyUse::Earn, 0),
            CommandKind::Earn {
                purchase: purchase.id,
                paid: purchase.amount,
                category: purchase.category.clone(),
                multiplier: Multiplier::ONE,
                lock_until,
            },
        )
    });
    // Sized exactly, once: a purchase under a busy book earns dozens of bonuses, and
    // growing the vectors push by push was a few percent of a day's time.
    let is_bonus = |g: &Granted<'_>| {
        matches!(
            (g.effect, g.granted),
            (
                Effect::FixedPoints { .. }
                    | Effect::PointsPerYuan { .. }
                    | Effect::PointsMultiplier { .. },
                Amount::Points(p),
            ) if p.is_positive()
        )
    };
    let is_cashback = |g: &Granted<'_>| matches!((g.effect, g.granted), (Effect::Cashback { .. }, Amount::Yuan(y)) if !y.is_zero());
    let mut bonuses = Vec::with_capacity(granted.iter().filter(|g| is_bonus(g)).count());
    let mut cashback = Vec::with_capacity(granted.iter().filter(|g| is_cashback(g)).count());
    for (n, g) in granted.iter().enumerate() {
        match (g.effect, g.granted) {
            (
                Effect::FixedPoints { .. }
                | Effect::PointsPerYuan { .. }
                | Effect::PointsMultiplier { .. },
                Amount::Points(p),
            ) if p.is_positive() => bonuses.push(CampaignBonus {
                campaign: g.campaign,
                rule: g.rule,
                points: p,
                command: LedgerCommand::new(
                    key.derive(KeyUse::Bonus, n as u64),
                    CommandKind::Adjust {
                        points: p,
                        reason: AdjustReason::Campaign(g.campaign),
                    },
                ),
            }),
            (Effect::Cashback { .. }, Amount::Yuan(y)) if !y.is_zero() => cashback.push(Cashback {
                campaign: g.campaign,
                rule: g.rule,
                amount: y,
            }),
            _ => {}
        }
    }
    PurchaseEarning {
        earn,
        bonuses,
        cashback,
    }
}

/// How much of something granted on a purchase a refund takes back in total:
/// `floor(granted × refunded ÷ paid)`, the ledger's own clawback rule, so split refunds add
/// up to exactly what was granted and never more. A refund of the whole amount takes all.
pub fn refund_share(granted: i64, refunded: Yuan, paid: Yuan) -> i64 {
    let (r, p) = (
        crate::money::SignedYuan::from(refunded).to_fen(),
        crate::money::SignedYuan::from(paid).to_fen(),
    );
    if p <= 0 || r >= p {
        return granted;
    }
    let share = i128::from(granted) * i128::from(r.max(0)) / i128::from(p);
    i64::try_from(share).unwrap_or(granted)
}

/// The cashback a refund asks back: what the refunds so far make due of `cashback`
/// (`floor(fen granted × refunded ÷ paid)`, the same share as points), less what earlier
/// refunds already asked back. `None` when nothing more is due. The host reclaims it (or
/// cancels it, if not paid out yet): the library holds no cash.
#[must_use]
pub fn refund_cashback(
    cashback: &Cashback,
    already: Yuan,
    refunded_total: Yuan,
    paid: Yuan,
) -> Option<Cashback> {
    let granted = i64::try_from(cashback.amount.to_fen()).unwrap_or(i64::MAX);
    let already = i64::try_from(already.to_fen()).unwrap_or(i64::MAX);
    let due = refund_share(granted, refunded_total, paid).saturating_sub(already);
    let due = u64::try_from(due).ok().filter(|d| *d > 0)?;
    Some(Cashback {
        campaign: cashback.campaign,
        rule: cashback.rule,
        amount: Yuan::saturating_from_fen(due),
    })
}

/// The bonus take-back of one refund: what the refunds so far make due, less what earlier
/// refunds already took, at most `available` (a bonus already spent is not charged twice
/// into debt: the rest is a shortfall, like the ledger's
/// [`crate::points::ShortfallPolicy::TakeAvailable`]). `None` when nothing is due or
/// nothing is available.
///
/// `n` tells the bonuses of one refund apart in their keys.
pub fn refund_bonus(
    key: EventKey,
    n: u64,
    bonus: &CampaignBonus,
    already: Points,
    refunded_total: Yuan,
    paid: Yuan,
    available: Points,
) -> Option<CampaignBonus> {
    let due = refund_share(bonus.points.get(), refunded_total, paid).saturating_sub(already.get());
    let take = due.min(available.get());
    (take > 0).then(|| CampaignBonus {
        campaign: bonus.campaign,
        rule: bonus.rule,
        points: Points::new(-take),
        command: LedgerCommand::new(
            key.derive(KeyUse::BonusBack, n),
            CommandKind::Adjust {
                points: Points::new(-take),
                reason: AdjustReason::Campaign(bonus.campaign),
            },
        ),
    })
}

/// The ledger's refund command for a purchase: the cash refunded now, and the points that
/// paid for it given back in the same proportion ([`refund_share`] of the points redeemed
/// on it, less those already returned). `None` when the ledger has nothing to do (no
/// points earned on or paid with the purchase).
pub fn refund_command(
    key: EventKey,
    account: &Account,
    purchase: &Purchase,
    amount: Yuan,
    refunded_total: Yuan,
) -> Option<LedgerCommand> {
    let pp = account.purchase_points(purchase.id)?;
    let points = refund_share(pp.redeemed.get(), refunded_total, purchase.amount)
        .saturating_sub(pp.returned.get())
        .max(0);
    let cash = if pp.earned.is_positive() {
        amount
    } else {
        Yuan::ZERO
    };
    if cash.is_zero() && points == 0 {
        return None;
    }
    Some(LedgerCommand::new(
        key.derive(KeyUse::Refund, 0),
        CommandKind::Refund {
            purchase: purchase.id,
            amount: cash,
            points: Points::new(points),
        },
    ))
}

/// Which side of a reward a ledger posting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RewardLeg {
    /// Paying the reward.
    Pay,
    /// Taking it back after the qualifying visit was refunded.
    Reverse,
}

/// The ledger key of one leg of a reward, derived from the reward itself (rule,
/// beneficiary, referee and qualifying visit): the same reward always has the same key, so
/// paying it twice posts once, whoever decides it again.
pub fn reward_key(decision: &RewardDecision, leg: RewardLeg) -> CommandKey {
    let mut h = super::keys::Fnv::new();
    h.write(decision.rule.as_str().as_bytes());
    h.write(&decision.beneficiary.get().to_le_bytes());
    h.write(&decision.referee.get().to_le_bytes());
    h.write(&decision.visit.get().to_le_bytes());
    h.write(&[match leg {
        RewardLeg::Pay => 1,
        RewardLeg::Reverse => 2,
    }]);
    CommandKey::new(h.finish())
}

/// A reward's ledger posting, with the time to decide it at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RewardPosting {
    /// Pay or reverse.
    pub leg: RewardLeg,
    /// The beneficiary, whose account it goes to.
    pub account: crate::id::PatientId,
    /// An [`CommandKind::Adjust`] with [`AdjustReason::ReferralReward`].
    pub command: LedgerCommand,
    /// When to decide it: see [`reward_posting`].
    pub at: DateTime<Utc>,
    /// Points of a reversal that were already spent and could not be taken back.
    pub shortfall: Points,
}

/// What a reward decision means for the beneficiary's points account, if anything.
///
/// - An approved points reward not yet paid is paid (key [`reward_key`] `Pay`).
/// - A reversed points reward that was paid and not yet taken back is taken back (key
///   `Reverse`), at most the points available; the rest is the `shortfall`.
/// - Pending, withheld and non-points rewards (and rewards already settled) give `None`:
///   coupons, gifts and services are for the host.
///
/// **Time.** A posting is dated at the decision's time (`approved_at`, `refunded_at`). The
/// ledger orders postings by time and, under [`crate::points::Chronology::Strict`], refuses
/// a command dated before its last posting; a reward decided late (the host noticed the
/// approval after the member earned again) would then be refused as backdated, and a
/// referral paid only on the next run. So the time is the decision's time or, when the
/// account has already posted later, its last posting's time: never earlier than the
/// decision, never refused as `Backdated`. The journey layer pays each reward at the first
/// event after its approval, so in a journal in time order the two are the same.
pub fn reward_posting(decision: &RewardDecision, account: &Account) -> Option<RewardPosting> {
    let Reward::Points(points) = decision.reward else {
        return None;
    };
    let after_last = |t: DateTime<Utc>| account.last_posted_at().map_or(t, |last| last.max(t));
    let reason = AdjustReason::ReferralReward {
        referee: decision.referee,
    };
    let pay = reward_key(decision, RewardLeg::Pay);
    match decision.status {
        RewardStatus::Approved { approved_at } if account.postings_of(pay).is_none() => {
            Some(RewardPosting {
                leg: RewardLeg::Pay,
                account: decision.beneficiary,
                command: LedgerCommand::new(pay, CommandKind::Adjust { points, reason }),
                at: after_last(approved_at),
                shortfall: Points::ZERO,
            })
        }
        RewardStatus::Reversed { refunded_at } => {
            let back = reward_key(decision, RewardLeg::Reverse);
            if account.postings_of(pay).is_none() || account.postings_of(back).is_some() {
                return None;
            }
            let take = points.min(account.available()).get().max(0);
            (take > 0).then(|| RewardPosting {
                leg: RewardLeg::Reverse,
                account: decision.beneficiary,
                command: LedgerCommand::new(
                    back,
                    CommandKind::Adjust {
                        points: Points::new(-take),
                        reason,
                    },
                ),
                at: after_last(refunded_at),
                shortfall: Points::new(points.get().saturating_sub(take)),
            })
        }
        _ => None,
    }
}

/// A patient's facts for segmentation and campaign audiences in one call: the patient (so
/// age, channel and consent are known), their visits and purchases, their points account
/// (balance and tier) and how many referrals they made.
///
/// [`PatientFacts::builder`] leaves everything unknown that it is not told, age included,
/// so an age audience is false for a builder without `.age(..)`; this is the call for a
/// real patient.
///
/// # Errors
///
/// [`SegmentError::Calendar`] when `now` lies outside the accepted range.
pub fn patient_facts(
    patient: &Patient,
    visits: &[Visit],
    purchases: &[Purchase],
    account: Option<&Account>,
    referrals_made: u32,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Result<PatientFacts, SegmentError> {
    let input = FactsInput {
        visits,
        purchases,
        points: account.map(Account::balance),
        tier: account
            .and_then(Account::tier)
            .and_then(|t| t.to_label().ok()),
        referrals_made,
        tags: crate::segment::TagSet::new(),
    };
    PatientFacts::build(patient, &input, now, calendar)
}

/// Checks that a refund stays within what was paid.
pub(crate) fn check_refund(
    purchase: &Purchase,
    before: Yuan,
    amount: Yuan,
) -> Result<Yuan, JourneyError> {
    let total = before
        .checked_add(amount)
        .filter(|t| *t <= purchase.amount)
        .ok_or(JourneyError::OverRefund {
            purchase: purchase.id,
            paid: purchase.amount,
            refunded: before,
            amount,
        })?;
    if amount.is_zero() {
        return Err(JourneyError::ZeroRefund {
            purchase: purchase.id,
        });
    }
    Ok(total)
}
