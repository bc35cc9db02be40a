//! Reference calculator for the points ledger: replays a CSV of ledger commands and prints
//! each account's balance, the lots about to expire and the tier, as JSON.
//!
//! Run `cargo run --release --example points -- --help` for the columns and flags.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::journey::Category;
use clinic_ops::money::{Points, Yuan};
#[path = "common/cli.rs"]
mod cli;
#[path = "common/parquet.rs"]
mod pq;

use cli::Exit;
use clinic_ops::points::{
    self, Account, AdjustReason, Chronology, CommandKey, CommandKind, EarnPolicy, EarnRate,
    ExpiryRule, LedgerCommand, LedgerDecision, Multiplier, Policy, ShortfallPolicy, Tier, TierCode,
    TierPolicy,
};

const INPUT_HELP: &str = "\
Input: CSV with a header row, UTF-8; columns are found by their header names (the last four
are optional and may be left out of the header):
  account            member id: P42 or 42
  op                 earn | redeem | refund | refund_points | release | expire | adjust | review
  points_or_amount   earn: yuan paid; redeem: points; refund: yuan refunded (claws back the
                     points the purchase earned, floor(earned x refunded/paid) cumulatively);
                     refund_points: points given back to the lots that paid for the purchase;
                     adjust: signed points; empty for release, expire and review
  at                 Unix seconds (UTC): the command's time
  key                the caller's idempotency key (unsigned integer, per account); a repeated
                     key with the same content is a no-op, with other content an error
  purchase           order id (O7 or 7): required for earn, refund, refund_points, release;
                     optional for redeem (the purchase the points pay for)
  category           product category for per-category rates (optional)
  multiplier         earning multiplier in percent, 100 = x1, 200 = double points (optional)
  lock_until         Unix seconds: earned points stay pending until then (optional)
Example:
  account,op,points_or_amount,at,key,purchase
  P1,earn,268.00,1767225600,1,O1
A FILE ending in .parquet is read as Parquet: the same columns by name, 'line N' being
row N-1.

Output (JSON on stdout):
  {\"commands\":n,\"postings\":n,\"replayed\":n,\"accounts\":[{\"account\":\"P1\",\"balance\":n,
    \"available\":n,\"locked\":n,\"debt\":n,\"growth\":n,\"tier\":\"gold\"|null,
    \"expiring\":[{\"lot\":\"L3\",\"points\":n,\"expires\":ts}, ...]}, ...]}
  Accounts are sorted by id; expiring lots in spending order.

Bad input (a malformed field or a command the ledger refuses) prints 'line N: reason' to
stderr and exits with code 2, with nothing on stdout.";

/// The required columns.
const HEADER: &str = "account,op,points_or_amount,at,key";

/// Every column, in the order the help lists them.
const COLUMNS: [&str; 9] = [
    "account",
    "op",
    "points_or_amount",
    "at",
    "key",
    "purchase",
    "category",
    "multiplier",
    "lock_until",
];

fn command() -> clap::Command {
    use clap::ArgAction;
    cli::command(
        "points",
        "Replay a CSV of points-ledger commands and print balances, expiring lots and tiers",
        INPUT_HELP,
    )
    .arg(cli::input_arg())
    .arg(cli::value(
        "tz",
        "+08:00",
        "clinic time zone for expiry and tier windows (default +08:00)",
    ))
    .arg(cli::value(
        "expiry",
        "RULE",
        "never | days:N | month | year (default never)",
    ))
    .arg(cli::value(
        "rate",
        "P/Y",
        "P points per Y yuan (default 1/1)",
    ))
    .arg(
        cli::value(
            "category-rate",
            "C=P/Y",
            "a category's own rate (repeatable)",
        )
        .action(ArgAction::Append),
    )
    .arg(cli::value("cap", "N", "at most N points per transaction"))
    .arg(cli::value(
        "shortfall",
        "MODE",
        "take (default: take what is left, record the shortfall) | negative (debt)",
    ))
    .arg(
        clap::Arg::new("allow-backdated")
            .long("allow-backdated")
            .action(ArgAction::SetTrue)
            .help("accept commands dated before an account's last posting"),
    )
    .arg(cli::value(
        "tiers",
        "SPEC",
        "code:threshold:retain,... lowest first, e.g. member:0:0,silver:1000:600",
    ))
    .arg(cli::value(
        "window-days",
        "N",
        "rolling tier window (default 365)",
    ))
    .arg(cli::value(
        "as-of",
        "TS",
        "Unix seconds for 'expiring soon' (default: the latest 'at' in the input)",
    ))
    .arg(cli::value(
        "soon-days",
        "N",
        "report lots expiring within N days of --as-of (default 30)",
    ))
}

struct Args {
    input: Option<String>,
    calendar: ClinicCalendar,
    policy: Policy,
    as_of: Option<i64>,
    soon_days: i64,
    timing: bool,
}

fn parse_rate(s: &str) -> Result<EarnRate, String> {
    let (p, y) = s
        .split_once('/')
        .ok_or_else(|| format!("rate {s:?} is not P/Y"))?;
    let p: u32 = p
        .trim()
        .parse()
        .map_err(|_| format!("rate {s:?}: bad points"))?;
    let y: u32 = y
        .trim()
        .parse()
        .map_err(|_| format!("rate {s:?}: bad yuan"))?;
    EarnRate::new(p, y).map_err(|e| e.to_string())
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, Exit> {
    let m = cli::parse(command(), argv)?;
    let whole = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| "is not a whole number".to_owned())
    };
    let calendar = cli::calendar(&m)?;
    let expiry = cli::get(&m, "expiry", |v| match v {
        "never" => Ok(ExpiryRule::Never),
        "month" => Ok(ExpiryRule::EndOfMonth),
        "year" => Ok(ExpiryRule::EndOfYear),
        d => match d.strip_prefix("days:").map(str::parse::<u32>) {
            Some(Ok(n)) => Ok(ExpiryRule::AfterDays(n)),
            _ => Err("is not never|days:N|month|year".to_owned()),
        },
    })?
    .unwrap_or(ExpiryRule::Never);
    let rate = cli::get(&m, "rate", parse_rate)?.unwrap_or(EarnRate::ONE_PER_YUAN);
    let mut cats: Vec<(Category, EarnRate)> = Vec::new();
    for v in m.get_many::<String>("category-rate").into_iter().flatten() {
        let bad = |why: String| Exit::Bad(format!("--category-rate {v:?}: {why}"));
        let (c, r) = v
            .split_once('=')
            .ok_or_else(|| bad("is not C=P/Y".to_owned()))?;
        cats.push((
            Category::parse(c).map_err(|e| bad(e.to_string()))?,
            parse_rate(r).map_err(bad)?,
        ));
    }
    let cap = cli::get(&m, "cap", whole)?.map(Points::new);
    let shortfall = cli::get(&m, "shortfall", |v| match v {
        "take" => Ok(ShortfallPolicy::TakeAvailable),
        "negative" => Ok(ShortfallPolicy::AllowNegative),
        _ => Err("is not take|negative".to_owned()),
    })?
    .unwrap_or(ShortfallPolicy::TakeAvailable);
    let chronology = if m.get_flag("allow-backdated") {
        Chronology::AllowBackdated
    } else {
        Chronology::Strict
    };
    let tiers = cli::get(&m, "tiers", |v| {
        let mut tiers = Vec::new();
        for part in v.split(',') {
            let f: Vec<&str> = part.split(':').collect();
            let [code, th, re] = f.as_slice() else {
                return Err(format!("tier {part:?} is not code:threshold:retain"));
            };
            let num = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("tier {part:?}: {s:?} is not an integer"))
            };
            tiers.push(Tier::new(
                TierCode::parse(code).map_err(|e| e.to_string())?,
                num(th)?,
                num(re)?,
            ));
        }
        Ok(tiers)
    })?
    .unwrap_or_default();
    let window = cli::get(&m, "window-days", cli::count::<u32>)?.unwrap_or(365);
    let as_of = cli::get(&m, "as-of", |v| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| "is not Unix seconds".to_owned())
    })?;
    let soon_days = cli::get(&m, "soon-days", whole)?.unwrap_or(30);
    let input = cli::input_path(&m);
    let timing = m.get_flag("timing");
    let bad = |e: String| Exit::Bad(e);
    let mut earn = EarnPolicy::new(rate);
    for (c, r) in cats {
        earn = earn.with_category(c, r);
    }
    if let Some(c) = cap {
        earn = earn.with_cap(c).map_err(|e| bad(e.to_string()))?;
    }
    let policy = Policy::default()
        .with_earn(earn)
        .with_expiry(expiry)
        .map_err(|e| bad(e.to_string()))?
        .with_shortfall(shortfall)
        .with_chronology(chronology)
        .with_tiers(TierPolicy::new(tiers, window).map_err(|e| bad(e.to_string()))?);
    Ok(Args {
        input,
        calendar,
        policy,
        as_of,
        soon_days,
        timing,
    })
}

struct Row {
    account: PatientId,
    at: DateTime<Utc>,
    cmd: LedgerCommand,
}

/// Where each of [`COLUMNS`] is in the header, if there.
type Cols = [Option<usize>; 9];

fn field<'a>(rec: &'a csv::StringRecord, cols: &Cols, i: usize) -> &'a str {
    cols.get(i)
        .copied()
        .flatten()
        .and_then(|c| rec.get(c))
        .map_or("", str::trim)
}

/// The columns by header name: the first five are required, and a name that is no column
/// is bad input (a misspelt optional column would otherwise be silently empty).
fn columns(header: &csv::StringRecord) -> Result<Cols, Exit> {
    let mut cols: Cols = [None; 9];
    for (i, h) in header.iter().enumerate() {
        let h = cli::header_cell(h);
        let at = COLUMNS.iter().position(|c| *c == h).ok_or_else(|| {
            Exit::line(
                1,
                format!(
                    "unknown column {h:?}; the columns are {}",
                    COLUMNS.join(",")
                ),
            )
        })?;
        if let Some(slot) = cols.get_mut(at) {
            *slot = Some(i);
        }
    }
    let names: Vec<&str> = header.iter().collect();
    cli::find_columns(
        &names,
        ["account", "op", "points_or_amount", "at", "key"],
        HEADER,
    )?;
    Ok(cols)
}

fn parse_row(rec: &csv::StringRecord, cols: &Cols) -> Result<Row, String> {
    let account: PatientId = field(rec, cols, 0)
        .parse()
        .map_err(|e: clinic_ops::id::IdError| e.to_string())?;
    let op = field(rec, cols, 1);
    let value = field(rec, cols, 2);
    let ts: i64 = field(rec, cols, 3)
        .parse()
        .map_err(|_| format!("at {:?} is not Unix seconds", field(rec, cols, 3)))?;
    let at = DateTime::from_timestamp(ts, 0).ok_or_else(|| format!("at {ts} is out of range"))?;
    let key: u64 = field(rec, cols, 4)
        .parse()
        .map_err(|_| format!("key {:?} is not an unsigned integer", field(rec, cols, 4)))?;
    let purchase = match field(rec, cols, 5) {
        "" => None,
        p => Some(
            p.parse::<PurchaseId>()
                .map_err(|e: clinic_ops::id::IdError| e.to_string())?,
        ),
    };
    let need_purchase = || purchase.ok_or_else(|| format!("{op} needs a purchase"));
    let yuan = || Yuan::parse(value).map_err(|e| e.to_string());
    let points = || {
        value
            .parse::<i64>()
            .map(Points::new)
            .map_err(|_| format!("points {value:?} is not an integer"))
    };
    let kind = match op {
        "earn" => CommandKind::Earn {
            purchase: need_purchase()?,
            paid: yuan()?,
            category: match field(rec, cols, 6) {
                "" => None,
                c => Some(Category::parse(c).map_err(|e| e.to_string())?),
            },
            multiplier: match field(rec, cols, 7) {
                "" => Multiplier::ONE,
                m => Multiplier::percent(
                    m.parse()
                        .map_err(|_| format!("multiplier {m:?} is not an integer"))?,
                )
                .map_err(|e| e.to_string())?,
            },
            lock_until: match field(rec, cols, 8) {
                "" => None,
                l => Some(
                    l.parse::<i64>()
                        .ok()
                        .and_then(|s| DateTime::from_timestamp(s, 0))
                        .ok_or_else(|| format!("lock_until {l:?} is not Unix seconds"))?,
                ),
            },
        },
        "redeem" => CommandKind::Redeem {
            points: points()?,
            purchase,
        },
        "refund" => CommandKind::Refund {
            purchase: need_purchase()?,
            amount: yuan()?,
            points: Points::ZERO,
        },
        "refund_points" => CommandKind::Refund {
            purchase: need_purchase()?,
            amount: Yuan::ZERO,
            points: points()?,
        },
        "release" => CommandKind::Release {
            purchase: need_purchase()?,
        },
        "expire" => CommandKind::Expire,
        "adjust" => CommandKind::Adjust {
            points: points()?,
            reason: AdjustReason::Correction,
        },
        "review" => CommandKind::Review,
        other => {
            return Err(format!(
                "op {other:?} is not one of earn, redeem, refund, refund_points, release, expire, adjust, review"
            ));
        }
    };
    Ok(Row {
        account,
        at,
        cmd: LedgerCommand::new(CommandKey::new(key), kind),
    })
}

fn run() -> Result<(), Exit> {
    let args = parse_args(std::env::args().skip(1))?;
    let t0 = Instant::now();
    let data = match args.input.as_deref() {
        Some(path) if pq::is_parquet(path) => pq::read_as_csv(path, &COLUMNS).map_err(Exit::Bad)?,
        path => cli::read_input(path)?,
    };
    cli::check_text(&data, HEADER)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(data.as_slice());
    let header = rdr.headers().map_err(|e| Exit::line(1, e))?.clone();
    let cols = columns(&header)?;
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(Exit::line(e.position().map_or(1, |p| p.line()), e)),
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        rows.push((
            line,
            parse_row(&rec, &cols).map_err(|e| Exit::line(line, e))?,
        ));
    }
    let load = t0.elapsed();
    let t1 = Instant::now();
    let mut accounts: BTreeMap<PatientId, Account> = BTreeMap::new();
    let (mut postings, mut replayed) = (0usize, 0usize);
    let mut latest = i64::MIN;
    for (line, row) in &rows {
        latest = latest.max(row.at.timestamp());
        let acc = accounts
            .entry(row.account)
            .or_insert_with(|| Account::new(row.account));
        match points::decide(acc, &row.cmd, row.at, &args.policy, args.calendar) {
            Ok(LedgerDecision::Posted(ps)) => {
                for p in &ps {
                    points::apply(acc, p);
                }
                postings += ps.len();
            }
            Ok(_) => replayed += 1,
            Err(e) => return Err(Exit::line(line, e)),
        }
    }
    let as_of = args
        .as_of
        .unwrap_or(if latest == i64::MIN { 0 } else { latest });
    let as_of = DateTime::from_timestamp(as_of, 0).unwrap_or_default();
    let soon = as_of + Duration::days(args.soon_days);
    let out: Vec<serde_json::Value> = accounts
        .values()
        .map(|a| {
            let expiring: Vec<serde_json::Value> = a
                .expiring_by(soon)
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "lot": l.id().to_string(),
                        "points": l.remaining().get(),
                        "expires": l.expires().map(|t| t.timestamp()),
                    })
                })
                .collect();
            serde_json::json!({
                "account": a.id().to_string(),
                "balance": a.balance().get(),
                "available": a.available().get(),
                "locked": a.locked().get(),
                "debt": a.debt().get(),
                "growth": a.growth(),
                "tier": a.tier().map(|t| t.as_str().to_owned()),
                "expiring": expiring,
            })
        })
        .collect();
    let compute = t1.elapsed();
    let doc = serde_json::json!({
        "commands": rows.len(),
        "postings": postings,
        "replayed": replayed,
        "accounts": out,
    });
    println!("{doc}");
    if args.timing {
        eprintln!(
            "timing load_ms={:.3} compute_ms={:.3}",
            load.as_secs_f64() * 1e3,
            compute.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::finish(run())
}
