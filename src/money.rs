//! Money in yuan and membership points.
//!
//! - [`Yuan`] is a non-negative amount of money with at most 2 decimal places (fen). Every
//!   computation that can produce more places (a percentage, a proportional refund, a mean)
//!   rounds with [`ROUNDING`]: banker's rounding, half to even, to the fen. One rule, named
//!   once, used everywhere.
//! - [`SignedYuan`] is the one money type that may be negative: profits, ROI numerators and
//!   corrections.
//! - Whole fen (1/100 yuan) are the integer form of money, for arithmetic in integers:
//!   [`Yuan::to_fen`] and [`SignedYuan::to_fen`] are exact (an amount is always whole fen
//!   and at most [`MAX_FEN`]); the way back is [`Yuan::from_fen`] (a `u32`, exact),
//!   `try_from_fen` (refuses beyond [`MAX_FEN`]) or `saturating_from_fen` (clamps to the
//!   limit). No conversion rounds.
//! - [`Points`] are whole membership points, an `i64` with checked arithmetic. They are never
//!   floating point and never rounded silently: where a rule turns yuan into points it names
//!   its rounding (the points module floors).
//!
//! ```
//! use clinic_ops::money::{Points, Yuan};
//! use rust_decimal::Decimal;
//!
//! let price = Yuan::parse("128.50")?;
//! // 5% cashback, rounded half-to-even to the fen.
//! let back = price.percent(Decimal::new(5, 0));
//! assert_eq!(back.to_string(), "6.42");
//! assert_eq!(Points::new(100).checked_add(Points::new(20)), Some(Points::new(120)));
//! # Ok::<(), clinic_ops::money::MoneyError>(())
//! ```

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The crate's one rounding rule for money: half to even (banker's rounding) to 2 decimal
/// places. It is unbiased over many roundings, which matters for sums of many refunds.
pub const ROUNDING: RoundingStrategy = RoundingStrategy::MidpointNearestEven;

/// Decimal places of a yuan amount (fen).
pub const YUAN_SCALE: u32 = 2;

/// The largest amount the crate accepts: ¥1 trillion, far above any clinic transaction and
/// far below where `Decimal` arithmetic could overflow.
pub const MAX_YUAN: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// The largest amount in whole fen: [`MAX_YUAN`] × 100 = 10¹⁴, which fits `u64` and `i64`
/// with room to spare, so every fen conversion of an amount is exact.
pub const MAX_FEN: u64 = 100_000_000_000_000;

/// Errors from parsing or building money values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The text is not a decimal number.
    #[error("amount {value:?} is not a decimal number")]
    NotANumber {
        /// The text given.
        value: String,
    },
    /// A negative amount where the type does not allow one.
    #[error("amount {value} is negative")]
    Negative {
        /// The amount given.
        value: Decimal,
    },
    /// More than two decimal places: refused rather than silently rounded.
    #[error("amount {value} has more than 2 decimal places")]
    TooPrecise {
        /// The amount given.
        value: Decimal,
    },
    /// Beyond [`MAX_YUAN`].
    #[error("amount {value} exceeds the limit of 1000000000000")]
    TooLarge {
        /// The amount given.
        value: Decimal,
    },
}

fn check_amount(value: Decimal, allow_negative: bool) -> Result<Decimal, MoneyError> {
    if !allow_negative && value.is_sign_negative() && !value.is_zero() {
        return Err(MoneyError::Negative { value });
    }
    if value.abs() > MAX_YUAN {
        return Err(MoneyError::TooLarge { value });
    }
    let normal = value.normalize();
    if normal.scale() > YUAN_SCALE {
        return Err(MoneyError::TooPrecise { value });
    }
    let mut v = value;
    v.rescale(YUAN_SCALE);
    Ok(v)
}

fn parse_decimal(s: &str) -> Result<Decimal, MoneyError> {
    let t = s.trim();
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| MoneyError::NotANumber {
            value: s.to_owned(),
        })
}

/// The amount in whole fen, signed. Every amount the types hold is whole fen at most
/// [`MAX_FEN`] in size, so this is exact; a value built at another scale (the saturated
/// [`MAX_YUAN`] is scale 0) is rescaled first, which for whole fen loses nothing. The
/// clamp at the `i64` range is unreachable and only keeps the function total.
#[inline]
fn fen_of(value: Decimal) -> i64 {
    let mut d = value;
    if d.scale() != YUAN_SCALE {
        d.rescale(YUAN_SCALE);
    }
    let m = d.mantissa();
    i64::try_from(m).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
}

/// Whole fen to a decimal of scale 2 (exact for every `i64`).
#[inline]
fn decimal_of_fen(fen: i64) -> Decimal {
    Decimal::new(fen, YUAN_SCALE)
}

/// [`MAX_FEN`] as an `i64` (it fits: 10¹⁴ < 2⁶³).
const MAX_FEN_I64: i64 = 100_000_000_000_000;

/// Rounds a decimal to the fen with [`ROUNDING`].
#[must_use]
pub fn round_fen(value: Decimal) -> Decimal {
    let mut v = value.round_dp_with_strategy(YUAN_SCALE, ROUNDING);
    v.rescale(YUAN_SCALE);
    v
}

/// A non-negative amount of money in yuan (¥), exact to the fen.
///
/// Use `Yuan` for prices, payments, budgets and caps. Use [`SignedYuan`] only where a value
/// can really be negative (a loss). Construction refuses negative values, more than two
/// decimal places and amounts over [`MAX_YUAN`]; deserialisation goes through the same check.
/// Serialised as a JSON string (`"12.30"`) so no precision is lost on the way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawAmount", into = "Decimal")]
pub struct Yuan(Decimal);

/// [`Yuan::ZERO`], with its two places: a derived default would be a scale-0 zero that
/// displays and serialises as `"0"`, unlike every other amount.
impl Default for Yuan {
    fn default() -> Self {
        Yuan::ZERO
    }
}

/// What serde reads for an amount: text goes through the same `parse` as callers use, so that
/// `" 1.50 "` means the same in JSON as in code; numbers go through `new`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawAmount {
    Text(String),
    Number(Decimal),
}

impl TryFrom<RawAmount> for Yuan {
    type Error = MoneyError;
    fn try_from(raw: RawAmount) -> Result<Self, Self::Error> {
        match raw {
            RawAmount::Text(s) => Yuan::parse(&s),
            RawAmount::Number(d) => Yuan::new(d),
        }
    }
}

impl TryFrom<RawAmount> for SignedYuan {
    type Error = MoneyError;
    fn try_from(raw: RawAmount) -> Result<Self, Self::Error> {
        match raw {
            RawAmount::Text(s) => SignedYuan::parse(&s),
            RawAmount::Number(d) => SignedYuan::new(d),
        }
    }
}

impl Yuan {
    /// ¥0.00.
    pub const ZERO: Yuan = Yuan(Decimal::from_parts(0, 0, 0, false, YUAN_SCALE));

    /// Builds an amount from a decimal.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Negative`], [`MoneyError::TooPrecise`] or [`MoneyError::TooLarge`].
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        check_amount(value, false).map(Yuan)
    }

    /// The largest amount, [`MAX_YUAN`], with its two places.
    pub const MAX: Yuan = Yuan(Decimal::from_parts(
        276_447_232,
        23_283,
        0,
        false,
        YUAN_SCALE,
    ));

    /// Builds an amount from a whole number of fen (1/100 yuan). Exact and infallible: every
    /// `u32` is far below [`MAX_FEN`]. For larger counts use [`Yuan::try_from_fen`] or
    /// [`Yuan::saturating_from_fen`].
    #[inline]
    #[must_use]
    pub fn from_fen(fen: u32) -> Self {
        // The same value as `Decimal::new(fen, 2)`, built inline (in registers) rather than
        // through an out-of-line call writing it to memory: the campaign engine builds one
        // per cashback effect.
        Yuan(Decimal::from_parts(fen, 0, 0, false, YUAN_SCALE))
    }

    /// Builds an amount from a whole number of fen.
    ///
    /// # Errors
    ///
    /// [`MoneyError::TooLarge`] beyond [`MAX_FEN`] (¥10¹²).
    #[inline]
    pub fn try_from_fen(fen: u64) -> Result<Self, MoneyError> {
        if let Ok(small) = u32::try_from(fen) {
            return Ok(Yuan::from_fen(small));
        }
        match i64::try_from(fen) {
            Ok(f) if f <= MAX_FEN_I64 => Ok(Yuan(decimal_of_fen(f))),
            // Split into the decimal's low and middle words: exact, and cannot panic.
            _ => Err(MoneyError::TooLarge {
                value: Decimal::from_parts(fen as u32, (fen >> 32) as u32, 0, false, YUAN_SCALE),
            }),
        }
    }

    /// Builds an amount from a whole number of fen: exact up to [`MAX_FEN`], clamped to
    /// [`Yuan::MAX`] beyond (saturation, never a wrap or a panic).
    #[inline]
    pub fn saturating_from_fen(fen: u64) -> Self {
        Yuan::try_from_fen(fen).unwrap_or(Yuan::MAX)
    }

    /// The amount in whole fen (1/100 yuan). Exact, with no rounding and no saturation: an
    /// amount is always whole fen and at most [`MAX_FEN`]. The inverse of
    /// [`Yuan::try_from_fen`], and monotone: a larger amount never has fewer fen.
    #[inline]
    pub fn to_fen(self) -> u64 {
        // `fen_of` is never negative here (a `Yuan` is not); the clamp keeps this total.
        u64::try_from(fen_of(self.0)).unwrap_or(0)
    }

    /// Builds an amount from whole yuan.
    ///
    /// # Errors
    ///
    /// [`MoneyError::TooLarge`] beyond [`MAX_YUAN`].
    pub fn from_whole(yuan: u64) -> Result<Self, MoneyError> {
        Self::new(Decimal::from(yuan))
    }

    /// Rounds any non-negative decimal to the fen with [`ROUNDING`].
    ///
    /// # Errors
    ///
    /// [`MoneyError::Negative`] or [`MoneyError::TooLarge`].
    pub fn rounded(value: Decimal) -> Result<Self, MoneyError> {
        Self::new(round_fen(value))
    }

    /// Parses `"128.5"`, `"128.50"` or `"0"`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::NotANumber`] and the errors of [`Yuan::new`].
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        Self::new(parse_decimal(s)?)
    }

    /// The amount as a decimal with exactly 2 places.
    #[must_use]
    pub fn amount(self) -> Decimal {
        self.0
    }

    /// Whether the amount is zero.
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The sum, or `None` past [`MAX_YUAN`].
    #[must_use]
    pub fn checked_add(self, other: Yuan) -> Option<Yuan> {
        Yuan::new(self.0.checked_add(other.0)?).ok()
    }

    /// The difference, or `None` if it would be negative.
    #[must_use]
    pub fn checked_sub(self, other: Yuan) -> Option<Yuan> {
        Yuan::new(self.0.checked_sub(other.0)?).ok()
    }

    /// The difference, floored at zero.
    #[must_use]
    pub fn saturating_sub(self, other: Yuan) -> Yuan {
        self.checked_sub(other).unwrap_or(Yuan::ZERO)
    }

    /// `percent`% of the amount, rounded with [`ROUNDING`]; a negative percentage gives zero
    /// and the result saturates at [`MAX_YUAN`].
    #[must_use]
    pub fn percent(self, percent: Decimal) -> Yuan {
        self.mul_ratio(percent, Decimal::ONE_HUNDRED)
    }

    /// `amount × numerator ÷ denominator`, rounded with [`ROUNDING`]: the rule for
    /// proportional shares such as partial refunds. Zero when the denominator is zero or the
    /// ratio negative; saturates at [`MAX_YUAN`].
    #[must_use]
    pub fn mul_ratio(self, numerator: Decimal, denominator: Decimal) -> Yuan {
        if denominator.is_zero() || numerator.is_sign_negative() != denominator.is_sign_negative() {
            return Yuan::ZERO;
        }
        let product = self
            .0
            .checked_mul(numerator)
            .and_then(|p| p.checked_div(denominator));
        match product {
            Some(v) => Yuan::rounded(v).unwrap_or(Yuan(MAX_YUAN)),
            None => Yuan(MAX_YUAN),
        }
    }

    /// The smaller of two amounts.
    #[must_use]
    pub fn min(self, other: Yuan) -> Yuan {
        if other < self { other } else { self }
    }

    /// Sums amounts, or `None` past [`MAX_YUAN`].
    pub fn checked_sum<I: IntoIterator<Item = Yuan>>(items: I) -> Option<Yuan> {
        items
            .into_iter()
            .try_fold(Yuan::ZERO, |acc, y| acc.checked_add(y))
    }
}

impl fmt::Debug for Yuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.0)
    }
}

impl fmt::Display for Yuan {
    /// Two decimal places, no currency sign: `128.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Yuan {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<Decimal> for Yuan {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Yuan> for Decimal {
    fn from(y: Yuan) -> Decimal {
        y.0
    }
}

/// An amount of money that may be negative: profits and losses, ROI numerators, corrections.
///
/// Same precision, limit and rounding as [`Yuan`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawAmount", into = "Decimal")]
pub struct SignedYuan(Decimal);

/// ¥0.00, with its two places (see `Yuan`'s `Default`).
impl Default for SignedYuan {
    fn default() -> Self {
        SignedYuan(Yuan::ZERO.amount())
    }
}

impl SignedYuan {
    /// Builds a signed amount.
    ///
    /// # Errors
    ///
    /// [`MoneyError::TooPrecise`] or [`MoneyError::TooLarge`].
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        check_amount(value, true).map(SignedYuan)
    }

    /// Parses a signed decimal amount.
    ///
    /// # Errors
    ///
    /// [`MoneyError::NotANumber`] and the errors of [`SignedYuan::new`].
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        Self::new(parse_decimal(s)?)
    }

    /// Builds a signed amount from a whole number of fen.
    ///
    /// # Errors
    ///
    /// [`MoneyError::TooLarge`] when the size is beyond [`MAX_FEN`].
    pub fn try_from_fen(fen: i64) -> Result<Self, MoneyError> {
        if fen.unsigned_abs() <= MAX_FEN {
            Ok(SignedYuan(decimal_of_fen(fen)))
        } else {
            Err(MoneyError::TooLarge {
                value: decimal_of_fen(fen),
            })
        }
    }

    /// Builds a signed amount from a whole number of fen: exact within ±[`MAX_FEN`],
    /// clamped to ±[`MAX_YUAN`] beyond.
    pub fn saturating_from_fen(fen: i64) -> Self {
        SignedYuan(decimal_of_fen(fen.clamp(-MAX_FEN_I64, MAX_FEN_I64)))
    }

    /// The amount in whole fen, signed. Exact, with no rounding and no saturation (an amount
    /// is whole fen within ±[`MAX_FEN`]); the inverse of [`SignedYuan::try_from_fen`] and
    /// monotone. For a [`Yuan`] in signed integer arithmetic: `SignedYuan::from(y).to_fen()`.
    #[inline]
    pub fn to_fen(self) -> i64 {
        fen_of(self.0)
    }

    /// `a − b`, which may be negative.
    #[must_use]
    pub fn difference(a: Yuan, b: Yuan) -> SignedYuan {
        SignedYuan(a.0 - b.0)
    }

    /// The amount as a decimal with exactly 2 places.
    #[must_use]
    pub fn amount(self) -> Decimal {
        self.0
    }
}

impl From<Yuan> for SignedYuan {
    fn from(y: Yuan) -> Self {
        SignedYuan(y.0)
    }
}

impl TryFrom<Decimal> for SignedYuan {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SignedYuan> for Decimal {
    fn from(y: SignedYuan) -> Decimal {
        y.0
    }
}

impl fmt::Debug for SignedYuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.0)
    }
}

impl fmt::Display for SignedYuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A whole number of membership points. May be negative where a ledger records a debt.
///
/// Arithmetic is checked: `checked_*` return `None` on overflow, and `saturating_*` clamp.
/// There is no `Add` impl on purpose, so no overflow can hide behind `+`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(i64);

impl Points {
    /// Zero points.
    pub const ZERO: Points = Points(0);

    /// Wraps a whole number of points.
    #[must_use]
    pub const fn new(points: i64) -> Self {
        Points(points)
    }

    /// The number of points.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Whether this is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether this is above zero.
    #[must_use]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Whether this is below zero (a debt).
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The sum, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, o: Points) -> Option<Points> {
        match self.0.checked_add(o.0) {
            Some(v) => Some(Points(v)),
            None => None,
        }
    }

    /// The difference, or `None` on overflow.
    #[must_use]
    pub const fn checked_sub(self, o: Points) -> Option<Points> {
        match self.0.checked_sub(o.0) {
            Some(v) => Some(Points(v)),
            None => None,
        }
    }

    /// The product with a whole factor, or `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, factor: i64) -> Option<Points> {
        match self.0.checked_mul(factor) {
            Some(v) => Some(Points(v)),
            None => None,
        }
    }

    /// The sum, clamped to the `i64` range.
    #[must_use]
    pub const fn saturating_add(self, o: Points) -> Points {
        Points(self.0.saturating_add(o.0))
    }

    /// The difference, clamped to the `i64` range.
    #[must_use]
    pub const fn saturating_sub(self, o: Points) -> Points {
        Points(self.0.saturating_sub(o.0))
    }

    /// The smaller of two amounts.
    #[must_use]
    pub fn min(self, o: Points) -> Points {
        Points(self.0.min(o.0))
    }

    /// The larger of two amounts.
    #[must_use]
    pub fn max(self, o: Points) -> Points {
        Points(self.0.max(o.0))
    }

    /// Sums points, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Points>>(items: I) -> Option<Points> {
        items
            .into_iter()
            .try_fold(Points::ZERO, |acc, p| acc.checked_add(p))
    }
}

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}pt", self.0)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<i64> for Points {
    fn from(v: i64) -> Self {
        Points(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_amounts_have_two_places_like_every_other() {
        // Found by the fuzz harness: `Trigger::Purchase`'s absent `min` serialised as "0",
        // and read back as "0.00".
        assert_eq!(Yuan::default().to_string(), Yuan::ZERO.to_string());
        assert_eq!(Yuan::default().amount().scale(), YUAN_SCALE);
        assert_eq!(
            SignedYuan::default().to_string(),
            SignedYuan::parse("0").unwrap().to_string()
        );
    }

    #[test]
    fn yuan_refuses_negative_and_fractions_of_fen() {
        assert!(matches!(
            Yuan::parse("-1"),
            Err(MoneyError::Negative { .. })
        ));
        assert!(matches!(
            Yuan::parse("1.005"),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Yuan::parse("abc"),
            Err(MoneyError::NotANumber { .. })
        ));
        assert!(matches!(
            Yuan::parse("1000000000000.01"),
            Err(MoneyError::TooLarge { .. })
        ));
        assert_eq!(Yuan::parse(" 1.50 ").unwrap().to_string(), "1.50");
        assert_eq!(Yuan::parse("1.500").unwrap().to_string(), "1.50");
        assert_eq!(Yuan::parse("-0").unwrap(), Yuan::ZERO);
        assert_eq!(MAX_YUAN, Decimal::from(1_000_000_000_000u64));
    }

    #[test]
    fn banker_rounding_is_the_rule() {
        // 0.125 → 0.12 (half to even), 0.135 → 0.14
        assert_eq!(
            Yuan::rounded(Decimal::new(125, 3)).unwrap().to_string(),
            "0.12"
        );
        assert_eq!(
            Yuan::rounded(Decimal::new(135, 3)).unwrap().to_string(),
            "0.14"
        );
        let y = Yuan::parse("10.25").unwrap();
        assert_eq!(y.percent(Decimal::new(50, 0)).to_string(), "5.12");
        assert_eq!(y.mul_ratio(Decimal::ONE, Decimal::ZERO), Yuan::ZERO);
    }

    #[test]
    fn yuan_serde_goes_through_validation() {
        let y: Yuan = serde_json::from_str("\"12.3\"").unwrap();
        assert_eq!(y.to_string(), "12.30");
        assert_eq!(serde_json::to_string(&y).unwrap(), "\"12.30\"");
        assert!(serde_json::from_str::<Yuan>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Yuan>("\"0.001\"").is_err());
        assert_eq!(
            serde_json::from_str::<Yuan>("12.5").unwrap().to_string(),
            "12.50"
        );
        assert_eq!(
            serde_json::from_str::<Yuan>("\" 2 \"").unwrap().to_string(),
            "2.00"
        );
        let s = SignedYuan::parse("-3.5").unwrap();
        assert_eq!(s.to_string(), "-3.50");
    }

    #[test]
    fn fen_conversions_are_exact_up_to_the_limit_and_saturate_beyond() {
        assert_eq!(Yuan::MAX.amount(), MAX_YUAN);
        assert_eq!(Yuan::MAX.amount().scale(), YUAN_SCALE);
        assert_eq!(MAX_FEN, u64::try_from(MAX_FEN_I64).unwrap());
        assert_eq!(Yuan::parse("128.50").unwrap().to_fen(), 12_850);
        assert_eq!(Yuan::ZERO.to_fen(), 0);
        assert_eq!(Yuan::parse("-0").unwrap().to_fen(), 0);
        assert_eq!(Yuan::MAX.to_fen(), MAX_FEN);
        // The u32 fast path and the wide path meet without a seam.
        let edge = u64::from(u32::MAX);
        for f in [edge - 1, edge, edge + 1, MAX_FEN - 1, MAX_FEN] {
            assert_eq!(Yuan::try_from_fen(f).unwrap().to_fen(), f, "{f}");
            assert_eq!(Yuan::try_from_fen(f).unwrap().amount().scale(), YUAN_SCALE);
        }
        assert!(matches!(
            Yuan::try_from_fen(MAX_FEN + 1),
            Err(MoneyError::TooLarge { .. })
        ));
        assert_eq!(Yuan::saturating_from_fen(MAX_FEN + 1), Yuan::MAX);
        assert_eq!(Yuan::saturating_from_fen(u64::MAX), Yuan::MAX);
        assert_eq!(
            Yuan::try_from_fen(12_850).unwrap().to_string(),
            "128.50",
            "two places, like every other amount"
        );
    }

    #[test]
    fn saturated_scale_zero_amounts_convert_exactly() {
        // `mul_ratio` saturates to `MAX_YUAN` at scale 0: `to_fen` rescales rather than
        // reading the mantissa as fen.
        let huge = Yuan::MAX.mul_ratio(Decimal::TEN, Decimal::ONE);
        assert_eq!(huge.to_fen(), MAX_FEN);
    }

    #[test]
    fn signed_fen_conversions() {
        assert_eq!(SignedYuan::parse("-3.5").unwrap().to_fen(), -350);
        assert_eq!(SignedYuan::from(Yuan::MAX).to_fen(), MAX_FEN_I64);
        assert_eq!(SignedYuan::try_from_fen(-350).unwrap().to_string(), "-3.50");
        assert!(SignedYuan::try_from_fen(MAX_FEN_I64 + 1).is_err());
        assert!(SignedYuan::try_from_fen(-MAX_FEN_I64 - 1).is_err());
        assert!(SignedYuan::try_from_fen(i64::MIN).is_err());
        assert_eq!(
            SignedYuan::saturating_from_fen(i64::MIN).to_fen(),
            -MAX_FEN_I64
        );
        assert_eq!(
            SignedYuan::saturating_from_fen(i64::MAX).to_fen(),
            MAX_FEN_I64
        );
    }

    #[test]
    fn points_checked() {
        assert_eq!(Points::new(i64::MAX).checked_add(Points::new(1)), None);
        assert_eq!(
            Points::new(i64::MIN).saturating_sub(Points::new(1)),
            Points::new(i64::MIN)
        );
        assert_eq!(
            Points::checked_sum([Points::new(2), Points::new(3)]),
            Some(Points::new(5))
        );
        assert_eq!(serde_json::to_string(&Points::new(-4)).unwrap(), "-4");
    }
}
