//! Retention through the public API: calendar boundaries in UTC+8, and the wrappers.

use chrono::{DateTime, TimeZone, Utc};

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::{ClinicId, PatientId, VisitId};
use clinic_ops::journey::Visit;
use clinic_ops::metrics::retention::{
    CohortKind, RetentionError, RetentionSpec, RetentionWindow, retention, retention_of_visits,
};
use clinic_ops::money::Yuan;

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn p(n: u64) -> PatientId {
    PatientId::new(n)
}

/// PostHog #17415: a visit at 07:00 Beijing time on Monday is Sunday 23:00 UTC. Bucketed in
/// UTC it lands a week (and a day) early.
#[test]
fn weeks_and_days_are_local() {
    let monday_7am_beijing = utc(2026, 3, 1, 23, 0);
    let visits = [(p(1), monday_7am_beijing)];
    let week = RetentionSpec::new(Period::Week, 1).unwrap();
    let m = retention(&visits, &week, ClinicCalendar::CHINA).unwrap();
    assert_eq!(m.cohorts()[0].start.to_string(), "2026-03-02");
    let m = retention(&visits, &week, ClinicCalendar::UTC).unwrap();
    assert_eq!(m.cohorts()[0].start.to_string(), "2026-02-23");
    let day = RetentionSpec::new(Period::Day, 1).unwrap();
    let m = retention(&visits, &day, ClinicCalendar::CHINA).unwrap();
    assert_eq!(m.cohorts()[0].start.to_string(), "2026-03-02");
}

#[test]
fn months_count_calendar_months_not_30_days() {
    // 31 January 23:00 local, then 1 February 01:00 local: the next month, two hours later.
    let visits = [
        (p(1), utc(2026, 1, 31, 15, 0)),
        (p(1), utc(2026, 1, 31, 17, 0)),
        (p(2), utc(2026, 1, 5, 2, 0)),
        (p(2), utc(2026, 3, 31, 2, 0)),
    ];
    let spec = RetentionSpec::new(Period::Month, 4).unwrap();
    let m = retention(&visits, &spec, ClinicCalendar::CHINA).unwrap();
    let c = &m.cohorts()[0];
    assert_eq!(c.start.to_string(), "2026-01-01");
    assert_eq!((c.size, c.retained.clone()), (2, vec![2, 1, 1, 0]));
    assert_eq!(m.cell(0, 2), Some(1));
    assert_eq!(m.cell(0, 4), None);
    // Observed through March: month 3 of the January cohort has not begun.
    assert_eq!(m.mean_retention()[3], None);
    assert_eq!(m.mean_retention()[1], Some(0.5));
}

#[test]
fn visits_wrapper_and_recurring_rolling() {
    let visit = |id, patient, at| Visit {
        id: VisitId::new(id),
        patient: p(patient),
        at,
        clinic: ClinicId::new(1),
        doctor: None,
        paid: Yuan::ZERO,
        refunded_at: None,
    };
    let vs = [
        visit(1, 1, utc(2026, 3, 2, 2, 0)),
        visit(2, 1, utc(2026, 3, 3, 1, 0)), // 23 h later: rolling window 0, calendar day 1
        visit(3, 1, utc(2026, 3, 4, 3, 0)),
    ];
    let spec = RetentionSpec::new(Period::Day, 3)
        .unwrap()
        .with_cohorts(CohortKind::Recurring)
        .with_window(RetentionWindow::Rolling)
        .unwrap();
    let m = retention_of_visits(&vs, &spec, ClinicCalendar::CHINA).unwrap();
    let rows: Vec<_> = m
        .cohorts()
        .iter()
        .map(|c| (c.start.to_string(), c.retained.clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            // 23 h after the anchor is window 0; 49 h is window 2.
            ("2026-03-02".to_string(), vec![1, 0, 1]),
            // Anchored at its own first visit: 26 h later is window 1.
            ("2026-03-03".to_string(), vec![1, 1, 0]),
            ("2026-03-04".to_string(), vec![1, 0, 0]),
        ]
    );
    let too_early = [(p(1), utc(1800, 1, 1, 0, 0))];
    assert!(matches!(
        retention(&too_early, &spec, ClinicCalendar::CHINA),
        Err(RetentionError::TimestampOutOfRange { .. })
    ));
}
