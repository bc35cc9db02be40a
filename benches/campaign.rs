//! Campaign evaluation.
//!
//! Targets (issue 6), with a book of 500 campaigns of which about 20 can match any one event
//! (same event class, window covering the event): at least 1,000,000 evaluations per second on
//! one core with the trace off, and at least 200,000 per second with the trace on (a trace
//! entry for each of the 500 campaigns, explain trees for false audiences).

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::campaign::{
    CampaignBook, EvalOptions, Evaluator, Event, EventKind, UsageSnapshot, evaluate,
};
use clinic_ops::id::PatientId;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::ConsentPurpose;
use clinic_ops::segment::{PatientFacts, TagName};
use clinic_ops::store::{Version, Versioned};

const TRIGGERS: [&str; 5] = [
    "purchase",
    "visit",
    "birthday",
    "enrollment",
    "follow_up_due",
];
/// Window months, three apart.
const MONTHS: [(i32, u32); 5] = [(2026, 1), (2026, 4), (2026, 7), (2026, 10), (2027, 1)];

fn campaign(i: usize) -> Value {
    let trigger = TRIGGERS[i % 5];
    let (y, m) = MONTHS[(i / 5) % 5];
    let amount = matches!(trigger, "purchase" | "visit");
    let effects = if amount {
        json!([
            { "type": "points_per_yuan", "points": "1" },
            { "type": "cashback", "percent": "5", "cap": "20" }
        ])
    } else {
        json!([{ "type": "fixed_points", "points": 50 }])
    };
    let audience = match i % 4 {
        0 => json!({ "all": [] }),
        1 => json!({ "has_tag": "value/member" }),
        2 => {
            json!({ "all": [ { "has_tag": "value/member" }, { "not": { "has_tag": "lifecycle/dormant" } } ] })
        }
        _ => json!({ "has_tag": "value/vip" }),
    };
    let mut v = json!({
        "id": i + 1,
        "name": format!("campaign {i}"),
        "window": {
            "start": format!("{y}-{m:02}-01T00:00:00+08:00"),
            "end": format!("{y}-{m:02}-28T00:00:00+08:00"),
        },
        "trigger": { "on": trigger },
        "audience": audience,
        "effects": effects,
        "caps": {
            "budget": { "points": 1_000_000, "yuan": "50000" },
            "limits": [ { "action": "apply", "per": "patient", "period": "month", "max": 2 } ]
        },
        "priority": (i % 7) as i32,
    });
    if i.is_multiple_of(3) {
        v["window"]["recurrence"] = json!({ "every": "month_day", "day": 8 });
    }
    if i.is_multiple_of(10) {
        v["group"] = json!("member_day");
    }
    v
}

fn bench(c: &mut Criterion) {
    run(c, "campaign evaluate (500 campaigns, ~20 candidates)");
}

fn run<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let campaigns: Vec<Value> = (0..500).map(campaign).collect();
    let book: CampaignBook = serde_json::from_value(json!({
        "groups": { "member_day": "best_for_patient" },
        "campaigns": campaigns,
    }))
    .expect("bench book");
    let cal = ClinicCalendar::CHINA;
    let now = Utc.with_ymd_and_hms(2026, 7, 8, 2, 0, 0).unwrap();
    let event = Event::new(EventKind::Purchase {
        amount: Yuan::parse("268").unwrap(),
    })
    .with_base_points(Points::new(268));
    let facts = PatientFacts::builder(
        PatientId::new(42),
        NaiveDate::from_ymd_opt(2026, 7, 8).unwrap(),
    )
    .tag(TagName::parse("value/member").unwrap())
    .consent(ConsentPurpose::Marketing)
    .build();
    let candidates = book.candidates(event.kind.class(), now).len();
    assert!((15..=25).contains(&candidates), "{candidates} candidates");
    // Counters as a host would load them: every key the evaluation may read, part used.
    let mut usage = UsageSnapshot::new();
    for (n, k) in book
        .usage_keys(&event, PatientId::new(42), now, cal)
        .into_iter()
        .enumerate()
    {
        let used = if n % 3 == 2 { 1 } else { 100 + n as u64 };
        usage.insert(
            k,
            Versioned {
                value: used,
                version: Version::new(1 + n as u64),
            },
        );
    }
    // One argument list for every call below, to `evaluate` or to a reused `Evaluator`.
    macro_rules! run {
        ($($f:ident).+, $opts:expr) => {
            $($f).+(
                black_box(&book),
                black_box(&event),
                black_box(&facts),
                &usage,
                now,
                cal,
                $opts,
            )
            .unwrap()
        };
    }
    let probe = run!(evaluate, EvalOptions::default());
    assert!(!probe.effects.is_empty());

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    let modes = [
        ("trace off", EvalOptions::default()),
        ("trace on", EvalOptions::TRACE),
    ];
    for (label, opts) in modes {
        g.bench_function(label, |b| b.iter(|| run!(evaluate, opts)));
    }
    // The host's steady state: one `Evaluator` reused, so no allocation per event (same
    // targets). It must give what `evaluate` gives.
    let mut ev = Evaluator::new();
    for _ in 0..2 {
        let reused = run!(ev.evaluate, EvalOptions::default());
        assert_eq!(reused, &probe);
    }
    for (label, opts) in modes {
        g.bench_function(format!("{label}, reused evaluator"), |b| {
            b.iter(|| {
                let out = run!(ev.evaluate, opts);
                out.effects.len() + out.trace.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
