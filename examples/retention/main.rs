//! Reference calculator: retention cohorts from a visit export.
//!
//! ```text
//! cargo run --release --example retention -- --input visits.csv --period day|week|month \
//!     --periods N [--tz +08:00] [--cohorts first|recurring] [--window calendar|rolling] [--timing]
//! ```
//!
//! Input: CSV with a header naming at least `patient_id` and `timestamp` (Unix seconds, UTC);
//! other columns are ignored, so the funnel export (`patient_id,event,timestamp,channel`)
//! works as is. Output: `{"period":..,"cohorts":[{"start":"YYYY-MM-DD","size":n,"retained":[..]}]}`.
//! Bad input: `line N: reason` on stderr and exit code 2.
//!
//! The loader (`load.rs`) is built for exports of ten million rows: two threads each read
//! and parse half of the file (split at a line boundary) block by block, with a hand-written
//! path for unquoted lines, scattering rows into 256 partitions by a hash of the patient id;
//! then two threads intern the partitions, each in a small table that stays in cache. If any
//! quote appears, the whole input goes through the `csv` crate instead (a quoted field may
//! hold a newline, so splitting at newlines would no longer be safe).

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::label::Lang;
use clinic_ops::metrics::retention::{
    CohortKind, RetentionMatrix, RetentionSpec, RetentionWindow, retention_indexed,
};

#[path = "../common/chart.rs"]
mod chart;
#[path = "../common/cli.rs"]
mod cli;
#[path = "../common/ids.rs"]
mod ids;
mod load;
mod parquet;
#[path = "../common/parquet.rs"]
mod pq;

use cli::Exit;

use load::{Source, load};

/// A failure to report: the message, and the exit code.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

struct Args {
    input: Option<String>,
    spec: RetentionSpec,
    cal: ClinicCalendar,
    timing: bool,
    svg: Option<String>,
    lang: Lang,
}

/// The columns the calculator needs; others are ignored.
const HEADER: &str = "patient_id,timestamp";

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names, others are
ignored (so the funnel export works as is):
  patient_id   the patient, non-empty text
  timestamp    the visit, whole Unix seconds (UTC, from 1970)
Example:
  patient_id,timestamp
  P1,1767225600
A FILE ending in .parquet is read as Parquet: the same columns by name (timestamp as an
integer or a TIMESTAMP), 'line N' being row N-1.

Output: {\"period\":..,\"cohorts\":[{\"start\":\"YYYY-MM-DD\",\"size\":n,\"retained\":[..]}]} on stdout;
a patient's cohort is the local period of its first visit, retained[k] counts the members
with a visit in period k (retained[0] = size). Weeks start on Monday.
Bad input: 'line N: reason' on stderr, exit code 2, nothing on stdout.";

fn command() -> clap::Command {
    cli::command(
        "retention",
        "Retention cohorts from a visit export",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(
        cli::value(
            "period",
            "day|week|month",
            "the cohort and retention period",
        )
        .required(true),
    )
    .arg(
        cli::value(
            "periods",
            "N",
            "how many periods to count from each cohort's own",
        )
        .required(true),
    )
    .arg(cli::value(
        "tz",
        "+08:00",
        "the clinic's UTC offset (default +08:00)",
    ))
    .arg(cli::value(
        "cohorts",
        "first|recurring",
        "cohorts by first visit (default) or every visit",
    ))
    .arg(cli::value(
        "window",
        "calendar|rolling",
        "calendar periods (default) or rolling ones from each first visit",
    ))
    .arg(cli::value(
        "svg",
        "FILE",
        "also draw the cohort heatmap (cohort, size, period 0 = 100%) there",
    ))
    .arg(cli::value(
        "lang",
        "zh|en",
        "the chart's language (default zh)",
    ))
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    let period = cli::need(&m, "period", |v| match v {
        "day" => Ok(Period::Day),
        "week" => Ok(Period::Week),
        "month" => Ok(Period::Month),
        _ => Err("is not day, week or month".to_owned()),
    })?;
    let periods = cli::need(&m, "periods", cli::count::<u32>)?;
    let cal = cli::calendar(&m)?;
    let cohorts = cli::get(&m, "cohorts", |v| match v {
        "first" => Ok(CohortKind::FirstTime),
        "recurring" => Ok(CohortKind::Recurring),
        _ => Err("is not first or recurring".to_owned()),
    })?
    .unwrap_or(CohortKind::FirstTime);
    let window = cli::get(&m, "window", |v| match v {
        "calendar" => Ok(RetentionWindow::Calendar),
        "rolling" => Ok(RetentionWindow::Rolling),
        _ => Err("is not calendar or rolling".to_owned()),
    })?
    .unwrap_or(RetentionWindow::Calendar);
    let bad = |e: clinic_ops::metrics::retention::RetentionError| Exit::Bad(e.to_string());
    let spec = RetentionSpec::new(period, periods)
        .map_err(bad)?
        .with_cohorts(cohorts)
        .with_window(window)
        .map_err(bad)?;
    Ok(Args {
        input: cli::input_path(&m),
        spec,
        cal,
        timing: m.get_flag("timing"),
        svg: cli::get(&m, "svg", |v| Ok(v.to_owned()))?,
        lang: cli::get(&m, "lang", chart::parse_lang)?.unwrap_or_default(),
    })
}

/// Rows in memory: a dense patient index and Unix seconds per row.
fn render(m: &RetentionMatrix) -> String {
    let period = match m.spec().period() {
        Period::Day => "day",
        Period::Week => "week",
        _ => "month",
    };
    let mut s = format!("{{\"period\":\"{period}\",\"cohorts\":[");
    for (i, c) in m.cohorts().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let retained: Vec<String> = c.retained.iter().map(u64::to_string).collect();
        s.push_str(&format!(
            "{{\"start\":\"{}\",\"size\":{},\"retained\":[{}]}}",
            c.start,
            c.size,
            retained.join(",")
        ));
    }
    s.push_str("]}");
    s
}

fn run(args: &Args) -> Result<(), Fail> {
    let started = Instant::now();
    let src = match &args.input {
        Some(path) if pq::is_parquet(path) => {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let rows = parquet::load_parquet(path, threads)?;
            return finish(args, rows, started);
        }
        Some(path) => {
            Source::File(std::fs::File::open(path).map_err(|e| Fail(format!("{path}: {e}")))?)
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Source::Memory(buf)
        }
    };
    let rows = load(&src)?;
    finish(args, rows, started)
}

/// Computes, draws and prints the answer for the loaded rows.
fn finish(args: &Args, rows: load::Rows, started: Instant) -> Result<(), Fail> {
    let loaded = Instant::now();
    // The loader hands over two shards of disjoint patients: compute them on two threads and
    // merge, which is exact (`RetentionMatrix::merge`).
    let (pa, pb) = rows.patients.split_at(rows.split.min(rows.patients.len()));
    let (ta, tb) = rows.times.split_at(rows.split.min(rows.times.len()));
    let (ma, mb) = std::thread::scope(|s| {
        let hb = s.spawn(|| retention_indexed(pb, tb, &args.spec, args.cal));
        let ma = retention_indexed(pa, ta, &args.spec, args.cal);
        (ma, hb.join())
    });
    let mut m = ma?;
    m.merge(&mb.map_err(|_| Fail("the compute thread failed".into()))??)?;
    let done = Instant::now();
    if let Some(path) = &args.svg {
        let period = match (args.lang, args.spec.period()) {
            (Lang::En, Period::Day) => "day",
            (Lang::En, Period::Week) => "week",
            (Lang::En, _) => "month",
            (_, Period::Day) => "天",
            (_, Period::Week) => "周",
            _ => "月",
        };
        let rows: Vec<chart::CohortRow> = m
            .cohorts()
            .iter()
            .map(|c| chart::CohortRow {
                start: c.start.to_string(),
                size: c.size,
                retained: c.retained.clone(),
            })
            .collect();
        chart::save(path, &chart::retention(args.lang, period, &rows)).map_err(Fail)?;
    }
    println!("{}", render(&m));
    if args.timing {
        eprintln!(
            "timing load_ms={:.3} compute_ms={:.3}",
            (loaded - started).as_secs_f64() * 1e3,
            (done - loaded).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::finish(
        parse_args(std::env::args().skip(1))
            .and_then(|args| run(&args).map_err(|Fail(msg)| Exit::Bad(msg))),
    )
}
