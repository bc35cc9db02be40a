//! Batch scoring (`churn::score`) against the one-patient functions: the same bits, for
//! every patient, in input order; and the fit's merging of identical summaries.
#![cfg(feature = "churn")]

use clinic_ops::churn::{
    BgNbd, ChurnError, DAYS_PER_MONTH, GammaGamma, Observation, ScoreSpec, clv, score,
};
use proptest::prelude::*;

fn one_by_one(
    bg: &BgNbd,
    gg: &GammaGamma,
    patients: &[(Observation, f64)],
    horizon: f64,
    months: u32,
    rate: f64,
) -> Vec<[u64; 3]> {
    patients
        .iter()
        .map(|(o, m)| {
            [
                bg.p_alive(o).to_bits(),
                bg.expected_visits(horizon, o).unwrap().to_bits(),
                clv(bg, gg, o, *m, months, rate, DAYS_PER_MONTH)
                    .unwrap()
                    .to_bits(),
            ]
        })
        .collect()
}

fn batch(
    bg: &BgNbd,
    gg: &GammaGamma,
    patients: &[(Observation, f64)],
    horizon: f64,
    months: u32,
    rate: f64,
) -> Vec<[u64; 3]> {
    let spec = ScoreSpec::new(horizon, months, rate, DAYS_PER_MONTH).unwrap();
    score(bg, gg, patients, &spec)
        .unwrap()
        .iter()
        .map(|s| {
            [
                s.p_alive.to_bits(),
                s.expected_visits.to_bits(),
                s.clv.to_bits(),
            ]
        })
        .collect()
}

fn patient() -> impl Strategy<Value = (Observation, f64)> {
    // Whole days (the table path) and fractions (the computed path), repeats likely.
    (
        0u32..40,
        0u32..400,
        0u32..400,
        prop::bool::ANY,
        1.0f64..500.0,
    )
        .prop_map(|(x, a, b, frac, m)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let (mut rec, mut t) = (f64::from(lo), f64::from(hi));
            if frac {
                rec *= 0.37;
                t = t * 0.37 + 0.5;
            }
            let rec = if x == 0 { 0.0 } else { rec };
            (Observation::new(x, rec, t).unwrap(), m)
        })
}

proptest! {
    #[test]
    fn the_batch_is_the_same_bits_as_one_by_one(
        patients in prop::collection::vec(patient(), 1..60),
        r in 0.1f64..3.0, alpha in 1.0f64..80.0, a in 0.2f64..3.0, b in 0.5f64..6.0,
        horizon in 0u32..400, months in 0u32..25, rate in 0.0f64..0.05,
    ) {
        prop_assume!((a - 1.0).abs() > 1e-3);
        let bg = BgNbd::new(r, alpha, a, b).unwrap();
        let gg = GammaGamma::new(4.0, 3.0, 90.0).unwrap();
        let h = f64::from(horizon);
        prop_assert_eq!(
            batch(&bg, &gg, &patients, h, months, rate),
            one_by_one(&bg, &gg, &patients, h, months, rate)
        );
    }
}

#[test]
fn the_batch_keeps_input_order_and_repeats() {
    let bg = BgNbd::new(0.243, 30.0, 0.793, 2.426).unwrap();
    let gg = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
    let o = |x, r, t| Observation::new(x, r, t).unwrap();
    let patients = vec![
        (o(3, 50.0, 60.0), 20.0),
        (o(0, 0.0, 60.0), 0.0),
        (o(3, 50.0, 60.0), 40.0),
        (o(3, 10.0, 60.0), 20.0),
        (o(1, 3.5, 7.25), 11.0),
    ];
    let got = batch(&bg, &gg, &patients, 90.0, 12, 0.01);
    assert_eq!(got, one_by_one(&bg, &gg, &patients, 90.0, 12, 0.01));
    // Same summary, different spend: same p_alive and visits, different CLV.
    assert_eq!(got[0][..2], got[2][..2]);
    assert_ne!(got[0][2], got[2][2]);
    // Less recent, less alive.
    assert!(f64::from_bits(got[3][0]) < f64::from_bits(got[0][0]));
    assert!(
        score(
            &bg,
            &gg,
            &[],
            &ScoreSpec::new(90.0, 12, 0.01, 30.0).unwrap()
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn a_bad_spec_or_patient_is_a_typed_error() {
    assert!(matches!(
        ScoreSpec::new(-1.0, 12, 0.01, 30.0),
        Err(ChurnError::OutOfRange { .. })
    ));
    assert!(ScoreSpec::new(90.0, 12, -1.0, 30.0).is_err());
    assert!(ScoreSpec::new(90.0, 12, 0.01, 0.0).is_err());
    // a + b + x − 1 = 0 for x = 0 is a pole of the series: the batch names the patient.
    let bg = BgNbd::new(0.5, 10.0, 0.5, 0.5).unwrap();
    let gg = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
    let o = |x, r, t| Observation::new(x, r, t).unwrap();
    let spec = ScoreSpec::new(90.0, 1, 0.01, 30.0).unwrap();
    let e = score(
        &bg,
        &gg,
        &[(o(2, 1.0, 5.0), 1.0), (o(0, 0.0, 5.0), 1.0)],
        &spec,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ChurnError::Patient { index: 1, source } if matches!(**source, ChurnError::Hypergeometric { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("patient 1: hypergeometric series"),
        "{e}"
    );
    assert!(bg.expected_visits(90.0, &o(0, 0.0, 5.0)).is_err());
}

#[test]
fn the_fit_merges_identical_summaries_whatever_their_order() {
    // Many repeats of few summaries, shuffled two ways: the same bits.
    let o = |x, r, t| Observation::new(x, r, t).unwrap();
    let base = [
        o(0, 0.0, 30.0),
        o(2, 20.0, 30.0),
        o(5, 28.0, 30.0),
        o(1, 3.0, 60.0),
        o(0, 0.0, 60.0),
        o(4, 55.0, 60.0),
        o(1, 40.0, 90.0),
    ];
    let mut data = Vec::new();
    for i in 0..700usize {
        data.push(base[(i * 5 + i / 7) % base.len()]);
    }
    let mut other = data.clone();
    other.reverse();
    other.rotate_left(123);
    let (f, g) = (BgNbd::fit(&data).unwrap(), BgNbd::fit(&other).unwrap());
    assert_eq!(f.params, g.params);
    assert_eq!(f.log_likelihood.to_bits(), g.log_likelihood.to_bits());
    // The reported log-likelihood is the per-patient sum, to rounding.
    let direct = f.params.log_likelihood(&data);
    assert!((direct - f.log_likelihood).abs() <= 1e-9 * direct.abs());
}
