//! The journey funnel by channel: from lead to revisit, with the same levels ClickHouse's
//! `windowFunnel` would give on the clinic's event export.

use std::collections::BTreeMap;

use super::{Clinic, heading};
use clinic_ops::id::PatientId;
use clinic_ops::metrics::event::{ChannelCode, JourneyEvent, JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{
    Attribution, BreakdownBucket, ConversionWindow, Dimension, FunnelBreakdown, FunnelMode,
    FunnelSpec, Step,
};
use clinic_ops::store::PatientStore;

const STAGES: [JourneyStage; 6] = [
    JourneyStage::Lead,
    JourneyStage::Converted,
    JourneyStage::Booked,
    JourneyStage::Arrived,
    JourneyStage::Purchased,
    JourneyStage::Revisited,
];

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Funnel by channel (last 60 days, 30-day window)");
    // The host keeps its own dictionary of channel strings; the funnel sees small codes.
    let mut codes: BTreeMap<String, u32> = BTreeMap::new();
    let mut events = Vec::new();
    let start = clinic.now.timestamp() - 60 * 86_400;
    let hour = 3_600i64;
    // The 24 registered patients went further down the journey than the 40 leads who only
    // left a contact; each step happens with falling probability, hours to days apart.
    for n in 1..=64u64 {
        let (id, channel) = if n <= 24 {
            let id = PatientId::new(n);
            let channel = match clinic.patients.get(id)? {
                Some(p) => p.value.channel().code(),
                None => continue,
            };
            (id, channel)
        } else {
            let leads = [
                "doctor_ip/xiaohongshu",
                "doctor_ip/douyin",
                "kol",
                "walk_in",
            ];
            let c = leads[clinic.rng.below(leads.len() as u64) as usize];
            (PatientId::new(1000 + n), c.to_owned())
        };
        let next = codes.len() as u32;
        let code = ChannelCode::new(*codes.entry(channel).or_insert(next));
        let mut t = start + clinic.rng.below(40 * 24) as i64 * hour;
        let keep = if n <= 24 { 80 } else { 25 };
        for (i, stage) in STAGES.iter().enumerate() {
            if i > 0 {
                if clinic.rng.below(100) >= keep {
                    break;
                }
                t += (1 + clinic.rng.below(6 * 24) as i64) * hour;
            }
            let kind = JourneyEventKind::stage(*stage);
            events.push(JourneyEvent::new(id, kind, t).with_channel(code));
        }
    }
    let spec = FunnelSpec::new(
        STAGES
            .iter()
            .map(|&s| Step::kind(s).labelled(s.code()))
            .collect(),
        ConversionWindow::days(30)?,
        FunnelMode::Default,
    )?
    .with_breakdown(FunnelBreakdown {
        dimension: Dimension::Channel,
        attribution: Attribution::FirstTouch,
    })?;
    let report = spec.compute(&events)?.report(&spec, 4);
    let names: BTreeMap<u32, &str> = codes.iter().map(|(k, v)| (*v, k.as_str())).collect();

    print!("{:<24}", "channel");
    for s in &report.steps {
        print!("{:>11}", s.label);
    }
    println!();
    let row = |name: &str, steps: &[clinic_ops::metrics::funnel::StepReport]| {
        print!("{name:<24}");
        for s in steps {
            print!(
                "{:>11}",
                format!("{} {:>3.0}%", s.patients, s.conversion_from_first * 100.0)
            );
        }
        println!();
    };
    for b in &report.breakdown {
        let name = match b.value {
            BreakdownBucket::Value(v) => names.get(&(v as u32)).copied().unwrap_or("?"),
            BreakdownBucket::Other => "(other channels)",
            _ => continue,
        };
        row(name, &b.steps);
    }
    row("all", &report.steps);
    let days = |s: Option<f64>| s.map_or("-".to_owned(), |v| format!("{:.1}d", v / 86_400.0));
    print!("{:<24}", "median time from lead");
    for s in &report.steps {
        print!("{:>11}", days(s.median_seconds_to_convert));
    }
    println!();
    Ok(())
}
