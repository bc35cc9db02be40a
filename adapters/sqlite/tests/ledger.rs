//! The ledger's per-handle cache stays true to the file: appends through other
//! connections, refused appends and empty appends.

use clinic_ops::id::PatientId;
use clinic_ops::store::{LedgerStore, StoreError};
use clinic_ops::testkit::ledger_batches::commit_batch;
use clinic_ops_sqlite::{SqliteError, SqliteStore};

fn open_pair() -> (tempfile::TempDir, SqliteStore, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(dir.path().join("l.db")).unwrap();
    let b = a.reopen().unwrap();
    (dir, a, b)
}

#[test]
fn a_handle_sees_appends_made_through_another() {
    let (_dir, mut a, mut b) = open_pair();
    let id = PatientId::new(3);
    let v1 = a.append(id, None, &commit_batch(id, 1, 0)).unwrap();
    let first = a.load(id).unwrap().unwrap();
    assert_eq!(b.load(id).unwrap().unwrap(), first);
    let n = first.value.len() as u64;
    let v2 = b.append(id, Some(v1), &commit_batch(id, 2, n)).unwrap();
    let seen = a.load(id).unwrap().unwrap();
    assert_eq!(seen.version, v2);
    assert_eq!(seen, b.load(id).unwrap().unwrap());
    assert_eq!(
        seen,
        SqliteStore::open(a.path())
            .unwrap()
            .load(id)
            .unwrap()
            .unwrap(),
        "a cold handle reads the same"
    );
    // a's cache was at v2 after that load; its own append extends it.
    let v3 = a
        .append(id, Some(v2), &commit_batch(id, 3, seen.value.len() as u64))
        .unwrap();
    assert_eq!(a.load(id).unwrap().unwrap(), b.load(id).unwrap().unwrap());
    assert_eq!(a.load(id).unwrap().unwrap().version, v3);
}

#[test]
fn refused_and_empty_appends_leave_the_ledger_as_it_was() {
    let (_dir, mut a, b) = open_pair();
    let id = PatientId::new(4);
    let v1 = a.append(id, None, &commit_batch(id, 1, 0)).unwrap();
    let before = a.load(id).unwrap().unwrap();
    let n = before.value.len() as u64;
    assert!(matches!(
        a.append(id, None, &commit_batch(id, 2, n)),
        Err(StoreError::Conflict { expected: None, actual: Some(v) }) if v == v1
    ));
    // A seq that does not follow: refused, nothing written.
    assert!(matches!(
        a.append(id, Some(v1), &commit_batch(id, 2, n + 5)),
        Err(StoreError::Backend(_))
    ));
    assert_eq!(a.append(id, Some(v1), &[]).unwrap(), v1);
    assert_eq!(a.load(id).unwrap().unwrap(), before);
    assert_eq!(b.load(id).unwrap().unwrap(), before);
    assert!(matches!(
        a.append(PatientId::new(5), None, &[]),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(a.load(PatientId::new(5)).unwrap(), None);
}

#[test]
fn rows_edited_behind_the_adapters_back_are_reported_not_trusted() {
    let (_dir, mut a, _b) = open_pair();
    let id = PatientId::new(6);
    let v1 = a.append(id, None, &commit_batch(id, 1, 0)).unwrap();
    let n = a.load(id).unwrap().unwrap().value.len() as u64;
    a.append(id, Some(v1), &commit_batch(id, 2, n)).unwrap();
    let raw = rusqlite::Connection::open(a.path()).unwrap();
    raw.execute(
        "DELETE FROM ledger_appends WHERE account = 6 AND version = 2",
        [],
    )
    .unwrap();
    let cold = SqliteStore::open(a.path()).unwrap();
    match cold.load(id) {
        Err(StoreError::Backend(e)) => assert!(
            matches!(
                e.downcast_ref::<SqliteError>(),
                Some(SqliteError::Inconsistent { .. })
            ),
            "{e}"
        ),
        other => panic!("expected an inconsistency, got {other:?}"),
    }
    raw.execute(
        "UPDATE ledger_appends SET postings = 'not json' WHERE account = 6",
        [],
    )
    .unwrap();
    match SqliteStore::open(a.path()).unwrap().load(id) {
        Err(StoreError::Backend(e)) => assert!(
            matches!(
                e.downcast_ref::<SqliteError>(),
                Some(SqliteError::Decode { .. })
            ),
            "{e}"
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }
}
