//! The campaign as data: what a clinic manager edits and a host stores.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::effects::Packed;
use super::error::CampaignError;
use crate::id::CampaignId;
use crate::patient::{ConsentPurpose, Label};
use crate::segment::Expr;

pub use super::effects::{
    Budget, Caps, Effect, LimitKey, LimitPeriod, MessageCopy, StaffTaskKind, UsageLimit,
};
pub use super::window::{Anniversary, EventClass, Recurrence, Trigger, Window, WindowMiss};

/// Longest campaign name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most effects in one campaign.
pub const MAX_EFFECTS: usize = 16;
/// Most usage limits in one campaign.
pub const MAX_LIMITS: usize = 16;
/// Longest message copy body, in characters.
pub const MAX_COPY_CHARS: usize = 2000;
/// Most fixed points one effect may grant.
pub const MAX_FIXED_POINTS: i64 = 10_000_000;

/// Words that make a message's copy promotional: an offer, a price, a benefit to claim.
///
/// A campaign promotes (see [`Campaign::promotes`]) when it gives a marketing benefit, or
/// sends a message whose copy (title or body) holds one of these, compared without case.
/// The engine then requires `marketing` consent even of a care campaign, and
/// [`crate::campaign::check_book`] reports the care campaign
/// ([`crate::campaign::FindingKind::PromotionalCareMessage`]). The library can only judge
/// the copy a campaign carries: a care message sent from a template without copy is taken
/// at its word.
pub const PROMOTION_MARKERS: [&str; 24] = [
    "优惠",
    "折扣",
    "打折",
    "特价",
    "促销",
    "限时",
    "满减",
    "返现",
    "优惠券",
    "代金券",
    "积分",
    "会员日",
    "秒杀",
    "抢购",
    "团购",
    "充值",
    "赠送",
    "免费领",
    "礼品",
    "福利",
    "discount",
    "sale",
    "offer",
    "coupon",
];

/// Whether `text` holds one of [`PROMOTION_MARKERS`].
fn is_promotional(text: &str) -> bool {
    let lower = text.to_lowercase();
    PROMOTION_MARKERS.iter().any(|m| lower.contains(m))
}

fn default_consent() -> Vec<ConsentPurpose> {
    vec![ConsentPurpose::Marketing]
}

fn everyone() -> Expr {
    Expr::all(Vec::new())
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(p: &i32) -> bool {
    *p == 0
}

/// A campaign as written: plain fields, checked by [`Campaign::new`]. Serde reads campaigns
/// through it, so a campaign loaded from JSON is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// The id, unique in its book.
    pub id: CampaignId,
    /// A name for managers, 1 to [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// When it may apply.
    pub window: Window,
    /// What makes it fire.
    pub trigger: Trigger,
    /// Who it is for (default: everyone).
    #[serde(default = "everyone")]
    pub audience: Expr,
    /// What it gives, 1 to [`MAX_EFFECTS`], in rule order (rule `n` is `effects[n]`).
    #[serde(deserialize_with = "super::error::effects")]
    pub effects: Vec<Effect>,
    /// Budget and usage limits.
    #[serde(default)]
    pub caps: Caps,
    /// Higher goes first; ties by id, lowest first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// The evaluation group, declared in the book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether it blocks the rest of its group when it applies.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclusive: bool,
    /// The consents a patient needs: exactly one of `marketing` (default) and
    /// `care_reminder`, plus any others (`health_data_segmentation`).
    #[serde(default = "default_consent")]
    pub consent: Vec<ConsentPurpose>,
    /// The message copy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<MessageCopy>,
}

impl CampaignSpec {
    /// A spec with the defaults serde gives missing members: everyone as the audience, no
    /// caps, priority 0, no group, `marketing` consent and no copy; change them with the
    /// `with_…` methods. Nothing is checked until [`Campaign::new`].
    #[must_use]
    pub fn new(
        id: CampaignId,
        name: impl Into<String>,
        window: Window,
        trigger: Trigger,
        effects: Vec<Effect>,
    ) -> Self {
        CampaignSpec {
            id,
            name: name.into(),
            window,
            trigger,
            audience: everyone(),
            effects,
            caps: Caps::default(),
            priority: 0,
            group: None,
            exclusive: false,
            consent: default_consent(),
            copy: None,
        }
    }

    /// Who it is for.
    #[must_use]
    pub fn with_audience(mut self, audience: Expr) -> Self {
        self.audience = audience;
        self
    }

    /// Its budget and usage limits.
    #[must_use]
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// Its priority (higher goes first).
    #[must_use]
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Its evaluation group, and whether it blocks the rest of the group when it applies.
    #[must_use]
    pub fn with_group(mut self, group: impl Into<String>, exclusive: bool) -> Self {
        self.group = Some(group.into());
        self.exclusive = exclusive;
        self
    }

    /// The consents a patient needs.
    #[must_use]
    pub fn with_consent(mut self, consent: Vec<ConsentPurpose>) -> Self {
        self.consent = consent;
        self
    }

    /// Its message copy.
    #[must_use]
    pub fn with_copy(mut self, copy: MessageCopy) -> Self {
        self.copy = Some(copy);
        self
    }
}

/// A valid campaign. Build it with [`Campaign::new`] or deserialise it; read it through
/// [`Campaign::spec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CampaignSpec", into = "CampaignSpec")]
pub struct Campaign {
    spec: CampaignSpec,
    care: bool,
    promotes: bool,
    /// Per effect, the integer form the engine computes with ([`Effect::packed`]).
    pub(crate) rates: Vec<Packed>,
}

impl TryFrom<CampaignSpec> for Campaign {
    type Error = CampaignError;
    fn try_from(spec: CampaignSpec) -> Result<Self, Self::Error> {
        Campaign::new(spec)
    }
}

impl From<Campaign> for CampaignSpec {
    fn from(c: Campaign) -> Self {
        c.spec
    }
}

fn text(path: &str, s: &str, max: usize) -> Result<(), CampaignError> {
    let len = s.chars().count();
    if s.trim().is_empty() {
        return Err(CampaignError::Empty { path: path.into() });
    }
    if len > max {
        return Err(CampaignError::TooLong {
            path: path.into(),
            len,
            max,
        });
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CampaignError::InvalidCombination {
            path: path.into(),
            reason: "text holds control characters".into(),
        });
    }
    Ok(())
}

pub(super) fn label(path: &str, s: &str) -> Result<(), CampaignError> {
    Label::parse(s)
        .map(|_| ())
        .map_err(|source| CampaignError::Text {
            path: path.into(),
            source,
        })
}

pub(super) fn range<T: fmt::Display>(
    path: &str,
    v: T,
    ok: bool,
    range: &'static str,
) -> Result<(), CampaignError> {
    if ok {
        Ok(())
    } else {
        Err(CampaignError::OutOfRange {
            path: path.into(),
            value: v.to_string(),
            range,
        })
    }
}

pub(super) fn combo(path: &str, reason: &str) -> CampaignError {
    CampaignError::InvalidCombination {
        path: path.into(),
        reason: reason.into(),
    }
}

impl Campaign {
    /// Checks a spec.
    ///
    /// # Errors
    ///
    /// A [`CampaignError`] naming the path of the first bad value (relative to the
    /// campaign: `effects[1].percent`).
    pub fn new(spec: CampaignSpec) -> Result<Self, CampaignError> {
        text("name", &spec.name, MAX_NAME_CHARS)?;
        check_window(&spec.window)?;
        // Loading checked these already; a spec built in code has not been, and the book
        // compiles and walks the audience recursively.
        spec.audience
            .validate()
            .map_err(|source| CampaignError::Audience {
                path: "audience".into(),
                source,
            })?;
        if let Trigger::TierChanged { to: Some(t) } = &spec.trigger {
            label("trigger.to", t)?;
        }
        check_consent(&spec.consent)?;
        let care = !spec.consent.contains(&ConsentPurpose::Marketing);
        if spec.effects.is_empty() {
            return Err(CampaignError::Empty {
                path: "effects".into(),
            });
        }
        if spec.effects.len() > MAX_EFFECTS {
            return Err(CampaignError::TooLong {
                path: "effects".into(),
                len: spec.effects.len(),
                max: MAX_EFFECTS,
            });
        }
        for (i, e) in spec.effects.iter().enumerate() {
            e.check(&spec.trigger, care)
                .map_err(|err| err.under(&format!("effects[{i}]")))?;
        }
        check_caps(&spec.caps)?;
        if let Some(g) = &spec.group {
            label("group", g)?;
        } else if spec.exclusive {
            return Err(combo(
                "exclusive",
                "an exclusive campaign needs an evaluation group to exclude",
            ));
        }
        if let Some(c) = &spec.copy {
            if let Some(t) = &c.title {
                text("copy.title", t, 64)?;
            }
            text("copy.body", &c.body, MAX_COPY_CHARS)?;
        }
        let rates = spec.effects.iter().map(Effect::packed).collect();
        let sends_message = spec.effects.iter().any(Effect::sends_message);
        let promotes = spec.effects.iter().any(Effect::is_marketing)
            || (sends_message
                && spec.copy.as_ref().is_some_and(|c| {
                    c.title.as_deref().is_some_and(is_promotional) || is_promotional(&c.body)
                }));
        Ok(Campaign {
            spec,
            care,
            promotes,
            rates,
        })
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &CampaignSpec {
        &self.spec
    }

    /// Its id.
    pub fn id(&self) -> CampaignId {
        self.spec.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether it is a care campaign (needs `care_reminder`, not `marketing`).
    pub fn is_care(&self) -> bool {
        self.care
    }

    /// Whether it gives a marketing benefit.
    pub fn gives_marketing(&self) -> bool {
        self.spec.effects.iter().any(Effect::is_marketing)
    }

    /// Whether it promotes: it gives a marketing benefit, or sends a message whose copy holds
    /// one of [`PROMOTION_MARKERS`]. Such a campaign reaches only patients who gave
    /// `marketing` consent, whatever its `consent` list says (a care campaign that promotes
    /// needs both `care_reminder` and `marketing`): consent is checked where targeting
    /// happens (PIPL art. 14, and art. 44 of the Advertising Law on pushed ads).
    pub fn promotes(&self) -> bool {
        self.promotes
    }
}

pub(super) fn places(path: &str, d: Decimal) -> Result<(), CampaignError> {
    range(
        path,
        d,
        d.normalize().scale() <= 4,
        "numbers with at most 4 decimal places",
    )
}

fn check_window(w: &Window) -> Result<(), CampaignError> {
    // Serde checks these too; a window built in code comes through here.
    let in_range = |path: &str, at| {
        crate::calendar::check_instant("instant", at).map_err(|error| CampaignError::Calendar {
            path: path.into(),
            error,
        })
    };
    in_range("window.start", w.start)?;
    if let Some(end) = w.end {
        in_range("window.end", end)?;
    }
    if let Some(end) = w.end
        && end <= w.start
    {
        return Err(CampaignError::EmptyWindow {
            path: "window.end".into(),
            start: w.start.to_rfc3339(),
            end: end.to_rfc3339(),
        });
    }
    match w.recurrence {
        Some(Recurrence::MonthDay { day }) => range(
            "window.recurrence.day",
            day,
            (1..=31).contains(&day),
            "1..=31",
        ),
        Some(Recurrence::Anniversary {
            of: Anniversary::Date { month, day },
        }) => {
            range(
                "window.recurrence.of.date.month",
                month,
                (1..=12).contains(&month),
                "1..=12",
            )?;
            // 2024 is a leap year, so 29 February is accepted.
            range(
                "window.recurrence.of.date.day",
                day,
                NaiveDate::from_ymd_opt(2024, month, day).is_some(),
                "the days of that month",
            )
        }
        _ => Ok(()),
    }
}

fn check_consent(c: &[ConsentPurpose]) -> Result<(), CampaignError> {
    let base = c
        .iter()
        .filter(|p| matches!(p, ConsentPurpose::Marketing | ConsentPurpose::CareReminder))
        .count();
    if base != 1 {
        return Err(combo(
            "consent",
            "needs exactly one of marketing and care_reminder",
        ));
    }
    for (i, p) in c.iter().enumerate() {
        if c[..i].contains(p) {
            return Err(combo(
                &format!("consent[{i}]"),
                &format!("{p} is listed twice"),
            ));
        }
    }
    Ok(())
}

fn check_caps(c: &Caps) -> Result<(), CampaignError> {
    if let Some(p) = c.budget.points {
        range("caps.budget.points", p, p > 0, "at least 1")?;
    }
    if let Some(y) = c.budget.yuan {
        range("caps.budget.yuan", y, !y.is_zero(), "above 0")?;
    }
    if let Some(u) = c.budget.uses {
        range("caps.budget.uses", u, u > 0, "at least 1")?;
    }
    if c.limits.len() > MAX_LIMITS {
        return Err(CampaignError::TooLong {
            path: "caps.limits".into(),
            len: c.limits.len(),
            max: MAX_LIMITS,
        });
    }
    for (i, l) in c.limits.iter().enumerate() {
        range(
            &format!("caps.limits[{i}].max"),
            l.max,
            l.max > 0,
            "at least 1",
        )?;
    }
    Ok(())
}
