//! Reference calculator: PDC under the PQA rules from a fill export.
//!
//! ```text
//! cargo run --release --example adherence -- --input fills.csv --period-start YYYY-MM-DD \
//!     --period-end YYYY-MM-DD [--threshold 0.8] [--timing]
//! ```
//!
//! Input: CSV with the columns `patient_id,drug,fill_date,days_supply` (selected by header
//! name; `fill_date` is `YYYY-MM-DD` or `YYYYMMDD`). All the drugs in a file are one class.
//! Output: CSV `patient_id,index_date,days_in_period,days_covered,pdc,adherent`, sorted by
//! `patient_id` as a string; `pdc` has 4 decimals (half up on the exact ratio). Patients left
//! out by the PQA rules (index date < 91 days before the end, fewer than two fill dates) are
//! not listed. Bad input: `line N: reason` on stderr and exit code 2.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcOutcome, PdcPeriod, pdc_by_patient};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/parquet.rs"]
mod pq;

use cli::Exit;

struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().or_else(|| {
        (t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| NaiveDate::parse_from_str(t, "%Y%m%d").ok())
            .flatten()
    })
}

struct Args {
    input: Option<String>,
    period: PdcPeriod,
    threshold: AdherenceThreshold,
    timing: bool,
}

const HEADER: &str = "patient_id,drug,fill_date,days_supply";

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names:
  patient_id   the patient, non-empty text
  drug         the drug, non-empty text; all the drugs in a file belong to one class
  fill_date    the fill's date, YYYY-MM-DD or YYYYMMDD
  days_supply  whole days the fill lasts
Example:
  patient_id,drug,fill_date,days_supply
  P1,metformin,2026-01-05,30
A FILE ending in .parquet is read as Parquet: the same columns by name (fill_date as text
or a DATE), 'line N' being row N-1.

Output: CSV patient_id,index_date,days_in_period,days_covered,pdc,adherent, sorted by
patient_id, under the PQA rules (patients with an index date under 91 days before
--period-end or fewer than two fill dates are left out).
Bad input: 'line N: reason' on stderr, exit code 2, nothing on stdout.";

fn command() -> clap::Command {
    cli::command(
        "adherence",
        "PDC under the PQA rules from a fill export",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(
        cli::value(
            "period-start",
            "YYYY-MM-DD",
            "the first day of the measurement period",
        )
        .required(true),
    )
    .arg(
        cli::value(
            "period-end",
            "YYYY-MM-DD",
            "the last day of the measurement period",
        )
        .required(true),
    )
    .arg(cli::value(
        "threshold",
        "0.8",
        "the PDC at or above which a patient is adherent (default 0.8)",
    ))
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    let date = |v: &str| parse_date(v).ok_or_else(|| "is not a YYYY-MM-DD date".to_owned());
    let start = cli::need(&m, "period-start", date)?;
    let end = cli::need(&m, "period-end", date)?;
    let threshold = cli::get(&m, "threshold", |v| {
        let t = v
            .trim()
            .parse::<f64>()
            .map_err(|_| "is not a number".to_owned())?;
        AdherenceThreshold::new(t).map_err(|e| e.to_string())
    })?
    .unwrap_or(AdherenceThreshold::DEFAULT);
    Ok(Args {
        input: cli::input_path(&m),
        period: PdcPeriod::new(start, end).map_err(|e| Exit::Bad(e.to_string()))?,
        threshold,
        timing: m.get_flag("timing"),
    })
}

/// The fills read so far. Patient ids and drug names are interned: the library wants compact
/// ids and short drug codes, the output wants the original text back.
#[derive(Default)]
struct Loader {
    patients: BTreeMap<String, u64>,
    names: Vec<String>,
    drugs: BTreeMap<String, Category>,
    fills: Vec<Fill>,
}

/// A row's checks, in the order the messages report them; `drug` is already trimmed.
fn check_row(
    line: impl std::fmt::Display,
    pid: &str,
    drug: &str,
    fill_date: Result<NaiveDate, &str>,
    days_supply: Result<u32, &str>,
) -> Result<(NaiveDate, DaysSupply), Fail> {
    let bad = |reason: String| Fail(format!("line {line}: {reason}"));
    if pid.is_empty() {
        return Err(bad("patient_id is empty".into()));
    }
    if drug.is_empty() {
        return Err(bad("drug is empty".into()));
    }
    let date = fill_date.or_else(|text| {
        parse_date(text).ok_or_else(|| bad(format!("fill_date {text:?} is not a YYYY-MM-DD date")))
    })?;
    let days = days_supply.or_else(|text| {
        let raw = text.trim();
        raw.parse()
            .map_err(|_| bad(format!("days_supply {raw:?} is not a whole number")))
    })?;
    let days_supply = DaysSupply::new(days).map_err(|e| bad(e.to_string()))?;
    Ok((date, days_supply))
}

impl Loader {
    fn push(
        &mut self,
        pid: &str,
        drug: &str,
        date: NaiveDate,
        days_supply: DaysSupply,
    ) -> Result<(), Fail> {
        let next = self.names.len() as u64;
        let names = &mut self.names;
        let id = *self.patients.entry(pid.to_owned()).or_insert_with(|| {
            names.push(pid.to_owned());
            next
        });
        let code = self.drugs.len();
        let drug = match self.drugs.get(drug) {
            Some(c) => c.clone(),
            None => {
                let c = Category::parse(&format!("d{code}"))?;
                self.drugs.insert(drug.to_owned(), c.clone());
                c
            }
        };
        self.fills.push(Fill {
            patient: PatientId::new(id),
            drug,
            filled_on: date,
            days_supply,
        });
        Ok(())
    }
}

/// Reads the fills of a CSV.
fn load(data: &[u8]) -> Result<(Vec<Fill>, Vec<String>), Fail> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(data);
    let headers = rdr
        .headers()
        .map_err(|e| Fail(format!("line 1: {e}")))?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    let [cp, cd, cf, cs] =
        cli::find_columns(&names, COLUMNS, HEADER).map_err(|e| Fail(e.message().to_owned()))?;
    let mut loader = Loader::default();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line());
                return Err(Fail(format!("line {line}: {e}")));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).unwrap_or("");
        let (pid, drug) = (field(cp), field(cd).trim());
        let (date, days) = check_row(line, pid, drug, Err(field(cf)), Err(field(cs)))?;
        loader.push(pid, drug, date, days)?;
    }
    Ok((loader.fills, loader.names))
}

const COLUMNS: [&str; 4] = ["patient_id", "drug", "fill_date", "days_supply"];

/// One checked row of a Parquet file.
type Parsed = (Box<str>, Box<str>, NaiveDate, DaysSupply);

/// Reads the fills of a Parquet file: the four columns decoded as Arrow arrays and checked
/// on one thread per share of the row groups, then interned in row order, with the CSV
/// reader's checks and messages (`line N` is row N - 2, 0-based).
fn load_parquet(path: &str) -> Result<(Vec<Fill>, Vec<String>), Fail> {
    let file = pq::open(path, &COLUMNS).map_err(Fail)?;
    let header = file.header();
    let names: Vec<&str> = header.split(',').filter(|n| !n.is_empty()).collect();
    let [cp, cd, cf, cs] =
        cli::find_columns(&names, COLUMNS, HEADER).map_err(|e| Fail(e.message().to_owned()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<Vec<Parsed>> = file
        .scan(threads, |rows: &mut Vec<Parsed>, b| {
            let cols = (b.col(cp), b.col(cd), b.col(cf), b.col(cs));
            let (Some(p), Some(d), Some(f), Some(s)) = cols else {
                return Err(pq::Fail::File(format!(
                    "{path}: a column is missing from a row group"
                )));
            };
            let (mut s1, mut s2, mut s3, mut s4) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..b.rows {
                let line = b.line(i);
                let text = |c: &pq::Col<'_>, scratch: &mut Vec<u8>| -> Result<String, pq::Fail> {
                    let t = c
                        .text(i, scratch)
                        .map_err(|why| pq::Fail::Line(line, why))?;
                    String::from_utf8(t.to_vec())
                        .map_err(|_| pq::Fail::Line(line, "text is not UTF-8".into()))
                };
                let pid = text(p, &mut s1)?;
                let drug = text(d, &mut s2)?;
                let date_text;
                let date = match f
                    .day(i)
                    .and_then(|d| i32::try_from(d).ok())
                    .and_then(NaiveDate::from_epoch_days)
                {
                    Some(d) => Ok(d),
                    None => {
                        date_text = text(f, &mut s3)?;
                        Err(date_text.as_str())
                    }
                };
                let days_text;
                let days = match s.integer(i).and_then(|v| u32::try_from(v).ok()) {
                    Some(v) => Ok(v),
                    None => {
                        days_text = text(s, &mut s4)?;
                        Err(days_text.as_str())
                    }
                };
                let (date, days) = check_row(line, &pid, drug.trim(), date, days)
                    .map_err(|Fail(m)| pq::Fail::File(m))?;
                rows.push((pid.into(), drug.trim().into(), date, days));
            }
            Ok(())
        })
        .map_err(|e| Fail(e.message()))?;
    let mut loader = Loader::default();
    for (pid, drug, date, days) in parts.into_iter().flatten() {
        loader.push(&pid, &drug, date, days)?;
    }
    Ok((loader.fills, loader.names))
}

fn run(args: &Args) -> Result<(), Fail> {
    let t0 = Instant::now();
    let (fills, names) = match args.input.as_deref() {
        Some(path) if pq::is_parquet(path) => load_parquet(path)?,
        path => {
            let data = cli::read_input(path).map_err(|e| Fail(e.message().to_owned()))?;
            cli::check_text(&data, HEADER).map_err(|e| Fail(e.message().to_owned()))?;
            load(&data)?
        }
    };
    let t1 = Instant::now();
    let results = pdc_by_patient(&fills, &args.period, args.threshold);
    let mut rows: Vec<(&str, String)> = Vec::new();
    for (patient, outcome) in &results {
        let PdcOutcome::Measured(m) = outcome else {
            continue;
        };
        let name = names.get(patient.get() as usize).map_or("", String::as_str);
        rows.push((
            name,
            format!(
                "{},{},{},{},{}",
                m.index_date,
                m.days_in_period,
                m.days_covered,
                m.rounded(4),
                m.adherent
            ),
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = String::from("patient_id,index_date,days_in_period,days_covered,pdc,adherent\n");
    for (name, rest) in rows {
        // Quote the id exactly as RFC 4180 would, through the csv writer.
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record([name])?;
        let quoted = String::from_utf8(w.into_inner().map_err(|e| Fail(e.to_string()))?)?;
        text.push_str(quoted.trim_end_matches('\n'));
        text.push(',');
        text.push_str(&rest);
        text.push('\n');
    }
    let t2 = Instant::now();
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if args.timing {
        cli::print_timing(t1 - t0, t2 - t1);
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::finish(
        parse_args(std::env::args().skip(1))
            .and_then(|args| run(&args).map_err(|Fail(msg)| Exit::Bad(msg))),
    )
}
