//! A day in a small TCM clinic, told through every module of clinic-ops.
//!
//! `cargo run --example clinic_day` takes no flags. The story is seeded, so it prints the same
//! tables every run. Each module adds a section in its own file.
//!
//! What happens to patients (registration, consent, visits, purchases, refunds, referrals,
//! the nightly run) goes through the journey layer ([`clinic_ops::journey`]), the way a host
//! runs it: decide the event against the state, commit what it implies to the stores, apply
//! it. The sections on modules the layer does not cover (chronic files, the funnel,
//! segments, follow-up work lists, the manager's metrics) call those modules directly.

use chrono::{DateTime, TimeZone, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::PatientId;
use clinic_ops::journey::{
    self, ClinicEvent, ClinicEventKind, Decision, EventKey, Implications, JourneyConfig,
    JourneyError,
};
use clinic_ops::patient::PatientEvent;
use clinic_ops::store::PatientStore;
use clinic_ops::store::memory::MemoryPatientStore;
use unicode_width::UnicodeWidthStr;

#[allow(dead_code)] // the calculator's parts clinic_day does not use
#[path = "../common/acquisition.rs"]
mod acquisition;
mod appointments;
mod campaign;
mod churn;
mod contacts;
mod content;
mod followup;
mod funnel;
mod metrics;
mod patients;
mod points;
mod referral;
mod segment;

/// The example's error type.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The world every section shares: the clinic's calendar, the story's "now", the patient
/// store and the journey layer's state and rules.
pub struct Clinic {
    /// UTC+8.
    pub calendar: ClinicCalendar,
    /// The morning of the story's day.
    pub now: DateTime<Utc>,
    /// The patient store: the record of every patient.
    pub patients: MemoryPatientStore,
    /// The journey layer's state: patients, points accounts, the referral forest, visits,
    /// purchases and campaign counters, all in memory.
    pub journey: journey::Clinic,
    /// The clinic's rules, one per module; sections fill them in as the story needs them.
    pub config: JourneyConfig,
    /// A tiny seeded generator, so the story is the same every run.
    pub rng: Lcg,
    /// The next event key (a host would use its order number or message id).
    next_key: u64,
}

impl Clinic {
    /// A new clinic event with the next key.
    pub fn event(&mut self, at: DateTime<Utc>, kind: ClinicEventKind) -> ClinicEvent {
        self.next_key += 1;
        ClinicEvent {
            key: EventKey::new(self.next_key),
            at,
            kind,
        }
    }

    /// The host's loop for one clinic event: the journey layer decides it against the state
    /// and applies what it implies (remembering its key, so a retry is
    /// [`Decision::Replayed`]); the patient events are then committed to the patient store.
    /// The outer error is the store's; the inner one the journey layer's refusal.
    pub fn handle(&mut self, event: &ClinicEvent) -> Res<Result<Decision, JourneyError>> {
        let decision = match self.journey.handle(&self.config, event) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if let Decision::New(step) = &decision {
            self.commit_patients(&step.patient)?;
        }
        Ok(Ok(decision))
    }

    /// [`Clinic::handle`] for a new event: what it implied, or why it was refused.
    pub fn run(
        &mut self,
        at: DateTime<Utc>,
        kind: ClinicEventKind,
    ) -> Res<Result<Box<Implications>, JourneyError>> {
        let event = self.event(at, kind);
        Ok(self.handle(&event)?.map(|d| match d {
            Decision::New(step) => step,
            // A fresh key is never a replay.
            _ => Box::default(),
        }))
    }

    /// [`Clinic::run`] for an event whose consequences the story does not print; a refusal
    /// is an error.
    pub fn record(&mut self, at: DateTime<Utc>, kind: ClinicEventKind) -> Res<()> {
        // Already applied: the step is only what happened, for printing.
        let _step = self.run(at, kind)??;
        Ok(())
    }

    /// Patient commands the journey layer does not cover (chronic files, deletion,
    /// anonymisation): decided by the patient module, committed to the store, and applied
    /// to the journey state so that both keep the same patient.
    pub fn patient_command(
        &mut self,
        id: PatientId,
        cmd: &clinic_ops::patient::PatientCommand,
    ) -> Res<()> {
        let current = self.patients.get(id)?;
        let state = current.as_ref().map(|v| &v.value);
        let events = clinic_ops::patient::decide(state, id, cmd, self.now, self.calendar)?;
        let events: Vec<_> = events.into_iter().map(|e| (id, e)).collect();
        self.commit_patients(&events)?;
        let step = Implications {
            patient: events,
            ..Implications::default()
        };
        journey::apply(&mut self.journey, &step);
        Ok(())
    }

    fn commit_patients(&mut self, events: &[(PatientId, PatientEvent)]) -> Res<()> {
        // One commit per patient, in the order of first appearance.
        let mut ids: Vec<PatientId> = Vec::new();
        for (id, _) in events {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        for id in ids {
            let mine: Vec<PatientEvent> = events
                .iter()
                .filter(|(p, _)| *p == id)
                .map(|(_, e)| e.clone())
                .collect();
            let version = self.patients.get(id)?.map(|v| v.version);
            self.patients.commit(id, version, &mine)?;
        }
        Ok(())
    }

    /// A time as the clinic's wall clock shows it (UTC+8), to the minute.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        self.calendar
            .local_datetime(t)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
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

/// Pads on the right to `width` terminal columns, by display width (a CJK character takes
/// two), so that tables with Chinese names line up.
pub fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

/// Pads on the left to `width` terminal columns, by display width.
pub fn rpad(s: &str, width: usize) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(s.width())))
}

/// Prints a section heading, 74 columns wide.
pub fn heading(title: &str) {
    println!(
        "\n== {title} {}",
        "=".repeat(70usize.saturating_sub(title.width()))
    );
}

fn main() -> Res<()> {
    let calendar = ClinicCalendar::default();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 30, 0)
        .single()
        .ok_or("bad story time")?;
    let mut clinic = Clinic {
        calendar,
        now,
        patients: MemoryPatientStore::new(),
        journey: journey::Clinic::new(),
        config: {
            let mut c = JourneyConfig::new(calendar);
            c.points = points::policy()?;
            c.campaigns = campaign::book()?;
            c
        },
        rng: Lcg(20_261_123),
        next_key: 0,
    };
    println!(
        "清心堂中医馆 (Qingxin TCM clinic) — {} (clinic time {})",
        clinic.local(now),
        calendar
    );
    patients::run(&mut clinic)?;
    funnel::run(&mut clinic)?;
    segment::run(&mut clinic)?;
    referral::run(&mut clinic)?;
    campaign::run(&mut clinic)?;
    points::run(&mut clinic)?;
    followup::run(&mut clinic)?;
    appointments::run(&mut clinic)?;
    metrics::run(&mut clinic)?;
    content::run(&mut clinic)?;
    contacts::run(&mut clinic)?;
    churn::run(&mut clinic)?;
    Ok(())
}
