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
        Yuan::new(Decimal::new(cents, 2)).ok()
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

struct Loaded {
    names: Vec<Box<[u8]>>,
    rows: Vec<(u32, i64, Yuan)>,
}

fn load(reader: impl Read, cal: ClinicCalendar, as_of: i64) -> Result<Loaded, String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let header = csv
        .byte_headers()
        .map_err(|e| format!("line 1: {e}"))?
        .clone();
    let mut names: Vec<Box<[u8]>> = Vec::new();
    let mut rows = Vec::new();
    if header.is_empty() {
        return Ok(Loaded { names, rows });
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
    let mut ids: HashMap<Box<[u8]>, u32, BuildHasherDefault<IdHasher>> = HashMap::default();
    let mut rec = csv::ByteRecord::new();
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
        let pid = match ids.get(id) {
            Some(p) => *p,
            None => {
                if std::str::from_utf8(id).is_err() {
                    return Err(format!("line {line}: patient_id is not UTF-8"));
                }
                let p = u32::try_from(names.len())
                    .map_err(|_| format!("line {line}: more than 4294967295 patients"))?;
                names.push(id.into());
                ids.insert(id.into(), p);
                p
            }
        };
        if day <= as_of {
            rows.push((pid, day, amount));
        }
    }
    Ok(Loaded { names, rows })
}

fn compute(loaded: Loaded, as_of: i64) -> Result<(Vec<Box<[u8]>>, Vec<(u32, RfmSummary)>), String> {
    let Loaded { names, rows } = loaded;
    // Counting sort by patient: offsets from counts, then one scatter pass.
    let mut start = vec![0usize; names.len() + 1];
    for (p, _, _) in &rows {
        if let Some(c) = start.get_mut(*p as usize + 1) {
            *c += 1;
        }
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut fill = start.clone();
    let mut grouped = vec![(0i64, Yuan::ZERO); rows.len()];
    for (p, day, amount) in rows {
        if let Some(slot) = fill.get_mut(p as usize) {
            if let Some(g) = grouped.get_mut(*slot) {
                *g = (day, amount);
            }
            *slot += 1;
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for (p, w) in start.windows(2).enumerate() {
        let slice = grouped.get_mut(w[0]..w[1]).unwrap_or(&mut []);
        match RfmSummary::from_days(slice, as_of) {
            Ok(Some(s)) => out.push((p as u32, s)),
            Ok(None) => {}
            Err(_) => {
                let name = names
                    .get(p)
                    .map(|n| String::from_utf8_lossy(n).into_owned());
                return Err(format!(
                    "spend of patient {} overflows",
                    name.unwrap_or_default()
                ));
            }
        }
    }
    Ok((names, out))
}

fn write_all<'a>(
    out: &mut impl Write,
    order: &[(u64, usize)],
    summaries: &[(u32, RfmSummary)],
    scores: &[rfm::RfmScore],
    name: impl Fn(usize) -> &'a [u8],
) -> io::Result<()> {
    out.write_all(
        b"patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment\n",
    )?;
    for (_, i) in order {
        let (Some((_, s)), Some(sc)) = (summaries.get(*i), scores.get(*i)) else {
            continue;
        };
        let id = name(*i);
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
            load(BufReader::with_capacity(1 << 20, f), args.calendar, as_of)
        }
        None => load(io::stdin().lock(), args.calendar, as_of),
    }
    .map_err(|e| (2, e))?;
    let t1 = Instant::now();
    let (names, summaries) = compute(loaded, as_of).map_err(|e| (2, e))?;
    let only: Vec<RfmSummary> = summaries.iter().map(|(_, s)| *s).collect();
    let scores = rfm::score(&only);
    let name = |i: usize| {
        summaries
            .get(i)
            .and_then(|(p, _)| names.get(*p as usize))
            .map_or(&[][..], |n| &n[..])
    };
    // Sort on an 8-byte big-endian prefix held inline, falling back to the whole id on equal
    // prefixes: comparing through pointers to a million ids is cache misses all the way.
    let mut order: Vec<(u64, usize)> = (0..summaries.len())
        .map(|i| {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(name(i)) {
                *d = *s;
            }
            (u64::from_be_bytes(w), i)
        })
        .collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| name(a.1).cmp(name(b.1))));
    let compute_ms = t1.elapsed().as_secs_f64() * 1e3;

    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    write_all(&mut out, &order, &summaries, &scores, name)
        .map_err(|e| (1, format!("writing output: {e}")))?;
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
