//! The BG/NBD model (Fader, Hardie & Lee 2005): likelihood, fit and predictions, with
//! lifetimes' `BetaGeoFitter` formulas.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::optim::{Minimum, bfgs};
use super::special::{Hyp2f1Series, digamma, exp, hyp2f1, ln, ln_1p, ln_beta, ln_gamma, pow};
use super::{ChurnError, Observation, check_param};

const MODEL: &str = "bg/nbd";

/// Fitted BG/NBD parameters: visits follow a Poisson process whose rate is Gamma(r, α)
/// across patients; after each visit a patient drops out with a probability that is
/// Beta(a, b) across patients. `alpha` is in the summaries' time unit (days for
/// [`crate::segment::RfmSummary`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBgNbd")]
pub struct BgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl TryFrom<RawBgNbd> for BgNbd {
    type Error = ChurnError;
    fn try_from(raw: RawBgNbd) -> Result<Self, ChurnError> {
        BgNbd::new(raw.r, raw.alpha, raw.a, raw.b)
    }
}

// Every parameter is finite (checked by `new` and serde), so equality is reflexive: a
// model can sit in values that are `Eq`, such as a follow-up rule.
impl Eq for BgNbd {}

/// A BG/NBD fit: the parameters and how the optimiser got there.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct BgNbdFit {
    /// The maximum-likelihood parameters.
    pub params: BgNbd,
    /// The total log-likelihood at `params` (lifetimes' per-patient terms, summed).
    pub log_likelihood: f64,
    /// BFGS iterations used.
    pub iterations: u32,
}

impl BgNbd {
    /// Parameters from their values.
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] naming the first parameter that is not finite and positive.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<BgNbd, ChurnError> {
        check_param("r", r)?;
        check_param("alpha", alpha)?;
        check_param("a", a)?;
        check_param("b", b)?;
        Ok(BgNbd { r, alpha, a, b })
    }

    /// The shape of the Gamma distribution of visit rates.
    #[must_use]
    pub fn r(&self) -> f64 {
        self.r
    }
    /// The scale of the Gamma distribution of visit rates, in the summaries' time unit.
    #[must_use]
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// The first shape of the Beta distribution of dropout probabilities.
    #[must_use]
    pub fn a(&self) -> f64 {
        self.a
    }
    /// The second shape of the Beta distribution of dropout probabilities.
    #[must_use]
    pub fn b(&self) -> f64 {
        self.b
    }

    /// Fits the parameters by maximum likelihood, with no penalty (lifetimes'
    /// `BetaGeoFitter(penalizer_coef=0)`).
    ///
    /// Deterministic bit for bit: identical summaries are merged with a count (their order
    /// does not matter), time is scaled so that the largest `T` is 10 (as lifetimes does; the
    /// maximum does not move), and BFGS (analytic gradients, Armijo backtracking) runs in
    /// log-parameter space from `r = α = a = b = 1` (in scaled time), with every sum in a
    /// fixed order and every transcendental function from `libm`. It stops by the rule of
    /// [`super::GRADIENT_TOLERANCE`], within [`super::MAX_ITERATIONS`].
    ///
    /// # Errors
    ///
    /// [`ChurnError::Unfittable`] with no summaries, one patient, no repeat patients, every
    /// summary identical, or every `T` zero; [`ChurnError::NotConverged`] when the optimiser
    /// reaches [`super::MAX_ITERATIONS`] or a parameter runs off to 0 or infinity.
    pub fn fit(observations: &[Observation]) -> Result<BgNbdFit, ChurnError> {
        let unfittable = |reason| ChurnError::Unfittable {
            model: MODEL,
            reason,
        };
        match observations {
            [] => return Err(unfittable("no patients")),
            [_] => return Err(unfittable("one patient")),
            [first, rest @ ..] if rest.iter().all(|o| o == first) => {
                return Err(unfittable("every summary is identical"));
            }
            _ => {}
        }
        if observations.iter().all(|o| o.frequency == 0) {
            return Err(unfittable("no repeat patients"));
        }
        let max_t = observations.iter().fold(0.0f64, |m, o| m.max(o.t));
        if max_t <= 0.0 {
            return Err(unfittable("every T is zero"));
        }
        let scale = 10.0 / max_t;
        let data = Data::new(observations, scale);
        let Minimum { x, iterations, .. } = bfgs(MODEL, [0.0; 4], |theta| data.evaluate(theta))?;
        let params = BgNbd::new(exp(x[0]), exp(x[1]) / scale, exp(x[2]), exp(x[3]))?;
        Ok(BgNbdFit {
            params,
            log_likelihood: params.weighted_log_likelihood(&data.unique),
            iterations,
        })
    }

    /// The log-likelihood of one patient's summary: lifetimes' per-customer terms
    /// `A₁ + A₂ + ln(e^A₃ + [x > 0] e^A₄)`.
    #[must_use]
    pub fn log_likelihood_of(&self, o: &Observation) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(o.frequency);
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * ln(alpha);
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        self.log_likelihood_with(o, a1, a2)
    }

    /// The total log-likelihood of the summaries, summed in order.
    #[must_use]
    pub fn log_likelihood(&self, observations: &[Observation]) -> f64 {
        observations.iter().map(|o| self.log_likelihood_of(o)).sum()
    }

    /// Σ count · [`BgNbd::log_likelihood_of`] over distinct summaries sorted by frequency,
    /// summed in order; the log-gamma terms are taken once per frequency (the same bits
    /// per summary as `log_likelihood_of`).
    fn weighted_log_likelihood(&self, unique: &[(Observation, f64)]) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let mut cached: Option<(u32, f64, f64)> = None;
        let mut total = 0.0;
        for (o, count) in unique {
            let (a1, a2) = match cached {
                Some((x, a1, a2)) if x == o.frequency => (a1, a2),
                _ => {
                    let x = f64::from(o.frequency);
                    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * ln(alpha);
                    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
                    cached = Some((o.frequency, a1, a2));
                    (a1, a2)
                }
            };
            total += count * self.log_likelihood_with(o, a1, a2);
        }
        total
    }

    /// [`BgNbd::log_likelihood_of`] given its frequency-only terms `A₁` and `A₂`.
    fn log_likelihood_with(&self, o: &Observation, a1: f64, a2: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(o.frequency);
        let a3 = -(r + x) * ln(alpha + o.t);
        if o.frequency == 0 {
            return a1 + a2 + a3;
        }
        let a4 = ln(a) - ln(b + x - 1.0) - (r + x) * ln(alpha + o.recency);
        a1 + a2 + log_add_exp(a3, a4)
    }

    /// The probability that the patient is still active (has not dropped out), lifetimes'
    /// `conditional_probability_alive`: 1 for a patient with no repeat visit (in BG/NBD a
    /// patient can only drop out right after a visit), else
    /// `1 / (1 + a/(b+x−1) · ((α+T)/(α+recency))^(r+x))`, computed as
    /// `1 / (1 + exp((r+x)·(ln(α+T) − ln(α+recency)) + ln(a/(b+x−1))))` so that a batch
    /// ([`super::score`]) takes each logarithm once per distinct time.
    #[must_use]
    pub fn p_alive(&self, o: &Observation) -> f64 {
        if o.frequency == 0 {
            return 1.0;
        }
        self.p_alive_from(
            o.frequency,
            ln(self.alpha + o.t),
            ln(self.alpha + o.recency),
            self.dropout_log_odds(o.frequency),
        )
    }

    /// `ln(a/(b+x−1))`, the part of [`BgNbd::p_alive`] that depends on the frequency only.
    pub(crate) fn dropout_log_odds(&self, frequency: u32) -> f64 {
        ln(self.a / (self.b + f64::from(frequency) - 1.0))
    }

    /// [`BgNbd::p_alive`] from `ln(α+T)`, `ln(α+recency)` and [`BgNbd::dropout_log_odds`].
    pub(crate) fn p_alive_from(
        &self,
        frequency: u32,
        ln_t: f64,
        ln_recency: f64,
        odds: f64,
    ) -> f64 {
        if frequency == 0 {
            return 1.0;
        }
        let log_div = (self.r + f64::from(frequency)) * (ln_t - ln_recency) + odds;
        1.0 / (1.0 + exp(log_div))
    }

    /// When the patient's `p_alive` falls below `threshold` if they do not come back: the
    /// `T` (time since their first visit) past which [`BgNbd::p_alive`] of the same
    /// frequency and recency is below it, solved exactly from
    /// `(r+x)·ln((α+T)/(α+recency)) + ln(a/(b+x−1)) > ln(1/threshold − 1)`. A win-back
    /// follow-up keyed on the model starts the first day after it (for day summaries,
    /// `floor(T) + 1` days after the first visit), instead of after fixed days.
    ///
    /// `None` when it never falls below: no repeat visit (`p_alive` is 1) or a threshold of 0
    /// or less. When it is below already at the last visit (a threshold above `p_alive` at
    /// `T = recency`), the answer is `recency`.
    #[must_use]
    pub fn p_alive_falls_below_at(&self, o: &Observation, threshold: f64) -> Option<f64> {
        if o.frequency == 0 || threshold.is_nan() || threshold <= 0.0 {
            return None;
        }
        let x = f64::from(o.frequency);
        let floor = o.recency;
        if threshold >= 1.0 {
            return Some(floor);
        }
        let limit = ln(1.0 / threshold - 1.0);
        let k = (limit - ln(self.a / (self.b + x - 1.0))) / (self.r + x);
        let t = (self.alpha + o.recency) * exp(k) - self.alpha;
        Some(if t.is_finite() {
            t.max(floor)
        } else {
            f64::MAX
        })
    }

    /// The expected number of visits in the next `t` time units given the summary,
    /// lifetimes' `conditional_expected_number_of_purchases_up_to_time(t, ..)`: the visits
    /// expected of a patient still active ([`BgNbd::expected_visits_if_active`]) times
    /// [`BgNbd::p_alive`].
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] for a negative or non-finite `t`;
    /// [`ChurnError::Hypergeometric`] where ₂F₁ cannot be summed (`t` enormous against
    /// `α + T`, or `a + b + x − 1` a pole).
    pub fn expected_visits(&self, t: f64, o: &Observation) -> Result<f64, ChurnError> {
        Ok(self.expected_visits_if_active(t, o.frequency, o.t)? * self.p_alive(o))
    }

    /// The visits expected in the next `t` time units of a patient with `frequency` repeat
    /// visits observed for `T`, if they are still active: lifetimes'
    /// `(a+b+x−1)/(a−1) · (1 − ₂F₁(r+x, b+x; a+b+x−1; z) · ((α+T)/(α+T+t))^(r+x))` with
    /// `z = t/(α+T+t)`. It does not depend on the recency.
    ///
    /// ₂F₁ is summed after Euler's transformation (A&S 15.3.3),
    /// `₂F₁(A, B; C; z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z)`, which turns the product into
    /// `((α+T)/(α+T+t))^(a−1) · ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`: the same value, but the
    /// series' upper parameters no longer grow with the frequency, so for a frequent
    /// patient it takes tens of terms instead of thousands, and no power overflows.
    ///
    /// # Errors
    ///
    /// As [`BgNbd::expected_visits`].
    pub fn expected_visits_if_active(
        &self,
        t: f64,
        frequency: u32,
        big_t: f64,
    ) -> Result<f64, ChurnError> {
        check_horizon(t)?;
        let mut series = self.active_series(frequency);
        let mut out = [0.0];
        self.if_active_at(&mut series, frequency, big_t, &[t], &mut out)?;
        Ok(out[0])
    }

    /// The transformed ₂F₁ series of [`BgNbd::expected_visits_if_active`] for a frequency.
    pub(crate) fn active_series(&self, frequency: u32) -> Hyp2f1Series {
        let BgNbd { r, a, b, .. } = *self;
        let x = f64::from(frequency);
        Hyp2f1Series::new(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0)
    }

    /// [`BgNbd::expected_visits_if_active`] at every horizon of `ts` (checked finite and at
    /// least 0 by the caller) into `out`, with the series of [`BgNbd::active_series`].
    pub(crate) fn if_active_at(
        &self,
        series: &mut Hyp2f1Series,
        frequency: u32,
        big_t: f64,
        ts: &[f64],
        out: &mut [f64],
    ) -> Result<(), ChurnError> {
        let BgNbd { alpha, a, b, .. } = *self;
        let x = f64::from(frequency);
        let zs: Vec<f64> = ts.iter().map(|t| t / (alpha + big_t + t)).collect();
        series.sum_at(&zs, out)?;
        let first = (a + b + x - 1.0) / (a - 1.0);
        for (o, t) in out.iter_mut().zip(ts) {
            let second = 1.0 - pow((alpha + big_t) / (alpha + big_t + t), a - 1.0) * *o;
            *o = first * second;
        }
        Ok(())
    }

    /// The expected number of visits of a new patient in `t` time units, lifetimes'
    /// `expected_number_of_purchases_up_to_time(t)`.
    ///
    /// # Errors
    ///
    /// As [`BgNbd::expected_visits`].
    pub fn expected_visits_new(&self, t: f64) -> Result<f64, ChurnError> {
        check_horizon(t)?;
        let BgNbd { r, alpha, a, b } = *self;
        let hyp = hyp2f1(r, b, a + b - 1.0, t / (alpha + t))?;
        Ok((a + b - 1.0) / (a - 1.0) * (1.0 - hyp * pow(alpha / (alpha + t), r)))
    }

    /// The probability that a new patient makes exactly `n` visits in `t` time units,
    /// lifetimes' `probability_of_n_purchases_up_to_time(t, n)`.
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] for a negative or non-finite `t`.
    pub fn probability_of_visits(&self, n: u32, t: f64) -> Result<f64, ChurnError> {
        check_horizon(t)?;
        let BgNbd { r, alpha, a, b } = *self;
        let nf = f64::from(n);
        let ln_q = ln(alpha / (alpha + t));
        let ln_p = if t == 0.0 {
            f64::NEG_INFINITY
        } else {
            ln(t / (alpha + t))
        };
        // 0^0 = 1: the power term is 1 for n = 0 whatever t is.
        let pow_p = |k: f64| if k == 0.0 { 0.0 } else { k * ln_p };
        let first = exp(ln_beta(a, b + nf) - ln_beta(a, b) + ln_gamma(r + nf)
            - ln_gamma(r)
            - ln_gamma(nf + 1.0)
            + r * ln_q
            + pow_p(nf));
        if n == 0 {
            return Ok(first);
        }
        let mut finite_sum = 0.0;
        for j in 0..n {
            let jf = f64::from(j);
            finite_sum += exp(ln_gamma(r + jf) - ln_gamma(r) - ln_gamma(jf + 1.0) + pow_p(jf));
        }
        let second = exp(ln_beta(a + 1.0, b + nf - 1.0) - ln_beta(a, b))
            * (1.0 - exp(r * ln_q) * finite_sum);
        Ok(first + second)
    }
}

fn check_horizon(t: f64) -> Result<(), ChurnError> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ChurnError::OutOfRange {
            field: "t".into(),
            value: t,
            expected: "a finite time of at least 0",
        })
    }
}

/// ln(eˣ + eʸ) without overflow.
fn log_add_exp(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x >= y { (x, y) } else { (y, x) };
    hi + ln_1p(exp(lo - hi))
}

/// The summaries prepared for the fit: merged, indexed into the distinct frequencies, `T`
/// values and recencies, so that one evaluation takes one logarithm per distinct time value
/// and one exponential and one logarithm per distinct repeat summary.
struct Data {
    /// The distinct summaries (unscaled) with how many patients have each, sorted by
    /// frequency, recency and `T`: every sum runs in this order.
    unique: Vec<(Observation, f64)>,
    /// Distinct frequencies and how many patients have each.
    xs: Vec<(f64, f64)>,
    /// Distinct scaled `T` values; distinct scaled recencies.
    ts: Vec<f64>,
    recencies: Vec<f64>,
    /// Patients with no repeat visit, per `T` index: (index, count).
    zero: Vec<(u32, f64)>,
    /// Repeat patients: (frequency index, recency index, `T` index, count).
    repeat: Vec<(u32, u32, u32, f64)>,
    patients: f64,
}

/// The distinct values, sorted, and each one's index by its bits.
fn distinct(values: impl Iterator<Item = f64>) -> (Vec<f64>, FxHashMap<u64, u32>) {
    let mut seen: FxHashMap<u64, u32> = FxHashMap::default();
    for v in values {
        seen.entry(v.to_bits()).or_insert(0);
    }
    let mut sorted: Vec<f64> = seen.keys().map(|b| f64::from_bits(*b)).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    for (i, v) in sorted.iter().enumerate() {
        if let Some(slot) = seen.get_mut(&v.to_bits()) {
            *slot = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    (sorted, seen)
}

/// The distinct summaries with their counts, in (frequency, recency, `T`) order. Merging
/// by hashing the exact bits, then sorting only the distinct ones, costs one pass over
/// the patients: in whole days a million patients have a few hundred thousand distinct
/// summaries, and the sums then run over those in an order that does not depend on the
/// patients' order.
fn merge(observations: &[Observation]) -> Vec<(Observation, f64)> {
    let mut counts: FxHashMap<(u32, u64, u64), u64> = FxHashMap::default();
    for o in observations {
        *counts
            .entry((o.frequency, o.recency.to_bits(), o.t.to_bits()))
            .or_insert(0) += 1;
    }
    #[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
    let mut unique: Vec<(Observation, f64)> = counts
        .into_iter()
        .map(|((frequency, recency, t), count)| {
            let o = Observation {
                frequency,
                recency: f64::from_bits(recency),
                t: f64::from_bits(t),
            };
            (o, count as f64)
        })
        .collect();
    unique.sort_unstable_by(|(p, _), (q, _)| {
        p.frequency
            .cmp(&q.frequency)
            .then(p.recency.total_cmp(&q.recency))
            .then(p.t.total_cmp(&q.t))
    });
    unique
}

impl Data {
    fn new(observations: &[Observation], scale: f64) -> Data {
        let unique = merge(observations);
        let (ts, t_index) = distinct(unique.iter().map(|(o, _)| o.t * scale));
        let (recencies, rec_index) = distinct(
            unique
                .iter()
                .filter(|(o, _)| o.frequency > 0)
                .map(|(o, _)| o.recency * scale),
        );
        let index = |map: &FxHashMap<u64, u32>, v: f64| map.get(&v.to_bits()).copied();
        let mut xs: Vec<(f64, f64)> = Vec::new();
        let mut zero: Vec<(u32, f64)> = Vec::new();
        let mut repeat: Vec<(u32, u32, u32, f64)> = Vec::with_capacity(unique.len());
        for &(o, count) in &unique {
            let xf = f64::from(o.frequency);
            match xs.last_mut() {
                Some(last) if last.0 == xf => last.1 += count,
                _ => xs.push((xf, count)),
            }
            let ti = index(&t_index, o.t * scale).unwrap_or(u32::MAX);
            if o.frequency == 0 {
                zero.push((ti, count));
            } else {
                let xi = u32::try_from(xs.len() - 1).unwrap_or(u32::MAX);
                let ri = index(&rec_index, o.recency * scale).unwrap_or(u32::MAX);
                repeat.push((xi, ri, ti, count));
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let patients = observations.len() as f64;
        Data {
            unique,
            xs,
            ts,
            recencies,
            zero,
            repeat,
            patients,
        }
    }

    /// The mean negative log-likelihood and its gradient in θ = (ln r, ln α, ln a, ln b).
    fn evaluate(&self, theta: &[f64; 4]) -> (f64, [f64; 4]) {
        let (r, alpha, a, b) = (exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3]));
        let ln_alpha = ln(alpha);
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        // Per distinct frequency: A₁ + A₂, their derivatives, and A₄'s constant part.
        let mut ll = 0.0;
        let mut g = [0.0f64; 4];
        let mut c4 = Vec::with_capacity(self.xs.len());
        for &(x, count) in &self.xs {
            let c = ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                - lg_b
                - ln_gamma(a + b + x);
            ll += count * c;
            let dg_abx = digamma(a + b + x);
            g[0] += count * (digamma(r + x) - dg_r + ln_alpha);
            g[1] += count * r / alpha;
            g[2] += count * (dg_ab - dg_abx);
            g[3] += count * (dg_ab + digamma(b + x) - dg_b - dg_abx);
            c4.push(if x > 0.0 {
                (ln(a) - ln(b + x - 1.0), 1.0 / (b + x - 1.0), r + x)
            } else {
                (0.0, 0.0, r + x)
            });
        }
        let log_t: Vec<(f64, f64)> = self
            .ts
            .iter()
            .map(|t| (ln(alpha + t), 1.0 / (alpha + t)))
            .collect();
        let log_rec: Vec<(f64, f64)> = self
            .recencies
            .iter()
            .map(|t| (ln(alpha + t), 1.0 / (alpha + t)))
            .collect();
        let at = |v: &[(f64, f64)], i: u32| v.get(i as usize).copied().unwrap_or((f64::NAN, 0.0));
        for &(ti, count) in &self.zero {
            let (lt, it) = at(&log_t, ti);
            ll -= count * r * lt;
            g[0] -= count * lt;
            g[1] -= count * r * it;
        }
        // The repeat summaries are the bulk of the work (a few hundred thousand for a
        // million patients in days): one exponential, one logarithm and one division each,
        // without a branch the processor could mispredict.
        let mut w4_total = 0.0;
        for &(xi, ri, ti, count) in &self.repeat {
            let (c, inv_b, rx) = c4
                .get(xi as usize)
                .copied()
                .unwrap_or((f64::NAN, 0.0, f64::NAN));
            let (lt, it) = at(&log_t, ti);
            let (lr, ir) = at(&log_rec, ri);
            let a3 = -rx * lt;
            let a4 = c - rx * lr;
            let d = a4 - a3;
            // L = ln(e^A₃ + e^A₄) = max + ln(1 + e^−|d|) and w₄ = e^A₄ / (e^A₃ + e^A₄),
            // from one exponential. ln(1 + e) rather than ln_1p(e): with e ≤ 1 the rounding
            // of 1 + e costs at most 1.1e-16 absolute, below the last place of L, and
            // libm's ln takes half the time of its ln_1p (which was half the fit's time).
            let e = exp(-d.abs());
            let one_e = 1.0 + e;
            let inv = 1.0 / one_e;
            let l = a3.max(a4) + ln(one_e);
            let w4 = if d > 0.0 { inv } else { e * inv };
            let w3 = 1.0 - w4;
            let cw4 = count * w4;
            ll += count * l;
            g[0] -= count * (w3 * lt + w4 * lr);
            g[1] -= count * rx * (w3 * it + w4 * ir);
            w4_total += cw4;
            g[3] -= cw4 * inv_b;
        }
        g[2] += w4_total / a;
        let n = self.patients;
        let grad = [
            -g[0] * r / n,
            -g[1] * alpha / n,
            -g[2] * a / n,
            -g[3] * b / n,
        ];
        (-ll / n, grad)
    }
}
