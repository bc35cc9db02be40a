//! Benches for retention and adherence.
//!
//! Run with short times on a shared machine:
//! `cargo bench --bench metrics -- --warm-up-time 1 --measurement-time 3`.

use chrono::{Duration, NaiveDate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcPeriod, pdc_by_patient};
use clinic_ops::metrics::retention::{CohortKind, RetentionSpec, retention_indexed};

/// A seeded generator, so every run measures the same data.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// 3,000,000 visits of 600,000 patients over 180 days, in random order.
fn visits() -> (Vec<u32>, Vec<i64>) {
    let mut rng = Lcg(9);
    let n = 3_000_000;
    let mut p = Vec::with_capacity(n);
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        p.push(rng.below(600_000) as u32);
        t.push(1_767_196_800 + rng.below(180 * 86_400) as i64);
    }
    (p, t)
}

/// 100,000 patients, each with 4–12 fills of one or two drugs over a year.
fn fills() -> Vec<Fill> {
    let mut rng = Lcg(11);
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let drugs = [
        Category::parse("metformin").expect("valid"),
        Category::parse("glipizide").expect("valid"),
    ];
    let mut out = Vec::new();
    for p in 0..100_000u64 {
        let mut day = rng.below(60) as i64;
        for _ in 0..4 + rng.below(9) {
            out.push(Fill {
                patient: PatientId::new(p),
                drug: drugs[rng.below(2) as usize].clone(),
                filled_on: start + Duration::days(day),
                days_supply: DaysSupply::new(30).expect("valid"),
            });
            day += 20 + rng.below(25) as i64;
        }
    }
    out
}

fn bench_retention(c: &mut Criterion) {
    let (p, t) = visits();
    let cal = ClinicCalendar::CHINA;
    let mut g = c.benchmark_group("retention");
    g.throughput(Throughput::Elements(p.len() as u64));
    g.sample_size(10);
    // Target: < 60 ms for 3M visits (two linear passes, one bit per patient and period).
    for (name, period, n) in [
        ("first_time_day_30", Period::Day, 30),
        ("first_time_week_12", Period::Week, 12),
        ("first_time_month_6", Period::Month, 6),
    ] {
        let spec = RetentionSpec::new(period, n).expect("valid spec");
        g.bench_function(name, |b| {
            b.iter(|| retention_indexed(black_box(&p), black_box(&t), &spec, cal))
        });
    }
    // Target: < 600 ms for 3M visits (sorts the (patient, period) pairs).
    let spec = RetentionSpec::new(Period::Week, 12)
        .expect("valid spec")
        .with_cohorts(CohortKind::Recurring);
    g.bench_function("recurring_week_12", |b| {
        b.iter(|| retention_indexed(black_box(&p), black_box(&t), &spec, cal))
    });
    g.finish();
}

fn bench_pdc(c: &mut Criterion) {
    let f = fills();
    let period = PdcPeriod::new(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default(),
    )
    .expect("valid period");
    let mut g = c.benchmark_group("pdc");
    g.throughput(Throughput::Elements(f.len() as u64));
    g.sample_size(10);
    // Target: < 150 ms for 100,000 patients (~800,000 fills): one sort, one day bitmap each.
    g.bench_function("pdc_by_patient_100k", |b| {
        b.iter(|| pdc_by_patient(black_box(&f), &period, AdherenceThreshold::DEFAULT))
    });
    g.finish();
}

criterion_group!(benches, bench_retention, bench_pdc);
criterion_main!(benches);
