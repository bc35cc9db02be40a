//! Churn risk: the patients the BG/NBD model finds at risk, next to those a fixed
//! "no visit for 90 days" rule finds, and what each would have missed.
//!
//! The day's story has too little history to fit a model, so this section takes the
//! clinic's two years of visit days as a seeded roster: weekly chronic patients, monthly
//! and quarterly ones, patients who come twice a year, and one-off visitors, some of whom
//! have stopped coming. The model is fitted on all of them, every patient is scored in one
//! batch (`churn::score`), and the two lists are compared.

use clinic_ops::churn::{BgNbd, DAYS_PER_MONTH, GammaGamma, Observation, ScoreSpec, score};

use crate::{Clinic, Lcg, Res, heading, pad, rpad};

/// The model's at-risk threshold (the audience leaf `{"p_alive": {"max": 0.3}}`).
const P_ALIVE_AT_RISK: f64 = 0.3;
/// The fixed rule: more days than this since the last visit.
const FIXED_DAYS: u32 = 90;
/// Days observed.
const SPAN: u32 = 730;

/// A patient's rhythm in the roster.
#[derive(Clone, Copy, PartialEq)]
enum Rhythm {
    Weekly,
    Monthly,
    Quarterly,
    TwiceAYear,
    Once,
}

impl Rhythm {
    fn name(self) -> &'static str {
        match self {
            Rhythm::Weekly => "每周 weekly",
            Rhythm::Monthly => "每月 monthly",
            Rhythm::Quarterly => "每季 quarterly",
            Rhythm::TwiceAYear => "半年 twice a year",
            Rhythm::Once => "一次 once",
        }
    }

    fn gap(self) -> u32 {
        match self {
            Rhythm::Weekly => 7,
            Rhythm::Monthly => 30,
            Rhythm::Quarterly => 91,
            Rhythm::TwiceAYear => 182,
            Rhythm::Once => SPAN,
        }
    }
}

/// One patient: rhythm, (frequency, recency, T) in days, mean spend, days since the last visit.
struct Row {
    rhythm: Rhythm,
    summary: Observation,
    spend: f64,
    silent: u32,
}

/// The seeded roster: each patient starts on a random day, comes at their rhythm (give or
/// take a few days), and a third of them stop at a random point.
fn roster() -> Res<Vec<Row>> {
    // Its own generator: the other sections' draws stay as they were.
    let mut rng = Lcg(20_171_207);
    let rhythms = [
        Rhythm::Weekly,
        Rhythm::Monthly,
        Rhythm::Monthly,
        Rhythm::Quarterly,
        Rhythm::TwiceAYear,
        Rhythm::Once,
    ];
    let mut rows = Vec::new();
    for i in 0..600u64 {
        let rhythm = rhythms[(i % rhythms.len() as u64) as usize];
        let first = rng.below(u64::from(SPAN - 30)) as u32;
        let stops = rng.below(3) == 0;
        let last_possible = if stops {
            first + rng.below(u64::from(SPAN - first)) as u32
        } else {
            SPAN
        };
        let mut days = vec![first];
        let mut at = first;
        loop {
            let jitter = rng.below(u64::from(rhythm.gap() / 3 + 1)) as u32;
            let next = at + rhythm.gap() - rhythm.gap() / 6 + jitter;
            if next >= last_possible.min(SPAN) || rhythm == Rhythm::Once {
                break;
            }
            days.push(next);
            at = next;
        }
        let last = *days.last().unwrap_or(&first);
        let x = days.len() as u32 - 1;
        let rec = if x == 0 { 0 } else { last - first };
        let summary = Observation::new(x, f64::from(rec), f64::from(SPAN - first))?;
        let spend = 80.0 + rng.below(400) as f64;
        rows.push(Row {
            rhythm,
            summary,
            spend,
            silent: SPAN - last,
        });
    }
    Ok(rows)
}

/// Runs the section.
pub fn run(_clinic: &mut Clinic) -> Res<()> {
    heading("流失预警 Churn risk: BG/NBD p_alive vs a fixed 90-day rule");
    let rows = roster()?;
    let obs: Vec<Observation> = rows.iter().map(|r| r.summary).collect();
    let fit = BgNbd::fit(&obs)?;
    let bg = fit.params;
    let spend: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            clinic_ops::churn::SpendObservation::new(r.summary.frequency(), r.spend).ok()
        })
        .collect();
    let gg: GammaGamma = GammaGamma::fit(&spend)?.params;
    println!(
        "{} patients over {SPAN} days; BG/NBD r={:.3} α={:.1} days a={:.3} b={:.3} ({} iterations)",
        rows.len(),
        bg.r(),
        bg.alpha(),
        bg.a(),
        bg.b(),
        fit.iterations
    );
    let patients: Vec<(Observation, f64)> = rows.iter().map(|r| (r.summary, r.spend)).collect();
    let spec = ScoreSpec::new(90.0, 12, 0.01, DAYS_PER_MONTH)?;
    let scores = score(&bg, &gg, &patients, &spec)?;
    let model_risk = |i: usize| scores[i].p_alive < P_ALIVE_AT_RISK;
    let fixed_risk = |i: usize| rows[i].silent > FIXED_DAYS;
    println!(
        "\n{} {} {} {} {} {}",
        pad("rhythm", 18),
        rpad("patients", 8),
        rpad("model", 6),
        rpad("fixed", 6),
        rpad("model only", 11),
        rpad("fixed only", 11)
    );
    for rhythm in [
        Rhythm::Weekly,
        Rhythm::Monthly,
        Rhythm::Quarterly,
        Rhythm::TwiceAYear,
        Rhythm::Once,
    ] {
        let of: Vec<usize> = (0..rows.len())
            .filter(|i| rows[*i].rhythm == rhythm)
            .collect();
        let count = |f: &dyn Fn(usize) -> bool| of.iter().filter(|i| f(**i)).count().to_string();
        println!(
            "{} {} {} {} {} {}",
            pad(rhythm.name(), 18),
            rpad(&of.len().to_string(), 8),
            rpad(&count(&model_risk), 6),
            rpad(&count(&fixed_risk), 6),
            rpad(&count(&|i| model_risk(i) && !fixed_risk(i)), 11),
            rpad(&count(&|i| fixed_risk(i) && !model_risk(i)), 11)
        );
    }
    let example = |title: &str, pick: &dyn Fn(usize) -> bool| {
        println!("\n{title}");
        let mut shown = 0;
        for (i, r) in rows.iter().enumerate().filter(|(i, _)| pick(*i)) {
            if shown == 3 {
                break;
            }
            shown += 1;
            println!(
                "  #{i:<4} {} {} visits, last {} days ago: p_alive {:.2}, 12-month value ¥{:.2}",
                pad(r.rhythm.name(), 18),
                r.summary.frequency() + 1,
                r.silent,
                scores[i].p_alive,
                scores[i].clv
            );
        }
        if shown == 0 {
            println!("  (none)");
        }
    };
    example(
        "The fixed rule misses (regulars gone quiet for less than 90 days):",
        &|i| model_risk(i) && !fixed_risk(i),
    );
    example(
        "The model spares (silent over 90 days, yet by their history likely still active):",
        &|i| fixed_risk(i) && !model_risk(i) && rows[i].summary.frequency() > 0,
    );
    let once = (0..rows.len())
        .filter(|i| fixed_risk(*i) && rows[*i].summary.frequency() == 0)
        .count();
    println!(
        "  and {once} one-off visitors: BG/NBD has no repeat visit to judge them by (p_alive 1); \
         the fixed rule or a first-visit follow-up must reach them"
    );
    let value_at_risk: f64 = (0..rows.len())
        .filter(|i| model_risk(*i) && !fixed_risk(*i))
        .map(|i| scores[i].clv)
        .sum();
    println!(
        "\nWin-back calls keyed on p_alive < {P_ALIVE_AT_RISK} (followup rule win_back_at_risk) reach the first list \
         weeks before 90 days are up; their 12-month value is ¥{value_at_risk:.2}."
    );
    Ok(())
}
