//! Small value types of the ledger: command keys, multipliers, rates, tier codes, lots, draws.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::id::LotId;
use crate::money::Points;
use crate::text::{Label, TextError};

/// The caller's idempotency key for one command (TigerBeetle's transfer id).
///
/// Hosts derive it from their own request id (an order number, a message id), for example by
/// hashing it. Keys are per account: the same key on two accounts means two commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandKey(u64);

impl CommandKey {
    /// Wraps a caller-chosen key.
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        CommandKey(raw)
    }

    /// The number inside.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CommandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "K{}", self.0)
    }
}

/// A points multiplier in percent: `100` is ×1, `200` a double-points member day (会员日),
/// `150` is ×1.5. Campaigns decide it; the ledger only applies it. At most ×100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Multiplier(u32);

/// A multiplier outside `1..=10000` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("multiplier {percent}% is outside 1..=10000")]
pub struct MultiplierError {
    /// The percentage given.
    pub percent: u32,
}

impl Multiplier {
    /// ×1.
    pub const ONE: Multiplier = Multiplier(100);

    /// Checks a multiplier given in percent.
    ///
    /// # Errors
    ///
    /// [`MultiplierError`] outside `1..=10000`.
    pub const fn percent(percent: u32) -> Result<Self, MultiplierError> {
        if percent == 0 || percent > 10_000 {
            Err(MultiplierError { percent })
        } else {
            Ok(Multiplier(percent))
        }
    }

    /// The percentage.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The multiplier of a campaign factor ([`crate::campaign::Effect::PointsMultiplier`]'s
    /// `factor`): `2` is `200`%, `1.5` is `150`%. A factor finer than a whole percent is
    /// rounded down to one (`1.255` is `125`%), so a member is never credited more than the
    /// campaign wrote.
    ///
    /// # Errors
    ///
    /// [`MultiplierError`] when the factor is not above 0 or the percentage is outside
    /// `1..=10000` (a campaign's factor is at most 100, which fits).
    pub fn from_factor(factor: rust_decimal::Decimal) -> Result<Self, MultiplierError> {
        use rust_decimal::prelude::ToPrimitive;
        // Out of range either way: a huge factor maps to `u32::MAX`, a negative one to 0,
        // and both are then refused with the percentage they stand for.
        let percent = factor
            .checked_mul(rust_decimal::Decimal::ONE_HUNDRED)
            .map(|p| p.floor())
            .and_then(|p| p.to_u32())
            .unwrap_or(if factor.is_sign_negative() {
                0
            } else {
                u32::MAX
            });
        Multiplier::percent(percent)
    }
}

/// `×2`, `×1.5`, `×0.75`: the factor, as a member-day poster writes it.
impl fmt::Display for Multiplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "×{whole}"),
            f10 if f10 % 10 == 0 => write!(f, "×{whole}.{}", f10 / 10),
            _ => write!(f, "×{whole}.{frac:02}"),
        }
    }
}

impl Default for Multiplier {
    fn default() -> Self {
        Multiplier::ONE
    }
}

impl TryFrom<u32> for Multiplier {
    type Error = MultiplierError;
    fn try_from(p: u32) -> Result<Self, Self::Error> {
        Multiplier::percent(p)
    }
}

impl From<Multiplier> for u32 {
    fn from(m: Multiplier) -> u32 {
        m.0
    }
}

/// An earning rate: `points` points for every `per_yuan` yuan paid, e.g. 1 per ¥1, 3 per ¥2,
/// 1 per ¥10. Integers, so the conversion is exact before its one floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRate", into = "RawRate")]
pub struct EarnRate {
    points: u32,
    per_yuan: u32,
}

/// `3 points per ¥2`.
impl fmt::Display for EarnRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} points per ¥{}", self.points, self.per_yuan)
    }
}

#[derive(Serialize, Deserialize)]
struct RawRate {
    points: u32,
    per_yuan: u32,
}

/// An earning rate with a zero denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("earn rate of {points} points per {per_yuan} yuan has a zero denominator")]
pub struct RateError {
    /// Points given.
    pub points: u32,
    /// Yuan given.
    pub per_yuan: u32,
}

impl EarnRate {
    /// One point per yuan.
    pub const ONE_PER_YUAN: EarnRate = EarnRate {
        points: 1,
        per_yuan: 1,
    };

    /// `points` points per `per_yuan` yuan. A zero `points` earns nothing (a category that
    /// is excluded from earning).
    ///
    /// # Errors
    ///
    /// [`RateError`] when `per_yuan` is zero.
    pub const fn new(points: u32, per_yuan: u32) -> Result<Self, RateError> {
        if per_yuan == 0 {
            Err(RateError { points, per_yuan })
        } else {
            Ok(EarnRate { points, per_yuan })
        }
    }

    /// Points per `per_yuan()` yuan.
    #[must_use]
    pub const fn points(self) -> u32 {
        self.points
    }

    /// The yuan the rate is per.
    #[must_use]
    pub const fn per_yuan(self) -> u32 {
        self.per_yuan
    }
}

impl TryFrom<RawRate> for EarnRate {
    type Error = RateError;
    fn try_from(r: RawRate) -> Result<Self, Self::Error> {
        EarnRate::new(r.points, r.per_yuan)
    }
}

impl From<EarnRate> for RawRate {
    fn from(r: EarnRate) -> RawRate {
        RawRate {
            points: r.points,
            per_yuan: r.per_yuan,
        }
    }
}

/// A membership tier code (`silver`, `gold`, `金卡`): a short label of at most 31 bytes of
/// UTF-8 (31 ASCII letters, 10 Chinese characters).
///
/// Kept inline (32 bytes, `Copy`), so checking a member's tier never leaves the account.
/// [`TierCode::to_label`] gives the same text as a [`Label`], so segmentation facts and tags
/// can carry the tier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TierCode {
    len: u8,
    bytes: [u8; TierCode::MAX_BYTES],
}

impl TierCode {
    /// The longest code, in bytes of UTF-8.
    pub const MAX_BYTES: usize = 31;

    /// Checks a tier code: a [`Label`] of at most [`TierCode::MAX_BYTES`] bytes.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, too long or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let l = Label::parse(s)?;
        let b = l.as_str().as_bytes();
        let mut bytes = [0u8; TierCode::MAX_BYTES];
        match (bytes.get_mut(..b.len()), u8::try_from(b.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(b);
                Ok(TierCode { len, bytes })
            }
            _ => Err(TextError::TooLong {
                field: "tier",
                shown: format!("{:?}", l.as_str()),
                len: b.len(),
                max: TierCode::MAX_BYTES,
            }),
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Built from a `&str` cut at its own length, so always UTF-8.
        std::str::from_utf8(b).unwrap_or_default()
    }

    /// The code as a segmentation label.
    ///
    /// # Errors
    ///
    /// Never in practice: the code was checked as a label when parsed.
    pub fn to_label(&self) -> Result<Label, TextError> {
        Label::parse(self.as_str())
    }
}

impl fmt::Debug for TierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TierCode({:?})", self.as_str())
    }
}

impl PartialOrd for TierCode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TierCode {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for TierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for TierCode {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TierCode> for String {
    fn from(t: TierCode) -> String {
        t.as_str().to_owned()
    }
}

/// An instant in Unix seconds with `i64::MAX` meaning "never": the lot key that makes
/// no-expiry lots sort last without an `Option` in the hot path.
pub(crate) const NEVER: i64 = i64::MAX;

pub(crate) fn to_unix(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(NEVER, |t| t.timestamp())
}

/// The expiry key of an open lot: the instant itself, with [`DateTime::MAX_UTC`] meaning
/// "never" (no clinic calendar yields that instant, the last nanosecond of year 262 142).
///
/// Lots keep their expiry as a `DateTime` rather than Unix seconds because every draw
/// copies it into a [`Draw`]: building a `DateTime` from seconds walks chrono's calendar
/// arithmetic, and did so for every lot drawn.
pub(crate) const NEVER_AT: DateTime<Utc> = DateTime::<Utc>::MAX_UTC;

pub(crate) fn to_lot(t: Option<DateTime<Utc>>) -> DateTime<Utc> {
    t.unwrap_or(NEVER_AT)
}

pub(crate) fn from_lot(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (t != NEVER_AT).then_some(t)
}

pub(crate) fn from_unix(s: i64) -> Option<DateTime<Utc>> {
    if s == NEVER {
        None
    } else {
        DateTime::from_timestamp(s, 0)
    }
}

/// An open, spendable lot: what is left of one earning.
///
/// 32 bytes (half a cache line, under the 64-byte bound per open lot). The account keeps its lots
/// sorted by `(expires, id)`: the spending order, soonest expiry first, then oldest (lot ids
/// are posting sequence numbers, so a smaller id is older), no-expiry last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    pub(crate) expires: DateTime<Utc>,
    pub(crate) id: LotId,
    pub(crate) remaining: i64,
}

impl Lot {
    /// The lot.
    #[must_use]
    pub fn id(&self) -> LotId {
        self.id
    }

    /// Points left in it.
    #[must_use]
    pub fn remaining(&self) -> Points {
        Points::new(self.remaining)
    }

    /// When it expires, or `None` for never.
    #[must_use]
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        from_lot(self.expires)
    }

    pub(crate) fn order(&self) -> (DateTime<Utc>, LotId) {
        (self.expires, self.id)
    }
}

/// A locked (pending) lot: earned, but inside the return window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLot {
    pub(crate) id: LotId,
    pub(crate) points: i64,
    pub(crate) expires: i64,
    pub(crate) until: i64,
    pub(crate) purchase: crate::id::PurchaseId,
}

impl PendingLot {
    /// The lot it becomes on release.
    #[must_use]
    pub fn id(&self) -> LotId {
        self.id
    }

    /// Points locked.
    #[must_use]
    pub fn points(&self) -> Points {
        Points::new(self.points)
    }

    /// When it may be released.
    #[must_use]
    pub fn until(&self) -> Option<DateTime<Utc>> {
        from_unix(self.until)
    }

    /// The purchase that earned it.
    #[must_use]
    pub fn purchase(&self) -> crate::id::PurchaseId {
        self.purchase
    }

    /// When the lot will expire once released, or `None` for never.
    #[must_use]
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        from_unix(self.expires)
    }
}

/// Points taken from (or given back to) one lot: the line of a redemption, expiry, clawback
/// or return, like Odoo's `loyalty.point.track`.
///
/// The lot's expiry travels with the draw, so that a return can reopen a lot that was
/// emptied and dropped, with its original expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The lot.
    pub lot: LotId,
    /// How many points.
    pub points: Points,
    /// The lot's expiry (`None`: never).
    pub expires: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lot_fits_in_64_bytes() {
        // The issue's memory bound is 64 bytes per open lot; ours is 32.
        assert_eq!(std::mem::size_of::<Lot>(), 32);
        assert!(std::mem::size_of::<PendingLot>() <= 64);
    }

    #[test]
    fn multiplier_and_rate_bounds() {
        assert!(Multiplier::percent(0).is_err());
        assert!(Multiplier::percent(10_001).is_err());
        assert_eq!(Multiplier::percent(200).unwrap().get(), 200);
        assert!(EarnRate::new(1, 0).is_err());
        assert!(serde_json::from_str::<Multiplier>("0").is_err());
        assert!(serde_json::from_str::<EarnRate>(r#"{"points":1,"per_yuan":0}"#).is_err());
    }

    #[test]
    fn tier_code_is_a_label() {
        let t = TierCode::parse(" gold ").unwrap();
        assert_eq!(t.to_label().unwrap().as_str(), "gold");
        assert_eq!(t.as_str(), "gold");
        assert!(TierCode::parse("").is_err());
        assert!(TierCode::parse(&"x".repeat(31)).is_ok());
        assert!(TierCode::parse(&"x".repeat(32)).is_err());
        let gold = TierCode::parse("金卡会员").unwrap();
        assert_eq!(gold.to_string(), "金卡会员");
        assert!(TierCode::parse(&"金".repeat(11)).is_err());
        assert_eq!(std::mem::size_of::<TierCode>(), 32);
        let json = serde_json::to_string(&gold).unwrap();
        assert_eq!(serde_json::from_str::<TierCode>(&json).unwrap(), gold);
        assert!(serde_json::from_str::<TierCode>("\"\"").is_err());
    }

    #[test]
    fn multiplier_and_rate_display() {
        let m = |p| Multiplier::percent(p).unwrap().to_string();
        assert_eq!(m(100), "×1");
        assert_eq!(m(200), "×2");
        assert_eq!(m(150), "×1.5");
        assert_eq!(m(75), "×0.75");
        assert_eq!(m(105), "×1.05");
        assert_eq!(EarnRate::new(3, 2).unwrap().to_string(), "3 points per ¥2");
    }
}
