//! Churn models over a million patients.
//!
//! Targets (issue 17): fit BG/NBD on 1,000,000 patients' summaries in under 1 s on one core;
//! score `p_alive`, expected visits and CLV for 1,000,000 patients in under 100 ms.
//! The summaries are generated from the BG/NBD process itself (per patient a Gamma visit
//! rate and a Beta dropout probability), in whole days over up to two years, so they look
//! like a clinic's and the fit has a true answer to find.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::churn::{
    BgNbd, DAYS_PER_MONTH, GammaGamma, Observation, ScoreSpec, SpendObservation, clv, score,
};

/// A cheap deterministic generator, so the bench needs no random-number dependency.
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Gamma(shape k, scale 1) by summing exponentials for the integer part plus a crude
    /// power draw for the rest: enough spread for a bench.
    fn gamma(&mut self, k: f64) -> f64 {
        let whole = k.floor() as u32;
        let mut g: f64 = (0..whole).map(|_| -self.unit().ln()).sum();
        let frac = k - f64::from(whole);
        if frac > 0.0 {
            g += self.unit().powf(1.0 / frac) * -self.unit().ln();
        }
        g
    }
}

/// Patients from BG/NBD with r = 0.5, α = 30 days, a = 1.5, b = 4: (summary, mean spend).
fn summaries(n: usize) -> Vec<(Observation, f64)> {
    let mut rng = Lcg(17);
    (0..n)
        .map(|_| {
            let rate = rng.gamma(0.5) / 30.0;
            let ga = rng.gamma(1.5);
            let drop = ga / (ga + rng.gamma(4.0));
            let t = (rng.unit() * 730.0).floor();
            let (mut at, mut last, mut x) = (0.0f64, 0.0f64, 0u32);
            loop {
                at += -rng.unit().ln() / rate.max(1e-9);
                if at > t {
                    break;
                }
                x += 1;
                last = at.floor();
                if rng.unit() < drop {
                    break;
                }
            }
            let spend = 50.0 + (rng.unit() * 400.0).floor();
            (
                Observation::new(x, if x == 0 { 0.0 } else { last }, t).unwrap(),
                spend,
            )
        })
        .collect()
}

fn fit(c: &mut Criterion) {
    let data = summaries(1_000_000);
    let obs: Vec<Observation> = data.iter().map(|d| d.0).collect();
    let spend: Vec<SpendObservation> = data
        .iter()
        .filter_map(|(o, m)| SpendObservation::new(o.frequency(), *m).ok())
        .collect();
    let f = BgNbd::fit(&obs).unwrap();
    eprintln!(
        "bg/nbd on 1,000,000: {:?} in {} iterations",
        f.params, f.iterations
    );
    let mut g = c.benchmark_group("churn_fit");
    g.sample_size(10);
    g.bench_function("bgnbd_1m", |b| {
        b.iter(|| BgNbd::fit(black_box(&obs)).unwrap())
    });
    g.bench_function(format!("gamma_gamma_{}", spend.len()), |b| {
        b.iter(|| GammaGamma::fit(black_box(&spend)).unwrap())
    });
    g.finish();
}

fn scoring(c: &mut Criterion) {
    let data = summaries(1_000_000);
    let bg = BgNbd::new(0.5, 30.0, 1.5, 4.0).unwrap();
    let gg = GammaGamma::new(6.0, 4.0, 100.0).unwrap();
    let spec = ScoreSpec::new(90.0, 12, 0.01, DAYS_PER_MONTH).unwrap();
    let mut g = c.benchmark_group("churn_score");
    g.sample_size(10);
    g.bench_function("p_alive_1m", |b| {
        b.iter(|| data.iter().map(|(o, _)| bg.p_alive(o)).sum::<f64>())
    });
    // The target: p_alive, expected visits in 90 days and 12-month CLV for every patient,
    // from the summaries to the scores (grouping included).
    g.bench_function("p_alive_expected_clv12_1m", |b| {
        b.iter(|| score(&bg, &gg, black_box(&data), &spec).unwrap())
    });
    // The same one patient at a time, on the first 10,000 (what a caller without the
    // batch pays; ×100 for a million).
    let few = &data[..10_000];
    g.bench_function("one_by_one_p_alive_expected_clv12_10k", |b| {
        b.iter(|| {
            few.iter()
                .map(|(o, m)| {
                    bg.p_alive(o)
                        + bg.expected_visits(90.0, o).unwrap()
                        + clv(&bg, &gg, o, *m, 12, 0.01, DAYS_PER_MONTH).unwrap()
                })
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, fit, scoring);
criterion_main!(benches);
