//! The `clinic-ops` conformance kit against SQLite: one fresh database file per scenario,
//! one connection per racing thread.

use std::sync::atomic::{AtomicU64, Ordering};

use clinic_ops::testkit::{self, Factory};
use clinic_ops_sqlite::SqliteStore;
use tempfile::TempDir;

/// `fresh`: a new database file in a temporary directory that lives as long as the
/// factory; `handle`: a new connection on the same file.
struct TempFiles {
    dir: TempDir,
    next: AtomicU64,
}

impl TempFiles {
    fn new() -> Self {
        TempFiles {
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicU64::new(0),
        }
    }
}

impl Factory<SqliteStore> for TempFiles {
    fn fresh(&self) -> SqliteStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(self.dir.path().join(format!("s{n}.db"))).expect("open fresh db")
    }

    fn handle(&self, s: &SqliteStore) -> SqliteStore {
        s.reopen().expect("second connection")
    }
}

#[test]
fn sqlite_patient_store_conforms() {
    testkit::patient_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_task_store_conforms() {
    testkit::task_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_referral_store_conforms() {
    testkit::referral_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_usage_store_conforms() {
    testkit::usage_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_ledger_store_conforms() {
    testkit::ledger_store::run_all(&TempFiles::new());
}
