//! Reference calculator for the points ledger: replays a CSV of ledger commands and prints
//! each account's balance, the lots about to expire and the tier, as JSON.
//!
//! Run `cargo run --release --example points -- --help` for the columns and flags.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::journey::Category;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{
    self, Account, AdjustReason, Chronology, CommandKey, CommandKind, EarnPolicy, EarnRate,
    ExpiryRule, LedgerCommand, LedgerDecision, Multiplier, Policy, ShortfallPolicy, Tier, TierCode,
    TierPolicy,
};

const HELP: &str = "\
points — replay a CSV of points-ledger commands and print balances, expiring lots and tiers

USAGE:
    cargo run --release --example points -- [--input FILE|-] [flags]

INPUT (CSV with a header row; columns in this order, trailing optional ones may be omitted):
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

FLAGS:
    --input FILE       read FILE, or stdin when missing or '-'
    --tz +08:00        clinic time zone for expiry and tier windows (default +08:00)
    --expiry RULE      never | days:N | month | year (default never)
    --rate P/Y         P points per Y yuan (default 1/1)
    --category-rate C=P/Y   a category's own rate (repeatable)
    --cap N            at most N points per transaction
    --shortfall MODE   take (default: take what is left, record the shortfall) | negative (debt)
    --allow-backdated  accept commands dated before an account's last posting
    --tiers SPEC       code:threshold:retain,... lowest first, e.g. member:0:0,silver:1000:600
    --window-days N    rolling tier window (default 365)
    --as-of TS         Unix seconds for 'expiring soon' (default: the latest 'at' in the input)
    --soon-days N      report lots expiring within N days of --as-of (default 30)
    --timing           print 'timing load_ms=.. compute_ms=..' to stderr
    --help             this text

OUTPUT (JSON on stdout):
    {\"commands\":n,\"postings\":n,\"replayed\":n,\"accounts\":[{\"account\":\"P1\",\"balance\":n,
      \"available\":n,\"locked\":n,\"debt\":n,\"growth\":n,\"tier\":\"gold\"|null,
      \"expiring\":[{\"lot\":\"L3\",\"points\":n,\"expires\":ts}, ...]}, ...]}
    Accounts are sorted by id; expiring lots in spending order.

Bad input (a malformed field or a command the ledger refuses) prints 'line N: reason' to
stderr and exits with code 2, with nothing on stdout.";

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

fn parse_args() -> Result<Option<Args>, String> {
    let mut it = std::env::args().skip(1);
    let mut input = None;
    let mut calendar = ClinicCalendar::default();
    let mut expiry = ExpiryRule::Never;
    let mut rate = EarnRate::ONE_PER_YUAN;
    let mut cats: Vec<(Category, EarnRate)> = Vec::new();
    let mut cap = None;
    let mut shortfall = ShortfallPolicy::TakeAvailable;
    let mut chronology = Chronology::Strict;
    let mut tiers: Vec<Tier> = Vec::new();
    let mut window = 365u32;
    let mut as_of = None;
    let mut soon_days = 30i64;
    let mut timing = false;
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--input" => input = Some(val()?),
            "--tz" => calendar = ClinicCalendar::parse(&val()?).map_err(|e| e.to_string())?,
            "--expiry" => {
                let v = val()?;
                expiry = match v.as_str() {
                    "never" => ExpiryRule::Never,
                    "month" => ExpiryRule::EndOfMonth,
                    "year" => ExpiryRule::EndOfYear,
                    d => match d.strip_prefix("days:").map(str::parse::<u32>) {
                        Some(Ok(n)) => ExpiryRule::AfterDays(n),
                        _ => return Err(format!("--expiry {v:?} is not never|days:N|month|year")),
                    },
                }
            }
            "--rate" => rate = parse_rate(&val()?)?,
            "--category-rate" => {
                let v = val()?;
                let (c, r) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--category-rate {v:?} is not C=P/Y"))?;
                cats.push((
                    Category::parse(c).map_err(|e| e.to_string())?,
                    parse_rate(r)?,
                ));
            }
            "--cap" => {
                let n: i64 = val()?
                    .parse()
                    .map_err(|_| "--cap needs an integer".to_owned())?;
                cap = Some(Points::new(n));
            }
            "--shortfall" => {
                shortfall = match val()?.as_str() {
                    "take" => ShortfallPolicy::TakeAvailable,
                    "negative" => ShortfallPolicy::AllowNegative,
                    v => return Err(format!("--shortfall {v:?} is not take|negative")),
                }
            }
            "--allow-backdated" => chronology = Chronology::AllowBackdated,
            "--tiers" => {
                for part in val()?.split(',') {
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
            }
            "--window-days" => {
                window = val()?
                    .parse()
                    .map_err(|_| "--window-days needs an integer".to_owned())?
            }
            "--as-of" => {
                as_of = Some(
                    val()?
                        .parse()
                        .map_err(|_| "--as-of needs Unix seconds".to_owned())?,
                )
            }
            "--soon-days" => {
                soon_days = val()?
                    .parse()
                    .map_err(|_| "--soon-days needs an integer".to_owned())?
            }
            "--timing" => timing = true,
            other => return Err(format!("unknown flag {other:?} (see --help)")),
        }
    }
    let mut earn = EarnPolicy::new(rate);
    for (c, r) in cats {
        earn = earn.with_category(c, r);
    }
    if let Some(c) = cap {
        earn = earn.with_cap(c).map_err(|e| e.to_string())?;
    }
    let policy = Policy::default()
        .with_earn(earn)
        .with_expiry(expiry)
        .map_err(|e| e.to_string())?
        .with_shortfall(shortfall)
        .with_chronology(chronology)
        .with_tiers(TierPolicy::new(tiers, window).map_err(|e| e.to_string())?);
    Ok(Some(Args {
        input,
        calendar,
        policy,
        as_of,
        soon_days,
        timing,
    }))
}

struct Row {
    account: PatientId,
    at: DateTime<Utc>,
    cmd: LedgerCommand,
}

fn field(rec: &csv::StringRecord, i: usize) -> &str {
    rec.get(i).map(str::trim).unwrap_or("")
}

fn parse_row(rec: &csv::StringRecord) -> Result<Row, String> {
    let account: PatientId = field(rec, 0)
        .parse()
        .map_err(|e: clinic_ops::id::IdError| e.to_string())?;
    let op = field(rec, 1);
    let value = field(rec, 2);
    let ts: i64 = field(rec, 3)
        .parse()
        .map_err(|_| format!("at {:?} is not Unix seconds", field(rec, 3)))?;
    let at = DateTime::from_timestamp(ts, 0).ok_or_else(|| format!("at {ts} is out of range"))?;
    let key: u64 = field(rec, 4)
        .parse()
        .map_err(|_| format!("key {:?} is not an unsigned integer", field(rec, 4)))?;
    let purchase = match field(rec, 5) {
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
            category: match field(rec, 6) {
                "" => None,
                c => Some(Category::parse(c).map_err(|e| e.to_string())?),
            },
            multiplier: match field(rec, 7) {
                "" => Multiplier::ONE,
                m => Multiplier::percent(
                    m.parse()
                        .map_err(|_| format!("multiplier {m:?} is not an integer"))?,
                )
                .map_err(|e| e.to_string())?,
            },
            lock_until: match field(rec, 8) {
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

fn run() -> Result<(), (Option<usize>, String)> {
    let args = match parse_args().map_err(|e| (None, e))? {
        Some(a) => a,
        None => {
            println!("{HELP}");
            return Ok(());
        }
    };
    let t0 = Instant::now();
    let mut text = String::new();
    match args.input.as_deref() {
        None | Some("-") => std::io::stdin()
            .read_to_string(&mut text)
            .map(|_| ())
            .map_err(|e| (None, format!("reading stdin: {e}")))?,
        Some(path) => {
            text = std::fs::read_to_string(path).map_err(|e| (None, format!("{path}: {e}")))?
        }
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| (Some(line), e.to_string()))?;
        rows.push((line, parse_row(&rec).map_err(|e| (Some(line), e))?));
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
            Err(e) => return Err((Some(*line), e.to_string())),
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((Some(line), reason)) => {
            eprintln!("line {line}: {reason}");
            ExitCode::from(2)
        }
        Err((None, reason)) => {
            eprintln!("{reason}");
            ExitCode::from(2)
        }
    }
}
