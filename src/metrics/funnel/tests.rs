//! Tests of the columnar engine (`engine.rs`): bucket balancing, the fallbacks for wide time
//! ranges, and breakdown values given per patient.

use super::par::balance;
use super::{FunnelError, FunnelMode, FunnelSpec};
use crate::metrics::event::JourneyStage;
use crate::metrics::funnel::{
    Attribution, ConversionWindow, Dimension, EventColumns, FunnelBreakdown, Step,
};

fn spec(mode: FunnelMode) -> FunnelSpec {
    FunnelSpec::new(
        vec![
            Step::kind(JourneyStage::Lead),
            Step::kind(JourneyStage::Booked),
        ],
        ConversionWindow::seconds(10).unwrap_or_else(|_| unreachable!()),
        mode,
    )
    .unwrap_or_else(|_| unreachable!())
}

const KINDS: [JourneyStage; 4] = [
    JourneyStage::Lead,
    JourneyStage::Booked,
    JourneyStage::Arrived,
    JourneyStage::Purchased,
];

/// A funnel over `steps` (indices into [`KINDS`]), steps after the first optional where
/// `optional` has their bit (ordered modes only), excluding purchases if asked, broken
/// down by channel under one of three attributions.
fn broken_down(
    mode: FunnelMode,
    steps: &[usize],
    optional: u8,
    exclude: bool,
    attribution: u8,
) -> FunnelSpec {
    let steps = steps.iter().enumerate().map(|(i, &k)| {
        let step = Step::kind(KINDS[k % 4]);
        let skip = i > 0 && mode != FunnelMode::Unordered && optional & (1 << i) != 0;
        if skip { step.optional() } else { step }
    });
    let window = ConversionWindow::seconds(20).unwrap_or_else(|_| unreachable!());
    let mut s = FunnelSpec::new(steps.collect(), window, mode).unwrap_or_else(|_| unreachable!());
    if exclude {
        s = s.with_exclusion(crate::metrics::funnel::StepMatcher::kind(
            JourneyStage::Purchased,
        ));
    }
    let attribution = match attribution {
        0 => Attribution::FirstTouch,
        1 => Attribution::LastTouch,
        _ => Attribution::Step(1),
    };
    s.with_breakdown(FunnelBreakdown {
        dimension: Dimension::Channel,
        attribution,
    })
    .unwrap_or_else(|_| unreachable!())
}

proptest::proptest! {
    /// A breakdown value given per patient gives the state that every row of the
    /// patient carrying it gives: in every mode, with optional steps and exclusions,
    /// narrow values (the flat store) and wide ones (the map), times inside and beyond
    /// the fixed layout's 40 bits, on 1 to 3 threads.
    #[test]
    fn values_by_patient_equal_values_on_every_row(
        mode in proptest::sample::select(FunnelMode::ALL.to_vec()),
        steps in proptest::collection::vec(0usize..4, 1..4),
        optional in proptest::prelude::any::<u8>(),
        exclude in proptest::prelude::any::<bool>(),
        attribution in 0u8..3,
        rows in proptest::collection::vec((0u32..10, 0usize..5, 0i64..60), 0..60),
        values in proptest::collection::vec(0u32..6, 10),
        wide in proptest::prelude::any::<bool>(),
        far in proptest::prelude::any::<bool>(),
        threads in 1usize..4,
    ) {
        let s = broken_down(mode, &steps, optional, exclude, attribution);
        let values: Vec<u32> = values.iter().map(|&v| if wide { v << 22 } else { v }).collect();
        let patient: Vec<u32> = rows.iter().map(|r| r.0).collect();
        // Kind 4 is a kind no step names.
        let kind: Vec<u32> = rows
            .iter()
            .map(|r| KINDS.get(r.1).map_or(JourneyStage::Referred as u32, |&k| k as u32))
            .collect();
        let at: Vec<i64> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| if far && i % 4 == 0 { r.2 + (1 << 41) } else { r.2 })
            .collect();
        let by_row: Vec<u32> = patient.iter().map(|&p| values[p as usize]).collect();
        let cols = EventColumns::new(10, &patient, &kind, &at);
        let want = s.compute_columns(&cols.with_dimension(&by_row), threads);
        let got = s.compute_columns_by_patient(&cols, &values, threads);
        proptest::prop_assert_eq!(got, want);
    }
}

#[test]
fn values_by_patient_cover_every_patient() {
    let s = broken_down(FunnelMode::Default, &[0, 1], 0, false, 0);
    let cols = EventColumns::new(3, &[0, 2], &[1, 1], &[5, 6]);
    assert_eq!(
        s.compute_columns_by_patient(&cols, &[1, 2], 1),
        Err(FunnelError::MissingDimension)
    );
    assert!(s.compute_columns_by_patient(&cols, &[1, 2, 3], 1).is_ok());
    assert_eq!(
        spec(FunnelMode::Default).compute_columns_by_patient(&cols, &[1, 2, 3], 1),
        Err(FunnelError::MissingDimension)
    );
}

#[test]
fn balance_splits_by_weight() {
    assert_eq!(balance(&[1, 1, 1, 1], 2), vec![0..2, 2..4]);
    assert_eq!(balance(&[10, 0, 0, 1], 2), vec![0..1, 1..4]);
    assert_eq!(balance(&[], 2), vec![0..0]);
    assert_eq!(balance(&[3, 3], 1), vec![0..2]);
}

/// Timestamps too far apart for the fixed 40-bit field take the measured path, and
/// beyond 64 bits of record the u128 one; all give the same levels.
#[test]
fn wide_time_ranges_fall_back_exactly() {
    let lead = JourneyStage::Lead as u32;
    let booked = JourneyStage::Booked as u32;
    for (base, far) in [(0i64, 5i64), (0, 1 << 41), (-(1 << 61), 1 << 61)] {
        let patient = [0, 0, 1, 1, 2];
        let kind = [lead, booked, lead, booked, lead];
        let at = [base, base + 3, far, far + 11, far];
        let dim = [7, 7, 1 << 20, 3, 5];
        let cols = EventColumns {
            patient_count: 3,
            patient: &patient,
            kind: &kind,
            at: &at,
            dimension: Some(&dim),
        };
        for with_breakdown in [false, true] {
            let mut s = spec(FunnelMode::Default);
            if with_breakdown {
                s = s
                    .with_breakdown(FunnelBreakdown {
                        dimension: Dimension::Channel,
                        attribution: Attribution::FirstTouch,
                    })
                    .unwrap_or_else(|_| unreachable!());
            }
            for threads in [1, 2] {
                let st = s.compute_columns(&cols, threads);
                let st = st.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(st.total().by_level(), &[0, 2, 1], "{base} {far}");
                assert_eq!(st.total().seconds()[1], vec![3]);
            }
        }
    }
}
