//! The points ledger hot path: `decide` + `apply` of mixed commands.
//!
//! Target (issue 4): at least 5,000,000 ledger commands per second on one core, mixed
//! earn/redeem/expire/refund (3:3:2:2), over 100,000 accounts holding about 20 open lots each.
//! Two access patterns: every command on a random account (cache-cold: each command pays for
//! fetching its account from memory), and runs of 8 commands per account (how a ledger
//! processor sharded or batched by account sees them).

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{
    self, Account, CommandKey, CommandKind, ExpiryRule, LedgerCommand, Multiplier, Outcome, Policy,
    Tier, TierCode, TierPolicy,
};

const ACCOUNTS: usize = 100_000;
const LOTS: u64 = 20;
/// Commands between rebuilds of the world, so idempotency records and lots stay at the
/// sizes the target names rather than growing with criterion's iteration count.
const RESET_EVERY: u64 = 2_000_000;

struct World {
    accounts: Vec<Account>,
    earned: Vec<u32>,
    rng: u64,
    key: u64,
    now: DateTime<Utc>,
    done: u64,
}

fn policy() -> Policy {
    let code = |c: &str| TierCode::parse(c).expect("tier");
    let tiers = TierPolicy::new(
        vec![
            Tier::new(code("member"), 0, 0),
            Tier::new(code("silver"), 2_000, 1_000),
            Tier::new(code("gold"), 10_000, 6_000),
        ],
        365,
    )
    .expect("tiers");
    Policy::default()
        .with_expiry(ExpiryRule::AfterDays(60))
        .expect("expiry")
        .with_tiers(tiers)
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

fn purchase(acct: usize, n: u32) -> PurchaseId {
    PurchaseId::new(((acct as u64) << 24) | u64::from(n))
}

fn build(policy: &Policy) -> World {
    let cal = ClinicCalendar::default();
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for a in 0..ACCOUNTS {
        let mut acc = Account::new(PatientId::new(a as u64));
        for k in 0..LOTS {
            let cmd = LedgerCommand::new(
                CommandKey::new(k),
                CommandKind::Earn {
                    purchase: purchase(a, k as u32),
                    paid: Yuan::from_fen(5_000 + (k as u32 * 977) % 20_000),
                    category: None,
                    multiplier: Multiplier::ONE,
                    lock_until: None,
                },
            );
            let at = t0() + Duration::days(2 * k as i64);
            if let Ok(Outcome::Posted(ps)) = points::decide(&acc, &cmd, at, policy, cal) {
                for p in &ps {
                    points::apply(&mut acc, p);
                }
            }
        }
        accounts.push(acc);
    }
    World {
        accounts,
        earned: vec![LOTS as u32; ACCOUNTS],
        rng: 0x2545_f491_4f6c_dd1d,
        key: 1 << 40,
        now: t0() + Duration::days(61),
        done: 0,
    }
}

impl World {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// One command on account `a`; returns the postings made (to keep the work observable).
    fn command(&mut self, a: usize, policy: &Policy, cal: ClinicCalendar) -> usize {
        let r = self.next();
        self.key += 1;
        // The clock moves a minute every 64 commands: cheap to keep, and still sweeps lots
        // past their expiry during a run.
        if self.key % 64 == 0 {
            self.now += Duration::minutes(1);
        }
        let acc = &self.accounts[a];
        let kind = match r % 10 {
            0..=2 => {
                let n = self.earned[a];
                self.earned[a] = n + 1;
                CommandKind::Earn {
                    purchase: purchase(a, n),
                    paid: Yuan::from_fen(1_000 + (r >> 8) as u32 % 40_000),
                    category: None,
                    multiplier: Multiplier::ONE,
                    lock_until: None,
                }
            }
            3..=5 if acc.available().get() > 0 => CommandKind::Redeem {
                points: Points::new((1 + (r >> 8) as i64 % 300).min(acc.available().get())),
                purchase: None,
            },
            8 | 9 => {
                let n = self.earned[a].saturating_sub(1 + (r >> 8) as u32 % 8);
                CommandKind::Refund {
                    purchase: purchase(a, n),
                    amount: Yuan::from_fen(100),
                    points: Points::ZERO,
                }
            }
            _ => CommandKind::Expire,
        };
        let cmd = LedgerCommand::new(CommandKey::new(self.key), kind);
        let acc = &mut self.accounts[a];
        match points::decide(acc, &cmd, self.now, policy, cal) {
            Ok(Outcome::Posted(ps)) => {
                for p in &ps {
                    points::apply(acc, p);
                }
                ps.len()
            }
            _ => 0,
        }
    }
}

fn mixed(c: &mut Criterion) {
    let policy = policy();
    let cal = ClinicCalendar::default();
    let probe = build(&policy);
    let lots: usize = probe.accounts.iter().map(|a| a.lots().len()).sum();
    drop(probe);
    eprintln!(
        "points bench: {ACCOUNTS} accounts, {:.1} open lots each on average",
        lots as f64 / ACCOUNTS as f64
    );
    let mut g = c.benchmark_group("points_ledger");
    g.throughput(Throughput::Elements(1));
    for (name, run) in [
        (
            "mixed command, random account (100k accounts x 20 lots)",
            1u64,
        ),
        (
            "mixed command, runs of 8 per account (100k accounts x 20 lots)",
            8,
        ),
    ] {
        let mut world = build(&policy);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    if world.done >= RESET_EVERY {
                        world = build(&policy);
                    }
                    let n = left.min(200_000);
                    let mut made = 0usize;
                    let mut a = 0usize;
                    let start = Instant::now();
                    for i in 0..n {
                        if i % run == 0 {
                            a = (world.next() % ACCOUNTS as u64) as usize;
                        }
                        made += world.command(a, &policy, cal);
                    }
                    total += start.elapsed();
                    black_box(made);
                    world.done += n;
                    left -= n;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, mixed);
criterion_main!(benches);
