//! The SQLite adapter on this machine's disk.
//!
//! Targets (issue 8): committing points postings in batches of 100 at 100,000 postings/s or
//! more; loading one account with 1,000 postings in under 5 ms. Patient commits are measured
//! too, for comparison with the in-memory adapter.
//!
//! Each batch commit is one transaction. Under `Durability::PowerSafe` (the default) it
//! waits for one `fsync` of the write-ahead log, so its cost is mostly the disk's sync
//! latency; `Durability::ProcessSafe` skips that wait.

use clinic_ops::testkit::ledger_batches::earned;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::PatientId;
use clinic_ops::patient::{self, PatientCommand};
use clinic_ops::store::{LedgerStore, PatientStore, Version};
use clinic_ops::testkit::{patient_store::registration, scenario_now};
use clinic_ops_sqlite::{Durability, SqliteStore};

const BATCH: u64 = 100;

fn batch(account: PatientId, stored: u64) -> Vec<clinic_ops::points::Posting> {
    (1..=BATCH)
        .map(|i| earned(account, stored + i, stored / BATCH + 1, 10))
        .collect()
}

/// Target: ≥ 100,000 postings/s, i.e. a batch of 100 in ≤ 1 ms.
fn append_batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("sqlite ledger append");
    g.throughput(Throughput::Elements(BATCH));
    for (name, durability) in [
        ("batch of 100 postings, power-safe", Durability::PowerSafe),
        (
            "batch of 100 postings, process-safe",
            Durability::ProcessSafe,
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store =
            SqliteStore::open_with(dir.path().join("bench.db"), durability).expect("open");
        let account = PatientId::new(1);
        let mut version: Option<Version> = None;
        let mut stored = 0u64;
        g.bench_function(name, |b| {
            // The postings are made before the clock starts: only the store is timed.
            b.iter_custom(|iters| {
                let batches: Vec<_> = (0..iters)
                    .map(|k| batch(account, stored + k * BATCH))
                    .collect();
                let start = Instant::now();
                for postings in &batches {
                    let v = store.append(account, version, postings).expect("append");
                    version = Some(v);
                }
                let took = start.elapsed();
                stored += iters * BATCH;
                took
            })
        });
    }
    g.finish();
}

/// Target: < 5 ms for an account with 1,000 postings.
fn load_account(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(dir.path().join("load.db")).expect("open");
    let account = PatientId::new(7);
    let mut version = None;
    for k in 0..10 {
        version = Some(
            store
                .append(account, version, &batch(account, k * BATCH))
                .expect("seed"),
        );
    }
    // Other accounts around it, so the load is an index range, not the whole table.
    for other in [6, 8] {
        store
            .append(
                PatientId::new(other),
                None,
                &batch(PatientId::new(other), 0),
            )
            .expect("seed");
    }
    // Cold: every row read and decoded, as on a handle's first load of the account.
    c.bench_function(
        "sqlite ledger load, account with 1,000 postings, cold",
        |b| {
            b.iter(|| {
                store.clear_cache();
                let l = store.load(black_box(account)).expect("load");
                assert_eq!(l.map(|l| l.value.len()), Some(1000));
            })
        },
    );
    // Warm: the handle has the postings decoded; the load checks the version and clones.
    c.bench_function(
        "sqlite ledger load, account with 1,000 postings, warm",
        |b| {
            b.iter(|| {
                let l = store.load(black_box(account)).expect("load");
                assert_eq!(l.map(|l| l.value.len()), Some(1000));
            })
        },
    );
}

/// For comparison: one patient registration per transaction (power-safe).
fn register_patients(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(dir.path().join("patients.db")).expect("open");
    let mut n = 0u64;
    c.bench_function(
        "sqlite patient register (decide + commit, power-safe)",
        |b| {
            b.iter(|| {
                n += 1;
                let id = PatientId::new(n);
                let events = patient::decide(
                    None,
                    id,
                    &PatientCommand::Register(registration(n)),
                    scenario_now(),
                    ClinicCalendar::default(),
                )
                .expect("decide");
                store.commit(id, None, &events).expect("commit")
            })
        },
    );
}

criterion_group!(benches, append_batches, load_account, register_patients);
criterion_main!(benches);
