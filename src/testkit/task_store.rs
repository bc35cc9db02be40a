//! Conformance scenarios for [`TaskStore`].

use chrono::{Days, NaiveDate};
use std::sync::Barrier;

use super::{Factory, scenario_now};
use crate::followup::{
    FollowUpEvent, FollowUpHistory, Reason, RuleKey, Task, TaskChannel, TaskKind, TaskOutcome,
    record_outcome,
};
use crate::id::{PatientId, StaffId};
use crate::store::{StoreError, TaskStore, Version};

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: TaskStore + Send>(factory: &impl Factory<S>) {
    plan_and_get(&mut factory.fresh());
    stale_version_conflicts(&mut factory.fresh());
    empty_commit_writes_nothing(&mut factory.fresh());
    outcome_round_trip(&mut factory.fresh());
    scan_pages_in_patient_order(&mut factory.fresh());
    racing_outcomes_lose_nothing(factory, 4, 8);
}

/// A post-visit check task `n` for `patient`, due `n` days after 2026-03-01.
pub fn sample_task(patient: PatientId, n: u64) -> Task {
    let rule = RuleKey::parse("post_visit").unwrap_or_else(|e| panic!("{e}"));
    let visit_on = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
    let due = visit_on + Days::new(n);
    Task::new(
        patient,
        rule,
        TaskKind::PostVisitCheck,
        due,
        TaskChannel::InClinic,
        Reason::PostVisit {
            visit_on,
            days_after: u16::try_from(n).unwrap_or(u16::MAX),
        },
    )
    .with_assignee(StaffId::new(1))
}

fn planned(patient: PatientId, range: std::ops::Range<u64>) -> Vec<FollowUpEvent> {
    range
        .map(|n| FollowUpEvent::TaskPlanned(sample_task(patient, n)))
        .collect()
}

fn outcome_events(
    history: &FollowUpHistory,
    task: &Task,
    outcome: TaskOutcome,
) -> Vec<FollowUpEvent> {
    record_outcome(
        history,
        task.id,
        outcome,
        Some(StaffId::new(1)),
        scenario_now(),
    )
    .unwrap_or_else(|e| panic!("scenario outcome refused: {e}"))
}

/// Planned tasks read back as the history their events give; a missing history is `None`.
pub fn plan_and_get<S: TaskStore>(store: &mut S) {
    let p = PatientId::new(3);
    let events = planned(p, 1..4);
    let v = store.commit(p, None, &events).expect("first commit");
    assert_eq!(v, Version::FIRST, "a first commit gives version 1");
    let got = store.get(p).expect("get").expect("history stored");
    assert_eq!(got.version, Version::FIRST);
    assert_eq!(got.value, FollowUpHistory::replay(p, &events));
    assert_eq!(got.value.len(), 3);
    assert_eq!(store.get(PatientId::new(4)).expect("get"), None);
    // Planning a task that is already there changes nothing but the version.
    let again = store
        .commit(p, Some(v), &planned(p, 1..2))
        .expect("replanning");
    let got = store.get(p).expect("get").expect("stored");
    assert_eq!(got.version, again);
    assert_eq!(got.value.len(), 3, "a task planned twice is stored once");
}

/// A stale or missing expected version is a conflict naming both versions, and writes
/// nothing.
pub fn stale_version_conflicts<S: TaskStore>(store: &mut S) {
    let p = PatientId::new(1);
    store.commit(p, None, &planned(p, 1..2)).expect("first");
    match store.commit(p, None, &planned(p, 2..3)) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (None, Some(Version::FIRST)));
        }
        other => panic!("creating an existing history must conflict, got {other:?}"),
    }
    store
        .commit(p, Some(Version::FIRST), &planned(p, 2..3))
        .expect("second");
    match store.commit(p, Some(Version::FIRST), &planned(p, 3..4)) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!(
                (expected, actual),
                (Some(Version::FIRST), Some(Version::new(2)))
            );
        }
        other => panic!("a stale version must conflict, got {other:?}"),
    }
    match store.commit(PatientId::new(9), Some(Version::FIRST), &planned(p, 3..4)) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(Version::FIRST), None));
        }
        other => panic!("expecting a version of a missing history must conflict, got {other:?}"),
    }
    let got = store.get(p).expect("get").expect("stored");
    assert_eq!(got.version, Version::new(2));
    assert_eq!(got.value.len(), 2, "the conflicting commits wrote nothing");
}

/// A commit with no events checks the version and writes nothing.
pub fn empty_commit_writes_nothing<S: TaskStore>(store: &mut S) {
    let p = PatientId::new(1);
    assert!(
        matches!(store.commit(p, None, &[]), Err(StoreError::NotFound { .. })),
        "an empty first commit stores nothing and says so"
    );
    assert_eq!(store.get(p).expect("get"), None);
    let v = store.commit(p, None, &planned(p, 1..2)).expect("first");
    assert_eq!(store.commit(p, Some(v), &[]).expect("empty commit"), v);
    assert!(matches!(
        store.commit(p, Some(Version::new(9)), &[]),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.get(p).expect("get").expect("stored").version, v);
}

/// An outcome is stored with its task; recording it again decides nothing; the opt-out time
/// is read back.
pub fn outcome_round_trip<S: TaskStore>(store: &mut S) {
    let p = PatientId::new(2);
    let v = store.commit(p, None, &planned(p, 1..3)).expect("plan");
    let h = store.get(p).expect("get").expect("stored").value;
    let first = sample_task(p, 1);
    let ev = outcome_events(&h, &first, TaskOutcome::OptedOut);
    let v2 = store.commit(p, Some(v), &ev).expect("record");
    let got = store.get(p).expect("get").expect("stored");
    assert_eq!(got.version, v2);
    let rec = got.value.get(first.id).expect("task kept");
    assert_eq!(rec.outcome.map(|o| o.outcome), Some(TaskOutcome::OptedOut));
    assert_eq!(got.value.opted_out_at(), Some(scenario_now()));
    assert!(
        outcome_events(&got.value, &first, TaskOutcome::OptedOut).is_empty(),
        "recording the same outcome again decides nothing"
    );
    let other = sample_task(p, 2);
    assert_eq!(
        got.value.get(other.id).and_then(|r| r.outcome),
        None,
        "other tasks keep no outcome"
    );
}

/// A scan returns every history once, in ascending patient order, page by page.
pub fn scan_pages_in_patient_order<S: TaskStore>(store: &mut S) {
    for n in [5u64, 1, 9, 3, 7, 2] {
        let p = PatientId::new(n);
        store.commit(p, None, &planned(p, 1..2)).expect("plan");
    }
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = store.scan(after, 4).expect("scan");
        assert!(page.len() <= 4, "a page is at most `limit` long");
        let Some(last) = page.last() else { break };
        after = Some(last.value.patient());
        seen.extend(page.iter().map(|h| h.value.patient().get()));
    }
    assert_eq!(seen, vec![1, 2, 3, 5, 7, 9]);
    assert!(store.scan(None, 0).expect("scan").is_empty());
}

/// Several threads, each with its own handle, record outcomes on one patient's history at
/// once.
///
/// First, all commit from the same loaded version: exactly one wins and every other gets a
/// `Conflict` naming the winner's version. Then each thread records outcomes for its own
/// `per_thread` tasks, reloading and retrying on conflict: no outcome is lost.
pub fn racing_outcomes_lose_nothing<S: TaskStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
    per_thread: usize,
) {
    let mut store = factory.fresh();
    let p = PatientId::new(1);
    let total = (threads * (per_thread + 1)) as u64;
    store.commit(p, None, &planned(p, 0..total)).expect("plan");
    let loaded = store.get(p).expect("get").expect("stored");
    let barrier = Barrier::new(threads);
    let results: Vec<Result<Version, StoreError>> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(&store);
                let (loaded, barrier) = (&loaded, &barrier);
                s.spawn(move || {
                    let task = sample_task(p, t as u64);
                    let ev = outcome_events(&loaded.value, &task, TaskOutcome::Reached);
                    barrier.wait();
                    h.commit(p, Some(loaded.version), &ev)
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins, 1,
        "exactly one racing commit from the same version wins"
    );
    let winner = loaded.version.next().expect("next");
    for r in &results {
        match r {
            Ok(v) => assert_eq!(*v, winner),
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((*expected, *actual), (Some(loaded.version), Some(winner)));
            }
            Err(e) => panic!("a losing racer must get Conflict, got {e}"),
        }
    }
    std::thread::scope(|s| {
        for t in 0..threads {
            let mut h = factory.handle(&store);
            s.spawn(move || {
                for k in 0..per_thread {
                    let n = (threads + t * per_thread + k) as u64;
                    let task = sample_task(p, n);
                    let outcome = if k % 2 == 0 {
                        TaskOutcome::Reached
                    } else {
                        TaskOutcome::NotReached
                    };
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        assert!(attempts < 10_000, "a writer never got through");
                        let cur = h.get(p).expect("get").expect("stored");
                        let ev = outcome_events(&cur.value, &task, outcome);
                        match h.commit(p, Some(cur.version), &ev) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("unexpected error in race: {e}"),
                        }
                    }
                }
            });
        }
    });
    let end = store.get(p).expect("get").expect("stored");
    let recorded = end.value.tasks().filter(|r| r.outcome.is_some()).count();
    assert_eq!(
        recorded,
        1 + threads * per_thread,
        "every committed outcome must survive the race"
    );
    assert_eq!(end.version.get(), 2 + (threads * per_thread) as u64);
}
