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
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

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

fn usage(msg: &str) -> String {
    format!(
        "{msg}\nusage: referral --patients FILE --bindings FILE --visits FILE --as-of TIMESTAMP \
         [--min-amount 100] [--pending-days 7] [--window-days 30] [--tz +08:00] [--timing]"
    )
}

fn timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    let secs: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("timestamp {s:?} is not an integer number of seconds"))?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("timestamp {secs} is out of range"))
}

/// Parses the flags (without the program name).
pub(crate) fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut patients, mut bindings, mut visits, mut as_of) = (None, None, None, None);
    let mut min_amount = Yuan::from_fen(10_000);
    let (mut pending_days, mut window_days) = (7u32, 30u32);
    let mut tz = ClinicCalendar::default();
    let mut timing = false;
    while let Some(flag) = it.next() {
        if flag == "--timing" {
            timing = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| usage(&format!("flag {flag} needs a value")))?;
        let days = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| usage(&format!("{flag} {v:?} is not a whole number of days")))
        };
        match flag.as_str() {
            "--patients" => patients = Some(value),
            "--bindings" => bindings = Some(value),
            "--visits" => visits = Some(value),
            "--as-of" => as_of = Some(timestamp(&value).map_err(|e| usage(&e))?),
            "--min-amount" => {
                min_amount =
                    Yuan::parse(&value).map_err(|e| usage(&format!("--min-amount: {e}")))?;
            }
            "--pending-days" => pending_days = days(&value)?,
            "--window-days" => window_days = days(&value)?,
            "--tz" => tz = ClinicCalendar::parse(&value).map_err(|e| usage(&e.to_string()))?,
            other => return Err(usage(&format!("unknown flag {other}"))),
        }
    }
    Ok(Args {
        patients: patients.ok_or_else(|| usage("--patients is required"))?,
        bindings: bindings.ok_or_else(|| usage("--bindings is required"))?,
        visits: visits.ok_or_else(|| usage("--visits is required"))?,
        as_of: as_of.ok_or_else(|| usage("--as-of is required"))?,
        min_amount,
        pending_days,
        window_days,
        tz,
        timing,
    })
}

/// Reads a whole input file, or stdin for `-`.
fn read_text(path: &str) -> Result<String, String> {
    let mut text = String::new();
    let read = if path == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| format!("{path}: cannot read: {e}"))?;
    Ok(text)
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
    if header.is_empty() || (header.len() == 1 && header.first().is_some_and(|h| h.is_empty())) {
        return Ok(Vec::new());
    }
    if header != columns {
        return Err(format!(
            "{path}:1: expected columns {}, found {}",
            columns.join(","),
            header.join(",")
        ));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{path}:{line}: {e}")
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        rows.push((line, rec));
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
    let rows = read_csv(
        path,
        &texts.patients,
        &["patient_id", "registered_at", "mobile"],
    )?;
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
    for (line, rec) in read_csv(path, &texts.bindings, &["referee", "referrer", "timestamp"])? {
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
    let rows = read_csv(
        path,
        &texts.visits,
        &["patient_id", "timestamp", "amount", "refunded"],
    )?;
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

fn run() -> Result<(), String> {
    let args = parse_args(std::env::args().skip(1))?;
    let read0 = Instant::now();
    let texts = Texts {
        patients: read_text(&args.patients)?,
        bindings: read_text(&args.bindings)?,
        visits: read_text(&args.visits)?,
    };
    let read = read0.elapsed();
    let (out, load, compute) = calculate(&args, &texts)?;
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
