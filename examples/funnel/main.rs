//! Reference calculator: a funnel over a CSV event export, levels identical to ClickHouse
//! `windowFunnel`. The contract is `../shared/CALCULATORS.md` (`funnel`).
//!
//! ```text
//! cargo run --release --example funnel -- --input events.csv --steps lead,converted,booked \
//!     --window 30d [--mode default|strict_order|strict_deduplication|strict_increase|unordered] \
//!     [--breakdown channel|doctor|clinic] [--breakdown-limit N] [--threads N] [--timing]
//! ```
//!
//! Loading parses the CSV and dictionary-encodes it the way a warehouse stores columns:
//! patient strings to dense numbers, event names to kind codes, channels to codes. Everything
//! after that (matching steps, grouping and sorting by patient, the scan, the report) is the
//! `compute_ms` that `--timing` prints.

use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use clinic_ops::label::Lang;
use clinic_ops::metrics::event::JourneyEventKind;
use clinic_ops::metrics::funnel::{
    Attribution, BreakdownBucket, ConversionWindow, Dimension, EventColumns, FunnelBreakdown,
    FunnelMode, FunnelSpec, Step, StepMatcher, StepReport,
};
use serde_json::{Value, json};

#[path = "../common/chart.rs"]
mod chart;
#[path = "../common/chunks.rs"]
mod chunks;
#[path = "../common/cli.rs"]
mod cli;
#[path = "../common/ids.rs"]
mod ids;
#[path = "../common/parquet.rs"]
mod pq;
use cli::Exit;

struct Args {
    input: Option<String>,
    steps: Vec<String>,
    window: ConversionWindow,
    mode: FunnelMode,
    breakdown: Option<Dimension>,
    breakdown_limit: usize,
    threads: usize,
    timing: bool,
    repeat: usize,
    svg: Option<String>,
    lang: Lang,
}

const HEADER: &str = "patient_id,event,timestamp";

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names:
  patient_id   the patient, non-empty text
  event        the event name, non-empty text; rows whose event is no step are ignored
               (in strict_order mode they count as other events, as in ClickHouse)
  timestamp    whole Unix seconds, UTC
  channel, doctor, clinic
               optional: the dimension --breakdown splits by
  amount       optional: a decimal, checked but not used
Example:
  patient_id,event,timestamp,channel
  P1,lead,1767225600,xiaohongshu
A FILE ending in .parquet is read as Parquet: the same columns by name (timestamp as an
integer or a TIMESTAMP), 'line N' being row N-1.

Output: one JSON object {\"mode\",\"window_seconds\",\"patients\",\"steps\":[...]} on stdout.
A step no row has is still answered (nobody reached it), with a warning on stderr.
Bad input: 'line N: reason' on stderr, exit code 2, nothing on stdout.";

fn command() -> clap::Command {
    cli::command(
        "funnel",
        "A funnel over a CSV event export, levels identical to ClickHouse windowFunnel",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(cli::value("steps", "A,B,C", "the steps, in order, by event name").required(true))
    .arg(
        cli::value(
            "window",
            "N[s|m|h|d]",
            "the conversion window from the first step, e.g. 30d",
        )
        .required(true),
    )
    .arg(cli::value(
        "mode",
        "MODE",
        "default | strict_order | strict_deduplication | strict_increase | unordered (default: default)",
    ))
    .arg(cli::value(
        "breakdown",
        "COLUMN",
        "channel | doctor | clinic: split by the patient's first-step value",
    ))
    .arg(cli::value(
        "breakdown-limit",
        "N",
        "keep the N largest breakdown values, the rest as 'other'",
    ))
    .arg(cli::value(
        "threads",
        "N",
        "threads for the computation (default: the available cores)",
    ))
    .arg(cli::value("repeat", "N", "time the computation N times (a dev aid)").hide(true))
    .arg(cli::value(
        "svg",
        "FILE",
        "also draw the funnel (conversion bars with drop-off, time-to-convert histogram) there",
    ))
    .arg(cli::value("lang", "zh|en", "the chart's language (default zh)"))
}

fn whole(v: &str) -> Result<usize, String> {
    cli::count(v)
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    let steps = cli::need(&m, "steps", |v| {
        let s: Vec<String> = v.split(',').map(str::to_owned).collect();
        if s.iter().any(String::is_empty) {
            return Err("has an empty step name".to_owned());
        }
        Ok(s)
    })?;
    let window = cli::need(&m, "window", |v| {
        ConversionWindow::parse(v).map_err(|e| e.to_string())
    })?;
    let mode = cli::get(&m, "mode", |v| {
        FunnelMode::from_str(v).map_err(|e| e.to_string())
    })?
    .unwrap_or(FunnelMode::Default);
    let breakdown = cli::get(&m, "breakdown", |v| match v {
        "channel" => Ok(Dimension::Channel),
        "doctor" => Ok(Dimension::Doctor),
        "clinic" => Ok(Dimension::Clinic),
        _ => Err("is not channel, doctor or clinic".to_owned()),
    })?;
    let threads = cli::get(&m, "threads", whole)?
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(Args {
        input: cli::input_path(&m),
        steps,
        window,
        mode,
        breakdown,
        breakdown_limit: cli::get(&m, "breakdown-limit", whole)?.unwrap_or(usize::MAX),
        threads: threads.max(1),
        timing: m.get_flag("timing"),
        repeat: cli::get(&m, "repeat", whole)?.unwrap_or(1).max(1),
        svg: cli::get(&m, "svg", |v| Ok(v.to_owned()))?,
        lang: cli::get(&m, "lang", chart::parse_lang)?.unwrap_or_default(),
    })
}

mod load;
mod parallel;

use load::load;
use parallel::{Parallel, load_parallel, load_parquet};

fn steps_json(steps: &[StepReport]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|s| {
                json!({
                    "step": s.label,
                    "patients": s.patients,
                    "conversion_from_previous": s.conversion_from_previous,
                    "conversion_from_first": s.conversion_from_first,
                    "median_seconds_to_convert": s.median_seconds_to_convert,
                    "mean_seconds_to_convert": s.mean_seconds_to_convert,
                    "drop_off": s.drop_off,
                })
            })
            .collect(),
    )
}

fn run() -> Result<(), Exit> {
    let args = parse_args(std::env::args().skip(1))?;
    let t0 = Instant::now();
    let cols = match &args.input {
        Some(path) if pq::is_parquet(path) => {
            load_parquet(path, &args, args.threads).map_err(|e| match e {
                pq::Fail::Line(line, why) => Exit::line(line, why),
                pq::Fail::File(why) => Exit::Bad(why),
            })?
        }
        path => {
            // The whole input in memory: the parallel reader cuts it into one range per thread.
            let data = cli::map_input(path.as_deref())?;
            match load_parallel(data, &args, args.threads) {
                Ok(Parallel::Read(cols)) => Ok(cols),
                Ok(Parallel::Sequential(data)) => load(&data[..], &args),
                Err(e) => Err(e),
            }
            .map_err(|(line, why)| Exit::line(line, why))?
        }
    };
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    for step in &args.steps {
        if !cols.seen.contains_key(step.as_bytes()) {
            eprintln!("step {step:?} appears in no row");
        }
    }

    let t1 = Instant::now();
    let steps: Vec<Step> = args
        .steps
        .iter()
        .map(|name| {
            // A step no row names gets a code no row has: it simply never matches.
            let unused = JourneyEventKind::custom(cols.kinds.len() as u32).map_or(0, |k| k.code());
            let code = cols.kinds.get(name).copied().unwrap_or(unused);
            Step {
                label: name.clone(),
                matcher: StepMatcher::kind(JourneyEventKind::from_code(code)),
                optional: false,
            }
        })
        .collect();
    let mut spec =
        FunnelSpec::new(steps, args.window, args.mode).map_err(|e| Exit::Bad(e.to_string()))?;
    if let Some(dimension) = args.breakdown {
        spec = spec
            .with_breakdown(FunnelBreakdown {
                dimension,
                attribution: Attribution::FirstTouch,
            })
            .map_err(|e| Exit::Bad(e.to_string()))?;
    }
    let input = EventColumns {
        patient_count: cols.patients,
        patient: &cols.patient,
        kind: &cols.kind,
        at: &cols.at,
        dimension: args.breakdown.map(|_| &cols.dim[..]),
    };
    let state = spec
        .compute_columns(&input, args.threads)
        .map_err(|e| Exit::Bad(e.to_string()))?;
    let report = state.report_with(&spec, args.breakdown_limit, args.threads);
    let compute_ms = t1.elapsed().as_secs_f64() * 1e3;
    if args.repeat > 1 {
        // Dev aid on a shared machine: wall time swings with other load, CPU time less so.
        let cpu0 = process_cpu_ms();
        let mut walls = Vec::new();
        for _ in 0..args.repeat {
            let t = Instant::now();
            let s = spec
                .compute_columns(&input, args.threads)
                .map_err(|e| Exit::Bad(e.to_string()))?;
            // Timed only: the report is computed and thrown away on purpose.
            let _timed =
                std::hint::black_box(s.report_with(&spec, args.breakdown_limit, args.threads));
            walls.push(t.elapsed().as_secs_f64() * 1e3);
        }
        walls.sort_by(f64::total_cmp);
        if let (Some(a), Some(b)) = (cpu0, process_cpu_ms()) {
            eprintln!(
                "repeat {}: wall_ms min={:.1} median={:.1}, cpu_ms per compute={:.1}",
                args.repeat,
                walls[0],
                walls[walls.len() / 2],
                (b - a) / args.repeat as f64
            );
        }
    }

    let mut out = json!({
        "mode": args.mode.code(),
        "window_seconds": args.window.get(),
        "patients": report.patients,
        "steps": steps_json(&report.steps),
    });
    if args.breakdown.is_some() {
        let rows: Vec<Value> = report
            .breakdown
            .iter()
            .filter_map(|b| {
                let value = match b.value {
                    BreakdownBucket::Value(v) => cols.dim_names.get(v as usize)?.clone(),
                    BreakdownBucket::Other => "other".to_owned(),
                    // Level-0 patients have no first-step event to take a channel from.
                    BreakdownBucket::Unattributed => return None,
                    _ => return None,
                };
                Some(json!({"value": value, "steps": steps_json(&b.steps)}))
            })
            .collect();
        out["breakdown"] = Value::Array(rows);
    }
    if let Some(path) = &args.svg {
        let bars: Vec<chart::FunnelBar> = report
            .steps
            .iter()
            .map(|s| chart::FunnelBar {
                label: chart::step_label(&s.label, args.lang),
                patients: s.patients,
                from_first: s.conversion_from_first,
                from_previous: s.conversion_from_previous,
            })
            .collect();
        let histogram: Vec<(u64, u64, u64)> = report
            .steps
            .last()
            .map(|s| {
                s.histogram
                    .iter()
                    .map(|b| (b.from_seconds, b.to_seconds, b.patients))
                    .collect()
            })
            .unwrap_or_default();
        chart::save(path, &chart::funnel(args.lang, &bars, &histogram)).map_err(Exit::Bad)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{out}").map_err(|e| Exit::Io(format!("cannot write: {e}")))?;
    if args.timing {
        eprintln!("timing load_ms={load_ms:.3} compute_ms={compute_ms:.3}");
    }
    Ok(())
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux only).
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

fn main() -> ExitCode {
    cli::finish(run())
}
