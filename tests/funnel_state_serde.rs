//! A `FunnelState` comes from other shards, so deserialisation trusts none of it: valid states
//! read back equal in JSON and CBOR, and any state read after its numbers were mutated merges
//! and reports without a panic (issue 15, item 3).

use ciborium::Value;
use clinic_ops::id::PatientId;
use clinic_ops::metrics::event::{ChannelCode, JourneyEvent, JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{
    Attribution, ConversionWindow, Dimension, FunnelBreakdown, FunnelError, FunnelMode, FunnelSpec,
    FunnelState, MAX_STEPS, Step, StepMatcher,
};
use proptest::prelude::*;

const KINDS: [JourneyStage; 3] = [
    JourneyStage::Lead,
    JourneyStage::Booked,
    JourneyStage::Arrived,
];

fn excl() -> JourneyEventKind {
    JourneyEventKind::custom(1).unwrap()
}

#[derive(Debug, Clone)]
struct Case {
    spec: FunnelSpec,
    events: Vec<JourneyEvent>,
}

/// Funnels of every mode, optional steps in the ordered ones, exclusions and breakdowns, over
/// a few patients.
fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0usize..3, any::<bool>()), 1..=5),
        1u64..=6,
        prop::sample::select(FunnelMode::ALL.to_vec()),
        any::<bool>(),
        0u8..4,
        prop::collection::vec((0u64..10, 0usize..4, 0i64..14, 0u32..3), 0..50),
    )
        .prop_map(|(steps, window, mode, exclusion, attribution, raw)| {
            let steps: Vec<Step> = steps
                .iter()
                .enumerate()
                .map(|(i, &(k, opt))| {
                    let s = Step::kind(KINDS[k]);
                    if opt && i > 0 && mode != FunnelMode::Unordered {
                        s.optional()
                    } else {
                        s
                    }
                })
                .collect();
            let n = steps.len() as u8;
            let mut spec =
                FunnelSpec::new(steps, ConversionWindow::seconds(window).unwrap(), mode).unwrap();
            if exclusion {
                spec = spec.with_exclusion(StepMatcher::kind(excl()));
            }
            let attribution = match attribution {
                0 => None,
                1 => Some(Attribution::FirstTouch),
                2 => Some(Attribution::LastTouch),
                _ => Some(Attribution::Step(n)),
            };
            if let Some(attribution) = attribution {
                spec = spec
                    .with_breakdown(FunnelBreakdown {
                        dimension: Dimension::Channel,
                        attribution,
                    })
                    .unwrap();
            }
            let events = raw
                .into_iter()
                .map(|(p, k, t, ch)| {
                    let kind = KINDS.get(k).map_or(excl(), |&s| s.into());
                    JourneyEvent::new(PatientId::new(p), kind, 1_700_000_000 + t)
                        .with_channel(ChannelCode::new(ch))
                })
                .collect();
            Case { spec, events }
        })
}

fn to_cbor(s: &FunnelState) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(s, &mut out).unwrap();
    out
}

fn from_cbor(bytes: &[u8]) -> Result<FunnelState, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

/// Replaces the `left`-th integer (depth first) of a CBOR tree with `to`, counting down.
fn replace_integer(v: &mut Value, left: &mut usize, to: u64) -> bool {
    match v {
        Value::Integer(_) => {
            if *left == 0 {
                *v = Value::Integer(to.into());
                return true;
            }
            *left -= 1;
            false
        }
        Value::Array(a) => a.iter_mut().any(|x| replace_integer(x, left, to)),
        Value::Map(m) => m
            .iter_mut()
            .any(|(k, x)| replace_integer(k, left, to) || replace_integer(x, left, to)),
        Value::Tag(_, x) => replace_integer(x, left, to),
        _ => false,
    }
}

fn count_integers(v: &Value) -> usize {
    match v {
        Value::Integer(_) => 1,
        Value::Array(a) => a.iter().map(count_integers).sum(),
        Value::Map(m) => m
            .iter()
            .map(|(k, x)| count_integers(k) + count_integers(x))
            .sum(),
        Value::Tag(_, x) => count_integers(x),
        _ => 0,
    }
}

/// The state's CBOR with its `pick`-th integer (any count, step number, mask, window,
/// breakdown key or sample) replaced by `to`.
fn mutate(s: &FunnelState, pick: usize, to: u64) -> Vec<u8> {
    let mut tree: Value = ciborium::from_reader(&to_cbor(s)[..]).unwrap();
    let mut left = pick % count_integers(&tree).max(1);
    replace_integer(&mut tree, &mut left, to);
    let mut out = Vec::new();
    ciborium::into_writer(&tree, &mut out).unwrap();
    out
}

/// Numbers worth trying: small ones, off-by-ones around the real value, and the extremes.
fn number() -> impl Strategy<Value = (bool, u64)> {
    (
        any::<bool>(),
        prop_oneof![
            4 => 0u64..70,
            1 => Just(u64::from(u32::MAX)),
            1 => Just(u64::MAX),
            1 => Just(u64::MAX - 1),
            1 => any::<u64>(),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A computed state, and the merge of two, read back equal in CBOR and in JSON (breakdown
    /// values included: they are written as a list of pairs).
    #[test]
    fn valid_states_round_trip(c in case(), split in 0u64..10) {
        let whole = c.spec.compute(&c.events).unwrap();
        let (a, b): (Vec<_>, Vec<_>) = c.events.iter().partition(|e| e.patient.get() < split);
        let mut merged = c.spec.compute(&a).unwrap();
        merged.merge(&c.spec.compute(&b).unwrap()).unwrap();
        for s in [&whole, &merged, &FunnelState::empty(&c.spec)] {
            prop_assert_eq!(&from_cbor(&to_cbor(s)).unwrap(), s);
            let json = serde_json::to_string(s).unwrap();
            prop_assert_eq!(&serde_json::from_str::<FunnelState>(&json).unwrap(), s);
        }
    }

    /// Any integer of a serialised state replaced by another number: the state is refused
    /// with an error, or it merges with itself and the original and reports, without a panic
    /// (a panic fails the test).
    #[test]
    fn mutated_states_are_refused_or_harmless(
        c in case(),
        pick in any::<usize>(),
        (relative, n) in number(),
    ) {
        let s = c.spec.compute(&c.events).unwrap();
        let tree: Value = ciborium::from_reader(&to_cbor(&s)[..]).unwrap();
        let mut left = pick % count_integers(&tree).max(1);
        let mut old = None;
        find_integer(&tree, &mut left, &mut old);
        // Half the cases land near the original value, where checks are easiest to miss.
        let to = match (relative, old) {
            (true, Some(o)) => o.wrapping_add(n % 5).wrapping_sub(2),
            _ => n,
        };
        // A refusal is an error value (the message is the serde format's or a FunnelError's);
        // an accepted state keeps the invariants the public API shows.
        if let Ok(m) = from_cbor(&mutate(&s, pick, to)) {
            let levels = m.total().by_level().iter().try_fold(0u64, |a, &b| a.checked_add(b));
            prop_assert_eq!(levels.and_then(|l| l.checked_add(m.excluded())), Some(m.patients()));
            prop_assert!(m.step_patients().iter().all(|&p| p <= m.patients()));
            let mut twice = m.clone();
            match twice.merge(&m) {
                Ok(()) => prop_assert_eq!(Some(twice.patients()), m.patients().checked_mul(2)),
                Err(e) => prop_assert_eq!(e, FunnelError::PatientCountOverflow {
                    left: m.patients(),
                    right: m.patients(),
                }),
            }
            let mut with = s.clone();
            if with.merge(&m).is_ok() {
                prop_assert_eq!(with.patients(), s.patients() + m.patients());
            }
            for max_values in [0, 1, 5] {
                let r = m.report(&c.spec, max_values);
                prop_assert_eq!(r.patients, m.patients());
                prop_assert_eq!(&twice.report_with(&c.spec, max_values, 2).steps.len(), &r.steps.len());
                let _ = with.report(&c.spec, max_values);
            }
        }
    }
}

fn find_integer(v: &Value, left: &mut usize, out: &mut Option<u64>) -> bool {
    match v {
        Value::Integer(i) => {
            if *left == 0 {
                *out = u64::try_from(*i).ok();
                return true;
            }
            *left -= 1;
            false
        }
        Value::Array(a) => a.iter().any(|x| find_integer(x, left, out)),
        Value::Map(m) => m
            .iter()
            .any(|(k, x)| find_integer(k, left, out) || find_integer(x, left, out)),
        Value::Tag(_, x) => find_integer(x, left, out),
        _ => false,
    }
}

/// Issue 15: a state claiming 64 or more (optional) steps is refused with a typed error,
/// whatever its lists hold.
#[test]
fn sixty_four_optional_steps_are_refused() {
    let spec = FunnelSpec::new(
        vec![Step::kind(KINDS[0]), Step::kind(KINDS[1]).optional()],
        ConversionWindow::seconds(60).unwrap(),
        FunnelMode::Default,
    )
    .unwrap();
    let mut v = serde_json::to_value(FunnelState::empty(&spec)).unwrap();
    v["steps"] = 70.into();
    v["optional"] = (!3u64).into();
    v["total"]["by_level"] = serde_json::json!(vec![0; 71]);
    v["total"]["optional_hits"] = serde_json::json!(vec![0; 70]);
    v["total"]["seconds"] = serde_json::json!(vec![Vec::<u32>::new(); 70]);
    let e = serde_json::from_value::<FunnelState>(v.clone())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("funnel state by_level has more than 33 entries"),
        "{e}"
    );
    // With lists of the real length, the step count itself is refused.
    v["total"] = serde_json::to_value(FunnelState::empty(&spec)).unwrap()["total"].clone();
    let e = serde_json::from_value::<FunnelState>(v)
        .unwrap_err()
        .to_string();
    assert_eq!(e, format!("funnel has 70 steps, more than {MAX_STEPS}"));
}

/// Issue 15: a huge `steps`, or a list whose CBOR header declares 2^62 entries, is refused
/// at once with a typed error, without allocating for the claimed size.
#[test]
fn huge_lengths_are_refused_without_allocating() {
    let spec = FunnelSpec::new(
        vec![Step::kind(KINDS[0])],
        ConversionWindow::seconds(60).unwrap(),
        FunnelMode::Default,
    )
    .unwrap();
    let empty = FunnelState::empty(&spec);
    let mut v = serde_json::to_value(&empty).unwrap();
    v["steps"] = u64::MAX.into();
    let e = serde_json::from_value::<FunnelState>(v)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("funnel has {} steps, more than {MAX_STEPS}", u64::MAX)
    );

    // by_level = [1] as CBOR is 0x81 0x00 (array of one); make the header claim 2^62 entries
    // (0x9b + 8 bytes) and follow it with 40 zeros.
    let bytes = to_cbor(&empty);
    let by_level = b"by_level";
    let at = bytes
        .windows(by_level.len())
        .position(|w| w == by_level)
        .unwrap()
        + by_level.len();
    assert_eq!(bytes[at], 0x82, "by_level = [0, 0]");
    let mut forged = bytes[..at].to_vec();
    forged.push(0x9b);
    forged.extend_from_slice(&(1u64 << 62).to_be_bytes());
    forged.extend(std::iter::repeat_n(0u8, 40));
    let started = std::time::Instant::now();
    let e = from_cbor(&forged).unwrap_err();
    assert!(
        e.contains("funnel state by_level has more than 33 entries"),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));

    // The same header on a list of samples, which has no fixed limit: the read fails at the
    // end of the input, having reserved nothing for the claim.
    let seconds = b"seconds";
    let at = bytes
        .windows(seconds.len())
        .position(|w| w == seconds)
        .unwrap()
        + seconds.len();
    assert_eq!(&bytes[at..at + 2], &[0x81, 0x80]);
    let mut forged = bytes[..at + 1].to_vec();
    forged.push(0x9b);
    forged.extend_from_slice(&(1u64 << 62).to_be_bytes());
    forged.extend(std::iter::repeat_n(0u8, 40));
    assert!(from_cbor(&forged).is_err());
}
