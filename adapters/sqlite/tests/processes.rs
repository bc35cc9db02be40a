//! Several processes on one file: three child processes (this test binary re-run in child
//! mode) earn points on the same account at once, each retrying on `Conflict`. No command
//! is lost or applied twice.

use std::process::{Command, Stdio};

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::money::Yuan;
use clinic_ops::points::{
    self, Account, CommandKey, CommandKind, LedgerCommand, Multiplier, Policy,
};
use clinic_ops::store::{LedgerStore, StoreError, retry_on_conflict};
use clinic_ops::testkit::scenario_now;
use clinic_ops_sqlite::SqliteStore;

const DB_ENV: &str = "CLINIC_OPS_SQLITE_RACE_CHILD_DB";
const INDEX_ENV: &str = "CLINIC_OPS_SQLITE_RACE_CHILD_INDEX";
const CHILDREN: u64 = 3;
const PER_CHILD: u64 = 40;

fn account() -> PatientId {
    PatientId::new(9)
}

/// The child: `PER_CHILD` purchases of 10 yuan each, through load, decide, append.
#[test]
#[ignore = "a child process of `processes_racing_on_one_account_lose_nothing`"]
fn race_child() {
    let path = std::env::var(DB_ENV).expect("run by the parent test only");
    let index: u64 = std::env::var(INDEX_ENV)
        .expect("index")
        .parse()
        .expect("index");
    let mut store = SqliteStore::open(&path).expect("child opens");
    for k in 0..PER_CHILD {
        let n = index * 1000 + k;
        let cmd = LedgerCommand::new(
            CommandKey::new(n),
            CommandKind::Earn {
                purchase: PurchaseId::new(n),
                paid: Yuan::from_fen(1000),
                category: None,
                multiplier: Multiplier::ONE,
                lock_until: None,
            },
        );
        retry_on_conflict(1000, || -> Result<(), StoreError> {
            let loaded = store.load(account())?;
            let acc = match &loaded {
                Some(l) => Account::replay(account(), &l.value),
                None => Account::new(account()),
            };
            let out = points::decide(
                &acc,
                &cmd,
                scenario_now(),
                &Policy::default(),
                ClinicCalendar::default(),
            )
            .expect("earn is accepted");
            store
                .append(account(), loaded.map(|l| l.version), out.postings())
                .map(|_| ())
        })
        .expect("child append");
    }
}

#[test]
fn processes_racing_on_one_account_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    // Create the schema first, so the children race on appends, not on the migration.
    drop(SqliteStore::open(&path).unwrap());
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "race_child", "--test-threads=1"])
                .env(DB_ENV, &path)
                .env(INDEX_ENV, i.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start child")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    let ledger = store.load(account()).unwrap().expect("account");
    assert_eq!(
        ledger.value.len() as u64,
        CHILDREN * PER_CHILD,
        "one posting per purchase"
    );
    assert_eq!(
        ledger.version.get(),
        CHILDREN * PER_CHILD,
        "one version per append"
    );
    let acc = Account::replay(account(), &ledger.value);
    for i in 0..CHILDREN {
        for k in 0..PER_CHILD {
            assert!(
                acc.postings_of(CommandKey::new(i * 1000 + k)).is_some(),
                "command {i}/{k} is in the ledger"
            );
        }
    }
    let lots: i64 = acc.lots().iter().map(|l| l.remaining().get()).sum();
    assert_eq!(acc.available().get(), lots);
    assert!(acc.balance().get() > 0);
}
