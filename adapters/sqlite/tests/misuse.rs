//! Corruption and misuse: every way of opening the wrong file gives a typed error.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use clinic_ops::id::PatientId;
use clinic_ops::patient::{self, PatientCommand};
use clinic_ops::store::{PatientStore, StoreError};
use clinic_ops::testkit::{patient_store::registration, scenario_now};
use clinic_ops_sqlite::{SqliteError, SqliteStore};

fn register(store: &mut SqliteStore, n: u64) -> Result<clinic_ops::store::Version, StoreError> {
    let id = PatientId::new(n);
    let events = patient::decide(
        None,
        id,
        &PatientCommand::Register(registration(n)),
        scenario_now(),
        Default::default(),
    )
    .expect("register");
    store.commit(id, None, &events)
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "patient notes, not a database\n".repeat(200)).unwrap();
    match SqliteStore::open(&path) {
        Err(SqliteError::NotADatabase { path: p }) => assert_eq!(p, path),
        other => panic!("expected NotADatabase, got {other:?}"),
    }
    assert!(matches!(
        SqliteStore::open_read_only(&path),
        Err(SqliteError::NotADatabase { .. })
    ));
    let text = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(text.ends_with("notes.db is not a database"), "{text}");
}

#[test]
fn a_database_with_a_garbled_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        register(&mut s, 1).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"not sqlite at al");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(SqliteError::NotADatabase { .. })
    ));
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let newer = SqliteStore::LATEST_SCHEMA_VERSION + 1;
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", newer).unwrap();
    }
    for r in [SqliteStore::open(&path), SqliteStore::open_read_only(&path)] {
        match r {
            Err(e @ SqliteError::NewerSchema { found, supported }) => {
                assert_eq!(
                    (found, supported),
                    (newer, SqliteStore::LATEST_SCHEMA_VERSION)
                );
                assert!(e.to_string().contains("newer"), "{e}");
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer, "a refused file is not migrated");
}

#[test]
fn schema_is_created_once_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut a = SqliteStore::open(&path).unwrap();
    assert_eq!(
        a.schema_version().unwrap(),
        SqliteStore::LATEST_SCHEMA_VERSION
    );
    register(&mut a, 1).unwrap();
    drop(a);
    let b = SqliteStore::open(&path).unwrap();
    assert!(
        b.get(PatientId::new(1)).unwrap().is_some(),
        "reopening keeps data"
    );
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_read_only_handle_refuses_commits_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    register(&mut SqliteStore::open(&path).unwrap(), 1).unwrap();
    let mut ro = SqliteStore::open_read_only(&path).unwrap();
    assert!(ro.is_read_only());
    assert!(ro.get(PatientId::new(1)).unwrap().is_some(), "reads work");
    match register(&mut ro, 2) {
        Err(StoreError::Backend(e)) => assert!(
            matches!(
                e.downcast_ref::<SqliteError>(),
                Some(SqliteError::ReadOnly { .. })
            ),
            "{e}"
        ),
        other => panic!("expected Backend(ReadOnly), got {other:?}"),
    }
    assert!(ro.get(PatientId::new(2)).unwrap().is_none());
}

#[test]
fn a_read_only_handle_refuses_an_unmigrated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    assert!(matches!(
        SqliteStore::open_read_only(&path),
        Err(SqliteError::OutdatedSchema { found: 0, .. })
    ));
}

/// Makes a file immutable with `chattr +i` for as long as it lives, and mutable again on
/// drop so that the temporary directory can be removed.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn set(path: &'a Path) -> Option<Self> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Immutable(path))
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

fn os_refuses_writes(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_err()
}

/// A file the OS will not let us write is refused by `open` with `SqliteError::ReadOnly`,
/// and still opens with `open_read_only`.
///
/// Mode 0444 is tried first. Root ignores file modes, so when the test runs as root (as in
/// this project's CI) it makes the file immutable with `chattr +i` instead, which binds
/// root too. Only if neither protection holds (no `chattr`, a file system without the
/// attribute) does it fall back to checking that the open succeeds, and says so.
#[test]
fn a_write_protected_file_is_refused_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    register(&mut SqliteStore::open(&path).unwrap(), 1).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let _guard = if os_refuses_writes(&path) {
        None
    } else {
        Immutable::set(&path)
    };
    if !os_refuses_writes(&path) {
        eprintln!("neither mode 0444 nor chattr +i stops writes here: only checking open works");
        assert!(SqliteStore::open(&path).is_ok());
        return;
    }
    match SqliteStore::open(&path) {
        Err(e @ SqliteError::ReadOnly { .. }) => {
            assert!(e.to_string().ends_with("locked.db is read-only"), "{e}");
        }
        other => panic!("expected ReadOnly, got {other:?}"),
    }
    let ro = SqliteStore::open_read_only(&path).unwrap();
    assert!(ro.get(PatientId::new(1)).unwrap().is_some());
}

/// Several connections opening a brand-new file at the same moment: one creates and
/// migrates the schema, the others wait for it, and all end up on the latest version.
#[test]
fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let barrier = std::sync::Barrier::new(4);
    let versions: Vec<i64> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    SqliteStore::open(&path).unwrap().schema_version().unwrap()
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    assert_eq!(versions, vec![SqliteStore::LATEST_SCHEMA_VERSION; 4]);
}

/// Garbage written over the middle of a database: the header still opens, and the first
/// read that reaches a damaged page gets a typed error (never a panic, never wrong data).
#[test]
fn damaged_pages_give_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        for n in 1..=1_000 {
            register(&mut s, n).unwrap();
        }
        // Fold the WAL into the main file, so the damage below hits the only copy.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    // The migrations allocate the schema's pages and every table's root page first; the
    // damage starts past them (the schema outgrew the first two pages with migration 5).
    let start = 32 * 4096;
    assert!(
        bytes.len() > 2 * start,
        "the file spans many pages past the schema"
    );
    let end = bytes.len() - 4096;
    for b in &mut bytes[start..end] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let store = SqliteStore::open(&path).expect("the header and schema pages are intact");
    match store.scan(None, 1000) {
        Err(StoreError::Backend(e)) => assert!(
            matches!(
                e.downcast_ref::<SqliteError>(),
                Some(SqliteError::Corrupt { .. })
            ),
            "{e}"
        ),
        other => panic!(
            "a scan over damaged pages must fail, got {:?}",
            other.map(|v| v.len())
        ),
    }
}
