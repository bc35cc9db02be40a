//! Journey metrics: ClickHouse-exact funnels, retention cohorts, clinic rates, adherence, satisfaction, channel economics.
//!
//! **Funnels.** [`event`] holds the compact [`JourneyEvent`](event::JourneyEvent); [`funnel`]
//! computes ordered funnels whose levels equal ClickHouse `windowFunnel` in its four modes,
//! PostHog-style unordered funnels, exclusions, optional steps, breakdowns and time to
//! convert, as an exact state that merges across shards of patients.

pub mod event;
pub mod funnel;
