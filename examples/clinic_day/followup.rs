//! Care follow-ups: the day's task list of one nurse, with reasons and overdue items.

use chrono::{Days, Duration};
use std::collections::BTreeMap;

use super::{Clinic, heading, pad};
use clinic_ops::followup::{
    CarePlan, Facts, FollowUpHistory, FollowUpPolicy, Plan, Task, TaskOutcome, apply, plan,
    record_outcome, staff_metrics,
};
use clinic_ops::id::{ClinicId, PatientId, StaffId, VisitId};
use clinic_ops::journey::{Category, DaysSupply, Fill, Visit};
use clinic_ops::money::Yuan;
use clinic_ops::store::memory::MemoryTaskStore;
use clinic_ops::store::{PatientStore, TaskStore};

const CHRONIC: &str = r#"{
  "name": "慢病管理",
  "rules": [
    {"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "call"},
    {"key": "refill", "kind": "refill", "days_before": 3, "channel": "wechat_message", "priority": "high"},
    {"key": "file", "kind": "chronic_follow_up", "channel": "call", "priority": "urgent"},
    {"key": "season", "kind": "season_change", "channel": "call",
     "dates": {"solar_terms": ["lichun", "lixia", "liqiu", "lidong", "dongzhi"]}}
  ]
}"#;

const GENERAL: &str = r#"{
  "name": "诊后常规",
  "rules": [
    {"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "wechat_message"},
    {"key": "revisit", "kind": "revisit_booking", "days_after": 14, "channel": "call"},
    {"key": "birthday", "kind": "birthday", "channel": "wechat_message", "priority": "low"},
    {"key": "winback", "kind": "win_back", "lapsed_after_days": 120, "first_gap_days": 14,
     "max_attempts": 3, "channel": "call", "priority": "low"}
  ]
}"#;

fn when(clinic: &Clinic, t: &Task) -> String {
    match t.due_at {
        Some(at) => clinic.calendar.local_time(at).format("%H:%M").to_string(),
        None => "-".into(),
    }
}

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Care follow-ups (诊后随访)");
    let chronic: CarePlan = serde_json::from_str(CHRONIC)?;
    let general: CarePlan = serde_json::from_str(GENERAL)?;
    let policy = FollowUpPolicy::default();
    let today = clinic.calendar.local_date(clinic.now);
    let tasks = MemoryTaskStore::new();
    let mut store = tasks.clone();
    let mut visits = vec![];
    let mut fills = vec![];
    for n in 1..=24u64 {
        let days_ago = [3, 14, 121, 3, 45, 200][(n % 6) as usize];
        visits.push(Visit {
            id: VisitId::new(n),
            patient: PatientId::new(n),
            at: clinic.calendar.start_of(today - Days::new(days_ago))
                + Duration::hours(9 + clinic.rng.below(8) as i64),
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::ZERO,
            refunded_at: None,
        });
    }
    for (n, drug) in [(3u64, "二甲双胍"), (8, "氨氯地平"), (15, "二甲双胍")] {
        fills.push(Fill {
            patient: PatientId::new(n),
            drug: Category::parse(drug)?,
            filled_on: today - Days::new(27),
            days_supply: DaysSupply::new(30)?,
        });
    }
    let facts = Facts {
        visits: &visits,
        fills: &fills,
        purchases: &[],
    };
    let mut plans: BTreeMap<PatientId, Plan> = BTreeMap::new();
    for v in clinic.patients.scan(None, 100)? {
        let p = &v.value;
        let care = if p.chronic_files().iter().any(|f| f.is_open()) {
            &chronic
        } else {
            &general
        };
        let history = FollowUpHistory::new(p.id());
        let day = plan(
            p,
            &facts,
            &history,
            care,
            &policy,
            clinic.now,
            clinic.calendar,
        )?;
        let events = day.events(&history);
        if !events.is_empty() {
            store.commit(p.id(), None, &events)?;
        }
        plans.insert(p.id(), day);
    }
    let nurse = StaffId::new(2);
    println!(
        "task list of nurse {nurse} for {today} (quiet hours 21:00-08:00, at most 3 contacts a week)"
    );
    println!(
        "{:<7} {:<8} {:<18} {:<15} {:>5} {:<8} {:<7} reason",
        "", "patient", "kind", "channel", "time", "priority", "overdue"
    );
    // Overdue first (longest first), then today's by time, most important first.
    let mut rows: Vec<(u32, &Task)> = plans
        .values()
        .flat_map(|d| {
            let overdue = d.overdue.iter().map(|o| (o.days_overdue, &o.task));
            overdue.chain(d.due.iter().map(|t| (0, t)))
        })
        .filter(|(_, t)| t.assignee == Some(nurse))
        .collect();
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.due_at.cmp(&b.1.due_at))
            .then(b.1.priority.cmp(&a.1.priority))
            .then(a.1.patient.cmp(&b.1.patient))
    });
    let mut first_call = None;
    for (overdue, t) in rows {
        let name = clinic
            .patients
            .get(t.patient)?
            .and_then(|v| v.value.name().map(|n| n.to_string()))
            .unwrap_or_default();
        if overdue == 0 && first_call.is_none() && t.channel.is_remote() {
            first_call = Some(t.clone());
        }
        println!(
            "{:<7} {} {:<18} {:<15} {:>5} {:<8} {:<7} {}",
            if overdue > 0 { "overdue" } else { "today" },
            pad(&format!("{} {name}", t.patient), 8),
            t.kind.to_string(),
            t.channel.to_string(),
            when(clinic, t),
            format!("{:?}", t.priority),
            if overdue > 0 {
                format!("{overdue} d")
            } else {
                "-".into()
            },
            t.reason
        );
    }
    let skipped: usize = plans.values().map(|p| p.skipped.len()).sum();
    let held: usize = plans.values().map(|p| p.held.len()).sum();
    println!(
        "(clinic-wide: {skipped} rule runs skipped for consent or opt-out, {held} tasks held by the weekly cap)"
    );

    if let Some(t) = first_call {
        let at = clinic.now + Duration::minutes(40);
        let v = store.get(t.patient)?.ok_or("no history")?;
        let ev = record_outcome(&v.value, t.id, TaskOutcome::NotReached, Some(nurse), at)?;
        store.commit(t.patient, Some(v.version), &ev)?;
        let h = store.get(t.patient)?.ok_or("no history")?.value;
        let p = clinic.patients.get(t.patient)?.ok_or("no patient")?.value;
        let care = if p.chronic_files().is_empty() {
            &general
        } else {
            &chronic
        };
        let again = plan(&p, &facts, &h, care, &policy, at, clinic.calendar)?;
        if let Some(retry) = again.tasks().find(|r| r.rule == t.rule) {
            println!(
                "{} {} not reached at {} → retry (attempt {}) at {}",
                t.patient,
                t.kind,
                clinic.calendar.local_time(at).format("%H:%M"),
                retry.attempt + 1,
                when(clinic, retry)
            );
        }
    }
    // The rest of the morning: every other task is done.
    for v in store.scan(None, 100)? {
        let mut h = v.value;
        let open: Vec<_> = h
            .tasks()
            .filter(|r| r.outcome.is_none() && r.task.due_on == today)
            .map(|r| r.task.id)
            .collect();
        let mut events = vec![];
        for (k, id) in open.into_iter().enumerate() {
            let outcome = [TaskOutcome::Reached, TaskOutcome::Booked][k % 2];
            if k % 3 != 2 {
                let ev = record_outcome(&h, id, outcome, None, clinic.now + Duration::minutes(50))?;
                ev.iter().for_each(|e| apply(&mut h, e));
                events.extend(ev);
            }
        }
        store.commit(h.patient(), Some(v.version), &events)?;
    }
    let all: Vec<_> = tasks
        .scan(None, 100)?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let metrics = staff_metrics(
        all.iter().flat_map(FollowUpHistory::tasks),
        clinic.now + Duration::hours(1),
        clinic.calendar,
    );
    println!(
        "\n{:<8} {:>4} {:>10} {:>8} {:>11} {:>9}",
        "staff", "due", "completed", "overdue", "completion", "overdue%"
    );
    for (staff, m) in &metrics {
        println!(
            "{:<8} {:>4} {:>10} {:>8} {:>10.0}% {:>8.0}%",
            staff.map(|s| s.to_string()).unwrap_or("-".into()),
            m.due,
            m.completed,
            m.overdue,
            m.completion_rate().unwrap_or(0.0) * 100.0,
            m.overdue_rate().unwrap_or(0.0) * 100.0
        );
    }
    Ok(())
}
