//! Membership points through the journey layer: the weeks before, the member day at the till
//! (the campaign's double points and cashback posted by the layer), redemptions, refunds
//! that undo what a purchase did, and the balances.

use chrono::{DateTime, Duration, Utc};

use super::{Clinic, Res, heading, pad};
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::journey::{Category, ClinicEventKind, Decision, HostTask, Implications, Purchase};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{
    AdjustReason, Draw, EarnPolicy, EarnRate, ExpiryRule, Policy, PostingKind, Tier, TierCode,
    TierPolicy,
};

/// The points program: 1 point per ¥, courses 3 points per ¥2, at most 2,000 points per
/// purchase, points expire at the end of the year, three tiers by growth.
pub fn policy() -> Res<Policy> {
    let code = |c: &str| TierCode::parse(c);
    Ok(Policy::default()
        .with_earn(
            EarnPolicy::new(EarnRate::new(1, 1)?)
                .with_category(Category::parse("course")?, EarnRate::new(3, 2)?)
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
        )?))
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

/// What a step posted, summed: base points earned, campaign points (signed), cashback.
fn earned(step: &Implications) -> (i64, i64, Yuan) {
    let (mut base, mut bonus, mut cash) = (0, 0, Yuan::ZERO);
    for p in &step.ledger {
        match &p.kind {
            PostingKind::Earned { points, .. } => base += points.get(),
            PostingKind::Adjusted {
                reason: AdjustReason::Campaign(_),
                points,
                ..
            } => bonus += points.get(),
            _ => {}
        }
    }
    for t in &step.host {
        if let HostTask::PayCashback { cashback, .. } = t {
            cash = cash.checked_add(cashback.amount).unwrap_or(cash);
        }
    }
    (base, bonus, cash)
}

fn tier_change(step: &Implications) -> String {
    step.ledger
        .iter()
        .find_map(|q| match &q.kind {
            PostingKind::TierChanged { to, .. } => {
                Some(format!("→ {}", to.as_ref().map_or("-", |t| t.as_str())))
            }
            _ => None,
        })
        .unwrap_or_default()
}

fn buy(
    clinic: &mut Clinic,
    who: u64,
    order: u64,
    at: DateTime<Utc>,
    amount: Yuan,
    category: Option<Category>,
    points: Points,
) -> Res<Box<Implications>> {
    let purchase = Purchase {
        id: PurchaseId::new(order),
        patient: PatientId::new(who),
        at,
        amount,
        category,
        days_supply: None,
    };
    Ok(clinic.run(
        at,
        ClinicEventKind::Purchase {
            purchase,
            visit: None,
            points,
        },
    )??)
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    let herbal = Category::parse("herbal")?;
    let course = Category::parse("course")?;
    let now = clinic.now;

    heading("Points before the member day (1 pt/¥, courses 3 pt/¥2, cap 2000)");
    println!(
        "{:<6} {:<6} {:>9} {:<8} {:>7} {:<5} {:<12} {:<10}",
        "member", "order", "paid ¥", "category", "points", "lot", "expires", "tier"
    );
    // (member, order, paid, category, days before today): none falls on a member day.
    type Order<'a> = (u64, u64, &'a str, Option<&'a Category>, i64);
    let orders: [Order; 7] = [
        (1, 101, "368.00", Some(&herbal), -60),
        (2, 102, "1280.00", Some(&course), -45),
        (3, 103, "89.90", None, -40),
        (1, 104, "156.50", Some(&herbal), -20),
        (5, 105, "420.00", Some(&herbal), -10),
        (3, 106, "45.00", None, -3),
        (2, 107, "2400.00", Some(&course), -1),
    ];
    for (who, order, paid, cat, days) in orders {
        let at = now + Duration::days(days);
        let step = buy(
            clinic,
            who,
            order,
            at,
            Yuan::parse(paid)?,
            cat.cloned(),
            Points::ZERO,
        )?;
        for p in &step.ledger {
            if let PostingKind::Earned {
                lot,
                points,
                expires,
                ..
            } = &p.kind
            {
                println!(
                    "{:<6} {:<6} {:>9} {:<8} {:>7} {:<5} {:<12} {}",
                    format!("P{who}"),
                    format!("O{order}"),
                    paid,
                    cat.map_or("-", |c| c.as_str()),
                    points.get(),
                    lot.map_or("-".into(), |x| x.to_string()),
                    day(clinic, *expires),
                    tier_change(&step),
                );
            }
        }
    }

    heading("The till on the member day (会员日): what the book grants, posted");
    println!(
        "{:<6} {:<6} {:>5} {:>8} {:>6} {:>6} {:>9}  campaign effects",
        "member", "order", "time", "paid ¥", "base", "bonus", "cashback"
    );
    let mut paid_out = Yuan::ZERO;
    let mut member_day = Vec::new();
    for n in 1..=24u64 {
        let at = now + Duration::minutes(n as i64 * 17);
        let paid = Yuan::from_whole(60 + clinic.rng.below(12) * 40)?;
        let step = buy(clinic, n, 300 + n, at, paid, None, Points::ZERO)?;
        let (base, bonus, cash) = earned(&step);
        paid_out = paid_out.checked_add(cash).unwrap_or(paid_out);
        let effects: Vec<String> = step
            .effects
            .iter()
            .map(|e| format!("{} {} {}", e.campaign, e.effect.kind(), e.granted))
            .collect();
        if bonus > 0 {
            member_day.push((n, paid));
        }
        println!(
            "{:<6} {:<6} {:>5} {:>8} {:>6} {:>6} {:>9}  {}",
            format!("P{n}"),
            format!("O{}", 300 + n),
            clinic.calendar.local_time(at).format("%H:%M").to_string(),
            paid.to_string(),
            base,
            bonus,
            cash.to_string(),
            if effects.is_empty() {
                "-".to_owned()
            } else {
                effects.join(", ")
            }
        );
    }
    println!(
        "cashback to pay out: ¥{paid_out} of the ¥80 budget (the last grant is cut to what was left)"
    );

    heading("Points redeemed (soonest-expiring lot first, then oldest)");
    let after = now + Duration::hours(8);
    println!("{:<6} {:<27} {:>7}  lots drawn", "member", "for", "points");
    let mut retry = None;
    for (who, pts, what) in [
        (1u64, 500i64, "gift: 艾灸贴 x5"),
        (2, 2_500, "order O202 (¥100 + points)"),
        (3, 100, "gift: 养生茶"),
    ] {
        let (id, points) = (PatientId::new(who), Points::new(pts));
        let step = if who == 2 {
            buy(clinic, 2, 202, after, Yuan::from_whole(100)?, None, points)?
        } else {
            let event = clinic.event(
                after,
                ClinicEventKind::Redeem {
                    patient: id,
                    points,
                },
            );
            let step = match clinic.handle(&event)?? {
                Decision::New(step) => step,
                _ => return Err("a new key was taken for a replay".into()),
            };
            retry = Some(event);
            step
        };
        for p in &step.ledger {
            if let PostingKind::Redeemed { draws, .. } = &p.kind {
                println!(
                    "{:<6} {} {:>7}  {}",
                    format!("P{who}"),
                    pad(what, 27),
                    pts,
                    lots(draws)
                );
            }
        }
    }
    // The same request retried: the journey layer remembers its key.
    if let Some(event) = retry {
        let again = match clinic.handle(&event)?? {
            Decision::Replayed { .. } => "recognised as a replay, nothing posted",
            _ => "decided again (unexpected)",
        };
        println!("P3's redemption sent again with the same key (a timeout at the till): {again}");
    }

    heading("Refunds undo what a purchase did");
    println!("(clawback = floor(earned × refunded ÷ paid); campaign points go back in proportion)");
    println!(
        "{:<6} {:<6} {:>9} {:>7} {:>6} {:>9} {:>9}  lots",
        "member", "order", "refund ¥", "clawed", "bonus", "returned", "shortfall"
    );
    let refund_at = now + Duration::hours(9);
    let mut refunds: Vec<(u64, u64, Yuan)> = vec![
        (2, 102, Yuan::parse("640.00")?), // half the course: half its points back
        (2, 202, Yuan::from_whole(100)?), // the points-paid order returned whole
        (1, 101, Yuan::parse("368.00")?), // an herbal order fully refunded, its points spent
        (3, 103, Yuan::parse("30.00")?),  // a third of an order
    ];
    // A member-day purchase refunded in full: its double points and its use of the
    // campaign go back too.
    // (One whose points are still there: the others have spent theirs.)
    let undone = member_day
        .iter()
        .find(|(n, _)| ![1, 2, 3, 5].contains(n))
        .copied();
    if let Some((n, paid)) = undone {
        refunds.push((n, 300 + n, paid));
    }
    for (who, order, amount) in refunds {
        let step = clinic.run(
            refund_at,
            ClinicEventKind::Refund {
                purchase: PurchaseId::new(order),
                amount,
            },
        )??;
        let (mut clawed, mut bonus, mut returned, mut shortfall) = (0, 0, 0, 0);
        let mut drawn = Vec::new();
        for p in &step.ledger {
            match &p.kind {
                PostingKind::ClawedBack {
                    points,
                    shortfall: s,
                    draws,
                    ..
                } => {
                    clawed += points.get() - s.get();
                    shortfall += s.get();
                    drawn.extend(draws.iter().cloned());
                }
                PostingKind::Returned { points, draws, .. } => {
                    returned += points.get();
                    drawn.extend(draws.iter().cloned());
                }
                PostingKind::Adjusted {
                    reason: AdjustReason::Campaign(_),
                    points,
                    draws,
                    ..
                } => {
                    bonus += points.get();
                    drawn.extend(draws.iter().cloned());
                }
                _ => {}
            }
        }
        let released = if step.usage_release.is_empty() {
            String::new()
        } else {
            "  (member-day use given back)".to_owned()
        };
        println!(
            "{:<6} {:<6} {:>9} {:>7} {:>6} {:>9} {:>9}  {}{released}",
            format!("P{who}"),
            format!("O{order}"),
            amount.to_string(),
            clawed,
            bonus,
            returned,
            shortfall,
            lots(&drawn),
        );
    }
    // A second refund of O101 would claw back twice: refused.
    match clinic.run(
        refund_at + Duration::minutes(5),
        ClinicEventKind::Refund {
            purchase: PurchaseId::new(101),
            amount: Yuan::parse("1.00")?,
        },
    )? {
        Err(e) => println!("refunding O101 again: refused ({e})"),
        Ok(_) => println!("refunding O101 again: accepted (unexpected)"),
    }

    heading("Balances");
    println!(
        "{:<6} {:>8} {:>7} {:>7} {:>18}  tier",
        "member", "balance", "locked", "growth", "expiring by 1 Jan"
    );
    let new_year = now + Duration::days(40);
    let mut members = vec![1u64, 2, 3, 5];
    members.extend(undone.map(|(n, _)| n));
    members.sort_unstable();
    for who in members {
        let Some(a) = clinic.journey.account(PatientId::new(who)) else {
            continue;
        };
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
