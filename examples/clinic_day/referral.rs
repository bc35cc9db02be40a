//! Patients bring friends: bindings checked, rewards paid into the points ledger on the
//! first paid visit, one taken back when its visit is refunded, and the referral tree in
//! numbers. Bindings, visits, purchases and refunds go through the journey layer, which pays
//! and reverses the rewards itself.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

use super::{Clinic, Res, heading, pad};
use clinic_ops::id::{ClinicId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{ClinicEventKind, JourneyError, Purchase, RewardLeg, Visit};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::Label;
use clinic_ops::points::{AdjustReason, CommandKind};
use clinic_ops::referral::{
    Basis, Beneficiary, Bind, BindError, BindOutcome, ComplianceProfile, Reward, RewardCaps,
    RewardSchedule, RewardStatus, RuleId, RuleSpec, ScheduleSpec, ViralReport, conversion,
};
use clinic_ops::store::ReferralStore;
use clinic_ops::store::memory::MemoryReferralStore;

fn p(n: u64) -> PatientId {
    PatientId::new(n)
}

/// Why a binding was refused, with times on the clinic's clock.
fn why(clinic: &Clinic, e: &BindError) -> String {
    match e {
        BindError::RefereeRegisteredFirst {
            referee,
            referrer,
            referee_registered,
            referrer_registered,
        } => format!(
            "referee {referee} registered on {}, before referrer {referrer} on {}",
            clinic.local(*referee_registered),
            clinic.local(*referrer_registered)
        ),
        BindError::OutsideWindow {
            referee,
            at,
            window_end,
        } => format!(
            "binding of referee {referee} on {} is after its attribution window ended on {}",
            clinic.local(*at),
            clinic.local(*window_end)
        ),
        other => other.to_string(),
    }
}

/// One line of the story, in time order.
enum Line {
    Refer(Bind),
    Visit(Visit),
    Buy(Purchase, VisitId),
    Refund(PurchaseId, Yuan, DateTime<Utc>),
}

impl Line {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Line::Refer(b) => b.at,
            Line::Visit(v) => v.at,
            Line::Buy(p, _) => p.at,
            Line::Refund(_, _, at) => *at,
        }
    }
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    heading("Referrals (转介绍)");
    // Schedules a manager might try: the unlawful ones are refused before they run.
    let rule = |id: &str, beneficiary, reward| -> Res<RuleSpec> {
        Ok(RuleSpec {
            id: RuleId::parse(id)?,
            beneficiary,
            basis: Basis::FirstPaidVisit,
            reward,
        })
    };
    let lawful = ScheduleSpec {
        profile: ComplianceProfile::MedicalInstitution,
        depth: 1,
        min_paid: Yuan::from_whole(100)?,
        pending_days: 7,
        caps: RewardCaps {
            per_month: Some(3),
            lifetime: Some(20),
        },
        rules: vec![
            rule(
                "friend-200pts",
                Beneficiary::Referrer { level: 1 },
                Reward::Points(Points::new(200)),
            )?,
            rule(
                "welcome-moxa",
                Beneficiary::Referee,
                Reward::Service(Label::parse("艾灸体验")?),
            )?,
        ],
    };
    let mut three_levels = lawful.clone();
    three_levels.depth = 3;
    let mut cash = lawful.clone();
    cash.rules.push(rule(
        "cash-50",
        Beneficiary::Referrer { level: 1 },
        Reward::Cash(Yuan::from_whole(50)?),
    )?);
    for (name, spec) in [("three levels", three_levels), ("cash bonus", cash)] {
        if let Err(e) = RewardSchedule::new(spec) {
            println!("schedule \"{name}\" refused: {e}");
        }
    }
    let schedule = RewardSchedule::new(lawful)?;
    let min_paid = schedule.min_paid();
    clinic.config.referral = Some(schedule);

    let joined: BTreeMap<PatientId, DateTime<Utc>> = clinic
        .journey
        .forest()
        .members()
        .map(|m| (m.id, m.registered_at))
        .collect();
    let registered =
        |n: u64| -> Res<DateTime<Utc>> { Ok(*joined.get(&p(n)).ok_or("patient missing")?) };
    let day = Duration::days(1);
    let bind = |referee: u64, referrer: u64, at| Bind {
        referee: p(referee),
        referrer: p(referrer),
        at,
    };
    // (referee, referrer, when): the friend's code is entered a day after registration,
    // except where the story says otherwise.
    let mut lines = vec![
        Line::Refer(bind(10, 3, registered(10)? + day)),
        Line::Refer(bind(11, 3, registered(11)? + day)),
        Line::Refer(bind(5, 5, registered(5)? + day)),
        Line::Refer(bind(17, 10, registered(17)? + day)),
        Line::Refer(bind(10, 4, registered(10)? + day * 2)),
        Line::Refer(bind(2, 9, registered(9)? + day)),
        Line::Refer(bind(12, 3, registered(12)? + day * 45)),
        Line::Refer(bind(24, 17, registered(24)? + day)),
        Line::Refer(bind(3, 24, registered(24)? + day * 2)),
    ];
    let visit = |id: u64, n: u64, at: DateTime<Utc>, yuan: u64| -> Res<Visit> {
        Ok(Visit {
            id: VisitId::new(id),
            patient: p(n),
            at,
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::from_whole(yuan)?,
            refunded_at: None,
        })
    };
    for (id, n, after, yuan) in [
        (101, 10, day * 5, 268),
        (102, 11, day * 3, 158),
        (103, 17, day * 2, 50),
        (104, 17, day * 10, 320),
    ] {
        lines.push(Line::Visit(visit(id, n, registered(n)? + after, yuan)?));
    }
    lines.push(Line::Visit(visit(105, 24, clinic.now - day * 3, 188)?));
    // P11's visit was paid as an herbal order; a week and a half later it is refunded in
    // full, which refunds the visit and so takes back the reward it earned P3.
    let v102 = registered(11)? + day * 3;
    let order = Purchase {
        id: PurchaseId::new(901),
        patient: p(11),
        at: v102,
        amount: Yuan::from_whole(158)?,
        category: None,
        days_supply: None,
    };
    lines.push(Line::Buy(order, VisitId::new(102)));
    lines.push(Line::Refund(
        PurchaseId::new(901),
        Yuan::from_whole(158)?,
        v102 + day * 10,
    ));
    // Stable: a visit stays before the order paid at it.
    lines.sort_by_key(Line::at);

    // The host records accepted bindings through the store port too: the referee is the
    // key, so two racing first bindings of one patient cannot both land.
    let mut store = MemoryReferralStore::new();
    let mut outcomes = Vec::new();
    let mut ledger = Vec::new();
    println!("\n{:<8} {:<8} {:<34} why", "referee", "referrer", "result");
    for line in lines {
        let (at, kind) = match &line {
            Line::Refer(b) => (
                b.at,
                ClinicEventKind::Refer {
                    referrer: b.referrer,
                    referee: b.referee,
                },
            ),
            Line::Visit(v) => (v.at, ClinicEventKind::Visit(v.clone())),
            Line::Buy(o, v) => (
                o.at,
                ClinicEventKind::Purchase {
                    purchase: o.clone(),
                    visit: Some(*v),
                    points: Points::ZERO,
                },
            ),
            Line::Refund(id, amount, at) => (
                *at,
                ClinicEventKind::Refund {
                    purchase: *id,
                    amount: *amount,
                },
            ),
        };
        let result = clinic.run(at, kind)?;
        if let Line::Refer(b) = &line {
            let result = match result {
                Ok(step) => {
                    let event = step.referral.first().cloned().ok_or("no binding event")?;
                    store.commit(b.referee, None, std::slice::from_ref(&event))?;
                    println!(
                        "{:<8} {:<8} {:<34} -",
                        b.referee.to_string(),
                        b.referrer.to_string(),
                        "bound"
                    );
                    ledger.extend(step.rewards.iter().cloned());
                    Ok(event)
                }
                Err(JourneyError::Bind(e)) => {
                    println!(
                        "{:<8} {:<8} {:<34} {}",
                        b.referee.to_string(),
                        b.referrer.to_string(),
                        format!("refused: {}", e.code()),
                        why(clinic, &e)
                    );
                    Err(e)
                }
                Err(e) => return Err(e.into()),
            };
            outcomes.push(BindOutcome {
                position: outcomes.len(),
                attempt: *b,
                result,
            });
        } else {
            ledger.extend(result?.rewards.iter().cloned());
        }
    }
    println!("bindings stored: {}", store.len());

    let rewards = clinic.journey.rewards(&clinic.config, clinic.now);
    println!(
        "\n{:<8} {:<12} {} {:<8} {:>8} {:<12} {:<24} rule",
        "to",
        "side",
        pad("reward", 16),
        "visit",
        "paid",
        "visit day",
        "status"
    );
    for d in &rewards {
        let side = match d.role {
            Beneficiary::Referee => "new patient".to_owned(),
            Beneficiary::Referrer { level } => format!("referrer L{level}"),
            _ => "other".to_owned(),
        };
        let status = match d.status {
            RewardStatus::Pending { approves_at } => {
                format!("pending until {}", clinic.calendar.local_date(approves_at))
            }
            other => other.code().to_owned(),
        };
        println!(
            "{:<8} {:<12} {} {:<8} {:>8} {:<12} {:<24} {}",
            d.beneficiary.to_string(),
            side,
            pad(&d.reward.to_string(), 16),
            d.visit.to_string(),
            d.paid.to_string(),
            clinic.calendar.local_date(d.visit_at).to_string(),
            status,
            d.rule
        );
    }
    println!(
        "\npoints rewards in the ledger (paid by the journey layer at the first event after approval):"
    );
    for r in &ledger {
        let (points, referee) = match &r.command.kind {
            CommandKind::Adjust {
                points,
                reason: AdjustReason::ReferralReward { referee },
            } => (*points, referee.to_string()),
            _ => (Points::ZERO, "?".to_owned()),
        };
        let leg = match r.leg {
            RewardLeg::Pay => "paid",
            _ => "taken back",
        };
        println!(
            "  {:<4} {:>+5} points {leg:<10} on {} (referred {referee}){}",
            r.account.to_string(),
            points.get(),
            clinic.local(r.at),
            if r.shortfall.is_positive() {
                format!(" ({} already spent)", r.shortfall)
            } else {
                String::new()
            }
        );
    }

    let forest = clinic.journey.forest();
    let visits = clinic.journey.visits();
    let stats = forest.stats();
    let chain: Vec<String> = std::iter::once(p(24))
        .chain(forest.ancestors(p(24)))
        .map(|id| id.to_string())
        .collect();
    println!("\nchain: {}", chain.join(" ← "));
    println!(
        "P3: subtree {} (itself included), descendants per level {:?}; longest chain {}",
        stats.subtree_size(p(3)).unwrap_or(0),
        stats.descendants_per_level(p(3)),
        stats.max_depth()
    );
    for a in stats.top_advocates(3) {
        println!(
            "advocate {:<4} referred {} directly, {} in all",
            a.patient.to_string(),
            a.referrals,
            a.descendants
        );
    }
    let conv = conversion(forest, visits, min_paid, clinic.now);
    let viral = ViralReport::new(&outcomes, forest, conv);
    println!(
        "conversion {}/{} bound → paid; K = {:.2} invites/inviter × {:.2} = {:.2}; cycle {} days",
        conv.converted,
        conv.bound,
        viral.invites_per_inviter(),
        viral.invite_conversion(),
        viral.k_factor(),
        viral.cycle_time.map_or(0, |d| d.num_days())
    );
    let projection: Vec<String> = viral
        .project(24, 3)
        .iter()
        .map(|u| format!("{u:.0}"))
        .collect();
    println!(
        "growth if everyone keeps inviting (users_n = users_0 × (1+K)^n): {}",
        projection.join(" → ")
    );
    Ok(())
}
