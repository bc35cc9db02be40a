//! Property tests for retention, adherence, clinic rates and satisfaction.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::{ClinicId, DoctorId, PatientId, VisitId};
use clinic_ops::journey::{Category, DaysSupply, Fill, Visit};
use clinic_ops::metrics::adherence::{
    AdherenceThreshold, PdcOutcome, PdcPeriod, pdc_by_patient, pdc_for_patient,
};
use clinic_ops::metrics::rates::revisit_rate;
use clinic_ops::metrics::retention::{
    CohortKind, RetentionSpec, RetentionWindow, retention_indexed,
};
use clinic_ops::metrics::satisfaction::{NpsScore, NpsTally};
use clinic_ops::money::Yuan;

const BASE: i64 = 1_767_196_800; // 2026-01-01 00:00 +08:00

fn visits() -> impl Strategy<Value = Vec<(u32, i64)>> {
    prop::collection::vec((0u32..40, 0i64..(120 * 86_400)), 0..300)
        .prop_map(|v| v.into_iter().map(|(p, t)| (p, BASE + t)).collect())
}

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![Just(Period::Day), Just(Period::Week), Just(Period::Month)]
}

fn spec_strategy() -> impl Strategy<Value = RetentionSpec> {
    (period(), 1u32..20, any::<bool>(), any::<bool>()).prop_map(|(p, n, rec, roll)| {
        let s = RetentionSpec::new(p, n).unwrap().with_cohorts(if rec {
            CohortKind::Recurring
        } else {
            CohortKind::FirstTime
        });
        if roll {
            s.with_window(RetentionWindow::Rolling).unwrap_or(s)
        } else {
            s
        }
    })
}

fn split(v: &[(u32, i64)]) -> (Vec<u32>, Vec<i64>) {
    v.iter().copied().unzip()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn retained_zero_is_the_cohort_size(v in visits(), spec in spec_strategy()) {
        let (p, t) = split(&v);
        let m = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        let mut total = 0;
        for c in m.cohorts() {
            prop_assert_eq!(c.retained[0], c.size);
            prop_assert!(c.size > 0);
            prop_assert!(c.retained.iter().all(|&r| r <= c.size));
            prop_assert_eq!(c.retained.len(), spec.periods() as usize);
            total += c.size;
        }
        // First-time cohorts partition the patients.
        if spec.cohorts() == CohortKind::FirstTime {
            let mut ids = p.clone();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(total, ids.len() as u64);
        }
        for x in m.mean_retention().into_iter().flatten() {
            prop_assert!((0.0..=1.0).contains(&x));
        }
    }

    #[test]
    fn retention_ignores_input_order(
        (v, shuffled) in visits().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        spec in spec_strategy(),
    ) {
        let (p, t) = split(&v);
        let (p2, t2) = split(&shuffled);
        let a = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        let b = retention_indexed(&p2, &t2, &spec, ClinicCalendar::CHINA).unwrap();
        prop_assert_eq!(a, b);
    }

    /// Shards by patient merge exactly, in any grouping.
    #[test]
    fn merging_disjoint_shards_equals_the_whole(v in visits(), spec in spec_strategy(), cut in 0u32..40) {
        let (p, t) = split(&v);
        let whole = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        type Shard = Vec<(u32, i64)>;
        let (a, b): (Shard, Shard) = v.iter().partition(|(p, _)| *p < cut);
        let (pa, ta) = split(&a);
        let (pb, tb) = split(&b);
        let ma = retention_indexed(&pa, &ta, &spec, ClinicCalendar::CHINA).unwrap();
        let mb = retention_indexed(&pb, &tb, &spec, ClinicCalendar::CHINA).unwrap();
        let mut ab = ma.clone();
        ab.merge(&mb).unwrap();
        let mut ba = mb.clone();
        ba.merge(&ma).unwrap();
        prop_assert_eq!(&ab, &whole);
        prop_assert_eq!(&ba, &whole);
        prop_assert_eq!(ab.mean_retention(), whole.mean_retention());
    }

    /// Up to 256 periods the first-time calendar path uses bitmasks, beyond it sorting: the
    /// first columns must agree.
    #[test]
    fn bitmask_and_sorting_paths_agree(v in visits(), p in period()) {
        let (pat, t) = split(&v);
        let small = RetentionSpec::new(p, 30).unwrap();
        let big = RetentionSpec::new(p, 300).unwrap();
        let a = retention_indexed(&pat, &t, &small, ClinicCalendar::CHINA).unwrap();
        let b = retention_indexed(&pat, &t, &big, ClinicCalendar::CHINA).unwrap();
        prop_assert_eq!(a.cohorts().len(), b.cohorts().len());
        for (x, y) in a.cohorts().iter().zip(b.cohorts()) {
            prop_assert_eq!(x.start, y.start);
            prop_assert_eq!(x.size, y.size);
            prop_assert_eq!(&x.retained[..], &y.retained[..30]);
        }
    }

    #[test]
    fn nps_is_between_minus_100_and_100(scores in prop::collection::vec(0i64..=10, 1..200)) {
        let mut t = NpsTally::default();
        for s in &scores {
            t.add(NpsScore::new(*s).unwrap());
        }
        let nps = t.nps().unwrap();
        prop_assert!((-100.0..=100.0).contains(&nps));
        prop_assert_eq!(t.responses(), scores.len() as u64);
    }

    #[test]
    fn scores_off_the_scale_are_refused(s in prop_oneof![i64::MIN..0, 11i64..i64::MAX]) {
        prop_assert!(NpsScore::new(s).is_err());
    }
}

// ---- adherence ----------------------------------------------------------------------------

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(n)
}

fn year() -> PdcPeriod {
    PdcPeriod::new(day(0), day(364)).unwrap()
}

fn fill(p: u64, drug: u8, on: i64, days: u32) -> Fill {
    Fill {
        patient: PatientId::new(p),
        drug: Category::parse(&format!("drug{drug}")).unwrap(),
        filled_on: day(on),
        days_supply: DaysSupply::new(days).unwrap(),
    }
}

fn fills(patients: u64) -> impl Strategy<Value = Vec<Fill>> {
    prop::collection::vec((1..=patients, 0u8..3, 0i64..365, 1u32..120), 0..40).prop_map(|v| {
        v.into_iter()
            .map(|(p, d, on, days)| fill(p, d, on, days))
            .collect()
    })
}

/// The PQA rules written the slow, obvious way: per drug, a stock of pills consumed one a day.
fn naive_covered(fs: &[Fill], period: &PdcPeriod) -> Option<(NaiveDate, u32, u32)> {
    let inside: Vec<&Fill> = fs
        .iter()
        .filter(|f| period.start() <= f.filled_on && f.filled_on <= period.end())
        .collect();
    let index = inside.iter().map(|f| f.filled_on).min()?;
    let dates: std::collections::BTreeSet<_> = inside.iter().map(|f| f.filled_on).collect();
    if dates.len() < 2 || (period.end() - index).num_days() < 91 {
        return None;
    }
    let len = ((period.end() - index).num_days() + 1) as usize;
    let mut covered = vec![false; len];
    let mut by_drug: BTreeMap<&str, Vec<&Fill>> = BTreeMap::new();
    for f in &inside {
        by_drug.entry(f.drug.as_str()).or_default().push(f);
    }
    for fs in by_drug.values() {
        let mut stock: i64 = 0;
        for (i, c) in covered.iter_mut().enumerate() {
            let today = index + Duration::days(i as i64);
            stock += fs
                .iter()
                .filter(|f| f.filled_on == today)
                .map(|f| i64::from(f.days_supply.get()))
                .sum::<i64>();
            if stock > 0 {
                *c = true;
                stock -= 1;
            }
        }
    }
    let n = covered.iter().filter(|&&c| c).count() as u32;
    Some((index, len as u32, n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn pdc_matches_the_naive_model_and_stays_in_0_1(fs in fills(1)) {
        let got = pdc_for_patient(&fs, &year(), AdherenceThreshold::DEFAULT);
        let want = naive_covered(&fs, &year());
        match (&got, want) {
            (PdcOutcome::Measured(m), Some((index, len, n))) => {
                prop_assert_eq!((m.index_date, m.days_in_period, m.days_covered), (index, len, n));
                prop_assert!((0.0..=1.0).contains(&m.value()));
                prop_assert_eq!(m.adherent, m.value() >= 0.8);
            }
            (PdcOutcome::Excluded(_), None) => {}
            _ => prop_assert!(false, "got {:?}, naive {:?}", got, want),
        }
    }

    /// Adding a fill on or after the index date never lowers the PDC. (An earlier fill moves
    /// the index date and lengthens the period, so it may.)
    #[test]
    fn pdc_never_falls_when_a_fill_is_added(
        fs in fills(1),
        drug in 0u8..3,
        after in 0i64..365,
        days in 1u32..120,
    ) {
        let before = pdc_for_patient(&fs, &year(), AdherenceThreshold::DEFAULT);
        let Some(m) = before.measured() else { return Ok(()) };
        let on = (m.index_date - day(0)).num_days() + after;
        prop_assume!(on <= 364);
        let mut more = fs.clone();
        more.push(fill(1, drug, on, days));
        let after = pdc_for_patient(&more, &year(), AdherenceThreshold::DEFAULT);
        let m2 = after.measured().unwrap();
        prop_assert_eq!(m2.index_date, m.index_date);
        prop_assert!(m2.days_covered >= m.days_covered);
        prop_assert!(m2.value() >= m.value());
    }

    #[test]
    fn pdc_by_patient_ignores_order_and_matches_one_by_one(
        (fs, shuffled) in fills(4).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let a = pdc_by_patient(&fs, &year(), AdherenceThreshold::DEFAULT);
        let b = pdc_by_patient(&shuffled, &year(), AdherenceThreshold::DEFAULT);
        prop_assert_eq!(&a, &b);
        for (p, outcome) in &a {
            let mine: Vec<Fill> = fs.iter().filter(|f| f.patient == *p).cloned().collect();
            prop_assert_eq!(outcome, &pdc_for_patient(&mine, &year(), AdherenceThreshold::DEFAULT));
        }
    }
}

// ---- clinic rates ---------------------------------------------------------------------------

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(BASE + secs, 0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn revisit_rate_ignores_order_and_stays_a_rate(
        (vs, shuffled) in prop::collection::vec((1u64..20, 0i64..(90 * 86_400), 1u64..4), 0..80)
            .prop_map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, (p, t, d))| Visit {
                        id: VisitId::new(i as u64),
                        patient: PatientId::new(p),
                        at: at(t),
                        clinic: ClinicId::new(1),
                        doctor: Some(DoctorId::new(d)),
                        paid: Yuan::ZERO,
                        refunded_at: None,
                    })
                    .collect::<Vec<_>>()
            })
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        within in 1u32..40,
    ) {
        let now = at(100 * 86_400);
        let cal = ClinicCalendar::CHINA;
        let a = revisit_rate(&vs, within, now, cal, &BTreeMap::new()).unwrap();
        let b = revisit_rate(&shuffled, within, now, cal, &BTreeMap::new()).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(a.overall.numerator <= a.overall.denominator);
        let per_doctor: u64 = a.by_doctor.values().map(|r| r.denominator).sum();
        prop_assert_eq!(per_doctor, a.overall.denominator);
    }
}

// ---- no-shows, service times, economics -------------------------------------------------

use clinic_ops::metrics::economics::{ChannelInput, economics};
use clinic_ops::metrics::rates::{
    Appointment, AppointmentStatus, DurationStats, nearest_rank, no_show_rate,
};

fn status() -> impl Strategy<Value = AppointmentStatus> {
    prop_oneof![
        Just(AppointmentStatus::Booked),
        Just(AppointmentStatus::Cancelled),
        Just(AppointmentStatus::Arrived),
        Just(AppointmentStatus::NoShow),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_show_rate_counts_only_reached_uncancelled_slots(
        (appts, shuffled) in prop::collection::vec((1u64..30, -5i64..5, status(), 1u64..3), 0..60)
            .prop_map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, (p, day, status, d))| Appointment {
                        id: VisitId::new(i as u64),
                        patient: PatientId::new(p),
                        slot: at(10 * 86_400 + day * 86_400),
                        clinic: ClinicId::new(d),
                        doctor: None,
                        status,
                    })
                    .collect::<Vec<_>>()
            })
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let now = at(10 * 86_400);
        let r = no_show_rate(&appts, now, &BTreeMap::new());
        prop_assert_eq!(&r, &no_show_rate(&shuffled, now, &BTreeMap::new()));
        let reached = appts
            .iter()
            .filter(|a| a.slot <= now && a.status != AppointmentStatus::Cancelled)
            .count() as u64;
        prop_assert_eq!(r.overall.denominator, reached);
        prop_assert!(r.overall.numerator <= r.overall.denominator);
        let per_clinic: u64 = r.by_clinic.values().map(|x| x.numerator).sum();
        prop_assert_eq!(per_clinic, r.overall.numerator);
    }

    #[test]
    fn median_is_at_most_p90_and_both_are_observed(v in prop::collection::vec(0i64..10_000, 1..100)) {
        let s = DurationStats::from_seconds(v.clone());
        let (m, p) = (s.median_seconds.unwrap(), s.p90_seconds.unwrap());
        prop_assert!(m <= p);
        prop_assert!(v.contains(&m) && v.contains(&p));
        let mut sorted = v.clone();
        sorted.sort_unstable();
        // Nearest rank: at least half the values are ≤ the median, and fewer than half < it.
        let at_most = sorted.iter().filter(|&&x| x <= m).count();
        let below = sorted.iter().filter(|&&x| x < m).count();
        prop_assert!(at_most * 2 >= sorted.len() && below * 2 < sorted.len());
        prop_assert_eq!(nearest_rank(&sorted, 100), sorted.last().copied());
    }

    #[test]
    fn economics_never_panics_and_rounds_to_the_fen(
        spend in 0u64..10_000_000,
        revenue in 0u64..10_000_000,
        n in 0u64..5_000,
    ) {
        let e = economics(&ChannelInput {
            spend: Yuan::from_fen(spend as u32),
            new_patients: n,
            revenue: Yuan::from_fen(revenue as u32),
        });
        prop_assert_eq!(e.cac.is_none(), n == 0);
        prop_assert_eq!(e.roi.is_none(), spend == 0);
        if let Some(cac) = e.cac {
            // CAC × n is within half a fen per patient of the spend.
            let back = cac.amount() * rust_decimal::Decimal::from(n);
            let diff = (back - Yuan::from_fen(spend as u32).amount()).abs();
            prop_assert!(diff <= rust_decimal::Decimal::new(5, 3) * rust_decimal::Decimal::from(n));
        }
    }
}
