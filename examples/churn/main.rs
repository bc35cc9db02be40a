//! Churn reference calculator: BG/NBD `p_alive` and expected visits, Gamma-Gamma spend and
//! CLV, fitted on the `rfm` input exactly as lifetimes' `BetaGeoFitter()` and
//! `GammaGammaFitter()` fit (maximum likelihood, no penalty), with one-day periods.
//!
//! ```text
//! cargo run --release --example churn -- --input transactions.csv --as-of YYYY-MM-DD \
//!     [--horizon-days 90] [--clv-months 12] [--discount 0.01] [--params-only] [--tz +08:00] [--timing]
//! ```
//!
//! Input: CSV `patient_id,date,amount` as for `rfm` (stdin when `--input` is missing or `-`),
//! summarised as `rfm` summarises it. Output: CSV
//! `patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv`, sorted by
//! `patient_id` as a string; `p_alive` and `expected_visits` with 6 decimals, `clv` with 2.
//! `--params-only` prints the fitted parameters as one JSON object instead. Bad input or
//! data the models cannot be fitted on: the reason on stderr, exit 2.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, day_number};
use clinic_ops::churn::{BgNbd, DAYS_PER_MONTH, GammaGamma, Observation, SpendObservation, clv};
use clinic_ops::segment::RfmSummary;

// The rfm loader finds its columns with the shared CLI helpers (cli.rs allows the ones a
// calculator leaves unused); churn parses its own flags, not yet on the shared contract.
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

use fields::parse_date;
use intern::Interner;
use load::{Loaded, load};

const USAGE: &str = "\
usage: churn [--input FILE|-] --as-of YYYY-MM-DD [--horizon-days 90] [--clv-months 12]
             [--discount 0.01] [--params-only] [--tz +08:00] [--timing]

  --input FILE     transactions CSV (stdin when missing or -)
  --as-of DATE     the last day observed (YYYY-MM-DD or YYYYMMDD); later rows are ignored
  --horizon-days N expected visits in the next N days (default 90)
  --clv-months N   CLV over N months of 30 days (default 12)
  --discount R     monthly discount rate of the CLV (default 0.01)
  --params-only    print {\"bgnbd\":{..},\"gamma_gamma\":{..},\"patients\":n} and nothing else
  --tz +08:00      the clinic's UTC offset for Unix-second dates (default +08:00)
  --timing         one line `timing load_ms=.. compute_ms=..` on stderr
  --help           this text

input columns: patient_id,date,amount    e.g.  P001,2026-01-15,128.00";

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

/// `Ok(None)` for `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    let mut input = None;
    let mut as_of = None;
    let mut calendar = ClinicCalendar::default();
    let (mut horizon, mut months, mut discount) = (90.0, 12, 0.01);
    let (mut params_only, mut timing) = (false, false);
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
            "--horizon-days" => {
                let v = value("--horizon-days")?;
                horizon = v
                    .parse::<u32>()
                    .map(f64::from)
                    .map_err(|_| format!("--horizon-days {v:?} is not a whole number of days"))?;
            }
            "--clv-months" => {
                let v = value("--clv-months")?;
                months = v.parse::<u32>().ok().filter(|m| *m <= 1200).ok_or(format!(
                    "--clv-months {v:?} is not a whole number from 0 to 1200"
                ))?;
            }
            "--discount" => {
                let v = value("--discount")?;
                discount = v
                    .parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && *d > -1.0)
                    .ok_or(format!("--discount {v:?} is not a rate above -1"))?;
            }
            "--tz" => {
                let v = value("--tz")?;
                calendar = ClinicCalendar::parse(&v).map_err(|e| format!("--tz: {e}"))?;
            }
            "--params-only" => params_only = true,
            "--timing" => timing = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(Args {
        input: input.filter(|i| i != "-"),
        as_of: as_of.ok_or(format!("--as-of is required\n{USAGE}"))?,
        calendar,
        horizon,
        months,
        discount,
        params_only,
        timing,
    }))
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
fn fit(summaries: &[(u32, RfmSummary)]) -> Result<Option<(BgNbd, GammaGamma)>, String> {
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
    let bg = BgNbd::fit(&obs).map_err(|e| e.to_string())?.params;
    let gg = GammaGamma::fit(&spend).map_err(|e| e.to_string())?.params;
    Ok(Some((bg, gg)))
}

fn run() -> Result<(), (u8, String)> {
    let Some(args) = parse_args().map_err(|e| (2, e))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let t0 = Instant::now();
    let as_of = day_number(args.as_of);
    // Read whole: a 0-byte input is bad input (no header), which the shared loader cannot
    // tell from a header-only one.
    let bytes = match &args.input {
        Some(path) => std::fs::read(path).map_err(|e| (2, format!("{path}: {e}")))?,
        None => {
            let mut b = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut b)
                .map_err(|e| (2, format!("reading stdin: {e}")))?;
            b
        }
    };
    if bytes.is_empty() {
        return Err((
            2,
            "line 1: empty input, expected the header patient_id,date,amount".into(),
        ));
    }
    let size = u64::try_from(bytes.len()).unwrap_or(0);
    let loaded = load(&bytes[..], size, args.calendar, as_of).map_err(|e| (2, e))?;
    let t1 = Instant::now();
    let (names, summaries) = summarise(loaded, as_of).map_err(|e| (2, e))?;
    let models = fit(&summaries).map_err(|e| (2, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let io_err = |e: io::Error| (1, format!("writing output: {e}"));
    if args.params_only {
        let n = summaries.len();
        let text = match models {
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
        };
        writeln!(out, "{text}").map_err(io_err)?;
    } else {
        // Every line is computed before the first is written: an error leaves stdout empty.
        let mut lines = Vec::with_capacity(summaries.len());
        if let Some((bg, gg)) = &models {
            for (p, s) in &summaries {
                let o = Observation::from(*s);
                #[allow(clippy::cast_precision_loss)]
                let m = s.monetary_value.to_fen() as f64 / 100.0;
                let why = |e: clinic_ops::churn::ChurnError| {
                    (
                        2,
                        format!("patient {}: {e}", String::from_utf8_lossy(names.name(*p))),
                    )
                };
                let expected = bg.expected_visits(args.horizon, &o).map_err(why)?;
                let value =
                    clv(bg, gg, &o, m, args.months, args.discount, DAYS_PER_MONTH).map_err(why)?;
                lines.push((*p, *s, bg.p_alive(&o), expected, value));
            }
        }
        let compute_ms = t1.elapsed().as_secs_f64() * 1e3;
        out.write_all(
            b"patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv\n",
        )
        .map_err(io_err)?;
        for (p, s, alive, expected, value) in lines {
            write_id(&mut out, names.name(p)).map_err(io_err)?;
            writeln!(
                out,
                ",{},{},{},{},{alive:.6},{expected:.6},{value:.2}",
                s.frequency, s.recency, s.t, s.monetary_value
            )
            .map_err(io_err)?;
        }
        if args.timing {
            eprintln!(
                "timing load_ms={:.3} compute_ms={compute_ms:.3}",
                (t1 - t0).as_secs_f64() * 1e3
            );
        }
    }
    out.flush().map_err(io_err)
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
