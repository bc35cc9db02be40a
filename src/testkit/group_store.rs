//! Conformance scenarios for [`GroupStore`].

use std::sync::Barrier;

use super::{Factory, minutes, must};
use crate::id::{GroupId, PatientId};
use crate::relationship::{GroupChatRef, GroupEvent, GroupMembership, apply_group};
use crate::store::{GroupStore, StoreError, Version};

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: GroupStore + Send>(factory: &impl Factory<S>) {
    append_and_get(&mut factory.fresh());
    stale_version_conflicts(&mut factory.fresh());
    events_of_another_series_are_refused(&mut factory.fresh());
    erasure_removes_one_patient_everywhere(&mut factory.fresh());
    racing_planners_cannot_both_take_the_last_seat(factory);
}

fn chat(series: u64, number: u32) -> GroupChatRef {
    GroupChatRef {
        series: GroupId::new(series),
        number,
    }
}

fn joined(series: u64, patient: u64, m: i64) -> GroupEvent {
    GroupEvent::Joined {
        chat: chat(series, 1),
        patient: PatientId::new(patient),
        at: minutes(m),
    }
}

/// Appends come back in order, with the version each commit made.
pub fn append_and_get<S: GroupStore>(store: &mut S) {
    let g = GroupId::new(1);
    assert!(must(store.group_events(g), "get").is_none());
    let v1 = must(
        store.commit_group(g, None, &[joined(1, 1, 0), joined(1, 2, 1)]),
        "commit",
    );
    assert_eq!(v1, Version::FIRST);
    let msg = GroupEvent::Messages {
        chat: chat(1, 1),
        patient: PatientId::new(1),
        day: minutes(0),
        count: 4,
    };
    let v2 = must(
        store.commit_group(g, Some(v1), std::slice::from_ref(&msg)),
        "commit",
    );
    let got = must(store.group_events(g), "get").unwrap_or_else(|| panic!("series lost"));
    assert_eq!(got.version, v2);
    assert_eq!(got.value, vec![joined(1, 1, 0), joined(1, 2, 1), msg]);
    assert_eq!(must(store.commit_group(g, Some(v2), &[]), "empty"), v2);
    assert!(matches!(
        store.commit_group(GroupId::new(2), None, &[]),
        Err(StoreError::NotFound { .. })
    ));
}

/// A stale version is a `Conflict`, and nothing is written.
pub fn stale_version_conflicts<S: GroupStore>(store: &mut S) {
    let g = GroupId::new(1);
    let v1 = must(store.commit_group(g, None, &[joined(1, 1, 0)]), "commit");
    let r = store.commit_group(g, None, &[joined(1, 2, 1)]);
    assert!(
        matches!(r, Err(StoreError::Conflict { expected: None, actual: Some(a) }) if a == v1),
        "{r:?}"
    );
    let n = must(store.group_events(g), "get").map(|v| v.value.len());
    assert_eq!(n, Some(1));
}

/// An event of series 2 cannot be committed to series 1.
pub fn events_of_another_series_are_refused<S: GroupStore>(store: &mut S) {
    let r = store.commit_group(GroupId::new(1), None, &[joined(1, 1, 0), joined(2, 2, 0)]);
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    assert!(must(store.group_events(GroupId::new(1)), "get").is_none());
}

/// Erasing a patient deletes their events in every series and nobody else's; again, none.
pub fn erasure_removes_one_patient_everywhere<S: GroupStore>(store: &mut S) {
    must(
        store.commit_group(GroupId::new(1), None, &[joined(1, 1, 0), joined(1, 2, 0)]),
        "g1",
    );
    must(
        store.commit_group(GroupId::new(2), None, &[joined(2, 1, 0), joined(2, 3, 0)]),
        "g2",
    );
    assert_eq!(
        must(store.erase_group_member(PatientId::new(1)), "erase"),
        2
    );
    assert_eq!(
        must(store.erase_group_member(PatientId::new(1)), "erase again"),
        0
    );
    for (g, left) in [(1u64, 2u64), (2, 3)] {
        let events = must(store.group_events(GroupId::new(g)), "get")
            .map(|v| v.value)
            .unwrap_or_default();
        let who: Vec<u64> = events.iter().map(|e| e.patient().get()).collect();
        assert_eq!(who, vec![left]);
    }
}

/// Two planners load a group with one seat left and each invites a different patient at
/// the loaded version: one commit wins, the other conflicts, and the group holds one
/// invitation more than before, not two.
pub fn racing_planners_cannot_both_take_the_last_seat<S: GroupStore + Send>(
    factory: &impl Factory<S>,
) {
    let mut store = factory.fresh();
    let g = GroupId::new(1);
    let v1 = must(store.commit_group(g, None, &[joined(1, 1, 0)]), "seed");
    let barrier = Barrier::new(2);
    let results: Vec<Result<Version, StoreError>> = std::thread::scope(|s| {
        let joins: Vec<_> = [10u64, 11]
            .into_iter()
            .map(|p| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let invite = GroupEvent::Invited {
                        chat: chat(1, 1),
                        patient: PatientId::new(p),
                        at: minutes(1),
                    };
                    barrier.wait();
                    h.commit_group(g, Some(v1), &[invite])
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().unwrap_or_else(|_| panic!("thread panicked")))
            .collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(e) if e.is_conflict()))
    );
    let events = must(store.group_events(g), "get")
        .map(|v| v.value)
        .unwrap_or_default();
    let mut m = GroupMembership::new();
    for e in &events {
        apply_group(&mut m, e);
    }
    assert_eq!(m.chat(chat(1, 1)).map(|c| c.seats()), Some(2));
    // The loser reloads and commits at the new version.
    let v = must(store.group_events(g), "get").map(|v| v.version);
    let late = GroupEvent::Invited {
        chat: chat(1, 2),
        patient: PatientId::new(12),
        at: minutes(2),
    };
    must(store.commit_group(g, v, &[late]), "retry");
}
