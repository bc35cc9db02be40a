//! Channel economics in yuan: CAC, ROI and LTV per acquisition channel.
//!
//! - **CAC** (customer acquisition cost) = spend ÷ new patients.
//! - **ROI** = (revenue − spend) ÷ spend.
//! - **LTV** (lifetime value, historical) = revenue from the channel's patients ÷ new
//!   patients: what an acquired patient has brought in so far over the host's horizon.
//!
//! Money stays [`Decimal`]: CAC and LTV are [`Yuan`] rounded to the fen, ROI a ratio rounded
//! to 4 decimal places, both with [`money::ROUNDING`](crate::money::ROUNDING) (banker's
//! rounding, half to even). A division by zero (no new patients, no spend) gives `None`,
//! never a panic.
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
}
