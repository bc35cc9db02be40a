//! The relationship module: concentration risk and group planning at chain scale.
//!
//! Targets (issue 19): concentration for 1,000,000 patients and 2,000 staff under 500 ms;
//! group membership planned for 1,000,000 patients over 200 group rules under 1 s (facts
//! built outside the timed part, as in `benches/segment.rs`). A handover of a departing
//! doctor's 5,000 patients is measured beside them.

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::id::{ClinicId, GroupId, PatientId, StaffId};
use clinic_ops::money::Yuan;
use clinic_ops::patient::ConsentPurpose;
use clinic_ops::relationship::{
    AccountKind, ContactBook, ContactEvent, GroupMembership, GroupSeries, Handover, HandoverScope,
    PatientHold, StaffAccount, StaffRoster, SuccessorRule, TransferMode, TransferRules,
    concentration, plan_groups, plan_handover,
};
use clinic_ops::segment::{Expr, PatientFacts, TagName};
use clinic_ops::text::Label;

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

const STAFF: u64 = 2_000;
const PATIENTS: u64 = 1_000_000;

/// 1,000 doctors (ids 1..=1000) and 1,000 assistants, over 20 clinics.
fn roster() -> StaffRoster {
    let accounts = (1..=STAFF)
        .map(|s| {
            let kind = if s <= STAFF / 2 {
                AccountKind::Doctor
            } else {
                AccountKind::Assistant
            };
            StaffAccount::new(StaffId::new(s), kind, ClinicId::new(s % 20), 100_000)
        })
        .collect();
    StaffRoster::new(accounts).unwrap_or_default()
}

fn concentration_bench(c: &mut Criterion) {
    let roster = roster();
    let mut rng = Lcg(7);
    // One to three holders per patient: a doctor, sometimes an assistant or a second doctor.
    let holders: Vec<Vec<StaffId>> = (0..PATIENTS)
        .map(|_| {
            let n = 1 + rng.below(3) as usize;
            (0..n).map(|_| StaffId::new(1 + rng.below(STAFF))).collect()
        })
        .collect();
    let extra: Vec<(bool, Yuan, bool)> = (0..PATIENTS)
        .map(|_| {
            (
                rng.below(3) == 0,
                Yuan::from_fen(rng.below(500_000) as u32),
                rng.below(4) == 0,
            )
        })
        .collect();
    let mut g = c.benchmark_group("relationship");
    g.sample_size(10);
    g.bench_function("concentration 1M patients 2k staff", |b| {
        b.iter(|| {
            let rows = holders.iter().zip(&extra).enumerate().map(
                |(i, (h, (in_group, revenue, chronic)))| PatientHold {
                    patient: PatientId::new(i as u64),
                    holders: h,
                    in_group: *in_group,
                    revenue: *revenue,
                    chronic: *chronic,
                },
            );
            black_box(concentration(rows, &roster))
        })
    });
    g.finish();
}

fn group_series() -> (Vec<GroupSeries>, Vec<TagName>, Vec<TagName>) {
    let villages: Vec<TagName> = (0..50)
        .filter_map(|v| TagName::parse(&format!("village/村{v}")).ok())
        .collect();
    let conditions: Vec<TagName> = [
        "condition/高血压",
        "condition/糖尿病",
        "condition/冠心病",
        "condition/慢阻肺",
    ]
    .iter()
    .filter_map(|t| TagName::parse(t).ok())
    .collect();
    let mut series = Vec::new();
    let (Ok(purpose), Ok(name)) = (Label::parse("健康讲座"), Label::parse("慢病")) else {
        return (series, villages, conditions);
    };
    for (v, village) in villages.iter().enumerate() {
        for (k, condition) in conditions.iter().enumerate() {
            let rule = Expr::all(vec![
                Expr::has_tag(village.clone()),
                Expr::has_tag(condition.clone()),
                Expr::consent(ConsentPurpose::GroupChat),
            ]);
            let id = GroupId::new((v * 4 + k + 1) as u64);
            if let Ok(s) =
                GroupSeries::new(id, name.clone(), purpose.clone(), StaffId::new(1), rule)
            {
                series.push(s);
            }
        }
    }
    (series, villages, conditions)
}

fn groups_bench(c: &mut Criterion) {
    let (series, villages, conditions) = group_series();
    assert_eq!(series.len(), 200);
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
    let mut rng = Lcg(11);
    let facts: Vec<PatientFacts> = (0..PATIENTS)
        .map(|i| {
            let mut b = PatientFacts::builder(PatientId::new(i), today)
                .tag(villages[rng.below(villages.len() as u64) as usize].clone());
            for _ in 0..rng.below(3) {
                b = b.tag(conditions[rng.below(conditions.len() as u64) as usize].clone());
            }
            if rng.below(5) != 0 {
                b = b.consent(ConsentPurpose::GroupChat);
            }
            b.build()
        })
        .collect();
    let at = Utc
        .with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .unwrap_or_default();
    let empty = GroupMembership::new();
    let mut g = c.benchmark_group("relationship");
    g.sample_size(10);
    g.bench_function("plan groups 1M patients 200 rules", |b| {
        b.iter(|| black_box(plan_groups(&series, &empty, &facts, at)))
    });
    g.finish();
}

fn handover_bench(c: &mut Criterion) {
    let roster = roster();
    let mut book = ContactBook::new();
    let at = Utc
        .with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .unwrap_or_default();
    for p in 0..5_000u64 {
        book.apply(
            PatientId::new(p),
            &[ContactEvent::Added {
                staff: StaffId::new(1),
                channel: None,
                at,
            }],
        );
    }
    let handover = Handover {
        departing: StaffId::new(1),
        mode: TransferMode::OnJob,
        scope: HandoverScope::All,
        rule: SuccessorRule::SameClinic,
        notice: None,
    };
    let rules = TransferRules::wecom();
    let mut g = c.benchmark_group("relationship");
    g.bench_function("handover 5k patients over 99 successors", |b| {
        b.iter(|| black_box(plan_handover(&book, &handover, at, &roster, &rules)))
    });
    g.finish();
}

criterion_group!(benches, concentration_bench, groups_bench, handover_bench);
criterion_main!(benches);
