//! The no-show policy: the grace period before a no-show may be marked, and what a patient
//! with too many recent no-shows must give to book.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ScheduleError;
use crate::money::Yuan;

/// What a booking needs once the patient reached the no-show threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Requirement {
    /// The front desk confirmed the booking with the patient (a call back).
    Confirmation,
    /// A deposit of at least this amount.
    Deposit {
        /// The smallest deposit accepted.
        amount: Yuan,
    },
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Confirmation => f.write_str("a confirmation"),
            Requirement::Deposit { amount } => write!(f, "a deposit of at least {amount}"),
        }
    }
}

/// How a clinic treats no-shows: after `threshold` no-shows within `window_days` (counted
/// back from the booking's decision time), a booking needs the `requirement`; a no-show may
/// be marked `grace_minutes` after the slot's start.
///
/// The default: after 2 no-shows in 90 days a booking needs a confirmation; 15 minutes'
/// grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicy", into = "RawPolicy")]
pub struct NoShowPolicy {
    threshold: u32,
    window_days: u32,
    requirement: Requirement,
    grace_minutes: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    threshold: u32,
    window_days: u32,
    requirement: Requirement,
    grace_minutes: u32,
}

impl TryFrom<RawPolicy> for NoShowPolicy {
    type Error = ScheduleError;
    fn try_from(r: RawPolicy) -> Result<Self, Self::Error> {
        NoShowPolicy::new(r.threshold, r.window_days, r.requirement, r.grace_minutes)
    }
}

impl From<NoShowPolicy> for RawPolicy {
    fn from(p: NoShowPolicy) -> Self {
        RawPolicy {
            threshold: p.threshold,
            window_days: p.window_days,
            requirement: p.requirement,
            grace_minutes: p.grace_minutes,
        }
    }
}

impl Default for NoShowPolicy {
    fn default() -> Self {
        NoShowPolicy {
            threshold: 2,
            window_days: 90,
            requirement: Requirement::Confirmation,
            grace_minutes: 15,
        }
    }
}

impl NoShowPolicy {
    /// A policy.
    ///
    /// # Errors
    ///
    /// [`ScheduleError`] naming the field: `threshold` 1 to 100, `window_days` 1 to 3660,
    /// `grace_minutes` 0 to 1440, a deposit above zero.
    pub fn new(
        threshold: u32,
        window_days: u32,
        requirement: Requirement,
        grace_minutes: u32,
    ) -> Result<Self, ScheduleError> {
        let bad = |path: &str, why: String| ScheduleError {
            path: path.to_owned(),
            why,
        };
        if !(1..=100).contains(&threshold) {
            return Err(bad("threshold", format!("{threshold} is outside 1..=100")));
        }
        if !(1..=3660).contains(&window_days) {
            return Err(bad(
                "window_days",
                format!("{window_days} is outside 1..=3660"),
            ));
        }
        if grace_minutes > 1440 {
            return Err(bad(
                "grace_minutes",
                format!("{grace_minutes} is outside 0..=1440"),
            ));
        }
        if let Requirement::Deposit { amount } = requirement
            && amount == Yuan::ZERO
        {
            return Err(bad(
                "requirement.amount",
                "a deposit must be above zero".into(),
            ));
        }
        Ok(NoShowPolicy {
            threshold,
            window_days,
            requirement,
            grace_minutes,
        })
    }

    /// No-shows in the window that trigger the requirement.
    #[must_use]
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The window, in days.
    #[must_use]
    pub fn window_days(&self) -> u32 {
        self.window_days
    }

    /// What a booking then needs.
    #[must_use]
    pub fn requirement(&self) -> Requirement {
        self.requirement
    }

    /// Minutes after the slot's start before a no-show may be marked.
    #[must_use]
    pub fn grace_minutes(&self) -> u32 {
        self.grace_minutes
    }
}
