//! Complaint metrics: complaints by category, time to acknowledge and to resolve (median,
//! p90), and the SLA breach rate. Partial tallies over disjoint complaints merge.

use serde::Serialize;
use std::collections::BTreeMap;

use super::complaint::{Category, Complaint};
use crate::metrics::rates::{DurationStats, Rate};

/// A mergeable tally of complaints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplaintTally {
    by_category: BTreeMap<Category, u64>,
    acknowledge_seconds: Vec<i64>,
    resolve_seconds: Vec<i64>,
    breach: Rate,
}

/// The report of a [`ComplaintTally`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ComplaintReport {
    /// Complaints by category.
    pub by_category: BTreeMap<Category, u64>,
    /// Opening (or reopening) to acknowledgement, current round.
    pub time_to_acknowledge: DurationStats,
    /// Opening (or reopening) to resolution, current round.
    pub time_to_resolve: DurationStats,
    /// Complaints with a breached clock ÷ complaints.
    pub sla_breach: Rate,
}

impl ComplaintTally {
    /// Counts one complaint as it stands.
    pub fn add(&mut self, c: &Complaint) {
        *self.by_category.entry(c.opened.category).or_default() += 1;
        if let Some(a) = c.acknowledged_at {
            self.acknowledge_seconds
                .push((a - c.round_at).num_seconds().max(0));
        }
        if let Some(r) = c.resolved_at {
            self.resolve_seconds
                .push((r - c.round_at).num_seconds().max(0));
        }
        let breached = !c.breached.is_empty()
            || c.acknowledged_at.is_some_and(|a| a > c.acknowledge_by)
            || c.resolved_at.is_some_and(|r| r > c.resolve_by);
        self.breach.denominator = self.breach.denominator.saturating_add(1);
        self.breach.numerator = self.breach.numerator.saturating_add(u64::from(breached));
    }

    /// Adds a tally over other complaints.
    pub fn merge(&mut self, o: &ComplaintTally) {
        for (k, v) in &o.by_category {
            *self.by_category.entry(*k).or_default() += v;
        }
        self.acknowledge_seconds
            .extend_from_slice(&o.acknowledge_seconds);
        self.resolve_seconds.extend_from_slice(&o.resolve_seconds);
        self.breach = self.breach.merge(o.breach);
    }

    /// The report.
    #[must_use]
    pub fn report(&self) -> ComplaintReport {
        ComplaintReport {
            by_category: self.by_category.clone(),
            time_to_acknowledge: DurationStats::from_seconds(self.acknowledge_seconds.clone()),
            time_to_resolve: DurationStats::from_seconds(self.resolve_seconds.clone()),
            sla_breach: self.breach,
        }
    }
}
