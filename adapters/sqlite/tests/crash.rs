//! Crash safety: a child process runs points commands through load, decide (the pure
//! `points::decide`) and append in a loop, one to four commands per append, and is killed
//! with SIGKILL at a random moment, five times over one database file. After each kill the
//! database must hold every append the child reported, nothing half-written (every append
//! equals what the pure core decides for it, recomputed from scratch), and a ledger whose
//! invariants hold when `Account::replay` rebuilds it.
//!
//! The child is this test binary itself, re-run with `--ignored --exact crash_child` and
//! the database path in an environment variable, so `cargo test` on a fresh clone needs
//! nothing else built.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clinic_ops::id::PatientId;
use clinic_ops::points::{self, Account, Posting, PostingKind};
use clinic_ops::store::{LedgerStore, Version};
use clinic_ops::testkit::ledger_batches::decide_batch;
use clinic_ops_sqlite::{Durability, SqliteStore};

const CHILD_ENV: &str = "CLINIC_OPS_SQLITE_CRASH_CHILD_DB";
/// Set to `process` for a child that commits with `Durability::ProcessSafe`.
const DURABILITY_ENV: &str = "CLINIC_OPS_SQLITE_CRASH_CHILD_DURABILITY";
const ROUNDS: usize = 5;
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

fn account() -> PatientId {
    PatientId::new(1)
}

/// The child: appends batches to account 1 until killed, printing `committed V N` (the new
/// version and posting count) after each append returned `Ok`.
#[test]
#[ignore = "the child process of `commits_survive_sigkill`, which starts it itself"]
fn crash_child() {
    let path = std::env::var(CHILD_ENV).expect("run by commits_survive_sigkill only");
    let durability = match std::env::var(DURABILITY_ENV).as_deref() {
        Ok("process") => Durability::ProcessSafe,
        _ => Durability::PowerSafe,
    };
    let mut store = SqliteStore::open_with(&path, durability).expect("child opens the database");
    let (mut version, mut ledger) = match store.load(account()).expect("child loads") {
        Some(v) => (Some(v.version), Account::replay(account(), &v.value)),
        None => (None, Account::new(account())),
    };
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    while started.elapsed() < CHILD_LIFETIME {
        let next = Version::after(version).expect("version").get();
        let batch = decide_batch(next, &ledger);
        let v = store
            .append(account(), version, &batch)
            .expect("child append");
        for p in &batch {
            points::apply(&mut ledger, p);
        }
        version = Some(v);
        writeln!(out, "committed {} {}", v.get(), ledger.last_seq()).expect("report");
        out.flush().expect("flush");
    }
}

/// A linear congruential generator (Knuth's MMIX constants): enough to spread the kill
/// moments, and seeded by the test so a failing run can be repeated.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut seed = 0x00c1_1a1c_0b5e_ed01_u64;
    let mut total_reported = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            // Odd rounds commit without an fsync per commit: a killed process must lose
            // nothing under either setting.
            .env(
                DURABILITY_ENV,
                if round % 2 == 1 { "process" } else { "power" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test crash_child ... " on the same line as the first.
                if let Some((_, rest)) = line.split_once("committed ") {
                    let mut it = rest.split(' ').map(|x| x.parse::<u64>().expect("number"));
                    let (v, n) = (it.next().expect("v"), it.next().expect("n"));
                    if tx.send((v, n)).is_err() {
                        break;
                    }
                }
            }
        });
        // Kill only once the child is in its loop, then at a random moment inside it.
        let first = rx.recv_timeout(Duration::from_secs(60));
        let delay = Duration::from_millis(10 + lcg(&mut seed) % 400);
        if first.is_ok() {
            std::thread::sleep(delay);
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        reader.join().expect("reader");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let first = first.unwrap_or_else(|_| panic!("child committed nothing: {err}"));
        assert_eq!(
            status.signal(),
            Some(9),
            "the child must die by SIGKILL, not exit: {status:?} {err}"
        );
        let reported: Vec<(u64, u64)> = std::iter::once(first).chain(rx.try_iter()).collect();
        total_reported += reported.len();
        let last = *reported.last().expect("at least the first");
        let (v, n) = check_database(&path, last);
        eprintln!(
            "round {round} ({}): killed after {delay:?}, {} commits reported, last v{} ({} postings); \
             database at v{v} ({n} postings)",
            if round % 2 == 1 {
                "process-safe"
            } else {
                "power-safe"
            },
            reported.len(),
            last.0,
            last.1
        );
    }
    assert!(total_reported >= ROUNDS, "every round committed something");
}

/// Reopens the database after a kill and checks it; returns its version and posting count.
fn check_database(path: &Path, (reported_v, reported_n): (u64, u64)) -> (u64, u64) {
    let store = SqliteStore::open(path).expect("reopen after SIGKILL");
    let raw = rusqlite::Connection::open(path).unwrap();
    let integrity: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let ledger = store
        .load(account())
        .expect("load")
        .expect("account exists");
    let v = ledger.version.get();
    let postings = &ledger.value;
    let n = postings.len() as u64;
    // Every reported commit is there; at most one more, which finished but was not
    // reported before the kill.
    assert!(
        v == reported_v || v == reported_v + 1,
        "reported v{reported_v}, found v{v}"
    );
    assert!(n >= reported_n, "reported {reported_n} postings, found {n}");
    // Nothing half-written: the postings are exactly the whole appends of versions 1..=v,
    // each as the pure core decides it from the ones before, and the account row agrees
    // with the append rows.
    let mut model = Account::new(account());
    let mut expected = Vec::new();
    for version in 1..=v {
        let batch = decide_batch(version, &model);
        for p in &batch {
            points::apply(&mut model, p);
        }
        expected.extend(batch);
    }
    assert_eq!(postings.len(), expected.len(), "an append was cut");
    assert!(
        postings == &expected,
        "the stored postings differ from the decided appends"
    );
    let (appends, max_seq, counted): (i64, i64, i64) = raw
        .query_row(
            "SELECT count(*), max(last_seq), (SELECT postings FROM ledger_accounts WHERE account = 1)
             FROM ledger_appends WHERE account = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (appends, max_seq, counted),
        (v as i64, n as i64, n as i64),
        "one append row per version, and the account row agrees"
    );
    check_ledger_invariants(postings, &model);
    (v, n)
}

/// The ledger invariants of the account the surviving postings replay to.
fn check_ledger_invariants(postings: &[Posting], model: &Account) {
    for (i, p) in postings.iter().enumerate() {
        assert_eq!(p.seq, i as u64 + 1, "seq runs from 1 without gaps");
        assert_eq!(p.account, account());
    }
    let a = Account::replay(account(), postings);
    assert!(&a == model, "replay equals the step-by-step model");
    let lots: i64 = a.lots().iter().map(|l| l.remaining().get()).sum();
    assert_eq!(a.available().get(), lots, "available == sum of open lots");
    assert_eq!(
        a.balance().get(),
        lots - a.debt().get(),
        "balance == sum of open lots - debt"
    );
    assert!(
        a.lots().iter().all(|l| l.remaining().get() > 0),
        "no empty lot stays open"
    );
    assert_eq!(a.debt().get(), 0, "the default policy never owes points");
    assert!(a.balance().get() >= 0);
    assert_eq!(a.last_seq(), postings.len() as u64);
    if postings.len() > 20 {
        assert!(
            postings
                .iter()
                .any(|p| matches!(p.kind, PostingKind::Redeemed { .. })),
            "the child redeems as well as earns"
        );
    }
}
