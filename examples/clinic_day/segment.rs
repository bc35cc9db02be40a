//! Segments: auto-tags, lifecycle, relationship strength and the RFM class of every patient.

use chrono::Duration;
use std::collections::BTreeMap;

use super::{Clinic, heading, pad};
use clinic_ops::id::{ClinicId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{ClinicEventKind, Purchase, Visit};
use clinic_ops::money::Yuan;
use clinic_ops::patient::{ConsentPurpose, Label};
use clinic_ops::segment::{
    self, Expr, FactsInput, PatientFacts, Relationship, RelationshipRules, RfmScore, TagCatalog,
    TagName, TagRule, TagRuleSet, TagUse, score_rfm, summarize_rfm,
};
use clinic_ops::store::PatientStore;

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Segments");
    let (now, cal) = (clinic.now, clinic.calendar);
    let mut catalog = TagCatalog::new();
    let rules: Vec<TagRule> = serde_json::from_str(
        r#"[
          {"tag": "condition/高血压", "when": {"has_condition": "I10"}},
          {"tag": "condition/糖尿病", "when": {"has_condition": "E11"}},
          {"tag": "care/慢病群", "when": {"any": [{"has_tag": "condition/高血压"},
                                                  {"has_tag": "condition/糖尿病"}]}},
          {"tag": "life/沉睡", "when": {"any": [{"lifecycle": "dormant"}, {"lifecycle": "lost"}]}},
          {"tag": "value/常客", "when": {"visits_in": {"days": 90, "min": 3}}}
        ]"#,
    )?;
    for r in &rules {
        catalog.add(r.tag.clone(), now)?;
    }
    let rules = TagRuleSet::new(rules)?;
    rules.check_tags(&catalog)?;

    // A seeded history: visits since registration, some with a course bought.
    let mut visits: BTreeMap<PatientId, Vec<Visit>> = BTreeMap::new();
    let mut purchases: BTreeMap<PatientId, Vec<Purchase>> = BTreeMap::new();
    let patients: Vec<_> = clinic
        .patients
        .scan(None, 100)?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let (mut vid, mut oid) = (0u64, 0u64);
    for p in &patients {
        let since = (now - p.registered_at()).num_days().max(1) as u64;
        // Some patients kept coming, some stopped a while ago.
        let active_for = (since * (1 + clinic.rng.below(4)) / 4).max(1);
        for _ in 0..clinic.rng.below(8) {
            let at = p.registered_at() + Duration::days(clinic.rng.below(active_for) as i64);
            vid += 1;
            visits.entry(p.id()).or_default().push(Visit {
                id: VisitId::new(vid),
                patient: p.id(),
                at,
                clinic: ClinicId::new(1),
                doctor: None,
                paid: Yuan::from_whole(50 + clinic.rng.below(300))?,
                refunded_at: None,
            });
            if clinic.rng.below(2) == 0 {
                oid += 1;
                purchases.entry(p.id()).or_default().push(Purchase {
                    id: PurchaseId::new(oid),
                    patient: p.id(),
                    at,
                    amount: Yuan::from_whole(200 + clinic.rng.below(1800))?,
                    category: None,
                    days_supply: None,
                });
            }
        }
    }

    // RFM over everything paid, by local date, as of today.
    let tx = visits
        .values()
        .flatten()
        .map(|v| (v.patient, v.at, v.paid))
        .chain(
            purchases
                .values()
                .flatten()
                .map(|p| (p.patient, p.at, p.amount)),
        );
    let summaries = summarize_rfm(
        tx.map(|(id, at, amt)| (id, cal.local_date(at), amt)),
        cal.local_date(now),
    )?;
    let ids: Vec<PatientId> = summaries.keys().copied().collect();
    let values: Vec<_> = summaries.values().copied().collect();
    let classes: BTreeMap<PatientId, RfmScore> = ids.into_iter().zip(score_rfm(&values)).collect();

    let relationship = RelationshipRules::default();
    println!(
        "{:<5} {:<11} {:<7} {:>4} {:>9} {:<22} tags",
        "pt", "lifecycle", "rel", "v90", "¥365d", "RFM r/f/m class"
    );
    // P8 (hypertension) gave separate consent to use health data for segmentation.
    clinic.record(
        now,
        ClinicEventKind::Consent {
            patient: PatientId::new(8),
            purpose: ConsentPurpose::HealthDataSegmentation,
            granted: true,
            source: Label::parse("paper_form")?,
        },
    )?;
    let patients: Vec<_> = clinic
        .patients
        .scan(None, 100)?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let (mut added, mut skipped) = (0, 0);
    let mut all_facts = Vec::new();
    for p in &patients {
        let v = visits.get(&p.id()).map(Vec::as_slice).unwrap_or(&[]);
        let o = purchases.get(&p.id()).map(Vec::as_slice).unwrap_or(&[]);
        let input = FactsInput::new(v, o);
        let mut facts = PatientFacts::build(p, &input, now, cal)?;
        let out = rules.evaluate(&facts, &catalog, TagUse::Marketing);
        added += out.events.len();
        skipped += usize::from(!out.skipped.is_empty());
        for e in &out.events {
            segment::apply(facts.tags_mut(), e);
        }
        let tags: Vec<&str> = facts.tags().iter().map(TagName::as_str).collect();
        let rfm = classes
            .get(&p.id())
            .map(|s| format!("{}{}{} {}", s.r, s.f, s.m, s.class.name_zh()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<5} {} {} {:>4} {:>9} {} {}",
            p.id().to_string(),
            pad(facts.lifecycle().label_zh(), 11),
            pad(Relationship::classify(&facts, &relationship).label_zh(), 7),
            facts.visits_in(90),
            facts.spend_in(365).to_string(),
            pad(&rfm, 22),
            tags.join(" ")
        );
        all_facts.push(facts);
    }
    println!(
        "auto-tag: {added} tags added; sensitive rules skipped for {skipped} patients without \
         health-data consent (PIPL art. 29)"
    );

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in classes.values() {
        *counts.entry(s.class.name_zh()).or_default() += 1;
    }
    let line: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("RFM classes: {}", line.join(", "));

    let winback: Expr = serde_json::from_str(
        r#"{"all":[{"any":[{"lifecycle":"at_risk"},{"lifecycle":"dormant"}]},
                   {"consent":{"purpose":"marketing"}}]}"#,
    )?;
    let hits = all_facts.iter().filter(|f| winback.evaluate(f)).count();
    println!("\nwin-back audience {winback}: {hits} patients");
    if let Some(f) = all_facts
        .iter()
        .find(|f| !winback.evaluate(f) && f.visit_count() > 0)
    {
        print!("why not {}:\n{}", f.patient(), winback.explain(f));
    }
    Ok(())
}
