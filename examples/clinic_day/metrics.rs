//! The manager's numbers: revisit rate by doctor, NPS, and one chronic patient's PDC.

use chrono::{Days, Duration};
use std::collections::BTreeMap;

use super::{Clinic, heading, pad};
use clinic_ops::id::{ClinicId, DoctorId, PatientId, VisitId};
use clinic_ops::journey::{Category, DaysSupply, Fill, Visit};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcOutcome, PdcPeriod, pdc_for_patient};
use clinic_ops::metrics::rates::revisit_rate;
use clinic_ops::metrics::satisfaction::{NpsScore, nps_by_doctor};
use clinic_ops::money::Yuan;
use clinic_ops::store::PatientStore;

const DOCTORS: [&str; 3] = ["王医生 (D1)", "李医生 (D2)", "陈医生 (D3)"];

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    // Seeded visits: every patient comes once after registering; some come back.
    let mut visits = Vec::new();
    let mut channels = BTreeMap::new();
    let mut answers = Vec::new();
    for n in 1..=24u64 {
        let id = PatientId::new(n);
        let Some(p) = clinic.patients.get(id)? else {
            continue;
        };
        channels.insert(id, p.value.channel().clone());
        let doctor = DoctorId::new(1 + clinic.rng.below(3));
        let mut at = p.value.registered_at() + Duration::hours(2 + clinic.rng.below(48) as i64);
        let trips = 1 + clinic.rng.below(4);
        for _ in 0..trips {
            if at > clinic.now {
                break;
            }
            visits.push(Visit {
                id: VisitId::new(visits.len() as u64 + 1),
                patient: id,
                at,
                clinic: ClinicId::new(1),
                doctor: Some(doctor),
                paid: Yuan::from_fen(8_000 + 100 * clinic.rng.below(200) as u32),
                refunded_at: None,
            });
            // A satisfaction survey after most visits; the doctor's manner shifts the score.
            if clinic.rng.below(4) > 0 {
                let base = [8, 6, 7][(doctor.get() - 1) as usize];
                let score = (base + clinic.rng.below(5) as i64 - 1).min(10);
                answers.push((Some(doctor), NpsScore::new(score)?));
            }
            at += Duration::days(3 + clinic.rng.below(40) as i64);
        }
    }

    heading("Revisit rate (复诊率) within 30 days, by doctor");
    let r = revisit_rate(&visits, 30, clinic.now, clinic.calendar, &channels)?;
    let nps = nps_by_doctor(&answers);
    println!(
        "{:<16} {:>9} {:>10} {:>8} {:>9} {:>6}",
        "doctor", "first", "revisited", "rate", "answers", "NPS"
    );
    for (d, rate) in &r.by_doctor {
        let name = DOCTORS.get((d.get() - 1) as usize).copied().unwrap_or("?");
        let t = nps.by_doctor.get(d).copied().unwrap_or_default();
        println!(
            "{} {:>9} {:>10} {:>8} {:>9} {:>6}",
            pad(name, 16),
            rate.denominator,
            rate.numerator,
            pct(rate.value()),
            t.responses(),
            t.nps().map_or_else(|| "—".into(), |v| format!("{v:+.0}"))
        );
    }
    println!(
        "{:<16} {:>9} {:>10} {:>8} {:>9} {:>6}",
        "all",
        r.overall.denominator,
        r.overall.numerator,
        pct(r.overall.value()),
        nps.overall.responses(),
        nps.overall
            .nps()
            .map_or_else(|| "—".into(), |v| format!("{v:+.0}"))
    );
    println!(
        "(only patients whose 30-day window has closed count; NPS = % 9–10 − % 0–6: {} promoters, {} passives, {} detractors)",
        nps.overall.promoters, nps.overall.passives, nps.overall.detractors
    );

    heading("Adherence (PDC, PQA rules) for one diabetic patient");
    let patient = PatientId::new(3);
    let today = clinic.calendar.local_date(clinic.now);
    let start = today - Days::new(180);
    let drug = Category::parse("metformin")?;
    let mut fills = Vec::new();
    let mut on = start + Days::new(clinic.rng.below(10));
    while on < today {
        fills.push(Fill {
            patient,
            drug: drug.clone(),
            filled_on: on,
            days_supply: DaysSupply::new(30)?,
        });
        // Refills come between 5 days early and 20 days late.
        on = on + Days::new(25) + Days::new(clinic.rng.below(26));
    }
    let period = PdcPeriod::new(start, today)?;
    for f in &fills {
        println!(
            "  {} filled {} × {} days (covers to {})",
            patient,
            f.filled_on,
            f.days_supply.get(),
            f.last_covered_day()
        );
    }
    match pdc_for_patient(&fills, &period, AdherenceThreshold::DEFAULT) {
        PdcOutcome::Measured(m) => println!(
            "{patient}: {} of {} days covered since {} → PDC {} ({})",
            m.days_covered,
            m.days_in_period,
            m.index_date,
            m.rounded(2),
            if m.adherent {
                "adherent, ≥ 0.80"
            } else {
                "below 0.80: call about refills"
            }
        ),
        PdcOutcome::Excluded(why) => println!("{patient}: not measured ({why:?})"),
    }
    Ok(())
}
