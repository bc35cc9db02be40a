//! A probability fact for the expression language: a model's estimate that a patient is
//! still active (`p_alive`, from [`crate::churn`] or any other model the host runs).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A probability from 0 to 1, held in whole millionths so that expressions stay `Eq` and
/// `Hash` and compare exactly; serde reads and writes it as a plain JSON number (`0.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Probability(u32);

impl Probability {
    /// Millionths in 1.
    pub const SCALE: u32 = 1_000_000;
    /// 0.
    pub const ZERO: Probability = Probability(0);
    /// 1.
    pub const ONE: Probability = Probability(Probability::SCALE);

    /// From a value in `[0, 1]`, rounded to the nearest millionth (half away from zero).
    /// `None` for anything else (NaN, negative, above 1).
    #[must_use]
    pub fn new(p: f64) -> Option<Probability> {
        if !(0.0..=1.0).contains(&p) {
            return None;
        }
        let scaled = (p * f64::from(Probability::SCALE)).round();
        // In range by the check above: 0 ≤ scaled ≤ 1e6.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Probability(scaled as u32))
    }

    /// From whole millionths; `None` above [`Probability::SCALE`].
    #[must_use]
    pub fn from_millionths(m: u32) -> Option<Probability> {
        (m <= Probability::SCALE).then_some(Probability(m))
    }

    /// The whole millionths.
    #[must_use]
    pub fn millionths(self) -> u32 {
        self.0
    }

    /// The value as a float.
    #[must_use]
    pub fn get(self) -> f64 {
        f64::from(self.0) / f64::from(Probability::SCALE)
    }
}

impl fmt::Display for Probability {
    /// Six decimals at most, trailing zeros dropped: `0.3`, `0.123456`, `1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / Probability::SCALE, self.0 % Probability::SCALE);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Probability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.get())
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Probability::new(v).ok_or_else(|| {
            serde::de::Error::custom(format!("{v} is not a probability from 0 to 1"))
        })
    }
}

/// An inclusive range over a probability fact; a missing bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ProbabilityRange {
    /// The smallest value that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Probability>,
    /// The largest value that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Probability>,
}

impl ProbabilityRange {
    /// Whether `v` is inside.
    #[must_use]
    pub fn contains(&self, v: Probability) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// Whether no value can match (`min > max`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!((self.min, self.max), (Some(a), Some(b)) if a > b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_plain_numbers() {
        let p: Probability = serde_json::from_str("0.3").unwrap_or_default();
        assert_eq!(p.millionths(), 300_000);
        assert_eq!(p.to_string(), "0.3");
        assert_eq!(serde_json::to_string(&p).unwrap_or_default(), "0.3");
        assert_eq!(Probability::ONE.to_string(), "1");
        assert!(serde_json::from_str::<Probability>("1.5").is_err());
        assert!(serde_json::from_str::<Probability>("-0.1").is_err());
        assert_eq!(
            Probability::new(0.123_456_4).map(Probability::millionths),
            Some(123_456)
        );
        assert!(Probability::new(f64::NAN).is_none());
    }

    #[test]
    fn ranges_are_inclusive() {
        let r = ProbabilityRange {
            min: None,
            max: Probability::new(0.3),
        };
        assert!(r.contains(Probability::ZERO));
        assert!(r.contains(Probability::new(0.3).unwrap_or_default()));
        assert!(!r.contains(Probability::new(0.300_001).unwrap_or_default()));
    }
}
