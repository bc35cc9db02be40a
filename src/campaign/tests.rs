//! Unit tests of the campaign engine, and helpers for the model and check tests.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{CampaignId, PatientId};
use crate::money::{Points, Yuan};
use crate::patient::ConsentPurpose;
use crate::segment::{PatientFacts, TagName};
use crate::version::{Version, Versioned};

pub(super) const CAL: ClinicCalendar = ClinicCalendar::CHINA;

pub(super) fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    // Local time in the clinic (UTC+8).
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap() - chrono::Duration::hours(8)
}

pub(super) fn member_day() -> serde_json::Value {
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

pub(super) fn book(specs: Vec<serde_json::Value>, groups: serde_json::Value) -> CampaignBook {
    serde_json::from_value(json!({ "groups": groups, "campaigns": specs })).unwrap()
}

pub(super) fn facts(p: u64, tags: &[&str], consents: &[ConsentPurpose]) -> PatientFacts {
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

pub(super) fn member() -> PatientFacts {
    facts(7, &["value/member"], &[ConsentPurpose::Marketing])
}

pub(super) fn purchase(amount: &str) -> Event {
    Event::new(EventKind::Purchase {
        amount: Yuan::parse(amount).unwrap(),
    })
    .with_base_points(Points::new(300))
}

pub(super) fn outcome(e: &Evaluation<'_>, id: u64) -> Outcome {
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
    )
    .unwrap();
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
    let run = |ev: &Event, f: &PatientFacts, t| {
        evaluate(&b, ev, f, &snap, t, CAL, EvalOptions::TRACE).unwrap()
    };
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
    )
    .unwrap();
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
    )
    .unwrap();
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
    )
    .unwrap();
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
    )
    .unwrap();
    assert!(matches!(outcome(&ev, 1), Outcome::CapReached { .. }));
}

pub(super) fn simple(
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

pub(super) fn visit() -> Event {
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
    )
    .unwrap();
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
    assert_eq!(
        outcome(&ev, 3).to_string(),
        "excluded: group \"best\" (best_for_patient) chose CP4"
    );
    assert_eq!(
        outcome(&ev, 1).to_string(),
        "beaten by priority: CP2 matched first in its group"
    );
}

pub(super) fn load_err(v: serde_json::Value) -> String {
    serde_json::from_value::<CampaignBook>(v)
        .unwrap_err()
        .to_string()
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

#[test]
fn overflow_is_cut_and_said() {
    let mut c = simple(1, 0, None, false, 1);
    c["effects"] = json!([{ "type": "points_multiplier", "factor": "100" }]);
    let b = book(vec![c], json!({}));
    let ev = visit().with_base_points(Points::new(i64::MAX));
    let out = evaluate(
        &b,
        &ev,
        &member(),
        &UsageSnapshot::new(),
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    assert_eq!(
        out.effects[0].granted,
        Amount::Points(Points::new(i64::MAX))
    );
    assert_eq!(out.effects[0].cut, Some(Cut::Overflow));
    assert_eq!(outcome(&out, 1), Outcome::Applied { cut: true });
}

#[test]
fn care_campaign_needs_only_care_consent_and_birthday_recurs() {
    let care = json!({
        "id": 3, "name": "生日关怀",
        "window": { "start": "2026-01-01T00:00:00+08:00",
                    "recurrence": { "every": "anniversary", "of": "birthday" } },
        "trigger": { "on": "visit" },
        "effects": [ { "type": "staff_task", "task": "call", "due_in_days": 1 },
                     { "type": "message", "template": "birthday_care" } ],
        "consent": ["care_reminder"]
    });
    let b = book(vec![care], json!({}));
    let f = facts(9, &[], &[ConsentPurpose::CareReminder]);
    let on_birthday = visit().with_birth_date(NaiveDate::from_ymd_opt(1958, 11, 8));
    let out = evaluate(
        &b,
        &on_birthday,
        &f,
        &UsageSnapshot::new(),
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    assert_eq!(out.effects.len(), 2);
    assert!(b.campaigns()[0].is_care() && !b.campaigns()[0].gives_marketing());
    let other_day = visit().with_birth_date(NaiveDate::from_ymd_opt(1958, 11, 9));
    let out = evaluate(
        &b,
        &other_day,
        &f,
        &UsageSnapshot::new(),
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    assert_eq!(
        outcome(&out, 3).to_string(),
        "outside its window: today is not a day of its recurrence"
    );
    let no_birth_date = visit();
    let out = evaluate(
        &b,
        &no_birth_date,
        &f,
        &UsageSnapshot::new(),
        at(2026, 11, 8, 10),
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    assert_eq!(
        outcome(&out, 3),
        Outcome::OutsideWindow {
            miss: WindowMiss::NoBirthDate
        }
    );
}

/// With the trace off, members that cannot win their group are left unassessed; the effects
/// and the reservation are still exactly those of the traced evaluation: a capped earlier
/// best is beaten by a later member whose bound is higher, a tie stays with the earlier one,
/// and a later exclusive member is always assessed and wins.
#[test]
fn trace_off_skips_only_sure_losers() {
    let groups =
        json!({ "best": "best_for_patient", "fm": "first_match", "best2": "best_for_patient" });
    let mut capped = simple(11, 9, Some("best"), false, 50);
    capped["caps"] = json!({ "budget": { "points": 30 } });
    let b = book(
        vec![
            capped,
            simple(12, 8, Some("best"), false, 40),
            simple(13, 7, Some("best"), false, 40),
            simple(21, 9, Some("fm"), false, 10),
            simple(22, 8, Some("fm"), false, 20),
            simple(23, 7, Some("fm"), true, 5),
            simple(31, 9, Some("best2"), true, 1),
            simple(32, 8, Some("best2"), false, 100),
        ],
        groups,
    );
    let now = at(2026, 11, 8, 10);
    let run = |opts| {
        evaluate(
            &b,
            &visit(),
            &member(),
            &UsageSnapshot::new(),
            now,
            CAL,
            opts,
        )
        .unwrap()
    };
    let (traced, quiet) = (run(EvalOptions::TRACE), run(EvalOptions::default()));
    assert_eq!(quiet.effects, traced.effects);
    assert_eq!(quiet.reservation, traced.reservation);
    assert_eq!(
        quiet.applied(),
        [31, 12, 23].map(CampaignId::new).to_vec(),
        "{:?}",
        traced.trace
    );
    assert!(
        matches!(outcome(&traced, 13), Outcome::ExcludedByGroup { by, .. } if by == CampaignId::new(12))
    );
    // The reused evaluator agrees, trace off then on.
    let mut ev = Evaluator::new();
    let usage = UsageSnapshot::new();
    let off = ev
        .evaluate(
            &b,
            &visit(),
            &member(),
            &usage,
            now,
            CAL,
            EvalOptions::default(),
        )
        .unwrap()
        .clone();
    assert_eq!(off, quiet);
    let on = ev
        .evaluate(
            &b,
            &visit(),
            &member(),
            &usage,
            now,
            CAL,
            EvalOptions::TRACE,
        )
        .unwrap();
    assert_eq!(on, &traced);
}
