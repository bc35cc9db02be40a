//! The monthly member day (会员日): the campaign book checked, and a preview of why it does
//! or does not apply to a patient. The till itself runs in the points section.

use super::{Clinic, heading, pad};
use clinic_ops::campaign::{
    AdLawWords, CampaignBook, EvalOptions, Evaluation, Outcome, UsageSnapshot, check_book, evaluate,
};
use clinic_ops::id::PurchaseId;
use clinic_ops::journey::{self, Purchase};
use clinic_ops::money::Yuan;
use clinic_ops::segment::TagCatalog;

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
        println!(
            "  {:<5} {} {}",
            t.campaign.to_string(),
            pad(name, 34),
            t.outcome
        );
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

/// The clinic's campaign book: the monthly member day, a welcome gift, the winter-solstice
/// festival.
pub fn book() -> Result<CampaignBook, serde_json::Error> {
    serde_json::from_str(BOOK)
}

/// Before the till opens, the manager checks the book and previews the member day for two
/// patients: the same evaluation the journey layer runs at the till (its trigger event and
/// the patient's facts come from the journey bridges), with the trace switched on.
pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Member day (会员日): double points, 5% cashback, ¥80 budget");
    let book = &clinic.config.campaigns;
    for f in check_book(book, clinic.now, &TagCatalog::new(), &AdLawWords::default()) {
        println!("static check: {f}");
    }
    let (at, cal) = (clinic.now, clinic.calendar);
    let mut applies = None;
    let mut does_not = None;
    for p in clinic.journey.patients() {
        let purchase = Purchase {
            id: PurchaseId::new(1),
            patient: p.id(),
            at,
            amount: Yuan::from_whole(300)?,
            category: None,
            days_supply: None,
        };
        let event =
            journey::purchase_event(&purchase, clinic.config.points.earn(), p.birth_date())?;
        let facts = journey::patient_facts(
            p,
            &[],
            &[],
            clinic.journey.account(p.id()),
            clinic.journey.forest().referral_count(p.id()),
            at,
            cal,
        )?;
        let ev = evaluate(
            book,
            &event,
            &facts,
            &UsageSnapshot::new(),
            at,
            cal,
            EvalOptions::TRACE,
        )?;
        let applied = ev.effects.iter().any(|g| g.campaign.get() == 23);
        let audience_false = ev
            .trace
            .iter()
            .any(|t| matches!(t.outcome, Outcome::AudienceFalse { .. }));
        if applied && applies.is_none() {
            applies = Some((p.id(), ev));
        } else if audience_false && does_not.is_none() {
            does_not = Some((p.id(), ev));
        }
    }
    if let Some((id, ev)) = &applies {
        show(
            &format!("\npreview for {id}, a ¥300.00 purchase (it applies):"),
            book,
            ev,
        );
    }
    if let Some((id, ev)) = &does_not {
        show(
            &format!("\npreview for {id}, a ¥300.00 purchase (it does not apply):"),
            book,
            ev,
        );
    }
    Ok(())
}
