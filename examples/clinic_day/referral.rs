//! Patients bring friends: bindings checked, rewards paid on the first paid visit, one
//! reversed by a refund, and the referral tree in numbers.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

use super::{Clinic, heading};
use clinic_ops::id::{ClinicId, PatientId, VisitId};
use clinic_ops::journey::Visit;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::Label;
use clinic_ops::referral::{
    Basis, Beneficiary, Bind, BindingPolicy, ComplianceProfile, Member, ReferralForest, Reward,
    RewardCaps, RewardSchedule, RewardStatus, RuleId, RuleSpec, ScheduleSpec, ViralReport,
    bind_all, conversion, decide_rewards,
};
use clinic_ops::store::memory::MemoryReferralStore;
use clinic_ops::store::{PatientStore, ReferralStore};

fn p(n: u64) -> PatientId {
    PatientId::new(n)
}

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Referrals (转介绍)");
    let mut forest = ReferralForest::new();
    for v in clinic.patients.scan(None, 1000)? {
        forest.upsert_member(Member::from_patient(&v.value))?;
    }
    let joined: BTreeMap<PatientId, DateTime<Utc>> =
        forest.members().map(|m| (m.id, m.registered_at)).collect();
    let registered = |n: u64| -> Result<DateTime<Utc>, Box<dyn std::error::Error>> {
        Ok(*joined.get(&p(n)).ok_or("patient missing")?)
    };
    let day = Duration::days(1);
    // (referee, referrer, when): the friend's code is entered a day after registration,
    // except where the story says otherwise.
    let attempts = vec![
        Bind {
            referee: p(10),
            referrer: p(3),
            at: registered(10)? + day,
        },
        Bind {
            referee: p(11),
            referrer: p(3),
            at: registered(11)? + day,
        },
        Bind {
            referee: p(5),
            referrer: p(5),
            at: registered(5)? + day,
        },
        Bind {
            referee: p(17),
            referrer: p(10),
            at: registered(17)? + day,
        },
        Bind {
            referee: p(10),
            referrer: p(4),
            at: registered(10)? + day * 2,
        },
        Bind {
            referee: p(2),
            referrer: p(9),
            at: registered(9)? + day,
        },
        Bind {
            referee: p(12),
            referrer: p(3),
            at: registered(12)? + day * 45,
        },
        Bind {
            referee: p(24),
            referrer: p(17),
            at: registered(24)? + day,
        },
        Bind {
            referee: p(3),
            referrer: p(24),
            at: registered(24)? + day * 2,
        },
    ];
    let policy = BindingPolicy::default();
    let outcomes = bind_all(&mut forest, &attempts, &policy);
    // The host records accepted bindings through the store port: the referee is the key, so
    // two racing first bindings of one patient cannot both land.
    let mut store = MemoryReferralStore::new();
    println!("{:<8} {:<8} {:<34} why", "referee", "referrer", "result");
    for o in &outcomes {
        match &o.result {
            Ok(event) => {
                store.commit(o.attempt.referee, None, std::slice::from_ref(event))?;
                println!(
                    "{:<8} {:<8} {:<34} -",
                    o.attempt.referee.to_string(),
                    o.attempt.referrer.to_string(),
                    "bound"
                );
            }
            Err(e) => println!(
                "{:<8} {:<8} {:<34} {e}",
                o.attempt.referee.to_string(),
                o.attempt.referrer.to_string(),
                format!("refused: {}", e.code()),
            ),
        }
    }
    println!("bindings stored: {}", store.len());

    // Schedules a manager might try: the unlawful ones are refused before they run.
    let rule = |id: &str, beneficiary, reward| -> Result<RuleSpec, Box<dyn std::error::Error>> {
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

    let visit = |id: u64, n: u64, after: Duration, yuan: u64, refund_after: Option<Duration>| {
        let at = registered(n)? + after;
        Ok::<Visit, Box<dyn std::error::Error>>(Visit {
            id: VisitId::new(id),
            patient: p(n),
            at,
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::from_whole(yuan)?,
            refunded_at: refund_after.map(|d| at + d),
        })
    };
    let visits = vec![
        visit(101, 10, day * 5, 268, None)?,
        visit(102, 11, day * 3, 158, Some(day * 2))?,
        visit(103, 17, day * 2, 50, None)?,
        visit(104, 17, day * 10, 320, None)?,
        visit(105, 24, clinic.now - registered(24)? - day * 3, 188, None)?,
    ];
    let rewards = decide_rewards(&forest, &visits, &schedule, clinic.now, clinic.calendar);
    println!(
        "\n{:<8} {:<12} {:<16} {:<8} {:>8} {:<12} {:<24} rule",
        "to", "side", "reward", "visit", "paid", "visit day", "status"
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
            "{:<8} {:<12} {:<16} {:<8} {:>8} {:<12} {:<24} {}",
            d.beneficiary.to_string(),
            side,
            d.reward.to_string(),
            d.visit.to_string(),
            d.paid.to_string(),
            clinic.calendar.local_date(d.visit_at).to_string(),
            status,
            d.rule
        );
    }

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
    let conv = conversion(&forest, &visits, schedule.min_paid(), clinic.now);
    let viral = ViralReport::new(&outcomes, &forest, conv);
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
