//! The churn model wired into what clinics use: the `p_alive` audience leaf of the one
//! expression language, and the lifecycle rule on `p_alive`.
#![cfg(feature = "churn")]

use chrono::NaiveDate;
use clinic_ops::churn::{BgNbd, Observation};
use clinic_ops::id::PatientId;
use clinic_ops::segment::{
    Expr, FactValue, Lifecycle, LifecycleRules, PatientFacts, Probability, SegmentError,
};
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn facts(p: Option<f64>) -> PatientFacts {
    let b = PatientFacts::builder(PatientId::new(1), today())
        .visit(40)
        .visit(100)
        .lifecycle(Lifecycle::Active);
    match p {
        Some(p) => b.p_alive(Probability::new(p).unwrap()).build(),
        None => b.build(),
    }
}

#[test]
fn the_audience_leaf_reads_p_alive() {
    let at_risk: Expr = serde_json::from_str(r#"{"p_alive":{"max":0.3}}"#).unwrap();
    assert!(at_risk.evaluate(&facts(Some(0.25))));
    assert!(at_risk.evaluate(&facts(Some(0.3))), "ranges are inclusive");
    assert!(!at_risk.evaluate(&facts(Some(0.300_001))));
    assert!(!at_risk.evaluate(&facts(None)), "no score matches no range");
    assert!(Expr::not(at_risk.clone()).evaluate(&facts(None)));
    let why = at_risk.explain(&facts(Some(0.25)));
    assert_eq!(why.node, "p_alive(≤0.3)");
    assert_eq!(
        why.fact,
        FactValue::Probability(Probability::new(0.25).unwrap())
    );
    assert_eq!(why.fact.to_string(), "0.25");
    assert_eq!(at_risk.explain(&facts(None)).fact, FactValue::Missing);
    // Serde reads back what it writes, and the form is the plain one.
    let json = serde_json::to_string(&at_risk).unwrap();
    assert_eq!(json, r#"{"p_alive":{"max":0.3}}"#);
    assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), at_risk);
    // Inside the language like any leaf: combined, negated, validated.
    let audience: Expr = serde_json::from_str(
        r#"{"all":[{"p_alive":{"min":0.05,"max":0.3}},{"consent":{"purpose":"marketing"}}]}"#,
    )
    .unwrap();
    assert!(audience.validate().is_ok());
    let empty: Expr = serde_json::from_str(r#"{"p_alive":{"min":0.5,"max":0.3}}"#).unwrap();
    assert!(empty.contradiction().is_some());
}

#[test]
fn a_bad_probability_is_refused_with_its_path() {
    for (json, path) in [
        (r#"{"p_alive":{"max":1.5}}"#, "p_alive.max"),
        (
            r#"{"all":[{"p_alive":{"min":-0.1}}]}"#,
            "all[0].p_alive.min",
        ),
    ] {
        let e = serde_json::from_str::<Expr>(json).unwrap_err().to_string();
        assert!(e.contains(path) && e.contains("not a probability"), "{e}");
    }
    assert!(serde_json::from_str::<Expr>(r#"{"p_alive":{"below":0.3}}"#).is_err());
    let direct = SegmentError::BadProbability {
        path: "p_alive.max".into(),
        value: "2".into(),
    };
    assert_eq!(
        direct.to_string(),
        "p_alive.max: 2 is not a probability from 0 to 1"
    );
}

#[test]
fn the_lifecycle_rule_moves_active_patients_at_risk_below_the_threshold() {
    let rules = LifecycleRules {
        p_alive_at_risk: Probability::new(0.3),
        ..LifecycleRules::default()
    };
    let p = |v| Probability::new(v);
    assert_eq!(
        rules.with_p_alive(Lifecycle::Active, p(0.2)),
        Lifecycle::AtRisk
    );
    assert_eq!(
        rules.with_p_alive(Lifecycle::WonBack, p(0.2)),
        Lifecycle::AtRisk
    );
    assert_eq!(
        rules.with_p_alive(Lifecycle::Active, p(0.3)),
        Lifecycle::Active
    );
    assert_eq!(
        rules.with_p_alive(Lifecycle::Active, None),
        Lifecycle::Active
    );
    assert_eq!(rules.with_p_alive(Lifecycle::New, p(0.1)), Lifecycle::New);
    assert_eq!(
        rules.with_p_alive(Lifecycle::Dormant, p(0.9)),
        Lifecycle::Dormant
    );
    // Off by default, and the default rules' serde form has no new key.
    let default = LifecycleRules::default();
    assert_eq!(
        default.with_p_alive(Lifecycle::Active, p(0.0)),
        Lifecycle::Active
    );
    let json = serde_json::to_string(&default).unwrap();
    assert!(!json.contains("p_alive"), "{json}");
    assert_eq!(
        serde_json::from_str::<LifecycleRules>(&json).unwrap(),
        default
    );
    let with: LifecycleRules = serde_json::from_str(
        r#"{"active":{"days":90},"at_risk":{"days":180},"dormant":{"days":365},"p_alive_at_risk":0.3}"#,
    )
    .unwrap();
    assert_eq!(with, rules);
    // Facts scored by a model take the rule's stage.
    let f = facts(None).with_p_alive(Probability::new(0.1).unwrap(), &rules);
    assert_eq!(f.lifecycle(), Lifecycle::AtRisk);
    assert_eq!(f.p_alive(), Probability::new(0.1));
}

/// A patient who came weekly, silent for 65 days, is at risk by the model while the fixed
/// 90-day rule still calls them active; a twice-a-year patient silent as long is not.
#[test]
fn the_model_sees_what_the_fixed_rule_misses() {
    // (frequency, recency, T) in days of a clinic's patients.
    let rows: Vec<(u32, u32, u32)> = (0..400u32)
        .map(|i| match i % 8 {
            0 => (0, 0, 30 + i % 300),
            1 => (1, 20 + i % 50, 200 + i % 100),
            2 => (12, 90 + i % 30, 130 + i % 30),
            3 => (3, 200 + i % 60, 330 + i % 30),
            4 => (25, 170 + i % 10, 180 + i % 10),
            5 => (2, 60 + i % 90, 300 + i % 60),
            6 => (6, 150 + i % 40, 300),
            _ => (0, 0, 100 + i % 200),
        })
        .collect();
    let obs: Vec<Observation> = rows
        .iter()
        .map(|&(x, r, t)| Observation::new(x, r.into(), t.into()).unwrap())
        .collect();
    let model = BgNbd::fit(&obs).unwrap().params;
    // Weekly for half a year, then 65 days of silence; twice a year, the same silence.
    let weekly = Observation::new(25, 180.0, 245.0).unwrap();
    let twice_a_year = Observation::new(2, 300.0, 365.0).unwrap();
    let (pw, pt) = (model.p_alive(&weekly), model.p_alive(&twice_a_year));
    assert!(pw < 0.3, "weekly patient p_alive {pw}");
    assert!(pt > 0.6, "twice-a-year patient p_alive {pt}");
    let rules = LifecycleRules {
        p_alive_at_risk: Probability::new(0.3),
        ..LifecycleRules::default()
    };
    let fixed = LifecycleRules::default().stage(&[0, 179, 180], 0, 245);
    assert_eq!(fixed, Lifecycle::Active, "65 days is within the fixed 90");
    assert_eq!(
        rules.with_p_alive(fixed, Probability::new(pw)),
        Lifecycle::AtRisk
    );
}

/// The win-back trigger: the day the model's `p_alive` falls below the threshold, for a
/// weekly patient far sooner than for a twice-a-year one.
#[test]
fn p_alive_falls_below_the_threshold_when_the_model_says() {
    let m = BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let weekly = Observation::new(25, 180.0, 181.0).unwrap();
    let sparse = Observation::new(2, 300.0, 301.0).unwrap();
    let (tw, ts) = (
        m.p_alive_falls_below_at(&weekly, 0.3).unwrap(),
        m.p_alive_falls_below_at(&sparse, 0.3).unwrap(),
    );
    assert!(
        tw - 180.0 < ts - 300.0,
        "weekly lapses after {tw}, sparse after {ts}"
    );
    let at = |o: &Observation, t: f64| {
        m.p_alive(&Observation::new(o.frequency(), o.recency(), t).unwrap())
    };
    assert!(at(&weekly, tw + 1e-6) < 0.3 && at(&weekly, tw - 1e-6) >= 0.3);
    assert!(at(&sparse, ts + 1e-6) < 0.3 && at(&sparse, ts - 1e-6) >= 0.3);
    assert_eq!(
        m.p_alive_falls_below_at(&Observation::new(0, 0.0, 9.0).unwrap(), 0.3),
        None
    );
    assert_eq!(m.p_alive_falls_below_at(&weekly, 0.0), None);
}

proptest! {
    #[test]
    fn the_leaf_matches_exactly_the_values_in_its_range(
        v in 0u32..=1_000_000, lo in proptest::option::of(0u32..=1_000_000),
        hi in proptest::option::of(0u32..=1_000_000),
    ) {
        let p = Probability::from_millionths(v).unwrap();
        let bound = |b: Option<u32>| b.map(|m| serde_json::json!(f64::from(m) / 1e6));
        let mut range = serde_json::Map::new();
        if let Some(b) = bound(lo) { range.insert("min".into(), b); }
        if let Some(b) = bound(hi) { range.insert("max".into(), b); }
        let e: Expr = serde_json::from_value(serde_json::json!({ "p_alive": range })).unwrap();
        let f = PatientFacts::builder(PatientId::new(1), today()).p_alive(p).build();
        let want = lo.is_none_or(|l| v >= l) && hi.is_none_or(|h| v <= h);
        prop_assert_eq!(e.evaluate(&f), want);
    }
}
