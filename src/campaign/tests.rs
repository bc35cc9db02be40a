//! Unit tests of the campaign model, engine and checks.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{CampaignId, PatientId};
use crate::money::{Points, Yuan};
use crate::patient::ConsentPurpose;
use crate::segment::{PatientFacts, TagCatalog, TagName};
use crate::store::{Version, Versioned};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    // Local time in the clinic (UTC+8).
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap() - chrono::Duration::hours(8)
}

fn member_day() -> serde_json::Value {
    json!({
        "id": 1,
        "name": "会员日 double points",
        "window": {
            "start": "2026-01-01T00:00:00+08:00",
            "end": "2027-01-01T00:00:00+08:00",
            "recurrence": { "every": "month_day", "day": 8 }
        },
        "trigger": { "on": "purchase", "min": "50" },
        "audience": { "has_tag": "value/member" },
        "effects": [
            { "type": "points_multiplier", "factor": "2" },
            { "type": "cashback", "percent": "10", "cap": "20" }
        ],
        "caps": {
            "budget": { "yuan": "100" },
            "limits": [ { "action": "apply", "per": "patient", "period": "month", "max": 1 } ]
        },
        "copy": { "body": "每月8日会员日, 积分翻倍" }
    })
}

fn book(specs: Vec<serde_json::Value>, groups: serde_json::Value) -> CampaignBook {
    serde_json::from_value(json!({ "groups": groups, "campaigns": specs })).unwrap()
}

fn facts(p: u64, tags: &[&str], consents: &[ConsentPurpose]) -> PatientFacts {
    let mut b = PatientFacts::builder(
        PatientId::new(p),
        NaiveDate::from_ymd_opt(2026, 11, 8).unwrap(),
    );
    for t in tags {
        b = b.tag(TagName::parse(t).unwrap());
    }
    for c in consents {
        b = b.consent(*c);
    }
    b.build()
}

fn member() -> PatientFacts {
    facts(7, &["value/member"], &[ConsentPurpose::Marketing])
}

fn purchase(amount: &str) -> Event {
    Event::new(EventKind::Purchase {
        amount: Yuan::parse(amount).unwrap(),
    })
    .with_base_points(Points::new(300))
}

fn outcome(e: &Evaluation<'_>, id: u64) -> Outcome {
    e.trace
        .iter()
        .find(|t| t.campaign == CampaignId::new(id))
        .unwrap()
        .outcome
        .clone()
}

#[test]
fn member_day_applies_with_provenance_and_cuts_cashback_at_its_cap() {
    let b = book(vec![member_day()], json!({}));
    let snap = UsageSnapshot::new();
    let ev = evaluate(
        &b,
        &purchase("300"),
        &member(),
        &snap,
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    );
    assert_eq!(ev.effects.len(), 2);
    let pts = &ev.effects[0];
    assert_eq!((pts.campaign, pts.rule), (CampaignId::new(1), 0));
    assert_eq!(pts.granted, Amount::Points(Points::new(300)));
    let cash = &ev.effects[1];
    assert_eq!(cash.desired, Amount::Yuan(Yuan::parse("30").unwrap()));
    assert_eq!(cash.granted, Amount::Yuan(Yuan::parse("20").unwrap()));
    assert_eq!(
        cash.cut,
        Some(Cut::EffectCap {
            cap: Yuan::parse("20").unwrap()
        })
    );
    assert_eq!(outcome(&ev, 1), Outcome::Applied { cut: true });
    // Reservation, in cap order: 2000 fen of the ¥ budget, 1 use for the patient this month.
    let r: Vec<_> = ev
        .reservation
        .increments()
        .map(|(k, i)| (k.to_string(), i.add))
        .collect();
    assert_eq!(
        r,
        vec![
            ("CP1/cashback/*/lifetime".to_owned(), 2000),
            ("CP1/apply/P7/month:2026-11-01".to_owned(), 1),
        ]
    );
    let keys = b.usage_keys(
        &purchase("300"),
        PatientId::new(7),
        at(2026, 11, 8, 10),
        CAL,
    );
    assert_eq!(keys.len(), 2);
}

#[test]
fn trace_says_why_not() {
    let b = book(vec![member_day()], json!({}));
    let snap = UsageSnapshot::new();
    let run =
        |ev: &Event, f: &PatientFacts, t| evaluate(&b, ev, f, &snap, t, CAL, EvalOptions::TRACE);
    let day9 = run(&purchase("300"), &member(), at(2026, 11, 9, 10));
    assert!(day9.effects.is_empty());
    assert_eq!(
        outcome(&day9, 1),
        Outcome::OutsideWindow {
            miss: WindowMiss::NotARecurrenceDay
        }
    );
    let late = run(&purchase("300"), &member(), at(2027, 2, 8, 10));
    assert_eq!(
        outcome(&late, 1),
        Outcome::OutsideWindow {
            miss: WindowMiss::Ended
        }
    );
    let small = run(&purchase("20"), &member(), at(2026, 11, 8, 10));
    assert!(matches!(
        outcome(&small, 1),
        Outcome::NotTrigger {
            miss: TriggerMiss::BelowMinimum { .. }
        }
    ));
    let visit = run(
        &Event::new(EventKind::Visit {
            paid: Yuan::ZERO,
            first: false,
        }),
        &member(),
        at(2026, 11, 8, 10),
    );
    assert!(matches!(
        outcome(&visit, 1),
        Outcome::NotTrigger {
            miss: TriggerMiss::OtherEvent { .. }
        }
    ));
    let no_consent = run(
        &purchase("300"),
        &facts(7, &["value/member"], &[]),
        at(2026, 11, 8, 10),
    );
    assert_eq!(
        outcome(&no_consent, 1),
        Outcome::NoConsent {
            purpose: ConsentPurpose::Marketing
        }
    );
    assert!(no_consent.effects.is_empty());
    let stranger = run(
        &purchase("300"),
        &facts(8, &[], &[ConsentPurpose::Marketing]),
        at(2026, 11, 8, 10),
    );
    match outcome(&stranger, 1) {
        Outcome::AudienceFalse {
            explanation: Some(x),
        } => {
            assert!(!x.value);
            assert_eq!(x.node, "has_tag(value/member)");
        }
        other => panic!("expected audience false, got {other:?}"),
    }
    // The same without trace: no effects, no trace, nothing reserved.
    let quiet = evaluate(
        &b,
        &purchase("300"),
        &facts(8, &[], &[]),
        &snap,
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::default(),
    );
    assert!(quiet.trace.is_empty() && quiet.effects.is_empty() && quiet.reservation.is_empty());
}

#[test]
fn caps_stop_or_cut_and_say_so() {
    let b = book(vec![member_day()], json!({}));
    let now = at(2026, 11, 8, 10);
    let keys = b.usage_keys(&purchase("300"), PatientId::new(7), now, CAL);
    let apply_key = keys
        .iter()
        .find(|k| k.action == UsageAction::Apply)
        .copied()
        .unwrap();
    let cash_key = keys
        .iter()
        .find(|k| k.action == UsageAction::Cashback)
        .copied()
        .unwrap();
    // Used once this month already: the per-patient monthly limit stops it.
    let mut snap = UsageSnapshot::new();
    snap.insert(
        apply_key,
        Versioned {
            value: 1,
            version: Version::FIRST,
        },
    );
    let ev = evaluate(
        &b,
        &purchase("300"),
        &member(),
        &snap,
        now,
        CAL,
        EvalOptions::TRACE,
    );
    assert!(ev.effects.is_empty());
    assert_eq!(
        outcome(&ev, 1),
        Outcome::CapReached {
            cap: CapRef::Limit { index: 0 },
            used: 1,
            max: 1
        }
    );
    // ¥95 of the ¥100 budget spent: cashback is cut to ¥5, the points still apply.
    let mut snap = UsageSnapshot::new();
    snap.insert(
        cash_key,
        Versioned {
            value: 9500,
            version: Version::new(4),
        },
    );
    let ev = evaluate(
        &b,
        &purchase("300"),
        &member(),
        &snap,
        now,
        CAL,
        EvalOptions::TRACE,
    );
    assert_eq!(
        ev.effects[1].granted,
        Amount::Yuan(Yuan::parse("5").unwrap())
    );
    assert_eq!(
        ev.effects[1].cut,
        Some(Cut::Cap {
            cap: CapRef::Budget {
                action: UsageAction::Cashback
            },
            action: UsageAction::Cashback,
            left: 500
        })
    );
    let inc = ev.reservation.get(&cash_key).unwrap();
    assert_eq!((inc.expected, inc.add), (Some(Version::new(4)), 500));
    // Fully spent: cap reached.
    snap.insert(
        cash_key,
        Versioned {
            value: 10_000,
            version: Version::new(5),
        },
    );
    let ev = evaluate(
        &b,
        &purchase("300"),
        &member(),
        &snap,
        now,
        CAL,
        EvalOptions::TRACE,
    );
    assert!(matches!(outcome(&ev, 1), Outcome::CapReached { .. }));
}

fn simple(
    id: u64,
    priority: i32,
    group: Option<&str>,
    exclusive: bool,
    points: i64,
) -> serde_json::Value {
    let mut v = json!({
        "id": id,
        "name": format!("c{id}"),
        "window": { "start": "2026-01-01T00:00:00+08:00" },
        "trigger": { "on": "visit" },
        "effects": [ { "type": "fixed_points", "points": points } ],
        "priority": priority,
        "exclusive": exclusive
    });
    if let Some(g) = group {
        v["group"] = json!(g);
    }
    v
}

fn visit() -> Event {
    Event::new(EventKind::Visit {
        paid: Yuan::parse("100").unwrap(),
        first: false,
    })
}

#[test]
fn groups_first_match_best_and_exclusive() {
    let groups = json!({ "fm": "first_match", "best": "best_for_patient", "stack": "stack_all" });
    let b = book(
        vec![
            simple(1, 0, Some("fm"), false, 10),
            simple(2, 5, Some("fm"), false, 20),
            simple(3, 0, Some("best"), false, 10),
            simple(4, 9, Some("best"), false, 50),
            simple(5, 0, Some("stack"), false, 1),
            simple(6, 0, Some("stack"), false, 2),
            simple(7, -1, Some("stack"), true, 3),
            simple(8, 0, None, false, 4),
        ],
        groups,
    );
    let ev = evaluate(
        &b,
        &visit(),
        &member(),
        &UsageSnapshot::new(),
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    );
    assert_eq!(outcome(&ev, 2), Outcome::Applied { cut: false });
    assert_eq!(
        outcome(&ev, 1),
        Outcome::BeatenByPriority {
            by: CampaignId::new(2)
        }
    );
    assert_eq!(outcome(&ev, 4), Outcome::Applied { cut: false });
    assert!(
        matches!(outcome(&ev, 3), Outcome::ExcludedByGroup { by, exclusive: false, .. } if by == CampaignId::new(4))
    );
    assert_eq!(outcome(&ev, 7), Outcome::Applied { cut: false });
    assert!(matches!(
        outcome(&ev, 5),
        Outcome::ExcludedByGroup {
            exclusive: true,
            ..
        }
    ));
    assert!(matches!(
        outcome(&ev, 6),
        Outcome::ExcludedByGroup {
            exclusive: true,
            ..
        }
    ));
    assert_eq!(outcome(&ev, 8), Outcome::Applied { cut: false });
    // Evaluation order: priority high to low, then id.
    assert_eq!(
        ev.applied(),
        vec![
            CampaignId::new(4),
            CampaignId::new(2),
            CampaignId::new(8),
            CampaignId::new(7)
        ]
    );
    assert_eq!(ev.trace.len(), 8);
}

fn load_err(v: serde_json::Value) -> String {
    serde_json::from_value::<CampaignBook>(v)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_input_names_the_json_path() {
    let mut bad = member_day();
    bad["effects"][1]["percent"] = json!("150");
    let e = load_err(json!({ "campaigns": [simple(9, 0, None, false, 1), bad] }));
    assert!(
        e.starts_with("campaigns[1].effects[1].percent: 150 is outside"),
        "{e}"
    );
    let mut care = member_day();
    care["consent"] = json!(["care_reminder"]);
    let e = load_err(json!({ "campaigns": [care] }));
    assert!(
        e.starts_with("campaigns[0].effects[0].type: a care campaign"),
        "{e}"
    );
    let e = load_err(json!({ "campaigns": [simple(1, 0, None, true, 1)] }));
    assert!(e.starts_with("campaigns[0].exclusive:"), "{e}");
    let e = load_err(json!({ "campaigns": [simple(1, 0, Some("nope"), false, 1)] }));
    assert!(e.starts_with("campaigns[0].group:"), "{e}");
    let e = load_err(
        json!({ "campaigns": [simple(1, 0, None, false, 1), simple(1, 0, None, false, 2)] }),
    );
    assert!(
        e.starts_with("campaigns[1].id: campaign id CP1 is used twice"),
        "{e}"
    );
    let mut cash = member_day();
    cash["trigger"] = json!({ "on": "birthday" });
    let e = load_err(json!({ "campaigns": [cash] }));
    assert!(e.starts_with("campaigns[0].effects[0].type:"), "{e}");
    let mut w = member_day();
    w["window"]["end"] = json!("2025-01-01T00:00:00+08:00");
    assert!(load_err(json!({ "campaigns": [w] })).starts_with("campaigns[0].window.end:"));
    let mut f = member_day();
    f["window"]["recurrence"] =
        json!({ "every": "anniversary", "of": { "date": { "month": 2, "day": 30 } } });
    assert!(
        load_err(json!({ "campaigns": [f] }))
            .starts_with("campaigns[0].window.recurrence.of.date.day")
    );
    let mut u = member_day();
    u["surprise"] = json!(1);
    assert!(load_err(json!({ "campaigns": [u] })).contains("surprise"));
    // A valid book round-trips.
    let b = book(vec![member_day()], json!({}));
    let again: CampaignBook = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    assert_eq!(again.campaigns(), b.campaigns());
}

#[test]
fn recurrences_in_the_clinic_calendar() {
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    let r31 = Recurrence::MonthDay { day: 31 };
    assert!(r31.holds_on(d(2026, 2, 28), None).is_ok());
    assert!(r31.holds_on(d(2026, 3, 30), None).is_err());
    let mon = Recurrence::Weekday {
        weekday: chrono::Weekday::Mon,
    };
    assert!(mon.holds_on(d(2026, 11, 23), None).is_ok());
    let bday = Recurrence::Anniversary {
        of: Anniversary::Birthday,
    };
    assert_eq!(
        bday.holds_on(d(2026, 5, 1), None),
        Err(WindowMiss::NoBirthDate)
    );
    assert!(bday.holds_on(d(2026, 5, 1), Some(d(1960, 5, 1))).is_ok());
    assert!(bday.holds_on(d(2026, 2, 28), Some(d(2000, 2, 29))).is_ok());
    // 23:30 UTC on 7 Nov is 07:30 on 8 Nov in the clinic: member day.
    let w = Window {
        start: at(2026, 1, 1, 0),
        end: None,
        recurrence: Some(Recurrence::MonthDay { day: 8 }),
    };
    assert!(
        w.holds(
            Utc.with_ymd_and_hms(2026, 11, 7, 23, 30, 0).unwrap(),
            CAL,
            None
        )
        .is_ok()
    );
    assert!(
        w.holds(
            Utc.with_ymd_and_hms(2026, 11, 7, 23, 30, 0).unwrap(),
            ClinicCalendar::UTC,
            None
        )
        .is_err()
    );
}

#[test]
fn static_checks_find_each_problem() {
    let now = at(2026, 11, 8, 10);
    let mut past = simple(1, 0, None, false, 1);
    past["window"]["end"] = json!("2026-02-01T00:00:00+08:00");
    let mut never = simple(2, 0, None, false, 1);
    never["audience"] = json!({ "any": [] });
    let ex_a = simple(3, 0, Some("g"), true, 1);
    let ex_b = simple(4, 0, Some("g"), true, 1);
    let mut no_budget = member_day();
    no_budget["id"] = json!(5);
    no_budget["caps"] = json!({});
    let mut sensitive = simple(6, 0, None, false, 1);
    sensitive["audience"] = json!({ "has_tag": "condition/高血压" });
    let mut ok_sensitive = sensitive.clone();
    ok_sensitive["id"] = json!(7);
    ok_sensitive["consent"] = json!(["marketing", "health_data_segmentation"]);
    let mut copy = simple(8, 0, None, false, 1);
    copy["copy"] = json!({ "title": "三伏贴", "body": "保证治愈, 比其他诊所更好" });
    let b = book(
        vec![
            past,
            never,
            ex_a,
            ex_b,
            no_budget,
            sensitive,
            ok_sensitive,
            copy,
        ],
        json!({ "g": "stack_all" }),
    );
    let mut catalog = TagCatalog::new();
    for t in ["condition/高血压", "value/member"] {
        catalog.add(TagName::parse(t).unwrap(), now).unwrap();
    }
    let words = AdLawWords::default().with("三伏贴", AdLawRule::EfficacyClaim);
    let found: Vec<(u64, FindingKind)> = check_book(&b, now, &catalog, &words)
        .into_iter()
        .map(|f| (f.campaign.get(), f.kind))
        .collect();
    let has = |id: u64, pred: &dyn Fn(&FindingKind) -> bool| {
        found.iter().any(|(i, k)| *i == id && pred(k))
    };
    assert!(has(1, &|k| *k == FindingKind::WindowInPast));
    assert!(has(2, &|k| matches!(
        k,
        FindingKind::AudienceNeverTrue { .. }
    )));
    assert!(has(3, &|k| *k
        == FindingKind::OverlappingExclusive {
            other: CampaignId::new(4)
        }));
    assert!(has(4, &|k| *k
        == FindingKind::OverlappingExclusive {
            other: CampaignId::new(3)
        }));
    assert!(has(5, &|k| *k == FindingKind::CashWithoutBudget { rule: 1 }));
    assert!(has(6, &|k| *k == FindingKind::SensitiveWithoutConsent));
    assert!(!has(7, &|_| true), "{found:?}");
    for (w, r) in [
        ("保证治愈", AdLawRule::Guarantee),
        ("其他诊所", AdLawRule::Comparison),
        ("三伏贴", AdLawRule::EfficacyClaim),
    ] {
        assert!(
            has(8, &|k| *k
                == FindingKind::AdLaw {
                    word: w.into(),
                    rule: r
                }),
            "{w}"
        );
    }
    assert_eq!(found.len(), 9, "{found:?}");
    assert!(lint_copy("会员日积分翻倍", &AdLawWords::default()).is_empty());
}

#[test]
fn index_returns_only_the_class_and_month() {
    let mut specs = Vec::new();
    for i in 0..40u64 {
        let mut v = simple(i + 1, 0, None, false, 1);
        let month = 1 + (i % 10) as u32;
        v["window"] = json!({
            "start": format!("2026-{month:02}-01T00:00:00+08:00"),
            "end": format!("2026-{month:02}-20T00:00:00+08:00"),
        });
        if i % 2 == 1 {
            v["trigger"] = json!({ "on": "birthday" });
        }
        specs.push(v);
    }
    let b = book(specs, json!({}));
    let c = b.candidates(EventClass::Visit, at(2026, 5, 10, 10));
    // Visit campaigns whose UTC months, widened by one on each side, hold May: 8 of 40.
    assert!(c.len() <= 8, "{c:?}");
    assert!(
        c.iter()
            .all(|&i| b.campaigns()[i].spec().trigger.class() == EventClass::Visit)
    );
    let ev = evaluate(
        &b,
        &visit(),
        &member(),
        &UsageSnapshot::new(),
        at(2026, 5, 10, 10),
        CAL,
        EvalOptions::TRACE,
    );
    assert_eq!(ev.trace.len(), 40);
    let ids: Vec<u64> = ev.applied().iter().map(|c| c.get()).collect();
    assert_eq!(ids, vec![5, 15, 25, 35]);
}

#[test]
fn trace_entries_stay_small() {
    // The trace holds one entry per campaign of the book; keep it compact.
    assert!(
        std::mem::size_of::<TraceEntry>() <= 56,
        "{}",
        std::mem::size_of::<TraceEntry>()
    );
}
