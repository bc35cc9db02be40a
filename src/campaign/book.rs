//! The campaign book: every campaign of a clinic, its evaluation groups, and the index that
//! lets the engine look only at campaigns that could apply.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::effects::Packed;
use super::error::CampaignError;
use super::model::{Campaign, CampaignSpec, Effect, EventClass, LimitKey, Recurrence, Trigger};
use super::usage::UsageAction;
use crate::calendar::Period;
use crate::id::CampaignId;
use crate::money::Yuan;
use crate::segment::{CompiledExprs, ConsentSet, ExprRef};

/// The most campaigns one book may hold. A clinic chain runs tens to a few hundred at once;
/// the limit keeps loading, the index and [`super::check_book`] bounded.
pub const MAX_CAMPAIGNS: usize = 2_000;
/// The most evaluation groups one book may declare.
pub const MAX_GROUPS: usize = 256;

/// How the campaigns of one evaluation group combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GroupMode {
    /// Every eligible campaign applies.
    StackAll,
    /// Only the first eligible one in evaluation order (priority, then id) applies.
    FirstMatch,
    /// Only the eligible one worth most to the patient applies (ties: evaluation order).
    BestForPatient,
}

impl fmt::Display for GroupMode {
    /// The snake_case code, as in JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupMode::StackAll => "stack_all",
            GroupMode::FirstMatch => "first_match",
            GroupMode::BestForPatient => "best_for_patient",
        })
    }
}

/// Which cap of a campaign cut or stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "cap", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapRef {
    /// The campaign's lifetime budget of that action.
    Budget {
        /// Points, cashback or uses.
        action: UsageAction,
    },
    /// `caps.limits[index]`.
    Limit {
        /// Its position in `caps.limits`.
        index: u16,
    },
}

impl fmt::Display for CapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapRef::Budget { action } => write!(f, "the {action} budget"),
            CapRef::Limit { index } => write!(f, "usage limit caps.limits[{index}]"),
        }
    }
}

/// A cap in counter terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapSpec {
    pub(crate) action: UsageAction,
    pub(crate) per_patient: bool,
    pub(crate) period: Option<Period>,
    pub(crate) max: u64,
    pub(crate) origin: CapRef,
    /// Whether an earlier cap of the campaign counts on the same counter (a uses budget and a
    /// campaign-wide lifetime `apply` limit): the engine reserves each counter once.
    pub(crate) repeat: bool,
}

fn compile_caps(c: &Campaign) -> Vec<CapSpec> {
    let caps = &c.spec().caps;
    let mut out = Vec::new();
    let b = caps.budget;
    let budget = |action, max| CapSpec {
        action,
        per_patient: false,
        period: None,
        max,
        origin: CapRef::Budget { action },
        repeat: false,
    };
    if let Some(u) = b.uses {
        out.push(budget(UsageAction::Apply, u));
    }
    if let Some(p) = b.points {
        out.push(budget(UsageAction::EarnPoints, p));
    }
    if let Some(y) = b.yuan {
        out.push(budget(UsageAction::Cashback, y.to_fen()));
    }
    for (index, l) in caps.limits.iter().enumerate() {
        out.push(CapSpec {
            action: l.action,
            per_patient: l.per == LimitKey::Patient,
            period: l.period.period(),
            max: l.max,
            origin: CapRef::Limit {
                index: u16::try_from(index).unwrap_or(u16::MAX),
            },
            repeat: false,
        });
    }
    for j in 0..out.len() {
        let (before, rest) = out.split_at_mut(j);
        if let Some(cap) = rest.first_mut() {
            cap.repeat = before.iter().any(|b| {
                (b.action, b.per_patient, b.period) == (cap.action, cap.per_patient, cap.period)
            });
        }
    }
    out
}

/// What the trace needs of every campaign, packed so that a trace over the whole book reads
/// one small array.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) id: CampaignId,
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
    pub(crate) class: EventClass,
}

/// What the engine checks of a candidate before its audience, precomputed when the book is
/// built so that the checks are comparisons of integers and instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: Option<DateTime<Utc>>,
    pub(crate) recurrence: Option<Recurrence>,
    /// A purchase trigger's minimum, in fen (0: none).
    pub(crate) min_fen: u64,
    /// Whether the trigger asks more of the event than its class and minimum (a first visit,
    /// a tier, a broadcast of this campaign).
    pub(crate) detailed: bool,
    /// The consents it needs.
    pub(crate) consent: ConsentSet,
    /// Its audience, in the book's compiled audiences.
    pub(crate) audience: ExprRef,
    pub(crate) id: CampaignId,
    /// Its group (index among the book's groups, and mode).
    pub(crate) group: Option<(u32, GroupMode)>,
    pub(crate) exclusive: bool,
    /// Its effects' range in the book's `effects` and `rates`.
    pub(crate) effects: (u32, u32),
    /// Its caps' range in the book's `caps_flat`.
    pub(crate) caps: (u32, u32),
}

impl Gate {
    fn of(c: &Campaign, audiences: &mut CompiledExprs) -> Gate {
        let spec = c.spec();
        let mut consent = ConsentSet::default();
        for p in &spec.consent {
            consent.insert(*p);
        }
        if c.promotes() {
            consent.insert(crate::patient::ConsentPurpose::Marketing);
        }
        let (min_fen, detailed) = match &spec.trigger {
            Trigger::Purchase { min } => (min.to_fen(), false),
            Trigger::FirstVisit
            | Trigger::TierChanged { to: Some(_) }
            | Trigger::ManualBroadcast => (0, true),
            _ => (0, false),
        };
        Gate {
            start: spec.window.start,
            end: spec.window.end,
            recurrence: spec.window.recurrence,
            min_fen,
            detailed,
            consent,
            audience: audiences.add(&spec.audience),
            id: c.id(),
            group: None,
            exclusive: spec.exclusive,
            effects: (0, 0),
            caps: (0, 0),
        }
    }
}

/// Windows spanning more months than this go to the always-checked list of their class.
const MAX_INDEXED_MONTHS: i32 = 36;

#[derive(Debug, Clone, Default)]
struct ClassIndex {
    /// Months (ascending) and their campaigns: a binary search per evaluation, cheaper than
    /// hashing the month.
    by_month: Vec<(i32, Vec<u32>)>,
    long: Vec<u32>,
}

/// The UTC month of an instant. Windows and `now` are both instants, so bucketing them in UTC
/// months needs no calendar: a window that holds at `now` covers `now`'s UTC month.
fn month_key(t: DateTime<Utc>) -> i32 {
    t.year()
        .saturating_mul(12)
        .saturating_add(t.month0() as i32)
}

/// The campaigns of a clinic, in evaluation order (priority high to low, then id low to
/// high), with their groups and an index by event class and month.
///
/// The order of campaigns given to [`CampaignBook::new`] does not matter: the book sorts
/// them, which is what makes evaluation independent of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "BookSpec", into = "BookSpec")]
pub struct CampaignBook {
    groups: BTreeMap<String, GroupMode>,
    point_value: Yuan,
    pub(crate) point_fen: u64,
    campaigns: Vec<Campaign>,
    pub(crate) caps_flat: Vec<CapSpec>,
    caps_at: Vec<(u32, u32)>,
    pub(crate) meta: Vec<Meta>,
    pub(crate) gates: Vec<Gate>,
    /// Every campaign's audience, compiled together (tags interned across the book).
    pub(crate) audiences: CompiledExprs,
    /// Every campaign's effects, in book order (copies of the specs'; what grants point to).
    pub(crate) effects: Vec<Effect>,
    /// The integer forms of `effects`, one for one (see [`Effect::packed`]).
    pub(crate) rates: Vec<Packed>,
    index: Vec<ClassIndex>,
}

/// A campaign book as written: what serde reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookSpec {
    /// Evaluation groups and their modes, at most [`MAX_GROUPS`].
    #[serde(default)]
    pub groups: BTreeMap<String, GroupMode>,
    /// What one point is worth to the patient, for best-for-patient comparisons (default
    /// ¥0.01).
    #[serde(default = "default_point_value")]
    pub point_value: Yuan,
    /// The campaigns, in any order, at most [`MAX_CAMPAIGNS`].
    #[serde(deserialize_with = "super::error::campaigns")]
    pub campaigns: Vec<CampaignSpec>,
}

fn default_point_value() -> Yuan {
    Yuan::parse("0.01").unwrap_or(Yuan::ZERO)
}

impl TryFrom<BookSpec> for CampaignBook {
    type Error = CampaignError;
    fn try_from(b: BookSpec) -> Result<Self, Self::Error> {
        // Before the campaigns are checked one by one: refusing a huge book should not cost
        // the work of validating it.
        if b.campaigns.len() > MAX_CAMPAIGNS {
            return Err(CampaignError::TooLong {
                path: "campaigns".into(),
                len: b.campaigns.len(),
                max: MAX_CAMPAIGNS,
            });
        }
        let mut campaigns = Vec::with_capacity(b.campaigns.len());
        for (i, spec) in b.campaigns.into_iter().enumerate() {
            campaigns.push(Campaign::new(spec).map_err(|e| e.under(&format!("campaigns[{i}]")))?);
        }
        CampaignBook::build(b.groups, b.point_value, campaigns)
    }
}

impl From<CampaignBook> for BookSpec {
    fn from(b: CampaignBook) -> Self {
        BookSpec {
            groups: b.groups,
            point_value: b.point_value,
            campaigns: b.campaigns.into_iter().map(CampaignSpec::from).collect(),
        }
    }
}

impl CampaignBook {
    /// A book with ¥0.01 per point.
    ///
    /// # Errors
    ///
    /// [`CampaignError::TooLong`] with the path `campaigns` beyond [`MAX_CAMPAIGNS`] or
    /// `groups` beyond [`MAX_GROUPS`] (the limits loading enforces);
    /// [`CampaignError::DuplicateId`] and [`CampaignError::UnknownGroup`], with the path
    /// `campaigns[i]` in the order given.
    pub fn new(
        groups: BTreeMap<String, GroupMode>,
        campaigns: Vec<Campaign>,
    ) -> Result<Self, CampaignError> {
        Self::build(groups, default_point_value(), campaigns)
    }

    fn build(
        groups: BTreeMap<String, GroupMode>,
        point_value: Yuan,
        campaigns: Vec<Campaign>,
    ) -> Result<Self, CampaignError> {
        check_book_limits(&groups, &campaigns)?;
        let mut campaigns = campaigns;
        campaigns.sort_by_key(|c| (std::cmp::Reverse(c.spec().priority), c.id()));
        let (caps_flat, caps_at) = flatten_caps(&campaigns);
        let meta = campaigns.iter().map(Meta::of).collect();
        let packed = pack_candidates(&campaigns, &groups, &caps_at);
        let index = index_by_class_and_month(&campaigns);
        Ok(CampaignBook {
            point_fen: point_value.to_fen(),
            groups,
            point_value,
            campaigns,
            caps_flat,
            caps_at,
            meta,
            gates: packed.gates,
            audiences: packed.audiences,
            effects: packed.effects,
            rates: packed.rates,
            index,
        })
    }

    /// The caps of the campaign at position `i`.
    pub(crate) fn caps_of(&self, i: usize) -> &[CapSpec] {
        self.caps_at
            .get(i)
            .and_then(|&(a, b)| self.caps_flat.get(a as usize..b as usize))
            .unwrap_or(&[])
    }

    /// The campaigns, in evaluation order.
    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    /// The evaluation groups.
    pub fn groups(&self) -> &BTreeMap<String, GroupMode> {
        &self.groups
    }

    /// What a point is worth, for best-for-patient comparisons.
    pub fn point_value(&self) -> Yuan {
        self.point_value
    }

    /// The campaign with an id.
    pub fn get(&self, id: CampaignId) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.id() == id)
    }

    /// The positions (in evaluation order, ascending) of the campaigns of `class` whose
    /// window could hold at `now`: a superset of those that do, found without looking at
    /// the rest of the book.
    pub fn candidates(&self, class: EventClass, now: DateTime<Utc>) -> Vec<usize> {
        let mut out = Vec::new();
        self.candidates_into(class, now, &mut out);
        out
    }

    pub(crate) fn candidates_into(
        &self,
        class: EventClass,
        now: DateTime<Utc>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        out.extend(self.candidate_iter(class, now));
    }

    /// The candidates in ascending order, merged from the month bucket and the long list
    /// without allocating; `size_hint` is exact.
    pub(crate) fn candidate_iter(
        &self,
        class: EventClass,
        now: DateTime<Utc>,
    ) -> impl ExactSizeIterator<Item = usize> + '_ {
        let (month, long): (&[u32], &[u32]) = match self.index.get(class.slot()) {
            Some(slot) => (
                slot.by_month
                    .binary_search_by_key(&month_key(now), |e| e.0)
                    .ok()
                    .and_then(|at| slot.by_month.get(at))
                    .map_or(&[], |e| e.1.as_slice()),
                &slot.long,
            ),
            None => (&[], &[]),
        };
        Merge { a: month, b: long }
    }
}

/// The limits loading enforces, unique ids, and groups that are declared; paths name the
/// campaigns in the order given.
fn check_book_limits(
    groups: &BTreeMap<String, GroupMode>,
    campaigns: &[Campaign],
) -> Result<(), CampaignError> {
    for (path, len, max) in [
        ("campaigns", campaigns.len(), MAX_CAMPAIGNS),
        ("groups", groups.len(), MAX_GROUPS),
    ] {
        if len > max {
            return Err(CampaignError::TooLong {
                path: path.into(),
                len,
                max,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in campaigns.iter().enumerate() {
        if !seen.insert(c.id()) {
            return Err(CampaignError::DuplicateId {
                path: format!("campaigns[{i}].id"),
                id: c.id().to_string(),
            });
        }
        if let Some(g) = &c.spec().group
            && !groups.contains_key(g)
        {
            return Err(CampaignError::UnknownGroup {
                path: format!("campaigns[{i}].group"),
                group: g.clone(),
            });
        }
    }
    Ok(())
}

/// One contiguous array of caps, sliced per campaign (the ranges, one per campaign), for
/// locality in the hot loop.
fn flatten_caps(campaigns: &[Campaign]) -> (Vec<CapSpec>, Vec<(u32, u32)>) {
    let mut caps_flat = Vec::new();
    let mut caps_at = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        let from = caps_flat.len();
        caps_flat.extend(compile_caps(c));
        caps_at.push((
            u32::try_from(from).unwrap_or(u32::MAX),
            u32::try_from(caps_flat.len()).unwrap_or(u32::MAX),
        ));
    }
    (caps_flat, caps_at)
}

impl Meta {
    fn of(c: &Campaign) -> Meta {
        let w = &c.spec().window;
        Meta {
            id: c.id(),
            start_us: w.start.timestamp_micros(),
            end_us: w.end.map_or(i64::MAX, |e| e.timestamp_micros()),
            class: c.spec().trigger.class(),
        }
    }
}

/// What the engine reads of the candidates, in arrays of the whole book.
struct Packing {
    gates: Vec<Gate>,
    audiences: CompiledExprs,
    effects: Vec<Effect>,
    rates: Vec<Packed>,
}

/// What the engine reads of a candidate, packed: its gate, and its effects, their integer
/// forms and its caps in arrays of the whole book, so that a candidate's checks touch a few
/// adjacent lines instead of the campaign's scattered heap parts.
fn pack_candidates(
    campaigns: &[Campaign],
    groups: &BTreeMap<String, GroupMode>,
    caps_at: &[(u32, u32)],
) -> Packing {
    let names: Vec<&String> = groups.keys().collect();
    let group_of = |c: &Campaign| {
        let g = c.spec().group.as_ref()?;
        let pos = names.binary_search(&g).ok()?;
        Some((u32::try_from(pos).ok()?, *groups.get(g)?))
    };
    let mut audiences = CompiledExprs::default();
    let mut effects = Vec::new();
    let mut rates = Vec::new();
    let mut gates = Vec::with_capacity(campaigns.len());
    for (i, c) in campaigns.iter().enumerate() {
        let mut g = Gate::of(c, &mut audiences);
        g.group = group_of(c);
        g.caps = caps_at.get(i).copied().unwrap_or((0, 0));
        let from = u32::try_from(effects.len()).unwrap_or(u32::MAX);
        effects.extend(c.spec().effects.iter().cloned());
        rates.extend(c.rates.iter().copied());
        g.effects = (from, u32::try_from(effects.len()).unwrap_or(u32::MAX));
        gates.push(g);
    }
    Packing {
        gates,
        audiences,
        effects,
        rates,
    }
}

/// Per event class, the campaigns by UTC month of their window (windows over
/// [`MAX_INDEXED_MONTHS`] months, or without an end, in the class's long list).
fn index_by_class_and_month(campaigns: &[Campaign]) -> Vec<ClassIndex> {
    let mut index = vec![ClassIndex::default(); EventClass::ALL.len()];
    for (i, c) in campaigns.iter().enumerate() {
        let Ok(i) = u32::try_from(i) else { break };
        let w = &c.spec().window;
        let Some(slot) = index.get_mut(c.spec().trigger.class().slot()) else {
            continue;
        };
        let first = month_key(w.start);
        match w.end.map(month_key) {
            Some(last) if last - first < MAX_INDEXED_MONTHS => {
                for m in first..=last {
                    let at = match slot.by_month.binary_search_by_key(&m, |e| e.0) {
                        Ok(at) => at,
                        Err(at) => {
                            slot.by_month.insert(at, (m, Vec::new()));
                            at
                        }
                    };
                    if let Some(e) = slot.by_month.get_mut(at) {
                        e.1.push(i);
                    }
                }
            }
            _ => slot.long.push(i),
        }
    }
    index
}

/// Two ascending lists merged.
struct Merge<'a> {
    a: &'a [u32],
    b: &'a [u32],
}

impl Iterator for Merge<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let side = if take_a { &mut self.a } else { &mut self.b };
        let (first, rest) = side.split_first()?;
        *side = rest;
        Some(*first as usize)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.a.len() + self.b.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Merge<'_> {}
