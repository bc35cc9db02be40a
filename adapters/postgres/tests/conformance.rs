//! The `clinic-ops` conformance kit against PostgreSQL: one fresh database per test, one
//! fresh schema (tenant) per scenario, and a new pool, so new connections, per racing
//! handle. Also the adapter's own rules: tenancy, schema versions, masking, validation on
//! read.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use clinic_ops::testkit::{self, Factory};
use clinic_ops_postgres::postgres::Client;
use clinic_ops_postgres::{PgError, PgOptions, PgStore};
use support::TestDb;

/// `fresh`: a new schema in the test's database; `handle`: a new pool on the same schema.
struct Schemas {
    db: TestDb,
    next: AtomicU64,
}

impl Schemas {
    fn new(tag: &str) -> Option<Self> {
        Some(Schemas {
            db: TestDb::create(tag)?,
            next: AtomicU64::new(0),
        })
    }
}

impl Factory<PgStore> for Schemas {
    fn fresh(&self) -> PgStore {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.db.store(&format!("s{n}"))
    }

    fn handle(&self, s: &PgStore) -> PgStore {
        PgStore::connect_config(self.db.config(), s.schema(), &PgOptions::default())
            .expect("second pool")
    }
}

macro_rules! conforms {
    ($name:ident, $module:ident) => {
        #[test]
        fn $name() {
            let Some(f) = Schemas::new(stringify!($module)) else {
                return;
            };
            testkit::$module::run_all(&f);
        }
    };
}

conforms!(postgres_patient_store_conforms, patient_store);
conforms!(postgres_task_store_conforms, task_store);
conforms!(postgres_referral_store_conforms, referral_store);
conforms!(postgres_usage_store_conforms, usage_store);
conforms!(postgres_ledger_store_conforms, ledger_store);
conforms!(postgres_visit_store_conforms, visit_store);
conforms!(postgres_purchase_store_conforms, purchase_store);
conforms!(postgres_tag_catalog_store_conforms, tag_catalog_store);
conforms!(postgres_campaign_book_store_conforms, campaign_book_store);
conforms!(postgres_contact_store_conforms, contact_store);
conforms!(postgres_group_store_conforms, group_store);
conforms!(postgres_appointment_store_conforms, appointment_store);
conforms!(postgres_content_store_conforms, content_store);
conforms!(postgres_outreach_event_store_conforms, outreach_event_store);

#[test]
fn postgres_feedback_store_conforms() {
    let Some(f) = Schemas::new("feedback_store") else {
        return;
    };
    testkit::appointment_store::run_all_feedback(&f);
}

/// A second connection inside an open repeatable-read transaction: its snapshot predates
/// whatever is committed while it lives.
fn hold_snapshot(db: &TestDb, s: &PgStore) -> Client {
    let mut c = db.raw(s.schema());
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .expect("begin read");
    let n: i64 = c
        .query_one("SELECT count(*) FROM patients", &[])
        .and_then(|r| r.try_get(0))
        .expect("read inside the transaction");
    assert!(n > 0, "the reader sees the patients");
    c
}

/// Every live row of every table in the store's schema, as text.
fn live_rows(db: &TestDb, s: &PgStore) -> Vec<u8> {
    let mut c = db.raw(s.schema());
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 ORDER BY table_name",
            &[&s.schema()],
        )
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() >= 15, "every table listed: {tables:?}");
    let mut out = Vec::new();
    for t in tables {
        for r in c
            .query(&format!("SELECT t::text FROM \"{t}\" t"), &[])
            .expect("rows")
        {
            let row: String = r.get(0);
            out.extend(row.into_bytes());
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn postgres_erasure_leaves_no_value_in_any_live_row() {
    let Some(f) = Schemas::new("erasure") else {
        return;
    };
    testkit::erasure::run_all(&f, |s| hold_snapshot(&f.db, s), |s| live_rows(&f.db, s));
    // Vacuuming the rewritten tables works on a store the role owns.
    f.fresh().vacuum_erased().expect("vacuum");
}

/// Rows edited outside the adapter come back as a typed decode error, never as a value
/// the domain types would have refused: a book with a duplicate campaign id, a purchase
/// with an empty category.
#[test]
fn stored_documents_and_records_are_validated_on_read() {
    use clinic_ops::id::{ClinicId, PurchaseId};
    use clinic_ops::store::{CampaignBookStore, PurchaseStore, StoreError, Version};

    let Some(f) = Schemas::new("tamper") else {
        return;
    };
    let mut s = f.fresh();
    let c = ClinicId::new(1);
    s.commit_book(c, None, &testkit::campaign_book_store::sample_book(10))
        .expect("commit");
    s.append_purchases(&[testkit::purchase_store::sample_purchase(1, 1, 0, "herbal")])
        .expect("append");
    let mut raw = f.db.raw(s.schema());
    let book: String = raw
        .query_one("SELECT book FROM campaign_books", &[])
        .expect("book row")
        .get(0);
    let mut spec: serde_json::Value = serde_json::from_str(&book).expect("json");
    let first = spec["campaigns"][0].clone();
    spec["campaigns"]
        .as_array_mut()
        .expect("campaigns")
        .push(first);
    let tampered = serde_json::to_string(&spec).expect("json");
    raw.execute("UPDATE campaign_books SET book = $1", &[&tampered])
        .expect("tamper book");
    raw.batch_execute(
        "UPDATE purchases SET record = jsonb_set(record::jsonb, '{category}', '\"\"')::text",
    )
    .expect("tamper purchase");
    let decode = |e: StoreError| match e {
        StoreError::Backend(b) => {
            matches!(b.downcast_ref::<PgError>(), Some(PgError::Decode { .. }))
        }
        _ => false,
    };
    assert!(decode(s.book(c).expect_err("a duplicate campaign id")));
    assert!(decode(
        s.book_at(c, Version::FIRST)
            .expect_err("the same at its version")
    ));
    assert!(decode(
        s.purchase(PurchaseId::new(1))
            .expect_err("an empty category")
    ));
}

fn register(
    s: &mut PgStore,
    n: u64,
    mobile: &str,
) -> Result<clinic_ops::store::Version, clinic_ops::store::StoreError> {
    use clinic_ops::calendar::ClinicCalendar;
    use clinic_ops::id::PatientId;
    use clinic_ops::patient::{self, MobileNumber, PatientCommand};
    use clinic_ops::store::PatientStore;
    let id = PatientId::new(n);
    let mut reg = testkit::patient_store::registration(n);
    reg.mobile = MobileNumber::parse(mobile).expect("mobile");
    let events = patient::decide(
        None,
        id,
        &PatientCommand::Register(reg),
        testkit::scenario_now(),
        ClinicCalendar::default(),
    )
    .expect("register");
    PatientStore::commit(s, id, None, &events)
}

/// Two chains in one database: each sees only its own schema's rows, and the same
/// patient id and mobile number live in both without a clash.
#[test]
fn tenants_in_one_database_never_see_each_other() {
    use clinic_ops::id::PatientId;
    use clinic_ops::patient::MobileNumber;
    use clinic_ops::store::PatientStore;

    let Some(db) = TestDb::create("tenancy") else {
        return;
    };
    let mut east = db.store("chain_east");
    let mut west = db.store("chain_west");
    register(&mut east, 1, "13900000001").expect("east");
    assert_eq!(
        PatientStore::get(&west, PatientId::new(1)).expect("get"),
        None
    );
    let m = MobileNumber::parse("13900000001").expect("mobile");
    assert_eq!(west.find_by_mobile(&m).expect("find"), None);
    register(&mut west, 1, "13900000001").expect("the same id and number in another chain");
    assert_eq!(
        east.find_by_mobile(&m).expect("find"),
        Some(PatientId::new(1))
    );
    assert_eq!(east.scan(None, 10).expect("scan").len(), 1);
    for bad in [
        "Chain",
        "a;drop table patients",
        "pg_catalog",
        "",
        "public\"",
    ] {
        assert!(
            matches!(
                PgStore::connect_config(db.config(), bad, &PgOptions::default()),
                Err(PgError::SchemaName { .. })
            ),
            "{bad:?} refused"
        );
    }
}

#[test]
fn a_schema_from_a_newer_adapter_is_refused() {
    let Some(db) = TestDb::create("newer") else {
        return;
    };
    let s = db.store("chain");
    assert_eq!(
        s.schema_version().expect("version"),
        PgStore::LATEST_SCHEMA_VERSION
    );
    drop(s);
    // Connecting again is a no-op migration.
    assert_eq!(
        db.store("chain").schema_version().expect("version"),
        PgStore::LATEST_SCHEMA_VERSION
    );
    db.raw("chain")
        .execute(
            "UPDATE clinic_ops_schema SET version = $1",
            &[&(PgStore::LATEST_SCHEMA_VERSION + 1)],
        )
        .expect("bump");
    match PgStore::connect_config(db.config(), "chain", &PgOptions::default()) {
        Err(PgError::NewerSchema { found, supported }) => {
            assert_eq!(
                (found, supported),
                (
                    PgStore::LATEST_SCHEMA_VERSION + 1,
                    PgStore::LATEST_SCHEMA_VERSION
                )
            );
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

/// A schema at version 1 (before contact logs, group events, appointments, feedback,
/// content, outreach rosters and feedback erasures) keeps its rows and gains the new
/// tables on connect.
#[test]
fn a_version_1_schema_is_migrated_in_place() {
    use clinic_ops::id::{AccountId, ClinicId, GroupId, OutreachEventId, PatientId};
    use clinic_ops::store::{
        AppointmentStore, CampaignBookStore, ContactStore, ContentStore, GroupStore,
        OutreachEventStore,
    };

    let Some(db) = TestDb::create("upgrade") else {
        return;
    };
    let mut s = db.store("chain");
    let c = ClinicId::new(1);
    // Both book ports have a `commit_book`: named in full.
    let book = CampaignBookStore::commit_book(
        &mut s,
        c,
        None,
        &testkit::campaign_book_store::sample_book(10),
    )
    .expect("commit");
    drop(s);
    // Back to version 1: what a database migrated by the first release holds.
    db.raw("chain")
        .batch_execute(
            "DROP TABLE group_events, group_series, contact_logs;
             DROP TABLE appointment_books, complaints, feedback;
             DROP TABLE content_posts, content_accounts, outreach_rosters;
             DROP TABLE feedback_erasures;
             UPDATE clinic_ops_schema SET version = 1",
        )
        .expect("downgrade");
    let s = db.store("chain");
    assert_eq!(
        s.schema_version().expect("version"),
        PgStore::LATEST_SCHEMA_VERSION
    );
    assert_eq!(s.book_version(c).expect("book"), Some(book));
    assert_eq!(s.get_contacts(PatientId::new(1)).expect("contacts"), None);
    assert_eq!(s.group_events(GroupId::new(1)).expect("group"), None);
    assert_eq!(
        AppointmentStore::get_book(&s, c).expect("appointment book"),
        None
    );
    assert_eq!(s.account(AccountId::new(1)).expect("account"), None);
    assert_eq!(
        OutreachEventStore::get(&s, OutreachEventId::new(1)).expect("roster"),
        None
    );
}

/// Hosts starting together on a fresh schema migrate it once, without an error.
#[test]
fn concurrent_first_connects_migrate_once() {
    let Some(db) = TestDb::create("migrate") else {
        return;
    };
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| db.store("fresh_chain"));
        }
    });
    assert_eq!(
        db.store("fresh_chain").schema_version().expect("version"),
        PgStore::LATEST_SCHEMA_VERSION
    );
}

/// A taken mobile number is a `Duplicate` naming the holder with the number masked, also
/// when two registrations race for it on separate connections; and a server error never
/// carries the DETAIL line that quotes the row.
#[test]
fn duplicates_are_masked_even_when_racing() {
    use clinic_ops::store::StoreError;

    let Some(db) = TestDb::create("masking") else {
        return;
    };
    const MOBILE: &str = "13912345678";
    let base = db.store("chain");
    let outcomes: Vec<Result<_, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=6)
            .map(|n| {
                let db = &db;
                s.spawn(move || {
                    let mut own =
                        PgStore::connect_config(db.config(), "chain", &PgOptions::default())
                            .expect("pool");
                    register(&mut own, n, MOBILE)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    for e in outcomes.into_iter().filter_map(Result::err) {
        let text = e.to_string();
        assert!(
            matches!(e, StoreError::Duplicate { what: "mobile", .. }),
            "{text}"
        );
        assert!(!text.contains(MOBILE), "unmasked: {text}");
        assert!(text.contains("139****5678") || text.contains('*'), "{text}");
    }
    drop(base);
    // A raw unique violation: the server's DETAIL quotes the key; PgError drops it.
    let mut raw = db.raw("chain");
    let err = raw
        .execute(
            "INSERT INTO patients (id, version, mobile, state) VALUES (99, 1, $1, '{}')",
            &[&MOBILE],
        )
        .expect_err("taken");
    assert!(
        format!("{err:?}").contains(MOBILE),
        "the client's error carries it"
    );
    let ours = PgError::from(err);
    assert_eq!(ours.sqlstate(), Some("23505"));
    assert!(!format!("{ours} {ours:?}").contains(MOBILE), "{ours:?}");
}
