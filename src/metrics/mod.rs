//! Journey metrics: ClickHouse-exact funnels, retention cohorts, clinic rates, adherence,
//! satisfaction and channel economics.
//!
//! Every metric here is a plain function over values the host already has (visits,
//! appointments, purchases, fills, survey answers, spend), with `now` and the
//! [`ClinicCalendar`](crate::calendar::ClinicCalendar) as arguments. Nothing reads a clock.
//!
//! | module | what it computes |
//! |---|---|
//! | [`event`], [`funnel`] | the compact [`JourneyEvent`]; ordered funnels whose levels equal ClickHouse `windowFunnel` in its four modes, PostHog-style unordered funnels, exclusions, optional steps, breakdowns and time to convert, as an exact state that merges across shards of patients |
//! | [`retention`] | first-time or recurring cohorts by local day, week (Monday) or month; rolling 24-hour windows; the matrix and mean retention |
//! | [`rates`] | revisit rate (复诊率) within N days, no-show rate, course repurchase rate with a grace period, wait and consultation time (median, p90), by doctor, clinic and channel |
//! | [`adherence`] | PDC under the PQA rules (same-drug shift, index date, 91-day rule, cap, 0.80 threshold) and MPR |
//! | [`satisfaction`] | NPS and CSAT, overall and by doctor |
//! | [`economics`] | CAC, ROI and LTV per channel, in yuan with the rounding named |
//!
//! The types a host names most are re-exported here (`metrics::FunnelSpec`,
//! `metrics::RetentionMatrix`, `metrics::Rate`, …); the functions that compute them stay in
//! their submodule (`metrics::rates::revisit_rate`, `metrics::retention::retention`), and
//! every item keeps its submodule path as well.
//!
//! **Rates are `f64` only at the edge.** Each metric keeps its integer numerator and
//! denominator (so partial results add up exactly across shards) and offers the ratio as
//! `Option<f64>`: `None` where the denominator is zero, never a panic or a NaN.
//!
//! **Percentiles** use the nearest-rank rule: the `p`-th percentile of `n` sorted values is
//! the value at rank `⌈p·n/100⌉` (1-based), so the median of an even count is the lower middle
//! value. Results are always one of the observed values.

pub mod adherence;
pub mod economics;
pub mod event;
pub mod funnel;
pub mod rates;
pub mod retention;
pub mod satisfaction;

// The types a host names most, one `use` away. The functions stay behind their submodule
// (`rates::revisit_rate`, `adherence::pdc_by_patient`), where their names read best and
// where `retention::retention` and `economics::economics` would otherwise sit beside the
// modules they come from.
pub use adherence::{AdherenceError, AdherenceThreshold, Mpr, Pdc, PdcOutcome, PdcPeriod};
pub use economics::{ChannelEconomics, ChannelInput};
pub use event::{ChannelCode, EventError, JourneyEvent, JourneyEventKind, JourneyStage};
pub use funnel::{
    Attribution, ConversionWindow, Dimension, FunnelBreakdown, FunnelError, FunnelMode,
    FunnelReport, FunnelSpec, FunnelState, Step, StepMatcher,
};
pub use rates::{
    Appointment, AppointmentStatus, CourseBasis, DurationStats, Rate, RateBreakdown, RatesError,
    ServiceRecord, ServiceTimes,
};
pub use retention::{
    Cohort, CohortKind, RetentionError, RetentionMatrix, RetentionSpec, RetentionWindow,
};
pub use satisfaction::{ByDoctor, CsatScore, CsatTally, NpsScore, NpsTally, SatisfactionError};
