//! The SQLite ledger against the in-memory reference adapter, as a model: thousands of
//! seeded random appends (fresh, stale, empty, out of sequence), loads, cache clears and
//! reconnects over three handles on one file. Every answer must match the model's. This is
//! aimed at the per-handle posting cache, which must never return what another handle has
//! superseded.

use clinic_ops::id::PatientId;
use clinic_ops::store::memory::MemoryLedgerStore;
use clinic_ops::store::{LedgerStore, StoreError, Version};
use clinic_ops::testkit::ledger_batches::commit_batch;
use clinic_ops_sqlite::SqliteStore;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The shape of a result, for comparing two adapters' answers.
fn shape(r: &Result<Version, StoreError>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(StoreError::Conflict { expected, actual }) => {
            format!("conflict {expected:?} {actual:?}")
        }
        Err(StoreError::NotFound { what, key }) => format!("not found {what} {key}"),
        Err(StoreError::Backend(_)) => "backend".into(),
        Err(e) => format!("other {e}"),
    }
}

fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.db");
    let mut handles: Vec<SqliteStore> = (0..3).map(|_| SqliteStore::open(&path).unwrap()).collect();
    let mut model = MemoryLedgerStore::new();
    let mut rng = Lcg(seed);
    for step in 0..steps {
        let h = rng.next(3) as usize;
        let account = PatientId::new(1 + rng.next(3));
        let now = model.load(account).unwrap();
        let (version, stored) = now
            .as_ref()
            .map_or((None, 0), |l| (Some(l.version), l.value.len() as u64));
        match rng.next(10) {
            0..=4 => {
                let next = Version::after(version).unwrap().get();
                let mut postings = commit_batch(account, next, stored);
                postings.truncate(rng.next(4) as usize);
                let expected = match rng.next(10) {
                    0 => version
                        .and_then(|v| v.get().checked_sub(1))
                        .map(Version::new),
                    1 => Some(Version::new(next + 3)),
                    _ => version,
                };
                if rng.next(20) == 0 && !postings.is_empty() {
                    postings[0].seq += 1;
                }
                let got = handles[h].append(account, expected, &postings);
                let want = model.append(account, expected, &postings);
                assert_eq!(
                    shape(&got),
                    shape(&want),
                    "seed {seed} step {step}: append on handle {h}"
                );
            }
            5..=8 => {
                let got = handles[h].load(account).unwrap();
                assert_eq!(got, now, "seed {seed} step {step}: load on handle {h}");
            }
            _ => {
                if rng.next(2) == 0 {
                    handles[h].clear_cache();
                } else {
                    handles[h] = SqliteStore::open(&path).unwrap();
                }
            }
        }
    }
    for h in &handles {
        for a in 1..=3 {
            let id = PatientId::new(a);
            assert_eq!(h.load(id).unwrap(), model.load(id).unwrap());
        }
    }
}

#[test]
fn sqlite_ledger_matches_the_memory_model() {
    for seed in [1, 2, 3] {
        run(seed, 600);
    }
}
