//! Conformance scenarios for [`PurchaseStore`].

use std::sync::Barrier;

use super::{Factory, fen, minutes, must};
use crate::id::{PatientId, PurchaseId};
use crate::journey::{Category, DaysSupply, Purchase};
use crate::store::{PurchaseStore, RecordCursor, StoreError};

/// Runs every purchase scenario, each on a fresh store.
pub fn run_all<S: PurchaseStore + Send>(factory: &impl Factory<S>) {
    purchases_append_and_read_back(&mut factory.fresh());
    purchase_appends_are_idempotent_and_conflicts_name_the_id(&mut factory.fresh());
    purchases_by_period_are_half_open_and_paged(&mut factory.fresh());
    erased_categories_stay_erased(&mut factory.fresh());
    racing_purchase_retries_store_each_once(factory, 4, 16);
}

/// Purchase `id` of `patient`, `minute` minutes after [`scenario_now`](super::scenario_now), in `category`.
pub fn sample_purchase(id: u64, patient: u64, minute: i64, category: &str) -> Purchase {
    Purchase {
        id: PurchaseId::new(id),
        patient: PatientId::new(patient),
        at: minutes(minute),
        amount: fen(id, 1_000),
        category: Some(must(Category::parse(category), "sample category")),
        days_supply: DaysSupply::new(30).ok(),
    }
}

fn purchase_ids(p: &[Purchase]) -> Vec<u64> {
    p.iter().map(|p| p.id.get()).collect()
}

/// Appended purchases read back by id, by patient and by period, whole and in order.
pub fn purchases_append_and_read_back<S: PurchaseStore>(store: &mut S) {
    let batch = [
        sample_purchase(2, 1, 5, "herbal"),
        sample_purchase(1, 1, 5, "course"),
        sample_purchase(3, 2, 0, "device"),
    ];
    assert_eq!(must(store.append_purchases(&batch), "append"), 3);
    assert_eq!(
        must(store.purchase(PurchaseId::new(2)), "get"),
        Some(batch[0].clone())
    );
    assert_eq!(must(store.purchase(PurchaseId::new(9)), "get"), None);
    let of = must(store.purchases_of(PatientId::new(1)), "by patient");
    assert_eq!(purchase_ids(&of), vec![1, 2]);
    assert_eq!(of[1], batch[0]);
    let period = must(
        store.purchases_in(minutes(0)..minutes(6), None, 9),
        "period",
    );
    assert_eq!(purchase_ids(&period), vec![3, 1, 2]);
}

/// Retries are no-ops; the same id with other content is a `RecordConflict` naming it,
/// and the batch writes nothing.
pub fn purchase_appends_are_idempotent_and_conflicts_name_the_id<S: PurchaseStore>(store: &mut S) {
    let batch = [
        sample_purchase(1, 1, 0, "herbal"),
        sample_purchase(2, 1, 1, "herbal"),
    ];
    assert_eq!(must(store.append_purchases(&batch), "append"), 2);
    assert_eq!(must(store.append_purchases(&batch), "retry"), 0);
    let changed = sample_purchase(2, 1, 1, "course");
    match store.append_purchases(&[sample_purchase(3, 1, 2, "herbal"), changed]) {
        Err(StoreError::RecordConflict { what, id }) => {
            assert_eq!((what, id.as_str()), ("purchase", "O2"));
        }
        other => panic!("a changed purchase must be a RecordConflict, got {other:?}"),
    }
    assert_eq!(must(store.purchase(PurchaseId::new(3)), "get"), None);
    assert_eq!(
        must(store.purchase(PurchaseId::new(2)), "get"),
        Some(batch[1].clone()),
        "the stored purchase is unchanged"
    );
}

/// A period is half-open, and pages return every purchase once, in `(at, id)` order.
pub fn purchases_by_period_are_half_open_and_paged<S: PurchaseStore>(store: &mut S) {
    let batch: Vec<Purchase> = (1..=7)
        .map(|id| sample_purchase(id, id % 2, (id as i64 / 2) * 10, "herbal"))
        .collect();
    must(store.append_purchases(&batch), "append");
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = must(
            store.purchases_in(minutes(10)..minutes(30), after, 2),
            "page",
        );
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(RecordCursor::after(last));
        seen.extend(purchase_ids(&page));
    }
    assert_eq!(seen, vec![2, 3, 4, 5], "minutes 10 and 20, not 30");
}

/// Erasing a patient's categories removes them from every purchase of theirs, keeps the
/// rest and other patients' categories, is idempotent, and applies to later appends, which
/// match the erased records.
pub fn erased_categories_stay_erased<S: PurchaseStore>(store: &mut S) {
    let mine = sample_purchase(1, 1, 0, "insulin");
    let theirs = sample_purchase(2, 2, 0, "insulin");
    must(
        store.append_purchases(&[mine.clone(), theirs.clone()]),
        "append",
    );
    must(store.erase_purchase_categories(PatientId::new(1)), "erase");
    must(
        store.erase_purchase_categories(PatientId::new(1)),
        "erase again",
    );
    let got = must(store.purchase(mine.id), "get").expect("the purchase is kept");
    assert_eq!(got.category, None, "the category is erased");
    assert_eq!(
        (got.amount, got.at, got.days_supply),
        (mine.amount, mine.at, mine.days_supply),
        "the rest is kept"
    );
    assert_eq!(must(store.purchase(theirs.id), "get"), Some(theirs));
    assert_eq!(
        must(
            store.append_purchases(std::slice::from_ref(&mine)),
            "replay"
        ),
        0,
        "replaying the original append matches the erased record"
    );
    let late = sample_purchase(3, 1, 5, "insulin");
    assert_eq!(
        must(store.append_purchases(std::slice::from_ref(&late)), "late"),
        1
    );
    assert_eq!(
        must(store.purchase(late.id), "get").and_then(|p| p.category),
        None,
        "a purchase appended after the erasure is stored without its category"
    );
    let of = must(store.purchases_of(PatientId::new(1)), "by patient");
    assert!(of.iter().all(|p| p.category.is_none()));
    assert_eq!(purchase_ids(&of), vec![1, 3]);
}

/// As [`racing_visit_retries_store_each_once`](super::visit_store::racing_visit_retries_store_each_once),
/// for purchases.
pub fn racing_purchase_retries_store_each_once<S: PurchaseStore + Send>(
    factory: &impl Factory<S>,
    threads: usize,
    per_thread: u64,
) {
    let store = factory.fresh();
    let barrier = Barrier::new(threads);
    let added: usize = std::thread::scope(|s| {
        let joins: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = factory.handle(&store);
                let barrier = &barrier;
                s.spawn(move || {
                    let from = t as u64 * per_thread / 2;
                    let batch: Vec<Purchase> = (from..from + per_thread)
                        .map(|id| sample_purchase(id + 1, id % 5, id as i64, "herbal"))
                        .collect();
                    barrier.wait();
                    let mut added = 0;
                    for _ in 0..3 {
                        added += must(h.append_purchases(&batch), "racing append");
                    }
                    added
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().expect("thread")).sum()
    });
    let distinct = (threads as u64 - 1) * per_thread / 2 + per_thread;
    let all = must(
        store.purchases_in(minutes(-1)..minutes(10_000), None, usize::MAX),
        "all",
    );
    assert_eq!(
        all.len() as u64,
        distinct,
        "every purchase stored exactly once"
    );
    assert_eq!(
        added as u64, distinct,
        "each purchase was new to exactly one append"
    );
}
