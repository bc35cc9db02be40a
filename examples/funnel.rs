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

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use clinic_ops::label::Lang;
use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{
    Attribution, BreakdownBucket, ConversionWindow, Dimension, EventColumns, FunnelBreakdown,
    FunnelMode, FunnelSpec, Step, StepMatcher, StepReport,
};
use serde_json::{Value, json};

#[path = "common/chart.rs"]
mod chart;
#[path = "common/cli.rs"]
mod cli;
#[path = "common/ids.rs"]
mod ids;
#[path = "common/parquet.rs"]
mod pq;
use cli::Exit;
use ids::{BATCH, IdMap, Interner, short_key};

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

/// The columns read from a Parquet file, when it has them.
const PARQUET_COLUMNS: [&str; 7] = [
    "patient_id",
    "event",
    "timestamp",
    "channel",
    "doctor",
    "clinic",
    "amount",
];

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

/// The input, dictionary-encoded.
struct Columns {
    patient: Vec<u32>,
    kind: Vec<u32>,
    at: Vec<i64>,
    dim: Vec<u32>,
    patients: u32,
    kinds: HashMap<String, u32>,
    /// Every event name some row has (the steps no row has get a warning).
    seen: IdMap<u32>,
    dim_names: Vec<String>,
}

/// Splits one CSV record (RFC 4180 quoting) into field ranges. Unquoted records are ranges
/// of `line`; a quoted record is unquoted into `scratch` and its ranges point there. Returns
/// `None` on a stray quote, else whether the ranges point into `scratch`.
fn split_fields(line: &[u8], scratch: &mut Vec<u8>, out: &mut Vec<(usize, usize)>) -> Option<bool> {
    out.clear();
    if !line.contains(&b'"') {
        let mut start = 0;
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                out.push((start, i));
                start = i + 1;
            }
        }
        out.push((start, line.len()));
        return Some(false);
    }
    scratch.clear();
    let mut i = 0;
    loop {
        let from = scratch.len();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => return None,
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        scratch.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        scratch.push(b);
                        i += 1;
                    }
                }
            }
            out.push((from, scratch.len()));
            match line.get(i) {
                None => return Some(true),
                Some(b',') => i += 1,
                Some(_) => return None,
            }
        } else {
            let rest = line.get(i..).unwrap_or(&[]);
            let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            let field = rest.get(..end).unwrap_or(&[]);
            if field.contains(&b'"') {
                return None;
            }
            scratch.extend_from_slice(field);
            out.push((from, scratch.len()));
            if end == rest.len() {
                return Some(true);
            }
            i += end + 1;
        }
    }
}

fn parse_ts(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, f),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

fn load(mut reader: impl BufRead, args: &Args) -> Result<Columns, (usize, String)> {
    let mut line = Vec::with_capacity(256);
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
    let n = reader
        .read_until(b'\n', &mut line)
        .map_err(|e| (1, format!("cannot read: {e}")))?;
    if n == 0 {
        return Err((1, format!("empty input, expected the header {HEADER}")));
    }
    trim_eol(&mut line);
    if std::str::from_utf8(&line).is_err() {
        return Err((1, "text is not UTF-8".to_owned()));
    }
    let mut scratch = Vec::new();
    let quoted = split_fields(&line, &mut scratch, &mut fields)
        .ok_or((1, "header has a stray quote".to_owned()))?;
    let src = if quoted { &scratch } else { &line };
    let header: Vec<String> = fields
        .iter()
        .map(|&(a, b)| {
            String::from_utf8_lossy(&src[a..b])
                .trim()
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let [c_patient, c_event, c_time] =
        cli::find_columns(&names, ["patient_id", "event", "timestamp"], HEADER)
            .map_err(|e| (1, e.message().trim_start_matches("line 1: ").to_owned()))?;
    let mut dim_col = None;
    let mut amount_col = None;
    for (i, h) in header.iter().enumerate() {
        match h.as_str() {
            "patient_id" | "event" | "timestamp" => {}
            "channel" | "doctor" | "clinic" => {
                let wanted = match args.breakdown {
                    Some(Dimension::Channel) => "channel",
                    Some(Dimension::Doctor) => "doctor",
                    Some(Dimension::Clinic) => "clinic",
                    _ => "",
                };
                if h == wanted {
                    dim_col = Some(i);
                }
            }
            "amount" => amount_col = Some(i),
            other => {
                return Err((
                    1,
                    format!(
                        "unknown column {other:?}; expected {HEADER} and optionally channel, doctor, clinic or amount"
                    ),
                ));
            }
        }
    }
    if args.breakdown.is_some() && dim_col.is_none() {
        return Err((
            1,
            "--breakdown names a column the header does not have".into(),
        ));
    }
    let width = header.len();
    let mut patients = Interner::default();
    // Rows whose short patient ids are interned together (the row's index is the payload).
    let mut pending: Vec<((u64, u64), usize)> = Vec::with_capacity(BATCH);
    let mut kinds: HashMap<String, u32> = HashMap::new();
    for s in JourneyStage::ALL {
        kinds.insert(s.code().to_owned(), JourneyEventKind::stage(s).code());
    }
    let mut kind_cache: IdMap<u32> = IdMap::default();
    let mut dims: IdMap<u32> = IdMap::default();
    let mut dim_names = Vec::new();
    let mut cols = Columns {
        patient: Vec::new(),
        kind: Vec::new(),
        at: Vec::new(),
        dim: Vec::new(),
        patients: 0,
        kinds: HashMap::new(),
        seen: IdMap::default(),
        dim_names: Vec::new(),
    };
    let mut lineno = 1usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| (lineno + 1, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        // A quoted field may hold a line break: keep reading while quotes are unbalanced.
        while line.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
            let more = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| (lineno, format!("cannot read: {e}")))?;
            if more == 0 {
                return Err((lineno, "unterminated quoted field".into()));
            }
        }
        trim_eol(&mut line);
        if line.is_empty() {
            continue;
        }
        if !line.is_ascii() && std::str::from_utf8(&line).is_err() {
            return Err((lineno, "text is not UTF-8".into()));
        }
        let quoted = split_fields(&line, &mut scratch, &mut fields)
            .ok_or((lineno, "malformed quoting".to_owned()))?;
        if fields.len() != width {
            return Err((
                lineno,
                format!("{} fields, the header has {width}", fields.len()),
            ));
        }
        let src: &[u8] = if quoted { &scratch } else { &line };
        let field = |i: usize| fields.get(i).and_then(|&(a, b)| src.get(a..b));
        let (Some(p), Some(e), Some(t)) = (field(c_patient), field(c_event), field(c_time)) else {
            return Err((lineno, "fewer than 3 fields".into()));
        };
        if p.is_empty() {
            return Err((lineno, "patient_id is empty".into()));
        }
        if e.is_empty() {
            return Err((lineno, "event is empty".into()));
        }
        let ts = parse_ts(t).ok_or_else(|| {
            (
                lineno,
                format!(
                    "timestamp {:?} is not whole Unix seconds",
                    String::from_utf8_lossy(t)
                ),
            )
        })?;
        if let Some(a) = amount_col.and_then(field)
            && !a.is_empty()
        {
            let s = std::str::from_utf8(a).ok();
            if s.and_then(|s| rust_decimal::Decimal::from_str(s.trim()).ok())
                .is_none()
            {
                return Err((
                    lineno,
                    format!("amount {:?} is not a number", String::from_utf8_lossy(a)),
                ));
            }
        }
        // The row's patient number is filled in when its batch of ids is interned.
        let pid = match short_key(p) {
            Some(key) => {
                pending.push((key, cols.patient.len()));
                0
            }
            None => patients.intern(p).map_err(|e| (lineno, e))?,
        };
        let kind = match kind_cache.get(e) {
            Some(&k) => k,
            None => {
                let name = std::str::from_utf8(e)
                    .map_err(|_| (lineno, "event is not UTF-8".to_owned()))?
                    .to_owned();
                let custom = kinds.len() as u32;
                let code = match kinds.get(&name) {
                    Some(&c) => c,
                    None => {
                        let c = JourneyEventKind::custom(custom)
                            .map_err(|err| (lineno, err.to_string()))?
                            .code();
                        kinds.insert(name, c);
                        c
                    }
                };
                kind_cache.insert(Box::from(e), code);
                code
            }
        };
        if let Some(d) = dim_col.and_then(field) {
            let next = dims.len() as u32;
            let code = *dims.entry(Box::from(d)).or_insert_with(|| {
                dim_names.push(String::from_utf8_lossy(d).into_owned());
                next
            });
            cols.dim.push(code);
        }
        cols.patient.push(pid);
        cols.kind.push(kind);
        cols.at.push(ts);
        if pending.len() == BATCH {
            resolve(&mut patients, &mut pending, &mut cols.patient).map_err(|e| (lineno, e))?;
        }
    }
    resolve(&mut patients, &mut pending, &mut cols.patient).map_err(|e| (lineno, e))?;
    cols.patients = patients.len() as u32;
    cols.kinds = kinds;
    cols.seen = kind_cache;
    cols.dim_names = dim_names;
    Ok(cols)
}

/// Interns a batch of short patient ids into their rows' slots.
fn resolve(
    patients: &mut Interner,
    pending: &mut Vec<((u64, u64), usize)>,
    column: &mut [u32],
) -> Result<(), String> {
    patients.resolve(pending, |p, row| {
        if let Some(slot) = column.get_mut(row) {
            *slot = p;
        }
    })
}

fn trim_eol(line: &mut Vec<u8>) {
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
}

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
    let reader: Box<dyn Read> = match &args.input {
        Some(path) if pq::is_parquet(path) => Box::new(std::io::Cursor::new(
            pq::read_as_csv(path, &PARQUET_COLUMNS).map_err(Exit::Bad)?,
        )),
        Some(path) => Box::new(
            std::fs::File::open(path).map_err(|e| Exit::Bad(format!("cannot open {path}: {e}")))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let cols = load(BufReader::with_capacity(1 << 20, reader), &args)
        .map_err(|(line, why)| Exit::line(line, why))?;
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
