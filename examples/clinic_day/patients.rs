//! Patients arrive from channels, give consent, a chronic file comes due, one patient leaves.

use chrono::{Days, Duration};
use std::collections::BTreeMap;

use super::{Clinic, heading, pad};
use clinic_ops::id::{ClinicId, PatientId, StaffId};
use clinic_ops::journey::ClinicEventKind;
use clinic_ops::patient::{
    self, Channel, ConditionCode, ConsentPurpose, DeletionDeadline, DeletionReason,
    FollowUpCadence, Label, MobileNumber, PatientCommand, PersonName, Registration, ResidentId,
};
use clinic_ops::store::{PatientStore, StoreError};

const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊"];
const CHANNELS: [&str; 6] = [
    "doctor_ip/xiaohongshu",
    "doctor_ip/douyin",
    "kol",
    "word_of_mouth",
    "free_clinic",
    "walk_in",
];

pub fn run(clinic: &mut Clinic) -> Result<(), Box<dyn std::error::Error>> {
    heading("Acquisition by channel");
    let mut by_channel: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for n in 1..=24u64 {
        let name = format!(
            "{}{}",
            SURNAMES[clinic.rng.below(8) as usize],
            GIVEN[clinic.rng.below(8) as usize]
        );
        let channel = Channel::parse(CHANNELS[clinic.rng.below(CHANNELS.len() as u64) as usize])?;
        let reg = Registration {
            name: PersonName::parse(&name)?,
            mobile: MobileNumber::parse(&format!("+86 138-{:04}-{:04}", 1000 + n, 2000 + n * 7))?,
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: chrono::NaiveDate::from_ymd_opt(
                1950 + (n as i32 * 3) % 60,
                1 + (n as u32 % 12),
                1 + (n as u32 % 27),
            ),
            owner: Some(StaffId::new(1 + n % 2)),
            home_clinic: ClinicId::new(1),
            channel: channel.clone(),
            channel_code: Some(Label::parse(&format!("qr-{:03}", n % 5))?),
        };
        let id = PatientId::new(n);
        let registered_at = clinic.now - Duration::days(200 - n as i64 * 7);
        clinic.record(
            registered_at,
            ClinicEventKind::Register {
                patient: id,
                registration: Box::new(reg),
            },
        )?;
        let consents = clinic.rng.below(3);
        let entry = by_channel.entry(channel.code()).or_default();
        entry.0 += 1;
        for purpose in [ConsentPurpose::CareReminder, ConsentPurpose::Marketing]
            .into_iter()
            .take(consents as usize)
        {
            clinic.record(
                registered_at,
                ClinicEventKind::Consent {
                    patient: id,
                    purpose,
                    granted: true,
                    source: Label::parse("mini_program")?,
                },
            )?;
            if purpose == ConsentPurpose::Marketing {
                entry.1 += 1;
            }
        }
    }
    println!(
        "{:<24} {:>8} {:>18}",
        "channel", "patients", "marketing consent"
    );
    for (ch, (n, m)) in &by_channel {
        println!("{ch:<24} {n:>8} {m:>18}");
    }

    // A returning patient tries to register again with a differently spelled number. The
    // patient store holds mobiles unique: the front desk checks there before the journey is
    // told of a new patient.
    let again = ClinicEventKind::Register {
        patient: PatientId::new(99),
        registration: Box::new(Registration {
            name: PersonName::parse("张伟")?,
            mobile: MobileNumber::parse("0086 13810012007")?,
            resident_id: Some(ResidentId::parse("11010519491231002X")?),
            external_id: None,
            sex: None,
            birth_date: None,
            owner: None,
            home_clinic: ClinicId::new(1),
            channel: Channel::WalkIn,
            channel_code: None,
        }),
    };
    let ClinicEventKind::Register {
        patient,
        registration,
    } = again
    else {
        return Err("not a registration".into());
    };
    let events = patient::decide(
        None,
        patient,
        &PatientCommand::Register(*registration),
        clinic.now,
        clinic.calendar,
    )?;
    match clinic.patients.commit(patient, None, &events) {
        Err(e @ StoreError::Duplicate { .. }) => println!("\nduplicate refused: {e}"),
        other => println!("\nduplicate check: unexpected {other:?}"),
    }
    let registered = clinic.journey.patients().count();
    println!("patients registered: {registered}");

    heading("Chronic files coming due");
    let today = clinic.calendar.local_date(clinic.now);
    let e11 = ConditionCode::parse("E11")?;
    let i10 = ConditionCode::parse("I10")?;
    for (n, cond, name, months_ago) in [
        (3u64, &e11, "2型糖尿病", 5u64),
        (8, &i10, "高血压", 2),
        (15, &e11, "2型糖尿病", 4),
    ] {
        let id = PatientId::new(n);
        let diagnosed = today
            .checked_sub_days(Days::new(months_ago * 30))
            .ok_or("date")?;
        clinic.patient_command(
            id,
            &PatientCommand::OpenChronicFile {
                condition: cond.clone(),
                name: name.into(),
                diagnosed_on: diagnosed,
                cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
            },
        )?;
    }
    clinic.patient_command(
        PatientId::new(15),
        &PatientCommand::RecordFollowUp {
            condition: e11.clone(),
            on: today.checked_sub_days(Days::new(40)).ok_or("date")?,
        },
    )?;
    println!(
        "{:<8} {:<8} {:<12} {:<12} {:<12} {:>8}",
        "patient", "name", "condition", "last", "next due", "overdue"
    );
    for v in clinic.patients.scan(None, 100)? {
        let p = &v.value;
        for f in p.chronic_files() {
            println!(
                "{:<8} {} {} {:<12} {:<12} {:>8}",
                p.id().to_string(),
                pad(&p.name().map(|n| n.to_string()).unwrap_or_default(), 8),
                pad(&f.name, 12),
                f.last_follow_up
                    .map(|d| d.to_string())
                    .unwrap_or("-".into()),
                f.next_due().to_string(),
                if f.is_overdue(today) {
                    format!("{} d", f.days_overdue(today))
                } else {
                    "-".into()
                },
            );
        }
    }

    heading("A patient leaves");
    let leaver = PatientId::new(20);
    clinic.record(
        clinic.now,
        ClinicEventKind::Consent {
            patient: leaver,
            purpose: ConsentPurpose::Marketing,
            granted: false,
            source: Label::parse("wecom")?,
        },
    )?;
    clinic.patient_command(
        leaver,
        &PatientCommand::SetDeletionDeadline(DeletionDeadline {
            by: today,
            reason: DeletionReason::Requested,
        }),
    )?;
    let before = clinic.patients.get(leaver)?.ok_or("missing")?.value;
    println!(
        "before: {} {} channel={} clinic={}",
        before.name().map(|n| n.to_string()).unwrap_or_default(),
        before.mobile().map(|m| m.to_string()).unwrap_or_default(),
        before.channel(),
        before.home_clinic()
    );
    // The journey's erasure: the patient's own anonymisation plus everything else the
    // clinic holds of them (follow-ups, bookings, complaints, seats, referral keys).
    let step = clinic.run(clinic.now, ClinicEventKind::Erase { patient: leaver })??;
    println!(
        "erase:  {} patient event, {} follow-up event, referral keys {}",
        step.patient.len(),
        step.followup.len(),
        if step.members.is_empty() {
            "none held"
        } else {
            "stripped"
        },
    );
    let after = clinic.patients.get(leaver)?.ok_or("missing")?.value;
    println!(
        "after:  identity={} birth_year={:?} channel={} clinic={} registered={}",
        if after.identity().is_some() {
            "kept"
        } else {
            "removed"
        },
        after.birth_year(),
        after.channel(),
        after.home_clinic(),
        clinic.calendar.local_date(after.registered_at()),
    );
    Ok(())
}
