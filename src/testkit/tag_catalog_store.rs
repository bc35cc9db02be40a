//! Conformance scenarios for [`TagCatalogStore`].

use std::sync::Barrier;

use super::{Factory, must, scenario_now};
use crate::segment::{TagCatalog, TagName};
use crate::store::{StoreError, TagCatalogStore, Version};

/// Runs every tag-catalog scenario, each on a fresh store.
pub fn run_all<S: TagCatalogStore + Send>(factory: &impl Factory<S>) {
    catalog_round_trip_and_versions(&mut factory.fresh());
    racing_catalog_editors_one_wins(factory, 4);
}

/// A catalog with the tags `names` added at [`scenario_now`].
pub fn sample_catalog(names: &[&str]) -> TagCatalog {
    let mut c = TagCatalog::with_limit(10);
    c.mark_sensitive("medication");
    for n in names {
        must(
            c.add(must(TagName::parse(n), "sample tag"), scenario_now()),
            "adding a tag",
        );
    }
    c
}

fn conflict(r: Result<Version, StoreError>) -> (Option<Version>, Option<Version>) {
    match r {
        Err(StoreError::Conflict { expected, actual }) => (expected, actual),
        other => panic!("a stale version must conflict, got {other:?}"),
    }
}

/// The catalog reads back as committed, with its version; a stale or missing expected
/// version conflicts and writes nothing.
pub fn catalog_round_trip_and_versions<S: TagCatalogStore>(store: &mut S) {
    assert_eq!(must(store.catalog(), "empty"), None);
    assert_eq!(
        conflict(store.commit_catalog(Some(Version::FIRST), &sample_catalog(&[]))),
        (Some(Version::FIRST), None)
    );
    let first = sample_catalog(&["vip/gold"]);
    let v1 = must(store.commit_catalog(None, &first), "first");
    assert_eq!(v1, Version::FIRST);
    let got = must(store.catalog(), "get").expect("stored");
    assert_eq!((got.value, got.version), (first.clone(), v1));
    let mut second = first.clone();
    must(
        second.delete(&must(TagName::parse("vip/gold"), "tag"), scenario_now()),
        "delete",
    );
    must(
        second.add(
            must(TagName::parse("medication/insulin"), "tag"),
            scenario_now(),
        ),
        "add",
    );
    let v2 = must(store.commit_catalog(Some(v1), &second), "second");
    assert_eq!(v2, Version::new(2));
    assert_eq!(
        conflict(store.commit_catalog(None, &first)),
        (None, Some(v2))
    );
    assert_eq!(
        conflict(store.commit_catalog(Some(v1), &first)),
        (Some(v1), Some(v2))
    );
    let got = must(store.catalog(), "get").expect("stored");
    assert_eq!(got.version, v2);
    assert_eq!(got.value, second, "conflicting commits wrote nothing");
    let insulin = must(TagName::parse("medication/insulin"), "tag");
    assert!(
        got.value.is_sensitive(&insulin),
        "sensitive groups are kept"
    );
}

/// Several editors, each with its own handle, commit a catalog from the same loaded
/// version at once: exactly one wins, every other gets a `Conflict`, and the stored
/// catalog is the winner's, whole.
pub fn racing_catalog_editors_one_wins<S: TagCatalogStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
) {
    let mut store = factory.fresh();
    let v1 = must(store.commit_catalog(None, &sample_catalog(&[])), "first");
    let barrier = Barrier::new(threads);
    let names: Vec<String> = (0..threads).map(|t| format!("vip/t{t}")).collect();
    let results: Vec<Result<Version, StoreError>> = std::thread::scope(|s| {
        let joins: Vec<_> = names
            .iter()
            .map(|name| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let c = sample_catalog(&[name.as_str()]);
                    barrier.wait();
                    h.commit_catalog(Some(v1), &c)
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one racing editor wins");
    for r in &results {
        if let Err(e) = r {
            assert!(
                e.is_conflict(),
                "a losing editor must get Conflict, got {e}"
            );
        }
    }
    let cur = must(store.catalog(), "get").expect("stored");
    assert_eq!(cur.version, Version::new(2));
    assert_eq!(cur.value.live_count(), 1, "the winner's catalog, whole");
}
