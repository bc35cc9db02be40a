//! Conformance scenarios for [`OutreachEventStore`].

use std::sync::Barrier;

use super::{Factory, minutes, must, scenario_now};
use crate::campaign::AdLawWords;
use crate::event::{
    self, LectureVenue, OutreachEvent, OutreachEventError, OutreachEventKind, RosterCommand,
    RosterEvent, RosterStatus,
};
use crate::id::{ClinicId, OutreachEventId, PatientId};
use crate::store::{ExecuteError, OutreachEventStore, StoreError, Version, retry_on_conflict};
use crate::text::Label;

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: OutreachEventStore + Send>(factory: &impl Factory<S>) {
    create_publish_register_round_trip(&mut factory.fresh());
    stale_version_conflicts(&mut factory.fresh());
    empty_and_headless_commits(&mut factory.fresh());
    scan_pages_in_event_order(&mut factory.fresh());
    race_for_the_last_seat(factory, 4);
}

/// An on-site lecture `n` with `seats` seats, a day after [`scenario_now`].
pub fn sample_lecture(n: u64, seats: u32) -> OutreachEvent {
    must(
        OutreachEvent::new(
            OutreachEventId::new(n),
            ClinicId::new(1),
            OutreachEventKind::Lecture {
                venue: LectureVenue::OnSite,
            },
            must(Label::parse("换季养生讲座"), "title"),
            minutes(24 * 60),
            seats,
        )
        .and_then(|e| {
            e.with_invitation(
                "周六上午九点，中医讲换季养生，欢迎报名",
                &AdLawWords::default(),
            )
        }),
        "lecture",
    )
}

fn decided(
    store: &impl OutreachEventStore,
    id: OutreachEventId,
    cmd: &RosterCommand,
) -> (Option<Version>, Vec<RosterEvent>) {
    let loaded = must(store.get(id), "get");
    let events = must(
        event::decide(loaded.as_ref().map(|v| &v.value), cmd, scenario_now()),
        "decide",
    );
    (loaded.map(|v| v.version), events)
}

fn run<S: OutreachEventStore>(store: &mut S, id: OutreachEventId, cmd: &RosterCommand) -> Version {
    let (expected, events) = decided(store, id, cmd);
    must(store.commit(id, expected, &events), "commit")
}

/// Creating, publishing, registering and attending come back as decided.
pub fn create_publish_register_round_trip<S: OutreachEventStore>(store: &mut S) {
    let e = sample_lecture(1, 10);
    let id = e.id();
    assert_eq!(must(store.get(id), "get"), None);
    assert_eq!(
        run(store, id, &RosterCommand::Create(e.clone())),
        Version::FIRST
    );
    run(store, id, &RosterCommand::Publish);
    let p = PatientId::new(7);
    run(store, id, &RosterCommand::Register { patient: p });
    let v = run(store, id, &RosterCommand::Attend { patient: p });
    let back = must(store.get(id), "get").expect("stored");
    assert_eq!(back.version, v);
    assert_eq!(back.value.event(), &e);
    assert_eq!(back.value.status(), RosterStatus::Published);
    assert_eq!(back.value.attendees().collect::<Vec<_>>(), vec![p]);
    assert_eq!(back.value.free_seats(), 9);
}

/// A commit from a stale version conflicts and writes nothing.
pub fn stale_version_conflicts<S: OutreachEventStore>(store: &mut S) {
    let e = sample_lecture(1, 10);
    let id = e.id();
    let v1 = run(store, id, &RosterCommand::Create(e));
    let v2 = run(store, id, &RosterCommand::Publish);
    let stale = [RosterEvent::Cancelled];
    match store.commit(id, Some(v1), &stale) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(v1), Some(v2)));
        }
        other => panic!("a stale commit must conflict, got {other:?}"),
    }
    let back = must(store.get(id), "get").expect("stored");
    assert_eq!(
        (back.version, back.value.status()),
        (v2, RosterStatus::Published)
    );
}

/// An empty commit checks the version and writes nothing; a first commit that creates no
/// roster is refused.
pub fn empty_and_headless_commits<S: OutreachEventStore>(store: &mut S) {
    let id = OutreachEventId::new(3);
    match store.commit(id, None, &[]) {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("an empty commit on nothing must be not found, got {other:?}"),
    }
    match store.commit(id, None, &[RosterEvent::Cancelled]) {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a first commit without Created must be not found, got {other:?}"),
    }
    assert_eq!(must(store.get(id), "get"), None);
    let v = run(store, id, &RosterCommand::Create(sample_lecture(3, 2)));
    assert_eq!(must(store.commit(id, Some(v), &[]), "empty"), v);
}

/// Rosters page in ascending event id order.
pub fn scan_pages_in_event_order<S: OutreachEventStore>(store: &mut S) {
    for n in [3u64, 1, 2] {
        run(
            store,
            OutreachEventId::new(n),
            &RosterCommand::Create(sample_lecture(n, 5)),
        );
    }
    let first = must(store.scan(None, 2), "page 1");
    let ids: Vec<_> = first.iter().map(|v| v.value.event().id().get()).collect();
    assert_eq!(ids, vec![1, 2]);
    let rest = must(store.scan(Some(OutreachEventId::new(2)), 5), "page 2");
    assert_eq!(rest.len(), 1);
}

/// Several desks, each with its own handle, register a different patient for the last
/// seat of an event at once, reloading and deciding again on conflict: exactly one gets
/// it, every other is told the event is full, and the roster holds one more patient.
pub fn race_for_the_last_seat<S: OutreachEventStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
) {
    let mut store = factory.fresh();
    let e = sample_lecture(9, 2);
    let id = e.id();
    run(&mut store, id, &RosterCommand::Create(e));
    run(&mut store, id, &RosterCommand::Publish);
    run(
        &mut store,
        id,
        &RosterCommand::Register {
            patient: PatientId::new(1000),
        },
    );
    let barrier = Barrier::new(threads);
    let results: Vec<Result<Version, ExecuteError<OutreachEventError>>> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let cmd = RosterCommand::Register {
                        patient: PatientId::new(t as u64 + 1),
                    };
                    barrier.wait();
                    retry_on_conflict(10_000, || {
                        let loaded = h.get(id)?;
                        let events =
                            event::decide(loaded.as_ref().map(|v| &v.value), &cmd, scenario_now())
                                .map_err(ExecuteError::Domain)?;
                        Ok(h.commit(id, loaded.map(|v| v.version), &events)?)
                    })
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one desk gets the last seat: {results:?}");
    for r in &results {
        match r {
            Ok(_) | Err(ExecuteError::Domain(OutreachEventError::Full { .. })) => {}
            Err(other) => panic!("a losing desk must be told the event is full, got {other}"),
        }
    }
    let back = must(store.get(id), "get").expect("stored");
    assert_eq!(back.value.seats().len(), 2);
    assert_eq!(back.value.free_seats(), 0);
}
