//! The crate's accepted range of instants and dates, and the calendar's totality.
//!
//! Two properties: every `ClinicCalendar` method is total over the whole of chrono's range
//! and saturates as documented; and an out-of-range value is refused where it enters (a
//! decision's `now`, a deserialised record) with a typed error naming it. The regression tests
//! pin the two panics issue 15 reported: `local_date` near chrono's limits (an instant that
//! deserialised fine) and the start of a week within six days of chrono's first date.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use proptest::prelude::*;

use clinic_ops::calendar::{
    self, CalendarError, ClinicCalendar, EARLIEST_DATE, EARLIEST_INSTANT, LATEST_DATE,
    LATEST_INSTANT, Period,
};
use clinic_ops::campaign::{
    self, CampaignBook, CampaignError, EvalOptions, Evaluator, Event, EventKind, UsageSnapshot,
};
use clinic_ops::followup::{self, CarePlan, Facts, FollowUpError, FollowUpHistory, FollowUpPolicy};
use clinic_ops::id::{ClinicId, PatientId, PurchaseId};
use clinic_ops::journey::Visit;
use clinic_ops::money::Yuan;
use clinic_ops::patient::{
    self, Channel, MobileNumber, PatientCommand, PatientError, PersonName, Registration,
};
use clinic_ops::points::{
    self, Account, CommandKey, CommandKind, Ledger, LedgerCommand, Multiplier, PointsError, Policy,
};
use clinic_ops::referral::{BindError, BindingPolicy, Member, ReferralForest};
use clinic_ops::segment::{FactsInput, PatientFacts, SegmentError};

const PERIODS: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Year];

fn min() -> DateTime<Utc> {
    DateTime::<Utc>::MIN_UTC
}
fn max() -> DateTime<Utc> {
    DateTime::<Utc>::MAX_UTC
}

/// Instants over chrono's whole range, weighted toward its two ends and the accepted bounds.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let week = 7 * 86_400_i64;
    let span = max().timestamp() - min().timestamp();
    prop_oneof![
        (0..=span).prop_map(move |s| min() + Duration::seconds(s)),
        (0..=week).prop_map(move |s| min() + Duration::seconds(s)),
        (0..=week).prop_map(move |s| max() - Duration::seconds(s)),
        (-week..=week).prop_map(move |s| EARLIEST_INSTANT + Duration::seconds(s)),
        (-week..=week).prop_map(move |s| LATEST_INSTANT + Duration::seconds(s)),
        Just(min()),
        Just(max()),
    ]
}

/// Every offset a calendar accepts, on whole minutes, with the extremes and UTC+8 weighted.
fn calendar() -> impl Strategy<Value = ClinicCalendar> {
    prop_oneof![
        (-14 * 60..=14 * 60_i32).prop_map(|m| ClinicCalendar::from_offset_seconds(m * 60)),
        Just(ClinicCalendar::from_offset_seconds(14 * 3600)),
        Just(ClinicCalendar::from_offset_seconds(-14 * 3600)),
        Just(Ok(ClinicCalendar::CHINA)),
    ]
    .prop_map(|c| c.unwrap_or(ClinicCalendar::CHINA))
}

/// The documented reading of `local_datetime`: exact when chrono can hold it, else
/// saturated toward the side the offset pushes.
fn expected_local(cal: ClinicCalendar, at: DateTime<Utc>) -> NaiveDateTime {
    let exact = at
        .naive_utc()
        .checked_add_signed(Duration::seconds(i64::from(cal.offset_seconds())));
    match exact {
        Some(t) => t,
        None if cal.offset_seconds() > 0 => NaiveDateTime::MAX,
        None => NaiveDateTime::MIN,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every method, every instant chrono has: no panic, and the documented saturation.
    #[test]
    fn every_calendar_method_is_total(cal in calendar(), at in instant(), other in instant(), days in any::<u32>()) {
        let local = cal.local_datetime(at);
        prop_assert_eq!(local, expected_local(cal, at));
        prop_assert_eq!(cal.local_date(at), local.date());
        prop_assert_eq!(cal.local_time(at), local.time());

        let date = cal.local_date(at);
        let start = cal.start_of(date);
        // Midnight of the local date, or chrono's first instant when it is before chrono.
        let midnight = date.and_time(NaiveTime::MIN)
            .checked_sub_signed(Duration::seconds(i64::from(cal.offset_seconds())));
        match midnight {
            Some(m) => prop_assert_eq!(start.naive_utc(), m),
            None => prop_assert_eq!(start, min()),
        }
        prop_assert_eq!(cal.start_of_day(at), start);

        for period in PERIODS {
            let first = cal.period_start(date, period);
            let next = cal.next_period_start(date, period);
            prop_assert!(first <= date);
            prop_assert!(next > date || next == NaiveDate::MAX);
            if period == Period::Week {
                // Monday, unless chrono has no Monday that early.
                prop_assert!(first.weekday() == chrono::Weekday::Mon || first == NaiveDate::MIN);
                prop_assert!((date - first).num_days() < 7);
            }
            prop_assert_eq!(cal.bucket(at, period), first);
            prop_assert_eq!(cal.start_of_period(at, period), cal.start_of(first));
            prop_assert_eq!(cal.end_of_period(at, period), cal.start_of(next));
        }
        let later = cal.midnight_after_days(at, days);
        prop_assert!(later >= start || date == NaiveDate::MAX);
        let between = cal.days_between(at, other);
        prop_assert_eq!(between, (cal.local_date(other) - date).num_days());
        let exact = at.naive_utc()
            .checked_add_signed(Duration::seconds(i64::from(cal.offset_seconds())))
            .is_some();
        if exact {
            prop_assert_eq!(cal.local_day_number(at.timestamp()), calendar::day_number(date));
        }
        let _ = cal.local_date_of_unix(at.timestamp());
        let _ = cal.local_date_of_unix(i64::MIN);
        let _ = cal.local_date_of_unix(i64::MAX);
    }

    /// The accepted range, and that the local date of an accepted instant is an accepted date.
    #[test]
    fn check_instant_accepts_exactly_the_range(cal in calendar(), at in instant()) {
        let inside = EARLIEST_INSTANT <= at && at <= LATEST_INSTANT;
        prop_assert_eq!(calendar::check_instant("now", at).is_ok(), inside);
        if inside {
            prop_assert!(calendar::check_date("today", cal.local_date(at)).is_ok());
        } else {
            let err = calendar::check_instant("now", at).err();
            prop_assert_eq!(err, Some(CalendarError::DateOutOfRange {
                field: "now",
                value: at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            }));
        }
        let d = at.date_naive();
        prop_assert_eq!(
            calendar::check_date("d", d).is_ok(),
            (EARLIEST_DATE..=LATEST_DATE).contains(&d)
        );
    }
}

/// Issue 15: chrono's first date is a Wednesday, so its week started before chrono's range.
#[test]
fn week_start_near_chronos_first_date_saturates() {
    let cal = ClinicCalendar::UTC;
    for d in 0..7 {
        let date = NaiveDate::MIN + Duration::days(d);
        let first = cal.period_start(date, Period::Week);
        assert!(first == NaiveDate::MIN || first.weekday() == chrono::Weekday::Mon);
        let _ = cal.bucket(cal.start_of(date), Period::Week);
    }
}

/// Issue 15: `local_date` of an instant that deserialised fine panicked in UTC+8.
#[test]
fn local_date_of_chronos_last_instant_saturates() {
    let at: DateTime<Utc> = serde_json::from_str("\"+262142-12-31T23:59:59Z\"").unwrap();
    assert_eq!(ClinicCalendar::CHINA.local_date(at), NaiveDate::MAX);
}

fn registration() -> PatientCommand {
    PatientCommand::Register(Registration {
        name: PersonName::parse("王芳").unwrap(),
        mobile: MobileNumber::parse("13800138000").unwrap(),
        resident_id: None,
        external_id: None,
        sex: None,
        birth_date: NaiveDate::from_ymd_opt(1960, 5, 1),
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    })
}

fn out_of_range_nows() -> [DateTime<Utc>; 4] {
    [
        max(),
        min(),
        EARLIEST_INSTANT - Duration::nanoseconds(1),
        LATEST_INSTANT + Duration::nanoseconds(1),
    ]
}

#[test]
fn patient_decide_refuses_an_out_of_range_now() {
    let id = PatientId::new(1);
    for now in out_of_range_nows() {
        let r = patient::decide(None, id, &registration(), now, ClinicCalendar::CHINA);
        assert!(
            matches!(
                r,
                Err(PatientError::Calendar(CalendarError::DateOutOfRange {
                    field: "now",
                    ..
                }))
            ),
            "{now}: {r:?}"
        );
    }
    let ok = patient::decide(
        None,
        id,
        &registration(),
        LATEST_INSTANT,
        ClinicCalendar::CHINA,
    );
    assert!(ok.is_ok(), "{ok:?}");
}

fn earn(key: u64, lock_until: Option<DateTime<Utc>>) -> LedgerCommand {
    LedgerCommand::new(
        CommandKey::new(key),
        CommandKind::Earn {
            purchase: PurchaseId::new(key),
            paid: Yuan::from_fen(10_000),
            category: None,
            multiplier: Multiplier::ONE,
            lock_until,
        },
    )
}

fn is_out_of_range<T: std::fmt::Debug>(r: &Result<T, PointsError>, field: &str) -> bool {
    matches!(r, Err(PointsError::Calendar(CalendarError::DateOutOfRange { field: f, .. })) if *f == field)
}

#[test]
fn points_refuse_an_out_of_range_now_or_lock() {
    let policy = Policy::default();
    let acc = Account::new(PatientId::new(1));
    for now in out_of_range_nows() {
        let r = points::decide(&acc, &earn(1, None), now, &policy, ClinicCalendar::CHINA);
        assert!(is_out_of_range(&r, "now"), "{now}: {r:?}");
        let mut ledger = Ledger::new(Policy::default(), ClinicCalendar::CHINA);
        let r = ledger.execute(PatientId::new(1), &earn(1, None), now);
        assert!(is_out_of_range(&r, "now"), "{now}: {r:?}");
        let mut seen = 0;
        ledger.execute_batch(&[(PatientId::new(2), earn(2, None))], now, |_, r| {
            assert!(is_out_of_range(&r, "now"), "{now}: {r:?}");
            seen += 1;
        });
        assert_eq!(seen, 1);
    }
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let r = points::decide(
        &acc,
        &earn(1, Some(max())),
        now,
        &policy,
        ClinicCalendar::CHINA,
    );
    assert!(is_out_of_range(&r, "lock_until"), "{r:?}");
    let r = points::decide(
        &acc,
        &earn(1, None),
        LATEST_INSTANT,
        &policy,
        ClinicCalendar::CHINA,
    );
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn referral_refuses_out_of_range_times() {
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let mut forest = ReferralForest::new();
    forest
        .upsert_member(Member::new(PatientId::new(1), t))
        .unwrap();
    forest
        .upsert_member(Member::new(PatientId::new(2), t + Duration::hours(1)))
        .unwrap();
    let r = forest.upsert_member(Member::new(PatientId::new(3), max()));
    assert!(
        matches!(
            &r,
            Err(BindError::Calendar(CalendarError::DateOutOfRange {
                field: "registered_at",
                ..
            }))
        ),
        "{r:?}"
    );
    for now in out_of_range_nows() {
        let r = forest.bind(
            PatientId::new(2),
            PatientId::new(1),
            now,
            &BindingPolicy::default(),
        );
        assert!(
            matches!(&r, Err(e @ BindError::Calendar(_)) if e.code() == "out_of_range"),
            "{now}: {r:?}"
        );
    }
}

/// Out-of-range JSON is refused by serde with a message naming the value; in-range JSON keeps
/// chrono's form.
#[test]
fn records_refuse_out_of_range_json_naming_the_value() {
    let visit = r#"{"id":1,"patient":1,"at":"2026-03-01T08:00:00Z","clinic":1,"doctor":null,"paid":"10.00","refunded_at":null}"#;
    let ok: Visit = serde_json::from_str(visit).unwrap();
    assert_eq!(serde_json::to_string(&ok).unwrap(), visit);
    for value in [
        "+262142-12-31T23:59:59Z",
        "1899-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
    ] {
        for field in ["\"at\":\"2026-03-01T08:00:00Z\"", "\"refunded_at\":null"] {
            let name = field.split(':').next().unwrap_or_default();
            let bad = visit.replace(field, &format!("{name}:\"{value}\""));
            let err = serde_json::from_str::<Visit>(&bad).unwrap_err().to_string();
            assert!(
                err.contains(value) && err.contains("accepted range"),
                "{bad}: {err}"
            );
        }
    }
    let cmd = serde_json::to_value(earn(1, Some(LATEST_INSTANT))).unwrap();
    let mut bad = cmd.clone();
    bad["kind"]["lock_until"] = "+262142-12-31T23:59:59Z".into();
    let text = bad.to_string();
    let err = serde_json::from_str::<LedgerCommand>(&text)
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("+262142-12-31T23:59:59Z"),
        "{text}: {err}"
    );
    assert!(serde_json::from_value::<LedgerCommand>(cmd).is_ok());
}

fn registered() -> patient::Patient {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let mut state = None;
    let id = PatientId::new(1);
    for e in patient::decide(None, id, &registration(), at, ClinicCalendar::CHINA).unwrap() {
        patient::apply(&mut state, &e);
    }
    state.unwrap()
}

/// Issue 15: `followup::plan` reached the `local_date` panic through its `now`.
#[test]
fn followup_plan_refuses_an_out_of_range_now() {
    let p = registered();
    let care: CarePlan = serde_json::from_str(
        r#"{"name": "all", "rules": [
            {"key": "bday", "kind": "birthday", "channel": "call"},
            {"key": "file", "kind": "chronic_follow_up", "channel": "call"}
        ]}"#,
    )
    .unwrap();
    let history = FollowUpHistory::new(p.id());
    let policy = FollowUpPolicy::default();
    for now in out_of_range_nows() {
        let r = followup::plan(
            &p,
            &Facts::default(),
            &history,
            &care,
            &policy,
            now,
            ClinicCalendar::CHINA,
        );
        assert!(matches!(r, Err(FollowUpError::Calendar(_))), "{now}: {r:?}");
    }
    for now in [EARLIEST_INSTANT, LATEST_INSTANT] {
        let r = followup::plan(
            &p,
            &Facts::default(),
            &history,
            &care,
            &policy,
            now,
            ClinicCalendar::CHINA,
        );
        assert!(r.is_ok(), "{now}: {r:?}");
    }
}

/// Issue 15: `PatientFacts::build` reached the `local_date` panic through its `now`.
#[test]
fn patient_facts_refuse_an_out_of_range_now() {
    let p = registered();
    for now in out_of_range_nows() {
        let r = PatientFacts::build(&p, &FactsInput::default(), now, ClinicCalendar::CHINA);
        assert!(matches!(r, Err(SegmentError::Calendar(_))), "{now}: {r:?}");
    }
    let r = PatientFacts::build(
        &p,
        &FactsInput::default(),
        LATEST_INSTANT,
        ClinicCalendar::CHINA,
    );
    assert!(r.is_ok(), "{r:?}");
}

/// Issue 15: `campaign::evaluate` reached the `local_date` panic through its `now`.
#[test]
fn campaign_evaluate_refuses_an_out_of_range_now() {
    let book: CampaignBook = serde_json::from_str(
        r#"{ "campaigns": [ {
            "id": 23, "name": "会员日",
            "window": { "start": "2026-01-01T00:00:00+08:00",
                        "recurrence": { "every": "weekday", "weekday": "Mon" } },
            "trigger": { "on": "purchase" },
            "effects": [ { "type": "fixed_points", "points": 10 } ] } ] }"#,
    )
    .unwrap();
    let event = Event::new(EventKind::Purchase {
        amount: Yuan::from_fen(10_000),
    });
    let facts = PatientFacts::builder(PatientId::new(1), LATEST_DATE).build();
    let usage = UsageSnapshot::new();
    let mut reused = Evaluator::new();
    let cal = ClinicCalendar::CHINA;
    for now in out_of_range_nows() {
        let r = campaign::evaluate(&book, &event, &facts, &usage, now, cal, EvalOptions::TRACE);
        assert!(
            matches!(&r, Err(CampaignError::Calendar { path, .. }) if path.is_empty()),
            "{now}: {r:?}"
        );
        let r = reused.evaluate(&book, &event, &facts, &usage, now, cal, EvalOptions::TRACE);
        assert!(
            matches!(r, Err(CampaignError::Calendar { .. })),
            "{now}: {r:?}"
        );
    }
    let r = campaign::evaluate(
        &book,
        &event,
        &facts,
        &usage,
        LATEST_INSTANT,
        cal,
        EvalOptions::TRACE,
    );
    assert!(r.is_ok(), "{r:?}");
    // A window far out is refused when the book loads, naming the value.
    let far = r#"{ "campaigns": [ { "id": 1, "name": "x",
        "window": { "start": "+262142-12-31T23:59:59Z" },
        "trigger": { "on": "purchase" },
        "effects": [ { "type": "fixed_points", "points": 10 } ] } ] }"#;
    let err = serde_json::from_str::<CampaignBook>(far)
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("+262142-12-31T23:59:59Z"), "{err}");
}

#[test]
fn rfm_refuses_an_out_of_range_as_of() {
    let tx = [(1u64, EARLIEST_DATE, Yuan::from_fen(100))];
    for as_of in [
        NaiveDate::MIN,
        NaiveDate::MAX,
        LATEST_DATE + Duration::days(1),
    ] {
        let r = clinic_ops::segment::summarize_rfm(tx, as_of);
        assert!(
            matches!(r, Err(SegmentError::Calendar(_))),
            "{as_of}: {r:?}"
        );
    }
    assert!(clinic_ops::segment::summarize_rfm(tx, LATEST_DATE).is_ok());
}

/// A command built in code (not through serde) with a date out of range is refused too.
#[test]
fn patient_decide_refuses_a_command_date_out_of_range() {
    let mut cmd = registration();
    if let PatientCommand::Register(reg) = &mut cmd {
        reg.birth_date = Some(NaiveDate::MIN);
    }
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let r = patient::decide(None, PatientId::new(1), &cmd, now, ClinicCalendar::CHINA);
    assert!(
        matches!(
            r,
            Err(PatientError::Calendar(CalendarError::DateOutOfRange {
                field: "birth_date",
                ..
            }))
        ),
        "{r:?}"
    );
}
