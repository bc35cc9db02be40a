//! The PostgreSQL adapter over loopback, beside the SQLite adapter on the same machine.
//!
//! Targets (issue 22): points postings appended in batches of 100 at ≥ 50,000 postings/s
//! with the server's default durability (`synchronous_commit = on`, `fsync = on`); 16
//! concurrent writers on distinct accounts at ≥ 3× one writer's throughput; loading one
//! account with 1,000 postings in under 5 ms.
//!
//! Needs a server: `CLINIC_OPS_PG_URL` as for the tests (`.ci/run` shows how to start
//! one). The bench creates its own database and drops it after.
//!
//! ```text
//! CLINIC_OPS_PG_URL=postgresql://clinic_ops:clinic_ops@127.0.0.1/clinic_ops \
//!     cargo bench -p clinic-ops-postgres -- --warm-up-time 1 --measurement-time 3
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use clinic_ops::id::PatientId;
use clinic_ops::points::Posting;
use clinic_ops::store::{LedgerStore, Version};
use clinic_ops::testkit::ledger_batches::earned;
use clinic_ops_postgres::{PgOptions, PgStore};
use clinic_ops_sqlite::SqliteStore;
use support::TestDb;

const BATCH: u64 = 100;
/// Postings per commit in the concurrency benches: small, so the commit's latency (round
/// trips and the WAL flush), not the encoding, is what writers wait on.
const SMALL: u64 = 10;
const WRITERS: u64 = 16;

/// A writer's store, account, and `(version, postings)` so far.
type Lane<S> = (S, PatientId, (Option<Version>, u64));

fn batch(account: PatientId, stored: u64, len: u64) -> Vec<Posting> {
    (1..=len)
        .map(|i| earned(account, stored + i, stored / len + 1, 10))
        .collect()
}

fn server() -> Option<TestDb> {
    let db = TestDb::create("bench");
    if db.is_none() {
        eprintln!("no PostgreSQL server: nothing measured");
    }
    db
}

/// One writer appending to one account, `iters` times; returns the time taken.
fn run_writer<S: LedgerStore>(
    store: &mut S,
    account: PatientId,
    state: &mut (Option<Version>, u64),
    len: u64,
    iters: u64,
) -> Duration {
    let batches: Vec<_> = (0..iters)
        .map(|k| batch(account, state.1 + k * len, len))
        .collect();
    let start = Instant::now();
    for postings in &batches {
        state.0 = Some(store.append(account, state.0, postings).expect("append"));
    }
    state.1 += iters * len;
    start.elapsed()
}

/// Target: ≥ 50,000 postings/s, i.e. a batch of 100 in ≤ 2 ms.
fn append_batches(c: &mut Criterion) {
    let Some(db) = server() else { return };
    let mut store = db.store("bench");
    let account = PatientId::new(1);
    let mut state = (None, 0);
    let mut g = c.benchmark_group("postgres ledger append");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("batch of 100 postings, one writer", |b| {
        b.iter_custom(|iters| run_writer(&mut store, account, &mut state, BATCH, iters))
    });
    g.finish();
}

/// `writers` threads, each appending `iters` commits of `SMALL` postings to its own
/// account; the wall time for all.
fn run_writers<S: LedgerStore + Send>(stores: &mut [Lane<S>], iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for (store, account, state) in stores.iter_mut() {
            s.spawn(move || run_writer(store, *account, state, SMALL, iters));
        }
    });
    start.elapsed()
}

/// Target: 16 writers on distinct accounts at ≥ 3× the postings/s of one.
fn concurrent_writers(c: &mut Criterion) {
    let Some(db) = server() else { return };
    let pool = PgStore::connect_config(
        db.config(),
        "writers",
        &PgOptions::default().with_max_connections(WRITERS as u32),
    )
    .expect("pool");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(dir.path().join("writers.db")).expect("open");
    let mut g = c.benchmark_group("concurrent writers, commits of 10 postings");
    for n in [1, WRITERS] {
        g.throughput(Throughput::Elements(n * SMALL));
        let mut pg: Vec<_> = (0..n)
            .map(|i| (pool.handle(), PatientId::new(100 * n + i), (None, 0)))
            .collect();
        g.bench_function(
            format!("postgres, {n} writer(s) on distinct accounts"),
            |b| b.iter_custom(|iters| run_writers(&mut pg, iters)),
        );
        let mut lite: Vec<_> = (0..n)
            .map(|i| {
                (
                    sqlite.reopen().expect("reopen"),
                    PatientId::new(100 * n + i),
                    (None, 0),
                )
            })
            .collect();
        g.bench_function(
            format!("sqlite power-safe, {n} writer(s) on distinct accounts"),
            |b| b.iter_custom(|iters| run_writers(&mut lite, iters)),
        );
    }
    g.finish();
}

/// Target: < 5 ms for an account with 1,000 postings.
fn load_account(c: &mut Criterion) {
    let Some(db) = server() else { return };
    let mut store = db.store("load");
    let account = PatientId::new(7);
    let mut version = None;
    for k in 0..10 {
        version = Some(
            store
                .append(account, version, &batch(account, k * BATCH, BATCH))
                .expect("seed"),
        );
    }
    // Other accounts around it, so the load is an index range, not the whole table.
    for other in [6, 8] {
        store
            .append(
                PatientId::new(other),
                None,
                &batch(PatientId::new(other), 0, BATCH),
            )
            .expect("seed");
    }
    // Cold: every row read and decoded, as on a handle's first load of the account.
    c.bench_function(
        "postgres ledger load, account with 1,000 postings, cold",
        |b| {
            b.iter(|| {
                store.clear_cache();
                let l = store.load(black_box(account)).expect("load");
                assert_eq!(l.map(|l| l.value.len()), Some(1000));
            })
        },
    );
    // Warm: the handle has the postings decoded; the load reads the account row only.
    c.bench_function(
        "postgres ledger load, account with 1,000 postings, warm",
        |b| {
            b.iter(|| {
                let l = store.load(black_box(account)).expect("load");
                assert_eq!(l.map(|l| l.value.len()), Some(1000));
            })
        },
    );
}

criterion_group!(benches, append_batches, concurrent_writers, load_account);
criterion_main!(benches);
