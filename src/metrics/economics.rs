//! Channel economics in yuan: CAC, ROI and LTV per acquisition channel.
//!
//! - **CAC** (customer acquisition cost) = spend ÷ new patients.
//! - **ROI** = (revenue − spend) ÷ spend.
//! - **LTV** (lifetime value, historical) = revenue from the channel's patients ÷ new
//!   patients: what an acquired patient has brought in so far over the host's horizon.
//! - **Model LTV** ([`model_ltv`]) = (revenue + the churn models' expected value of the
//!   channel's patients) ÷ new patients: what an acquired patient has brought in plus what
//!   BG/NBD and Gamma-Gamma expect them to bring over the CLV horizon
//!   ([`crate::churn::clv`] or [`crate::churn::score`], summed per channel by
//!   [`expected_value_by_channel`]). A channel whose patients are still coming shows it
//!   before the revenue does; one whose patients have lapsed stops looking good.
//!
//! Money stays [`Decimal`]: CAC and LTV are [`Yuan`] rounded to the fen, ROI a ratio rounded
//! to 4 decimal places, both with [`money::ROUNDING`](crate::money::ROUNDING) (banker's
//! rounding, half to even). A model CLV (a float) enters as its exact binary value rounded
//! to the fen with the same rule, per patient, before any sum, so a channel's expected value
//! is the sum of the per-patient figures a report prints. A division by zero (no new
//! patients, no spend) gives `None`, never a panic.
//!
//! ```
//! use clinic_ops::metrics::economics::{ChannelInput, channel_economics};
//! use clinic_ops::money::Yuan;
//! use std::collections::BTreeMap;
//!
//! let mut input = BTreeMap::new();
//! input.insert("kol".to_string(), ChannelInput {
//!     spend: Yuan::from_whole(3000)?,
//!     new_patients: 7,
//!     revenue: Yuan::from_whole(4200)?,
//! });
//! let e = &channel_economics(&input)["kol"];
//! assert_eq!(e.cac.unwrap().to_string(), "428.57"); // 3000 ÷ 7 = 428.571…
//! assert_eq!(e.roi.unwrap().to_string(), "0.4000");
//! assert_eq!(e.ltv.unwrap().to_string(), "600.00");
//! # Ok::<(), clinic_ops::money::MoneyError>(())
//! ```
//!
//! With the churn models' CLV per patient:
//!
//! ```
//! use clinic_ops::metrics::economics::{ChannelInput, expected_value_by_channel, model_ltv};
//! use clinic_ops::money::Yuan;
//!
//! // Each patient's 12-month CLV from `churn::score`, with their acquisition channel.
//! let clvs = [("kol", 310.004), ("kol", 90.125), ("kol", 0.0), ("walk_in", 55.5)];
//! let expected = expected_value_by_channel(clvs)?;
//! // 310.004 → 310.00, 90.125 → 90.12 (half to even on its binary value 90.125), 0 → 0.
//! assert_eq!(expected["kol"].expected_value.to_string(), "400.12");
//! let kol = ChannelInput {
//!     spend: Yuan::from_whole(300)?,
//!     new_patients: 3,
//!     revenue: Yuan::from_whole(600)?,
//! };
//! let m = model_ltv(&kol, &expected["kol"]);
//! assert_eq!(m.ltv.unwrap().to_string(), "333.37"); // (600 + 400.12) ÷ 3 = 333.373…
//! assert_eq!(m.expected_per_patient.unwrap().to_string(), "133.37");
//! assert_eq!(m.ltv_to_cac.unwrap().to_string(), "3.3337");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::money::{ROUNDING, SignedYuan, Yuan};

/// Decimal places of an ROI or LTV:CAC ratio.
pub const RATIO_SCALE: u32 = 4;

/// What the host knows about one channel over a reporting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ChannelInput {
    /// Marketing spend on the channel.
    pub spend: Yuan,
    /// Patients acquired through it.
    pub new_patients: u64,
    /// Revenue from those patients.
    pub revenue: Yuan,
}

/// The economics of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[must_use]
pub struct ChannelEconomics {
    /// Revenue − spend, which may be negative.
    pub profit: SignedYuan,
    /// Spend ÷ new patients, rounded to the fen; `None` without new patients.
    pub cac: Option<Yuan>,
    /// (Revenue − spend) ÷ spend, rounded to 4 places; `None` without spend.
    pub roi: Option<Decimal>,
    /// Revenue ÷ new patients, rounded to the fen; `None` without new patients.
    pub ltv: Option<Yuan>,
    /// LTV ÷ CAC on the unrounded values, rounded to 4 places; `None` when either is
    /// undefined or CAC is zero.
    pub ltv_to_cac: Option<Decimal>,
}

fn ratio(n: Decimal, d: Decimal) -> Option<Decimal> {
    if d.is_zero() {
        return None;
    }
    let mut r = n
        .checked_div(d)?
        .round_dp_with_strategy(RATIO_SCALE, ROUNDING);
    r.rescale(RATIO_SCALE);
    Some(r)
}

/// The economics of one channel.
pub fn economics(input: &ChannelInput) -> ChannelEconomics {
    let patients = Decimal::from(input.new_patients);
    let per_patient = |amount: Yuan| {
        if input.new_patients == 0 {
            return None;
        }
        Yuan::rounded(amount.amount().checked_div(patients)?).ok()
    };
    ChannelEconomics {
        profit: SignedYuan::difference(input.revenue, input.spend),
        cac: per_patient(input.spend),
        roi: ratio(
            input.revenue.amount() - input.spend.amount(),
            input.spend.amount(),
        ),
        ltv: per_patient(input.revenue),
        // (revenue ÷ n) ÷ (spend ÷ n) = revenue ÷ spend, with no intermediate rounding.
        ltv_to_cac: if input.new_patients == 0 {
            None
        } else {
            ratio(input.revenue.amount(), input.spend.amount())
        },
    }
}

/// The economics of every channel, keyed like the input.
#[must_use]
pub fn channel_economics(
    inputs: &BTreeMap<String, ChannelInput>,
) -> BTreeMap<String, ChannelEconomics> {
    inputs
        .iter()
        .map(|(k, v)| (k.clone(), economics(v)))
        .collect()
}

/// Why a model CLV cannot enter the channel economics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EconomicsError {
    /// A patient's CLV is negative, not finite, or beyond [`Yuan`]'s range.
    #[error(
        "clv of patient {index} of channel {channel} is {value}, expected a finite amount of at least 0"
    )]
    BadClv {
        /// The channel.
        channel: String,
        /// The patient's position in the input, from 0.
        index: usize,
        /// The value given.
        value: f64,
    },
    /// A channel's expected value exceeds [`Yuan`]'s range.
    #[error("expected value of channel {channel} exceeds the largest amount")]
    Overflow {
        /// The channel.
        channel: String,
    },
}

/// What the churn models expect of one channel's patients over the CLV horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[must_use]
pub struct ExpectedChannelValue {
    /// Patients scored.
    pub patients: u64,
    /// The sum of their model CLVs, each rounded to the fen first (half to even).
    pub expected_value: Yuan,
}

/// A model CLV as yuan: its exact binary value rounded to the fen, half to even.
fn clv_yuan(value: f64) -> Option<Yuan> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Yuan::rounded(Decimal::from_f64_retain(value)?).ok()
}

/// Each channel's expected value: the patients' model CLVs (for example
/// [`crate::churn::ChurnScore::clv`]) summed per channel, each rounded to the fen first.
///
/// # Errors
///
/// [`EconomicsError::BadClv`] for a negative, non-finite or too large CLV;
/// [`EconomicsError::Overflow`] when a channel's sum exceeds [`Yuan`]'s range.
pub fn expected_value_by_channel<'a>(
    clvs: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<BTreeMap<String, ExpectedChannelValue>, EconomicsError> {
    let mut out: BTreeMap<String, ExpectedChannelValue> = BTreeMap::new();
    for (index, (channel, value)) in clvs.into_iter().enumerate() {
        let yuan = clv_yuan(value).ok_or_else(|| EconomicsError::BadClv {
            channel: channel.to_owned(),
            index,
            value,
        })?;
        let entry = out.entry(channel.to_owned()).or_default();
        entry.patients += 1;
        entry.expected_value =
            entry
                .expected_value
                .checked_add(yuan)
                .ok_or_else(|| EconomicsError::Overflow {
                    channel: channel.to_owned(),
                })?;
    }
    Ok(out)
}

/// A channel's LTV from the churn models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[must_use]
pub struct ModelLtv {
    /// (Revenue + expected value) ÷ new patients, rounded to the fen; `None` without new
    /// patients.
    pub ltv: Option<Yuan>,
    /// Model LTV ÷ CAC on the unrounded values, (revenue + expected value) ÷ spend, rounded
    /// to 4 places; `None` without new patients or spend.
    pub ltv_to_cac: Option<Decimal>,
    /// Expected value ÷ patients scored, rounded to the fen: what one patient is expected
    /// to bring over the horizon; `None` when none were scored.
    pub expected_per_patient: Option<Yuan>,
}

/// The model LTV of one channel, from its economics input and its patients' expected value.
pub fn model_ltv(input: &ChannelInput, expected: &ExpectedChannelValue) -> ModelLtv {
    let lifetime = input.revenue.amount() + expected.expected_value.amount();
    let per = |amount: Decimal, n: u64| {
        if n == 0 {
            return None;
        }
        Yuan::rounded(amount.checked_div(Decimal::from(n))?).ok()
    };
    ModelLtv {
        ltv: per(lifetime, input.new_patients),
        ltv_to_cac: if input.new_patients == 0 {
            None
        } else {
            ratio(lifetime, input.spend.amount())
        },
        expected_per_patient: per(expected.expected_value.amount(), expected.patients),
    }
}

/// The model LTV of every channel of `inputs`; a channel without expected value counts its
/// revenue only.
#[must_use]
pub fn channel_model_ltv(
    inputs: &BTreeMap<String, ChannelInput>,
    expected: &BTreeMap<String, ExpectedChannelValue>,
) -> BTreeMap<String, ModelLtv> {
    inputs
        .iter()
        .map(|(k, v)| {
            let e = expected.get(k).copied().unwrap_or_default();
            (k.clone(), model_ltv(v, &e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Yuan {
        Yuan::parse(s).unwrap()
    }

    #[test]
    fn zero_denominators_are_none() {
        let e = economics(&ChannelInput {
            spend: Yuan::ZERO,
            new_patients: 0,
            revenue: y("100"),
        });
        assert_eq!(
            (e.cac, e.roi, e.ltv, e.ltv_to_cac),
            (None, None, None, None)
        );
        assert_eq!(e.profit.to_string(), "100.00");
        let e = economics(&ChannelInput {
            spend: Yuan::ZERO,
            new_patients: 3,
            revenue: y("100"),
        });
        assert_eq!(e.cac, Some(Yuan::ZERO));
        assert_eq!(e.roi, None);
    }

    #[test]
    fn rounding_is_bankers_and_losses_are_negative() {
        // 0.25 ÷ 2 = 0.125 → 0.12 (half to even).
        let e = economics(&ChannelInput {
            spend: y("0.25"),
            new_patients: 2,
            revenue: y("0.10"),
        });
        assert_eq!(e.cac.unwrap().to_string(), "0.12");
        assert_eq!(e.ltv.unwrap().to_string(), "0.05");
        assert_eq!(e.roi.unwrap().to_string(), "-0.6000");
        assert_eq!(e.profit.to_string(), "-0.15");
        assert_eq!(e.ltv_to_cac.unwrap().to_string(), "0.4000");
    }

    #[test]
    fn model_ltv_adds_the_expected_value_and_rounds_half_to_even() {
        let e = expected_value_by_channel([("a", 0.125), ("a", 0.135), ("b", 1.0)]).unwrap();
        // 0.125 is exact in binary: half to even gives 0.12; 0.135 is 0.13500000000000000888…
        // in binary, above the half: 0.14.
        assert_eq!(e["a"].expected_value.to_string(), "0.26");
        assert_eq!(e["a"].patients, 2);
        let input = ChannelInput {
            spend: y("10"),
            new_patients: 2,
            revenue: y("0.99"),
        };
        let m = model_ltv(&input, &e["a"]);
        // (0.99 + 0.26) ÷ 2 = 0.625 → 0.62.
        assert_eq!(m.ltv.unwrap().to_string(), "0.62");
        assert_eq!(m.expected_per_patient.unwrap().to_string(), "0.13");
        assert_eq!(m.ltv_to_cac.unwrap().to_string(), "0.1250");
        let none = model_ltv(
            &ChannelInput {
                spend: Yuan::ZERO,
                new_patients: 0,
                revenue: y("5"),
            },
            &ExpectedChannelValue::default(),
        );
        assert_eq!(
            (none.ltv, none.ltv_to_cac, none.expected_per_patient),
            (None, None, None)
        );
        let mut inputs = BTreeMap::new();
        inputs.insert("a".to_string(), input);
        inputs.insert("c".to_string(), input);
        let all = channel_model_ltv(&inputs, &e);
        assert_eq!(all["c"].ltv.unwrap().to_string(), "0.50", "revenue only");
    }

    #[test]
    fn a_bad_clv_is_a_typed_error() {
        for bad in [-0.01, f64::NAN, f64::INFINITY, 1e30] {
            let err = expected_value_by_channel([("a", 1.0), ("kol", bad)]).unwrap_err();
            assert!(
                matches!(&err, EconomicsError::BadClv { channel, index: 1, .. } if channel == "kol"),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("clv of patient 1 of channel kol is")
            );
        }
        let big = 900_000_000_000.0;
        assert!(matches!(
            expected_value_by_channel([("a", big), ("a", big)]),
            Err(EconomicsError::Overflow { .. })
        ));
    }
}
