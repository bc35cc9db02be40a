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
fn sqlite_contact_store_conforms() {
    testkit::contact_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_group_store_conforms() {
    testkit::group_store::run_all(&TempFiles::new());
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

#[test]
fn sqlite_visit_store_conforms() {
    testkit::visit_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_purchase_store_conforms() {
    testkit::purchase_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_tag_catalog_store_conforms() {
    testkit::tag_catalog_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_campaign_book_store_conforms() {
    testkit::campaign_book_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_content_store_conforms() {
    testkit::content_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_outreach_event_store_conforms() {
    testkit::outreach_event_store::run_all(&TempFiles::new());
}

/// A second connection inside an open read transaction: its snapshot predates whatever is
/// committed while it lives.
fn hold_snapshot(s: &SqliteStore) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(s.path()).expect("reader connection");
    c.execute_batch("BEGIN").expect("begin read");
    let n: i64 = c
        .query_row("SELECT count(*) FROM patients", [], |r| r.get(0))
        .expect("read inside the transaction");
    assert!(n > 0, "the reader sees the patients");
    c
}

/// Every file of the database, raw: main, `-wal`, `-shm` and `-journal`.
fn stored_bytes(s: &SqliteStore) -> Vec<u8> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = s.path().as_os_str().to_owned();
        name.push(suffix);
        match std::fs::read(&name) {
            Ok(bytes) => out.extend(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("reading {}: {e}", std::path::Path::new(&name).display()),
        }
    }
    out
}

#[test]
fn sqlite_erasure_leaves_no_trace_in_any_file() {
    testkit::erasure::run_all(&TempFiles::new(), hold_snapshot, stored_bytes);
}

/// Rows edited outside the adapter come back as a typed decode error, never as a value
/// the domain types would have refused: a book with a duplicate campaign id, a purchase
/// with an empty category.
#[test]
fn stored_documents_and_records_are_validated_on_read() {
    use clinic_ops::id::{ClinicId, PurchaseId};
    use clinic_ops::store::{CampaignBookStore, PurchaseStore, StoreError};
    use clinic_ops_sqlite::SqliteError;

    let files = TempFiles::new();
    let mut s = files.fresh();
    let c = ClinicId::new(1);
    s.commit_book(c, None, &testkit::campaign_book_store::sample_book(10))
        .expect("commit");
    s.append_purchases(&[testkit::purchase_store::sample_purchase(1, 1, 0, "herbal")])
        .expect("append");
    let raw = rusqlite::Connection::open(s.path()).expect("raw connection");
    let book: String = raw
        .query_row("SELECT book FROM campaign_books", [], |r| r.get(0))
        .expect("book row");
    let mut spec: serde_json::Value = serde_json::from_str(&book).expect("json");
    let first = spec["campaigns"][0].clone();
    spec["campaigns"]
        .as_array_mut()
        .expect("campaigns")
        .push(first);
    raw.execute(
        "UPDATE campaign_books SET book = ?1",
        [serde_json::to_string(&spec).expect("json")],
    )
    .expect("tamper book");
    raw.execute(
        "UPDATE purchases SET record = json_set(record, '$.category', '')",
        [],
    )
    .expect("tamper purchase");
    drop(raw);
    let decode = |e: StoreError| match e {
        StoreError::Backend(b) => matches!(
            b.downcast_ref::<SqliteError>(),
            Some(SqliteError::Decode { .. })
        ),
        _ => false,
    };
    assert!(decode(s.book(c).expect_err("a duplicate campaign id")));
    assert!(decode(
        s.book_at(c, clinic_ops::store::Version::FIRST)
            .expect_err("the same at its version")
    ));
    assert!(decode(
        s.purchase(PurchaseId::new(1))
            .expect_err("an empty category")
    ));
}

#[test]
fn sqlite_appointment_store_conforms() {
    testkit::appointment_store::run_all(&TempFiles::new());
}

#[test]
fn sqlite_feedback_store_conforms() {
    testkit::appointment_store::run_all_feedback(&TempFiles::new());
}
