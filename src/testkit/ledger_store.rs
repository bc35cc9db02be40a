//! Conformance scenarios for [`LedgerStore`].

use std::sync::Barrier;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use super::{Factory, scenario_now};
use crate::calendar::ClinicCalendar;
use crate::id::{PatientId, PurchaseId};
use crate::money::{Points, Yuan};
use crate::points::{
    self, Account, CommandKey, CommandKind, LedgerCommand, LedgerDecision, Multiplier, Policy,
    Posting,
};
use crate::store::{LedgerStore, StoreError, Version};

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: LedgerStore + Send>(factory: &impl Factory<S>) {
    append_and_load(&mut factory.fresh());
    stale_version_conflicts(&mut factory.fresh());
    out_of_sequence_refused(&mut factory.fresh());
    empty_append_writes_nothing(&mut factory.fresh());
    postings_round_trip_exactly(&mut factory.fresh());
    racing_redeemers_never_overspend(factory, 4, 7);
}

fn earn(key: u64, purchase: u64, yuan: u32) -> LedgerCommand {
    LedgerCommand::new(
        CommandKey::new(key),
        CommandKind::Earn {
            purchase: PurchaseId::new(purchase),
            paid: Yuan::from_fen(yuan * 100),
            category: None,
            multiplier: Multiplier::ONE,
            lock_until: None,
        },
    )
}

fn redeem(key: u64, points: i64) -> LedgerCommand {
    LedgerCommand::new(
        CommandKey::new(key),
        CommandKind::Redeem {
            points: Points::new(points),
            purchase: None,
        },
    )
}

fn decide(account: &Account, cmd: &LedgerCommand) -> Result<Vec<Posting>, points::PointsError> {
    points::decide(
        account,
        cmd,
        scenario_now(),
        &Policy::default(),
        ClinicCalendar::default(),
    )
    .map(|o| match o {
        LedgerDecision::Posted(p) => p,
        other => panic!("scenario command was a replay: {other:?}"),
    })
}

fn load<S: LedgerStore>(store: &S, id: PatientId) -> (Account, Option<Version>) {
    match store.load(id).expect("load") {
        Some(v) => (
            Account::load(id, &v.value).expect("the store returns postings in sequence"),
            Some(v.version),
        ),
        None => (Account::new(id), None),
    }
}

/// Runs one command through load, decide and append.
fn run<S: LedgerStore>(store: &mut S, id: PatientId, cmd: &LedgerCommand) -> Version {
    let (acc, v) = load(store, id);
    let p = decide(&acc, cmd).unwrap_or_else(|e| panic!("scenario command refused: {e}"));
    store
        .append(id, v, &p)
        .unwrap_or_else(|e| panic!("appending for {id}: {e}"))
}

/// Appended postings load back in order, with version 1 after the first append and one more
/// per append; an unknown account loads as `None`.
pub fn append_and_load<S: LedgerStore>(store: &mut S) {
    let id = PatientId::new(1);
    assert_eq!(run(store, id, &earn(1, 10, 100)), Version::FIRST);
    assert_eq!(run(store, id, &redeem(2, 30)), Version::new(2));
    let got = store.load(id).expect("load").expect("stored");
    assert_eq!(got.version, Version::new(2));
    let seqs: Vec<u64> = got.value.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
    assert_eq!(
        Account::load(id, &got.value)
            .expect("the store returns postings in sequence")
            .balance(),
        Points::new(70),
        "replaying the stored postings gives the balance"
    );
    assert!(store.load(PatientId::new(2)).expect("load").is_none());
}

/// A stale or missing expected version is a `Conflict` naming both versions, and writes
/// nothing.
pub fn stale_version_conflicts<S: LedgerStore>(store: &mut S) {
    let id = PatientId::new(1);
    run(store, id, &earn(1, 10, 100));
    let fresh = Account::new(id);
    let p = decide(&fresh, &earn(2, 11, 5)).expect("decide");
    match store.append(id, None, &p) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (None, Some(Version::FIRST)));
        }
        other => panic!("appending as new to an existing ledger must conflict, got {other:?}"),
    }
    let (acc, v) = load(store, id);
    let p = decide(&acc, &redeem(3, 10)).expect("decide");
    assert_eq!(store.append(id, v, &p).expect("append"), Version::new(2));
    match store.append(id, v, &p) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!(
                (expected, actual),
                (Some(Version::FIRST), Some(Version::new(2)))
            );
        }
        other => panic!("a stale version must conflict, got {other:?}"),
    }
    match store.append(PatientId::new(9), Some(Version::FIRST), &p) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(Version::FIRST), None));
        }
        other => panic!("expecting a version of a missing ledger must conflict, got {other:?}"),
    }
    let got = store.load(id).expect("load").expect("stored");
    assert_eq!(got.value.len(), 2, "the conflicting appends wrote nothing");
}

/// Postings for another account, or whose `seq` does not follow, are refused whole.
pub fn out_of_sequence_refused<S: LedgerStore>(store: &mut S) {
    let id = PatientId::new(1);
    run(store, id, &earn(1, 10, 100));
    let (acc, v) = load(store, id);
    let mut p = decide(&acc, &redeem(2, 10)).expect("decide");
    let good = p.clone();
    if let Some(first) = p.first_mut() {
        first.seq = 5;
    }
    assert!(
        matches!(store.append(id, v, &p), Err(StoreError::Backend(_))),
        "a gap in seq must be refused"
    );
    assert!(
        matches!(
            store.append(PatientId::new(2), None, &good),
            Err(StoreError::Backend(_))
        ),
        "postings of another account must be refused"
    );
    let got = store.load(id).expect("load").expect("stored");
    assert_eq!(got.version, Version::FIRST, "nothing was written");
    assert_eq!(got.value.len(), 1);
    assert!(store.load(PatientId::new(2)).expect("load").is_none());
}

/// An empty append checks the version and writes nothing; on a missing ledger it is
/// `NotFound`.
pub fn empty_append_writes_nothing<S: LedgerStore>(store: &mut S) {
    let id = PatientId::new(1);
    assert!(matches!(
        store.append(id, None, &[]),
        Err(StoreError::NotFound { .. })
    ));
    run(store, id, &earn(1, 10, 100));
    assert_eq!(
        store.append(id, Some(Version::FIRST), &[]).expect("empty"),
        Version::FIRST
    );
    assert!(store.append(id, Some(Version::new(7)), &[]).is_err());
    assert_eq!(
        store.load(id).expect("load").expect("stored").version,
        Version::FIRST
    );
}

/// Every kind of posting a scenario makes reads back equal, field for field.
pub fn postings_round_trip_exactly<S: LedgerStore>(store: &mut S) {
    let id = PatientId::new(3);
    let cmds = [
        earn(1, 10, 100),
        earn(2, 11, 80),
        LedgerCommand::new(
            CommandKey::new(3),
            CommandKind::Redeem {
                points: Points::new(120),
                purchase: Some(PurchaseId::new(12)),
            },
        ),
        LedgerCommand::new(
            CommandKey::new(4),
            CommandKind::Refund {
                purchase: PurchaseId::new(12),
                amount: Yuan::ZERO,
                points: Points::new(50),
            },
        ),
        LedgerCommand::new(
            CommandKey::new(5),
            CommandKind::Refund {
                purchase: PurchaseId::new(10),
                amount: Yuan::from_fen(3333),
                points: Points::ZERO,
            },
        ),
    ];
    let mut all = Vec::new();
    for c in &cmds {
        let (acc, v) = load(store, id);
        let p = decide(&acc, c).expect("decide");
        store.append(id, v, &p).expect("append");
        all.extend(p);
    }
    let got = store.load(id).expect("load").expect("stored");
    assert_eq!(got.value, all, "postings must read back exactly");
    assert_eq!(got.version, Version::new(cmds.len() as u64));
}

/// Several threads, each with its own handle, redeem from one account at once.
///
/// The account holds `threads × per_thread × 10 − 5` points, and every redemption is 10, so
/// not every redemption fits. First, all redeem from the same loaded version: exactly one
/// wins and the rest get `Conflict` naming the winner's version. Then each thread retries
/// its redemptions on conflict until one is refused as insufficient. The sum redeemed never
/// exceeds what was there, the final balance is what is left, and no posting is lost.
pub fn racing_redeemers_never_overspend<S: LedgerStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
    per_thread: usize,
) {
    let mut store = factory.fresh();
    let id = PatientId::new(1);
    let start = (threads * per_thread * 10) as u32 - 5;
    let cmd = LedgerCommand::new(
        CommandKey::new(1),
        CommandKind::Adjust {
            points: Points::new(i64::from(start)),
            reason: points::AdjustReason::Migration,
        },
    );
    run(&mut store, id, &cmd);
    let (loaded, v) = load(&store, id);
    let results = race_from_one_version(factory, &store, id, &loaded, v, threads);
    assert_one_winner(&results, v);
    let (redeemed, appended) = redeem_until_refused(factory, &store, id, threads, per_thread);
    assert_nothing_lost(&store, id, start, redeemed, appended);
}

/// Each of `threads` handles appends a redemption of 10 decided on `loaded` (at version `v`),
/// all released at once by a barrier.
fn race_from_one_version<S: LedgerStore + Send>(
    factory: &impl Factory<S>,
    store: &S,
    id: PatientId,
    loaded: &Account,
    v: Option<Version>,
    threads: usize,
) -> Vec<Result<Version, StoreError>> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(store);
                let barrier = &barrier;
                s.spawn(move || {
                    let p = decide(loaded, &redeem(100 + t as u64, 10)).expect("decide");
                    barrier.wait();
                    h.append(id, v, &p)
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    })
}

/// Exactly one of the racing appends from version `v` made version 2; every other got
/// `Conflict` naming it.
fn assert_one_winner(results: &[Result<Version, StoreError>], v: Option<Version>) {
    let winner = Version::new(2);
    let mut wins = 0;
    for r in results {
        match r {
            Ok(got) => {
                wins += 1;
                assert_eq!(*got, winner);
            }
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((*expected, *actual), (v, Some(winner)));
            }
            Err(e) => panic!("a losing redeemer must get Conflict, got {e}"),
        }
    }
    assert_eq!(
        wins, 1,
        "exactly one racing append from the same version wins"
    );
}

/// Each thread redeems 10 points at a time, retrying on conflict, until one is refused as
/// insufficient; returns the points redeemed and the appends made, the race's winner
/// included.
fn redeem_until_refused<S: LedgerStore + Send>(
    factory: &impl Factory<S>,
    store: &S,
    id: PatientId,
    threads: usize,
    per_thread: usize,
) -> (i64, usize) {
    let redeemed = AtomicI64::new(10);
    let appended = AtomicUsize::new(1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let mut h = factory.handle(store);
            let (redeemed, appended) = (&redeemed, &appended);
            s.spawn(move || {
                for k in 0..per_thread * 2 {
                    let key = 1_000 + (t * 1_000 + k) as u64;
                    if !redeem_retrying(&mut h, id, key) {
                        return;
                    }
                    redeemed.fetch_add(10, Ordering::SeqCst);
                    appended.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (
        redeemed.load(Ordering::SeqCst),
        appended.load(Ordering::SeqCst),
    )
}

/// Redeems 10 points under `key`, reloading and retrying on conflict: true once appended,
/// false when refused as insufficient.
fn redeem_retrying<S: LedgerStore>(h: &mut S, id: PatientId, key: u64) -> bool {
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 10_000, "a redeemer never got through");
        let (acc, v) = load(h, id);
        let p = match decide(&acc, &redeem(key, 10)) {
            Ok(p) => p,
            Err(points::PointsError::Insufficient { .. }) => return false,
            Err(e) => panic!("unexpected refusal in race: {e}"),
        };
        match h.append(id, v, &p) {
            Ok(_) => return true,
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => panic!("unexpected error in race: {e}"),
        }
    }
}

/// The stored account holds exactly what the `start` points less the `redeemed` ones leave,
/// with one posting per append.
fn assert_nothing_lost<S: LedgerStore>(
    store: &S,
    id: PatientId,
    start: u32,
    redeemed: i64,
    appended: usize,
) {
    assert!(
        redeemed <= i64::from(start),
        "redeemed {redeemed} of {start} points"
    );
    let (end, version) = load(store, id);
    assert!(!end.balance().is_negative(), "the balance went negative");
    assert_eq!(
        end.balance(),
        Points::new(i64::from(start) - redeemed),
        "every successful redemption is in the ledger, and only those"
    );
    assert_eq!(
        end.balance().get(),
        5,
        "redeemers stop only when less than one redemption is left"
    );
    assert_eq!(end.last_seq(), 1 + appended as u64, "no posting lost");
    assert_eq!(version, Some(Version::new(1 + appended as u64)));
}
