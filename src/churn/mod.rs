//! Churn risk and patient value: the BG/NBD model of visits and dropout and the Gamma-Gamma
//! model of spend, fitted by maximum likelihood, with the formulas of the Python `lifetimes`
//! package (feature `churn`, on by default).
//!
//! A fixed "days since the last visit" rule treats a patient who comes every week and one who
//! comes twice a year alike. BG/NBD (Fader, Hardie & Lee 2005) learns, from every patient's
//! [`RfmSummary`] (`frequency`, `recency`, `T`), how visit rates and
//! dropout vary across the clinic's patients, and then gives each patient the probability
//! that they are still active ([`BgNbd::p_alive`]) and the visits to expect
//! ([`BgNbd::expected_visits`]). Gamma-Gamma adds the spend per visit
//! ([`GammaGamma::expected_spend`]) and with both, [`clv`] is the discounted value of the
//! next months.
//!
//! ```
//! use clinic_ops::churn::{BgNbd, Observation};
//!
//! // (frequency, recency, T) in days, as `segment::RfmSummary` gives them.
//! let rows = [(0, 0, 60), (3, 50, 60), (1, 10, 90), (6, 80, 90), (2, 20, 120), (0, 0, 30)];
//! let summaries: Vec<Observation> = rows
//!     .iter()
//!     .map(|&(x, rec, t)| Observation::new(x, rec.into(), f64::from(t)))
//!     .collect::<Result<_, _>>()?;
//! let fit = BgNbd::fit(&summaries)?;
//! let model = fit.params;
//! // No repeat visit: alive by the model's definition.
//! assert_eq!(model.p_alive(&summaries[0]), 1.0);
//! // One repeat visit then 80 days of silence is less likely alive than six visits, the
//! // last ten days ago.
//! let (quiet, regular) = (model.p_alive(&summaries[2]), model.p_alive(&summaries[3]));
//! assert!(0.0 < quiet && quiet < regular && regular <= 1.0);
//! # Ok::<(), clinic_ops::churn::ChurnError>(())
//! ```
//!
//! **Determinism.** A fit is the same bits on every machine for the same summaries in any
//! order: summaries are merged and sorted before any sum, every sum runs in one fixed order
//! on one thread, and every transcendental function is `libm`'s pure-Rust one (the
//! platform's own `ln`/`exp` may differ in the last bit). The optimiser starts at every
//! parameter 1 in scaled units, stops when the largest gradient component of the mean
//! log-likelihood (in log parameters) is at most [`GRADIENT_TOLERANCE`] (or at most
//! [`FLOOR_GRADIENT_TOLERANCE`] once the likelihood stops changing beyond rounding), and gives up with
//! [`ChurnError::NotConverged`] after [`MAX_ITERATIONS`].

mod bgnbd;
mod error;
mod gamma_gamma;
mod optim;
mod score;
mod special;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use error::ChurnError;
pub use gamma_gamma::{GammaGamma, GammaGammaFit};
pub use optim::{
    FLOOR_GRADIENT_TOLERANCE, FLOOR_RELATIVE_CHANGE, GRADIENT_TOLERANCE, MAX_ITERATIONS,
};
pub use score::{ChurnScore, ScoreSpec, score};
pub use special::{HYP2F1_MAX_TERMS, hyp2f1};

use serde::{Deserialize, Serialize};

use crate::segment::RfmSummary;

/// Days in a month for [`clv`] on day-unit summaries, as lifetimes' `freq='D'` counts them.
pub const DAYS_PER_MONTH: f64 = 30.0;

fn check_param(field: &'static str, value: f64) -> Result<(), ChurnError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ChurnError::OutOfRange {
            field: field.into(),
            value,
            expected: "a finite number above 0",
        })
    }
}

/// One patient's BG/NBD summary: repeat visits, the time from first to last visit, and the
/// time from first visit to the end of observation, in one time unit (days for
/// [`RfmSummary`], weeks in the CDNOW paper).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawObservation")]
pub struct Observation {
    frequency: u32,
    recency: f64,
    #[serde(rename = "T")]
    t: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObservation {
    frequency: u32,
    recency: f64,
    #[serde(rename = "T")]
    t: f64,
}

impl TryFrom<RawObservation> for Observation {
    type Error = ChurnError;
    fn try_from(raw: RawObservation) -> Result<Self, ChurnError> {
        Observation::new(raw.frequency, raw.recency, raw.t)
    }
}

impl Observation {
    /// A summary, checked as lifetimes checks its inputs.
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] when `recency` or `T` is negative or not finite, `recency`
    /// exceeds `T`, or `recency` is not 0 for a patient with no repeat visit.
    pub fn new(frequency: u32, recency: f64, t: f64) -> Result<Observation, ChurnError> {
        let bad = |field: &str, value, expected| ChurnError::OutOfRange {
            field: field.into(),
            value,
            expected,
        };
        if !(t.is_finite() && t >= 0.0) {
            return Err(bad("T", t, "a finite time of at least 0"));
        }
        if !(recency.is_finite() && recency >= 0.0 && recency <= t) {
            return Err(bad("recency", recency, "a finite time from 0 to T"));
        }
        if frequency == 0 && recency != 0.0 {
            return Err(bad("recency", recency, "0 when frequency is 0"));
        }
        Ok(Observation {
            frequency,
            recency,
            t,
        })
    }

    /// Repeat visits (visit days after the first).
    #[must_use]
    pub fn frequency(&self) -> u32 {
        self.frequency
    }
    /// Time from the first to the last visit.
    #[must_use]
    pub fn recency(&self) -> f64 {
        self.recency
    }
    /// Time from the first visit to the end of observation.
    #[must_use]
    pub fn t(&self) -> f64 {
        self.t
    }
}

impl From<RfmSummary> for Observation {
    /// The summary in days (an RFM summary is always valid: `recency ≤ T`, 0 without repeats).
    fn from(s: RfmSummary) -> Observation {
        Observation {
            frequency: s.frequency,
            recency: if s.frequency == 0 {
                0.0
            } else {
                f64::from(s.recency.min(s.t))
            },
            t: f64::from(s.t),
        }
    }
}

/// One repeat patient's spend summary for the Gamma-Gamma model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSpend")]
pub struct SpendObservation {
    frequency: u32,
    monetary_value: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpend {
    frequency: u32,
    monetary_value: f64,
}

impl TryFrom<RawSpend> for SpendObservation {
    type Error = ChurnError;
    fn try_from(raw: RawSpend) -> Result<Self, ChurnError> {
        SpendObservation::new(raw.frequency, raw.monetary_value)
    }
}

impl SpendObservation {
    /// A repeat patient's frequency and mean repeat spend.
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] when `frequency` is 0 or `monetary_value` is not finite and
    /// positive: the Gamma-Gamma model is defined for repeat patients with spend only.
    pub fn new(frequency: u32, monetary_value: f64) -> Result<SpendObservation, ChurnError> {
        if frequency == 0 {
            return Err(ChurnError::OutOfRange {
                field: "frequency".into(),
                value: 0.0,
                expected: "at least 1 (repeat patients only)",
            });
        }
        check_param("monetary_value", monetary_value)?;
        Ok(SpendObservation {
            frequency,
            monetary_value,
        })
    }

    /// From an RFM summary; `None` for a patient the model leaves out (no repeat visit, or
    /// a mean repeat spend of ¥0).
    #[must_use]
    pub fn from_rfm(s: &RfmSummary) -> Option<SpendObservation> {
        #[allow(clippy::cast_precision_loss)] // fen below 2^53 are exact
        let m = s.monetary_value.to_fen() as f64 / 100.0;
        SpendObservation::new(s.frequency, m).ok()
    }

    /// Repeat visits.
    #[must_use]
    pub fn frequency(&self) -> u32 {
        self.frequency
    }
    /// Mean spend per repeat visit.
    #[must_use]
    pub fn monetary_value(&self) -> f64 {
        self.monetary_value
    }
}

/// The customer lifetime value over `periods` periods of `period_length` time units each,
/// discounted at `discount_rate` a period, as lifetimes'
/// `GammaGammaFitter.customer_lifetime_value(bgf, .., time=periods, discount_rate, freq)`
/// computes it: for each period i = 1..=periods, the expected visits in that period
/// (the cumulative expectation at i·L minus that at (i−1)·L) times the expected spend,
/// divided by (1 + rate)^i. For day summaries and months, `period_length` is
/// [`DAYS_PER_MONTH`]; `monetary_value` is the patient's mean repeat spend (any value when
/// `frequency` is 0, where the expected spend is the population mean).
///
/// Computed as `spend · (p_alive · Σᵢ (Uᵢ − Uᵢ₋₁)/(1+rate)^i)` with `Uᵢ` the visits expected
/// by i·L of a patient still active ([`BgNbd::expected_visits_if_active`]): the same value,
/// and the same bits as [`score`] gives.
///
/// # Errors
///
/// [`ChurnError::OutOfRange`] for a negative or non-finite `period_length` or
/// `discount_rate` ≤ −1; the errors of [`BgNbd::expected_visits`].
pub fn clv(
    bgnbd: &BgNbd,
    gamma_gamma: &GammaGamma,
    o: &Observation,
    monetary_value: f64,
    periods: u32,
    discount_rate: f64,
    period_length: f64,
) -> Result<f64, ChurnError> {
    let plan = ClvPlan::new(periods, discount_rate, period_length)?;
    let spend = gamma_gamma.expected_spend(o.frequency, monetary_value);
    let mut series = bgnbd.active_series(o.frequency);
    let mut visits = vec![0.0; plan.horizons.len()];
    bgnbd.if_active_at(&mut series, o.frequency, o.t, &plan.horizons, &mut visits)?;
    Ok(spend * (bgnbd.p_alive(o) * plan.discounted(&visits)))
}

/// The horizons and discount factors of a CLV, computed once for every patient.
#[derive(Debug, Clone)]
pub(crate) struct ClvPlan {
    /// i·L for i = 1..=periods.
    pub(crate) horizons: Vec<f64>,
    /// (1 + rate)^i for i = 1..=periods.
    factors: Vec<f64>,
}

impl ClvPlan {
    pub(crate) fn new(
        periods: u32,
        discount_rate: f64,
        period_length: f64,
    ) -> Result<ClvPlan, ChurnError> {
        if !(discount_rate.is_finite() && discount_rate > -1.0) {
            return Err(ChurnError::OutOfRange {
                field: "discount_rate".into(),
                value: discount_rate,
                expected: "a finite rate above -1",
            });
        }
        if !(period_length.is_finite() && period_length > 0.0) {
            return Err(ChurnError::OutOfRange {
                field: "period_length".into(),
                value: period_length,
                expected: "a finite time above 0",
            });
        }
        let mut horizons = Vec::new();
        let mut factors = Vec::new();
        for i in 1..=periods {
            let fi = f64::from(i);
            let t = fi * period_length;
            if !t.is_finite() {
                return Err(ChurnError::OutOfRange {
                    field: "t".into(),
                    value: t,
                    expected: "a finite time of at least 0",
                });
            }
            horizons.push(t);
            factors.push(special::pow(1.0 + discount_rate, fi));
        }
        Ok(ClvPlan { horizons, factors })
    }

    /// Σᵢ (Uᵢ − Uᵢ₋₁) / (1+rate)^i, with U₀ = 0, summed in period order.
    pub(crate) fn discounted(&self, visits: &[f64]) -> f64 {
        let mut total = 0.0;
        let mut previous = 0.0;
        for (u, factor) in visits.iter().zip(&self.factors) {
            total += (u - previous) / factor;
            previous = *u;
        }
        total
    }
}
