//! Property tests for the expression language, auto-tag rules and RFM.

use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use clinic_ops::id::PatientId;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{Channel, ConditionCode, ConsentPurpose, Label};
use clinic_ops::segment::{
    self, CountRange, Expr, Lifecycle, LifecycleRules, PatientFacts, PointsRange, RfmSummary,
    SegmentError, TagCatalog, TagName, TagRule, TagRuleSet, TagUse, score_rfm, summarize_rfm,
};

const TAGS: [&str; 6] = [
    "condition/高血压",
    "value/vip",
    "channel/小红书",
    "care/群",
    "value/老客",
    "life/沉睡",
];
const CHANNELS: [&str; 3] = ["kol", "doctor_ip/xiaohongshu", "walk_in"];

fn tag(i: usize) -> TagName {
    TagName::parse(TAGS[i % TAGS.len()]).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn opt_u32(max: u32) -> impl Strategy<Value = Option<u32>> {
    prop::option::of(0..=max)
}

fn count_range(max: u32) -> impl Strategy<Value = CountRange> {
    (opt_u32(max), opt_u32(max)).prop_map(|(min, max)| CountRange { min, max })
}

fn leaf(tags: Vec<usize>) -> BoxedStrategy<Expr> {
    let has_tag = if tags.is_empty() {
        Just(Expr::Lifecycle(Lifecycle::New)).boxed()
    } else {
        prop::sample::select(tags)
            .prop_map(|i| Expr::HasTag(tag(i)))
            .boxed()
    };
    prop_oneof![
        has_tag,
        prop::sample::select(vec!["I10", "E11"])
            .prop_map(|c| Expr::HasCondition(ConditionCode::parse(c).unwrap())),
        count_range(100).prop_map(Expr::Age),
        prop::sample::select(CHANNELS.to_vec())
            .prop_map(|c| Expr::Channel(Channel::parse(c).unwrap())),
        prop::sample::select(Lifecycle::ALL.to_vec()).prop_map(Expr::Lifecycle),
        (1..400u32, opt_u32(5), opt_u32(5)).prop_map(|(days, min, max)| Expr::VisitsIn {
            days,
            min,
            max
        }),
        (1..400u32, opt_u32(500), opt_u32(500)).prop_map(|(days, a, b)| Expr::SpendIn {
            days,
            min: a.map(|v| Yuan::from_fen(v * 100)),
            max: b.map(|v| Yuan::from_fen(v * 100)),
        }),
        count_range(400).prop_map(Expr::DaysSinceLastVisit),
        (prop::option::of(-50i64..500), prop::option::of(-50i64..500)).prop_map(|(a, b)| {
            Expr::Points(PointsRange {
                min: a.map(Points::new),
                max: b.map(Points::new),
            })
        }),
        prop::sample::select(vec!["gold", "silver"])
            .prop_map(|t| Expr::Tier(Label::parse(t).unwrap())),
        count_range(4).prop_map(Expr::ReferralsMade),
        prop::sample::select(ConsentPurpose::ALL.to_vec()).prop_map(Expr::consent),
    ]
    .boxed()
}

fn expr_over(tags: Vec<usize>) -> BoxedStrategy<Expr> {
    leaf(tags)
        .prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::All),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Any),
                inner.prop_map(Expr::not),
            ]
        })
        .boxed()
}

fn expr() -> BoxedStrategy<Expr> {
    expr_over((0..TAGS.len()).collect())
}

fn facts() -> impl Strategy<Value = PatientFacts> {
    (
        (
            opt_u32(100),
            prop::option::of(prop::sample::select(CHANNELS.to_vec())),
            prop::collection::vec(prop::sample::select(ConsentPurpose::ALL.to_vec()), 0..4),
            prop::option::of(prop::sample::select(Lifecycle::ALL.to_vec())),
            prop::collection::vec(0..400u32, 0..6),
        ),
        (
            prop::collection::vec((0..400u32, 0..50_000u32), 0..5),
            prop::collection::vec(prop::sample::select(vec!["I10", "E11"]), 0..2),
            prop::option::of(-50i64..500),
            prop::option::of(prop::sample::select(vec!["gold", "silver"])),
            0..4u32,
            prop::collection::vec(0..TAGS.len(), 0..4),
        ),
    )
        .prop_map(
            |(
                (age, channel, consents, stage, visits),
                (spends, conds, points, tier, refs, tags),
            )| {
                let mut b = PatientFacts::builder(PatientId::new(1), today()).referrals_made(refs);
                if let Some(a) = age {
                    b = b.age(a);
                }
                if let Some(c) = channel {
                    b = b.channel(Channel::parse(c).unwrap());
                }
                for c in consents {
                    b = b.consent(c);
                }
                if let Some(s) = stage {
                    b = b.lifecycle(s);
                }
                for v in visits {
                    b = b.visit(v);
                }
                for (d, fen) in spends {
                    b = b.spend(d, Yuan::from_fen(fen));
                }
                for c in conds {
                    b = b.condition(ConditionCode::parse(c).unwrap());
                }
                if let Some(p) = points {
                    b = b.points(Points::new(p));
                }
                if let Some(t) = tier {
                    b = b.tier(Label::parse(t).unwrap());
                }
                for t in tags {
                    b = b.tag(tag(t));
                }
                b.build()
            },
        )
}

fn catalog() -> TagCatalog {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut c = TagCatalog::new();
    for i in 0..TAGS.len() {
        c.add(tag(i), now).unwrap();
    }
    c.delete(&tag(5), now).unwrap();
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn double_negation(e in expr(), f in facts()) {
        prop_assert_eq!(Expr::not(Expr::not(e.clone())).evaluate(&f), e.evaluate(&f));
    }

    #[test]
    fn de_morgan(es in prop::collection::vec(expr(), 0..4), f in facts()) {
        let nots: Vec<Expr> = es.iter().cloned().map(Expr::not).collect();
        prop_assert_eq!(
            Expr::not(Expr::All(es.clone())).evaluate(&f),
            Expr::Any(nots.clone()).evaluate(&f)
        );
        prop_assert_eq!(
            Expr::not(Expr::Any(es)).evaluate(&f),
            Expr::All(nots).evaluate(&f)
        );
    }

    #[test]
    fn explain_root_is_evaluate_and_mirrors_the_tree(e in expr(), f in facts()) {
        let x = e.explain(&f);
        prop_assert_eq!(x.value, e.evaluate(&f));
        fn same_shape(e: &Expr, x: &segment::Explanation) -> bool {
            e.kind() == x.kind
                && e.children().len() == x.children.len()
                && e.children().iter().zip(&x.children).all(|(a, b)| same_shape(a, b))
        }
        prop_assert!(same_shape(&e, &x));
    }

    #[test]
    fn serde_round_trip(e in expr()) {
        let json = serde_json::to_string(&e).unwrap();
        let back: Expr = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, e);
    }

    #[test]
    fn contradictions_never_match(e in expr(), fs in prop::collection::vec(facts(), 8)) {
        if let Some(why) = e.contradiction() {
            for f in &fs {
                prop_assert!(!e.evaluate(f), "{} matched but: {}", e, why);
            }
        }
    }

    #[test]
    fn bad_leaf_is_reported_at_its_path(
        steps in prop::collection::vec((any::<bool>(), 0..4usize), 0..6),
        bad in 0..4usize,
    ) {
        let (mut json, leaf_path, field) = match bad {
            0 => (r#"{"visits_in":{"days":0}}"#.to_string(), "visits_in", ".days"),
            1 => (r#"{"has_tag":"nogroup"}"#.to_string(), "has_tag", ""),
            2 => (r#"{"age":{"min":-1}}"#.to_string(), "age", ".min"),
            _ => (r#"{"spend_in":{"days":3,"max":"1.001"}}"#.to_string(), "spend_in", ".max"),
        };
        let mut path = leaf_path.to_string();
        for (is_not, idx) in steps.iter().rev() {
            if *is_not {
                json = format!(r#"{{"not":{json}}}"#);
                path = format!("not.{path}");
            } else {
                let mut kids = vec![r#"{"lifecycle":"new"}"#.to_string(); *idx];
                kids.push(json);
                json = format!(r#"{{"any":[{}]}}"#, kids.join(","));
                path = format!("any[{idx}].{path}");
            }
        }
        let expected = format!("{path}{field}");
        let err = serde_json::from_str::<Expr>(&json).unwrap_err().to_string();
        prop_assert!(err.starts_with(&expected), "{} does not start with {}", err, expected);
    }

    #[test]
    fn auto_tagging_is_idempotent(
        whens in prop::collection::vec((0..6usize, any::<prop::sample::Index>()), 1..8),
        order in any::<prop::sample::Index>(),
        f in facts(),
        exprs in prop::collection::vec(expr_over(vec![]), 6),
        marketing in any::<bool>(),
    ) {
        // Rule k writes TAGS[k] and may read only TAGS[j] with j < k, or unowned tags, so the
        // set is acyclic; the rules are then rotated so the listed order is not the
        // dependency order.
        let mut rules: Vec<TagRule> = Vec::new();
        for (k, (owner, pick)) in whens.iter().enumerate() {
            let owner = (*owner).min(k);
            let reads = Expr::HasTag(tag(pick.index(owner.max(1))));
            let base = exprs[k % exprs.len()].clone();
            let when = if owner == 0 { base } else { Expr::Any(vec![reads, base]) };
            rules.push(TagRule { tag: tag(owner), when });
        }
        let n = rules.len();
        rules.rotate_left(order.index(n));
        let set = TagRuleSet::new(rules).unwrap();
        let cat = catalog();
        let usage = if marketing { TagUse::Marketing } else { TagUse::Care };
        let out = set.evaluate(&f, &cat, usage);
        let mut g = f.clone();
        for e in &out.events {
            segment::apply(g.tags_mut(), e);
        }
        let again = set.evaluate(&g, &cat, usage);
        prop_assert!(again.events.is_empty(), "second pass changed {:?}", again.events);
    }

    #[test]
    fn rfm_ignores_row_order(
        rows in prop::collection::vec((0..6u8, 0..120u32, 0..100_000u32), 0..60),
        shift in any::<prop::sample::Index>(),
        asof in 0..130u32,
    ) {
        let base = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let tx: Vec<(u8, NaiveDate, Yuan)> = rows
            .iter()
            .map(|(p, d, fen)| (*p, base + chrono::Days::new(u64::from(*d)), Yuan::from_fen(*fen)))
            .collect();
        let as_of = base + chrono::Days::new(u64::from(asof));
        let a = summarize_rfm(tx.clone(), as_of).unwrap();
        let mut shuffled = tx;
        shuffled.reverse();
        if !shuffled.is_empty() {
            let k = shift.index(shuffled.len());
            shuffled.rotate_left(k);
        }
        let b = summarize_rfm(shuffled, as_of).unwrap();
        prop_assert_eq!(&a, &b);
        let va: Vec<_> = a.values().copied().collect();
        let mut vb = va.clone();
        vb.reverse();
        let mut sb = score_rfm(&vb);
        sb.reverse();
        prop_assert_eq!(score_rfm(&va), sb);
    }
}

fn stage_rank(l: Lifecycle) -> u8 {
    match l {
        Lifecycle::AtRisk => 1,
        Lifecycle::Dormant => 2,
        Lifecycle::Lost => 3,
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn lifecycle_only_moves_forward_while_no_one_visits(
        mut days in prop::collection::vec(0..400i64, 0..8),
        relative in any::<bool>(),
        waits in prop::collection::vec(0..200i64, 1..6),
    ) {
        days.sort_unstable();
        days.dedup();
        let rules = if relative { LifecycleRules::relative() } else { LifecycleRules::default() };
        let mut today = days.last().copied().unwrap_or(0);
        let mut prev = rules.stage(&days, 0, today);
        for w in waits {
            today += w;
            let next = rules.stage(&days, 0, today);
            prop_assert!(stage_rank(next) >= stage_rank(prev), "{:?} -> {:?}", prev, next);
            if stage_rank(prev) > 0 {
                prop_assert!(stage_rank(next) > 0);
            }
            prev = next;
        }
    }

    #[test]
    fn rfm_scores_follow_the_values(
        rows in prop::collection::vec((0..20u32, 0..100u32, 0..100u32, 0..5_000u32), 0..40),
    ) {
        let s: Vec<RfmSummary> = rows
            .iter()
            .map(|(f, r, extra, m)| RfmSummary {
                frequency: *f,
                recency: *r,
                t: r + extra,
                monetary_value: Yuan::from_fen(*m),
            })
            .collect();
        let sc = score_rfm(&s);
        for (a, x) in s.iter().zip(&sc) {
            prop_assert!((1..=5).contains(&x.r) && (1..=5).contains(&x.f) && (1..=5).contains(&x.m));
            for (b, y) in s.iter().zip(&sc) {
                if a.frequency >= b.frequency { prop_assert!(x.f >= y.f); }
                if a.monetary_value >= b.monetary_value { prop_assert!(x.m >= y.m); }
                if a.days_since_last() <= b.days_since_last() { prop_assert!(x.r >= y.r); }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum CatalogOp {
    Add(usize),
    Delete(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The catalog against a naive model: a map from name to "live", at most `limit` live.
    #[test]
    fn catalog_matches_a_simple_model(
        ops in prop::collection::vec(
            prop_oneof![(0..TAGS.len()).prop_map(CatalogOp::Add), (0..TAGS.len()).prop_map(CatalogOp::Delete)],
            0..40,
        ),
        limit in 0..5usize,
    ) {
        use std::collections::BTreeMap;
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut c = TagCatalog::with_limit(limit);
        let mut model: BTreeMap<usize, bool> = BTreeMap::new();
        for op in ops {
            match op {
                CatalogOp::Add(i) => {
                    let live = model.values().filter(|l| **l).count();
                    let already = model.get(&i) == Some(&true);
                    let r = c.add(tag(i), now);
                    if already || live < limit {
                        prop_assert!(r.is_ok());
                        model.insert(i, true);
                    } else {
                        let full = matches!(r, Err(SegmentError::CatalogFull { .. }));
                        prop_assert!(full);
                    }
                }
                CatalogOp::Delete(i) => {
                    let r = c.delete(&tag(i), now);
                    match model.get_mut(&i) {
                        Some(live) => {
                            prop_assert!(r.is_ok());
                            *live = false;
                        }
                        None => prop_assert!(r.is_err()),
                    }
                }
            }
            prop_assert_eq!(c.live_count(), model.values().filter(|l| **l).count());
            prop_assert!(c.live_count() <= limit);
            for i in 0..TAGS.len() {
                let want = match model.get(&i) {
                    Some(true) => segment::TagStatus::Live,
                    Some(false) => segment::TagStatus::Deleted,
                    None => segment::TagStatus::Unknown,
                };
                prop_assert_eq!(c.status(&tag(i)), want);
            }
        }
        let json = serde_json::to_string(&c).unwrap();
        prop_assert_eq!(serde_json::from_str::<TagCatalog>(&json).unwrap(), c);
    }
}

#[test]
fn typed_errors_name_the_path() {
    let err = |json: &str| serde_json::from_str::<Expr>(json).unwrap_err().to_string();
    assert!(
        err(r#"{"any":[{"has_tag":"a/b"},{"has_tag":"a/b"},{"not":{"visits_in":{"days":0}}}]}"#)
            .starts_with("any[2].not.visits_in.days: 0 is outside 1..=36500")
    );
    assert!(err(r#"{"consent":{"purpose":"spam"}}"#).starts_with("consent.purpose: \"spam\""));
    assert!(err(r#"{"all":[{"lifecycle":"sleepy"}]}"#).starts_with("all[0].lifecycle:"));
    assert!(err(r#"{"all":[{"age":{"min":1,"mx":2}}]}"#).contains("unknown field"));
    assert!(err(r#"{"bogus":1}"#).contains("unknown variant"));

    let mut deep = r#"{"lifecycle":"new"}"#.to_string();
    for _ in 0..32 {
        deep = format!(r#"{{"not":{deep}}}"#);
    }
    assert!(err(&deep).contains("nests 33 levels"), "{}", err(&deep));
    let wide = format!(
        r#"{{"any":[{}]}}"#,
        vec![r#"{"tier":"gold"}"#; 257].join(",")
    );
    assert!(err(&wide).starts_with("any: 257 children"));
    let inner = format!(
        r#"{{"all":[{}]}}"#,
        vec![r#"{"tier":"gold"}"#; 16].join(",")
    );
    let big = format!(r#"{{"any":[{}]}}"#, vec![inner; 250].join(","));
    assert!(err(&big).contains("more than 4096 nodes"));

    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut cat = TagCatalog::new();
    cat.add(tag(0), now).unwrap();
    cat.add(tag(1), now).unwrap();
    cat.delete(&tag(1), now).unwrap();
    let e: Expr = serde_json::from_str(
        r#"{"any":[{"has_tag":"condition/高血压"},{"has_tag":"x/y"},{"not":{"has_tag":"value/vip"}}]}"#,
    )
    .unwrap();
    assert!(matches!(
        e.check_tags(&cat),
        Err(SegmentError::UnknownTag { ref path, .. }) if path == "any[1].has_tag"
    ));
    cat.add(TagName::parse("x/y").unwrap(), now).unwrap();
    assert!(matches!(
        e.check_tags(&cat),
        Err(SegmentError::DeletedTag { ref path, .. }) if path == "any[2].not.has_tag"
    ));
    assert!(e.uses_sensitive_data(&cat));
    assert_eq!(e.tags().count(), 3);
}

/// Leaves whose bounded fields stray past what loading accepts (ages past 150, counts past a
/// million, windows of 0 or past 36,500 days), under nesting that may pass the depth, width
/// and size limits.
fn wild_expr() -> BoxedStrategy<Expr> {
    let big = || prop::option::of(prop_oneof![0..=200u32, 999_990..=1_000_010u32]);
    let leaf = prop_oneof![
        4 => leaf((0..TAGS.len()).collect()),
        1 => (big(), big()).prop_map(|(min, max)| Expr::Age(CountRange { min, max })),
        1 => (big(), big()).prop_map(|(min, max)| Expr::ReferralsMade(CountRange { min, max })),
        1 => (prop_oneof![0..3u32, 36_498..36_503u32], big(), big())
            .prop_map(|(days, min, max)| Expr::VisitsIn { days, min, max }),
        1 => prop_oneof![0..3u32, 36_498..36_503u32].prop_map(|days| Expr::SpendIn {
            days,
            min: None,
            max: None
        }),
    ];
    let tree = leaf.prop_recursive(4, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::All),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Any),
            inner.prop_map(Expr::not),
        ]
    });
    // Then a chain of `not` that may cross MAX_DEPTH, and a wide `any` that may cross
    // MAX_CHILDREN (or, repeated, MAX_NODES).
    (tree, 0..40usize, prop::option::of(250..300usize))
        .prop_map(|(mut e, nots, wide)| {
            for _ in 0..nots {
                e = Expr::not(e);
            }
            match wide {
                Some(n) => Expr::Any(vec![e; n]),
                None => e,
            }
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One validation (issue 15): what `Expr::validate` (and so every constructor that takes an
    /// expression) accepts, loading accepts and reads back equal; what it refuses, loading
    /// refuses with the same message.
    #[test]
    fn validate_agrees_with_loading(e in wild_expr()) {
        let json = serde_json::to_string(&e).unwrap();
        let loaded = serde_json::from_str::<Expr>(&json);
        match e.validate() {
            Ok(()) => prop_assert_eq!(loaded.unwrap(), e),
            Err(err) => {
                let msg = loaded.unwrap_err().to_string();
                prop_assert!(msg.starts_with(&err.to_string()), "{} / {}", msg, err);
            }
        }
    }

    /// Auto-tag rules built in code go through the same validation, under `rules[i].when`,
    /// and a set the constructor accepts reads back from its JSON.
    #[test]
    fn tag_rule_sets_built_in_code_round_trip(es in prop::collection::vec(wild_expr(), 1..3)) {
        let rules: Vec<TagRule> = es
            .iter()
            .enumerate()
            .map(|(i, e)| TagRule { tag: TagName::parse(&format!("auto/r{i}")).unwrap(), when: e.clone() })
            .collect();
        let first_bad = es.iter().enumerate().find_map(|(i, e)| e.validate().err().map(|err| (i, err)));
        match (TagRuleSet::new(rules.clone()), first_bad) {
            (Ok(set), None) => {
                let json = serde_json::to_string(&set).unwrap();
                let back: TagRuleSet = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, set);
            }
            (Err(got), Some((i, err))) => {
                let want = err.to_string();
                let got = got.to_string();
                prop_assert!(
                    got == want || got.starts_with(&format!("rules[{i}].when.")),
                    "{} / {}", got, want
                );
                prop_assert!(serde_json::to_string(&rules)
                    .ok()
                    .and_then(|j| serde_json::from_str::<TagRuleSet>(&j).err())
                    .is_some_and(|j| j.to_string().starts_with(&want)));
            }
            (got, want) => prop_assert!(false, "{:?} / {:?}", got.err(), want),
        }
    }
}

/// Issue 15: a rule set built in code skipped the expression limits, so it was refused when
/// its JSON was read back, and a very deep condition overflowed the stack in the walks.
#[test]
fn tag_rule_set_new_refuses_a_too_deep_condition_with_the_loading_error() {
    let mut deep = Expr::all(Vec::new());
    for _ in 0..segment::MAX_DEPTH {
        deep = Expr::not(deep);
    }
    let rule = TagRule {
        tag: TagName::parse("auto/deep").unwrap(),
        when: deep.clone(),
    };
    let err = TagRuleSet::new(vec![rule.clone()]).unwrap_err();
    let want = deep.validate().unwrap_err();
    assert!(matches!(want, SegmentError::TooDeep { depth: 33, .. }));
    assert_eq!(
        err.to_string(),
        format!("rules[0].when.{want}"),
        "the constructor names the rule"
    );
    let json = serde_json::to_string(&vec![rule]).unwrap();
    let loaded = serde_json::from_str::<TagRuleSet>(&json)
        .unwrap_err()
        .to_string();
    assert!(loaded.starts_with(&want.to_string()), "{loaded}");
}
