//! Segmentation: rules over many patients, RFM summaries.
//!
//! Targets (issue 3): 30 rules over 1,000,000 patients' facts under 1 s on one core (facts
//! built outside the timed part); RFM summary and scores over a large in-memory set (the
//! 10,000,000-row end-to-end target, under 5 s, is measured on `examples/rfm.rs`).

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::id::PatientId;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{Channel, ConditionCode, ConsentPurpose, Label};
use clinic_ops::segment::{Expr, Lifecycle, PatientFacts, TagName, score_rfm, summarize_rfm};

const TAGS: [&str; 8] = [
    "condition/高血压",
    "condition/糖尿病",
    "value/重要价值客户",
    "channel/小红书",
    "care/高血压群",
    "life/沉睡",
    "interest/养生",
    "interest/针灸",
];

/// A cheap deterministic generator, so the bench needs no random-number dependency.
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

fn facts(n: u64) -> Vec<PatientFacts> {
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    let channels: Vec<Channel> = ["kol", "doctor_ip/xiaohongshu", "walk_in", "free_clinic"]
        .iter()
        .filter_map(|c| Channel::parse(c).ok())
        .collect();
    let tags: Vec<TagName> = TAGS.iter().filter_map(|t| TagName::parse(t).ok()).collect();
    let codes: Vec<ConditionCode> = ["I10", "E11"]
        .iter()
        .filter_map(|c| ConditionCode::parse(c).ok())
        .collect();
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let mut b = PatientFacts::builder(PatientId::new(i), today)
                .age(18 + rng.below(70) as u32)
                .channel(channels[rng.below(4) as usize].clone())
                .referrals_made(rng.below(3) as u32)
                .points(Points::new(rng.below(5_000) as i64));
            for p in ConsentPurpose::ALL {
                if rng.below(2) == 0 {
                    b = b.consent(p);
                }
            }
            for _ in 0..rng.below(6) {
                let d = rng.below(400) as u32;
                b = b
                    .visit(d)
                    .spend(d, Yuan::from_fen(rng.below(100_000) as u32));
            }
            for _ in 0..rng.below(4) {
                b = b.tag(tags[rng.below(tags.len() as u64) as usize].clone());
            }
            if rng.below(4) == 0 {
                b = b.condition(codes[rng.below(2) as usize].clone());
            }
            if rng.below(3) == 0
                && let Ok(l) = Label::parse(if rng.below(2) == 0 { "gold" } else { "silver" })
            {
                b = b.tier(l);
            }
            b.build()
        })
        .collect()
}

fn rules() -> Vec<Expr> {
    let json = [
        r#"{"has_tag":"condition/高血压"}"#,
        r#"{"all":[{"has_tag":"condition/高血压"},{"not":{"lifecycle":"dormant"}}]}"#,
        r#"{"visits_in":{"days":90,"min":2}}"#,
        r#"{"spend_in":{"days":365,"min":"3000"}}"#,
        r#"{"all":[{"visits_in":{"days":365,"min":6}},{"any":[{"spend_in":{"days":365,"min":3000}},{"referrals_made":{"min":1}}]}]}"#,
        r#"{"days_since_last_visit":{"min":180}}"#,
        r#"{"lifecycle":"at_risk"}"#,
        r#"{"age":{"min":60}}"#,
        r#"{"all":[{"age":{"min":35}},{"has_condition":"E11"}]}"#,
        r#"{"channel":"doctor_ip/xiaohongshu"}"#,
        r#"{"consent":{"purpose":"marketing"}}"#,
        r#"{"all":[{"consent":{"purpose":"marketing"}},{"consent":{"purpose":"health_data_segmentation"}},{"has_condition":"I10"}]}"#,
        r#"{"points":{"min":1000}}"#,
        r#"{"tier":"gold"}"#,
        r#"{"referrals_made":{"min":2}}"#,
        r#"{"any":[{"has_tag":"interest/养生"},{"has_tag":"interest/针灸"}]}"#,
        r#"{"not":{"has_tag":"life/沉睡"}}"#,
        r#"{"all":[{"tier":"silver"},{"points":{"min":2000,"max":4000}}]}"#,
        r#"{"any":[{"lifecycle":"dormant"},{"lifecycle":"lost"}]}"#,
        r#"{"all":[{"lifecycle":"won_back"},{"spend_in":{"days":30,"min":100}}]}"#,
        r#"{"visits_in":{"days":30,"max":0}}"#,
        r#"{"all":[{"has_tag":"value/重要价值客户"},{"consent":{"purpose":"marketing"}}]}"#,
        r#"{"age":{"min":0,"max":13}}"#,
        r#"{"all":[{"channel":"kol"},{"visits_in":{"days":180,"min":1}}]}"#,
        r#"{"any":[{"has_condition":"I10"},{"has_condition":"E11"}]}"#,
        r#"{"days_since_last_visit":{"min":30,"max":90}}"#,
        r#"{"all":[{"not":{"consent":{"purpose":"marketing"}}},{"consent":{"purpose":"care_reminder"}}]}"#,
        r#"{"spend_in":{"days":90,"max":"50.00"}}"#,
        r#"{"all":[{"age":{"min":50}},{"any":[{"tier":"gold"},{"points":{"min":3000}}]},{"not":{"lifecycle":"lost"}}]}"#,
        r#"{"all":[{"has_tag":"channel/小红书"},{"lifecycle":"new"}]}"#,
    ];
    json.iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

fn rules_over_patients(c: &mut Criterion) {
    let rules = rules();
    assert_eq!(rules.len(), 30);
    let all = facts(1_000_000);
    let mut g = c.benchmark_group("segment");
    g.sample_size(10);
    // Target: < 1 s for 30 rules × 1,000,000 patients, one core.
    g.bench_function("30 rules x 1,000,000 patients (evaluate)", |b| {
        b.iter(|| {
            let mut hits = 0u64;
            for f in &all {
                for r in &rules {
                    hits += u64::from(r.evaluate(f));
                }
            }
            black_box(hits)
        })
    });
    g.finish();
    let one = &all[7];
    let deep = &rules[4];
    c.bench_function("explain one 6-node expression", |b| {
        b.iter(|| black_box(deep.explain(black_box(one))))
    });
    c.bench_function("parse one 6-node expression", |b| {
        let json = serde_json::to_string(deep).unwrap_or_default();
        b.iter(|| serde_json::from_str::<Expr>(black_box(&json)))
    });
    let _ = Lifecycle::ALL;
}

fn rfm_summary(c: &mut Criterion) {
    const ROWS: u64 = 2_000_000;
    const PATIENTS: u64 = 200_000;
    let base = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
    let mut rng = Lcg(7);
    let tx: Vec<(u32, NaiveDate, Yuan)> = (0..ROWS)
        .map(|_| {
            (
                rng.below(PATIENTS) as u32,
                base + chrono::Days::new(rng.below(700)),
                Yuan::from_fen(rng.below(200_000) as u32),
            )
        })
        .collect();
    let as_of = base + chrono::Days::new(600);
    let mut g = c.benchmark_group("rfm");
    g.sample_size(10);
    // Target: the library part of the 10,000,000-row calculator, well under 5 s scaled.
    g.bench_function("summarize + score 2,000,000 rows, 200,000 patients", |b| {
        b.iter(|| {
            let s = summarize_rfm(tx.iter().copied(), as_of).unwrap_or_default();
            let v: Vec<_> = s.values().copied().collect();
            black_box(score_rfm(&v))
        })
    });
    g.finish();
}

criterion_group!(benches, rules_over_patients, rfm_summary);
criterion_main!(benches);
