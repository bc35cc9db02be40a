//! Erasure on SQLite beyond the conformance scenario: when the write-ahead log is truncated,
//! what a reader of an older snapshot delays, and who finishes the job.

use std::path::Path;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::PatientId;
use clinic_ops::patient::{self, PatientCommand, PersonName};
use clinic_ops::store::{PatientStore, erase_patient};
use clinic_ops::testkit::{patient_store::registration, scenario_now};
use clinic_ops_sqlite::SqliteStore;

const NAME: &str = "欧阳娜娜";
const MOBILE: &str = "13900000001";

fn register(store: &mut SqliteStore, n: u64) {
    let id = PatientId::new(n);
    let mut reg = registration(n);
    if n == 1 {
        reg.name = PersonName::parse(NAME).unwrap();
    }
    let events = patient::decide(
        None,
        id,
        &PatientCommand::Register(reg),
        scenario_now(),
        ClinicCalendar::default(),
    )
    .unwrap();
    PatientStore::commit(store, id, None, &events).unwrap();
}

fn erase(store: &mut SqliteStore) {
    let _ = erase_patient(
        store,
        PatientId::new(1),
        scenario_now(),
        ClinicCalendar::default(),
        3,
    )
    .unwrap();
}

fn file(path: &Path, suffix: &str) -> Vec<u8> {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::fs::read(name).unwrap_or_default()
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn anywhere(path: &Path, needle: &str) -> bool {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .any(|s| holds(&file(path, s), needle))
}

fn reader(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("BEGIN").unwrap();
    let _: i64 = c
        .query_row("SELECT count(*) FROM patients", [], |r| r.get(0))
        .unwrap();
    c
}

#[test]
fn with_no_older_snapshot_the_erasing_commit_truncates_the_log_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let idle = store.reopen().unwrap();
    for n in 1..=3 {
        register(&mut store, n);
    }
    assert!(holds(&file(&path, "-wal"), NAME), "the log holds the name");
    erase(&mut store);
    assert!(!store.erasure_pending().unwrap());
    for needle in [NAME, MOBILE] {
        assert!(!anywhere(&path, needle), "{needle} survived");
    }
    // Only the pending row's own page was written after the truncation.
    assert!(file(&path, "-wal").len() < 3 * 4096 + 32 + 3 * 24);
    store.complete_erasure().unwrap();
    drop(idle);
}

#[test]
fn an_older_snapshot_delays_the_truncation_to_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let mut other = store.reopen().unwrap();
    register(&mut store, 1);
    let old = reader(&path);
    erase(&mut store);
    // The reader may still see the old row, so its page images must stay for now.
    assert!(store.erasure_pending().unwrap());
    assert!(other.erasure_pending().unwrap(), "every handle sees it");
    assert!(anywhere(&path, NAME));
    let name: String = old
        .query_row("SELECT state FROM patients WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert!(
        name.contains(NAME),
        "the older snapshot still reads the row"
    );
    drop(old);
    // Any write on any handle finishes it, not only the erasing one.
    register(&mut other, 2);
    assert!(!store.erasure_pending().unwrap());
    assert!(!anywhere(&path, NAME));
    assert!(!anywhere(&path, MOBILE));
}

#[test]
fn complete_erasure_finishes_once_the_snapshot_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = SqliteStore::open(&path).unwrap();
    register(&mut store, 1);
    let old = reader(&path);
    erase(&mut store);
    assert!(store.erasure_pending().unwrap());
    drop(old);
    store.complete_erasure().unwrap();
    assert!(!store.erasure_pending().unwrap());
    assert!(!anywhere(&path, NAME));
    // Only the pending row's own page was written after the truncation.
    assert!(file(&path, "-wal").len() < 3 * 4096 + 32 + 3 * 24);
}

#[test]
fn opening_the_file_finishes_an_erasure_left_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let keep_open = store.reopen().unwrap();
    register(&mut store, 1);
    let old = reader(&path);
    erase(&mut store);
    drop(old);
    drop(store);
    assert!(keep_open.erasure_pending().unwrap());
    let fresh = SqliteStore::open(&path).unwrap();
    assert!(!fresh.erasure_pending().unwrap());
    assert!(!anywhere(&path, NAME));
    drop(keep_open);
}

#[test]
fn a_read_only_handle_reports_but_does_not_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = SqliteStore::open(&path).unwrap();
    register(&mut store, 1);
    let old = reader(&path);
    erase(&mut store);
    let mut ro = SqliteStore::open_read_only(&path).unwrap();
    assert!(ro.erasure_pending().unwrap());
    assert!(matches!(
        ro.complete_erasure(),
        Err(clinic_ops_sqlite::SqliteError::ReadOnly { .. })
    ));
    drop(old);
    store.complete_erasure().unwrap();
    assert!(!ro.erasure_pending().unwrap());
}
