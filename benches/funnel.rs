//! Funnel compute over dictionary-encoded columns.
//!
//! Target (issue 9): the 8-step, 30-day funnel over ~9.8M events of 2M patients in at most
//! 1/5 of ClickHouse `windowFunnel`'s time on the same machine: ClickHouse took ~790 ms on
//! the 2-core reference machine, so at most 160 ms with both cores. The data imitates
//! `../shared/bench/funnel_data.py` (journeys with falling step probabilities, exponential
//! gaps, repeats, strays and one non-step row in twelve), generated in memory and shuffled.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{ConversionWindow, EventColumns, FunnelMode, FunnelSpec, Step};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Columns for `patients` patients, about 4.9 rows each.
fn dataset(patients: u32, seed: u64) -> (Vec<u32>, Vec<u32>, Vec<i64>) {
    let mut rng = Rng(seed);
    let (mut p, mut k, mut t) = (Vec::new(), Vec::new(), Vec::new());
    let start = 1_767_196_800i64;
    let other = JourneyEventKind::custom(0).map_or(99, JourneyEventKind::code);
    let mut t0s = Vec::with_capacity(patients as usize);
    for id in 0..patients {
        let t0 = start + rng.below(180 * 86_400) as i64;
        t0s.push(t0);
        let mut ts = t0;
        for step in 0..8u32 {
            // geometric(0.22) reach: continue with probability 0.78
            if step > 0 {
                if rng.unit() >= 0.78 {
                    break;
                }
                ts += (-(1.0 - rng.unit()).ln() * 3.0 * 86_400.0) as i64;
            }
            p.push(id);
            k.push(step);
            t.push(ts);
            if rng.unit() < 0.08 {
                p.push(id);
                k.push(step);
                t.push(ts + rng.below(40 * 86_400) as i64);
            }
        }
    }
    for _ in 0..patients / 6 {
        let id = rng.below(u64::from(patients)) as u32;
        p.push(id);
        k.push(rng.below(8) as u32);
        t.push(t0s[id as usize] - 5 * 86_400 + rng.below(65 * 86_400) as i64);
    }
    for _ in 0..patients / 2 {
        let id = rng.below(u64::from(patients)) as u32;
        p.push(id);
        k.push(other);
        t.push(t0s[id as usize] + rng.below(60 * 86_400) as i64);
    }
    for i in (1..p.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        p.swap(i, j);
        k.swap(i, j);
        t.swap(i, j);
    }
    (p, k, t)
}

fn funnel(c: &mut Criterion) {
    let patients = 2_000_000;
    let (p, k, t) = dataset(patients, 7);
    let cols = EventColumns {
        patient_count: patients,
        patient: &p,
        kind: &k,
        at: &t,
        dimension: None,
    };
    let steps: Vec<Step> = JourneyStage::ALL[..8]
        .iter()
        .map(|&s| Step::kind(s))
        .collect();
    let mut g = c.benchmark_group("funnel");
    g.sample_size(10);
    for mode in [FunnelMode::Default, FunnelMode::StrictOrder] {
        let spec =
            FunnelSpec::new(steps.clone(), ConversionWindow::days(30).unwrap(), mode).unwrap();
        for threads in [1, 2] {
            g.bench_function(
                format!(
                    "{mode}, 8 steps, 30d, {} rows, {threads} thread(s)",
                    p.len()
                ),
                |b| {
                    b.iter(|| {
                        let s = spec.compute_columns(black_box(&cols), threads).unwrap();
                        s.report_with(&spec, 10, threads)
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, funnel);
criterion_main!(benches);
