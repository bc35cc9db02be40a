//! What a funnel asks: its steps, window, mode, exclusions and breakdown.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::FunnelError;
use crate::id::{ClinicId, DoctorId};
use crate::metrics::event::{ChannelCode, JourneyEvent, JourneyEventKind};

/// The most steps a funnel may have, as in ClickHouse's `windowFunnel`.
///
/// The same limit holds for a deserialised [`FunnelState`](super::FunnelState).
pub const MAX_STEPS: usize = 32;

// Step k is bit k of an optional mask and of a patient's reach (arrays of 34), and bit k - 1
// of an event mask, below `EXCLUSION_BIT`: every shift by a step number stays in range only
// while the steps fit in 32.
const _: () = assert!(MAX_STEPS <= 32);

/// How a patient's steps must follow each other.
///
/// The four ordered modes give, for every patient, exactly the level ClickHouse's
/// `windowFunnel(window, mode)` gives; the scan rule is written out in the
/// [module docs](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FunnelMode {
    /// `windowFunnel` without a mode: steps in order, other events between them allowed.
    Default,
    /// `'strict_order'`: any event that is not the next step, after step 1, ends the chain.
    StrictOrder,
    /// `'strict_deduplication'`: a repeat of an already reached step ends the chain.
    StrictDeduplication,
    /// `'strict_increase'`: each step strictly later than the previous one.
    StrictIncrease,
    /// PostHog's unordered funnel: the steps in any order within one window.
    Unordered,
}

impl FunnelMode {
    /// Every mode.
    pub const ALL: [FunnelMode; 5] = [
        FunnelMode::Default,
        FunnelMode::StrictOrder,
        FunnelMode::StrictDeduplication,
        FunnelMode::StrictIncrease,
        FunnelMode::Unordered,
    ];

    /// The name used by ClickHouse and the `funnel` calculator.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            FunnelMode::Default => "default",
            FunnelMode::StrictOrder => "strict_order",
            FunnelMode::StrictDeduplication => "strict_deduplication",
            FunnelMode::StrictIncrease => "strict_increase",
            FunnelMode::Unordered => "unordered",
        }
    }
}

impl fmt::Display for FunnelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for FunnelMode {
    type Err = FunnelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FunnelMode::ALL
            .into_iter()
            .find(|m| m.code() == s)
            .ok_or_else(|| FunnelError::UnknownMode {
                value: s.to_owned(),
            })
    }
}

/// The conversion window in seconds: `1..=u32::MAX` (about 136 years). The window is
/// inclusive: a step at exactly `start + window` still converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct ConversionWindow(u32);

impl ConversionWindow {
    /// A window of `seconds`.
    ///
    /// # Errors
    ///
    /// [`FunnelError::ZeroWindow`] for 0, [`FunnelError::WindowTooLong`] above `u32::MAX`.
    pub fn seconds(seconds: u64) -> Result<Self, FunnelError> {
        match u32::try_from(seconds) {
            Ok(0) => Err(FunnelError::ZeroWindow),
            Ok(s) => Ok(ConversionWindow(s)),
            Err(_) => Err(FunnelError::WindowTooLong { seconds }),
        }
    }

    /// A window of whole days.
    ///
    /// # Errors
    ///
    /// As [`ConversionWindow::seconds`].
    pub fn days(days: u64) -> Result<Self, FunnelError> {
        Self::seconds(days.saturating_mul(86_400))
    }

    /// Parses `30d`, `12h`, `90m` or `45s`, the calculator's `--window` syntax.
    ///
    /// # Errors
    ///
    /// [`FunnelError::BadWindow`] for other text, then as [`ConversionWindow::seconds`].
    pub fn parse(s: &str) -> Result<Self, FunnelError> {
        let bad = || FunnelError::BadWindow {
            value: s.to_owned(),
        };
        let unit = match s.as_bytes().last() {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3_600,
            Some(b'd') => 86_400,
            _ => return Err(bad()),
        };
        let digits = s.get(..s.len() - 1).ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        Self::seconds(n.checked_mul(unit).ok_or_else(bad)?)
    }

    /// The window in seconds.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ConversionWindow {
    /// The [`ConversionWindow::parse`] syntax in the largest unit that divides the window exactly:
    /// `30d`, `36h`, `90m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let (n, unit) = [(86_400, 'd'), (3_600, 'h'), (60, 'm')]
            .into_iter()
            .find(|(size, _)| s.is_multiple_of(*size))
            .map_or((s, 's'), |(size, unit)| (s / size, unit));
        write!(f, "{n}{unit}")
    }
}

impl TryFrom<u64> for ConversionWindow {
    type Error = FunnelError;
    fn try_from(s: u64) -> Result<Self, Self::Error> {
        Self::seconds(s)
    }
}

impl From<ConversionWindow> for u64 {
    fn from(w: ConversionWindow) -> u64 {
        u64::from(w.0)
    }
}

/// Which events a step (or an exclusion) matches: a kind, and optionally a channel, doctor or
/// clinic that must also be equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepMatcher {
    /// The event kind.
    pub kind: JourneyEventKind,
    /// Only events through this channel.
    pub channel: Option<ChannelCode>,
    /// Only events with this doctor.
    pub doctor: Option<DoctorId>,
    /// Only events at this clinic.
    pub clinic: Option<ClinicId>,
}

impl StepMatcher {
    /// Matches every event of `kind`.
    pub fn kind(kind: impl Into<JourneyEventKind>) -> Self {
        StepMatcher {
            kind: kind.into(),
            channel: None,
            doctor: None,
            clinic: None,
        }
    }

    /// Whether the matcher looks only at the kind.
    #[must_use]
    pub fn is_kind_only(&self) -> bool {
        self.channel.is_none() && self.doctor.is_none() && self.clinic.is_none()
    }

    /// Whether `event` matches.
    #[must_use]
    pub fn matches(&self, event: &JourneyEvent) -> bool {
        event.kind == self.kind
            && self.channel.is_none_or(|c| event.channel == Some(c))
            && self.doctor.is_none_or(|d| event.doctor == Some(d))
            && self.clinic.is_none_or(|c| event.clinic == Some(c))
    }
}

/// One funnel step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// A label for reports (`booked`, `到馆`).
    pub label: String,
    /// The events that count as this step.
    pub matcher: StepMatcher,
    /// An optional step may be skipped: the next step can follow the step before it. Only
    /// in the ordered modes, and never the first step.
    pub optional: bool,
}

impl Step {
    /// A required step matching every event of `kind`, labelled with the kind.
    pub fn kind(kind: impl Into<JourneyEventKind>) -> Self {
        let kind = kind.into();
        Step {
            label: format!("{kind:?}"),
            matcher: StepMatcher::kind(kind),
            optional: false,
        }
    }

    /// The same step with another label.
    #[must_use]
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The same step, optional.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// A dimension of an event to break a funnel down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Dimension {
    /// [`JourneyEvent::channel`], keyed by the channel code.
    Channel,
    /// [`JourneyEvent::doctor`], keyed by the doctor id.
    Doctor,
    /// [`JourneyEvent::clinic`], keyed by the clinic id.
    Clinic,
}

impl Dimension {
    /// The raw key of `event` in this dimension.
    pub fn of(self, event: &JourneyEvent) -> Option<u64> {
        match self {
            Dimension::Channel => event.channel.map(|c| u64::from(c.get())),
            Dimension::Doctor => event.doctor.map(DoctorId::get),
            Dimension::Clinic => event.clinic.map(ClinicId::get),
        }
    }
}

/// Which event's value a patient is attributed to, as in PostHog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Attribution {
    /// The step-1 event of the chain that gave the patient its level (the anchor event in
    /// unordered funnels).
    FirstTouch,
    /// The event of the highest step the patient reached.
    LastTouch,
    /// The event of step N (1-based); patients who did not reach it are unattributed.
    Step(u8),
}

/// A breakdown request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunnelBreakdown {
    /// The dimension.
    pub dimension: Dimension,
    /// Which event's value counts.
    pub attribution: Attribution,
}

/// A validated funnel definition.
///
/// ```
/// use clinic_ops::metrics::event::JourneyStage::*;
/// use clinic_ops::metrics::funnel::{FunnelMode, FunnelSpec, Step, ConversionWindow};
///
/// let spec = FunnelSpec::new(
///     vec![Step::kind(Lead), Step::kind(Booked), Step::kind(Arrived)],
///     ConversionWindow::days(30)?,
///     FunnelMode::Default,
/// )?;
/// assert_eq!(spec.steps().len(), 3);
/// assert!(FunnelSpec::new(vec![], ConversionWindow::days(1)?, FunnelMode::Default).is_err());
/// # Ok::<(), clinic_ops::metrics::funnel::FunnelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSpec", into = "RawSpec")]
pub struct FunnelSpec {
    steps: Vec<Step>,
    window: ConversionWindow,
    mode: FunnelMode,
    exclusions: Vec<StepMatcher>,
    breakdown: Option<FunnelBreakdown>,
}

/// The serde shape of [`FunnelSpec`], validated on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawSpec {
    steps: Vec<Step>,
    window: ConversionWindow,
    mode: FunnelMode,
    #[serde(default)]
    exclusions: Vec<StepMatcher>,
    #[serde(default)]
    breakdown: Option<FunnelBreakdown>,
}

impl TryFrom<RawSpec> for FunnelSpec {
    type Error = FunnelError;
    fn try_from(r: RawSpec) -> Result<Self, Self::Error> {
        let mut spec = FunnelSpec::new(r.steps, r.window, r.mode)?;
        for e in r.exclusions {
            spec = spec.with_exclusion(e);
        }
        match r.breakdown {
            Some(b) => spec.with_breakdown(b),
            None => Ok(spec),
        }
    }
}

impl From<FunnelSpec> for RawSpec {
    fn from(s: FunnelSpec) -> Self {
        RawSpec {
            steps: s.steps,
            window: s.window,
            mode: s.mode,
            exclusions: s.exclusions,
            breakdown: s.breakdown,
        }
    }
}

impl FunnelSpec {
    /// Checks a funnel definition.
    ///
    /// # Errors
    ///
    /// - [`FunnelError::NoSteps`] for an empty step list;
    /// - [`FunnelError::TooManySteps`] above [`MAX_STEPS`];
    /// - [`FunnelError::OptionalFirstStep`] when step 1 is optional;
    /// - [`FunnelError::OptionalUnordered`] for an optional step in an unordered funnel.
    pub fn new(
        steps: Vec<Step>,
        window: ConversionWindow,
        mode: FunnelMode,
    ) -> Result<Self, FunnelError> {
        check_step_count(steps.len())?;
        check_optional(steps.len(), mode, optional_mask_of(&steps))?;
        Ok(FunnelSpec {
            steps,
            window,
            mode,
            exclusions: Vec::new(),
            breakdown: None,
        })
    }

    /// The same funnel, dropping every patient who does an `exclusion` event inside the
    /// window of the chain that gave them their level (`start ..= start + window`).
    #[must_use]
    pub fn with_exclusion(mut self, exclusion: StepMatcher) -> Self {
        self.exclusions.push(exclusion);
        self
    }

    /// The same funnel, broken down.
    ///
    /// # Errors
    ///
    /// [`FunnelError::BadAttributionStep`] when `Attribution::Step(n)` names no step.
    pub fn with_breakdown(mut self, breakdown: FunnelBreakdown) -> Result<Self, FunnelError> {
        check_breakdown(self.steps.len(), breakdown)?;
        self.breakdown = Some(breakdown);
        Ok(self)
    }

    /// The steps.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The window.
    #[must_use]
    pub fn window(&self) -> ConversionWindow {
        self.window
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> FunnelMode {
        self.mode
    }

    /// The exclusion matchers.
    #[must_use]
    pub fn exclusions(&self) -> &[StepMatcher] {
        &self.exclusions
    }

    /// The breakdown, if any.
    #[must_use]
    pub fn breakdown(&self) -> Option<FunnelBreakdown> {
        self.breakdown
    }

    /// The steps an event matches, as a bit set (bit `k - 1` for step `k`), with bit 32 set
    /// when it matches an exclusion.
    #[must_use]
    pub fn mask_of(&self, event: &JourneyEvent) -> u64 {
        let mut m = 0u64;
        for (i, s) in self.steps.iter().enumerate() {
            if s.matcher.matches(event) {
                m |= 1 << i;
            }
        }
        if self.exclusions.iter().any(|x| x.matches(event)) {
            m |= EXCLUSION_BIT;
        }
        m
    }

    /// The step mask of a kind code, for matchers that look only at the kind.
    pub(crate) fn mask_of_kind(&self, kind: JourneyEventKind) -> u64 {
        let mut m = 0u64;
        for (i, s) in self.steps.iter().enumerate() {
            if s.matcher.kind == kind {
                m |= 1 << i;
            }
        }
        if self.exclusions.iter().any(|x| x.kind == kind) {
            m |= EXCLUSION_BIT;
        }
        m
    }

    /// Whether every step and exclusion matches on the kind alone.
    pub(crate) fn kind_only(&self) -> bool {
        self.steps.iter().all(|s| s.matcher.is_kind_only())
            && self.exclusions.iter().all(StepMatcher::is_kind_only)
    }

    pub(crate) fn optional_mask(&self) -> u64 {
        optional_mask_of(&self.steps)
    }
}

/// Bit k set for each optional step k (1-based). Only called on at most [`MAX_STEPS`] steps,
/// so the shift stays below 64.
fn optional_mask_of(steps: &[Step]) -> u64 {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.optional)
        .fold(0, |m, (i, _)| m | 1 << (i + 1))
}

// The checks below are shared by the spec's constructors and a deserialised
// `FunnelState`, so that serde accepts exactly the funnels the constructors build.

/// `1..=MAX_STEPS` steps.
pub(crate) fn check_step_count(steps: usize) -> Result<(), FunnelError> {
    if steps == 0 {
        return Err(FunnelError::NoSteps);
    }
    if steps > MAX_STEPS {
        return Err(FunnelError::TooManySteps {
            count: steps,
            max: MAX_STEPS,
        });
    }
    Ok(())
}

/// An optional-step mask (bit k for step k) for a funnel of `steps` steps, already checked by
/// [`check_step_count`]: only steps 2..=steps, and none in an unordered funnel.
pub(crate) fn check_optional(
    steps: usize,
    mode: FunnelMode,
    optional: u64,
) -> Result<(), FunnelError> {
    if optional & 0b10 != 0 {
        return Err(FunnelError::OptionalFirstStep);
    }
    if mode == FunnelMode::Unordered && optional != 0 {
        return Err(FunnelError::OptionalUnordered {
            step: optional.trailing_zeros() as usize,
        });
    }
    // Bits 0..=steps; `steps <= MAX_STEPS < 63` keeps the shift in range.
    let in_range = u32::try_from(steps + 1)
        .ok()
        .and_then(|b| 1u64.checked_shl(b))
        .map_or(u64::MAX, |b| b - 1);
    if optional & !in_range != 0 || optional & 1 != 0 {
        return Err(FunnelError::BadState {
            field: "optional".to_owned(),
            value: optional,
            rule: "only steps 2 to the last may be optional (bit k for step k)",
        });
    }
    Ok(())
}

/// `Attribution::Step(n)` names one of the `steps` steps.
pub(crate) fn check_breakdown(steps: usize, breakdown: FunnelBreakdown) -> Result<(), FunnelError> {
    if let Attribution::Step(n) = breakdown.attribution
        && (n == 0 || usize::from(n) > steps)
    {
        return Err(FunnelError::BadAttributionStep { step: n, steps });
    }
    Ok(())
}

/// The mask bit of an exclusion match.
pub(crate) const EXCLUSION_BIT: u64 = 1 << 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::event::JourneyStage;

    #[test]
    fn windows_display_in_the_largest_exact_unit() {
        for (seconds, text) in [
            (2_592_000, "30d"),
            (129_600, "36h"),
            (5_400, "90m"),
            (45, "45s"),
            (86_401, "86401s"),
            (u64::from(u32::MAX), "4294967295s"),
        ] {
            let w = ConversionWindow::seconds(seconds).unwrap();
            assert_eq!(w.to_string(), text);
            assert_eq!(ConversionWindow::parse(text), Ok(w));
        }
    }

    proptest::proptest! {
        #[test]
        fn window_display_parses_back(seconds in 1..=u32::MAX, unit in 0usize..4) {
            // Bias toward whole days, hours and minutes so every unit is exercised.
            let size = [1u32, 60, 3_600, 86_400][unit];
            let w = ConversionWindow::seconds(u64::from((seconds / size).max(1) * size)).unwrap();
            proptest::prop_assert_eq!(ConversionWindow::parse(&w.to_string()), Ok(w));
        }
    }

    #[test]
    fn windows_parse() {
        assert_eq!(ConversionWindow::parse("30d").unwrap().get(), 2_592_000);
        assert_eq!(ConversionWindow::parse("2h").unwrap().get(), 7200);
        assert_eq!(ConversionWindow::parse("15m").unwrap().get(), 900);
        assert_eq!(ConversionWindow::parse("9s").unwrap().get(), 9);
        for bad in ["", "d", "30", "-1d", "1.5h", "30w", "+3d"] {
            assert!(
                matches!(
                    ConversionWindow::parse(bad),
                    Err(FunnelError::BadWindow { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(ConversionWindow::parse("0d"), Err(FunnelError::ZeroWindow));
        assert!(matches!(
            ConversionWindow::parse("999999999999d"),
            Err(FunnelError::WindowTooLong { .. })
        ));
    }

    #[test]
    fn spec_errors() {
        let w = ConversionWindow::days(1).unwrap();
        let s = || Step::kind(JourneyStage::Lead);
        assert_eq!(
            FunnelSpec::new(vec![], w, FunnelMode::Default),
            Err(FunnelError::NoSteps)
        );
        assert_eq!(
            FunnelSpec::new(vec![s(); 33], w, FunnelMode::Default),
            Err(FunnelError::TooManySteps { count: 33, max: 32 })
        );
        assert!(FunnelSpec::new(vec![s(); 32], w, FunnelMode::Default).is_ok());
        assert_eq!(
            FunnelSpec::new(vec![s().optional(), s()], w, FunnelMode::Default),
            Err(FunnelError::OptionalFirstStep)
        );
        assert_eq!(
            FunnelSpec::new(vec![s(), s().optional()], w, FunnelMode::Unordered),
            Err(FunnelError::OptionalUnordered { step: 2 })
        );
        let spec = FunnelSpec::new(vec![s(), s()], w, FunnelMode::Default).unwrap();
        let b = FunnelBreakdown {
            dimension: Dimension::Channel,
            attribution: Attribution::Step(3),
        };
        assert!(spec.with_breakdown(b).is_err());
        assert_eq!(
            "strict_order".parse::<FunnelMode>().unwrap(),
            FunnelMode::StrictOrder
        );
        assert!("strict".parse::<FunnelMode>().is_err());
    }

    #[test]
    fn serde_validates() {
        let ok = r#"{"steps":[{"label":"a","matcher":{"kind":0,"channel":null,"doctor":null,"clinic":null},"optional":false}],"window":60,"mode":"default"}"#;
        assert!(serde_json::from_str::<FunnelSpec>(ok).is_ok());
        let zero = ok.replace("\"window\":60", "\"window\":0");
        assert!(serde_json::from_str::<FunnelSpec>(&zero).is_err());
        let empty = r#"{"steps":[],"window":60,"mode":"default"}"#;
        assert!(serde_json::from_str::<FunnelSpec>(empty).is_err());
    }
}
