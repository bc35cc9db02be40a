//! Conformance scenarios for [`ReferralStore`].

use chrono::{DateTime, Duration, Utc};
use std::sync::Barrier;

use super::{Factory, scenario_now};
use crate::id::PatientId;
use crate::referral::{Binding, ReferralEvent};
use crate::store::{ReferralStore, StoreError, Version};

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: ReferralStore + Send>(factory: &impl Factory<S>) {
    bind_and_get(&mut factory.fresh());
    first_binding_only_once(&mut factory.fresh());
    rebind_moves_the_referrer_index(&mut factory.fresh());
    empty_commit_writes_nothing(&mut factory.fresh());
    wrong_referee_writes_nothing(&mut factory.fresh());
    scan_pages_in_referee_order(&mut factory.fresh());
    two_concurrent_bindings_one_wins(factory, 4);
    racing_referees_lose_nothing(factory, 4, 25);
}

fn p(n: u64) -> PatientId {
    PatientId::new(n)
}

fn at(minutes: i64) -> DateTime<Utc> {
    scenario_now() + Duration::minutes(minutes)
}

/// The event of a first binding of `referee` to `referrer`.
pub fn bound(referee: u64, referrer: u64, minutes: i64) -> ReferralEvent {
    ReferralEvent::Bound {
        binding: Binding {
            referee: p(referee),
            referrer: p(referrer),
            at: at(minutes),
        },
    }
}

fn first<S: ReferralStore>(store: &mut S, referee: u64, referrer: u64) -> Version {
    store
        .commit(p(referee), None, &[bound(referee, referrer, 0)])
        .unwrap_or_else(|e| panic!("binding P{referee}: {e}"))
}

/// A committed binding reads back with version 1, and is listed under its referrer.
pub fn bind_and_get<S: ReferralStore>(store: &mut S) {
    let ev = bound(2, 1, 5);
    let v = store.commit(p(2), None, &[ev]).expect("first commit");
    assert_eq!(v, Version::FIRST, "a first binding gives version 1");
    let got = store.get(p(2)).expect("get").expect("binding stored");
    assert_eq!(got.version, Version::FIRST);
    assert_eq!(got.value, *ev.binding());
    assert_eq!(store.get(p(3)).expect("get"), None, "unbound referee");
    assert_eq!(
        store.referees_of(p(1)).expect("referees"),
        vec![*ev.binding()]
    );
    assert!(store.referees_of(p(2)).expect("referees").is_empty());
}

/// A second first-binding of a bound referee conflicts, naming both versions, and writes
/// nothing: the first referrer wins.
pub fn first_binding_only_once<S: ReferralStore>(store: &mut S) {
    first(store, 2, 1);
    match store.commit(p(2), None, &[bound(2, 3, 9)]) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (None, Some(Version::FIRST)));
        }
        other => panic!("binding a bound referee again must conflict, got {other:?}"),
    }
    match store.commit(p(4), Some(Version::FIRST), &[bound(4, 1, 0)]) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(Version::FIRST), None));
        }
        other => panic!("expecting a version of an unbound referee must conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .get(p(2))
            .expect("get")
            .expect("stored")
            .value
            .referrer,
        p(1),
        "the losing commit wrote nothing"
    );
    assert!(store.referees_of(p(3)).expect("referees").is_empty());
    assert_eq!(store.get(p(4)).expect("get"), None);
}

/// A rebinding at the loaded version replaces the referrer in `get` and `referees_of`.
pub fn rebind_moves_the_referrer_index<S: ReferralStore>(store: &mut S) {
    let v = first(store, 5, 1);
    first(store, 6, 1);
    let previous = store.get(p(5)).expect("get").expect("stored").value;
    let new = Binding {
        referee: p(5),
        referrer: p(2),
        at: at(60),
    };
    let v2 = store
        .commit(
            p(5),
            Some(v),
            &[ReferralEvent::Rebound {
                binding: new,
                previous,
            }],
        )
        .expect("rebind");
    assert_eq!(v2, Version::new(2));
    assert_eq!(store.get(p(5)).expect("get").expect("stored").value, new);
    let under_one: Vec<PatientId> = store
        .referees_of(p(1))
        .expect("referees")
        .iter()
        .map(|b| b.referee)
        .collect();
    assert_eq!(under_one, vec![p(6)], "the old referrer lost the referee");
    assert_eq!(store.referees_of(p(2)).expect("referees"), vec![new]);
    assert!(
        matches!(
            store.commit(p(5), Some(v), &[bound(5, 3, 70)]),
            Err(StoreError::Conflict { .. })
        ),
        "a rebinding from a stale version must conflict"
    );
}

/// A commit with no events checks the version and writes nothing.
pub fn empty_commit_writes_nothing<S: ReferralStore>(store: &mut S) {
    let v = first(store, 2, 1);
    assert_eq!(store.commit(p(2), Some(v), &[]).expect("empty commit"), v);
    assert!(matches!(
        store.commit(p(2), Some(Version::new(9)), &[]),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.commit(p(3), None, &[]),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.get(p(2)).expect("get").expect("stored").version, v);
    assert_eq!(store.get(p(3)).expect("get"), None);
}

/// An event naming another referee is refused and writes nothing.
pub fn wrong_referee_writes_nothing<S: ReferralStore>(store: &mut S) {
    match store.commit(p(2), None, &[bound(3, 1, 0)]) {
        Err(StoreError::Backend(_)) => {}
        other => panic!("an event for another referee must be refused, got {other:?}"),
    }
    assert_eq!(store.get(p(2)).expect("get"), None);
    assert_eq!(store.get(p(3)).expect("get"), None);
    assert!(store.referees_of(p(1)).expect("referees").is_empty());
}

/// A scan returns every binding once, in ascending referee order, page by page.
pub fn scan_pages_in_referee_order<S: ReferralStore>(store: &mut S) {
    for n in [5u64, 2, 9, 3, 7, 4] {
        first(store, n, 1);
    }
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = store.scan(after, 4).expect("scan");
        assert!(page.len() <= 4, "a page is at most `limit` long");
        let Some(last) = page.last() else { break };
        after = Some(last.value.referee);
        seen.extend(page.iter().map(|b| b.value.referee.get()));
    }
    assert_eq!(seen, vec![2, 3, 4, 5, 7, 9]);
    assert!(store.scan(None, 0).expect("scan").is_empty());
}

/// Several threads, each with its own handle, bind the same referee to different referrers
/// at once, all expecting it unbound. Exactly one wins; every other gets `Conflict` (or
/// `Duplicate`), and the stored binding is the winner's.
pub fn two_concurrent_bindings_one_wins<S: ReferralStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
) {
    let threads = threads.max(2);
    let store = factory.fresh();
    let referee = 100u64;
    let barrier = Barrier::new(threads);
    let results: Vec<(u64, Result<Version, StoreError>)> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let referrer = 1 + t as u64;
                    let ev = bound(referee, referrer, t as i64);
                    barrier.wait();
                    (referrer, h.commit(p(referee), None, &[ev]))
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(referrer, _)| *referrer)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racing binding of a referee wins"
    );
    for (_, r) in &results {
        match r {
            Ok(v) => assert_eq!(*v, Version::FIRST),
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((*expected, *actual), (None, Some(Version::FIRST)));
            }
            Err(StoreError::Duplicate { .. }) => {}
            Err(e) => panic!("a losing binding must get Conflict or Duplicate, got {e}"),
        }
    }
    let stored = store.get(p(referee)).expect("get").expect("stored");
    assert_eq!(
        stored.value.referrer.get(),
        winners.first().copied().unwrap_or(0)
    );
    assert_eq!(stored.version, Version::FIRST);
    let listed: usize = (1..=threads as u64)
        .map(|r| store.referees_of(p(r)).expect("referees").len())
        .sum();
    assert_eq!(listed, 1, "only the winner lists the referee");
}

/// Threads bind disjoint referees concurrently: every binding survives.
pub fn racing_referees_lose_nothing<S: ReferralStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
    per_thread: usize,
) {
    let store = factory.fresh();
    std::thread::scope(|s| {
        for t in 0..threads {
            let mut h = factory.handle(&store);
            s.spawn(move || {
                for k in 0..per_thread {
                    let referee = 1000 + (t * per_thread + k) as u64;
                    h.commit(p(referee), None, &[bound(referee, 1, k as i64)])
                        .unwrap_or_else(|e| panic!("binding P{referee}: {e}"));
                }
            });
        }
    });
    assert_eq!(
        store.referees_of(p(1)).expect("referees").len(),
        threads * per_thread,
        "every committed binding must survive the race"
    );
}
