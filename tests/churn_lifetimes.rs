//! BG/NBD and Gamma-Gamma against lifetimes 0.11.3 on CDNOW (see
//! `tests/fixtures/churn_cdnow_make.py` for where every fixture and expected value comes from).
//!
//! Tolerances (issue 17): fitted parameters within 0.1% relative of lifetimes', or a
//! log-likelihood at least as high; `p_alive` and expected visits within 1e-6 and CLV within
//! one fen of lifetimes' formulas at the same (lifetimes') parameters.
#![cfg(feature = "churn")]

use chrono::NaiveDate;
use clinic_ops::churn::{BgNbd, ChurnError, GammaGamma, Observation, SpendObservation, clv};
use clinic_ops::money::Yuan;
use clinic_ops::segment::summarize_rfm;
use proptest::prelude::*;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/churn_cdnow_lifetimes.json")).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    (ours - theirs).abs() <= rel * theirs.abs()
}

fn weeks() -> Vec<Observation> {
    csv::Reader::from_reader(include_str!("fixtures/churn_cdnow_summary.csv").as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            Observation::new(
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[3].parse().unwrap(),
            )
            .unwrap()
        })
        .collect()
}

fn weeks_spend() -> Vec<SpendObservation> {
    csv::Reader::from_reader(include_str!("fixtures/churn_cdnow_monetary.csv").as_bytes())
        .records()
        .filter_map(|r| {
            let r = r.unwrap();
            SpendObservation::new(r[1].parse().unwrap(), r[4].parse().unwrap()).ok()
        })
        .collect()
}

fn lifetimes_bgnbd(v: &Value) -> BgNbd {
    BgNbd::new(num(v, "r"), num(v, "alpha"), num(v, "a"), num(v, "b")).unwrap()
}

fn lifetimes_gg(v: &Value) -> GammaGamma {
    GammaGamma::new(num(v, "p"), num(v, "q"), num(v, "v")).unwrap()
}

/// Our fit against lifetimes': every parameter within 0.1%, or a log-likelihood at least as
/// high (and then by how much).
fn check_bgnbd(ours: &clinic_ops::churn::BgNbdFit, theirs: &Value, data: &[Observation]) {
    let p = ours.params;
    let lt = lifetimes_bgnbd(theirs);
    let their_ll = lt.log_likelihood(data);
    eprintln!(
        "bg/nbd ours r={:.6} alpha={:.6} a={:.6} b={:.6} ll={:.6} ({} iterations)\n\
         bg/nbd lifetimes r={:.6} alpha={:.6} a={:.6} b={:.6} ll={:.6}",
        p.r(),
        p.alpha(),
        p.a(),
        p.b(),
        ours.log_likelihood,
        ours.iterations,
        lt.r(),
        lt.alpha(),
        lt.a(),
        lt.b(),
        their_ll
    );
    assert!((their_ll - num(theirs, "log_likelihood")).abs() < 1e-6 * their_ll.abs());
    let within = [
        (p.r(), lt.r()),
        (p.alpha(), lt.alpha()),
        (p.a(), lt.a()),
        (p.b(), lt.b()),
    ]
    .iter()
    .all(|(o, t)| close(*o, *t, 1e-3));
    assert!(within || ours.log_likelihood >= their_ll, "{p:?} vs {lt:?}");
    // Either way ours is a maximum at least as good, to rounding.
    assert!(ours.log_likelihood >= their_ll - 1e-9 * their_ll.abs());
}

#[test]
fn paper_numbers_on_the_cdnow_summary_in_weeks() {
    let data = weeks();
    assert_eq!(data.len(), 2357);
    let fit = BgNbd::fit(&data).unwrap();
    let p = fit.params;
    let three = |v: f64| (v * 1000.0).round() / 1000.0;
    assert_eq!(
        [three(p.r()), three(p.alpha()), three(p.a()), three(p.b())],
        [0.243, 4.414, 0.793, 2.426]
    );
    check_bgnbd(&fit, &reference()["weeks_bgnbd"], &data);
}

#[test]
fn gamma_gamma_on_the_946_repeat_customers() {
    let data = weeks_spend();
    assert_eq!(data.len(), 946);
    let fit = GammaGamma::fit(&data).unwrap();
    let (p, lt) = (fit.params, lifetimes_gg(&reference()["weeks_gamma_gamma"]));
    eprintln!(
        "gamma-gamma ours p={:.6} q={:.6} v={:.6} ll={:.6}; lifetimes p={:.6} q={:.6} v={:.6} ll={:.6}",
        p.p(),
        p.q(),
        p.v(),
        fit.log_likelihood,
        lt.p(),
        lt.q(),
        lt.v(),
        lt.log_likelihood(&data)
    );
    assert!((p.p() - 6.25).abs() < 0.005 && (p.q() - 3.74).abs() < 0.005);
    assert!((p.v() - 15.45).abs() < 0.005);
    for (o, t) in [(p.p(), lt.p()), (p.q(), lt.q()), (p.v(), lt.v())] {
        assert!(close(o, t, 1e-3), "{p:?} vs {lt:?}");
    }
    assert!(fit.log_likelihood >= lt.log_likelihood(&data) - 1e-9 * fit.log_likelihood.abs());
}

#[test]
fn predictions_match_lifetimes_formulas_in_weeks() {
    let r = reference();
    let (bg, gg) = (
        lifetimes_bgnbd(&r["weeks_bgnbd"]),
        lifetimes_gg(&r["weeks_gamma_gamma"]),
    );
    let rows = r["weeks_patients"].as_array().unwrap();
    assert!(rows.len() > 60);
    for row in rows {
        let o = Observation::new(
            num(row, "frequency") as u32,
            num(row, "recency"),
            num(row, "T"),
        )
        .unwrap();
        let m = num(row, "monetary_value");
        let id = &row["id"];
        assert!(
            (bg.p_alive(&o) - num(row, "p_alive")).abs() < 1e-6,
            "p_alive of {id}"
        );
        let e = bg.expected_visits(39.0, &o).unwrap();
        assert!(
            (e - num(row, "expected_39")).abs() < 1e-6,
            "expected of {id}"
        );
        let s = gg.expected_spend(o.frequency(), m);
        assert!(
            (s - num(row, "expected_spend")).abs() < 1e-6,
            "spend of {id}"
        );
        let v = clv(&bg, &gg, &o, m, 12, 0.01, 4.345).unwrap();
        assert!((v - num(row, "clv_12")).abs() < 0.005, "clv of {id}: {v}");
    }
    let new = &r["weeks_new_patient"];
    assert!((bg.expected_visits_new(39.0).unwrap() - num(new, "expected_39")).abs() < 1e-6);
    for (n, want) in new["p_n_39"].as_array().unwrap().iter().enumerate() {
        let got = bg.probability_of_visits(n as u32, 39.0).unwrap();
        assert!(
            (got - want.as_f64().unwrap()).abs() < 1e-6,
            "P({n} in 39): {got}"
        );
    }
}

/// The full CDNOW log in days, summarised as the `rfm` calculator does.
fn days() -> Vec<(String, clinic_ops::segment::RfmSummary)> {
    let input = include_str!("fixtures/churn_cdnow_master.csv");
    let mut tx = Vec::new();
    for r in csv::Reader::from_reader(input.as_bytes()).records() {
        let r = r.unwrap();
        tx.push((
            r[0].to_owned(),
            NaiveDate::parse_from_str(&r[1], "%Y%m%d").unwrap(),
            Yuan::parse(&r[2]).unwrap(),
        ));
    }
    let as_of = NaiveDate::from_ymd_opt(1998, 6, 30).unwrap();
    summarize_rfm(tx, as_of).unwrap().into_iter().collect()
}

#[test]
fn full_cdnow_log_in_days_matches_lifetimes() {
    let r = reference();
    let summaries = days();
    assert_eq!(summaries.len() as f64, num(&r["days_bgnbd"], "patients"));
    let obs: Vec<Observation> = summaries
        .iter()
        .map(|(_, s)| Observation::from(*s))
        .collect();
    let fit = BgNbd::fit(&obs).unwrap();
    check_bgnbd(&fit, &r["days_bgnbd"], &obs);
    let spend: Vec<SpendObservation> = summaries
        .iter()
        .filter_map(|(_, s)| SpendObservation::from_rfm(s))
        .collect();
    assert_eq!(spend.len() as f64, num(&r["days_gamma_gamma"], "patients"));
    let gg = GammaGamma::fit(&spend).unwrap();
    let lt = lifetimes_gg(&r["days_gamma_gamma"]);
    eprintln!(
        "gamma-gamma days ours p={:.6} q={:.6} v={:.6} ll={:.6}; lifetimes p={:.6} q={:.6} v={:.6} ll={:.6}",
        gg.params.p(),
        gg.params.q(),
        gg.params.v(),
        gg.log_likelihood,
        lt.p(),
        lt.q(),
        lt.v(),
        lt.log_likelihood(&spend)
    );
    let within = [
        (gg.params.p(), lt.p()),
        (gg.params.q(), lt.q()),
        (gg.params.v(), lt.v()),
    ]
    .iter()
    .all(|(o, t)| close(*o, *t, 1e-3));
    assert!(within || gg.log_likelihood >= lt.log_likelihood(&spend));

    // Predictions at lifetimes' own parameters.
    let bg = lifetimes_bgnbd(&r["days_bgnbd"]);
    let by_id: std::collections::BTreeMap<&str, _> =
        summaries.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    let rows = r["days_patients"].as_array().unwrap();
    assert!(rows.len() > 200);
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let s = by_id[id];
        let o = Observation::from(s);
        assert_eq!(f64::from(o.frequency()), num(row, "frequency"), "{id}");
        assert_eq!(o.recency(), num(row, "recency"), "{id}");
        assert_eq!(o.t(), num(row, "T"), "{id}");
        let m = s.monetary_value.to_fen() as f64 / 100.0;
        assert_eq!(m, num(row, "monetary_value"), "{id}");
        assert!(
            (bg.p_alive(&o) - num(row, "p_alive")).abs() < 1e-6,
            "p_alive of {id}"
        );
        let e = bg.expected_visits(90.0, &o).unwrap();
        assert!(
            (e - num(row, "expected_90")).abs() < 1e-6,
            "expected of {id}: {e}"
        );
        let v = clv(&bg, &lt, &o, m, 12, 0.01, 30.0).unwrap();
        assert!((v - num(row, "clv_12")).abs() < 0.005, "clv of {id}: {v}");
    }
}

#[test]
fn the_fit_is_the_same_bits_whatever_the_order() {
    let data = weeks();
    let mut reversed = data.clone();
    reversed.reverse();
    let (a, b) = (BgNbd::fit(&data).unwrap(), BgNbd::fit(&reversed).unwrap());
    let bits = |p: BgNbd| [p.r(), p.alpha(), p.a(), p.b()].map(f64::to_bits);
    assert_eq!(bits(a.params), bits(b.params));
    let spend = weeks_spend();
    let mut rev = spend.clone();
    rev.reverse();
    let (x, y) = (
        GammaGamma::fit(&spend).unwrap(),
        GammaGamma::fit(&rev).unwrap(),
    );
    assert_eq!(x.params, y.params);
}

#[test]
fn no_nearby_point_has_a_higher_likelihood() {
    let data = weeks();
    let fit = BgNbd::fit(&data).unwrap();
    let p = fit.params;
    let base = [p.r(), p.alpha(), p.a(), p.b()];
    for i in 0..4 {
        for step in [-1e-3, 1e-3, -1e-5, 1e-5] {
            let mut q = base;
            q[i] *= 1.0 + step;
            let near = BgNbd::new(q[0], q[1], q[2], q[3]).unwrap();
            assert!(
                near.log_likelihood(&data) <= fit.log_likelihood,
                "param {i} step {step}"
            );
        }
    }
    let spend = weeks_spend();
    let gg = GammaGamma::fit(&spend).unwrap();
    let base = [gg.params.p(), gg.params.q(), gg.params.v()];
    for i in 0..3 {
        for step in [-1e-3, 1e-3, -1e-5, 1e-5] {
            let mut q = base;
            q[i] *= 1.0 + step;
            let near = GammaGamma::new(q[0], q[1], q[2]).unwrap();
            assert!(near.log_likelihood(&spend) <= gg.log_likelihood);
        }
    }
}

#[test]
fn unfittable_summaries_say_why() {
    let o = |x, r, t| Observation::new(x, r, t).unwrap();
    fn why<T: std::fmt::Debug>(r: Result<T, ChurnError>) -> &'static str {
        match r {
            Err(ChurnError::Unfittable { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(why(BgNbd::fit(&[])), "no patients");
    assert_eq!(why(BgNbd::fit(&[o(2, 5.0, 9.0)])), "one patient");
    assert_eq!(
        why(BgNbd::fit(&[o(0, 0.0, 9.0), o(0, 0.0, 3.0)])),
        "no repeat patients"
    );
    assert_eq!(
        why(BgNbd::fit(&[
            o(2, 5.0, 9.0),
            o(2, 5.0, 9.0),
            o(2, 5.0, 9.0)
        ])),
        "every summary is identical"
    );
    let s = |x, m| SpendObservation::new(x, m).unwrap();
    assert_eq!(why(GammaGamma::fit(&[])), "no repeat patients with spend");
    assert_eq!(
        why(GammaGamma::fit(&[s(1, 3.0), s(1, 3.0)])),
        "every summary is identical"
    );
    // Bad summaries are refused at the door, naming the field.
    let e = Observation::new(1, 10.0, 5.0).unwrap_err().to_string();
    assert!(e.starts_with("recency is 10"), "{e}");
    assert!(Observation::new(0, 1.0, 5.0).is_err());
    assert!(Observation::new(1, 1.0, f64::NAN).is_err());
    assert!(SpendObservation::new(0, 5.0).is_err());
    assert!(SpendObservation::new(2, 0.0).is_err());
    assert!(BgNbd::new(0.0, 1.0, 1.0, 1.0).is_err());
    assert!(GammaGamma::new(1.0, 1.0, 1.0).is_err());
    // Serde goes through the same checks.
    assert!(serde_json::from_str::<Observation>(r#"{"frequency":1,"recency":9,"T":3}"#).is_err());
    assert!(serde_json::from_str::<BgNbd>(r#"{"r":1,"alpha":-1,"a":1,"b":1}"#).is_err());
}

fn model() -> BgNbd {
    BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap()
}

proptest! {
    #[test]
    fn p_alive_is_one_without_repeat_visits(t in 0.0f64..1e4) {
        prop_assert_eq!(model().p_alive(&Observation::new(0, 0.0, t).unwrap()), 1.0);
    }

    #[test]
    fn p_alive_never_rises_as_t_grows(x in 1u32..200, rec in 0.0f64..500.0,
                                      t in 0.0f64..500.0, more in 0.0f64..500.0) {
        let t = rec + t;
        let m = model();
        let a = m.p_alive(&Observation::new(x, rec, t).unwrap());
        let b = m.p_alive(&Observation::new(x, rec, t + more).unwrap());
        prop_assert!(b <= a, "{} then {}", a, b);
        prop_assert!((0.0..=1.0).contains(&a));
    }

    #[test]
    fn expected_visits_grow_with_the_horizon(x in 0u32..50, rec in 0.0f64..100.0,
                                             t in 0.0f64..100.0, h in 0.0f64..60.0) {
        let rec = if x == 0 { 0.0 } else { rec };
        let o = Observation::new(x, rec, rec + t).unwrap();
        let m = model();
        let a = m.expected_visits(h, &o).unwrap();
        let b = m.expected_visits(h + 1.0, &o).unwrap();
        prop_assert!(a >= 0.0 && b >= a, "{} then {}", a, b);
    }
}
