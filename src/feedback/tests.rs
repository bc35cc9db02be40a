//! Worked examples of the service-level clocks and the complaint transitions.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::BTreeSet;

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{ClinicId, ComplaintId, PatientId, StaffId};

fn cal() -> ClinicCalendar {
    ClinicCalendar::default()
}

/// Local (UTC+8) wall time.
fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap() - chrono::Duration::hours(8)
}

fn new_complaint() -> NewComplaint {
    NewComplaint {
        id: ComplaintId::new(1),
        patient: PatientId::new(1),
        clinic: ClinicId::new(1),
        doctor: None,
        visit: None,
        feedback: None,
        category: Category::Attitude,
        severity: Severity::High,
        owner: StaffId::new(2),
        comment: Some(Comment::parse("前台态度差，张医生").unwrap()),
    }
}

fn run(
    c: &mut Option<Complaint>,
    cmd: &ComplaintCommand,
    at: DateTime<Utc>,
) -> Result<(), FeedbackError> {
    for e in decide(c.as_ref(), cmd, &SlaPolicy::default(), at, cal())? {
        apply(c, &e);
    }
    Ok(())
}

#[test]
fn acknowledge_clock_skips_weekends_and_nights() {
    let p = SlaPolicy::default();
    // Friday 2026-11-27 17:00: 1 h on Friday, 3 h on Monday → Monday 12:00.
    assert_eq!(
        p.acknowledge_by(local(2026, 11, 27, 17, 0), cal()),
        local(2026, 11, 30, 12, 0)
    );
    // Saturday: the clock starts Monday 09:00 → 13:00.
    assert_eq!(
        p.acknowledge_by(local(2026, 11, 28, 11, 0), cal()),
        local(2026, 11, 30, 13, 0)
    );
    // Before opening on a Wednesday: 09:00 + 4 h.
    assert_eq!(
        p.acknowledge_by(local(2026, 11, 25, 6, 30), cal()),
        local(2026, 11, 25, 13, 0)
    );
    // Exactly at the end of a working day: the next working day, 13:00.
    assert_eq!(
        p.acknowledge_by(local(2026, 11, 25, 18, 0), cal()),
        local(2026, 11, 26, 13, 0)
    );
    // Month and year end: Thursday 2026-12-31 16:00 with New Year's Day closed: 2 h on
    // Thursday, Friday closed, the weekend, 2 h on Monday 2027-01-04 → 11:00.
    let holiday = p.clone().with_closed_days(BTreeSet::from([
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
    ]));
    assert_eq!(
        holiday.acknowledge_by(local(2026, 12, 31, 16, 0), cal()),
        local(2027, 1, 4, 11, 0)
    );
}

#[test]
fn resolve_clock_counts_local_days_across_month_ends() {
    let p = SlaPolicy::default();
    // Opened 2026-01-28 23:30 local (15:30 UTC the same day): 7 days → end of 2026-02-04.
    assert_eq!(
        p.resolve_by(local(2026, 1, 28, 23, 30), cal()),
        local(2026, 2, 5, 0, 0)
    );
    // Opened 2028-02-25 (a leap year) → end of 2028-03-03.
    assert_eq!(
        p.resolve_by(local(2028, 2, 25, 10, 0), cal()),
        local(2028, 3, 4, 0, 0)
    );
    // Opened 00:30 local on 2026-11-01, still 2026-10-31 in UTC: the local day counts.
    assert_eq!(
        p.resolve_by(local(2026, 11, 1, 0, 30), cal()),
        local(2026, 11, 9, 0, 0)
    );
}

#[test]
fn complaint_lifecycle_and_refusals() {
    let mut c = None;
    let t0 = local(2026, 11, 27, 17, 0);
    assert_eq!(
        run(&mut c, &ComplaintCommand::Acknowledge, t0),
        Err(FeedbackError::ComplaintNotFound)
    );
    run(&mut c, &ComplaintCommand::Open(new_complaint()), t0).unwrap();
    assert!(matches!(
        run(&mut c, &ComplaintCommand::Open(new_complaint()), t0),
        Err(FeedbackError::ComplaintExists { .. })
    ));
    let e = run(&mut c, &ComplaintCommand::Close, t0).unwrap_err();
    assert_eq!(e.to_string(), "complaint CM1 is open: cannot close");
    // Not acknowledged by Monday 12:00: escalated once.
    let late = local(2026, 11, 30, 12, 1);
    let st = c.clone().unwrap();
    let esc = escalations(&st, &SlaPolicy::default(), late);
    assert_eq!(esc.len(), 1);
    for e in &esc {
        apply(&mut c, e);
    }
    assert!(escalations(c.as_ref().unwrap(), &SlaPolicy::default(), late).is_empty());
    run(&mut c, &ComplaintCommand::Acknowledge, late).unwrap();
    run(&mut c, &ComplaintCommand::Acknowledge, late).unwrap(); // harmless again
    let note = Comment::parse("道歉并培训").unwrap();
    run(
        &mut c,
        &ComplaintCommand::Resolve { note: note.clone() },
        late,
    )
    .unwrap();
    run(
        &mut c,
        &ComplaintCommand::Reopen { note: note.clone() },
        late,
    )
    .unwrap();
    let st = c.clone().unwrap();
    assert_eq!(
        (st.status, st.reopened, st.breached.len()),
        (ComplaintStatus::Reopened, 1, 0)
    );
    run(&mut c, &ComplaintCommand::Resolve { note }, late).unwrap();
    run(&mut c, &ComplaintCommand::Close, late).unwrap();
    let mut tally = metrics::ComplaintTally::default();
    tally.add(c.as_ref().unwrap());
    assert_eq!(
        tally.report().by_category.get(&Category::Attitude),
        Some(&1)
    );
}

#[test]
fn comments_are_masked() {
    let c = Comment::parse("张三在前台骂人").unwrap();
    assert!(!format!("{c:?}").contains('张'));
    assert!(!format!("{c}").contains('张'));
    let dbg = format!("{:?}", new_complaint());
    assert!(!dbg.contains("张医生"), "{dbg}");
}

#[test]
fn a_low_score_opens_a_complaint_when_the_policy_says_so() {
    use crate::metrics::satisfaction::NpsScore;
    let f = Feedback {
        id: crate::id::FeedbackId::new(9),
        patient: PatientId::new(1),
        visit: crate::id::VisitId::new(3),
        doctor: crate::id::DoctorId::new(4),
        clinic: ClinicId::new(1),
        score: NpsScore::new(2).unwrap(),
        csat: None,
        comment: None,
        at: local(2026, 11, 27, 17, 0),
    };
    let policy = AutoComplaintPolicy {
        open_at_or_below: NpsScore::new(4).unwrap(),
        category: Category::Other,
        severity: Severity::Medium,
        owner: StaffId::new(1),
    };
    assert!(complaint_for(&f, None, ComplaintId::new(1)).is_none());
    let Some(ComplaintCommand::Open(n)) = complaint_for(&f, Some(&policy), ComplaintId::new(1))
    else {
        panic!("expected a complaint");
    };
    assert_eq!(n.feedback, Some(f.id));
    let high = Feedback {
        score: NpsScore::new(5).unwrap(),
        ..f
    };
    assert!(complaint_for(&high, Some(&policy), ComplaintId::new(1)).is_none());
}
