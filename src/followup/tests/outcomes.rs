//! Outcomes, retries, opt-outs, metrics and serde.

use chrono::{Duration, NaiveTime};

use super::*;

#[test]
fn not_reached_retries_with_backoff_then_gives_up() {
    let p = P::new(1).consent(ConsentPurpose::CareReminder);
    let c = care(vec![rule(
        "check",
        RuleKind::PostVisitCheck { days_after: 0 },
        TaskChannel::Call,
    )]);
    let pol = FollowUpPolicy::default().with_lookahead(1).unwrap();
    let visits = [visit(1, today())];
    let facts = Facts {
        visits: &visits,
        ..Facts::default()
    };
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let mut at = now();
    let mut seen = vec![];
    for attempt in 0..3u8 {
        let out = plan(p.get(), &facts, &h, &c, &pol, at, CAL).unwrap();
        let t = out
            .tasks()
            .next()
            .unwrap_or_else(|| panic!("attempt {attempt}: {out:?}"))
            .clone();
        assert_eq!(t.attempt, attempt);
        assert!(
            !pol.quiet_hours()
                .contains(CAL.local_time(t.due_at.unwrap()))
        );
        seen.push(t.due_at.unwrap());
        h.commit(out.events(&h));
        at = t.due_at.unwrap().max(at) + Duration::minutes(5);
        let ev =
            record_outcome(&h, t.id, TaskOutcome::NotReached, Some(StaffId::new(7)), at).unwrap();
        h.commit(ev);
    }
    // 10:00, then +4 h (14:05), then +8 h lands at 22:10 → 08:00 next day.
    assert_eq!(seen[1] - seen[0], Duration::hours(4) + Duration::minutes(5));
    assert_eq!(
        CAL.local_time(seen[2]),
        NaiveTime::from_hms_opt(8, 0, 0).unwrap()
    );
    let out = plan(p.get(), &facts, &h, &c, &pol, at, CAL).unwrap();
    assert!(out.is_empty());
    assert_eq!(out.skipped[0].why, Skip::AttemptsExhausted { attempts: 3 });
}

#[test]
fn reached_completes_and_replanning_creates_nothing() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .diabetes(days_ago(150));
    let c = care(vec![rule(
        "file",
        RuleKind::ChronicFollowUp,
        TaskChannel::HomeVisit,
    )]);
    let pol = FollowUpPolicy::default();
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let first = run(p.get(), &Facts::default(), &h, &c, &pol);
    let ev = first.events(&h);
    assert_eq!(ev.len(), 1);
    h.commit(ev);
    let again = run(p.get(), &Facts::default(), &h, &c, &pol);
    assert_eq!(again, first);
    assert!(again.events(&h).is_empty());
    let id = first.overdue[0].task.id;
    h.commit(record_outcome(&h, id, TaskOutcome::Reached, None, now()).unwrap());
    assert!(run(p.get(), &Facts::default(), &h, &c, &pol).is_empty());
    assert!(
        record_outcome(&h, id, TaskOutcome::Reached, None, now())
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        record_outcome(&h, id, TaskOutcome::Declined, None, now()),
        Err(FollowUpError::OutcomeAlreadyRecorded { .. })
    ));
}

#[test]
fn opt_out_stops_marketing_but_not_consented_care() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .consent(ConsentPurpose::Marketing)
        .diabetes(days_ago(150));
    let c = care(vec![
        rule(
            "bday",
            RuleKind::Birthday { days_before: 0 },
            TaskChannel::WechatMessage,
        ),
        rule("file", RuleKind::ChronicFollowUp, TaskChannel::Call),
    ]);
    let pol = FollowUpPolicy::default();
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let out = run(p.get(), &Facts::default(), &h, &c, &pol);
    assert_eq!(out.tasks().count(), 2);
    h.commit(out.events(&h));
    let bday = out.due[0].id;
    let at = now() - Duration::minutes(1);
    h.commit(record_outcome(&h, bday, TaskOutcome::OptedOut, None, at).unwrap());
    let out = run(p.get(), &Facts::default(), &h, &c, &pol);
    assert!(
        out.tasks()
            .all(|t| t.purpose == ConsentPurpose::CareReminder)
    );
    assert_eq!(out.overdue.len(), 1);
    assert!(out.skipped.iter().any(|s| s.why == Skip::OptedOut { at }));
}

#[test]
fn history_round_trips_through_serde_with_its_opt_out() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .diabetes(days_ago(150));
    let c = care(vec![rule(
        "file",
        RuleKind::ChronicFollowUp,
        TaskChannel::Call,
    )]);
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let out = run(
        p.get(),
        &Facts::default(),
        &h,
        &c,
        &FollowUpPolicy::default(),
    );
    h.commit(out.events(&h));
    let id = out.overdue[0].task.id;
    h.commit(record_outcome(&h, id, TaskOutcome::OptedOut, None, now()).unwrap());
    let json = serde_json::to_string(&h).unwrap();
    let back: FollowUpHistory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h);
    assert_eq!(back.opted_out_at(), Some(now()));
    assert!(matches!(
        record_outcome(
            &h,
            crate::id::TaskId::new(1),
            TaskOutcome::Reached,
            None,
            now()
        ),
        Err(FollowUpError::UnknownTask { .. })
    ));
    let care_json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<CarePlan>(&care_json).unwrap(), c);
}

#[test]
fn every_reason_reads_as_a_sentence() {
    let d = today();
    let e11 = ConditionCode::parse("E11").unwrap();
    let reasons = [
        Reason::PostVisit {
            visit_on: d,
            days_after: 3,
        },
        Reason::Revisit {
            visit_on: d,
            days_after: 14,
        },
        Reason::Refill {
            drug: Category::parse("metformin").unwrap(),
            runs_out_on: d,
        },
        Reason::Recheck {
            condition: e11.clone(),
            since: d,
            interval_days: 90,
        },
        Reason::ChronicFollowUp {
            condition: e11,
            name: "2型糖尿病".into(),
            last: Some(d),
            per_year: 4,
        },
        Reason::SeasonChange {
            name: "立冬".into(),
            on: d,
        },
        Reason::Birthday { on: d },
        Reason::WinBack {
            last_visit_on: d,
            attempt: 2,
            of: 3,
        },
    ];
    for r in reasons {
        let text = r.to_string();
        assert!(text.contains("2026-11-23"), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
    }
}

#[test]
fn staff_metrics_count_completed_and_overdue() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .diabetes(days_ago(150));
    let c = care(vec![
        rule("file", RuleKind::ChronicFollowUp, TaskChannel::Call),
        rule(
            "check",
            RuleKind::PostVisitCheck { days_after: 2 },
            TaskChannel::Call,
        ),
    ]);
    let visits = [visit(1, days_ago(2))];
    let facts = Facts {
        visits: &visits,
        ..Facts::default()
    };
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let out = run(p.get(), &facts, &h, &c, &FollowUpPolicy::default());
    h.commit(out.events(&h));
    let check = out.due[0].id;
    h.commit(record_outcome(&h, check, TaskOutcome::Booked, None, now()).unwrap());
    let m = staff_metrics(h.tasks(), now(), CAL);
    let s = m[&Some(StaffId::new(7))];
    assert_eq!((s.due, s.completed, s.overdue), (2, 1, 1));
    assert_eq!(s.completion_rate(), Some(0.5));
    assert_eq!(s.overdue_rate(), Some(0.5));
    // Before the outcome was recorded, nothing was complete.
    let earlier = staff_metrics(h.tasks(), now() - Duration::minutes(1), CAL);
    assert_eq!(earlier[&Some(StaffId::new(7))].completed, 0);
}
