//! Funnel properties: levels equal a literal transcription of ClickHouse's `windowFunnel`
//! scan (DOMAIN.md), counts never rise, merge equals the union, input order does not matter;
//! plus hand-written sequences per mode, pinned against chDB 4.4 (ClickHouse 26.9).

use clinic_ops::id::{DoctorId, PatientId};
use clinic_ops::metrics::event::{ChannelCode, JourneyEvent, JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{
    Attribution, BreakdownKey, ConversionWindow, Dimension, EventColumns, FunnelBreakdown,
    FunnelError, FunnelMode, FunnelSpec, FunnelState, Step, StepMatcher,
};
use proptest::prelude::*;

const A: JourneyStage = JourneyStage::Lead;
const B: JourneyStage = JourneyStage::Converted;
const C: JourneyStage = JourneyStage::Booked;

fn other() -> JourneyEventKind {
    JourneyEventKind::custom(0).unwrap()
}
fn excl() -> JourneyEventKind {
    JourneyEventKind::custom(1).unwrap()
}

fn ev(p: u64, k: impl Into<JourneyEventKind>, t: i64) -> JourneyEvent {
    JourneyEvent::new(PatientId::new(p), k.into(), t)
}

fn spec(steps: &[JourneyStage], window: u64, mode: FunnelMode) -> FunnelSpec {
    FunnelSpec::new(
        steps.iter().map(|&s| Step::kind(s)).collect(),
        ConversionWindow::seconds(window).unwrap(),
        mode,
    )
    .unwrap()
}

/// The level of one patient, transcribed line by line from DOMAIN.md.
fn ref_level(
    events: &[(JourneyEventKind, i64)],
    steps: &[JourneyEventKind],
    w: i64,
    mode: FunnelMode,
) -> (usize, Vec<Option<(i64, i64)>>) {
    let n = steps.len();
    let mut evs: Vec<(i64, usize)> = Vec::new();
    for &(kind, ts) in events {
        let ks: Vec<usize> = (0..n)
            .filter(|&i| steps[i] == kind)
            .map(|i| i + 1)
            .collect();
        if !ks.is_empty() {
            evs.extend(ks.into_iter().map(|k| (ts, k)));
        } else if mode == FunnelMode::StrictOrder && kind != excl() {
            evs.push((ts, 0));
        } else if mode == FunnelMode::StrictOrder {
            evs.push((ts, 0)); // an exclusion-only row is still "another event"
        }
    }
    let mut reached: Vec<Option<(i64, i64)>> = vec![None; n + 1];
    evs.sort();
    let mut seen = false;
    for &(ts, k) in &evs {
        if k == 0 {
            if seen {
                break;
            }
            continue;
        }
        if k == 1 {
            reached[1] = Some((ts, ts));
            seen = true;
            if n == 1 {
                break;
            }
            continue;
        }
        if mode == FunnelMode::StrictDeduplication && reached[k].is_some() {
            break;
        }
        if mode == FunnelMode::StrictOrder && seen && reached[k - 1].is_none() {
            break;
        }
        if let Some((start, prev)) = reached[k - 1] {
            let ok = ts <= start + w && (mode != FunnelMode::StrictIncrease || prev < ts);
            if ok {
                reached[k] = Some((start, ts));
                if k == n {
                    break;
                }
            }
        }
    }
    let level = (1..=n).rev().find(|&k| reached[k].is_some()).unwrap_or(0);
    (level, reached)
}

/// PostHog's unordered level by brute force over anchor times.
fn ref_unordered(events: &[(JourneyEventKind, i64)], steps: &[JourneyEventKind], w: i64) -> usize {
    let pairs: Vec<(i64, usize)> = events
        .iter()
        .flat_map(|&(kind, ts)| {
            (0..steps.len())
                .filter(move |&i| steps[i] == kind)
                .map(move |i| (ts, i))
        })
        .collect();
    pairs
        .iter()
        .map(|&(t0, _)| {
            let mut ks: Vec<usize> = pairs
                .iter()
                .filter(|&&(t, _)| t >= t0 && t <= t0 + w)
                .map(|&(_, k)| k)
                .collect();
            ks.sort();
            ks.dedup();
            ks.len()
        })
        .max()
        .unwrap_or(0)
}

#[derive(Debug)]
struct Case {
    steps: Vec<JourneyStage>,
    window: u64,
    mode: FunnelMode,
    exclusion: bool,
    events: Vec<JourneyEvent>,
}

fn kind_strategy() -> impl Strategy<Value = JourneyEventKind> {
    prop_oneof![
        3 => Just(JourneyEventKind::from(A)),
        3 => Just(JourneyEventKind::from(B)),
        2 => Just(JourneyEventKind::from(C)),
        1 => Just(other()),
        1 => Just(excl()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop_oneof![Just(A), Just(B), Just(C)], 1..=4),
        1u64..=6,
        prop_oneof![
            Just(FunnelMode::Default),
            Just(FunnelMode::StrictOrder),
            Just(FunnelMode::StrictDeduplication),
            Just(FunnelMode::StrictIncrease),
            Just(FunnelMode::Unordered),
        ],
        any::<bool>(),
        prop::collection::vec((0u64..12, kind_strategy(), 0i64..14, 0u32..3), 0..60),
    )
        .prop_map(|(steps, window, mode, exclusion, raw)| Case {
            steps,
            window,
            mode,
            exclusion,
            events: raw
                .into_iter()
                .map(|(p, k, t, ch)| ev(p, k, 1_700_000_000 + t).with_channel(ChannelCode::new(ch)))
                .collect(),
        })
}

fn spec_of(c: &Case) -> FunnelSpec {
    let s = spec(&c.steps, c.window, c.mode);
    if c.exclusion {
        s.with_exclusion(StepMatcher::kind(excl()))
    } else {
        s
    }
}

fn per_patient(
    events: &[JourneyEvent],
) -> std::collections::BTreeMap<u64, Vec<(JourneyEventKind, i64)>> {
    let mut m: std::collections::BTreeMap<u64, Vec<(JourneyEventKind, i64)>> = Default::default();
    for e in events {
        m.entry(e.patient.get()).or_default().push((e.kind, e.at));
    }
    m
}

/// Events as dense columns: patients numbered in id order, then their kind and time.
struct Columns {
    patients: u32,
    patient: Vec<u32>,
    kind: Vec<u32>,
    at: Vec<i64>,
}

fn columns(events: &[JourneyEvent]) -> Columns {
    let ids: std::collections::BTreeMap<u64, u32> = per_patient(events)
        .keys()
        .enumerate()
        .map(|(i, &p)| (p, i as u32))
        .collect();
    Columns {
        patients: ids.len() as u32,
        patient: events.iter().map(|e| ids[&e.patient.get()]).collect(),
        kind: events.iter().map(|e| e.kind.code()).collect(),
        at: events.iter().map(|e| e.at).collect(),
    }
}

impl Columns {
    fn view<'a>(&'a self, dimension: Option<&'a [u32]>) -> EventColumns<'a> {
        EventColumns {
            patient_count: self.patients,
            patient: &self.patient,
            kind: &self.kind,
            at: &self.at,
            dimension,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn levels_and_times_match_the_reference(c in case()) {
        let s = spec_of(&c);
        let state = s.compute(&c.events).unwrap();
        let steps: Vec<JourneyEventKind> = c.steps.iter().map(|&k| k.into()).collect();
        let n = steps.len();
        let w = c.window as i64;
        let mut by_level = vec![0u64; n + 1];
        let mut seconds: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut excluded = 0;
        for evs in per_patient(&c.events).values() {
            let (level, reached) = if c.mode == FunnelMode::Unordered {
                (ref_unordered(evs, &steps, w), vec![])
            } else {
                ref_level(evs, &steps, w, c.mode)
            };
            if c.exclusion && level > 0 && c.mode != FunnelMode::Unordered {
                let start = reached[level].unwrap().0;
                if evs.iter().any(|&(k, t)| k == excl() && t >= start && t <= start + w) {
                    excluded += 1;
                    continue;
                }
            }
            if c.exclusion && c.mode == FunnelMode::Unordered {
                // exclusion window depends on the anchor; checked by the engine's own tests
                continue;
            }
            by_level[level] += 1;
            for k in 2..=level {
                if let Some(Some((st, at))) = reached.get(k) {
                    seconds[k - 1].push((at - st) as u32);
                }
            }
        }
        if !(c.exclusion && c.mode == FunnelMode::Unordered) {
            prop_assert_eq!(state.total().by_level(), &by_level[..]);
            prop_assert_eq!(state.excluded(), excluded);
            if c.mode != FunnelMode::Unordered {
                for v in &mut seconds {
                    v.sort_unstable();
                }
                prop_assert_eq!(state.total().seconds(), seconds);
            }
        }
        prop_assert_eq!(state.patients(), per_patient(&c.events).len() as u64);
    }

    #[test]
    fn step_counts_never_increase(c in case()) {
        let counts = spec_of(&c).compute(&c.events).unwrap().step_patients();
        for w in counts.windows(2) {
            prop_assert!(w[1] <= w[0], "{:?}", counts);
        }
    }

    #[test]
    fn merge_of_disjoint_parts_is_the_union(c in case(), split in 0u64..12, attribution in 0u8..3) {
        let attribution = match attribution {
            0 => Attribution::FirstTouch,
            1 => Attribution::LastTouch,
            _ => Attribution::Step(1),
        };
        let s = spec_of(&c)
            .with_breakdown(FunnelBreakdown { dimension: Dimension::Channel, attribution })
            .unwrap();
        let (a, b): (Vec<_>, Vec<_>) = c.events.iter().partition(|e| e.patient.get() < split);
        let (sa, sb) = (s.compute(&a).unwrap(), s.compute(&b).unwrap());
        let whole = s.compute(&c.events).unwrap();
        let mut ab = sa.clone();
        ab.merge(&sb).unwrap();
        let mut ba = sb.clone();
        ba.merge(&sa).unwrap();
        prop_assert_eq!(&ab, &whole);
        prop_assert_eq!(&ba, &whole);
        // associativity with the empty state on either side
        let mut e = FunnelState::empty(&s);
        e.merge(&ab).unwrap();
        prop_assert_eq!(&e, &whole);
        // The merged state reports what the whole does, and so does a report shared among
        // threads, with or without an "other" row.
        for max_values in [0, 1, 10] {
            let want = whole.report(&s, max_values);
            prop_assert_eq!(&ab.report(&s, max_values), &want);
            prop_assert_eq!(&whole.report_with(&s, max_values, 3), &want);
        }
        let by_value: u64 = whole.by_value().values().map(|t| t.by_level().iter().sum::<u64>()).sum();
        prop_assert_eq!(by_value + whole.excluded(), whole.patients());
    }

    #[test]
    fn input_order_does_not_matter(c in case(), seed in any::<u64>()) {
        let s = spec_of(&c)
            .with_breakdown(FunnelBreakdown { dimension: Dimension::Channel, attribution: Attribution::LastTouch })
            .unwrap();
        let mut shuffled = c.events.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(s.compute(&c.events).unwrap(), s.compute(&shuffled).unwrap());
    }

    #[test]
    fn columns_and_threads_agree_with_events(c in case()) {
        let s = spec_of(&c);
        let cols = columns(&c.events);
        let cols = cols.view(None);
        let want = s.compute(&c.events).unwrap();
        for threads in [1, 2, 3] {
            prop_assert_eq!(&s.compute_columns(&cols, threads).unwrap(), &want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A breakdown's total is the funnel's without one, and every group adds up to it,
    /// on any number of threads. Up to 300 events on channels below 1, 2 or 4 put many
    /// patients on each value of the engine's flat store, whose sum is the total.
    #[test]
    fn a_breakdown_total_is_the_funnel_without_one(
        c in case(),
        extra in prop::collection::vec((0u64..40, kind_strategy(), 0i64..14), 0..240),
        channels in prop_oneof![Just(1u32), Just(2), Just(4)],
        attribution in 0u8..3,
    ) {
        let attribution = match attribution {
            0 => Attribution::FirstTouch,
            1 => Attribution::LastTouch,
            _ => Attribution::Step(1),
        };
        let mut events: Vec<JourneyEvent> = c.events.iter().cloned().map(|e| {
            let ch = e.channel.map_or(0, |ch| ch.get() % channels);
            e.with_channel(ChannelCode::new(ch))
        }).collect();
        events.extend(extra.iter().enumerate().map(|(i, &(p, k, t))| {
            ev(p, k, 1_700_000_000 + t).with_channel(ChannelCode::new(i as u32 % channels))
        }));
        let plain = spec_of(&c);
        let s = plain
            .clone()
            .with_breakdown(FunnelBreakdown { dimension: Dimension::Channel, attribution })
            .unwrap();
        let want = plain.compute(&events).unwrap();
        let dim: Vec<u32> = events.iter().map(|e| e.channel.map_or(0, |ch| ch.get())).collect();
        let cols = columns(&events);
        let cols = cols.view(Some(&dim));
        for threads in [1, 2, 3] {
            let got = s.compute_columns(&cols, threads).unwrap();
            prop_assert_eq!(got.total(), want.total());
            prop_assert_eq!(got.excluded(), want.excluded());
            let mut levels = vec![0u64; want.total().by_level().len()];
            let mut seconds: Vec<Vec<u32>> = vec![Vec::new(); want.total().seconds().len()];
            for t in got.by_value().values() {
                for (a, b) in levels.iter_mut().zip(t.by_level()) {
                    *a += b;
                }
                for (a, b) in seconds.iter_mut().zip(t.seconds()) {
                    a.extend(b);
                }
            }
            seconds.iter_mut().for_each(|s| s.sort_unstable());
            prop_assert_eq!(&levels[..], want.total().by_level());
            prop_assert_eq!(seconds, want.total().seconds());
        }
    }
}

/// Breakdown values of up to 20 bits are tallied in flat arrays per worker, wider ones in a
/// map; `2^21` is the shift that sends the same values down the map's path (the narrow
/// values below stay under 2^12).
const WIDE: u64 = 1 << 21;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Both ways of keeping a breakdown's tallies give every value the same tally: the same
    /// values shifted by [`WIDE`] (the same order, so the same ties) go down the map's path,
    /// with and without optional steps, spread over few or many values, on any threads.
    #[test]
    fn flat_and_mapped_breakdowns_agree(
        c in case(),
        optional in any::<u8>(),
        attribution in 0u8..3,
        spread in prop_oneof![Just(1u32), Just(700)],
        threads in 1usize..4,
    ) {
        let attribution = match attribution {
            0 => Attribution::FirstTouch,
            1 => Attribution::LastTouch,
            _ => Attribution::Step(1),
        };
        let steps = c.steps.iter().enumerate().map(|(i, &k)| {
            let step = Step::kind(k);
            if i > 0 && c.mode != FunnelMode::Unordered && optional & (1 << i) != 0 {
                step.optional()
            } else {
                step
            }
        });
        let mut s = FunnelSpec::new(
            steps.collect(),
            ConversionWindow::seconds(c.window).unwrap(),
            c.mode,
        )
        .unwrap();
        if c.exclusion {
            s = s.with_exclusion(StepMatcher::kind(excl()));
        }
        let s = s
            .with_breakdown(FunnelBreakdown { dimension: Dimension::Channel, attribution })
            .unwrap();
        let cols = columns(&c.events);
        let narrow: Vec<u32> = c
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| e.channel.map_or(0, |ch| ch.get() * spread + i as u32 % spread))
            .collect();
        let wide: Vec<u32> = narrow.iter().map(|&d| d + WIDE as u32).collect();
        let flat = s.compute_columns(&cols.view(Some(&narrow)), threads).unwrap();
        let mapped = s.compute_columns(&cols.view(Some(&wide)), threads).unwrap();
        prop_assert_eq!(flat.total(), mapped.total());
        prop_assert_eq!(flat.excluded(), mapped.excluded());
        prop_assert_eq!(flat.patients(), mapped.patients());
        let shifted: std::collections::BTreeMap<BreakdownKey, _> = flat
            .by_value()
            .iter()
            .map(|(k, t)| match k {
                BreakdownKey::Value(v) => (BreakdownKey::Value(v + WIDE), t.clone()),
                _ => (*k, t.clone()),
            })
            .collect();
        prop_assert_eq!(&shifted, mapped.by_value());
    }
}

fn levels(s: &FunnelSpec, events: &[JourneyEvent]) -> Vec<u64> {
    s.compute(events).unwrap().total().by_level().to_vec()
}

// Every expected level below was read from chDB 4.4 (ClickHouse 26.9.2.1) with
// `windowFunnel(w[, mode])(t, e = 'a', e = 'b', …)`.

#[test]
fn a_row_matching_two_steps_is_two_events_lowest_first() {
    let s = FunnelSpec::new(
        vec![Step::kind(A), Step::kind(A)],
        ConversionWindow::seconds(10).unwrap(),
        FunnelMode::Default,
    )
    .unwrap();
    assert_eq!(levels(&s, &[ev(1, A, 1)]), vec![0, 0, 1]);
    let s3 = FunnelSpec::new(
        vec![Step::kind(A); 3],
        ConversionWindow::seconds(10).unwrap(),
        FunnelMode::Default,
    )
    .unwrap();
    assert_eq!(levels(&s3, &[ev(1, A, 1)]), vec![0, 0, 0, 1]);
}

#[test]
fn ties_sort_lowest_step_first_whatever_the_row_order() {
    for mode in [
        FunnelMode::Default,
        FunnelMode::StrictDeduplication,
        FunnelMode::StrictOrder,
    ] {
        let s = spec(&[A, B], 10, mode);
        assert_eq!(
            levels(&s, &[ev(1, B, 1), ev(1, A, 1)]),
            vec![0, 0, 1],
            "{mode}"
        );
        assert_eq!(
            levels(&s, &[ev(1, A, 1), ev(1, B, 1)]),
            vec![0, 0, 1],
            "{mode}"
        );
    }
    // strict_increase needs prev < ts, so an equal time does not convert
    assert_eq!(
        levels(
            &spec(&[A, B], 10, FunnelMode::StrictIncrease),
            &[ev(1, A, 1), ev(1, B, 1)]
        ),
        vec![0, 1, 0]
    );
}

#[test]
fn window_edge_is_inclusive() {
    let s = spec(&[A, B], 10, FunnelMode::Default);
    assert_eq!(levels(&s, &[ev(1, A, 1), ev(1, B, 11)]), vec![0, 0, 1]);
    assert_eq!(levels(&s, &[ev(1, A, 1), ev(1, B, 12)]), vec![0, 1, 0]);
}

#[test]
fn step_one_restarts_the_chain_but_keeps_reached_steps() {
    let s = spec(&[A, B, C], 10, FunnelMode::Default);
    // a(0) b(2) a(20) c(21): c's predecessor b belongs to the chain started at 0 -> 0+10 < 21
    assert_eq!(
        levels(&s, &[ev(1, A, 0), ev(1, B, 2), ev(1, A, 20), ev(1, C, 21)]),
        vec![0, 0, 1, 0]
    );
    // a(0) a(5) b(14) c(15): the restart at 5 lets b and c in
    assert_eq!(
        levels(&s, &[ev(1, A, 0), ev(1, A, 5), ev(1, B, 14), ev(1, C, 15)]),
        vec![0, 0, 0, 1]
    );
}

#[test]
fn strict_deduplication_stops_on_a_repeated_step_but_keeps_the_highest_level() {
    let s = spec(&[A, B, C], 10, FunnelMode::StrictDeduplication);
    // chDB: a b a b c -> 2 (not the previous event's step, as older ClickHouse returned)
    assert_eq!(
        levels(
            &s,
            &[
                ev(1, A, 1),
                ev(1, B, 2),
                ev(1, A, 3),
                ev(1, B, 4),
                ev(1, C, 5)
            ]
        ),
        vec![0, 0, 1, 0]
    );
    assert_eq!(
        levels(&s, &[ev(1, A, 1), ev(1, B, 2), ev(1, B, 3), ev(1, C, 5)]),
        vec![0, 0, 1, 0]
    );
    // the default mode goes on
    let d = spec(&[A, B, C], 10, FunnelMode::Default);
    assert_eq!(
        levels(&d, &[ev(1, A, 1), ev(1, B, 2), ev(1, B, 3), ev(1, C, 5)]),
        vec![0, 0, 0, 1]
    );
}

#[test]
fn strict_order_other_events_stop_after_step_one() {
    let s = spec(&[A, B], 10, FunnelMode::StrictOrder);
    // other event at the same time as b sorts first (k = 0) and stops the chain
    assert_eq!(
        levels(&s, &[ev(1, A, 1), ev(1, other(), 2), ev(1, B, 2)]),
        vec![0, 1, 0]
    );
    // before step 1, other events are skipped
    assert_eq!(
        levels(&s, &[ev(1, other(), 0), ev(1, A, 1), ev(1, B, 2)]),
        vec![0, 0, 1]
    );
    // a step whose predecessor is unreached stops it too
    let s3 = spec(&[A, B, C], 10, FunnelMode::StrictOrder);
    assert_eq!(
        levels(&s3, &[ev(1, A, 1), ev(1, C, 2), ev(1, B, 3), ev(1, C, 4)]),
        vec![0, 1, 0, 0]
    );
    // one step: a patient with only other events is level 0, with the step level 1
    let one = spec(&[A], 10, FunnelMode::StrictOrder);
    assert_eq!(levels(&one, &[ev(1, other(), 1)]), vec![1, 0]);
    assert_eq!(levels(&one, &[ev(1, A, 1)]), vec![0, 1]);
}

#[test]
fn patients_without_matching_events_are_level_zero() {
    let s = spec(&[A, B], 10, FunnelMode::Default);
    let st = s.compute(&[ev(1, other(), 1), ev(2, A, 1)]).unwrap();
    assert_eq!(st.patients(), 2);
    assert_eq!(st.total().by_level(), &[1, 1, 0]);
    let r = st.report(&s, 10);
    assert_eq!(r.steps[0].drop_off, 1);
    assert_eq!(r.steps[0].conversion_from_previous, 1.0);
    assert_eq!(r.steps[1].conversion_from_previous, 0.0);
}

#[test]
fn optional_steps_may_be_skipped() {
    let s = FunnelSpec::new(
        vec![Step::kind(A), Step::kind(B).optional(), Step::kind(C)],
        ConversionWindow::seconds(10).unwrap(),
        FunnelMode::Default,
    )
    .unwrap();
    let st = s
        .compute(&[
            ev(1, A, 0),
            ev(1, C, 3),
            ev(2, A, 0),
            ev(2, B, 1),
            ev(2, C, 2),
            ev(3, A, 0),
        ])
        .unwrap();
    assert_eq!(st.step_patients(), vec![3, 1, 2]);
}

#[test]
fn unordered_counts_distinct_steps_in_one_window() {
    let s = spec(&[A, B, C], 10, FunnelMode::Unordered);
    let st = s
        .compute(&[
            ev(1, C, 0),
            ev(1, A, 3),
            ev(1, B, 10),
            ev(2, B, 0),
            ev(2, A, 11),
        ])
        .unwrap();
    assert_eq!(st.step_patients(), vec![2, 1, 1]);
    assert_eq!(st.total().seconds()[2], vec![10]);
}

#[test]
fn exclusions_drop_patients_inside_the_window() {
    let s = spec(&[A, B], 10, FunnelMode::Default).with_exclusion(StepMatcher::kind(excl()));
    let st = s
        .compute(&[
            ev(1, A, 0),
            ev(1, B, 5),
            ev(1, excl(), 7),
            ev(2, A, 0),
            ev(2, B, 5),
            ev(2, excl(), 11),
        ])
        .unwrap();
    assert_eq!(st.excluded(), 1);
    assert_eq!(st.step_patients(), vec![1, 1]);
}

#[test]
fn time_to_convert_runs_from_the_reaching_chain_and_bins_like_posthog() {
    let s = spec(&[A, B], 100, FunnelMode::Default);
    let events: Vec<JourneyEvent> = (0..27u64)
        .flat_map(|p| [ev(p, A, 0), ev(p, A, 50), ev(p, B, 50 + p as i64)])
        .collect();
    let r = s.compute(&events).unwrap().report(&s, 10);
    assert_eq!(r.steps[1].median_seconds_to_convert, Some(13.0));
    assert_eq!(r.steps[1].mean_seconds_to_convert, Some(13.0));
    assert_eq!(r.steps[0].median_seconds_to_convert, None);
    assert_eq!(r.steps[1].histogram.len(), 3); // ceil(cbrt(27)) = 3
    assert_eq!(
        r.steps[1].histogram.iter().map(|b| b.patients).sum::<u64>(),
        27
    );
}

#[test]
fn breakdown_by_doctor_with_other_bucket() {
    let s = spec(&[A, B], 100, FunnelMode::Default)
        .with_breakdown(FunnelBreakdown {
            dimension: Dimension::Doctor,
            attribution: Attribution::FirstTouch,
        })
        .unwrap();
    let mut events = Vec::new();
    for p in 0..10u64 {
        let doctor = DoctorId::new(if p < 6 {
            1
        } else if p < 9 {
            2
        } else {
            3
        });
        events.push(ev(p, A, 0).with_doctor(doctor));
        if p % 2 == 0 {
            events.push(ev(p, B, 5));
        }
    }
    let st = s.compute(&events).unwrap();
    assert_eq!(st.by_value().len(), 3);
    assert!(st.by_value().contains_key(&BreakdownKey::Value(2)));
    let r = st.report(&s, 1);
    assert_eq!(r.breakdown.len(), 2);
    assert_eq!(r.breakdown[0].steps[0].patients, 6);
    assert_eq!(r.breakdown[1].steps[0].patients, 4); // doctors 2 and 3, summed
}

#[test]
fn typed_errors() {
    let w = ConversionWindow::days(1).unwrap();
    assert_eq!(
        FunnelSpec::new(vec![], w, FunnelMode::Default),
        Err(FunnelError::NoSteps)
    );
    assert!(matches!(
        FunnelSpec::new(vec![Step::kind(A); 33], w, FunnelMode::Default),
        Err(FunnelError::TooManySteps { count: 33, .. })
    ));
    assert_eq!(ConversionWindow::seconds(0), Err(FunnelError::ZeroWindow));
    let s = spec(&[A], 10, FunnelMode::Default);
    let cols = EventColumns {
        patient_count: 1,
        patient: &[0, 1],
        kind: &[0, 0],
        at: &[0, 0],
        dimension: None,
    };
    assert!(matches!(
        s.compute_columns(&cols, 1),
        Err(FunnelError::PatientOutOfRange { row: 1, .. })
    ));
    let short = EventColumns {
        patient_count: 1,
        patient: &[0],
        kind: &[],
        at: &[0],
        dimension: None,
    };
    assert!(matches!(
        s.compute_columns(&short, 1),
        Err(FunnelError::ColumnLengths { .. })
    ));
    let mut other_spec = FunnelState::empty(&spec(&[A, B], 10, FunnelMode::Default));
    assert_eq!(
        other_spec.merge(&FunnelState::empty(&s)),
        Err(FunnelError::MergeMismatch)
    );
}

#[test]
fn sparse_patient_ids_are_level_zero_patients() {
    let s = spec(&[A, B], 10, FunnelMode::Default);
    let lead = JourneyEventKind::from(A).code();
    let booked = JourneyEventKind::from(B).code();
    let cols = EventColumns {
        patient_count: 50_000_000,
        patient: &[49_999_999, 49_999_999, 7],
        kind: &[lead, booked, lead],
        at: &[0, 5, 0],
        dimension: None,
    };
    let st = s.compute_columns(&cols, 2).unwrap();
    assert_eq!(st.patients(), 50_000_000);
    assert_eq!(st.total().by_level(), &[49_999_998, 1, 1]);
}
