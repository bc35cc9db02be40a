//! Campaign rules: campaigns as data, a pure explainable engine, caps, conflicts, consent and ad-law checks.

mod usage;

pub use usage::{
    Bucket, ReservationError, UsageAction, UsageIncrement, UsageKey, UsageReservation,
    UsageSnapshot,
};
