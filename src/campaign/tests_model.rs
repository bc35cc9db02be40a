//! Unit tests of loading, recurrences, static checks and the index.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::tests::{CAL, at, book, load_err, member, member_day, simple, visit};
use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::CampaignId;
use crate::patient::ConsentPurpose;
use crate::segment::{TagCatalog, TagName};

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
    // Malformed JSON names the element too.
    let mut t = member_day();
    t["effects"][1]["percent"] = json!(true);
    let e = load_err(json!({ "campaigns": [simple(9, 0, None, false, 1), t] }));
    assert!(
        e.starts_with("campaigns[1].effects[1]: invalid type"),
        "{e}"
    );
    let mut l = member_day();
    l["caps"]["limits"][0]["period"] = json!("fortnight");
    let e = load_err(json!({ "campaigns": [l] }));
    assert!(
        e.starts_with("campaigns[0].caps.limits[0]: unknown variant"),
        "{e}"
    );
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
    let mut push = simple(9, 0, None, false, 1);
    push["effects"] = json!([{ "type": "message", "template": "member_day" }]);
    push["copy"] = json!({ "body": "会员日积分翻倍" });
    let mut push_ok = push.clone();
    push_ok["id"] = json!(10);
    push_ok["copy"] = json!({ "body": "会员日积分翻倍, 回复TD退订" });
    let b = book(
        vec![
            push,
            push_ok,
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
            others: vec![CampaignId::new(4)],
            count: 1
        }));
    assert!(has(4, &|k| *k
        == FindingKind::OverlappingExclusive {
            others: vec![CampaignId::new(3)],
            count: 1
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
    assert!(has(9, &|k| *k == FindingKind::MissingOptOut));
    assert!(!has(10, &|_| true), "{found:?}");
    assert_eq!(found.len(), 10, "{found:?}");
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
    // Visit campaigns whose UTC months hold May: 4 of 40.
    assert_eq!(c.len(), 4, "{c:?}");
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
    )
    .unwrap();
    assert_eq!(ev.trace.len(), 40);
    let ids: Vec<u64> = ev.applied().iter().map(|c| c.get()).collect();
    assert_eq!(ids, vec![5, 15, 25, 35]);
}

/// The recurrence rule built from dates, the obvious way: a day past the month's end falls on
/// its last day.
fn recurrence_model(r: Recurrence, today: NaiveDate, birth: Option<NaiveDate>) -> bool {
    use chrono::Datelike;
    let clamp = |month: u32, day: u32| {
        (1..=day)
            .rev()
            .find_map(|d| NaiveDate::from_ymd_opt(today.year(), month, d))
    };
    match r {
        Recurrence::MonthDay { day } => clamp(today.month(), day) == Some(today),
        Recurrence::Weekday { weekday } => today.weekday() == weekday,
        Recurrence::Anniversary { of } => {
            let (m, d) = match of {
                Anniversary::Birthday => match birth {
                    Some(b) => (b.month(), b.day()),
                    None => return false,
                },
                Anniversary::Date { month, day } => (month, day),
            };
            clamp(m, d) == Some(today)
        }
    }
}

/// The engine's per-evaluation recurrence check (and [`Recurrence::holds_on`], which is it)
/// agrees with the date-building model on every day of six years (two leap years), for
/// every kind of recurrence and edge day; a birthday without a birth date is its own miss.
#[test]
fn day_info_recurrence_agrees_with_the_date_model() {
    use super::window::DayInfo;
    let mut rs = vec![Recurrence::Anniversary {
        of: Anniversary::Birthday,
    }];
    for day in [0, 1, 8, 15, 28, 29, 30, 31, 32] {
        rs.push(Recurrence::MonthDay { day });
    }
    for wd in 0..7 {
        rs.push(Recurrence::Weekday {
            weekday: chrono::Weekday::try_from(wd).unwrap(),
        });
    }
    for (month, day) in [
        (1, 1),
        (2, 28),
        (2, 29),
        (2, 30),
        (4, 31),
        (12, 31),
        (13, 1),
    ] {
        rs.push(Recurrence::Anniversary {
            of: Anniversary::Date { month, day },
        });
    }
    let births = [
        None,
        NaiveDate::from_ymd_opt(2000, 2, 29),
        NaiveDate::from_ymd_opt(1970, 12, 31),
        NaiveDate::from_ymd_opt(1988, 7, 8),
    ];
    let mut today = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    while today < NaiveDate::from_ymd_opt(2029, 1, 1).unwrap() {
        let info = DayInfo::of(today);
        for r in &rs {
            for b in births {
                let want = if b.is_none()
                    && *r
                        == (Recurrence::Anniversary {
                            of: Anniversary::Birthday,
                        }) {
                    Err(WindowMiss::NoBirthDate)
                } else if recurrence_model(*r, today, b) {
                    Ok(())
                } else {
                    Err(WindowMiss::NotARecurrenceDay)
                };
                assert_eq!(
                    r.holds_on_day(&info, b),
                    want,
                    "{r:?} on {today} born {b:?}"
                );
                assert_eq!(r.holds_on(today, b), want, "{r:?} on {today} born {b:?}");
            }
        }
        today = today.succ_opt().unwrap();
    }
}

/// Issue 15: 3,000 overlapping exclusive campaigns gave 9 million findings (one per ordered
/// pair). Now one finding per campaign, each listing at most `MAX_LISTED_OVERLAPS` others.
#[test]
fn overlapping_exclusive_findings_are_linear_in_the_book() {
    let n = MAX_CAMPAIGNS;
    let specs: Vec<_> = (1..=n as u64)
        .map(|id| simple(id, 0, Some("g"), true, 1))
        .collect();
    let b = book(specs, json!({ "g": "stack_all" }));
    let found = check_book(
        &b,
        at(2026, 11, 8, 10),
        &TagCatalog::new(),
        &AdLawWords::default(),
    );
    assert_eq!(found.len(), n, "one overlap finding per campaign");
    for f in &found {
        let FindingKind::OverlappingExclusive { others, count } = &f.kind else {
            panic!("unexpected {f:?}");
        };
        assert_eq!(*count, n - 1);
        assert_eq!(others.len(), MAX_LISTED_OVERLAPS);
        assert!(!others.contains(&f.campaign));
        assert!(others.windows(2).all(|w| w[0] < w[1]));
        assert!(
            f.message
                .contains(&format!("and {} more", n - 1 - MAX_LISTED_OVERLAPS))
        );
    }
    // Campaigns in other groups, other event classes or disjoint windows do not overlap.
    let mut later = simple(2, 0, Some("g"), true, 1);
    later["window"] = json!({ "start": "2027-01-01T00:00:00+08:00" });
    let mut early = simple(1, 0, Some("g"), true, 1);
    early["window"]["end"] = json!("2027-01-01T00:00:00+08:00");
    let mut purchase = simple(3, 0, Some("g"), true, 1);
    purchase["trigger"] = json!({ "on": "purchase" });
    let b = book(
        vec![early, later, purchase, simple(4, 0, Some("h"), true, 1)],
        json!({ "g": "stack_all", "h": "stack_all" }),
    );
    assert!(
        check_book(
            &b,
            at(2026, 11, 8, 10),
            &TagCatalog::new(),
            &AdLawWords::empty()
        )
        .is_empty()
    );
}

#[test]
fn a_book_holds_at_most_max_campaigns_and_max_groups() {
    let specs: Vec<_> = (1..=MAX_CAMPAIGNS as u64 + 1)
        .map(|id| simple(id, 0, None, false, 1))
        .collect();
    let e = load_err(json!({ "campaigns": specs.clone() }));
    assert!(
        e.starts_with(&format!(
            "campaigns: more than the limit of {MAX_CAMPAIGNS}"
        )),
        "{e}"
    );
    let campaigns: Vec<Campaign> = specs
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    let e = CampaignBook::new(Default::default(), campaigns).unwrap_err();
    assert_eq!(
        e,
        CampaignError::TooLong {
            path: "campaigns".into(),
            len: MAX_CAMPAIGNS + 1,
            max: MAX_CAMPAIGNS
        }
    );
    let spec = BookSpec {
        groups: Default::default(),
        point_value: crate::money::Yuan::ZERO,
        campaigns: specs
            .iter()
            .map(|v| serde_json::from_value(v.clone()).unwrap())
            .collect(),
    };
    assert_eq!(
        CampaignBook::try_from(spec).unwrap_err().path(),
        "campaigns"
    );
    let groups: serde_json::Map<_, _> = (0..=MAX_GROUPS)
        .map(|g| (format!("g{g}"), json!("stack_all")))
        .collect();
    let e = load_err(json!({ "groups": groups, "campaigns": [simple(1, 0, None, false, 1)] }));
    assert!(
        e.starts_with(&format!(
            "groups: length {} is over the limit of {MAX_GROUPS}",
            MAX_GROUPS + 1
        )),
        "{e}"
    );
    // Exactly at the limit loads.
    let specs: Vec<_> = specs.into_iter().take(MAX_CAMPAIGNS).collect();
    assert_eq!(book(specs, json!({})).campaigns().len(), MAX_CAMPAIGNS);
}

fn deep_not(depth: usize) -> crate::segment::Expr {
    let mut e = crate::segment::Expr::all(Vec::new());
    for _ in 1..depth {
        e = crate::segment::Expr::not(e);
    }
    e
}

/// Issue 15: `Campaign::new` skipped the expression limits that loading enforces, so a
/// campaign built in code was refused on reload (and a very deep one overflowed the stack
/// when the book compiled it).
#[test]
fn campaign_new_refuses_an_audience_loading_refuses_with_the_same_error() {
    let deep = deep_not(crate::segment::MAX_DEPTH + 1);
    let mut v = simple(1, 0, None, false, 1);
    v["audience"] = serde_json::to_value(&deep).unwrap();
    let via_json = serde_json::from_value::<Campaign>(v.clone())
        .unwrap_err()
        .to_string();
    let mut spec: CampaignSpec = serde_json::from_value(simple(1, 0, None, false, 1)).unwrap();
    spec.audience = deep.clone();
    let e = Campaign::new(spec.clone()).unwrap_err();
    let CampaignError::Audience { path, source } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(path, "audience");
    assert_eq!(source, &deep.validate().unwrap_err());
    assert!(matches!(
        source,
        crate::segment::SegmentError::TooDeep { depth: 33, .. }
    ));
    assert!(
        via_json.starts_with(&source.to_string()),
        "{via_json} / {e}"
    );
    // In a book, the path names the campaign.
    let e = load_err(json!({ "campaigns": [v] }));
    assert!(e.contains(&source.to_string()), "{e}");
    // Far deeper than the limit: refused at level 33 without walking the rest. (Not deeper
    // still: the test's own drop of a built-in-code `Expr` recurses once per level.)
    let mut very_deep = spec.clone();
    very_deep.audience = deep_not(3_000);
    assert!(matches!(
        Campaign::new(very_deep),
        Err(CampaignError::Audience { .. })
    ));
    // A bounded field too: an age loading refuses is refused here, at the same path.
    spec.audience = crate::segment::Expr::Age(crate::segment::CountRange {
        min: Some(200),
        max: None,
    });
    let e = Campaign::new(spec.clone()).unwrap_err();
    assert_eq!(e.to_string(), "audience: age.min: 200 is outside 0..=150");
    // At the limit: accepted, and the JSON of what was accepted loads back equal.
    spec.audience = deep_not(crate::segment::MAX_DEPTH);
    let c = Campaign::new(spec).unwrap();
    let back: Campaign = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

fn care_push(id: u64, body: &str) -> serde_json::Value {
    let mut v = simple(id, 0, None, false, 1);
    v["effects"] = json!([{ "type": "message", "template": "care" }]);
    v["consent"] = json!(["care_reminder"]);
    v["copy"] = json!({ "body": body });
    v
}

/// Issue 15: a care campaign whose message promotes reached patients with only care
/// consent, and `check_book` said nothing.
#[test]
fn a_care_campaign_with_promotional_copy_needs_marketing_consent_and_is_reported() {
    let promo = care_push(1, "本周体检套餐限时八折优惠");
    let care = care_push(2, "请按时复诊, 测量血压");
    let b = book(vec![promo, care], json!({}));
    assert!(b.campaigns()[0].promotes() && b.campaigns()[0].is_care());
    assert!(!b.campaigns()[1].promotes());
    let now = at(2026, 11, 8, 10);
    let care_only = super::tests::facts(9, &[], &[ConsentPurpose::CareReminder]);
    let out = evaluate(
        &b,
        &visit(),
        &care_only,
        &UsageSnapshot::new(),
        now,
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    let applied: Vec<u64> = out.effects.iter().map(|g| g.campaign.get()).collect();
    assert_eq!(
        applied,
        vec![2],
        "the promotional care message reached a care-only patient"
    );
    assert_eq!(
        super::tests::outcome(&out, 1),
        Outcome::NoConsent {
            purpose: ConsentPurpose::Marketing
        }
    );
    let both = super::tests::facts(
        9,
        &[],
        &[ConsentPurpose::CareReminder, ConsentPurpose::Marketing],
    );
    let out = evaluate(
        &b,
        &visit(),
        &both,
        &UsageSnapshot::new(),
        now,
        CAL,
        EvalOptions::TRACE,
    )
    .unwrap();
    assert_eq!(out.effects.len(), 2);
    let found = check_book(&b, now, &TagCatalog::new(), &AdLawWords::default());
    let promo: Vec<u64> = found
        .iter()
        .filter(|f| f.kind == FindingKind::PromotionalCareMessage)
        .map(|f| f.campaign.get())
        .collect();
    assert_eq!(promo, vec![1]);
    // The title counts too, case aside.
    let mut titled = care_push(3, "请按时复诊");
    titled["copy"]["title"] = json!("Member SALE");
    let b = book(vec![titled], json!({}));
    assert!(b.campaigns()[0].promotes());
}

/// `CampaignSpec::new` gives the defaults serde gives missing members, so a spec built in code
/// and the same campaign read from minimal JSON are equal.
#[test]
fn spec_constructor_has_the_serde_defaults() {
    let json = json!({
        "id": 7, "name": "会员日",
        "window": { "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00" },
        "trigger": { "on": "purchase" },
        "effects": [ { "type": "fixed_points", "points": 10 } ],
    });
    let read: CampaignSpec = serde_json::from_value(json).unwrap();
    let built = CampaignSpec::new(
        CampaignId::new(7),
        "会员日",
        read.window.clone(),
        read.trigger.clone(),
        read.effects.clone(),
    );
    assert_eq!(built, read);
    let grouped = built
        .with_priority(3)
        .with_group("g1", true)
        .with_consent(vec![ConsentPurpose::CareReminder]);
    assert_eq!((grouped.priority, grouped.exclusive), (3, true));
    assert_eq!(grouped.group.as_deref(), Some("g1"));
    assert_eq!(grouped.consent, vec![ConsentPurpose::CareReminder]);
}

/// The slots `evaluate_with_slots` hands out name, per counter of the reservation, where
/// the snapshot holds it (`u32::MAX`: absent), after group losers' counters are dropped;
/// and the evaluation is `evaluate`'s.
#[test]
fn evaluation_slots_point_at_each_reserved_counter() {
    use crate::id::PatientId;
    use crate::version::{Version, Versioned};
    use proptest::prelude::*;
    let campaign = |(id, group, exclusive, points, limit): (u64, u8, bool, i64, u64)| {
        // Exclusive only inside a group (the book refuses it elsewhere).
        let mut v = simple(
            id,
            (id % 3) as i32,
            None,
            exclusive && group % 4 < 3,
            points,
        );
        v["trigger"] = json!({ "on": "purchase" });
        v["caps"] = json!({
            "budget": { "points": 500 },
            "limits": [
                { "action": "apply", "per": "patient", "period": "month", "max": limit },
                { "action": "apply", "per": "campaign", "period": "day", "max": 3 }
            ]
        });
        match group % 4 {
            0 => v["group"] = json!("fm"),
            1 => v["group"] = json!("best"),
            2 => v["group"] = json!("stack"),
            _ => {}
        }
        v
    };
    let specs =
        prop::collection::btree_map(1u64..40, (0u8..4, any::<bool>(), 1i64..200, 1u64..3), 1..12);
    // Preloaded counters: which of the book's keys, in which order, at what count.
    let loads = prop::collection::vec((any::<prop::sample::Index>(), 0u64..4), 0..30);
    proptest!(|(specs in specs, loads in loads, patient in 1u64..4)| {
        let specs: Vec<_> = specs
            .into_iter()
            .map(|(id, (g, x, p, l))| campaign((id, g, x, p, l)))
            .collect();
        let groups = json!({ "fm": "first_match", "best": "best_for_patient", "stack": "stack_all" });
        let b = book(specs, groups);
        let now = at(2026, 11, 8, 10);
        let event = super::tests::purchase("200");
        let facts = super::tests::facts(patient, &[], &[ConsentPurpose::Marketing]);
        let keys = b.usage_keys(&event, PatientId::new(patient), now, CAL);
        let mut usage = UsageSnapshot::new();
        for (i, used) in &loads {
            if !keys.is_empty() {
                let k = keys[i.index(keys.len())];
                usage.insert(k, Versioned { value: *used, version: Version::new(used + 1) });
            }
        }
        let plain = evaluate(&b, &event, &facts, &usage, now, CAL, EvalOptions::default()).unwrap();
        let (hinted, slots) = super::engine::evaluate_with_slots(
            &b, &event, &facts, &usage, now, CAL, EvalOptions::default(),
        ).unwrap();
        prop_assert_eq!(&hinted, &plain);
        prop_assert_eq!(slots.len(), hinted.reservation.len());
        for ((k, inc), slot) in hinted.reservation.increments().zip(&slots) {
            if *slot == u32::MAX {
                prop_assert_eq!(usage.get(k), (0, None));
                prop_assert_eq!(inc.expected, None);
            } else {
                prop_assert_eq!(usage.key_at(*slot), Some(k));
            }
        }
    });
}
