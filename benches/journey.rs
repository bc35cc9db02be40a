//! The journey layer: one realistic clinic day replayed in memory.
//!
//! Target (issue 13): at least 200,000 journal events per second on one core, in memory.
//!
//! The day: 2,000 patients registering (with a birth date, so age audiences are decided),
//! 1,400 of them consenting to marketing, 400 binding to a referrer, 3,000 visits, 3,000
//! purchases (most at a visit, some paid partly in points) each evaluated against a
//! 500-campaign book whose member-day campaigns are live that day, 300 refunds (half of
//! them in full, undoing campaign points and campaign use), and the evening's follow-up
//! planning for every patient. Every event goes through `Clinic::handle`, as a host in
//! memory runs it; each iteration starts from an empty clinic.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::campaign::CampaignBook;
use clinic_ops::followup::CarePlan;
use clinic_ops::id::{ClinicId, DoctorId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{
    Clinic, ClinicEvent, ClinicEventKind, EventKey, JourneyConfig, Purchase, Visit,
};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{ConsentPurpose, Label};
use clinic_ops::referral::{
    Basis, Beneficiary, ComplianceProfile, Reward, RewardCaps, RewardSchedule, RuleId, RuleSpec,
    ScheduleSpec,
};
use clinic_ops::testkit::patient_store::registration;

const PATIENTS: u64 = 2_000;
const VISITS: u64 = 3_000;

/// One campaign of the book. A fifth listen to purchases; of those, the member-day ones
/// (recurring on the 23rd) are live on the benchmark's day, the rest are outside their
/// window. Audiences mix age and consent.
fn campaign(i: usize) -> Value {
    let trigger = [
        "purchase",
        "visit",
        "birthday",
        "enrollment",
        "follow_up_due",
    ][i % 5];
    let member_day = i.is_multiple_of(10);
    let window = if member_day {
        json!({ "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00",
                "recurrence": { "every": "month_day", "day": 23 } })
    } else {
        let m = 1 + (i % 9) as u32;
        json!({ "start": format!("2026-{m:02}-01T00:00:00+08:00"),
                "end": format!("2026-{m:02}-28T00:00:00+08:00") })
    };
    let audience = match i % 3 {
        0 => json!({ "all": [] }),
        1 => json!({ "age": { "min": 40 } }),
        _ => json!({ "age": { "max": 70 } }),
    };
    let purchase = trigger == "purchase";
    // Amount effects need a trigger with an amount paid.
    let effects = match (purchase, i % 4) {
        (true, 0) => json!([{ "type": "points_multiplier", "factor": "2" }]),
        (true, 1) => json!([{ "type": "points_per_yuan", "points": "1" }]),
        (true, 2) => json!([{ "type": "cashback", "percent": "5", "cap": "20" }]),
        _ => json!([{ "type": "fixed_points", "points": 50 }]),
    };
    let trigger = if purchase {
        json!({ "on": trigger, "min": "100" })
    } else {
        json!({ "on": trigger })
    };
    json!({
        "id": i + 1,
        "name": format!("campaign {i}"),
        "window": window,
        "trigger": trigger,
        "audience": audience,
        "effects": effects,
        "caps": {
            "budget": { "points": 10_000_000, "yuan": "500000" },
            "limits": [ { "action": "apply", "per": "patient", "period": "month", "max": 2 } ]
        },
        "priority": (i % 7) as i32,
    })
}

fn config() -> JourneyConfig {
    let mut c = JourneyConfig::new(ClinicCalendar::default());
    let campaigns: Vec<Value> = (0..500).map(campaign).collect();
    c.campaigns = serde_json::from_value::<CampaignBook>(json!({ "campaigns": campaigns }))
        .unwrap_or_else(|e| panic!("book: {e}"));
    c.referral = Some(
        RewardSchedule::new(ScheduleSpec {
            profile: ComplianceProfile::MedicalInstitution,
            depth: 1,
            min_paid: Yuan::from_whole(100).unwrap_or_else(|e| panic!("{e}")),
            pending_days: 7,
            caps: RewardCaps {
                per_month: Some(3),
                lifetime: Some(20),
            },
            rules: vec![RuleSpec {
                id: RuleId::parse("friend").unwrap_or_else(|e| panic!("{e}")),
                beneficiary: Beneficiary::Referrer { level: 1 },
                basis: Basis::FirstPaidVisit,
                reward: Reward::Points(Points::new(200)),
            }],
        })
        .unwrap_or_else(|e| panic!("schedule: {e}")),
    );
    let plan: CarePlan = serde_json::from_str(
        r#"{ "name": "诊后常规", "rules": [
            {"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "wechat_message"},
            {"key": "revisit", "kind": "revisit_booking", "days_after": 14, "channel": "call"}
        ] }"#,
    )
    .unwrap_or_else(|e| panic!("care plan: {e}"));
    c.care_plans = vec![plan];
    c
}

/// A tiny seeded generator (Knuth's MMIX constants), so the day is the same every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn yuan(whole: u64) -> Yuan {
    Yuan::from_whole(whole).unwrap_or_else(|e| panic!("{e}"))
}

/// The day's journal, in time order: 08:00 to 20:00 clinic time on a member day.
fn journal() -> Vec<ClinicEvent> {
    // 2026-11-23 08:00 +08:00.
    let open: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("time"));
    let day_secs = 12 * 3_600;
    let mut rng = Lcg(13);
    let mut lines: Vec<(DateTime<Utc>, ClinicEventKind)> = Vec::new();
    let source = Label::parse("mini_program").unwrap_or_else(|e| panic!("{e}"));
    // Patients register during the first half of the day, each one second apart at least.
    let registered = |n: u64| open + Duration::seconds((n * 10) as i64);
    for n in 1..=PATIENTS {
        let at = registered(n);
        let id = PatientId::new(n);
        let mut reg = registration(n);
        reg.birth_date = NaiveDate::from_ymd_opt(1940 + (n % 60) as i32, 1 + (n % 12) as u32, 1);
        lines.push((
            at,
            ClinicEventKind::Register {
                patient: id,
                registration: Box::new(reg),
            },
        ));
        if n % 10 < 7 {
            lines.push((
                at + Duration::seconds(1),
                ClinicEventKind::Consent {
                    patient: id,
                    purpose: ConsentPurpose::Marketing,
                    granted: true,
                    source: source.clone(),
                },
            ));
        }
        if n > 10 && n % 5 == 0 {
            lines.push((
                at + Duration::seconds(2),
                ClinicEventKind::Refer {
                    referrer: PatientId::new(1 + rng.below(n - 1)),
                    referee: id,
                },
            ));
        }
    }
    let mut purchases = Vec::new();
    for v in 1..=VISITS {
        let patient = 1 + rng.below(PATIENTS);
        let earliest = registered(patient) + Duration::seconds(5);
        let at = earliest.max(open + Duration::seconds(rng.below(day_secs) as i64));
        let paid = yuan(50 + rng.below(400));
        lines.push((
            at,
            ClinicEventKind::Visit(Visit {
                id: VisitId::new(v),
                patient: PatientId::new(patient),
                at,
                clinic: ClinicId::new(1),
                doctor: Some(DoctorId::new(1 + rng.below(6))),
                paid,
                refunded_at: None,
            }),
        ));
        let amount = yuan(20 + rng.below(1_200));
        let points = if rng.below(10) == 0 {
            Points::new(rng.below(50) as i64)
        } else {
            Points::ZERO
        };
        let bought = at + Duration::seconds(60);
        lines.push((
            bought,
            ClinicEventKind::Purchase {
                purchase: Purchase {
                    id: PurchaseId::new(v),
                    patient: PatientId::new(patient),
                    at: bought,
                    amount,
                    category: None,
                    days_supply: None,
                },
                visit: Some(VisitId::new(v)),
                points,
            },
        ));
        purchases.push((v, bought, amount));
    }
    for (i, (id, bought, amount)) in purchases.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
        let amount = if i % 20 == 0 {
            *amount
        } else {
            Yuan::from_fen(u32::try_from(amount.to_fen() / 2).unwrap_or(0))
        };
        lines.push((
            *bought + Duration::minutes(30),
            ClinicEventKind::Refund {
                purchase: PurchaseId::new(*id),
                amount,
            },
        ));
    }
    lines.push((
        open + Duration::seconds(day_secs as i64),
        ClinicEventKind::Plan,
    ));
    // Stable, so each patient's own lines keep their order at equal times.
    lines.sort_by_key(|(at, _)| *at);
    lines
        .into_iter()
        .enumerate()
        .map(|(k, (at, kind))| ClinicEvent {
            key: EventKey::new(k as u64 + 1),
            at,
            kind,
        })
        .collect()
}

fn replay(config: &JourneyConfig, events: &[ClinicEvent]) -> (Clinic, usize) {
    let mut clinic = Clinic::new();
    let mut refused = 0;
    for e in events {
        refused += usize::from(clinic.handle(config, e).is_err());
    }
    (clinic, refused)
}

fn bench(c: &mut Criterion) {
    let config = config();
    let events = journal();
    // The day must be realistic, not a day of refusals: only points payments over a
    // balance and gamed referrals may be refused.
    let (clinic, refused) = replay(&config, &events);
    let granted = clinic.purchases().filter(|p| !p.bonuses.is_empty()).count();
    eprintln!(
        "journey day: {} events, {refused} refused, {granted} purchases with campaign points, {} tasks",
        events.len(),
        clinic.tasks().count()
    );
    assert!(
        refused * 20 < events.len(),
        "{refused} of {} refused",
        events.len()
    );
    assert!(granted > 0, "no campaign granted points");
    let mut g = c.benchmark_group("journey");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("a clinic day (2,000 patients, 500 campaigns)", |b| {
        b.iter(|| black_box(replay(&config, black_box(&events))).1)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
