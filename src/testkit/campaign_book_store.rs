//! Conformance scenarios for [`CampaignBookStore`].

use std::sync::Barrier;

use super::{Factory, must};
use crate::campaign::{BookSpec, CampaignBook};
use crate::id::ClinicId;
use crate::store::{CampaignBookStore, StoreError, Version};

/// Runs every campaign-book scenario, each on a fresh store.
pub fn run_all<S: CampaignBookStore + Send>(factory: &impl Factory<S>) {
    books_keep_every_version(&mut factory.fresh());
    book_conflicts_write_nothing(&mut factory.fresh());
    books_are_per_clinic(&mut factory.fresh());
    racing_book_writers_one_wins(factory, 4);
}

/// A book of one purchase campaign granting `points` fixed points: books with different
/// `points` differ.
pub fn sample_book(points: u32) -> CampaignBook {
    let json = format!(
        r#"{{ "campaigns": [ {{
            "id": 1, "name": "会员日",
            "window": {{ "start": "2026-01-01T00:00:00+08:00" }},
            "trigger": {{ "on": "purchase" }},
            "effects": [ {{ "type": "fixed_points", "points": {points} }} ] }} ] }}"#
    );
    must(serde_json::from_str(&json), "sample book")
}

fn spec(b: &CampaignBook) -> BookSpec {
    BookSpec::from(b.clone())
}

fn conflict(r: Result<Version, StoreError>) -> (Option<Version>, Option<Version>) {
    match r {
        Err(StoreError::Conflict { expected, actual }) => (expected, actual),
        other => panic!("a stale version must conflict, got {other:?}"),
    }
}

/// Every committed version of a book stays readable; the current one is the last.
pub fn books_keep_every_version<S: CampaignBookStore>(store: &mut S) {
    let c = ClinicId::new(1);
    assert!(must(store.book(c), "empty").is_none());
    assert_eq!(must(store.book_version(c), "version"), None);
    let mut v = None;
    for points in [10, 20, 30] {
        v = Some(must(
            store.commit_book(c, v, &sample_book(points)),
            "commit",
        ));
    }
    assert_eq!(v, Some(Version::new(3)));
    assert_eq!(must(store.book_version(c), "version"), v);
    let cur = must(store.book(c), "get").expect("stored");
    assert_eq!(cur.version, Version::new(3));
    assert_eq!(spec(&cur.value), spec(&sample_book(30)));
    for (n, points) in [(1, 10), (2, 20), (3, 30)] {
        let old = must(store.book_at(c, Version::new(n)), "old version")
            .unwrap_or_else(|| panic!("version {n} must be kept"));
        assert_eq!(spec(&old), spec(&sample_book(points)), "version {n}");
    }
    for missing in [0, 4, u64::MAX] {
        assert!(
            must(store.book_at(c, Version::new(missing)), "missing").is_none(),
            "version {missing} was never committed"
        );
    }
}

/// A stale or missing expected version conflicts with both versions and writes nothing.
pub fn book_conflicts_write_nothing<S: CampaignBookStore>(store: &mut S) {
    let c = ClinicId::new(1);
    assert_eq!(
        conflict(store.commit_book(c, Some(Version::FIRST), &sample_book(1))),
        (Some(Version::FIRST), None)
    );
    assert_eq!(must(store.book_version(c), "version"), None);
    let v1 = must(store.commit_book(c, None, &sample_book(10)), "first");
    assert_eq!(
        conflict(store.commit_book(c, None, &sample_book(20))),
        (None, Some(v1))
    );
    let v2 = must(store.commit_book(c, Some(v1), &sample_book(20)), "second");
    assert_eq!(
        conflict(store.commit_book(c, Some(v1), &sample_book(30))),
        (Some(v1), Some(v2))
    );
    assert_eq!(must(store.book_version(c), "version"), Some(v2));
    assert!(must(store.book_at(c, Version::new(3)), "v3").is_none());
    let cur = must(store.book(c), "get").expect("stored");
    assert_eq!(spec(&cur.value), spec(&sample_book(20)));
}

/// Each clinic has its own book and versions.
pub fn books_are_per_clinic<S: CampaignBookStore>(store: &mut S) {
    let (a, b) = (ClinicId::new(1), ClinicId::new(2));
    must(store.commit_book(a, None, &sample_book(10)), "a");
    must(
        store.commit_book(a, Some(Version::FIRST), &sample_book(11)),
        "a2",
    );
    must(store.commit_book(b, None, &sample_book(20)), "b");
    assert_eq!(must(store.book_version(a), "a"), Some(Version::new(2)));
    assert_eq!(must(store.book_version(b), "b"), Some(Version::FIRST));
    let got = must(store.book_at(b, Version::FIRST), "b1").expect("stored");
    assert_eq!(spec(&got), spec(&sample_book(20)));
    assert!(must(store.book_at(b, Version::new(2)), "b2").is_none());
}

/// Several writers, each with its own handle, commit a book from the same loaded version
/// at once: exactly one wins, every other gets a `Conflict` naming the winner's version,
/// and the stored book is the winner's.
pub fn racing_book_writers_one_wins<S: CampaignBookStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
) {
    let mut store = factory.fresh();
    let c = ClinicId::new(1);
    let v1 = must(store.commit_book(c, None, &sample_book(1)), "first");
    let barrier = Barrier::new(threads);
    let results: Vec<(u32, Result<Version, StoreError>)> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let points = 100 + t as u32;
                    let book = sample_book(points);
                    barrier.wait();
                    (points, h.commit_book(c, Some(v1), &book))
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let winners: Vec<u32> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one racing writer wins");
    let v2 = Version::new(2);
    for (_, r) in &results {
        match r {
            Ok(v) => assert_eq!(*v, v2),
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((*expected, *actual), (Some(v1), Some(v2)));
            }
            Err(e) => panic!("a losing writer must get Conflict, got {e}"),
        }
    }
    let cur = must(store.book(c), "get").expect("stored");
    assert_eq!(cur.version, v2);
    assert_eq!(spec(&cur.value), spec(&sample_book(winners[0])));
    assert_eq!(
        spec(&must(store.book_at(c, v1), "v1").expect("kept")),
        spec(&sample_book(1)),
        "the version the racers started from is kept"
    );
    assert!(must(store.book_at(c, Version::new(3)), "v3").is_none());
}
