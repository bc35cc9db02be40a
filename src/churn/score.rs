//! Scoring a whole clinic at once: `p_alive`, expected visits and CLV for every patient, the
//! same bits as [`BgNbd::p_alive`], [`BgNbd::expected_visits`] and [`super::clv`] one patient
//! at a time, in a fraction of the time.
//!
//! Why it is fast: in whole days, patients' summaries repeat massively. The costly part of
//! a score, the ₂F₁ series of the visits expected of a patient still active, depends on the
//! frequency and `T` only, so it is computed once per distinct `(frequency, T)` pair, at
//! every horizon side by side, with the series' coefficients shared by every pair of one
//! frequency. What depends on the recency is one exponential per patient, with
//! `ln(α + time)` taken once per distinct whole-day time.

use rustc_hash::FxHashMap;

use super::special::ln;
use super::{BgNbd, ChurnError, ClvPlan, GammaGamma, Observation};

/// Whole-day times up to this many get their `ln(α + time)` from a table.
const LN_TABLE_DAYS: usize = 1 << 16;

/// What [`score`] computes: the horizon of the expected visits and the CLV's periods.
#[derive(Debug, Clone)]
pub struct ScoreSpec {
    horizon: f64,
    plan: ClvPlan,
}

impl ScoreSpec {
    /// Expected visits in the next `horizon` time units, and the CLV over `periods` periods
    /// of `period_length` units discounted at `discount_rate` a period (as [`super::clv`]).
    ///
    /// # Errors
    ///
    /// [`ChurnError::OutOfRange`] for a negative or non-finite `horizon`, and as
    /// [`super::clv`] for the CLV's terms.
    pub fn new(
        horizon: f64,
        periods: u32,
        discount_rate: f64,
        period_length: f64,
    ) -> Result<ScoreSpec, ChurnError> {
        if !(horizon.is_finite() && horizon >= 0.0) {
            return Err(ChurnError::OutOfRange {
                field: "t".into(),
                value: horizon,
                expected: "a finite time of at least 0",
            });
        }
        Ok(ScoreSpec {
            horizon,
            plan: ClvPlan::new(periods, discount_rate, period_length)?,
        })
    }
}

/// One patient's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChurnScore {
    /// [`BgNbd::p_alive`].
    pub p_alive: f64,
    /// [`BgNbd::expected_visits`] at the spec's horizon.
    pub expected_visits: f64,
    /// [`super::clv`] over the spec's periods.
    pub clv: f64,
}

/// What every patient of one `(frequency, T)` pair shares.
#[derive(Clone, Copy)]
struct Pair {
    /// Visits expected by the horizon if still active.
    visits: f64,
    /// The discounted CLV visits if still active.
    discounted: f64,
    /// [`BgNbd::dropout_log_odds`].
    odds: f64,
    /// Gamma-Gamma's expected spend as `base + weight · monetary_value`.
    base: f64,
    weight: f64,
}

/// `ln(α + time)`, from a table for whole days.
struct LnTable {
    alpha: f64,
    days: Vec<f64>,
}

impl LnTable {
    fn new(alpha: f64, max_time: f64) -> LnTable {
        // Whole days only up to the table's size; anything else is computed on the spot.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let last = if max_time >= 0.0 {
            (max_time.min(LN_TABLE_DAYS as f64)) as usize
        } else {
            0
        };
        #[allow(clippy::cast_precision_loss)]
        let days = (0..=last).map(|d| ln(alpha + d as f64)).collect();
        LnTable { alpha, days }
    }

    fn at(&self, time: f64) -> f64 {
        // A whole day survives the round trip through an integer (`fract` would call out to
        // `trunc` on baseline x86-64); a negative time or a fraction does not.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let day = time as usize;
        #[allow(clippy::cast_precision_loss)]
        let whole = day as f64 == time;
        match self.days.get(day) {
            Some(v) if whole => *v,
            _ => ln(self.alpha + time),
        }
    }
}

/// Every patient's `p_alive`, expected visits and CLV, in input order; `patients` are each
/// patient's summary and mean repeat spend (as [`super::clv`] takes them). Each score is
/// the same bits as the one-patient functions give.
///
/// # Errors
///
/// [`ChurnError::Patient`] with the index of the first patient (in input order) whose
/// expected visits cannot be computed, and why (as [`BgNbd::expected_visits`]).
pub fn score(
    bgnbd: &BgNbd,
    gamma_gamma: &GammaGamma,
    patients: &[(Observation, f64)],
    spec: &ScoreSpec,
) -> Result<Vec<ChurnScore>, ChurnError> {
    let (pairs, of_patient, max_time) = group_pairs(patients);
    let shared = pair_values(bgnbd, gamma_gamma, &pairs, spec);
    let logs = LnTable::new(bgnbd.alpha(), max_time);
    let mut out = Vec::with_capacity(patients.len());
    for (n, ((o, m), i)) in patients.iter().zip(&of_patient).enumerate() {
        // Every index was handed out for a pair of `pairs`, so `get` finds one unless the
        // pairs outnumber u32 (far beyond any memory).
        let pair = match shared.get(*i as usize) {
            Some(Ok(p)) => *p,
            Some(Err(e)) => {
                return Err(ChurnError::Patient {
                    index: n,
                    source: Box::new(e.clone()),
                });
            }
            None => {
                return Err(ChurnError::OutOfRange {
                    field: "patients".into(),
                    value: f64::from(u32::MAX),
                    expected: "fewer distinct (frequency, T) pairs",
                });
            }
        };
        let p_alive = if o.frequency == 0 {
            1.0
        } else {
            bgnbd.p_alive_from(o.frequency, logs.at(o.t), logs.at(o.recency), pair.odds)
        };
        let spend = pair.base + pair.weight * m;
        out.push(ChurnScore {
            p_alive,
            expected_visits: pair.visits * p_alive,
            clv: spend * (p_alive * pair.discounted),
        });
    }
    Ok(out)
}

/// Whole-day pairs are looked up in a dense table of this many entries at most
/// ((largest frequency + 1) × (largest `T` + 1)); beyond it, or with a fractional `T`, in a
/// hash map.
const DENSE_PAIRS: usize = 1 << 20;

/// Each patient's (frequency, `T`) pair: the distinct pairs in the order first met, each
/// patient's index into them, and the largest `T`.
fn group_pairs(patients: &[(Observation, f64)]) -> (Vec<(u32, f64)>, Vec<u32>, f64) {
    let mut max_time = 0.0f64;
    let mut max_x = 0u32;
    let mut whole = true;
    for (o, _) in patients {
        max_time = max_time.max(o.t);
        max_x = max_x.max(o.frequency);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let day = o.t as u64 as f64;
        whole &= day == o.t;
    }
    let mut pairs: Vec<(u32, f64)> = Vec::new();
    let mut of_patient: Vec<u32> = Vec::with_capacity(patients.len());
    fn first_met(pairs: &mut Vec<(u32, f64)>, o: &Observation) -> u32 {
        let next = u32::try_from(pairs.len()).unwrap_or(u32::MAX);
        pairs.push((o.frequency, o.t));
        next
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let width = max_time as usize + 1;
    let cells = (max_x as usize + 1).saturating_mul(width);
    if whole && max_time < DENSE_PAIRS as f64 && cells <= DENSE_PAIRS {
        // A million patients in days fit in a table of a few hundred kilobytes, which
        // stays in cache where a hash map's probes would not.
        let mut dense = vec![u32::MAX; cells];
        for (o, _) in patients {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let cell = o.frequency as usize * width + o.t as usize;
            let i = match dense.get_mut(cell) {
                Some(slot) if *slot != u32::MAX => *slot,
                Some(slot) => {
                    *slot = first_met(&mut pairs, o);
                    *slot
                }
                None => u32::MAX,
            };
            of_patient.push(i);
        }
    } else {
        let mut index: FxHashMap<(u32, u64), u32> = FxHashMap::default();
        for (o, _) in patients {
            let i = *index
                .entry((o.frequency, o.t.to_bits()))
                .or_insert_with(|| first_met(&mut pairs, o));
            of_patient.push(i);
        }
    }
    (pairs, of_patient, max_time)
}

/// Each pair's shared values, the pairs taken in (frequency, T) order so that one series
/// serves every pair of a frequency.
fn pair_values(
    bgnbd: &BgNbd,
    gamma_gamma: &GammaGamma,
    pairs: &[(u32, f64)],
    spec: &ScoreSpec,
) -> Vec<Result<Pair, ChurnError>> {
    let mut order: Vec<u32> = (0..u32::try_from(pairs.len()).unwrap_or(u32::MAX)).collect();
    let key = |i: &u32| pairs.get(*i as usize).copied().unwrap_or((0, 0.0));
    order.sort_unstable_by(|p, q| {
        let (a, b) = (key(p), key(q));
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    // The horizon first, then the CLV's.
    let mut horizons = Vec::with_capacity(spec.plan.horizons.len() + 1);
    horizons.push(spec.horizon);
    horizons.extend_from_slice(&spec.plan.horizons);
    let mut visits = vec![0.0; horizons.len()];
    let mut out: Vec<Result<Pair, ChurnError>> = vec![
        Ok(Pair {
            visits: 0.0,
            discounted: 0.0,
            odds: 0.0,
            base: 0.0,
            weight: 0.0
        });
        pairs.len()
    ];
    let mut current: Option<(u32, super::special::Hyp2f1Series, f64, f64, f64)> = None;
    for i in order {
        let (x, t) = key(&i);
        let (series, odds, base, weight) = match &mut current {
            Some((cx, series, odds, base, weight)) if *cx == x => (series, *odds, *base, *weight),
            slot => {
                let (base, weight) = gamma_gamma.spend_parts(x);
                let odds = bgnbd.dropout_log_odds(x);
                let s = slot.insert((x, bgnbd.active_series(x), odds, base, weight));
                (&mut s.1, odds, base, weight)
            }
        };
        let value = bgnbd
            .if_active_at(series, x, t, &horizons, &mut visits)
            .map(|()| Pair {
                visits: visits.first().copied().unwrap_or(0.0),
                discounted: spec.plan.discounted(visits.get(1..).unwrap_or(&[])),
                odds,
                base,
                weight,
            });
        if let Some(slot) = out.get_mut(i as usize) {
            *slot = value;
        }
    }
    out
}
