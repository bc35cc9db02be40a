//! Content accounts and their cost terms.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ContentError;
use crate::id::{AccountId, ClinicId, DoctorId, StaffId};
use crate::money::{MAX_FEN, Yuan};
use crate::patient::Platform;
use crate::text::Label;

/// Who runs an account, which also says who is paid for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountKind {
    /// A doctor's personal IP account (医生IP号).
    DoctorIp,
    /// The clinic's brand account (企业号).
    ClinicBrand,
    /// An employee's account (员工号).
    Employee,
    /// A paid key opinion leader.
    Kol,
    /// A paid key opinion consumer.
    Koc,
    /// A cross-industry partner (异业合作).
    Partner,
}

impl AccountKind {
    /// Whether the account belongs to someone outside the clinic who is paid by its terms
    /// (KOL, KOC, partner): their cost is a payout.
    #[must_use]
    pub fn is_external(self) -> bool {
        matches!(
            self,
            AccountKind::Kol | AccountKind::Koc | AccountKind::Partner
        )
    }
}

/// The owner of an account: a doctor, a person of staff, the clinic, or an outside creator
/// or partner named by the clinic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountOwner {
    /// A doctor of the clinic.
    Doctor(DoctorId),
    /// A person of staff.
    Staff(StaffId),
    /// The clinic itself.
    Clinic(ClinicId),
    /// Someone outside the clinic, by the name the clinic uses for them.
    External(Label),
}

impl AccountOwner {
    fn fits(&self, kind: AccountKind) -> bool {
        matches!(
            (kind, self),
            (AccountKind::DoctorIp, AccountOwner::Doctor(_))
                | (AccountKind::ClinicBrand, AccountOwner::Clinic(_))
                | (AccountKind::Employee, AccountOwner::Staff(_))
                | (
                    AccountKind::Kol | AccountKind::Koc | AccountKind::Partner,
                    AccountOwner::External(_)
                )
        )
    }
}

/// What an account costs: a fixed fee per post, a fee per lead it brings, and a share of
/// the revenue of the patients attributed to it. Any part may be zero.
///
/// The cost of a post is `per_post + per_lead × leads + revenue_share% × revenue`, the
/// share rounded to the fen with [`money::ROUNDING`](crate::money::ROUNDING) (half to
/// even) per post; an account's cost is the sum of its posts' costs, so the two always
/// add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawCostTerms")]
pub struct CostTerms {
    per_post: Yuan,
    per_lead: Yuan,
    revenue_share: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCostTerms {
    #[serde(default)]
    per_post: Yuan,
    #[serde(default)]
    per_lead: Yuan,
    #[serde(default)]
    revenue_share: Decimal,
}

impl TryFrom<RawCostTerms> for CostTerms {
    type Error = ContentError;
    fn try_from(r: RawCostTerms) -> Result<Self, Self::Error> {
        CostTerms::new(r.per_post, r.per_lead, r.revenue_share)
    }
}

impl CostTerms {
    /// No cost: the clinic's own accounts, whose people are paid otherwise.
    pub const FREE: CostTerms = CostTerms {
        per_post: Yuan::ZERO,
        per_lead: Yuan::ZERO,
        revenue_share: Decimal::ZERO,
    };

    /// Terms with a fee per post, a fee per lead and a revenue share in percent.
    ///
    /// # Errors
    ///
    /// [`ContentError::RevenueShare`] for a share below 0% or above 100%. Amounts are
    /// [`Yuan`], which is never negative.
    pub fn new(
        per_post: Yuan,
        per_lead: Yuan,
        revenue_share: Decimal,
    ) -> Result<Self, ContentError> {
        if revenue_share.is_sign_negative() && !revenue_share.is_zero()
            || revenue_share > Decimal::ONE_HUNDRED
        {
            return Err(ContentError::RevenueShare {
                value: revenue_share,
            });
        }
        Ok(CostTerms {
            per_post,
            per_lead,
            revenue_share,
        })
    }

    /// The fixed fee per post.
    #[must_use]
    pub fn per_post(&self) -> Yuan {
        self.per_post
    }

    /// The fee per lead.
    #[must_use]
    pub fn per_lead(&self) -> Yuan {
        self.per_lead
    }

    /// The revenue share, in percent.
    #[must_use]
    pub fn revenue_share(&self) -> Decimal {
        self.revenue_share
    }

    /// The cost of one post that brought `leads` leads and `revenue`, rounded to the fen
    /// (half to even) and saturating at the largest amount.
    #[must_use]
    pub fn cost_of_post(&self, leads: u64, revenue: Yuan) -> Yuan {
        let per_lead = self.per_lead.mul_ratio(Decimal::from(leads), Decimal::ONE);
        let share = revenue.percent(self.revenue_share);
        [self.per_post, per_lead, share]
            .into_iter()
            .try_fold(Yuan::ZERO, Yuan::checked_add)
            .unwrap_or(Yuan::MAX)
    }

    /// The terms in whole fen, for [`FenTerms::cost_fen`], when its integer arithmetic is
    /// exactly that of [`cost_of_post`](Self::cost_of_post): fees of a plain sign (a
    /// `Yuan` may hold a negative zero, which the decimal path would carry through) and a
    /// share of at most [`FenTerms::MAX_SHARE_SCALE`] decimal places, so that the
    /// decimal product and quotient of any revenue up to [`MAX_FEN`] are exact. `None`
    /// otherwise: the caller then takes the decimal path.
    pub(crate) fn fen_terms(&self) -> Option<FenTerms> {
        let plain = |y: Yuan| !y.amount().is_sign_negative();
        let share = self.revenue_share;
        let scale = share.scale();
        if !plain(self.per_post)
            || !plain(self.per_lead)
            || share.is_sign_negative()
            || scale > FenTerms::MAX_SHARE_SCALE
        {
            return None;
        }
        Some(FenTerms {
            per_post: self.per_post.to_fen(),
            per_lead: self.per_lead.to_fen(),
            share: u128::try_from(share.mantissa()).ok()?,
            // revenue × share% in fen: revenue_fen × mantissa ÷ (100 × 10^scale).
            share_den: 100 * 10u128.pow(scale),
        })
    }
}

/// [`CostTerms`] in whole fen: the per-post sum of the reports as integer arithmetic,
/// exactly equal to the decimal [`CostTerms::cost_of_post`] (built by
/// [`CostTerms::fen_terms`] only where it is; a property test compares the two).
///
/// The decimal path spends most of a 100,000-post report in `Decimal` products,
/// quotients, normalisations and rescales; here a post costs a few integer operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FenTerms {
    per_post: u64,
    per_lead: u64,
    /// The share's decimal mantissa: the share is `share / 10^scale` percent.
    share: u128,
    /// `100 × 10^scale`.
    share_den: u128,
}

impl FenTerms {
    /// The most decimal places of a share the integer path takes: with a share of at most
    /// 100% its mantissa is at most 10¹², and a revenue of at most [`MAX_FEN`] (10¹⁴)
    /// times that stays below 10²⁷, inside both `u128` and the 96 bits of a `Decimal`,
    /// whose product and quotient by 100 (scale 14 at most) are then exact.
    pub(crate) const MAX_SHARE_SCALE: u32 = 10;

    /// [`CostTerms::cost_of_post`] in fen, for a revenue of `revenue_fen` (at most
    /// [`MAX_FEN`]): `per_post + per_lead × leads + share`, the share rounded half to
    /// even, the sum saturating at [`MAX_FEN`] as the decimal sum saturates at
    /// [`Yuan::MAX`].
    #[inline]
    pub(crate) fn cost_fen(&self, leads: u64, revenue_fen: u64) -> u64 {
        // Saturating, though the bounds above keep every product far below u128::MAX.
        let num = u128::from(revenue_fen).saturating_mul(self.share);
        // share_den is at least 100, never zero.
        let (q, r) = (num / self.share_den, num % self.share_den);
        let half = self.share_den / 2;
        let share = if r > half || (r == half && q % 2 == 1) {
            q + 1
        } else {
            q
        };
        let sum = u128::from(self.per_post)
            .saturating_add(u128::from(self.per_lead).saturating_mul(u128::from(leads)))
            .saturating_add(share);
        // At most MAX_FEN, so it fits.
        u64::try_from(sum.min(u128::from(MAX_FEN))).unwrap_or(MAX_FEN)
    }
}

/// A content account on one platform, with its owner and cost terms.
///
/// ```
/// use clinic_ops::content::{ContentAccount, AccountKind, AccountOwner, CostTerms};
/// use clinic_ops::id::{AccountId, DoctorId};
/// use clinic_ops::patient::Platform;
/// use clinic_ops::text::Label;
///
/// let a = ContentAccount::new(
///     AccountId::new(1),
///     AccountKind::DoctorIp,
///     Platform::Xiaohongshu,
///     Label::parse("李医生讲中医")?,
///     AccountOwner::Doctor(DoctorId::new(7)),
///     CostTerms::FREE,
/// )?;
/// assert_eq!(a.platform(), Platform::Xiaohongshu);
/// # Ok::<(), clinic_ops::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAccount")]
pub struct ContentAccount {
    id: AccountId,
    kind: AccountKind,
    platform: Platform,
    name: Label,
    owner: AccountOwner,
    terms: CostTerms,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: AccountId,
    kind: AccountKind,
    platform: Platform,
    name: Label,
    owner: AccountOwner,
    terms: CostTerms,
}

impl TryFrom<RawAccount> for ContentAccount {
    type Error = ContentError;
    fn try_from(r: RawAccount) -> Result<Self, Self::Error> {
        ContentAccount::new(r.id, r.kind, r.platform, r.name, r.owner, r.terms)
    }
}

impl ContentAccount {
    /// An account, checked.
    ///
    /// # Errors
    ///
    /// [`ContentError::OwnerMismatch`] when the owner does not fit the kind: a doctor IP
    /// account belongs to a doctor, a brand account to a clinic, an employee account to a
    /// person of staff, and KOL, KOC and partner accounts to someone outside.
    pub fn new(
        id: AccountId,
        kind: AccountKind,
        platform: Platform,
        name: Label,
        owner: AccountOwner,
        terms: CostTerms,
    ) -> Result<Self, ContentError> {
        if !owner.fits(kind) {
            return Err(ContentError::OwnerMismatch { account: id, kind });
        }
        Ok(ContentAccount {
            id,
            kind,
            platform,
            name,
            owner,
            terms,
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> AccountKind {
        self.kind
    }

    /// The platform.
    #[must_use]
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The account's name on the platform.
    #[must_use]
    pub fn name(&self) -> &Label {
        &self.name
    }

    /// Who runs it.
    #[must_use]
    pub fn owner(&self) -> &AccountOwner {
        &self.owner
    }

    /// What it costs.
    #[must_use]
    pub fn terms(&self) -> &CostTerms {
        &self.terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Yuan {
        Yuan::parse(s).unwrap()
    }

    #[test]
    fn terms_refuse_shares_outside_0_to_100() {
        assert!(CostTerms::new(Yuan::ZERO, Yuan::ZERO, Decimal::from(101)).is_err());
        assert!(CostTerms::new(Yuan::ZERO, Yuan::ZERO, Decimal::from(-1)).is_err());
        assert!(CostTerms::new(Yuan::ZERO, Yuan::ZERO, Decimal::ONE_HUNDRED).is_ok());
        let e = serde_json::from_str::<CostTerms>(r#"{"revenue_share":"150"}"#).unwrap_err();
        assert!(e.to_string().contains("150"), "{e}");
        assert!(serde_json::from_str::<CostTerms>(r#"{"per_lead":"-5"}"#).is_err());
    }

    #[test]
    fn post_cost_worked_example() {
        // A KOC: ¥200 a post, ¥30 a lead, 5% of revenue. 4 leads, ¥1,234.50 revenue:
        // 200 + 120 + 61.725 → 61.72 (half to even) = 381.72.
        let t = CostTerms::new(y("200"), y("30"), Decimal::new(5, 0)).unwrap();
        assert_eq!(t.cost_of_post(4, y("1234.50")).to_string(), "381.72");
        assert_eq!(CostTerms::FREE.cost_of_post(9, y("99")), Yuan::ZERO);
    }

    #[test]
    fn owners_must_fit_kinds() {
        let name = Label::parse("x").unwrap();
        let ok = ContentAccount::new(
            AccountId::new(1),
            AccountKind::Koc,
            Platform::Douyin,
            name.clone(),
            AccountOwner::External(name.clone()),
            CostTerms::FREE,
        );
        assert!(ok.is_ok());
        let bad = ContentAccount::new(
            AccountId::new(2),
            AccountKind::DoctorIp,
            Platform::Douyin,
            name,
            AccountOwner::Clinic(ClinicId::new(1)),
            CostTerms::FREE,
        )
        .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "account AC2 of kind doctor_ip has an owner of another kind"
        );
    }
}
