//! Conformance scenarios for [`UsageStore`].

use chrono::NaiveDate;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Factory;
use crate::calendar::Period;
use crate::campaign::{Bucket, UsageAction, UsageKey, UsageReservation};
use crate::id::{CampaignId, PatientId};
use crate::store::{StoreError, UsageStore, Version};

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: UsageStore + Send>(factory: &impl Factory<S>) {
    unwritten_counters_read_as_absent(&mut factory.fresh());
    commit_counts_and_versions(&mut factory.fresh());
    stale_key_fails_the_whole_commit(&mut factory.fresh());
    empty_reservation_writes_nothing(&mut factory.fresh());
    overflow_is_refused(&mut factory.fresh());
    last_unit_race_has_one_winner(factory, 4);
    budget_never_oversold_under_contention(factory, 4, 7);
}

/// A campaign-wide lifetime counter of `action` for campaign `c`.
pub fn campaign_key(c: u64, action: UsageAction) -> UsageKey {
    UsageKey {
        campaign: CampaignId::new(c),
        action,
        patient: None,
        bucket: Bucket::Lifetime,
    }
}

/// A per-patient monthly counter.
pub fn patient_month_key(c: u64, p: u64) -> UsageKey {
    UsageKey {
        campaign: CampaignId::new(c),
        action: UsageAction::Apply,
        patient: Some(PatientId::new(p)),
        bucket: Bucket::Period {
            period: Period::Month,
            start: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
        },
    }
}

fn reservation(items: &[(UsageKey, Option<Version>, u64)]) -> UsageReservation {
    let mut r = UsageReservation::new();
    for (k, v, n) in items {
        r.reserve(*k, *v, *n)
            .unwrap_or_else(|e| panic!("test reservation: {e}"));
    }
    r
}

/// Keys never written are left out of a snapshot, which reads them as zero.
pub fn unwritten_counters_read_as_absent<S: UsageStore>(store: &mut S) {
    let k = campaign_key(1, UsageAction::Apply);
    let snap = store.load(&[k]).expect("load");
    assert!(snap.is_empty(), "an unwritten counter must not be loaded");
    assert_eq!(snap.get(&k), (0, None));
}

/// Commits add to counters and bump each key's version by one, independently per key.
pub fn commit_counts_and_versions<S: UsageStore>(store: &mut S) {
    let a = campaign_key(1, UsageAction::EarnPoints);
    let b = patient_month_key(1, 9);
    store
        .commit(&reservation(&[(a, None, 100), (b, None, 1)]))
        .expect("first commit");
    let snap = store.load(&[a, b]).expect("load");
    assert_eq!(snap.get(&a), (100, Some(Version::FIRST)));
    assert_eq!(snap.get(&b), (1, Some(Version::FIRST)));
    store
        .commit(&reservation(&[(a, Some(Version::FIRST), 50)]))
        .expect("second commit");
    let snap = store.load(&[a, b]).expect("load");
    assert_eq!(snap.get(&a), (150, Some(Version::new(2))));
    assert_eq!(
        snap.get(&b),
        (1, Some(Version::FIRST)),
        "untouched key keeps its version"
    );
    let other = patient_month_key(1, 10);
    assert_eq!(store.load(&[other]).expect("load").get(&other), (0, None));
}

/// One stale key makes the whole reservation fail with a conflict naming its versions, and
/// no key of it is written.
pub fn stale_key_fails_the_whole_commit<S: UsageStore>(store: &mut S) {
    let a = campaign_key(2, UsageAction::Apply);
    let b = campaign_key(2, UsageAction::Cashback);
    store
        .commit(&reservation(&[(b, None, 10)]))
        .expect("seed b");
    match store.commit(&reservation(&[(a, None, 1), (b, None, 5)])) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (None, Some(Version::FIRST)));
        }
        other => panic!("a stale key must conflict, got {other:?}"),
    }
    let snap = store.load(&[a, b]).expect("load");
    assert_eq!(
        snap.get(&a),
        (0, None),
        "a failed commit must write none of its keys"
    );
    assert_eq!(snap.get(&b), (10, Some(Version::FIRST)));
    match store.commit(&reservation(&[(a, Some(Version::FIRST), 1)])) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(Version::FIRST), None));
        }
        other => panic!("expecting a version of an unwritten key must conflict, got {other:?}"),
    }
}

/// An empty reservation succeeds and writes nothing.
pub fn empty_reservation_writes_nothing<S: UsageStore>(store: &mut S) {
    store
        .commit(&UsageReservation::new())
        .expect("empty commit");
    let k = campaign_key(3, UsageAction::Apply);
    assert!(store.load(&[k]).expect("load").is_empty());
}

/// A count that would pass `u64::MAX` is refused and nothing is written.
pub fn overflow_is_refused<S: UsageStore>(store: &mut S) {
    let k = campaign_key(4, UsageAction::EarnPoints);
    store
        .commit(&reservation(&[(k, None, u64::MAX)]))
        .expect("seed");
    match store.commit(&reservation(&[(k, Some(Version::FIRST), 1)])) {
        Err(StoreError::Backend(_)) => {}
        other => panic!("an overflowing counter must be refused, got {other:?}"),
    }
    assert_eq!(
        store.load(&[k]).expect("load").get(&k),
        (u64::MAX, Some(Version::FIRST))
    );
}

/// Several hosts, each with its own handle, read a budget with one use left and all try to
/// take it from the same version: exactly one wins, every other gets `Conflict`.
pub fn last_unit_race_has_one_winner<S: UsageStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
) {
    let mut store = factory.fresh();
    let budget = 5u64;
    let k = campaign_key(5, UsageAction::Apply);
    store
        .commit(&reservation(&[(k, None, budget - 1)]))
        .expect("seed");
    let barrier = Barrier::new(threads);
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|_| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let snap = h.load(&[k]).expect("load");
                    let (used, version) = snap.get(&k);
                    assert!(used < budget, "the last unit is still there");
                    let r = reservation(&[(k, version, 1)]);
                    barrier.wait();
                    h.commit(&r)
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one racer takes the last unit");
    for r in &results {
        match r {
            Ok(()) => {}
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!(
                    (*expected, *actual),
                    (Some(Version::FIRST), Some(Version::new(2)))
                );
            }
            Err(e) => panic!("a losing racer must get Conflict, got {e}"),
        }
    }
    assert_eq!(store.load(&[k]).expect("load").get(&k).0, budget);
}

/// Hosts keep taking units of a budget, reloading on every conflict, until it is spent:
/// the units won add up to exactly the budget, never more.
pub fn budget_never_oversold_under_contention<S: UsageStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
    budget: u64,
) {
    let store = factory.fresh();
    let k = campaign_key(6, UsageAction::Apply);
    let won = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut h = factory.handle(&store);
            let won = &won;
            s.spawn(move || {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 100_000, "a host never got through");
                    let (used, version) = h.load(&[k]).expect("load").get(&k);
                    if used >= budget {
                        break;
                    }
                    match h.commit(&reservation(&[(k, version, 1)])) {
                        Ok(()) => {
                            won.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => panic!("unexpected error in race: {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(
        won.load(Ordering::SeqCst),
        budget,
        "units won must equal the budget"
    );
    assert_eq!(store.load(&[k]).expect("load").get(&k).0, budget);
}
