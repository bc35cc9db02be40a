//! Churn reference calculator: BG/NBD `p_alive` and expected visits, Gamma-Gamma spend and
//! CLV, fitted on the `rfm` input exactly as lifetimes' `BetaGeoFitter()` and
//! `GammaGammaFitter()` fit (maximum likelihood, no penalty), with one-day periods.
//!
//! ```text
//! cargo run --release --example churn -- --input transactions.csv --as-of YYYY-MM-DD \
//!     [--horizon-days 90] [--clv-months 12] [--discount 0.01] [--params-only] [--tz +08:00] [--timing]
//! ```
//!
//! Input: CSV `patient_id,date,amount` as for `rfm` (stdin when `--input` is missing or `-`;
//! a FILE ending in `.parquet` is read as Parquet, the same columns by name),
//! summarised as `rfm` summarises it. Output: CSV
//! `patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv`, sorted by
//! `patient_id` as a string; `p_alive` and `expected_visits` with 6 decimals, `clv` with 2.
//! `--params-only` prints the fitted parameters as one JSON object instead. Bad input or
//! data the models cannot be fitted on: the reason on stderr, exit 2.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, day_number};
use clinic_ops::churn::{
    BgNbd, ChurnError, DAYS_PER_MONTH, GammaGamma, Observation, ScoreSpec, SpendObservation, score,
};
use clinic_ops::segment::RfmSummary;

#[path = "../common/cli.rs"]
mod cli;
#[path = "../rfm/fields.rs"]
mod fields;

/// The rfm input's columns, which the shared loader reads by name.
pub(crate) const HEADER: &str = "patient_id,date,amount";
#[path = "../common/ids.rs"]
mod intern;
#[path = "../rfm/load.rs"]
mod load;
#[path = "../common/parquet.rs"]
mod pq;

use cli::Exit;
use fields::parse_date;
use intern::Interner;
use load::{Loaded, load};

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names (as for rfm):
  patient_id   the patient, non-empty text
  date         the local date of the transaction, YYYY-MM-DD or YYYYMMDD (other all-digit
               values are read as Unix seconds and dated in --tz)
  amount       a non-negative decimal, at most 2 places
Example:
  patient_id,date,amount
  P001,2026-01-15,128.00
A FILE ending in .parquet is read as Parquet: the same columns by name (date as text or a
DATE, amount as text, a decimal or a double), 'line N' being row N-1.

Output: CSV patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv,
sorted by patient_id; BG/NBD and Gamma-Gamma fitted as lifetimes' BetaGeoFitter() and
GammaGammaFitter() fit them, one-day periods; p_alive and expected_visits with 6 decimals,
clv with 2. --params-only prints {\"bgnbd\":{..},\"gamma_gamma\":{..},\"patients\":n} instead.
Bad input, or data the models cannot be fitted on: the reason on stderr ('line N: reason'
for the input), exit code 2, nothing on stdout.";

struct Args {
    input: Option<String>,
    as_of: NaiveDate,
    calendar: ClinicCalendar,
    horizon: f64,
    months: u32,
    discount: f64,
    params_only: bool,
    timing: bool,
}

fn command() -> clap::Command {
    cli::command(
        "churn",
        "BG/NBD p_alive and expected visits, Gamma-Gamma spend and CLV, fitted as lifetimes fits them",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(
        cli::value(
            "as-of",
            "YYYY-MM-DD",
            "the last day observed (YYYY-MM-DD or YYYYMMDD); later rows are ignored",
        )
        .required(true),
    )
    .arg(cli::value(
        "horizon-days",
        "N",
        "expected visits in the next N days (default 90)",
    ))
    .arg(cli::value(
        "clv-months",
        "N",
        "CLV over N months of 30 days, 0 to 1200 (default 12)",
    ))
    .arg(cli::value(
        "discount",
        "R",
        "monthly discount rate of the CLV, above -1 (default 0.01)",
    ))
    .arg(
        clap::Arg::new("params-only")
            .long("params-only")
            .action(clap::ArgAction::SetTrue)
            .help("print the fitted parameters as one JSON object and nothing else"),
    )
    .arg(cli::value(
        "tz",
        "+08:00",
        "the clinic's UTC offset for Unix-second dates (default +08:00)",
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
        horizon: cli::get(&m, "horizon-days", |v| cli::count::<u32>(v).map(f64::from))?
            .unwrap_or(90.0),
        months: cli::get(&m, "clv-months", |v| {
            let n = cli::count::<u32>(v)?;
            if n > 1200 {
                return Err("is more than 1200 months".to_owned());
            }
            Ok(n)
        })?
        .unwrap_or(12),
        discount: cli::get(&m, "discount", |v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite() && *d > -1.0)
                .ok_or_else(|| "is not a rate above -1".to_owned())
        })?
        .unwrap_or(0.01),
        params_only: m.get_flag("params-only"),
        timing: m.get_flag("timing"),
    })
}

/// Every patient's summary, as `rfm` computes it, sorted by id as a string.
fn summarise(loaded: Loaded, as_of: i64) -> Result<(Interner, Vec<(u32, RfmSummary)>), String> {
    let Loaded { ids, mut rows } = loaded;
    rows.sort_unstable_by_key(|r| r.patient);
    let mut out = Vec::with_capacity(ids.len());
    let mut days = Vec::new();
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
    out.sort_unstable_by(|a, b| ids.name(a.0).cmp(ids.name(b.0)));
    Ok((ids, out))
}

fn write_id(out: &mut impl Write, id: &[u8]) -> io::Result<()> {
    if id.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.write_all(b"\"")?;
        for b in id {
            if *b == b'"' {
                out.write_all(b"\"")?;
            }
            out.write_all(std::slice::from_ref(b))?;
        }
        out.write_all(b"\"")
    } else {
        out.write_all(id)
    }
}

/// The fitted models, or `None` with no patients at all (a header-only input).
fn fit(summaries: &[(u32, RfmSummary)]) -> Result<Option<(BgNbd, GammaGamma)>, Exit> {
    if summaries.is_empty() {
        return Ok(None);
    }
    let obs: Vec<Observation> = summaries
        .iter()
        .map(|(_, s)| Observation::from(*s))
        .collect();
    let spend: Vec<SpendObservation> = summaries
        .iter()
        .filter_map(|(_, s)| SpendObservation::from_rfm(s))
        .collect();
    let bad = |e: ChurnError| Exit::Bad(e.to_string());
    let bg = BgNbd::fit(&obs).map_err(bad)?.params;
    let gg = GammaGamma::fit(&spend).map_err(bad)?.params;
    Ok(Some((bg, gg)))
}

fn params_json(models: Option<(BgNbd, GammaGamma)>, n: usize) -> String {
    match models {
        Some((bg, gg)) => format!(
            "{{\"bgnbd\":{{\"r\":{},\"alpha\":{},\"a\":{},\"b\":{}}},\
             \"gamma_gamma\":{{\"p\":{},\"q\":{},\"v\":{}}},\"patients\":{n}}}",
            bg.r(),
            bg.alpha(),
            bg.a(),
            bg.b(),
            gg.p(),
            gg.q(),
            gg.v()
        ),
        None => format!("{{\"bgnbd\":null,\"gamma_gamma\":null,\"patients\":{n}}}"),
    }
}

/// Every patient's scores, in one batch (`churn::score`); an error names the patient.
fn scores(
    args: &Args,
    names: &Interner,
    summaries: &[(u32, RfmSummary)],
    models: Option<(BgNbd, GammaGamma)>,
) -> Result<Vec<(f64, f64, f64)>, Exit> {
    let Some((bg, gg)) = models else {
        return Ok(Vec::new());
    };
    let spec = ScoreSpec::new(args.horizon, args.months, args.discount, DAYS_PER_MONTH)
        .map_err(|e| Exit::Bad(e.to_string()))?;
    let patients: Vec<(Observation, f64)> = summaries
        .iter()
        .map(|(_, s)| {
            #[allow(clippy::cast_precision_loss)] // fen below 2^53 are exact
            let m = s.monetary_value.to_fen() as f64 / 100.0;
            (Observation::from(*s), m)
        })
        .collect();
    let scored = score(&bg, &gg, &patients, &spec).map_err(|e| match e {
        ChurnError::Patient { index, source } => {
            let who = summaries.get(index).map_or_else(String::new, |(p, _)| {
                String::from_utf8_lossy(names.name(*p)).into_owned()
            });
            Exit::Bad(format!("patient {who}: {source}"))
        }
        other => Exit::Bad(other.to_string()),
    })?;
    Ok(scored
        .iter()
        .map(|s| (s.p_alive, s.expected_visits, s.clv))
        .collect())
}

fn run() -> Result<(), Exit> {
    let args = parse_args(std::env::args().skip(1))?;
    let t0 = Instant::now();
    let as_of = day_number(args.as_of);
    // Read whole: a 0-byte input is bad input (no header), which the shared loader cannot
    // tell from a header-only one.
    let bytes = match &args.input {
        // A FILE ending in .parquet: the same columns by name, as rfm reads it.
        Some(path) if pq::is_parquet(path) => {
            pq::read_as_csv(path, &["patient_id", "date", "amount"]).map_err(Exit::Bad)?
        }
        _ => cli::read_input(args.input.as_deref())?,
    };
    cli::check_text(&bytes, HEADER)?;
    let size = u64::try_from(bytes.len()).unwrap_or(0);
    let loaded = load(&bytes[..], size, args.calendar, as_of).map_err(Exit::Bad)?;
    let t1 = Instant::now();
    let (names, summaries) = summarise(loaded, as_of).map_err(Exit::Bad)?;
    let models = fit(&summaries)?;
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let io_err = |e: io::Error| Exit::Io(format!("writing output: {e}"));
    if args.params_only {
        writeln!(out, "{}", params_json(models, summaries.len())).map_err(io_err)?;
    } else {
        // Every line is computed before the first is written: an error leaves stdout empty.
        let lines = scores(&args, &names, &summaries, models)?;
        let compute = t1.elapsed();
        out.write_all(
            b"patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv\n",
        )
        .map_err(io_err)?;
        for ((p, s), (alive, expected, value)) in summaries.iter().zip(lines) {
            write_id(&mut out, names.name(*p)).map_err(io_err)?;
            writeln!(
                out,
                ",{},{},{},{},{alive:.6},{expected:.6},{value:.2}",
                s.frequency, s.recency, s.t, s.monetary_value
            )
            .map_err(io_err)?;
        }
        if args.timing {
            cli::print_timing(t1 - t0, compute);
        }
    }
    out.flush().map_err(io_err)
}

fn main() -> ExitCode {
    cli::finish(run())
}
