//! Patient identity parsing and registration.
//!
//! Targets (issue 2): `ResidentId::parse` and `MobileNumber::parse` under 100 ns each;
//! registering 1,000,000 patients in the in-memory store, duplicate checks included, under 2 s.

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::PatientId;
use clinic_ops::patient::{self, MobileNumber, PatientCommand, ResidentId};
use clinic_ops::store::PatientStore;
use clinic_ops::store::memory::MemoryPatientStore;
use clinic_ops::testkit::patient_store::registration;

fn parse(c: &mut Criterion) {
    c.bench_function("ResidentId::parse (18 chars)", |b| {
        b.iter(|| ResidentId::parse(black_box("11010519491231002X")))
    });
    c.bench_function("MobileNumber::parse (+86 with dashes)", |b| {
        b.iter(|| MobileNumber::parse(black_box("+86 138-0013-8000")))
    });
}

fn register_million(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let now = DateTime::<Utc>::from_timestamp(1_772_416_800, 0).unwrap_or_default();
    let cal = ClinicCalendar::default();
    let regs: Vec<PatientCommand> = (0..N)
        .map(|n| PatientCommand::Register(registration(n)))
        .collect();
    let mut g = c.benchmark_group("patient_store");
    g.sample_size(10);
    g.bench_function(
        "register 1,000,000 patients (decide + commit, duplicate checks)",
        |b| {
            b.iter_batched(
                MemoryPatientStore::new,
                |mut store| {
                    for (n, cmd) in regs.iter().enumerate() {
                        let id = PatientId::new(n as u64);
                        let events = patient::decide(None, id, cmd, now, cal).expect("valid");
                        store.commit(id, None, &events).expect("unique");
                    }
                    store
                },
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, parse, register_million);
criterion_main!(benches);
