//! The fuzz targets on the stable toolchain, as part of `cargo test`.
//!
//! - Every committed input in `fuzz/corpus/<target>/` (the seeds) and in
//!   `fuzz/regressions/<target>/` (findings, pinned forever) is replayed through its target.
//! - A brief deterministic mutational fuzz: a fixed-seed PRNG mutates the seeds (bit flips,
//!   extreme numbers and years, deep nesting, long strings, splices) and runs the targets.
//!
//! `cargo +nightly fuzz run <target>` (see `fuzz/README.md`) is the long-running version.
//! `fuzz/pending/` holds findings waiting for a fix elsewhere; it is not replayed here.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use clinic_ops::testkit::fuzz::{self, Seed, seed_inputs};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 3] = [
    ("parse_inputs", fuzz::parse_inputs),
    ("serde_inputs", fuzz::serde_inputs),
    ("shard_states", fuzz::shard_states),
];

fn target(name: &str) -> Target {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => *f,
        None => panic!("no fuzz target named {name}"),
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file under `fuzz/<area>/<target>/`, in name order, with its target.
fn inputs(area: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(fuzz_dir().join(area)) else {
        return out;
    };
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        let name = dir.file_name().to_string_lossy().into_owned();
        for f in fs::read_dir(dir.path()).expect("readable").flatten() {
            out.push((name.clone(), f.path()));
        }
    }
    out.sort();
    out
}

/// Runs one input; on a panic, a line naming the input in a form that can be saved as a file.
fn run(name: &str, data: &[u8], origin: &str) -> Result<(), String> {
    let f = target(name);
    panic::catch_unwind(AssertUnwindSafe(|| f(data))).map_err(|_| {
        format!(
            "{name} panicked on {origin} (bytes to save under fuzz/regressions/{name}/): b\"{}\"",
            data.escape_ascii()
        )
    })
}

fn no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_committed_corpus_holds_every_seed() {
    let missing: Vec<_> = seed_inputs()
        .into_iter()
        .filter(|s| fs::read(seed_path(s)).ok().as_deref() != Some(&s.data[..]))
        .map(|s| seed_path(&s))
        .collect();
    assert!(
        missing.is_empty(),
        "seeds missing or stale (run `cargo test --test fuzz_regressions -- --ignored`): {missing:?}"
    );
}

fn seed_path(s: &Seed) -> PathBuf {
    fuzz_dir().join("corpus").join(s.target).join(&s.name)
}

/// Writes the seed corpus from `seed_inputs()`: run after changing a fixture or serde form.
#[test]
#[ignore = "writes fuzz/corpus"]
fn write_seed_corpus() {
    for s in seed_inputs() {
        let path = seed_path(&s);
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(&path, &s.data).expect("write");
    }
}

#[test]
fn corpus_and_pinned_findings_replay_without_a_panic() {
    let (mut n, mut failures) = (0, Vec::new());
    for area in ["corpus", "regressions"] {
        for (name, path) in inputs(area) {
            let data = fs::read(&path).expect("readable");
            failures.extend(run(&name, &data, &path.display().to_string()).err());
            n += 1;
        }
    }
    assert!(
        n >= seed_inputs().len(),
        "only {n} inputs found under fuzz/"
    );
    no_failures(&failures);
}

/// SplitMix64: small, fixed-seed, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Numbers that sit on a boundary somewhere: integer widths, chrono's year range, floats.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-320",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "262142",
    "-262143",
    "99999999999999999999999999999.99",
    "0.000000000000000000000000001",
    "255",
    "65536",
];

/// Years near chrono's limits, for the dates and instants inside strings.
const YEARS: &[&str] = &["+262142", "-262143", "0000", "9999", "1900", "+10000"];

fn mutate(rng: &mut Rng, data: &[u8], same_target: &[&[u8]]) -> Vec<u8> {
    let mut d = data.to_vec();
    // The selector byte of serde inputs stays put most of the time: mutate the JSON.
    let lo = usize::from(d.first().is_some_and(|b| b.is_ascii_uppercase()));
    for _ in 0..1 + rng.below(3) {
        let len = d.len().max(lo + 1);
        let at = lo + rng.below(len - lo);
        match rng.below(9) {
            0 => {
                if let Some(b) = d.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 | 2 => {
                let with = rng.pick(EXTREMES).as_bytes().to_vec();
                replace_number(rng, &mut d, lo, with);
            }
            3 => replace_year(rng, &mut d, lo),
            4 => {
                // Deep nesting around a value: arrays, or `not` for expressions.
                let depth = 1 + rng.below(200);
                let (open, close): (&[u8], &[u8]) = if rng.below(2) == 0 {
                    (b"[", b"]")
                } else {
                    (b"{\"not\":", b"}")
                };
                let mut v = d[..lo.min(d.len())].to_vec();
                v.extend(open.repeat(depth));
                v.extend_from_slice(d.get(lo..).unwrap_or(&[]));
                v.extend(close.repeat(depth));
                d = v;
            }
            5 => {
                // A long string: repeat the content of a string literal.
                if let Some(start) = find_from(&d, b'"', at) {
                    let n = 50 + rng.below(2000);
                    let chunks: [&[u8]; 3] = [b"x", "高".as_bytes(), b"\\u0000"];
                    let chunk = *rng.pick(&chunks);
                    let mut v = d[..=start].to_vec();
                    v.extend(chunk.repeat(n));
                    v.extend_from_slice(&d[start + 1..]);
                    d = v;
                }
            }
            6 => {
                // Splice: the tail of another input of the same target.
                let other = rng.pick(same_target);
                let from = rng.below(other.len().max(1));
                d.truncate(at.min(d.len()));
                d.extend_from_slice(other.get(from..).unwrap_or(&[]));
            }
            7 => {
                let end = (at + rng.below(16)).min(d.len());
                if at < end {
                    d.drain(at..end);
                }
            }
            _ => {
                let end = (at + rng.below(64)).min(d.len());
                if at < end {
                    let copy = d[at..end].to_vec();
                    d.splice(at..at, copy);
                }
            }
        }
    }
    d
}

fn find_from(d: &[u8], b: u8, from: usize) -> Option<usize> {
    d.get(from..)?
        .iter()
        .position(|&x| x == b)
        .map(|i| i + from)
}

/// Replaces one run of digits (with its sign and fraction) by `with`.
fn replace_number(rng: &mut Rng, d: &mut Vec<u8>, lo: usize, with: Vec<u8>) {
    let runs: Vec<(usize, usize)> = digit_runs(d, lo);
    if runs.is_empty() {
        return;
    }
    let &(s, e) = rng.pick(&runs);
    d.splice(s..e, with);
}

fn digit_runs(d: &[u8], lo: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = lo;
    while i < d.len() {
        if d[i].is_ascii_digit() {
            let mut s = i;
            if s > lo && d[s - 1] == b'-' {
                s -= 1;
            }
            while i < d.len() && (d[i].is_ascii_digit() || d[i] == b'.') {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// Replaces the year of a `YYYY-MM-DD` inside a string.
fn replace_year(rng: &mut Rng, d: &mut Vec<u8>, lo: usize) {
    let years: Vec<usize> = (lo..d.len().saturating_sub(7))
        .filter(|&i| {
            d[i..i + 4].iter().all(u8::is_ascii_digit)
                && d[i + 4] == b'-'
                && d[i + 5..i + 7].iter().all(u8::is_ascii_digit)
                && (i == 0 || !d[i - 1].is_ascii_digit())
        })
        .collect();
    if years.is_empty() {
        let with = rng.pick(EXTREMES).as_bytes().to_vec();
        return replace_number(rng, d, lo, with);
    }
    let at = *rng.pick(&years);
    d.splice(at..at + 4, rng.pick(YEARS).bytes());
}

/// Targets whose mutational findings are known and wait for a fix on another branch: they
/// are still run and their findings printed, but do not fail the test. Each has its input
/// under `fuzz/pending/<target>/`. Remove an entry once its fix is merged.
const PENDING: &[(&str, &str)] = &[];

/// Cases per target; small enough for a debug `cargo test` in a few seconds.
const CASES: usize = 5_000;

#[test]
fn mutated_seeds_never_panic() {
    let seeds = seed_inputs();
    let mut rng = Rng(0x0c11_71c0_0b5e_ed15);
    let mut failures = Vec::new();
    for (name, _) in TARGETS {
        let pool: Vec<&[u8]> = seeds
            .iter()
            .filter(|s| s.target == name)
            .map(|s| &s.data[..])
            .collect();
        assert!(!pool.is_empty(), "{name} has no seeds");
        for case in 0..CASES {
            let base = rng.pick(&pool);
            let same: Vec<&[u8]> = pool
                .iter()
                .copied()
                .filter(|p| p.first() == base.first())
                .collect();
            let data = mutate(&mut rng, base, &same);
            let found = run(name, &data, &format!("mutation case {case}")).err();
            match (found, PENDING.iter().find(|(n, _)| *n == name)) {
                (Some(f), Some((_, why))) => eprintln!("pending ({why}): {f}"),
                (found, _) => failures.extend(found),
            }
        }
    }
    no_failures(&failures);
}
