//! The monthly member day (会员日): double points and cashback with a cap, and why it did or
//! did not apply to each patient.

use chrono::Duration;

use super::{Clinic, heading};
use clinic_ops::campaign::{
    AdLawWords, Amount, CampaignBook, EvalOptions, Evaluation, Event, EventKind, Outcome,
    check_book, evaluate,
};
use clinic_ops::id::PatientId;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::segment::{FactsInput, PatientFacts, TagCatalog};
use clinic_ops::store::memory::MemoryUsageStore;
use clinic_ops::store::{PatientStore, UsageStore};

const BOOK: &str = r#"{
  "groups": { "welcome": "first_match" },
  "campaigns": [
    {
      "id": 23, "name": "会员日 double points + cashback",
      "window": { "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00",
                  "recurrence": { "every": "month_day", "day": 23 } },
      "trigger": { "on": "purchase", "min": "100" },
      "audience": { "age": { "min": 40 } },
      "effects": [ { "type": "points_multiplier", "factor": "2" },
                   { "type": "cashback", "percent": "5", "cap": "20" } ],
      "caps": { "budget": { "yuan": "80" },
                "limits": [ { "action": "apply", "per": "patient", "period": "month", "max": 1 } ] },
      "copy": { "body": "每月23日会员日: 积分翻倍, 购药返现5%" }
    },
    {
      "id": 5, "name": "新客首诊礼", "group": "welcome",
      "window": { "start": "2026-01-01T00:00:00+08:00" },
      "trigger": { "on": "first_visit" },
      "effects": [ { "type": "gift", "item": "艾灸贴" } ],
      "copy": { "body": "首诊送艾灸贴, 根治失眠" }
    },
    {
      "id": 12, "name": "冬至膏方节",
      "window": { "start": "2026-12-21T00:00:00+08:00", "end": "2027-01-05T00:00:00+08:00" },
      "trigger": { "on": "purchase" },
      "effects": [ { "type": "coupon", "code": "GAOFANG50", "value": "50" } ]
    }
  ]
}"#;

fn show(label: &str, book: &CampaignBook, ev: &Evaluation<'_>) {
    println!("{label}");
    for t in &ev.trace {
        let name = book.get(t.campaign).map_or("?", |c| c.name());
        println!("  {:<5} {:<34} {}", t.campaign.to_string(), name, t.outcome);
        if let Outcome::AudienceFalse {
            explanation: Some(x),
        } = &t.outcome
        {
            for line in x.to_string().lines() {
                println!("        {line}");
            }
        }
    }
    for g in &ev.effects {
        let cut = g.cut.map(|c| format!(" ({c})")).unwrap_or_default();
        println!(
            "  → {} rule {} {}: wanted {}, granted {}{cut}",
            g.campaign,
            g.rule,
            g.effect.kind(),
            g.desired,
            g.granted
        );
    }
}

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Member day (会员日): double points, 5% cashback, ¥80 budget");
    let book: CampaignBook = serde_json::from_str(BOOK)?;
    for f in check_book(
        &book,
        clinic.now,
        &TagCatalog::new(),
        &AdLawWords::default(),
    ) {
        println!("static check: {f}");
    }
    let mut usage = MemoryUsageStore::new();
    println!(
        "\n{:<5} {:>8} {:>12} {:>10}  outcome",
        "id", "paid", "extra pts", "cashback"
    );
    let mut applied_to: Option<(PatientId, Evaluation<'_>)> = None;
    let mut not_applied_to: Option<(PatientId, Evaluation<'_>)> = None;
    let mut paid_out = Yuan::ZERO;
    for n in 1..=24u64 {
        let id = PatientId::new(n);
        let Some(p) = clinic.patients.get(id)? else {
            continue;
        };
        let at = clinic.now + Duration::minutes(n as i64 * 17);
        let facts = PatientFacts::build(&p.value, &FactsInput::default(), at, clinic.calendar)?;
        let paid = Yuan::from_whole(60 + clinic.rng.below(12) * 40)?;
        let event = Event::new(EventKind::Purchase { amount: paid })
            .with_base_points(Points::new(paid.amount().trunc().try_into().unwrap_or(0)));
        // Load the counters, evaluate, commit the reservation: a conflict would mean
        // another till took the budget first, and we would evaluate again.
        let keys = book.usage_keys(&event, id, at, clinic.calendar);
        let snapshot = usage.load(&keys)?;
        let ev = evaluate(
            &book,
            &event,
            &facts,
            &snapshot,
            at,
            clinic.calendar,
            EvalOptions::TRACE,
        )?;
        usage.commit(&ev.reservation)?;
        let (mut pts, mut cash) = (0i64, Yuan::ZERO);
        for g in &ev.effects {
            match g.granted {
                Amount::Points(p) => pts += p.get(),
                Amount::Yuan(y) => cash = cash.checked_add(y).unwrap_or(cash),
                _ => {}
            }
        }
        paid_out = paid_out.checked_add(cash).unwrap_or(paid_out);
        let member_day = ev
            .trace
            .iter()
            .find(|t| t.campaign.get() == 23)
            .map(|t| t.outcome.to_string())
            .unwrap_or_default();
        println!(
            "{:<5} {:>8} {:>12} {:>10}  {member_day}",
            id.to_string(),
            paid.to_string(),
            pts,
            cash.to_string()
        );
        // Show the most telling traces: a cut cashback, and an audience that was false.
        let cut = ev.effects.iter().any(|g| g.cut.is_some());
        let applied = ev.effects.iter().any(|g| g.campaign.get() == 23);
        let audience_false = ev
            .trace
            .iter()
            .any(|t| matches!(t.outcome, Outcome::AudienceFalse { .. }));
        if applied && (applied_to.is_none() || cut) {
            applied_to = Some((id, ev));
        } else if audience_false && not_applied_to.is_none() {
            not_applied_to = Some((id, ev));
        }
    }
    println!("cashback paid out: ¥{paid_out} of the ¥80 budget");
    if let Some((id, ev)) = &applied_to {
        show(&format!("\ntrace for {id} (it applied):"), &book, ev);
    }
    if let Some((id, ev)) = &not_applied_to {
        show(&format!("\ntrace for {id} (it did not apply):"), &book, ev);
    }
    Ok(())
}
