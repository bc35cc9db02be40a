//! Property tests of the campaign engine: caps, determinism, order independence, consent.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::campaign::{
    Amount, CampaignBook, EvalOptions, Evaluator, Event, EventKind, UsageSnapshot, evaluate,
};
use clinic_ops::id::PatientId;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::ConsentPurpose;
use clinic_ops::segment::{PatientFacts, TagName};
use clinic_ops::store::memory::MemoryUsageStore;
use clinic_ops::store::{StoreError, UsageStore, Versioned};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 8, 2, 0, 0).unwrap()
}

fn effect(kind: u8, care: bool) -> Value {
    if care {
        return match kind % 2 {
            0 => json!({ "type": "message", "template": "refill_reminder" }),
            _ => json!({ "type": "staff_task", "task": "call", "due_in_days": 3 }),
        };
    }
    match kind % 6 {
        0 => json!({ "type": "fixed_points", "points": 100 }),
        1 => json!({ "type": "points_per_yuan", "points": "1.5" }),
        2 => json!({ "type": "points_multiplier", "factor": "2" }),
        3 => json!({ "type": "cashback", "percent": "10", "cap": "25" }),
        4 => json!({ "type": "coupon", "code": "C10", "value": "10" }),
        _ => json!({ "type": "gift", "item": "艾灸贴" }),
    }
}

#[derive(Debug, Clone)]
struct Spec {
    trigger: u8,
    recurring: bool,
    effects: Vec<u8>,
    care: bool,
    budget: (Option<u64>, Option<u64>, Option<u64>),
    patient_limit: Option<u64>,
    priority: i32,
    group: u8,
    exclusive: bool,
    audience: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..3,
        any::<bool>(),
        prop::collection::vec(0u8..6, 1..4),
        prop::bool::weighted(0.2),
        (
            prop::option::of(1u64..500),
            prop::option::of(1u64..5000),
            prop::option::of(1u64..5),
        ),
        prop::option::of(1u64..3),
        -2i32..3,
        0u8..4,
        any::<bool>(),
        0u8..3,
    )
        .prop_map(
            |(
                trigger,
                recurring,
                effects,
                care,
                budget,
                patient_limit,
                priority,
                group,
                exclusive,
                audience,
            )| Spec {
                trigger,
                recurring,
                effects,
                care,
                budget,
                patient_limit,
                priority,
                group,
                exclusive: exclusive && group > 0,
                audience,
            },
        )
}

fn to_json(id: usize, s: &Spec) -> Value {
    let trigger = match s.trigger {
        0 => json!({ "on": "visit" }),
        1 => json!({ "on": "purchase", "min": "50" }),
        _ => json!({ "on": "purchase" }),
    };
    let mut window =
        json!({ "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00" });
    if s.recurring {
        window["recurrence"] = json!({ "every": "month_day", "day": 8 });
    }
    let audience = match s.audience {
        0 => json!({ "all": [] }),
        1 => json!({ "has_tag": "value/member" }),
        _ => json!({ "not": { "has_tag": "value/member" } }),
    };
    let mut budget = json!({});
    if let Some(p) = s.budget.0 {
        budget["points"] = json!(p);
    }
    if let Some(y) = s.budget.1 {
        budget["yuan"] = json!(y.to_string());
    }
    if let Some(u) = s.budget.2 {
        budget["uses"] = json!(u);
    }
    let limits: Vec<Value> = s
        .patient_limit
        .iter()
        .map(|m| json!({ "action": "apply", "per": "patient", "period": "month", "max": m }))
        .collect();
    let mut v = json!({
        "id": id + 1,
        "name": format!("c{id}"),
        "window": window,
        "trigger": trigger,
        "audience": audience,
        "effects": s.effects.iter().map(|k| effect(*k, s.care)).collect::<Vec<_>>(),
        "caps": { "budget": budget, "limits": limits },
        "priority": s.priority,
        "consent": if s.care { json!(["care_reminder"]) } else { json!(["marketing"]) },
    });
    if s.group > 0 {
        v["group"] = json!(format!("g{}", s.group));
        v["exclusive"] = json!(s.exclusive);
    }
    v
}

fn book_json(specs: &[Spec]) -> Value {
    json!({
        "groups": { "g1": "first_match", "g2": "best_for_patient", "g3": "stack_all" },
        "campaigns": specs.iter().enumerate().map(|(i, s)| to_json(i, s)).collect::<Vec<_>>(),
    })
}

fn book(v: &Value) -> CampaignBook {
    serde_json::from_value(v.clone()).unwrap()
}

fn facts(p: u64, member: bool, consents: &[ConsentPurpose]) -> PatientFacts {
    let mut b = PatientFacts::builder(
        PatientId::new(p),
        NaiveDate::from_ymd_opt(2026, 11, 8).unwrap(),
    );
    if member {
        b = b.tag(TagName::parse("value/member").unwrap());
    }
    for c in consents {
        b = b.consent(*c);
    }
    b.build()
}

fn event(kind: u8, amount: u64) -> Event {
    let paid = Yuan::from_whole(amount).unwrap();
    let k = if kind == 0 {
        EventKind::Visit { paid, first: false }
    } else {
        EventKind::Purchase { amount: paid }
    };
    Event::new(k).with_base_points(Points::new(amount as i64))
}

fn consents() -> impl Strategy<Value = Vec<ConsentPurpose>> {
    prop::collection::vec(
        prop::sample::select(vec![
            ConsentPurpose::Marketing,
            ConsentPurpose::CareReminder,
        ]),
        0..3,
    )
}

/// Random prior usage for every key the evaluation may read.
fn snapshot(b: &CampaignBook, ev: &Event, p: u64, fill: &[u64]) -> UsageSnapshot {
    let mut s = UsageSnapshot::new();
    for (i, k) in b
        .usage_keys(ev, PatientId::new(p), now(), CAL)
        .into_iter()
        .enumerate()
    {
        let used = fill.get(i).copied().unwrap_or(0);
        if used > 0 {
            s.insert(
                k,
                Versioned {
                    value: used,
                    version: clinic_ops::store::Version::FIRST,
                },
            );
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn granted_never_exceeds_desired(
        specs in prop::collection::vec(spec(), 1..12),
        kind in 0u8..2, amount in 0u64..2000, member in any::<bool>(),
        fill in prop::collection::vec(0u64..6000, 0..40),
    ) {
        let b = book(&book_json(&specs));
        let ev = event(kind, amount);
        let f = facts(3, member, &[ConsentPurpose::Marketing, ConsentPurpose::CareReminder]);
        let snap = snapshot(&b, &ev, 3, &fill);
        let out = evaluate(&b, &ev, &f, &snap, now(), CAL, EvalOptions::TRACE).unwrap();
        for g in &out.effects {
            match (g.desired, g.granted) {
                (Amount::Points(d), Amount::Points(x)) => prop_assert!(x <= d && !x.is_negative()),
                (Amount::Yuan(d), Amount::Yuan(x)) => prop_assert!(x <= d),
                (Amount::Count(d), Amount::Count(x)) => prop_assert!(x <= d),
                other => prop_assert!(false, "amount kinds differ: {other:?}"),
            }
            if let clinic_ops::campaign::Effect::Cashback { percent, .. } = g.effect {
                prop_assert_eq!(g.desired, Amount::Yuan(ev.kind.amount().percent(*percent)));
            }
            if g.granted != g.desired {
                prop_assert!(g.cut.is_some(), "a cut must say why: {g:?}");
            }
        }
        prop_assert_eq!(out.trace.len(), b.campaigns().len());
        // The host loads only `usage_keys`: every reserved key must be among them.
        let keys = b.usage_keys(&ev, PatientId::new(3), now(), CAL);
        for (k, inc) in out.reservation.increments() {
            prop_assert!(keys.contains(k), "reserved {k} was not among the keys to load");
            prop_assert_eq!(inc.expected, snap.get(k).1);
        }
        let applied = out.trace.iter().filter(|t| t.outcome.applied()).count();
        prop_assert_eq!(applied, out.applied().len());
    }

    #[test]
    fn evaluation_is_deterministic_and_order_free(
        specs in prop::collection::vec(spec(), 1..12),
        seed in any::<u64>(),
        kind in 0u8..2, amount in 0u64..2000, member in any::<bool>(),
        fill in prop::collection::vec(0u64..6000, 0..40),
    ) {
        let v = book_json(&specs);
        let mut shuffled = v.clone();
        let list = shuffled["campaigns"].as_array_mut().unwrap();
        // A seeded Fisher–Yates shuffle of the written order.
        let mut s = seed;
        for i in (1..list.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            list.swap(i, (s >> 33) as usize % (i + 1));
        }
        let (a, b) = (book(&v), book(&shuffled));
        let ev = event(kind, amount);
        let f = facts(3, member, &[ConsentPurpose::Marketing]);
        let snap = snapshot(&a, &ev, 3, &fill);
        let ra = evaluate(&a, &ev, &f, &snap, now(), CAL, EvalOptions::TRACE).unwrap();
        let rb = evaluate(&b, &ev, &f, &snap, now(), CAL, EvalOptions::TRACE).unwrap();
        let again = evaluate(&a, &ev, &f, &snap, now(), CAL, EvalOptions::TRACE).unwrap();
        let js = |e| serde_json::to_string(e).unwrap();
        prop_assert_eq!(js(&ra), js(&rb));
        prop_assert_eq!(js(&ra), js(&again));
        let quiet = evaluate(&a, &ev, &f, &snap, now(), CAL, EvalOptions::default()).unwrap();
        prop_assert_eq!(&quiet.effects, &ra.effects);
        prop_assert_eq!(&quiet.reservation, &ra.reservation);
    }

    /// One `Evaluator` reused over a stream of events (trace on and off, `now` moving across
    /// window edges, two books) gives exactly what a fresh `evaluate` gives each time.
    #[test]
    fn reused_evaluator_matches_evaluate(
        specs in prop::collection::vec(spec(), 1..12),
        other in prop::collection::vec(spec(), 1..12),
        steps in prop::collection::vec(
            (0u8..2, 0u64..2000, any::<bool>(), -9_000i64..10_000, any::<bool>(), any::<bool>()),
            1..12,
        ),
        fill in prop::collection::vec(0u64..6000, 0..40),
    ) {
        let books = [book(&book_json(&specs)), book(&book_json(&other))];
        let mut ev = Evaluator::new();
        for (kind, amount, member, shift_h, trace, second) in steps {
            let b = &books[usize::from(second)];
            let e = event(kind, amount);
            let f = facts(3, member, &[ConsentPurpose::Marketing]);
            let snap = snapshot(b, &e, 3, &fill);
            let at = now() + chrono::Duration::hours(shift_h);
            let opts = if trace { EvalOptions::TRACE } else { EvalOptions::default() };
            let fresh = evaluate(b, &e, &f, &snap, at, CAL, opts).unwrap();
            let reused = ev.evaluate(b, &e, &f, &snap, at, CAL, opts).unwrap();
            prop_assert_eq!(reused, &fresh);
        }
        let last = ev.last().clone();
        prop_assert_eq!(ev.take(), last);
    }

    #[test]
    fn no_consent_no_marketing(
        specs in prop::collection::vec(spec(), 1..12),
        kind in 0u8..2, amount in 0u64..2000, member in any::<bool>(),
        granted in consents(),
    ) {
        let b = book(&book_json(&specs));
        let ev = event(kind, amount);
        let f = facts(3, member, &granted);
        let out = evaluate(&b, &ev, &f, &UsageSnapshot::new(), now(), CAL, EvalOptions::TRACE).unwrap();
        for g in &out.effects {
            let c = b.get(g.campaign).unwrap();
            for p in &c.spec().consent {
                prop_assert!(granted.contains(p), "{} applied without {p}", g.campaign);
            }
            if g.effect.is_marketing() {
                prop_assert!(granted.contains(&ConsentPurpose::Marketing));
            }
        }
    }

    /// The index never misses a campaign whose window holds, whatever the windows and the
    /// clinic's offset.
    #[test]
    fn index_is_a_superset_of_live_windows(
        windows in prop::collection::vec((0i64..2_000, prop::option::of(1i64..1_500), 0u8..2), 1..30),
        pick in any::<prop::sample::Index>(),
        near_end in any::<bool>(),
        shift_h in 0i64..800,
        offset_h in -12i32..14,
    ) {
        let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        // `now` just after a window's start or just before its end, where a wrong index
        // bucket would show.
        let (start_h, len_d, _) = windows[pick.index(windows.len())];
        let start = base + chrono::Duration::hours(start_h * 37);
        let now = match len_d {
            Some(d) if near_end => start + chrono::Duration::hours(d * 13 + 1 - shift_h.min(d * 13)),
            _ => start + chrono::Duration::hours(shift_h),
        };
        let campaigns: Vec<Value> = windows.iter().enumerate().map(|(i, (start_h, len_d, class))| {
            let start = base + chrono::Duration::hours(*start_h * 37);
            let mut w = json!({ "start": start.to_rfc3339() });
            if let Some(d) = len_d {
                w["end"] = json!((start + chrono::Duration::hours(d * 13 + 1)).to_rfc3339());
            }
            json!({
                "id": i + 1, "name": format!("w{i}"), "window": w,
                "trigger": if *class == 0 { json!({ "on": "visit" }) } else { json!({ "on": "birthday" }) },
                "effects": [ { "type": "fixed_points", "points": 1 } ]
            })
        }).collect();
        let b = book(&json!({ "campaigns": campaigns }));
        let cal = ClinicCalendar::from_offset_seconds(offset_h * 3600).unwrap();
        let cands = b.candidates(clinic_ops::campaign::EventClass::Visit, now);
        for (i, c) in b.campaigns().iter().enumerate() {
            let live = c.spec().window.holds(now, cal, None).is_ok();
            if live && c.spec().trigger.class() == clinic_ops::campaign::EventClass::Visit {
                prop_assert!(cands.contains(&i), "{} missed at {now}", c.id());
            }
        }
    }

    /// Hosts load counters at arbitrary moments and commit whenever: the uses and points
    /// granted by committed reservations never pass the budgets.
    #[test]
    fn budgets_hold_under_any_interleaving(
        uses in 1u64..6, points in 50u64..1000,
        ops in prop::collection::vec((0usize..3, any::<bool>(), 1u64..6), 1..60),
    ) {
        let v = json!({ "campaigns": [{
            "id": 1, "name": "budgeted",
            "window": { "start": "2026-01-01T00:00:00+08:00" },
            "trigger": { "on": "purchase" },
            "effects": [ { "type": "points_per_yuan", "points": "1" } ],
            "caps": { "budget": { "uses": uses, "points": points } }
        }]});
        let b = book(&v);
        let mut store = MemoryUsageStore::new();
        let mut snaps: Vec<UsageSnapshot> = vec![UsageSnapshot::new(); 3];
        let (mut won_uses, mut won_points) = (0u64, 0u64);
        for (host, reload, patient) in ops {
            let ev = event(1, 40 + patient * 30);
            if reload {
                let keys = b.usage_keys(&ev, PatientId::new(patient), now(), CAL);
                snaps[host] = store.load(&keys).unwrap();
                continue;
            }
            let f = facts(patient, false, &[ConsentPurpose::Marketing]);
            let out = evaluate(&b, &ev, &f, &snaps[host], now(), CAL, EvalOptions::default()).unwrap();
            match store.commit(&out.reservation) {
                Ok(()) => {
                    if !out.effects.is_empty() {
                        won_uses += 1;
                    }
                    for g in &out.effects {
                        if let Amount::Points(p) = g.granted {
                            won_points += p.get() as u64;
                        }
                    }
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        prop_assert!(won_uses <= uses, "{won_uses} uses granted over a budget of {uses}");
        prop_assert!(won_points <= points, "{won_points} points granted over a budget of {points}");
    }
}
