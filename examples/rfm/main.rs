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

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, day_number};
use clinic_ops::label::Lang;
use clinic_ops::money::Yuan;
use clinic_ops::segment::{RfmClass, RfmScore, RfmSummary, score_rfm};

/// The columns the calculator needs; others are ignored.
pub(crate) const HEADER: &str = "patient_id,date,amount";

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names:
  patient_id   the patient, non-empty text
  date         the local date of the transaction, YYYY-MM-DD or YYYYMMDD (other all-digit
               values are read as Unix seconds and dated in --tz)
  amount       a non-negative decimal, at most 2 places
Example:
  patient_id,date,amount
  P1,2026-01-05,268.00
A FILE ending in .parquet is read as Parquet: the same columns by name (date as text or a
DATE, amount as text, a decimal or a double), 'line N' being row N-1.

Output: CSV patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment,
sorted by patient_id; lifetimes' summary with one-day periods, transactions after --as-of
ignored, segment one of the 8 Chinese RFM classes.
Bad input: 'line N: reason' on stderr, exit code 2, nothing on stdout.";

struct Args {
    input: Option<String>,
    as_of: NaiveDate,
    calendar: ClinicCalendar,
    timing: bool,
    svg: Option<String>,
    lang: Lang,
}

fn command() -> clap::Command {
    cli::command(
        "rfm",
        "RFM summary (lifetimes' definitions), quintile scores and the 8 RFM classes",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(cli::value("as-of", "YYYY-MM-DD", "the day the summary is taken on").required(true))
    .arg(cli::value(
        "tz",
        "+08:00",
        "the clinic's UTC offset (default +08:00)",
    ))
    .arg(cli::value(
        "svg",
        "FILE",
        "also draw the patients in each of the 8 RFM classes there",
    ))
    .arg(cli::value(
        "lang",
        "zh|en",
        "the chart's language (default zh)",
    ))
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    Ok(Args {
        input: cli::input_path(&m),
        as_of: cli::need(&m, "as-of", |v| {
            parse_date(v.trim().as_bytes())
                .ok_or_else(|| "is not YYYY-MM-DD or YYYYMMDD".to_owned())
        })?,
        calendar: cli::calendar(&m)?,
        timing: m.get_flag("timing"),
        svg: cli::get(&m, "svg", |v| Ok(v.to_owned()))?,
        lang: cli::get(&m, "lang", chart::parse_lang)?.unwrap_or_default(),
    })
}

#[path = "../common/chart.rs"]
mod chart;
#[path = "../common/chunks.rs"]
mod chunks;
#[path = "../common/cli.rs"]
mod cli;
mod fields;
#[path = "../common/ids.rs"]
mod intern;
mod load;
mod parallel;
#[path = "../common/parquet.rs"]
mod pq;

use cli::Exit;
use fields::parse_date;
use intern::Interner;
use load::{Loaded, Row, load};
use parallel::{load_parallel, load_parquet};

/// Stable LSD radix sort by patient, 11 bits a pass: each pass streams into 2,048 buckets,
/// which stays in cache where a scatter to a million patients would miss on every row. The
/// first pass reads the rows where the reader left them, one vector per reader thread, in
/// input order.
fn group_by_patient(parts: Vec<Vec<Row>>, patients: usize) -> Vec<Row> {
    const BITS: u32 = 11;
    let total: usize = parts.iter().map(Vec::len).sum();
    let zero = Row {
        patient: 0,
        day: 0,
        amount: Yuan::ZERO,
    };
    fn bucket(r: &Row, shift: u32) -> usize {
        ((r.patient >> shift) as usize) & ((1 << BITS) - 1)
    }
    fn scatter<'a>(
        from: impl Iterator<Item = &'a Row>,
        count: &mut [usize],
        to: &mut [Row],
        shift: u32,
    ) {
        for r in from {
            if let Some(c) = count.get_mut(bucket(r, shift)) {
                if let Some(slot) = to.get_mut(*c) {
                    *slot = *r;
                }
                *c += 1;
            }
        }
    }
    fn offsets(count: &mut [usize]) {
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
    }
    let mut rows = vec![zero; total];
    let mut count = [0usize; 1 << BITS];
    for r in parts.iter().flatten() {
        count[bucket(r, 0)] += 1;
    }
    offsets(&mut count);
    scatter(parts.iter().flatten(), &mut count, &mut rows, 0);
    drop(parts);
    let mut spare = vec![zero; total];
    let mut shift = BITS;
    while shift < 32 && (patients >> shift) > 0 {
        let mut count = [0usize; 1 << BITS];
        for r in &rows {
            count[bucket(r, shift)] += 1;
        }
        offsets(&mut count);
        scatter(rows.iter(), &mut count, &mut spare, shift);
        std::mem::swap(&mut rows, &mut spare);
        shift += BITS;
    }
    rows
}

fn compute(
    ids: Interner,
    parts: Vec<Vec<Row>>,
    as_of: i64,
) -> Result<(Interner, Vec<(u32, RfmSummary)>), String> {
    let rows = group_by_patient(parts, ids.len());
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
    score: RfmScore,
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

fn run() -> Result<(), Exit> {
    let args = parse_args(std::env::args().skip(1))?;
    let t0 = Instant::now();
    let as_of = day_number(args.as_of);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (ids, parts) = match &args.input {
        Some(path) if pq::is_parquet(path) => load_parquet(path, threads, args.calendar, as_of)
            .map_err(|e| match e {
                pq::Fail::Line(line, why) => Exit::line(line, why),
                pq::Fail::File(why) => Exit::Bad(why),
            })?,
        path => {
            // The whole input in memory: the parallel reader cuts it into one range per
            // thread; whatever it does not take, the sequential reader does.
            let data = cli::map_input(path.as_deref())?;
            match load_parallel(&data, threads, args.calendar, as_of) {
                Some(loaded) => loaded,
                None => {
                    let size = data.len() as u64;
                    let Loaded { ids, rows } =
                        load(&data[..], size, args.calendar, as_of).map_err(Exit::Bad)?;
                    (ids, vec![rows])
                }
            }
        }
    };
    let t1 = Instant::now();
    let (names, summaries) = compute(ids, parts, as_of).map_err(Exit::Bad)?;
    let only: Vec<RfmSummary> = summaries.iter().map(|(_, s)| *s).collect();
    let scores = score_rfm(&only);
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
    if let Some(path) = &args.svg {
        let classes: Vec<(RfmClass, u64)> = RfmClass::ALL
            .iter()
            .map(|c| (*c, scores.iter().filter(|s| s.class == *c).count() as u64))
            .collect();
        chart::save(path, &chart::rfm(args.lang, &classes)).map_err(Exit::Bad)?;
    }

    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    write_all(&mut out, &records, &names).map_err(|e| Exit::Io(format!("writing output: {e}")))?;
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
    cli::finish(run())
}
