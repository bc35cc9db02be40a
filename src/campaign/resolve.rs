//! What happens around the assessment of single candidates: the base trace, group
//! resolution, dropping the losers' grants, and the counters an evaluation may read.

use chrono::{DateTime, Utc};

use super::assess::Eligible;
use super::book::{CampaignBook, GroupMode, Meta};
use super::model::WindowMiss;
use super::outcome::{Event, Outcome, TraceEntry, TriggerMiss};
use super::usage::{Bucket, UsageKey};
use crate::calendar::ClinicCalendar;
use crate::id::PatientId;

/// Records a candidate's outcome in the trace (a no-op when the trace is off: it is empty).
pub(super) fn note(
    trace: &mut [TraceEntry],
    touched: &mut Vec<usize>,
    track: bool,
    i: usize,
    o: Outcome,
) {
    if let Some(t) = trace.get_mut(i) {
        t.outcome = o;
        if track {
            touched.push(i);
        }
    }
}

/// The trace before the candidates are assessed: every campaign the engine will not assess
/// gets its outcome from the packed metadata, since the index hands out every campaign of
/// the event's class whose window holds.
pub(super) fn base_trace(
    book: &CampaignBook,
    now_us: i64,
    trace: &mut Vec<TraceEntry>,
    keep: bool,
) -> Option<(i64, i64)> {
    trace.clear();
    trace.extend(book.meta.iter().map(|m| base_entry(m, now_us)));
    if !keep {
        return None;
    }
    // The nearest window edges around `now`: the base trace holds until one is crossed.
    let (mut from, mut until) = (i64::MIN, i64::MAX);
    for m in &book.meta {
        for edge in [m.start_us, m.end_us] {
            if edge <= now_us {
                from = from.max(edge);
            } else {
                until = until.min(edge);
            }
        }
    }
    Some((from, until))
}

/// A campaign's entry before assessment, from its packed metadata.
pub(super) fn base_entry(m: &Meta, now_us: i64) -> TraceEntry {
    TraceEntry {
        campaign: m.id,
        outcome: if now_us < m.start_us {
            Outcome::OutsideWindow {
                miss: WindowMiss::NotStarted,
            }
        } else if now_us >= m.end_us {
            Outcome::OutsideWindow {
                miss: WindowMiss::Ended,
            }
        } else {
            Outcome::NotTrigger {
                miss: TriggerMiss::OtherEvent {
                    listens_to: m.class,
                },
            }
        },
    }
}

/// Removes the elements at the given ascending, disjoint index ranges, keeping the order
/// of the rest: each kept run is copied down once, instead of a tail move per range (a
/// group of ten has nine losers).
pub(super) fn remove_ranges<T: Copy>(
    v: &mut Vec<T>,
    ranges: impl Iterator<Item = std::ops::Range<usize>> + Clone,
) {
    let Some(first) = ranges.clone().next() else {
        return;
    };
    let len = v.len();
    let mut w = first.start.min(len);
    let mut r = w;
    for cut in ranges.map(|c| c.start.min(len)..c.end.min(len)) {
        if r < cut.start {
            v.copy_within(r..cut.start, w);
            w += cut.start - r;
        }
        r = r.max(cut.end);
    }
    if r < len {
        v.copy_within(r..len, w);
        w += len - r;
    }
    v.truncate(w);
}

/// One group's standing in an evaluation: positions in the eligible list.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GroupState {
    /// With the trace off, the most an eligible member assessed so far is worth.
    pub(super) assessed_best: Option<u128>,
    /// Whether [`resolve_groups`] saw a member.
    seen: bool,
    first: usize,
    exclusive: Option<usize>,
    /// The first of the most valuable.
    best: usize,
    best_value: u128,
}

/// Sets each eligible campaign's `loss` when another member of its group applies instead,
/// and says whether any lost. `groups` holds one fresh slot per group of the book; two
/// passes over the eligible campaigns, whatever the groups.
pub(super) fn resolve_groups(eligible: &mut [Eligible], groups: &mut [GroupState]) -> bool {
    if !eligible.iter().any(|e| e.group.is_some()) {
        // No group involved: everything applies.
        return false;
    }
    for (j, e) in eligible.iter().enumerate() {
        let Some(st) = e.group.and_then(|(g, _)| groups.get_mut(g as usize)) else {
            continue;
        };
        if !st.seen {
            st.seen = true;
            st.first = j;
            st.exclusive = None;
            st.best = j;
            st.best_value = e.value;
        } else if e.value > st.best_value {
            st.best = j;
            st.best_value = e.value;
        }
        if e.exclusive && st.exclusive.is_none() {
            st.exclusive = Some(j);
        }
    }
    let mut any = false;
    for j in 0..eligible.len() {
        let Some((g, mode)) = eligible.get(j).and_then(|e| e.group) else {
            continue;
        };
        let Some(st) = groups.get(g as usize) else {
            continue;
        };
        let winner = match (st.exclusive, mode) {
            (Some(w), _) => w,
            (None, GroupMode::StackAll) => continue,
            (None, GroupMode::FirstMatch) => st.first,
            (None, _) => st.best,
        };
        if j == winner {
            continue;
        }
        let Some(wx) = eligible.get(winner).map(|w| w.idx) else {
            continue;
        };
        if let Some(e) = eligible.get_mut(j) {
            e.loss = Some(Loss {
                winner: wx,
                mode,
                exclusive: st.exclusive.is_some(),
            });
            any = true;
        }
    }
    any
}

/// Why an eligible campaign lost in its group, kept compact: the trace's [`Outcome`] (with
/// the group's name) is only built when the trace is on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loss {
    /// The book index of the campaign that won.
    winner: usize,
    mode: GroupMode,
    exclusive: bool,
}

impl Loss {
    pub(super) fn outcome(self, book: &CampaignBook) -> Option<Outcome> {
        let wc = book.campaigns().get(self.winner)?;
        Some(if !self.exclusive && self.mode == GroupMode::FirstMatch {
            Outcome::BeatenByPriority { by: wc.id() }
        } else {
            Outcome::ExcludedByGroup {
                group: wc.spec().group.as_deref().unwrap_or_default().to_owned(),
                mode: self.mode,
                by: wc.id(),
                exclusive: self.exclusive,
            }
        })
    }
}

impl CampaignBook {
    /// The counters an evaluation of `event` for `patient` at `now` may read: load these
    /// through [`crate::store::UsageStore::load`] before calling
    /// [`evaluate`](crate::campaign::evaluate). They come in the order the engine reads
    /// them, which a snapshot loaded in that order turns into one key comparison per read.
    pub fn usage_keys(
        &self,
        event: &Event,
        patient: PatientId,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
    ) -> Vec<UsageKey> {
        let today = calendar.local_date(now);
        let mut out = Vec::new();
        for i in self.candidates(event.kind.class(), now) {
            let Some(c) = self.campaigns().get(i) else {
                continue;
            };
            let caps = self.caps_of(i);
            // Keys of different campaigns differ by id (a book's ids are unique), so only
            // this campaign's own keys can repeat: comparing against all of them made a
            // 50-campaign member day quadratic.
            let start = out.len();
            for cap in caps {
                let bucket = match cap.period {
                    None => Bucket::Lifetime,
                    Some(period) => Bucket::Period {
                        period,
                        start: calendar.period_start(today, period),
                    },
                };
                let key = UsageKey {
                    campaign: c.id(),
                    action: cap.action,
                    patient: cap.per_patient.then_some(patient),
                    bucket,
                };
                if !out.get(start..).is_some_and(|own| own.contains(&key)) {
                    out.push(key);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::remove_ranges;

    #[test]
    fn remove_ranges_keeps_the_rest_in_order() {
        let cases: [(&[std::ops::Range<usize>], &[u8]); 5] = [
            (&[], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            (&[0..2, 9..9], &[2, 3, 4, 5, 6, 7, 8, 9]),
            (&[1..3, 5..6, 8..10], &[0, 3, 4, 6, 7]),
            (&[2..2, 4..7], &[0, 1, 2, 3, 7, 8, 9]),
            (&[0..5, 5..10], &[]),
        ];
        for (ranges, want) in cases {
            let mut v: Vec<u8> = (0..10).collect();
            remove_ranges(&mut v, ranges.iter().cloned());
            assert_eq!(v, want, "{ranges:?}");
        }
    }
}
