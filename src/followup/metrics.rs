//! The metrics hook: follow-up completion and overdue rates per staff member, from outcomes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::history::TaskRecord;
use super::task::TaskOutcome;
use crate::calendar::ClinicCalendar;
use crate::id::StaffId;

/// One staff member's follow-up numbers at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StaffFollowUpMetrics {
    /// Tasks due on or before the local date of `as_of`.
    pub due: u64,
    /// Of those, tasks done: an outcome other than "not reached" recorded by `as_of`.
    pub completed: u64,
    /// Of those, tasks closed as "not reached" (their retry is a task of its own).
    pub not_reached: u64,
    /// Of those, tasks past their due date with no outcome recorded by `as_of`.
    pub overdue: u64,
}

impl StaffFollowUpMetrics {
    /// Completed ÷ due, or `None` with nothing due.
    #[must_use]
    pub fn completion_rate(&self) -> Option<f64> {
        rate(self.completed, self.due)
    }

    /// Overdue ÷ due, or `None` with nothing due.
    #[must_use]
    pub fn overdue_rate(&self) -> Option<f64> {
        rate(self.overdue, self.due)
    }
}

fn rate(n: u64, d: u64) -> Option<f64> {
    // Rates are floats only here, at the reporting edge.
    (d > 0).then(|| n as f64 / d as f64)
}

/// Completion and overdue counts per assignee (`None`: unassigned), over tasks due on or
/// before the local date of `as_of`. Outcomes recorded after `as_of` are not counted, so a
/// report for a past day can be rebuilt exactly.
pub fn staff_metrics<'a, I>(
    records: I,
    as_of: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> BTreeMap<Option<StaffId>, StaffFollowUpMetrics>
where
    I: IntoIterator<Item = &'a TaskRecord>,
{
    let today = calendar.local_date(as_of);
    let mut out: BTreeMap<Option<StaffId>, StaffFollowUpMetrics> = BTreeMap::new();
    for r in records {
        // A task cancelled with its appointment was never staff's work to do.
        if r.task.due_on > today
            || r.outcome
                .is_some_and(|o| o.outcome == TaskOutcome::Cancelled && o.at <= as_of)
        {
            continue;
        }
        let m = out.entry(r.task.assignee).or_default();
        m.due += 1;
        match r.outcome.filter(|o| o.at <= as_of) {
            Some(o) if o.outcome.completes() => m.completed += 1,
            Some(_) => m.not_reached += 1,
            None if r.task.due_on < today => m.overdue += 1,
            None => {}
        }
    }
    out
}
