//! Conformance scenarios for [`VisitStore`].

use chrono::{DateTime, Utc};
use std::sync::Barrier;

use super::{Factory, fen, minutes, must};
use crate::id::{ClinicId, DoctorId, PatientId, VisitId};
use crate::journey::Visit;
use crate::money::Yuan;
use crate::store::{RecordCursor, StoreError, VisitStore};

/// Runs every visit scenario, each on a fresh store.
pub fn run_all<S: VisitStore + Send>(factory: &impl Factory<S>) {
    visits_append_and_read_back(&mut factory.fresh());
    visit_appends_are_idempotent(&mut factory.fresh());
    visit_conflicts_name_the_id_and_write_nothing(&mut factory.fresh());
    visit_refunds_are_set_once(&mut factory.fresh());
    visits_by_period_are_half_open_and_paged(&mut factory.fresh());
    out_of_range_visits_are_refused(&mut factory.fresh());
    racing_visit_retries_store_each_once(factory, 4, 16);
}

/// Visit `id` of `patient`, `minute` minutes after [`scenario_now`](super::scenario_now), ¥`id` paid.
pub fn sample_visit(id: u64, patient: u64, minute: i64) -> Visit {
    Visit {
        id: VisitId::new(id),
        patient: PatientId::new(patient),
        at: minutes(minute),
        clinic: ClinicId::new(1),
        doctor: Some(DoctorId::new(7)),
        paid: fen(id, 100),
        refunded_at: None,
    }
}

fn visit_ids(v: &[Visit]) -> Vec<u64> {
    v.iter().map(|v| v.id.get()).collect()
}

/// Appended visits read back by id and by patient, in `(at, id)` order whatever the
/// append order; an unknown id is `None`.
pub fn visits_append_and_read_back<S: VisitStore>(store: &mut S) {
    let batch = [
        sample_visit(3, 1, 20),
        sample_visit(1, 1, 10),
        sample_visit(2, 2, 10),
        sample_visit(5, 1, 10),
    ];
    assert_eq!(must(store.append_visits(&batch), "append"), 4);
    assert_eq!(
        must(store.visit(VisitId::new(3)), "get"),
        Some(batch[0].clone())
    );
    assert_eq!(must(store.visit(VisitId::new(4)), "get"), None);
    let of = must(store.visits_of(PatientId::new(1)), "by patient");
    assert_eq!(visit_ids(&of), vec![1, 5, 3], "by time, then id");
    assert_eq!(of[2], batch[0], "read back whole");
    assert!(must(store.visits_of(PatientId::new(9)), "by patient").is_empty());
    assert_eq!(
        must(store.append_visits(&[]), "empty append"),
        0,
        "an empty append writes nothing"
    );
}

/// Appending the same visits again (a retry) stores nothing new and changes nothing.
pub fn visit_appends_are_idempotent<S: VisitStore>(store: &mut S) {
    let batch = [sample_visit(1, 1, 0), sample_visit(2, 1, 5)];
    assert_eq!(must(store.append_visits(&batch), "append"), 2);
    assert_eq!(must(store.append_visits(&batch), "retry"), 0);
    let mixed = [sample_visit(2, 1, 5), sample_visit(3, 1, 9)];
    assert_eq!(
        must(store.append_visits(&mixed), "a batch half stored"),
        1,
        "only the new visit counts"
    );
    assert_eq!(
        must(
            store.append_visits(&[sample_visit(4, 1, 1), sample_visit(4, 1, 1)]),
            "a batch repeating a visit"
        ),
        1
    );
    assert_eq!(
        visit_ids(&must(store.visits_of(PatientId::new(1)), "by patient")),
        vec![1, 4, 2, 3]
    );
}

/// The same id with other content is a `RecordConflict` naming the id, and the whole batch
/// is refused.
pub fn visit_conflicts_name_the_id_and_write_nothing<S: VisitStore>(store: &mut S) {
    must(store.append_visits(&[sample_visit(1, 1, 0)]), "append");
    let mut changed = sample_visit(1, 1, 0);
    changed.paid = Yuan::from_fen(1);
    match store.append_visits(&[sample_visit(2, 1, 1), changed.clone()]) {
        Err(StoreError::RecordConflict { what, id }) => {
            assert_eq!((what, id.as_str()), ("visit", "V1"));
        }
        other => panic!("a changed visit must be a RecordConflict, got {other:?}"),
    }
    assert_eq!(
        must(store.visit(VisitId::new(2)), "get"),
        None,
        "a refused batch writes none of its visits"
    );
    assert!(
        matches!(
            store.append_visits(&[sample_visit(3, 1, 0), {
                let mut v = sample_visit(3, 1, 0);
                v.clinic = ClinicId::new(2);
                v
            }]),
            Err(StoreError::RecordConflict { .. })
        ),
        "two versions of one visit in a batch conflict"
    );
    assert_eq!(must(store.visit(VisitId::new(3)), "get"), None);
    let e = store
        .append_visits(&[changed])
        .err()
        .map(|e| e.is_conflict());
    assert_eq!(
        e,
        Some(false),
        "a record conflict is not a version conflict: retrying cannot help"
    );
}

/// A refund is set once: again at the same instant is a no-op, at another a conflict; a
/// replay of the unrefunded append keeps it; an unknown visit is `NotFound`.
pub fn visit_refunds_are_set_once<S: VisitStore>(store: &mut S) {
    let v = sample_visit(1, 1, 0);
    must(store.append_visits(std::slice::from_ref(&v)), "append");
    let at = minutes(30);
    let refunded = must(store.refund_visit(v.id, at), "refund");
    assert_eq!(refunded.refunded_at, Some(at));
    assert_eq!(must(store.visit(v.id), "get"), Some(refunded.clone()));
    assert_eq!(must(store.refund_visit(v.id, at), "again"), refunded);
    assert!(matches!(
        store.refund_visit(v.id, minutes(31)),
        Err(StoreError::RecordConflict { .. })
    ));
    assert_eq!(
        must(store.append_visits(std::slice::from_ref(&v)), "replay"),
        0
    );
    assert_eq!(
        must(store.visit(v.id), "get"),
        Some(refunded.clone()),
        "replaying the first append keeps the refund"
    );
    assert!(matches!(
        store.refund_visit(VisitId::new(9), at),
        Err(StoreError::NotFound { .. })
    ));
    // A refund may also arrive as an append of the refunded visit.
    let w = sample_visit(2, 1, 1);
    must(store.append_visits(std::slice::from_ref(&w)), "append");
    let r = Visit {
        refunded_at: Some(at),
        ..w
    };
    assert_eq!(
        must(
            store.append_visits(std::slice::from_ref(&r)),
            "refund by append"
        ),
        0
    );
    assert_eq!(must(store.visit(r.id), "get"), Some(r));
    let of = must(store.visits_of(PatientId::new(1)), "by patient");
    assert_eq!(visit_ids(&of), vec![1, 2], "a refund moves nothing");
    assert_eq!(
        must(
            store.visits_in(minutes(0)..minutes(2), None, 10),
            "by period"
        )
        .len(),
        2
    );
}

/// A period is `start <= at < end`; pages continue strictly after their cursor, in
/// `(at, id)` order, and together return every visit once.
pub fn visits_by_period_are_half_open_and_paged<S: VisitStore>(store: &mut S) {
    let mut batch = vec![];
    for (id, minute) in [(1, 0), (2, 10), (3, 10), (4, 10), (5, 20), (6, 30), (7, -1)] {
        batch.push(sample_visit(id, id % 3, minute));
    }
    must(store.append_visits(&batch), "append");
    let all = must(
        store.visits_in(minutes(0)..minutes(30), None, 100),
        "period",
    );
    assert_eq!(
        visit_ids(&all),
        vec![1, 2, 3, 4, 5],
        "start included, end excluded"
    );
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = must(store.visits_in(minutes(0)..minutes(30), after, 2), "page");
        assert!(page.len() <= 2, "a page is at most `limit` long");
        let Some(last) = page.last() else { break };
        after = Some(RecordCursor::after(last));
        seen.extend(visit_ids(&page));
    }
    assert_eq!(
        seen,
        vec![1, 2, 3, 4, 5],
        "pages split ties at one instant by id"
    );
    assert!(must(store.visits_in(minutes(10)..minutes(10), None, 9), "empty").is_empty());
    assert!(
        must(
            store.visits_in(minutes(30)..minutes(0), None, 9),
            "reversed"
        )
        .is_empty()
    );
    assert!(must(store.visits_in(minutes(0)..minutes(30), None, 0), "limit 0").is_empty());
}

/// Instants outside the crate's range are refused with a backend error, and nothing is
/// written.
pub fn out_of_range_visits_are_refused<S: VisitStore>(store: &mut S) {
    let mut v = sample_visit(1, 1, 0);
    v.at = DateTime::<Utc>::MAX_UTC;
    assert!(matches!(
        store.append_visits(&[sample_visit(2, 1, 0), v]),
        Err(StoreError::Backend(_))
    ));
    assert_eq!(must(store.visit(VisitId::new(2)), "get"), None);
    must(store.append_visits(&[sample_visit(3, 1, 0)]), "append");
    assert!(matches!(
        store.refund_visit(VisitId::new(3), DateTime::<Utc>::MIN_UTC),
        Err(StoreError::Backend(_))
    ));
}

/// Several threads append overlapping batches at once, each retrying its whole batch
/// twice (as a host does after a timeout): every visit is stored once, and the counts of
/// new visits the threads saw add up to the visits stored.
pub fn racing_visit_retries_store_each_once<S: VisitStore + Send>(
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
                    // Thread t covers ids t·n/2 .. t·n/2 + n: each half overlaps a neighbour.
                    let from = t as u64 * per_thread / 2;
                    let batch: Vec<Visit> = (from..from + per_thread)
                        .map(|id| sample_visit(id + 1, id % 5, id as i64))
                        .collect();
                    barrier.wait();
                    let mut added = 0;
                    for _ in 0..3 {
                        added += must(h.append_visits(&batch), "racing append");
                    }
                    added
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().expect("thread")).sum()
    });
    let distinct = (threads as u64 - 1) * per_thread / 2 + per_thread;
    let stored: usize = (0..5)
        .map(|p| must(store.visits_of(PatientId::new(p)), "by patient").len())
        .sum();
    assert_eq!(stored as u64, distinct, "every visit stored exactly once");
    assert_eq!(
        added as u64, distinct,
        "each visit was new to exactly one append"
    );
}
