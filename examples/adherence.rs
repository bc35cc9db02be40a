//! Reference calculator: PDC under the PQA rules from a fill export.
//!
//! ```text
//! cargo run --release --example adherence -- --input fills.csv --period-start YYYY-MM-DD \
//!     --period-end YYYY-MM-DD [--threshold 0.8]
//! ```
//!
//! Input: CSV with the columns `patient_id,drug,fill_date,days_supply` (selected by header
//! name; `fill_date` is `YYYY-MM-DD` or `YYYYMMDD`). All the drugs in a file are one class.
//! Output: CSV `patient_id,index_date,days_in_period,days_covered,pdc,adherent`, sorted by
//! `patient_id` as a string; `pdc` has 4 decimals (half up on the exact ratio). Patients left
//! out by the PQA rules (index date < 91 days before the end, fewer than two fill dates) are
//! not listed. Bad input: `line N: reason` on stderr and exit code 2.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;

use chrono::NaiveDate;
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcOutcome, PdcPeriod, pdc_by_patient};

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
}

fn parse_args() -> Result<Args, Fail> {
    let mut input = None;
    let mut start = None;
    let mut end = None;
    let mut threshold = AdherenceThreshold::DEFAULT;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Fail(format!("flag {flag} needs a value")))
        };
        let date = |v: String, name: &str| {
            parse_date(&v).ok_or_else(|| Fail(format!("{name} {v:?} is not a YYYY-MM-DD date")))
        };
        match flag.as_str() {
            "--input" => input = Some(value()?).filter(|s| s != "-"),
            "--period-start" => start = Some(date(value()?, "--period-start")?),
            "--period-end" => end = Some(date(value()?, "--period-end")?),
            "--threshold" => {
                let v = value()?;
                let t = v
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| Fail(format!("--threshold {v:?} is not a number")))?;
                threshold = AdherenceThreshold::new(t)?;
            }
            other => return Err(Fail(format!("unknown flag {other}"))),
        }
    }
    let start = start.ok_or_else(|| Fail("--period-start is required".into()))?;
    let end = end.ok_or_else(|| Fail("--period-end is required".into()))?;
    Ok(Args {
        input,
        period: PdcPeriod::new(start, end)?,
        threshold,
    })
}

/// Reads the fills. Patient ids and drug names are interned: the library wants compact ids and
/// short drug codes, the output wants the original text back.
fn load(data: &[u8]) -> Result<(Vec<Fill>, Vec<String>), Fail> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(data);
    let headers = rdr
        .headers()
        .map_err(|e| Fail(format!("line 1: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| Fail(format!("line 1: missing column {name}")))
    };
    let (cp, cd, cf, cs) = (
        col("patient_id")?,
        col("drug")?,
        col("fill_date")?,
        col("days_supply")?,
    );
    let mut patients: BTreeMap<String, u64> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut drugs: BTreeMap<String, Category> = BTreeMap::new();
    let mut fills = Vec::new();
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
        let bad = |reason: String| Fail(format!("line {line}: {reason}"));
        let field = |i: usize| rec.get(i).unwrap_or("");
        let pid = field(cp);
        if pid.is_empty() {
            return Err(bad("patient_id is empty".into()));
        }
        let drug = field(cd).trim();
        if drug.is_empty() {
            return Err(bad("drug is empty".into()));
        }
        let date = parse_date(field(cf)).ok_or_else(|| {
            bad(format!(
                "fill_date {:?} is not a YYYY-MM-DD date",
                field(cf)
            ))
        })?;
        let raw = field(cs).trim();
        let days: u32 = raw
            .parse()
            .map_err(|_| bad(format!("days_supply {raw:?} is not a whole number")))?;
        let days_supply = DaysSupply::new(days).map_err(|e| bad(e.to_string()))?;
        let next = names.len() as u64;
        let id = *patients.entry(pid.to_owned()).or_insert_with(|| {
            names.push(pid.to_owned());
            next
        });
        let code = drugs.len();
        let drug = match drugs.get(drug) {
            Some(c) => c.clone(),
            None => {
                let c = Category::parse(&format!("d{code}"))?;
                drugs.insert(drug.to_owned(), c.clone());
                c
            }
        };
        fills.push(Fill {
            patient: PatientId::new(id),
            drug,
            filled_on: date,
            days_supply,
        });
    }
    Ok((fills, names))
}

fn run() -> Result<(), Fail> {
    let args = parse_args()?;
    let mut data = Vec::new();
    match &args.input {
        Some(path) => {
            data = std::fs::read(path).map_err(|e| Fail(format!("{path}: {e}")))?;
        }
        None => {
            std::io::stdin().read_to_end(&mut data)?;
        }
    }
    let (fills, names) = load(&data)?;
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
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
