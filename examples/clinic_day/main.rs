//! A day in a small TCM clinic, told through every module of clinic-ops.
//!
//! `cargo run --example clinic_day` takes no flags. The story is seeded, so it prints the same
//! tables every run. Each module adds a section in its own file.

use chrono::{DateTime, TimeZone, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::store::memory::MemoryPatientStore;

mod campaign;
mod followup;
mod funnel;
mod metrics;
mod patients;
mod points;
mod referral;
mod segment;

/// The world every section shares: the clinic's calendar, the story's "now", and the
/// patients registered by the first section.
pub struct Clinic {
    /// UTC+8.
    pub calendar: ClinicCalendar,
    /// The morning of the story's day.
    pub now: DateTime<Utc>,
    /// The patient store.
    pub patients: MemoryPatientStore,
    /// A tiny seeded generator, so the story is the same every run.
    pub rng: Lcg,
}

/// A linear congruential generator (Knuth's MMIX constants): enough for a repeatable story,
/// and keeps the example free of a random-number dependency.
pub struct Lcg(u64);

impl Lcg {
    /// The next number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Pads to `width` terminal columns, counting East Asian wide characters (CJK, full-width
/// forms) as two, so that tables with Chinese names line up.
pub fn pad(s: &str, width: usize) -> String {
    let cols: usize = s
        .chars()
        .map(|c| {
            if ('\u{2e80}'..='\u{ffef}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(cols)))
}

/// Prints a section heading.
pub fn heading(title: &str) {
    println!(
        "\n== {title} {}",
        "=".repeat(70usize.saturating_sub(title.len()))
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calendar = ClinicCalendar::default();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 30, 0)
        .single()
        .ok_or("bad story time")?;
    let mut clinic = Clinic {
        calendar,
        now,
        patients: MemoryPatientStore::new(),
        rng: Lcg(20_261_123),
    };
    println!(
        "清心堂中医馆 (Qingxin TCM clinic) — {} (clinic time {})",
        calendar.local_date(now),
        calendar
    );
    patients::run(&mut clinic)?;
    funnel::run(&mut clinic)?;
    segment::run(&mut clinic)?;
    points::run(&mut clinic)?;
    campaign::run(&mut clinic)?;
    referral::run(&mut clinic)?;
    followup::run(&mut clinic)?;
    metrics::run(&mut clinic)?;
    Ok(())
}
