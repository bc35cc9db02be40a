//! Reference calculator: referral bindings, rewards and analytics from CSV exports.
//!
//! ```text
//! cargo run --release --example referral -- --patients patients.csv --bindings bindings.csv \
//!     --visits visits.csv --as-of TIMESTAMP [--min-amount 100] [--pending-days 7] \
//!     [--window-days 30] [--tz +08:00] [--timing]
//! ```
//!
//! The contract is `CALCULATORS.md`, `referral`. Every rule comes from
//! `clinic_ops::referral`; this file only parses and prints. Two mappings are worth naming:
//!
//! - a patient's registration is also its first contact, so the attribution window runs
//!   from `registered_at`;
//! - `refunded=true` carries no refund time, so the refund is taken as known at `--as-of`.
//!
//! Bad input prints `FILE:LINE: reason` on stderr and exits with code 2.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/parquet.rs"]
mod pq;

use cli::Exit;
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId, VisitId};
use clinic_ops::journey::Visit;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::MobileNumber;
use clinic_ops::referral::{
    Basis, Beneficiary, Bind, BindingPolicy, ComplianceProfile, Member, Protection, ReferralForest,
    Reward, RewardCaps, RewardSchedule, RuleId, RuleSpec, ScheduleSpec, ViralReport, bind_all,
    conversion, decide_rewards,
};

/// The parsed command line.
pub(crate) struct Args {
    pub(crate) patients: String,
    pub(crate) bindings: String,
    pub(crate) visits: String,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) min_amount: Yuan,
    pub(crate) pending_days: u32,
    pub(crate) window_days: u32,
    pub(crate) tz: ClinicCalendar,
    pub(crate) timing: bool,
}

const PATIENT_COLUMNS: [&str; 3] = ["patient_id", "registered_at", "mobile"];
const BINDING_COLUMNS: [&str; 3] = ["referee", "referrer", "timestamp"];
const VISIT_COLUMNS: [&str; 4] = ["patient_id", "timestamp", "amount", "refunded"];

const INPUT_HELP: &str = "\
Inputs: three CSV files with a header row, UTF-8; columns are found by their header names:
  --patients   patient_id,registered_at,mobile   (registered_at: Unix seconds; mobile may be empty)
  --bindings   referee,referrer,timestamp         (attempts applied in timestamp order, ties in row order)
  --visits     patient_id,timestamp,amount,refunded   (amount: decimal yuan; refunded: true|false)
A FILE ending in .parquet is read as Parquet: the same columns by name.
Example lines:
  patients.csv   P1,1767225600,13800138001
  bindings.csv   P2,P1,1767229200
  visits.csv     P2,1767232800,268.00,false

Output: JSON {\"bindings\":[..],\"rewards\":[..],\"analytics\":{..}} on stdout.
Bad input: 'FILE:LINE: reason' on stderr, exit code 2, nothing on stdout.";

fn command() -> clap::Command {
    cli::command(
        "referral",
        "Referral bindings, rewards and analytics from CSV exports",
        INPUT_HELP,
    )
    .arg(cli::value("patients", "FILE", "the patients CSV ('-' for stdin)").required(true))
    .arg(cli::value("bindings", "FILE", "the binding attempts CSV").required(true))
    .arg(cli::value("visits", "FILE", "the visits CSV").required(true))
    .arg(
        cli::value(
            "as-of",
            "TIMESTAMP",
            "Unix seconds the statement is taken at",
        )
        .required(true),
    )
    .arg(cli::value(
        "min-amount",
        "YUAN",
        "the least visit amount that earns a reward (default 100)",
    ))
    .arg(cli::value(
        "pending-days",
        "N",
        "days a reward waits before approval (default 7)",
    ))
    .arg(cli::value(
        "window-days",
        "N",
        "the attribution window from the referee's registration (default 30)",
    ))
    .arg(cli::value(
        "tz",
        "+08:00",
        "the clinic's UTC offset (default +08:00)",
    ))
}

fn timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    let secs: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("timestamp {s:?} is not an integer number of seconds"))?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("timestamp {secs} is out of range"))
}

/// Parses the flags (without the program name).
pub(crate) fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    let days = cli::count::<u32>;
    let path = |name: &str| cli::need(&m, name, |v| Ok(v.to_owned()));
    Ok(Args {
        patients: path("patients")?,
        bindings: path("bindings")?,
        visits: path("visits")?,
        as_of: cli::need(&m, "as-of", timestamp)?,
        min_amount: cli::get(&m, "min-amount", |v| {
            Yuan::parse(v).map_err(|e| e.to_string())
        })?
        .unwrap_or(Yuan::from_fen(10_000)),
        pending_days: cli::get(&m, "pending-days", days)?.unwrap_or(7),
        window_days: cli::get(&m, "window-days", days)?.unwrap_or(30),
        tz: cli::calendar(&m)?,
        timing: m.get_flag("timing"),
    })
}

/// Reads a whole input file, or stdin for `-`.
fn read_text(path: &str, columns: &[&str]) -> Result<String, String> {
    let data = if pq::is_parquet(path) {
        pq::read_as_csv(path, columns)?
    } else {
        cli::read_input(Some(path)).map_err(|e| e.message().to_owned())?
    };
    String::from_utf8(data).map_err(|e| {
        let line = cli::bad_utf8_line(e.as_bytes()).unwrap_or(1);
        format!("{path}:{line}: text is not UTF-8")
    })
}

/// Checks a CSV text's header, and returns its rows with their line numbers.
fn read_csv(
    path: &str,
    text: &str,
    columns: &[&str],
) -> Result<Vec<(u64, csv::StringRecord)>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| format!("{path}:1: {e}"))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect::<Vec<_>>();
    if text.is_empty() {
        return Err(format!(
            "{path}:1: empty input, expected the header {}",
            columns.join(",")
        ));
    }
    // By name, never by position: each row comes back with its fields in `columns` order.
    let mut at = Vec::with_capacity(columns.len());
    for name in columns {
        at.push(header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{path}:1: missing column {name} (expected the header {})",
                columns.join(",")
            )
        })?);
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{path}:{line}: {e}")
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let picked: csv::StringRecord = at.iter().map(|&i| rec.get(i).unwrap_or("")).collect();
        rows.push((line, picked));
    }
    Ok(rows)
}

/// Maps the export's text ids to compact ids and back.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, PatientId>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> PatientId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = PatientId::new(self.names.len() as u64);
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    fn name(&self, id: PatientId) -> &str {
        self.names.get(id.get() as usize).map_or("", String::as_str)
    }
}

fn field<'a>(
    path: &str,
    line: u64,
    rec: &'a csv::StringRecord,
    i: usize,
    name: &str,
) -> Result<&'a str, String> {
    let v = rec.get(i).map(str::trim).unwrap_or("");
    if v.is_empty() && name != "mobile" {
        return Err(format!("{path}:{line}: {name} is empty"));
    }
    Ok(v)
}

struct Loaded {
    interner: Interner,
    forest: ReferralForest,
    attempts: Vec<Bind>,
    visits: Vec<Visit>,
}

fn load(args: &Args, texts: &Texts) -> Result<Loaded, String> {
    let mut interner = Interner::default();
    let mut forest = ReferralForest::new();
    let path = &args.patients;
    let rows = read_csv(path, &texts.patients, &PATIENT_COLUMNS)?;
    for (line, rec) in &rows {
        let name = field(path, *line, rec, 0, "patient_id")?;
        let at = timestamp(field(path, *line, rec, 1, "registered_at")?)
            .map_err(|e| format!("{path}:{line}: registered_at: {e}"))?;
        let mobile = field(path, *line, rec, 2, "mobile")?;
        let id = interner.id(name);
        if forest.member(id).is_some() {
            return Err(format!("{path}:{line}: patient_id {name:?} appears twice"));
        }
        let mut member = Member::new(id, at);
        if !mobile.is_empty() {
            member = member.with_mobile(
                MobileNumber::parse(mobile).map_err(|e| format!("{path}:{line}: {e}"))?,
            );
        }
        forest
            .upsert_member(member)
            .map_err(|e| format!("{path}:{line}: {e}"))?;
    }
    let path = &args.bindings;
    let mut attempts = Vec::new();
    for (line, rec) in read_csv(path, &texts.bindings, &BINDING_COLUMNS)? {
        let referee = interner.id(field(path, line, &rec, 0, "referee")?);
        let referrer = interner.id(field(path, line, &rec, 1, "referrer")?);
        let at = timestamp(field(path, line, &rec, 2, "timestamp")?)
            .map_err(|e| format!("{path}:{line}: {e}"))?;
        attempts.push(Bind {
            referee,
            referrer,
            at,
        });
    }
    let path = &args.visits;
    let mut visits = Vec::new();
    let rows = read_csv(path, &texts.visits, &VISIT_COLUMNS)?;
    for (n, (line, rec)) in rows.iter().enumerate() {
        let patient = interner.id(field(path, *line, rec, 0, "patient_id")?);
        let at = timestamp(field(path, *line, rec, 1, "timestamp")?)
            .map_err(|e| format!("{path}:{line}: {e}"))?;
        let paid = Yuan::parse(field(path, *line, rec, 2, "amount")?)
            .map_err(|e| format!("{path}:{line}: {e}"))?;
        let refunded = match field(path, *line, rec, 3, "refunded")? {
            "true" => Some(args.as_of),
            "false" => None,
            other => {
                return Err(format!(
                    "{path}:{line}: refunded {other:?} is not true or false"
                ));
            }
        };
        visits.push(Visit {
            id: VisitId::new(n as u64),
            patient,
            at,
            clinic: ClinicId::new(0),
            doctor: None,
            paid,
            refunded_at: refunded,
        });
    }
    Ok(Loaded {
        interner,
        forest,
        attempts,
        visits,
    })
}

/// The three input files' contents.
pub(crate) struct Texts {
    pub(crate) patients: String,
    pub(crate) bindings: String,
    pub(crate) visits: String,
}

/// Parses the inputs and computes the output JSON, with the load and compute times.
pub(crate) fn calculate(
    args: &Args,
    texts: &Texts,
) -> Result<(serde_json::Value, std::time::Duration, std::time::Duration), String> {
    let t0 = Instant::now();
    let Loaded {
        interner,
        mut forest,
        attempts,
        visits,
    } = load(args, texts)?;
    let t1 = Instant::now();

    let policy = BindingPolicy {
        window_days: args.window_days,
        protection: Protection::Permanent,
    };
    let outcomes = bind_all(&mut forest, &attempts, &policy);
    // The calculator reports the direct referrer's reward only (depth 1); what the reward
    // is does not show in the output, so the rule carries a placeholder point.
    let schedule = RewardSchedule::new(ScheduleSpec {
        profile: ComplianceProfile::MedicalInstitution,
        depth: 1,
        min_paid: args.min_amount,
        pending_days: args.pending_days,
        caps: RewardCaps::default(),
        rules: vec![RuleSpec {
            id: RuleId::parse("referrer").map_err(|e| e.to_string())?,
            beneficiary: Beneficiary::Referrer { level: 1 },
            basis: Basis::FirstPaidVisit,
            reward: Reward::Points(Points::new(1)),
        }],
    })
    .map_err(|e| e.to_string())?;
    let rewards = decide_rewards(&forest, &visits, &schedule, args.as_of, args.tz);
    let conv = conversion(&forest, &visits, args.min_amount, args.as_of);
    let viral = ViralReport::new(&outcomes, &forest, conv);
    let max_depth = forest.stats().max_depth();
    let t2 = Instant::now();

    let bindings: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "referee": interner.name(o.attempt.referee),
                "referrer": interner.name(o.attempt.referrer),
                "accepted": o.result.is_ok(),
                "reason": o.result.as_ref().err().map(|e| e.code()),
            })
        })
        .collect();
    let rewards: Vec<serde_json::Value> = rewards
        .iter()
        .map(|d| {
            serde_json::json!({
                "referrer": interner.name(d.referrer),
                "referee": interner.name(d.referee),
                "visit_at": d.visit_at.timestamp(),
                "status": d.status.code(),
            })
        })
        .collect();
    let out = serde_json::json!({
        "bindings": bindings,
        "rewards": rewards,
        "analytics": {
            "bound": viral.invites,
            "converted": conv.converted,
            "k_factor": viral.k_factor(),
            "max_depth": max_depth,
        },
    });
    Ok((out, t1 - t0, t2 - t1))
}

fn run() -> Result<(), Exit> {
    let args = parse_args(std::env::args().skip(1))?;
    let read0 = Instant::now();
    let texts = Texts {
        patients: read_text(&args.patients, &PATIENT_COLUMNS).map_err(Exit::Bad)?,
        bindings: read_text(&args.bindings, &BINDING_COLUMNS).map_err(Exit::Bad)?,
        visits: read_text(&args.visits, &VISIT_COLUMNS).map_err(Exit::Bad)?,
    };
    let read = read0.elapsed();
    let (out, load, compute) = calculate(&args, &texts).map_err(Exit::Bad)?;
    println!("{out}");
    if args.timing {
        eprintln!(
            "timing load_ms={:.3} compute_ms={:.3}",
            (read + load).as_secs_f64() * 1e3,
            compute.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::finish(run())
}
