//! Scenario tests of the planner, outcomes and metrics.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{ClinicId, PatientId, PurchaseId, StaffId, VisitId};
use crate::journey::{Category, DaysSupply, Fill, Visit};
use crate::money::Yuan;
use crate::patient::{
    self, Channel, ConditionCode, ConsentGiver, ConsentPurpose, FollowUpCadence, Label,
    MobileNumber, Patient, PatientCommand, PersonName, Registration,
};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

fn now() -> DateTime<Utc> {
    // Monday 2026-11-23, 09:30 in the clinic.
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 30, 0).unwrap()
}

fn today() -> NaiveDate {
    CAL.local_date(now())
}

fn days_ago(n: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(n)).unwrap()
}

struct P(Option<Patient>);

impl P {
    fn new(n: u64) -> Self {
        let mut p = P(None);
        p.run(
            PatientCommand::Register(
                Registration::new(
                    PersonName::parse("王芳").unwrap(),
                    MobileNumber::parse(&format!("139{n:08}")).unwrap(),
                    ClinicId::new(1),
                    Channel::WalkIn,
                )
                .with_birth_date(NaiveDate::from_ymd_opt(1960, 11, 23).unwrap())
                .with_owner(StaffId::new(7)),
            ),
            now() - Duration::days(400),
        );
        p
    }
    fn run(&mut self, cmd: PatientCommand, at: DateTime<Utc>) {
        let id = self.0.as_ref().map_or(PatientId::new(1), |p| p.id());
        for e in patient::decide(self.0.as_ref(), id, &cmd, at, CAL).unwrap() {
            patient::apply(&mut self.0, &e);
        }
    }
    fn consent(mut self, purpose: ConsentPurpose) -> Self {
        self.run(
            PatientCommand::GrantConsent {
                purpose,
                source: Label::parse("form").unwrap(),
                policy_version: Label::parse("v1").unwrap(),
                given_by: ConsentGiver::Patient,
            },
            now() - Duration::days(300),
        );
        self
    }
    fn diabetes(mut self, diagnosed: NaiveDate) -> Self {
        self.run(
            PatientCommand::OpenChronicFile {
                condition: ConditionCode::parse("E11").unwrap(),
                name: "2型糖尿病".into(),
                diagnosed_on: diagnosed,
                cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
            },
            now() - Duration::hours(1),
        );
        self
    }
    fn get(&self) -> &Patient {
        self.0.as_ref().unwrap()
    }
}

fn rule(key: &str, kind: RuleKind, channel: TaskChannel) -> Rule {
    Rule::new(RuleKey::parse(key).unwrap(), kind, channel)
}

fn care(rules: Vec<Rule>) -> CarePlan {
    CarePlan::new("test", rules).unwrap()
}

fn visit(id: u64, on: NaiveDate) -> Visit {
    Visit {
        id: VisitId::new(id),
        patient: PatientId::new(1),
        at: CAL.start_of(on) + Duration::hours(8),
        clinic: ClinicId::new(1),
        doctor: None,
        paid: Yuan::ZERO,
        refunded_at: None,
    }
}

fn run(
    p: &Patient,
    facts: &Facts<'_>,
    h: &FollowUpHistory,
    c: &CarePlan,
    pol: &FollowUpPolicy,
) -> Plan {
    plan(p, facts, h, c, pol, now(), CAL).unwrap()
}

#[test]
fn overdue_diabetes_file_shows_days_overdue_and_reason() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .diabetes(days_ago(150));
    let c = care(vec![rule(
        "file",
        RuleKind::ChronicFollowUp,
        TaskChannel::Call,
    )]);
    let h = FollowUpHistory::new(PatientId::new(1));
    let out = run(
        p.get(),
        &Facts::default(),
        &h,
        &c,
        &FollowUpPolicy::default(),
    );
    assert!(out.due.is_empty());
    let [o] = out.overdue.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(o.days_overdue, 150 - 91);
    let file = &p.get().chronic_files()[0];
    assert_eq!(i64::from(o.days_overdue), file.days_overdue(today()));
    assert_eq!(o.task.assignee, Some(StaffId::new(7)));
    assert_eq!(o.task.purpose, ConsentPurpose::CareReminder);
    let reason = o.task.reason.to_string();
    assert!(
        reason.contains("2型糖尿病") && reason.contains("尚未随访"),
        "{reason}"
    );
}

#[test]
fn no_consent_no_task_and_the_skip_says_why() {
    let p = P::new(1).diabetes(days_ago(150));
    let c = care(vec![rule(
        "file",
        RuleKind::ChronicFollowUp,
        TaskChannel::Call,
    )]);
    let h = FollowUpHistory::new(PatientId::new(1));
    let out = run(
        p.get(),
        &Facts::default(),
        &h,
        &c,
        &FollowUpPolicy::default(),
    );
    assert!(out.is_empty());
    assert_eq!(
        out.skipped[0].why,
        Skip::NoConsent {
            purpose: ConsentPurpose::CareReminder
        }
    );
}

#[test]
fn birthday_needs_marketing_consent() {
    let c = care(vec![rule(
        "bday",
        RuleKind::Birthday { days_before: 0 },
        TaskChannel::WechatMessage,
    )]);
    let h = FollowUpHistory::new(PatientId::new(1));
    let care_only = P::new(1).consent(ConsentPurpose::CareReminder);
    let out = run(
        care_only.get(),
        &Facts::default(),
        &h,
        &c,
        &FollowUpPolicy::default(),
    );
    assert!(out.is_empty());
    let both = care_only.consent(ConsentPurpose::Marketing);
    let out = run(
        both.get(),
        &Facts::default(),
        &h,
        &c,
        &FollowUpPolicy::default(),
    );
    let [t] = out.due.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(t.purpose, ConsentPurpose::Marketing);
    assert_eq!(t.due_on, today());
    assert_eq!(
        CAL.local_time(t.due_at.unwrap()),
        NaiveTime::from_hms_opt(10, 0, 0).unwrap()
    );
}

#[test]
fn contact_time_inside_quiet_hours_moves_to_their_end() {
    let p = P::new(1).consent(ConsentPurpose::CareReminder);
    let c = care(vec![rule(
        "check",
        RuleKind::PostVisitCheck { days_after: 3 },
        TaskChannel::Call,
    )]);
    let pol = FollowUpPolicy::new(
        QuietHours::default(),
        NaiveTime::from_hms_opt(22, 30, 0).unwrap(),
        3,
    )
    .unwrap()
    .with_lookahead(2)
    .unwrap();
    let visits = [visit(1, days_ago(3))];
    let facts = Facts {
        visits: &visits,
        ..Facts::default()
    };
    let out = run(
        p.get(),
        &facts,
        &FollowUpHistory::new(PatientId::new(1)),
        &c,
        &pol,
    );
    let [t] = out.due.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(t.due_on, today().succ_opt().unwrap());
    assert_eq!(
        CAL.local_time(t.due_at.unwrap()),
        NaiveTime::from_hms_opt(8, 0, 0).unwrap()
    );
}

trait Commit {
    fn commit(&mut self, events: Vec<FollowUpEvent>);
}

impl Commit for FollowUpHistory {
    fn commit(&mut self, events: Vec<FollowUpEvent>) {
        for e in &events {
            crate::followup::apply(self, e);
        }
    }
}

#[test]
fn weekly_cap_keeps_the_most_important() {
    let p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .consent(ConsentPurpose::Marketing)
        .diabetes(days_ago(150));
    let mut urgent = rule("file", RuleKind::ChronicFollowUp, TaskChannel::Call);
    urgent.priority = Priority::Urgent;
    let mut low = rule(
        "bday",
        RuleKind::Birthday { days_before: 0 },
        TaskChannel::Call,
    );
    low.priority = Priority::Low;
    let c = care(vec![
        low,
        rule(
            "check",
            RuleKind::PostVisitCheck { days_after: 1 },
            TaskChannel::Call,
        ),
        urgent,
        rule(
            "clinic",
            RuleKind::RevisitBooking { days_after: 1 },
            TaskChannel::InClinic,
        ),
    ]);
    let pol = FollowUpPolicy::new(
        QuietHours::default(),
        NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        2,
    )
    .unwrap();
    let visits = [visit(1, days_ago(1))];
    let facts = Facts {
        visits: &visits,
        ..Facts::default()
    };
    let h = FollowUpHistory::new(PatientId::new(1));
    let out = run(p.get(), &facts, &h, &c, &pol);
    let mut kept: Vec<_> = out.tasks().map(|t| t.rule.as_str()).collect();
    kept.sort_unstable();
    assert_eq!(
        kept,
        ["check", "clinic", "file"],
        "in-clinic tasks are not contacts"
    );
    let [held] = out.held.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(held.task.rule.as_str(), "bday");
    assert_eq!(
        held.why,
        Hold::WeeklyCap {
            week_of: today(),
            cap: 2
        }
    );
}

#[test]
fn refill_counts_shifted_supply_per_drug() {
    let p = P::new(1).consent(ConsentPurpose::CareReminder);
    let c = care(vec![rule(
        "refill",
        RuleKind::Refill { days_before: 3 },
        TaskChannel::WechatMessage,
    )]);
    let drug = Category::parse("metformin").unwrap();
    let fill = |on, days| Fill {
        patient: PatientId::new(1),
        drug: drug.clone(),
        filled_on: on,
        days_supply: DaysSupply::new(days).unwrap(),
    };
    // 30 days from 40 days ago, refilled early 15 days ago for 20 more: the second fill
    // starts when the first runs out (10 days ago), so supply ends after today + 9.
    let fills = [fill(days_ago(40), 30), fill(days_ago(15), 20)];
    let purchases = [crate::journey::Purchase {
        id: PurchaseId::new(1),
        patient: PatientId::new(1),
        at: now() - Duration::days(27),
        amount: Yuan::ZERO,
        category: Some(Category::parse("course").unwrap()),
        days_supply: Some(DaysSupply::new(30).unwrap()),
    }];
    let facts = Facts {
        fills: &fills,
        purchases: &purchases,
        ..Facts::default()
    };
    let pol = FollowUpPolicy::default().with_lookahead(7).unwrap();
    let out = run(
        p.get(),
        &facts,
        &FollowUpHistory::new(PatientId::new(1)),
        &c,
        &pol,
    );
    let got: Vec<_> = out
        .due
        .iter()
        .map(|t| (t.reason.subject().unwrap().to_owned(), t.due_on))
        .collect();
    assert_eq!(
        got,
        [
            ("course".to_owned(), today()),
            ("metformin".to_owned(), today() + Days::new(7))
        ]
    );
    assert!(out.due[1].reason.to_string().contains("metformin"));
}

#[test]
fn win_back_gaps_double_and_stop() {
    let p = P::new(1).consent(ConsentPurpose::Marketing);
    let c = care(vec![rule(
        "winback",
        RuleKind::WinBack {
            lapsed_after_days: 90,
            first_gap_days: 10,
            max_attempts: 3,
        },
        TaskChannel::Call,
    )]);
    let pol = FollowUpPolicy::default();
    let last = days_ago(91);
    let visits = [visit(1, last)];
    let facts = Facts {
        visits: &visits,
        ..Facts::default()
    };
    let mut h = FollowUpHistory::new(PatientId::new(1));
    let mut dues = vec![];
    for step in 0..3 {
        let at = CAL.start_of(today() + Days::new(30 * step)) + Duration::hours(2);
        let out = plan(p.get(), &facts, &h, &c, &pol, at, CAL).unwrap();
        let t = out
            .tasks()
            .next()
            .unwrap_or_else(|| panic!("step {step}: {out:?}"))
            .clone();
        dues.push((t.occurrence, t.due_on));
        h.commit(out.events(&h));
        h.commit(record_outcome(&h, t.id, TaskOutcome::Reached, None, at).unwrap());
    }
    let lapse = last + Days::new(91);
    assert_eq!(
        dues,
        [
            (lapse, lapse),
            (lapse, lapse + Days::new(10)),
            (lapse, lapse + Days::new(30))
        ]
    );
    let out = plan(
        p.get(),
        &facts,
        &h,
        &c,
        &pol,
        now() + Duration::days(50),
        CAL,
    )
    .unwrap();
    assert!(out.is_empty());
    assert_eq!(out.skipped[0].why, Skip::AttemptsExhausted { attempts: 3 });
    // Past the give-up days the series falls silent.
    let later = plan(
        p.get(),
        &facts,
        &h,
        &c,
        &pol,
        now() + Duration::days(200),
        CAL,
    )
    .unwrap();
    assert!(later.is_empty() && later.skipped.is_empty(), "{later:?}");
}

#[test]
fn season_change_on_lidong_for_chronic_patients() {
    let c = care(vec![rule(
        "season",
        RuleKind::SeasonChange {
            dates: SeasonDates::SolarTerms([SolarTerm::Lidong, SolarTerm::Dongzhi].into()),
            days_before: 0,
            chronic_only: true,
        },
        TaskChannel::Call,
    )]);
    let pol = FollowUpPolicy::default();
    let h = FollowUpHistory::new(PatientId::new(1));
    let plain = P::new(1).consent(ConsentPurpose::CareReminder);
    assert!(run(plain.get(), &Facts::default(), &h, &c, &pol).is_empty());
    let chronic = plain.diabetes(days_ago(10));
    let out = run(chronic.get(), &Facts::default(), &h, &c, &pol);
    // 立冬 2026 is 7 November: 16 days ago, past the 7-day give-up.
    assert!(out.is_empty(), "{out:?}");
    let pol = pol.with_lookahead(31).unwrap();
    let out = run(chronic.get(), &Facts::default(), &h, &c, &pol);
    let [t] = out.due.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(t.due_on, NaiveDate::from_ymd_opt(2026, 12, 22).unwrap());
    assert!(t.reason.to_string().contains("冬至"));
    // A year the table does not cover is reported, not silently skipped.
    let in_2032 = CAL.start_of(NaiveDate::from_ymd_opt(2032, 1, 10).unwrap());
    let out = plan(chronic.get(), &Facts::default(), &h, &c, &pol, in_2032, CAL).unwrap();
    assert_eq!(out.skipped[0].why, Skip::SolarTermsMissing { year: 2032 });
}

#[test]
fn anonymised_patient_gets_nothing() {
    let mut p = P::new(1)
        .consent(ConsentPurpose::CareReminder)
        .diabetes(days_ago(150));
    p.run(PatientCommand::Anonymise, now() - Duration::days(1));
    let c = care(vec![rule(
        "file",
        RuleKind::ChronicFollowUp,
        TaskChannel::Call,
    )]);
    let out = run(
        p.get(),
        &Facts::default(),
        &FollowUpHistory::new(PatientId::new(1)),
        &c,
        &FollowUpPolicy::default(),
    );
    assert!(out.is_empty() && out.skipped.is_empty());
}

mod outcomes;
