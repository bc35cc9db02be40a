//! RFM reference calculator: lifetimes' `summary_data_from_transaction_data(freq='D')` plus
//! quintile scores and the 8 Chinese RFM classes.
//!
//! ```text
//! cargo run --release --example rfm -- --input transactions.csv --as-of 2026-11-23 [--tz +08:00] [--timing]
//! ```
//!
//! Input: CSV `patient_id,date,amount` (stdin when `--input` is missing or `-`). `date` is
//! `YYYY-MM-DD` or `YYYYMMDD`, a local date; as an extra, any other all-digit value is read
//! as Unix seconds and dated in `--tz`. `amount` is a non-negative decimal with at most 2
//! places. Output: CSV `patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,
//! segment`, sorted by `patient_id` as a string. Bad input: `line N: reason` on stderr, exit 2.
//!
//! Built for 10,000,000 rows: patient ids are interned to `u32` once, records are read into
//! one reused `csv::ByteRecord`, amounts are parsed without allocating, and rows are grouped
//! by a counting sort rather than a comparison sort.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, day_number};
use clinic_ops::money::Yuan;
use clinic_ops::segment::rfm::{self, RfmSummary};
use rust_decimal::Decimal;

const USAGE: &str = "usage: rfm [--input FILE|-] --as-of YYYY-MM-DD [--tz +08:00] [--timing]";

struct Args {
    input: Option<String>,
    as_of: NaiveDate,
    calendar: ClinicCalendar,
    timing: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut input = None;
    let mut as_of = None;
    let mut calendar = ClinicCalendar::default();
    let mut timing = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--input" => input = Some(value("--input")?),
            "--as-of" => {
                let v = value("--as-of")?;
                as_of = Some(
                    parse_date(v.as_bytes())
                        .ok_or(format!("--as-of {v:?} is not YYYY-MM-DD or YYYYMMDD"))?,
                );
            }
            "--tz" => {
                let v = value("--tz")?;
                calendar = ClinicCalendar::parse(&v).map_err(|e| format!("--tz: {e}"))?;
            }
            "--timing" => timing = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        input: input.filter(|i| i != "-"),
        as_of: as_of.ok_or(format!("--as-of is required\n{USAGE}"))?,
        calendar,
        timing,
    })
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    let (y, m, d) = match b.len() {
        10 if b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') => {
            (b.get(0..4)?, b.get(5..7)?, b.get(8..10)?)
        }
        8 => (b.get(0..4)?, b.get(4..6)?, b.get(6..8)?),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(i32::try_from(digits(y)?).ok()?, digits(m)?, digits(d)?)
}

/// The local day number of a date cell, or why not.
fn parse_day(b: &[u8], cal: ClinicCalendar) -> Result<i64, String> {
    if let Some(d) = parse_date(b) {
        return Ok(day_number(d));
    }
    let s = String::from_utf8_lossy(b);
    if b.len() != 8 && !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        if let Ok(secs) = s.parse::<i64>() {
            return Ok(cal.local_day_number(secs));
        }
    }
    Err(format!("date {s:?} is not YYYY-MM-DD or YYYYMMDD"))
}

/// Parses `123`, `123.4` or `123.45` without allocating; anything else goes through
/// `Yuan::parse` for its error message (or its wider syntax).
fn parse_amount(b: &[u8]) -> Result<Yuan, String> {
    let fast = || -> Option<Yuan> {
        let (int, frac) = match b.iter().position(|c| *c == b'.') {
            Some(p) => (b.get(..p)?, b.get(p + 1..)?),
            None => (b, &b""[..]),
        };
        if int.is_empty() || int.len() > 13 || frac.len() > 2 {
            return None;
        }
        let mut cents = i64::from(digits(int.get(..int.len().min(9))?)?);
        for c in int.get(9..).unwrap_or(&[]) {
            cents = cents * 10 + i64::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
        }
        for i in 0..2 {
            let d = match frac.get(i) {
                Some(c) => i64::from(c.checked_sub(b'0').filter(|d| *d < 10)?),
                None => 0,
            };
            cents = cents * 10 + d;
        }
        // Up to ¥42,949,672.95 the fen fit a u32 and need no further check.
        match u32::try_from(cents) {
            Ok(fen) => Some(Yuan::from_fen(fen)),
            Err(_) => Yuan::new(Decimal::new(cents, 2)).ok(),
        }
    };
    if let Some(y) = fast() {
        return Ok(y);
    }
    let s = String::from_utf8_lossy(b);
    Yuan::parse(&s).map_err(|e| e.to_string())
}

/// A small word-at-a-time hash with a murmur3 finaliser: patient ids are short, and
/// SipHash's DoS resistance buys nothing in a one-shot calculator over the caller's own file.
/// The finaliser matters: hashbrown reads the top 7 bits, which a bare multiply leaves weak.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        self.0 = h;
    }
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// An open-addressing table from an inline 15-byte id (plus its length) to its number:
/// linear probing at a load of at most one half, so a lookup is usually one cache line, where
/// a general map reads a control byte and a bucket.
struct ShortIds {
    /// (key low, key high, number + 1); a zero number marks an empty slot.
    slots: Vec<(u64, u64, u32)>,
    len: usize,
}

impl ShortIds {
    fn new() -> Self {
        ShortIds {
            slots: vec![(0, 0, 0); 1 << 16],
            len: 0,
        }
    }

    fn slot(&self, lo: u64, hi: u64) -> usize {
        let mut h = IdHasher::default();
        h.write_u64(lo);
        h.write_u64(hi);
        (h.finish() as usize) & (self.slots.len() - 1)
    }

    /// Grows so that `more` insertions keep the load at most one half.
    fn reserve(&mut self, more: usize) {
        while (self.len + more) * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// The number of the key, inserting `next` when it is new; `true` when inserted.
    fn get_or_insert(&mut self, lo: u64, hi: u64, next: u32) -> (u32, bool) {
        self.reserve(1);
        let mask = self.slots.len() - 1;
        let mut i = self.slot(lo, hi);
        loop {
            match self.slots.get_mut(i) {
                Some((a, b, n)) if *n == 0 => {
                    (*a, *b, *n) = (lo, hi, next + 1);
                    self.len += 1;
                    return (next, true);
                }
                Some((a, b, n)) if *a == lo && *b == hi => return (*n - 1, false),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let doubled = vec![(0, 0, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for (lo, hi, n) in old.into_iter().filter(|s| s.2 != 0) {
            let mut i = self.slot(lo, hi);
            while self.slots.get(i).is_some_and(|s| s.2 != 0) {
                i = (i + 1) & mask;
            }
            if let Some(s) = self.slots.get_mut(i) {
                *s = (lo, hi, n);
            }
        }
    }
}

/// Patient ids interned to dense `u32`s. Ids of up to 15 bytes (nearly all) are keyed inline,
/// so a lookup touches the table only, never a string on the heap; the text lives once, in
/// one arena, in first-seen order.
struct Interner {
    short: ShortIds,
    long: HashMap<Box<[u8]>, u32, BuildHasherDefault<IdHasher>>,
    arena: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            short: ShortIds::new(),
            long: HashMap::default(),
            arena: Vec::new(),
            spans: Vec::new(),
        }
    }
}

/// Rows whose ids are looked up together. The lookup loop is short, so the processor keeps
/// many of its table misses in flight at once instead of one per parsed row.
const BATCH: usize = 64;

/// The inline key of an id under 16 bytes: the bytes, zero-padded, with the length last.
fn short_key(id: &[u8]) -> Option<(u64, u64)> {
    (id.len() < 16).then(|| {
        let mut w = [0u8; 16];
        w[..id.len()].copy_from_slice(id);
        w[15] = id.len() as u8;
        let k = u128::from_le_bytes(w);
        (k as u64, (k >> 64) as u64)
    })
}

impl Interner {
    /// Interns a batch of short ids and appends their rows.
    fn resolve(
        &mut self,
        pending: &mut Vec<((u64, u64), i32, Yuan)>,
        rows: &mut Vec<Row>,
    ) -> Result<(), String> {
        // First touch every slot the batch will probe: independent loads in a tiny loop, so
        // their cache misses overlap; the inserting pass then finds the lines in cache.
        self.short.reserve(pending.len());
        let mut touched = 0u32;
        for ((lo, hi), _, _) in pending.iter() {
            let i = self.short.slot(*lo, *hi);
            touched ^= self.short.slots.get(i).map_or(0, |s| s.2);
        }
        std::hint::black_box(touched);
        for ((lo, hi), day, amount) in pending.drain(..) {
            let next = self.next()?;
            let (patient, new) = self.short.get_or_insert(lo, hi, next);
            if new {
                let mut w = [0u8; 16];
                w[..8].copy_from_slice(&lo.to_le_bytes());
                w[8..].copy_from_slice(&hi.to_le_bytes());
                let len = usize::from(w[15]).min(15);
                self.spans.push((self.arena.len(), len));
                self.arena.extend_from_slice(&w[..len]);
            }
            rows.push(Row {
                patient,
                day,
                amount,
            });
        }
        Ok(())
    }

    fn next(&self) -> Result<u32, String> {
        u32::try_from(self.spans.len())
            .ok()
            .filter(|n| *n < u32::MAX - 1)
            .ok_or_else(|| "more than 2^32 - 2 patients".to_owned())
    }

    fn intern(&mut self, id: &[u8]) -> Result<u32, String> {
        let next = self.next()?;
        let (p, new) = if let Some((lo, hi)) = short_key(id) {
            self.short.get_or_insert(lo, hi, next)
        } else if let Some(p) = self.long.get(id) {
            (*p, false)
        } else {
            self.long.insert(id.into(), next);
            (next, true)
        };
        if new {
            self.spans.push((self.arena.len(), id.len()));
            self.arena.extend_from_slice(id);
        }
        Ok(p)
    }

    fn name(&self, p: u32) -> &[u8] {
        self.spans
            .get(p as usize)
            .and_then(|(at, len)| self.arena.get(*at..at + len))
            .unwrap_or(&[])
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

/// One input row: 24 bytes, no pointers.
#[derive(Clone, Copy)]
struct Row {
    patient: u32,
    day: i32,
    amount: Yuan,
}

struct Loaded {
    ids: Interner,
    rows: Vec<Row>,
}

/// `bytes_hint` is the input size when known: rows are reserved for it up front, so the
/// row vector never doubles and copies hundreds of megabytes.
fn load(
    reader: impl Read,
    bytes_hint: u64,
    cal: ClinicCalendar,
    as_of: i64,
) -> Result<Loaded, String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let header = csv
        .byte_headers()
        .map_err(|e| format!("line 1: {e}"))?
        .clone();
    let mut ids = Interner::default();
    // A row is rarely under 20 bytes (`id,YYYYMMDD,1.00` and a newline).
    let mut rows = Vec::with_capacity(usize::try_from(bytes_hint / 20).unwrap_or(0).min(1 << 28));
    if header.is_empty() {
        return Ok(Loaded { ids, rows });
    }
    let expected = ["patient_id", "date", "amount"];
    for (i, want) in expected.iter().enumerate() {
        let got = header.get(i).map(trim).unwrap_or(b"");
        let got = got.strip_prefix("\u{feff}".as_bytes()).unwrap_or(got);
        if got != want.as_bytes() {
            return Err(format!(
                "line 1: header column {} is {:?}, expected {want:?} (columns: patient_id,date,amount)",
                i + 1,
                String::from_utf8_lossy(got)
            ));
        }
    }
    let mut rec = csv::ByteRecord::new();
    let mut pending: Vec<((u64, u64), i32, Yuan)> = Vec::with_capacity(BATCH);
    loop {
        match csv.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(format!("line {line}: {e}"));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).map(trim).unwrap_or(b"");
        let id = field(0);
        if id.is_empty() {
            return Err(format!("line {line}: patient_id is empty"));
        }
        let day = parse_day(field(1), cal).map_err(|e| format!("line {line}: {e}"))?;
        let amount = parse_amount(field(2)).map_err(|e| format!("line {line}: {e}"))?;
        if !id.is_ascii() && std::str::from_utf8(id).is_err() {
            return Err(format!("line {line}: patient_id is not UTF-8"));
        }
        // Rows after the as-of day are checked but not kept: lifetimes leaves customers with
        // no earlier transaction out, so they need no id either.
        if day > as_of {
            continue;
        }
        let day = i32::try_from(day).map_err(|_| format!("line {line}: date out of range"))?;
        match short_key(id) {
            Some(key) => {
                pending.push((key, day, amount));
                if pending.len() == BATCH {
                    ids.resolve(&mut pending, &mut rows)
                        .map_err(|e| format!("line {line}: {e}"))?;
                }
            }
            None => {
                let patient = ids.intern(id).map_err(|e| format!("line {line}: {e}"))?;
                rows.push(Row {
                    patient,
                    day,
                    amount,
                });
            }
        }
    }
    ids.resolve(&mut pending, &mut rows)?;
    Ok(Loaded { ids, rows })
}

/// Stable LSD radix sort by patient, 11 bits a pass: each pass streams into 2,048 buckets,
/// which stays in cache where a scatter to a million patients would miss on every row.
fn group_by_patient(mut rows: Vec<Row>, patients: usize) -> Vec<Row> {
    const BITS: u32 = 11;
    let mut spare = vec![
        Row {
            patient: 0,
            day: 0,
            amount: Yuan::ZERO,
        };
        rows.len()
    ];
    let mut shift = 0;
    while shift < 32 && (patients >> shift) > 0 {
        let mut count = [0usize; 1 << BITS];
        let bucket = |r: &Row| ((r.patient >> shift) as usize) & ((1 << BITS) - 1);
        for r in &rows {
            count[bucket(r)] += 1;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for r in &rows {
            let b = bucket(r);
            spare[count[b]] = *r;
            count[b] += 1;
        }
        std::mem::swap(&mut rows, &mut spare);
        shift += BITS;
    }
    rows
}

fn compute(loaded: Loaded, as_of: i64) -> Result<(Interner, Vec<(u32, RfmSummary)>), String> {
    let Loaded { ids, rows } = loaded;
    let rows = group_by_patient(rows, ids.len());
    let mut out = Vec::with_capacity(ids.len());
    let mut days: Vec<(i64, Yuan)> = Vec::new();
    for run in rows.chunk_by(|a, b| a.patient == b.patient) {
        let Some(first) = run.first() else { continue };
        days.clear();
        days.extend(run.iter().map(|r| (i64::from(r.day), r.amount)));
        match RfmSummary::from_days(&mut days, as_of) {
            Ok(Some(s)) => out.push((first.patient, s)),
            Ok(None) => {}
            Err(_) => {
                return Err(format!(
                    "spend of patient {} overflows",
                    String::from_utf8_lossy(ids.name(first.patient))
                ));
            }
        }
    }
    Ok((ids, out))
}

struct OutRow {
    /// The first 16 bytes of the id, zero-padded: sorts big-endian, and is the whole id when
    /// `len ≤ 16`, so most rows are written without touching the arena.
    key: [u8; 16],
    len: u32,
    patient: u32,
    summary: RfmSummary,
    score: rfm::RfmScore,
}

fn write_all(out: &mut impl Write, records: &[OutRow], names: &Interner) -> io::Result<()> {
    out.write_all(
        b"patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment\n",
    )?;
    for r in records {
        let (s, sc) = (&r.summary, &r.score);
        let id = match r.key.get(..r.len as usize) {
            Some(inline) => inline,
            None => names.name(r.patient),
        };
        if id.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
            // RFC 4180 quoting, only where needed.
            out.write_all(b"\"")?;
            for b in id {
                if *b == b'"' {
                    out.write_all(b"\"")?;
                }
                out.write_all(std::slice::from_ref(b))?;
            }
            out.write_all(b"\"")?;
        } else {
            out.write_all(id)?;
        }
        writeln!(
            out,
            ",{},{},{},{},{},{},{},{}",
            s.frequency,
            s.recency,
            s.t,
            s.monetary_value,
            sc.r,
            sc.f,
            sc.m,
            sc.class.name_zh()
        )?;
    }
    out.flush()
}

fn run() -> Result<(), (u8, String)> {
    let args = parse_args().map_err(|e| (2, e))?;
    let t0 = Instant::now();
    let as_of = day_number(args.as_of);
    let loaded = match &args.input {
        Some(path) => {
            let f = std::fs::File::open(path).map_err(|e| (2, format!("{path}: {e}")))?;
            let size = f.metadata().map_or(0, |m| m.len());
            load(
                BufReader::with_capacity(1 << 20, f),
                size,
                args.calendar,
                as_of,
            )
        }
        None => load(io::stdin().lock(), 0, args.calendar, as_of),
    }
    .map_err(|e| (2, e))?;
    let t1 = Instant::now();
    let (names, summaries) = compute(loaded, as_of).map_err(|e| (2, e))?;
    let only: Vec<RfmSummary> = summaries.iter().map(|(_, s)| *s).collect();
    let scores = rfm::score(&only);
    // Sort whole output records on the first 16 bytes of the id held inline, falling back to
    // the full id on equal prefixes, then write them in one sequential pass: sorting
    // indexes instead would chase pointers to a million ids, a cache miss each.
    let mut records: Vec<OutRow> = summaries
        .iter()
        .zip(&scores)
        .map(|((p, s), sc)| {
            let name = names.name(*p);
            let mut key = [0u8; 16];
            for (d, b) in key.iter_mut().zip(name) {
                *d = *b;
            }
            OutRow {
                key,
                len: u32::try_from(name.len()).unwrap_or(u32::MAX),
                patient: *p,
                summary: *s,
                score: *sc,
            }
        })
        .collect();
    records.sort_unstable_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| names.name(a.patient).cmp(names.name(b.patient)))
    });
    let compute_ms = t1.elapsed().as_secs_f64() * 1e3;

    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    write_all(&mut out, &records, &names).map_err(|e| (1, format!("writing output: {e}")))?;
    if args.timing {
        eprintln!(
            "timing load_ms={:.3} compute_ms={:.3}",
            (t1 - t0).as_secs_f64() * 1e3,
            compute_ms
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}
