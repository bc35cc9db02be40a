//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005b), with lifetimes'
//! `GammaGammaFitter` formulas.

use serde::{Deserialize, Serialize};

use super::optim::{Minimum, bfgs};
use super::special::{digamma, exp, ln, ln_gamma};
use super::{ChurnError, SpendObservation, check_param};

const MODEL: &str = "gamma-gamma";

/// Fitted Gamma-Gamma parameters: a patient's spend per visit is Gamma(p, ν) around their
/// own mean, and ν is Gamma(q, v) across patients. `v` is in money units (yuan).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGammaGamma")]
pub struct GammaGamma {
    p: f64,
    q: f64,
    v: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGammaGamma {
    p: f64,
    q: f64,
    v: f64,
}

impl TryFrom<RawGammaGamma> for GammaGamma {
    type Error = ChurnError;
    fn try_from(raw: RawGammaGamma) -> Result<Self, ChurnError> {
        GammaGamma::new(raw.p, raw.q, raw.v)
    }
}

/// A Gamma-Gamma fit: the parameters and how the optimiser got there.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct GammaGammaFit {
    /// The maximum-likelihood parameters.
    pub params: GammaGamma,
    /// The total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// BFGS iterations used.
    pub iterations: u32,
}

impl GammaGamma {
    /// Parameters from their values.
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] naming the first parameter that is not finite and
    /// positive, or `q` at most 1 (the population mean spend `p·v/(q−1)` would not exist).
    pub fn new(p: f64, q: f64, v: f64) -> Result<GammaGamma, ChurnError> {
        check_param("p", p)?;
        check_param("q", q)?;
        check_param("v", v)?;
        if q <= 1.0 {
            return Err(ChurnError::OutOfRange {
                field: "q".into(),
                value: q,
                expected: "more than 1 (the mean spend is p·v/(q−1))",
            });
        }
        Ok(GammaGamma { p, q, v })
    }

    /// The shape of a patient's spend per visit.
    #[must_use]
    pub fn p(&self) -> f64 {
        self.p
    }
    /// The shape of the spend scale across patients.
    #[must_use]
    pub fn q(&self) -> f64 {
        self.q
    }
    /// The rate of the spend scale across patients, in yuan.
    #[must_use]
    pub fn v(&self) -> f64 {
        self.v
    }

    /// Fits by maximum likelihood with no penalty (lifetimes' `GammaGammaFitter()`), on the
    /// repeat patients' frequency and mean repeat spend.
    ///
    /// Deterministic as [`super::BgNbd::fit`]: identical pairs merged, spend scaled so that
    /// its mean is 1 (the maximum does not move), BFGS in log-parameter space from
    /// `p = q = v = 1` (scaled), the same stopping rule and iteration limit.
    ///
    /// # Errors
    ///
    /// [`ChurnError::Unfittable`] with fewer than two patients or every pair identical;
    /// [`ChurnError::NotConverged`] as for BG/NBD, or when the fitted `q` is at most 1.
    pub fn fit(observations: &[SpendObservation]) -> Result<GammaGammaFit, ChurnError> {
        let unfittable = |reason| ChurnError::Unfittable {
            model: MODEL,
            reason,
        };
        match observations {
            [] => return Err(unfittable("no repeat patients with spend")),
            [_] => return Err(unfittable("one patient")),
            [first, rest @ ..] if rest.iter().all(|o| o == first) => {
                return Err(unfittable("every summary is identical"));
            }
            _ => {}
        }
        // The mean is summed in sorted order, so that it, and the whole fit, is the same bits
        // whatever order the summaries come in.
        let mut spends: Vec<f64> = observations.iter().map(|o| o.monetary_value).collect();
        spends.sort_unstable_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss)]
        let mean = spends.iter().sum::<f64>() / spends.len() as f64;
        let data = Data::new(observations, 1.0 / mean);
        let Minimum { x, iterations, .. } = bfgs(MODEL, [0.0; 3], |theta| data.evaluate(theta))?;
        let params = GammaGamma::new(exp(x[0]), exp(x[1]), exp(x[2]) * mean).map_err(|_| {
            ChurnError::NotConverged {
                model: MODEL,
                iterations,
                gradient: 0.0,
                reason: "the fitted q is at most 1",
            }
        })?;
        Ok(GammaGammaFit {
            params,
            log_likelihood: params.log_likelihood(observations),
            iterations,
        })
    }

    /// One patient's log-likelihood term, as lifetimes writes it.
    #[must_use]
    pub fn log_likelihood_of(&self, o: &SpendObservation) -> f64 {
        let GammaGamma { p, q, v } = *self;
        let x = f64::from(o.frequency);
        let m = o.monetary_value;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * ln(v)
            + (p * x - 1.0) * ln(m)
            + (p * x) * ln(x)
            - (p * x + q) * ln(x * m + v)
    }

    /// The total log-likelihood, summed in order.
    #[must_use]
    pub fn log_likelihood(&self, observations: &[SpendObservation]) -> f64 {
        observations.iter().map(|o| self.log_likelihood_of(o)).sum()
    }

    /// The expected mean spend per visit given `frequency` repeat visits at a mean of
    /// `monetary_value`, lifetimes' `conditional_expected_average_profit`: a weighted mean of
    /// the population mean `p·v/(q−1)` and the patient's own. With `frequency = 0` it is
    /// the population mean.
    #[must_use]
    pub fn expected_spend(&self, frequency: u32, monetary_value: f64) -> f64 {
        let (base, weight) = self.spend_parts(frequency);
        base + weight * monetary_value
    }

    /// [`GammaGamma::expected_spend`] as `base + weight · monetary_value`: the patient's
    /// weight `px/(px+q−1)` and the population mean's share `(1 − weight)·p·v/(q−1)`.
    pub(crate) fn spend_parts(&self, frequency: u32) -> (f64, f64) {
        let GammaGamma { p, q, v } = *self;
        let px = p * f64::from(frequency);
        let weight = px / (px + q - 1.0);
        let population = v * p / (q - 1.0);
        ((1.0 - weight) * population, weight)
    }
}

/// The repeat patients prepared for the fit: per distinct frequency, the log-gamma terms are
/// computed once per evaluation.
struct Data {
    /// Distinct frequencies with their patient count.
    xs: Vec<(f64, f64)>,
    /// (frequency index, scaled spend, ln of it, count).
    rows: Vec<(u32, f64, f64, f64)>,
    patients: f64,
}

impl Data {
    fn new(observations: &[SpendObservation], scale: f64) -> Data {
        let mut raw: Vec<(u32, f64)> = observations
            .iter()
            .map(|o| (o.frequency, o.monetary_value * scale))
            .collect();
        raw.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut xs: Vec<(f64, f64)> = Vec::new();
        let mut rows = Vec::new();
        for run in raw.chunk_by(|a, b| a == b) {
            let Some(&(x, m)) = run.first() else { continue };
            #[allow(clippy::cast_precision_loss)]
            let count = run.len() as f64;
            let xf = f64::from(x);
            match xs.last_mut() {
                Some(last) if last.0 == xf => last.1 += count,
                _ => xs.push((xf, count)),
            }
            let xi = u32::try_from(xs.len() - 1).unwrap_or(u32::MAX);
            rows.push((xi, m, ln(m), count));
        }
        #[allow(clippy::cast_precision_loss)]
        let patients = observations.len() as f64;
        Data { xs, rows, patients }
    }

    /// Mean negative log-likelihood and gradient in θ = (ln p, ln q, ln v).
    fn evaluate(&self, theta: &[f64; 3]) -> (f64, [f64; 3]) {
        let (p, q, v) = (exp(theta[0]), exp(theta[1]), exp(theta[2]));
        let ln_v = ln(v);
        let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
        let mut per_x = Vec::with_capacity(self.xs.len());
        let mut ll = 0.0;
        let mut g = [0.0f64; 3];
        for &(x, count) in &self.xs {
            let px = p * x;
            let (lg_s, lg_px) = (ln_gamma(px + q), ln_gamma(px));
            let (dg_s, dg_px) = (digamma(px + q), digamma(px));
            let ln_x = ln(x);
            ll += count * (lg_s - lg_px - lg_q + q * ln_v + px * ln_x);
            g[0] += count * x * (dg_s - dg_px + ln_x);
            g[1] += count * (dg_s - dg_q + ln_v);
            g[2] += count * q / v;
            per_x.push(x);
        }
        for &(xi, m, ln_m, count) in &self.rows {
            let x = per_x.get(xi as usize).copied().unwrap_or(f64::NAN);
            let px = p * x;
            let ln_s = ln(x * m + v);
            ll += count * ((px - 1.0) * ln_m - (px + q) * ln_s);
            g[0] += count * x * (ln_m - ln_s);
            g[1] -= count * ln_s;
            g[2] -= count * (px + q) / (x * m + v);
        }
        let n = self.patients;
        (-ll / n, [-g[0] * p / n, -g[1] * q / n, -g[2] * v / n])
    }
}
