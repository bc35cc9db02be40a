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
use clinic_ops::metrics::retention::{
    CohortKind, RetentionMatrix, RetentionSpec, RetentionWindow, retention_indexed,
};

mod load;

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
}

fn parse_args() -> Result<Args, Fail> {
    let mut input = None;
    let mut period = None;
    let mut periods = None;
    let mut cal = ClinicCalendar::default();
    let mut cohorts = CohortKind::FirstTime;
    let mut window = RetentionWindow::Calendar;
    let mut timing = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Fail(format!("flag {flag} needs a value")))
        };
        match flag.as_str() {
            "--input" => input = Some(value()?).filter(|s| s != "-"),
            "--period" => {
                period = Some(match value()?.as_str() {
                    "day" => Period::Day,
                    "week" => Period::Week,
                    "month" => Period::Month,
                    other => {
                        return Err(Fail(format!(
                            "--period {other:?} is not day, week or month"
                        )));
                    }
                })
            }
            "--periods" => {
                let v = value()?;
                periods = Some(
                    v.parse::<u32>()
                        .map_err(|_| Fail(format!("--periods {v:?} is not a whole number")))?,
                )
            }
            "--tz" => cal = ClinicCalendar::parse(&value()?)?,
            "--cohorts" => {
                cohorts = match value()?.as_str() {
                    "first" => CohortKind::FirstTime,
                    "recurring" => CohortKind::Recurring,
                    other => {
                        return Err(Fail(format!(
                            "--cohorts {other:?} is not first or recurring"
                        )));
                    }
                }
            }
            "--window" => {
                window = match value()?.as_str() {
                    "calendar" => RetentionWindow::Calendar,
                    "rolling" => RetentionWindow::Rolling,
                    other => {
                        return Err(Fail(format!(
                            "--window {other:?} is not calendar or rolling"
                        )));
                    }
                }
            }
            "--timing" => timing = true,
            other => return Err(Fail(format!("unknown flag {other}"))),
        }
    }
    let period = period.ok_or_else(|| Fail("--period is required".into()))?;
    let periods = periods.ok_or_else(|| Fail("--periods is required".into()))?;
    let spec = RetentionSpec::new(period, periods)?
        .with_cohorts(cohorts)
        .with_window(window)?;
    Ok(Args {
        input,
        spec,
        cal,
        timing,
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

fn run() -> Result<(), Fail> {
    let args = parse_args()?;
    let started = Instant::now();
    let src = match &args.input {
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
