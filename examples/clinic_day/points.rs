//! Membership points: a member day of earning, a redemption, refunds, expiry and tiers.

use chrono::{DateTime, Duration, Utc};

use super::{Clinic, heading};
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::journey::Category;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{
    self, Account, CommandKey, CommandKind, Draw, EarnPolicy, EarnRate, ExpiryRule, LedgerCommand,
    LedgerDecision, Multiplier, Policy, Posting, PostingKind, Tier, TierCode, TierPolicy,
};
use clinic_ops::store::LedgerStore;
use clinic_ops::store::memory::MemoryLedgerStore;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Ledger<'a> {
    clinic: &'a Clinic,
    store: MemoryLedgerStore,
    policy: Policy,
    key: u64,
}

impl Ledger<'_> {
    /// Load, decide, append: the loop a host runs for every command.
    fn run(&mut self, who: u64, kind: CommandKind, at: DateTime<Utc>) -> Res<Vec<Posting>> {
        let id = PatientId::new(who);
        self.key += 1;
        let loaded = self.store.load(id)?;
        let (acc, version) = match &loaded {
            Some(v) => (Account::replay(id, &v.value), Some(v.version)),
            None => (Account::new(id), None),
        };
        let cmd = LedgerCommand::new(CommandKey::new(self.key), kind);
        match points::decide(&acc, &cmd, at, &self.policy, self.clinic.calendar)? {
            LedgerDecision::Posted(p) => {
                if !p.is_empty() {
                    self.store.append(id, version, &p)?;
                }
                Ok(p)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn account(&self, who: u64) -> Res<Account> {
        let id = PatientId::new(who);
        Ok(match self.store.load(id)? {
            Some(v) => Account::replay(id, &v.value),
            None => Account::new(id),
        })
    }
}

fn lots(draws: &[Draw]) -> String {
    if draws.is_empty() {
        return "-".into();
    }
    draws
        .iter()
        .map(|d| format!("{}:{}", d.lot, d.points))
        .collect::<Vec<_>>()
        .join(" ")
}

fn day(clinic: &Clinic, t: Option<DateTime<Utc>>) -> String {
    t.map_or("never".into(), |t| {
        clinic.calendar.local_date(t).to_string()
    })
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    let code = |c: &str| TierCode::parse(c);
    let herbal = Category::parse("herbal")?;
    let course = Category::parse("course")?;
    let policy = Policy::default()
        .with_earn(
            EarnPolicy::new(EarnRate::new(1, 1)?)
                .with_category(course.clone(), EarnRate::new(3, 2)?)
                .with_cap(Points::new(2_000))?,
        )
        .with_expiry(ExpiryRule::EndOfYear)?
        .with_tiers(TierPolicy::new(
            vec![
                Tier::new(code("普通会员")?, 0, 0),
                Tier::new(code("银卡")?, 800, 500),
                Tier::new(code("金卡")?, 3_000, 2_000),
            ],
            365,
        )?);
    let now = clinic.now;
    let mut l = Ledger {
        clinic,
        store: MemoryLedgerStore::new(),
        policy,
        key: 0,
    };

    heading("Points earned (member day: double points, 1 pt/¥, courses 3 pt/¥2)");
    println!(
        "{:<6} {:<6} {:>9} {:<8} {:>5} {:>7} {:<5} {:<12} {:<10}",
        "member", "order", "paid ¥", "category", "mult", "points", "lot", "expires", "tier"
    );
    // (member, order, paid, category, multiplier %, days before today)
    type Order<'a> = (u64, u64, &'a str, Option<&'a Category>, u32, i64);
    let orders: [Order; 7] = [
        (1, 101, "368.00", Some(&herbal), 200, -60),
        (2, 102, "1280.00", Some(&course), 200, -45),
        (3, 103, "89.90", None, 100, -40),
        (1, 104, "156.50", Some(&herbal), 200, -20),
        (5, 105, "420.00", Some(&herbal), 200, -10),
        (3, 106, "45.00", None, 100, -3),
        (2, 107, "2400.00", Some(&course), 100, -1),
    ];
    for (who, order, paid, cat, mult, days) in orders {
        let at = now + Duration::days(days);
        let posted = l.run(
            who,
            CommandKind::Earn {
                purchase: PurchaseId::new(order),
                paid: Yuan::parse(paid)?,
                category: cat.cloned(),
                multiplier: Multiplier::percent(mult)?,
                lock_until: None,
            },
            at,
        )?;
        for p in &posted {
            if let PostingKind::Earned {
                lot,
                points,
                expires,
                ..
            } = &p.kind
            {
                let tier = posted.iter().find_map(|q| match &q.kind {
                    PostingKind::TierChanged { to, .. } => {
                        Some(format!("→ {}", to.as_ref().map_or("-", |t| t.as_str())))
                    }
                    _ => None,
                });
                println!(
                    "{:<6} {:<6} {:>9} {:<8} {:>4}% {:>7} {:<5} {:<12} {:<10}",
                    format!("P{who}"),
                    format!("O{order}"),
                    paid,
                    cat.map_or("-", |c| c.as_str()),
                    mult,
                    points.get(),
                    lot.map_or("-".into(), |x| x.to_string()),
                    day(l.clinic, *expires),
                    tier.unwrap_or_default(),
                );
            }
        }
    }

    heading("Points redeemed (soonest-expiring lot first, then oldest)");
    println!(
        "{:<6} {:<10} {:>7}  lots drawn",
        "member", "for order", "points"
    );
    for (who, order, pts) in [(1u64, 201u64, 500i64), (2, 202, 2_500), (3, 203, 100)] {
        let posted = l.run(
            who,
            CommandKind::Redeem {
                points: Points::new(pts),
                purchase: Some(PurchaseId::new(order)),
            },
            now,
        )?;
        for p in &posted {
            if let PostingKind::Redeemed { draws, .. } = &p.kind {
                println!(
                    "{:<6} {:<10} {:>7}  {}",
                    format!("P{who}"),
                    format!("O{order}"),
                    pts,
                    lots(draws)
                );
            }
        }
    }
    // The same request retried (a network timeout at the till): nothing changes.
    l.key -= 1;
    let again = l.run(
        3,
        CommandKind::Redeem {
            points: Points::new(100),
            purchase: Some(PurchaseId::new(203)),
        },
        now,
    )?;
    println!(
        "retry of P3's redemption with the same key: {} new postings",
        again.len()
    );

    heading(
        "Refunds (clawback = floor(earned × refunded ÷ paid), points given back to their lots)",
    );
    println!(
        "{:<6} {:<6} {:>10} {:>8} {:>9} {:>9}  lots",
        "member", "order", "refund ¥", "clawed", "shortfall", "returned"
    );
    let refunds: [(u64, u64, &str, i64); 4] = [
        (2, 102, "640.00", 0), // half the course: half its points back
        (2, 202, "0", 2_500),  // the points-paid product returned whole
        (1, 101, "368.00", 0), // herbal order fully refunded
        (3, 103, "30.00", 0),  // a third of the order
    ];
    for (who, order, cash, back) in refunds {
        let posted = l.run(
            who,
            CommandKind::Refund {
                purchase: PurchaseId::new(order),
                amount: Yuan::parse(cash)?,
                points: Points::new(back),
            },
            now + Duration::hours(2),
        )?;
        for p in &posted {
            match &p.kind {
                PostingKind::ClawedBack {
                    points,
                    shortfall,
                    draws,
                    ..
                } => println!(
                    "{:<6} {:<6} {:>10} {:>8} {:>9} {:>9}  {}",
                    format!("P{who}"),
                    format!("O{order}"),
                    cash,
                    points.get(),
                    shortfall.get(),
                    "-",
                    lots(draws)
                ),
                PostingKind::Returned { points, draws, .. } => println!(
                    "{:<6} {:<6} {:>10} {:>8} {:>9} {:>9}  {}",
                    format!("P{who}"),
                    format!("O{order}"),
                    "-",
                    "-",
                    "-",
                    points.get(),
                    lots(draws)
                ),
                _ => {}
            }
        }
    }
    // A second full refund of O101 would claw back twice: refused.
    match l.run(
        1,
        CommandKind::Refund {
            purchase: PurchaseId::new(101),
            amount: Yuan::parse("1.00")?,
            points: Points::ZERO,
        },
        now + Duration::hours(3),
    ) {
        Err(e) => println!("refunding O101 again: refused ({e})"),
        Ok(_) => println!("refunding O101 again: accepted (unexpected)"),
    }

    heading("Balances");
    println!(
        "{:<6} {:>8} {:>7} {:>7} {:>18}  tier",
        "member", "balance", "locked", "growth", "expiring by 1 Jan"
    );
    let new_year = now + Duration::days(40);
    for who in [1u64, 2, 3, 5] {
        let a = l.account(who)?;
        let soon: i64 = a
            .expiring_by(new_year)
            .iter()
            .map(|x| x.remaining().get())
            .sum();
        println!(
            "{:<6} {:>8} {:>7} {:>7} {:>18}  {}",
            format!("P{who}"),
            a.balance().get(),
            a.locked().get(),
            a.growth(),
            soon,
            a.tier().map_or("-", |t| t.as_str()),
        );
    }
    Ok(())
}
