//! A host wiring the PostgreSQL adapter into the load–decide–commit loop: the twin of the
//! SQLite adapter's `sqlite_host`.
//!
//! ```text
//! CLINIC_OPS_PG_URL=postgresql://clinic_ops:clinic_ops@127.0.0.1/clinic_ops \
//!     cargo run -p clinic-ops-postgres --example postgres_host [-- SCHEMA]
//! ```
//!
//! The chain's schema defaults to `example_chain` (created if missing; run it twice and
//! the second run finds the patient). One process registers a patient with a diabetes
//! file, then four "front desks" (threads, each with its own connection pool, as the tills
//! of separate machines would have) record follow-up visits
//! for that patient at the same moment. Every desk loads, decides with the pure core and
//! commits with the version it loaded; a desk that loses the race gets
//! `StoreError::Conflict`, and `retry_on_conflict` makes it load, decide and commit again.
//! No visit is lost.

use std::sync::atomic::{AtomicU32, Ordering};

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId};
use clinic_ops::patient::{
    self, Channel, ConditionCode, FollowUpCadence, MobileNumber, Patient, PatientCommand,
    PatientError, PatientEvent, PersonName, Registration,
};
use clinic_ops::store::{ExecuteError, PatientStore, Version, retry_on_conflict};
use clinic_ops_postgres::PgStore;

/// Load, decide, commit; on a version conflict, all three again (at most 10 times).
/// `decide` is the pure core with the command and the clock already applied.
fn execute(
    store: &mut PgStore,
    id: PatientId,
    decide: impl Fn(Option<&Patient>) -> Result<Vec<PatientEvent>, PatientError>,
    conflicts: &AtomicU32,
) -> Result<Version, ExecuteError<PatientError>> {
    retry_on_conflict(10, || {
        let loaded = store.get(id)?;
        let events = decide(loaded.as_ref().map(|v| &v.value)).map_err(ExecuteError::Domain)?;
        store
            .commit(id, loaded.map(|v| v.version), &events)
            .inspect_err(|e| {
                if e.is_conflict() {
                    conflicts.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(ExecuteError::Store)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CLINIC_OPS_PG_URL").map_err(|_| {
        "set CLINIC_OPS_PG_URL to a PostgreSQL server, e.g. postgresql://clinic_ops:clinic_ops@127.0.0.1/clinic_ops"
    })?;
    let schema = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example_chain".to_owned());
    // The host reads its clock once per request; here a fixed morning, 2026-03-02 in the
    // clinic, so the output does not change from run to run.
    let cal = ClinicCalendar::default();
    let day = |unix: i64| cal.local_date_of_unix(unix);
    let now = cal.start_of(day(1_772_416_800));
    let mut store = PgStore::connect(&url, &schema)?;
    println!("schema {schema} (v{})", store.schema_version()?);

    let id = PatientId::new(1);
    let conflicts = AtomicU32::new(0);
    let diabetes = ConditionCode::parse("E11")?;
    if store.get(id)?.is_none() {
        let registration = Registration {
            name: PersonName::parse("王秀英")?,
            mobile: MobileNumber::parse("13900001234")?,
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: None,
            owner: None,
            home_clinic: ClinicId::new(1),
            channel: Channel::WalkIn,
            channel_code: None,
        };
        let register = PatientCommand::Register(registration);
        execute(
            &mut store,
            id,
            |p| patient::decide(p, id, &register, now, cal),
            &conflicts,
        )?;
        let open = PatientCommand::OpenChronicFile {
            condition: diabetes.clone(),
            name: "2型糖尿病".into(),
            diagnosed_on: day(1_559_347_200),
            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
        };
        execute(
            &mut store,
            id,
            |p| patient::decide(p, id, &open, now, cal),
            &conflicts,
        )?;
    }

    let desks = 4u64;
    let visits_per_desk = 5u64;
    std::thread::scope(
        |s| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let mut joins = Vec::new();
            for desk in 0..desks {
                let mut handle = PgStore::connect(&url, &schema)?;
                let (conflicts, diabetes, day) = (&conflicts, &diabetes, &day);
                joins.push(s.spawn(move || -> Result<(), ExecuteError<PatientError>> {
                    for k in 0..visits_per_desk {
                        let cmd = PatientCommand::RecordFollowUp {
                            condition: diabetes.clone(),
                            on: day(1_735_689_600 + 86_400 * (desk * visits_per_desk + k) as i64),
                        };
                        execute(
                            &mut handle,
                            id,
                            |p| patient::decide(p, id, &cmd, now, cal),
                            conflicts,
                        )?;
                    }
                    Ok(())
                }));
            }
            for j in joins {
                j.join().map_err(|_| "a desk panicked")??;
            }
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;

    let end = store.get(id)?.ok_or("patient missing")?;
    let file = end
        .value
        .open_chronic_file(&diabetes)
        .ok_or("file missing")?;
    println!();
    println!("{:<28} {:>8}", "", "count");
    println!("{:<28} {:>8}", "desks writing at once", desks);
    println!("{:<28} {:>8}", "follow-ups recorded", file.follow_ups.len());
    println!(
        "{:<28} {:>8}",
        "conflicts retried",
        conflicts.load(Ordering::Relaxed)
    );
    println!("{:<28} {:>8}", "patient version", end.version.get());
    Ok(())
}
