//! The win-back follow-up rule keyed on the churn model (`RuleKind::WinBackAtRisk`): due on
//! the first local day the patient's `p_alive` is below the threshold, on the clinic
//! calendar, under marketing consent, with the win-back series after it.
#![cfg(feature = "churn")]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::churn::{BgNbd, Observation};
use clinic_ops::followup::{
    CarePlan, Facts, FollowUpHistory, FollowUpPolicy, Reason, Rule, RuleKey, RuleKind, Skip,
    TaskChannel, TaskKind, TaskOutcome, apply, plan, record_outcome,
};
use clinic_ops::id::{ClinicId, PatientId, VisitId};
use clinic_ops::journey::Visit;
use clinic_ops::money::Yuan;
use clinic_ops::patient::{self, ConsentGiver, ConsentPurpose, Label, Patient, PatientCommand};
use clinic_ops::segment::Probability;
use clinic_ops::testkit::patient_store::registration;

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

fn model() -> BgNbd {
    BgNbd::new(0.5, 30.0, 0.8, 2.5).unwrap()
}

fn start() -> DateTime<Utc> {
    // 10:00 in the clinic (UTC+8).
    Utc.with_ymd_and_hms(2025, 1, 6, 2, 0, 0).unwrap()
}

fn patient(marketing: bool) -> Patient {
    let id = PatientId::new(1);
    let mut state = None;
    let mut cmds = vec![PatientCommand::Register(registration(1))];
    if marketing {
        cmds.push(PatientCommand::GrantConsent {
            purpose: ConsentPurpose::Marketing,
            source: Label::parse("form").unwrap(),
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        });
    }
    for cmd in cmds {
        for e in patient::decide(state.as_ref(), id, &cmd, start(), CAL).unwrap() {
            patient::apply(&mut state, &e);
        }
    }
    state.unwrap()
}

/// Visits on these days after `start()`, at 10:00 local.
fn visits(days: &[i64]) -> Vec<Visit> {
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            Visit::new(
                VisitId::new(i as u64 + 1),
                PatientId::new(1),
                start() + Duration::days(*d),
                ClinicId::new(1),
                Yuan::from_whole(100).unwrap(),
            )
        })
        .collect()
}

fn care(threshold: f64) -> CarePlan {
    let kind = RuleKind::WinBackAtRisk {
        model: model(),
        p_alive_below: Probability::new(threshold).unwrap(),
        first_gap_days: 14,
        max_attempts: 3,
    };
    let rule = Rule::new(RuleKey::parse("at_risk").unwrap(), kind, TaskChannel::Call);
    CarePlan::new("流失预警", vec![rule]).unwrap()
}

fn day(d: i64) -> NaiveDate {
    CAL.local_date(start()) + Duration::days(d)
}

/// The local day the model says the patient is first at risk, as the rule's docs define it.
fn at_risk_day(days: &[i64], threshold: f64) -> Option<NaiveDate> {
    let (first, last) = (*days.iter().min()?, *days.iter().max()?);
    let mut distinct = days.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let x = distinct.len() as u32 - 1;
    let rec = (last - first) as f64;
    let t = model().p_alive_falls_below_at(&Observation::new(x, rec, rec).unwrap(), threshold)?;
    Some(day(first) + Duration::days(t.floor() as i64 + 1))
}

fn plan_on(
    p: &Patient,
    v: &[Visit],
    h: &FollowUpHistory,
    on: i64,
    threshold: f64,
) -> clinic_ops::followup::Plan {
    let now = start() + Duration::days(on);
    plan(
        p,
        &Facts {
            visits: v,
            ..Facts::default()
        },
        h,
        &care(threshold),
        &FollowUpPolicy::default(),
        now,
        CAL,
    )
    .unwrap()
}

#[test]
fn the_task_comes_due_the_day_p_alive_falls_below_the_threshold() {
    let days = [0, 20, 41, 60];
    let v = visits(&days);
    let p = patient(true);
    let h = FollowUpHistory::new(PatientId::new(1));
    let due = at_risk_day(&days, 0.3).unwrap();
    let offset = (due - day(0)).num_days();
    assert!(offset > 61, "at risk after the last visit: {due}");
    // The day before: nothing; p_alive is still at least 0.3 there.
    let before = plan_on(&p, &v, &h, offset - 1, 0.3);
    assert!(before.is_empty(), "{before:?}");
    let rec = 60.0;
    let o = |t: f64| Observation::new(3, rec, t).unwrap();
    assert!(model().p_alive(&o((offset - 1) as f64)) >= 0.3);
    assert!(model().p_alive(&o(offset as f64)) < 0.3);
    // On the day: one win-back call, due at the policy's contact time on the clinic calendar.
    let today = plan_on(&p, &v, &h, offset, 0.3);
    let task = &today.due[0];
    assert_eq!(today.due.len(), 1);
    assert_eq!(
        (task.kind, task.occurrence, task.due_on),
        (TaskKind::WinBack, due, due)
    );
    assert_eq!(task.purpose, ConsentPurpose::Marketing);
    let at = task.due_at.unwrap();
    assert_eq!(CAL.local_date(at), due);
    assert!(matches!(
        task.reason,
        Reason::ChurnRisk {
            attempt: 1,
            of: 3,
            ..
        }
    ));
    assert!(
        task.reason.to_string().contains("低于0.3"),
        "{}",
        task.reason
    );
    // A lower threshold comes later; a higher one sooner.
    assert!(at_risk_day(&days, 0.1).unwrap() > due);
    assert!(at_risk_day(&days, 0.6).unwrap() < due);
}

#[test]
fn the_series_follows_and_a_new_visit_moves_the_date() {
    let days = [0, 20, 41, 60];
    let v = visits(&days);
    let p = patient(true);
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let due = at_risk_day(&days, 0.3).unwrap();
    let offset = (due - day(0)).num_days();
    let first = plan_on(&p, &v, &h, offset, 0.3);
    for e in first.events(&h) {
        apply(&mut h, &e);
    }
    let id = first.due[0].id;
    let at = start() + Duration::days(offset);
    for e in record_outcome(&h, id, TaskOutcome::NotReached, None, at).unwrap() {
        apply(&mut h, &e);
    }
    // Attempt 2 is 14 days after the at-risk day.
    let second = plan_on(&p, &v, &h, offset + 14, 0.3);
    let t = second.tasks().next().unwrap();
    assert_eq!(
        (t.attempt, t.due_on, t.occurrence),
        (1, due + Duration::days(14), due)
    );
    // Planning twice stores nothing new.
    let again = plan_on(&p, &v, &h, offset, 0.3);
    assert!(again.events(&h).is_empty());
    // Had the patient come back, the at-risk day would be later.
    let mut more = days.to_vec();
    more.push(offset - 3);
    assert!(at_risk_day(&more, 0.3).unwrap() > due);
}

#[test]
fn consent_and_single_visits_are_respected() {
    let days = [0, 20, 41, 60];
    let v = visits(&days);
    let h = FollowUpHistory::new(PatientId::new(1));
    let offset = (at_risk_day(&days, 0.3).unwrap() - day(0)).num_days();
    let no = plan_on(&patient(false), &v, &h, offset, 0.3);
    assert!(no.is_empty());
    assert_eq!(
        no.skipped[0].why,
        Skip::NoConsent {
            purpose: ConsentPurpose::Marketing
        }
    );
    // One visit day (two visits the same day): p_alive is 1 in BG/NBD, never at risk.
    let once = visits(&[0, 0]);
    for on in [30, 400, 3000] {
        assert!(plan_on(&patient(true), &once, &h, on, 0.3).is_empty());
    }
}

#[test]
fn the_rule_is_data_checked_on_load() {
    let json = r#"{"name": "流失预警", "rules": [{"key": "at_risk", "kind": "win_back_at_risk",
        "model": {"r": 0.5, "alpha": 30, "a": 0.8, "b": 2.5}, "p_alive_below": 0.3,
        "first_gap_days": 14, "max_attempts": 3, "channel": "call"}]}"#;
    let plan: CarePlan = serde_json::from_str(json).unwrap();
    assert_eq!(plan, care(0.3));
    let back = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<CarePlan>(&back).unwrap(), plan);
    for (bad, why) in [
        (r#""p_alive_below": 0.3"#, r#""p_alive_below": 1"#),
        (r#""p_alive_below": 0.3"#, r#""p_alive_below": 0"#),
        (r#""max_attempts": 3"#, r#""max_attempts": 7"#),
        (r#""alpha": 30"#, r#""alpha": -1"#),
    ] {
        let text = json.replace(bad, why);
        assert!(serde_json::from_str::<CarePlan>(&text).is_err(), "{why}");
    }
}

/// Pinned (found by the proptest below, whose check was wrong): when `p_alive` is below the
/// threshold already at the last visit, the falls-below time is the recency itself, and the
/// patient is at risk from the day after the last visit.
#[test]
fn below_already_at_the_last_visit_is_the_recency() {
    let m = BgNbd::new(0.1, 1.0, 1.324_933_117_603_534_8, 0.5).unwrap();
    let o = Observation::new(1, 0.0, 0.0).unwrap();
    let threshold = 0.948_880_201_017_933_8;
    assert!(m.p_alive(&o) < threshold);
    assert_eq!(m.p_alive_falls_below_at(&o, threshold), Some(0.0));
}

/// Pinned (found by the proptest below in CI, whose expectation used the unrounded
/// threshold): visits on days 0 and 50 and a threshold of 0.378497223..., which the rule
/// holds as 0.378497. The task is due on the model's day for the threshold the rule holds.
#[test]
fn the_planner_uses_the_threshold_the_rule_holds() {
    let days = [0, 50];
    let drawn = 0.378_497_223_610_315_07;
    let held = Probability::new(drawn).unwrap();
    assert_eq!(held.millionths(), 378_497);
    let due = at_risk_day(&days, held.get()).unwrap();
    // The drawn threshold falls on another day: the expectation the proptest had.
    assert_ne!(at_risk_day(&days, drawn), Some(due));
    let offset = (due - day(0)).num_days();
    let v = visits(&days);
    let h = FollowUpHistory::new(PatientId::new(1));
    let on = plan_on(&patient(true), &v, &h, offset, drawn);
    assert_eq!(on.due.len(), 1, "{on:?}");
    assert_eq!(on.due[0].occurrence, due);
    assert!(plan_on(&patient(true), &v, &h, offset - 1, drawn).is_empty());
}

proptest! {
    /// The falls-below time is exact: at every whole day past it `p_alive` is below the
    /// threshold, at every whole day from the last visit up to it, not (to rounding); and
    /// the planner's first task is on that day.
    #[test]
    fn the_falls_below_time_splits_the_days(
        x in 1u32..30, rec in 0u32..300, r in 0.1f64..3.0, alpha in 1.0f64..100.0,
        a in 0.1f64..3.0, b in 0.5f64..8.0, threshold in 0.01f64..0.99,
    ) {
        let m = BgNbd::new(r, alpha, a, b).unwrap();
        let rec = f64::from(rec);
        let o = |t: f64| Observation::new(x, rec, t).unwrap();
        let t = m.p_alive_falls_below_at(&o(rec), threshold).unwrap();
        prop_assert!(t >= rec);
        if t < 1e6 {
            let first = t.floor() + 1.0;
            for d in [first, first + 1.0, first + 30.0] {
                prop_assert!(m.p_alive(&o(d)) < threshold + 1e-9, "day {}", d);
            }
            // Days before it (already below at the last visit, it is the recency itself).
            let mut d = first - 1.0;
            while d >= rec && d >= first - 30.0 {
                if d < t {
                    prop_assert!(m.p_alive(&o(d)) >= threshold - 1e-9, "day {}", d);
                }
                d -= 1.0;
            }
            if t == rec {
                prop_assert!(m.p_alive(&o(rec)) <= threshold + 1e-9);
            }
        }
    }

    #[test]
    fn the_planner_uses_that_day(gaps in prop::collection::vec(1i64..60, 1..6), threshold in 0.05f64..0.9) {
        // The rule holds the threshold as a `Probability`, to the millionth: the expected
        // day is the model's for that threshold, not for the unrounded draw.
        let threshold = Probability::new(threshold).unwrap().get();
        let mut days = vec![0i64];
        for g in gaps {
            let next = days.last().unwrap() + g;
            days.push(next);
        }
        let due = at_risk_day(&days, threshold).unwrap();
        let offset = (due - day(0)).num_days();
        prop_assume!(offset < 3000);
        let v = visits(&days);
        let h = FollowUpHistory::new(PatientId::new(1));
        let p = patient(true);
        let on = plan_on(&p, &v, &h, offset, threshold);
        prop_assert_eq!(on.due.len(), 1);
        prop_assert_eq!(on.due[0].occurrence, due);
        if offset - 1 > *days.last().unwrap() {
            prop_assert!(plan_on(&p, &v, &h, offset - 1, threshold).is_empty());
        }
    }
}
