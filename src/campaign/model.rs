//! The campaign as data: what a clinic manager edits and a host stores.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::CampaignError;
use super::usage::UsageAction;
use crate::calendar::{ClinicCalendar, Period};
use crate::id::CampaignId;
use crate::money::{Points, Yuan};
use crate::patient::{ConsentPurpose, Label};
use crate::segment::Expr;

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

/// When a campaign may apply: the instants `[start, end)`, and within them, if a recurrence
/// is set, only the local days it names (in the clinic calendar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The first instant it applies.
    pub start: DateTime<Utc>,
    /// The first instant it no longer applies; `None`: open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// The local days it applies on, inside `[start, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
}

/// The local days a recurring campaign applies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Recurrence {
    /// Day `day` of every month (会员日). In a month shorter than `day`, its last day.
    MonthDay {
        /// 1 to 31.
        day: u32,
    },
    /// One weekday of every week (a weekly lecture day).
    Weekday {
        /// The weekday (`"Mon"` … `"Sun"`).
        weekday: Weekday,
    },
    /// Once a year.
    Anniversary {
        /// Which date.
        of: Anniversary,
    },
}

/// The date of a yearly recurrence. 29 February is kept on 28 February in common years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Anniversary {
    /// The patient's birthday (from [`super::Event::birth_date`]); no birth date, no match.
    Birthday,
    /// A fixed date (the clinic's founding day).
    Date {
        /// 1 to 12.
        month: u32,
        /// 1 to the month's length.
        day: u32,
    },
}

/// Why a window does not hold at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WindowMiss {
    /// Before the start.
    NotStarted,
    /// At or after the end.
    Ended,
    /// Inside `[start, end)` but not a day of the recurrence.
    NotARecurrenceDay,
    /// A birthday recurrence and the event carries no birth date.
    NoBirthDate,
}

impl fmt::Display for WindowMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WindowMiss::NotStarted => "the window has not started",
            WindowMiss::Ended => "the window has ended",
            WindowMiss::NotARecurrenceDay => "today is not a day of its recurrence",
            WindowMiss::NoBirthDate => "a birthday campaign and the birth date is unknown",
        })
    }
}

fn clamp_day(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

impl Recurrence {
    /// Whether the local date `today` is a day of the recurrence.
    pub fn holds_on(
        self,
        today: NaiveDate,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        let hit = match self {
            Recurrence::MonthDay { day } => {
                clamp_day(today.year(), today.month(), day) == Some(today)
            }
            Recurrence::Weekday { weekday } => today.weekday() == weekday,
            Recurrence::Anniversary { of } => {
                let (m, d) = match of {
                    Anniversary::Birthday => match birth_date {
                        Some(b) => (b.month(), b.day()),
                        None => return Err(WindowMiss::NoBirthDate),
                    },
                    Anniversary::Date { month, day } => (month, day),
                };
                clamp_day(today.year(), m, d) == Some(today)
            }
        };
        if hit {
            Ok(())
        } else {
            Err(WindowMiss::NotARecurrenceDay)
        }
    }
}

impl Window {
    /// Whether the window holds at `now`.
    ///
    /// # Errors
    ///
    /// The [`WindowMiss`] saying why not.
    pub fn holds(
        &self,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        self.holds_at(now, calendar.local_date(now), birth_date)
    }

    /// [`Window::holds`] with the local date of `now` already computed.
    pub(crate) fn holds_at(
        &self,
        now: DateTime<Utc>,
        today: NaiveDate,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        if now < self.start {
            return Err(WindowMiss::NotStarted);
        }
        if self.end.is_some_and(|e| now >= e) {
            return Err(WindowMiss::Ended);
        }
        match self.recurrence {
            Some(r) => r.holds_on(today, birth_date),
            None => Ok(()),
        }
    }
}

/// What kind of event a campaign listens to. Visits and first visits are one class of event
/// (a first visit is a visit), so the index keeps them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventClass {
    /// A visit, first or not.
    Visit,
    /// A purchase.
    Purchase,
    /// A referral qualified.
    ReferralQualified,
    /// The patient's birthday.
    Birthday,
    /// The patient enrolled as a member.
    Enrollment,
    /// The membership tier changed.
    TierChanged,
    /// A follow-up came due.
    FollowUpDue,
    /// A manager broadcast a campaign.
    ManualBroadcast,
}

impl EventClass {
    /// Every class, in index order.
    pub const ALL: [EventClass; 8] = [
        EventClass::Visit,
        EventClass::Purchase,
        EventClass::ReferralQualified,
        EventClass::Birthday,
        EventClass::Enrollment,
        EventClass::TierChanged,
        EventClass::FollowUpDue,
        EventClass::ManualBroadcast,
    ];

    pub(crate) fn slot(self) -> usize {
        match self {
            EventClass::Visit => 0,
            EventClass::Purchase => 1,
            EventClass::ReferralQualified => 2,
            EventClass::Birthday => 3,
            EventClass::Enrollment => 4,
            EventClass::TierChanged => 5,
            EventClass::FollowUpDue => 6,
            EventClass::ManualBroadcast => 7,
        }
    }
}

/// The event that makes a campaign fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Trigger {
    /// Any visit.
    Visit,
    /// A purchase of at least `min`.
    Purchase {
        /// The smallest amount that qualifies (¥0: any).
        #[serde(default)]
        min: Yuan,
    },
    /// A patient's first visit.
    FirstVisit,
    /// A referral qualified (the referee's first paid visit).
    ReferralQualified,
    /// The patient's birthday.
    Birthday,
    /// Enrollment as a member.
    Enrollment,
    /// A tier change, to `to` if set.
    TierChanged {
        /// Only a change to this tier code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// A follow-up came due.
    FollowUpDue,
    /// A manager's broadcast of this very campaign.
    ManualBroadcast,
}

impl Trigger {
    /// The class of events it listens to.
    pub fn class(&self) -> EventClass {
        match self {
            Trigger::Visit | Trigger::FirstVisit => EventClass::Visit,
            Trigger::Purchase { .. } => EventClass::Purchase,
            Trigger::ReferralQualified => EventClass::ReferralQualified,
            Trigger::Birthday => EventClass::Birthday,
            Trigger::Enrollment => EventClass::Enrollment,
            Trigger::TierChanged { .. } => EventClass::TierChanged,
            Trigger::FollowUpDue => EventClass::FollowUpDue,
            Trigger::ManualBroadcast => EventClass::ManualBroadcast,
        }
    }

    /// Whether the events it listens to carry an amount paid.
    pub fn has_amount(&self) -> bool {
        matches!(
            self,
            Trigger::Visit | Trigger::FirstVisit | Trigger::Purchase { .. }
        )
    }
}

/// A staff task a campaign asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StaffTaskKind {
    /// A phone call.
    Call,
    /// A home visit.
    HomeVisit,
}

/// What a campaign gives or asks for. Point effects are values for the points module; the
/// rest are for the host to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Effect {
    /// A fixed number of points, 1 to [`MAX_FIXED_POINTS`].
    FixedPoints {
        /// How many.
        points: Points,
    },
    /// Points per ¥1 of the amount paid, rounded down to whole points.
    PointsPerYuan {
        /// Points per ¥1, above 0 and at most 1,000.
        points: Decimal,
    },
    /// Extra points so that the base earning is multiplied: `base × (factor − 1)`, rounded
    /// down (double points: factor 2).
    PointsMultiplier {
        /// Above 1 and at most 100.
        factor: Decimal,
    },
    /// Cashback: `percent`% of the amount paid, rounded with [`crate::money::ROUNDING`], at
    /// most `cap`.
    Cashback {
        /// Above 0 and at most 100.
        percent: Decimal,
        /// The most one application gives, above ¥0.
        cap: Yuan,
    },
    /// A coupon.
    Coupon {
        /// The coupon code or template.
        code: String,
        /// Its face value, if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Yuan>,
    },
    /// A gift.
    Gift {
        /// What is given.
        item: String,
    },
    /// A task for staff.
    StaffTask {
        /// Call or home visit.
        task: StaffTaskKind,
        /// Due within this many days, 0 to 365.
        #[serde(default)]
        due_in_days: u16,
    },
    /// A message from a template.
    Message {
        /// The template id.
        template: String,
    },
}

impl Effect {
    /// Whether this is a marketing benefit (points, cashback, coupon, gift), which a care
    /// campaign may not give.
    pub fn is_marketing(&self) -> bool {
        !matches!(self, Effect::StaffTask { .. } | Effect::Message { .. })
    }

    /// The snake_case name used in JSON and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::FixedPoints { .. } => "fixed_points",
            Effect::PointsPerYuan { .. } => "points_per_yuan",
            Effect::PointsMultiplier { .. } => "points_multiplier",
            Effect::Cashback { .. } => "cashback",
            Effect::Coupon { .. } => "coupon",
            Effect::Gift { .. } => "gift",
            Effect::StaffTask { .. } => "staff_task",
            Effect::Message { .. } => "message",
        }
    }
}

/// A campaign's budget: any of points, ¥ (cashback) and uses, over its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Points it may grant in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
    /// Cashback it may pay in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yuan: Option<Yuan>,
    /// Times it may apply in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u64>,
}

/// Whom a usage limit counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitKey {
    /// Each patient separately.
    Patient,
    /// The whole campaign.
    Campaign,
}

/// The period a usage limit resets on, in the clinic calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitPeriod {
    /// Each local day.
    Day,
    /// Each local week (Monday first).
    Week,
    /// Each local month.
    Month,
    /// Each local year.
    Year,
    /// Never resets.
    Lifetime,
}

impl LimitPeriod {
    /// The calendar period, `None` for lifetime.
    pub fn period(self) -> Option<Period> {
        match self {
            LimitPeriod::Day => Some(Period::Day),
            LimitPeriod::Week => Some(Period::Week),
            LimitPeriod::Month => Some(Period::Month),
            LimitPeriod::Year => Some(Period::Year),
            LimitPeriod::Lifetime => None,
        }
    }
}

/// One usage limit (Talon.One's model): at most `max` of `action` per `per` per `period`.
/// Units: uses for `apply`, points for `earn_points`, fen for `cashback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageLimit {
    /// What is counted.
    pub action: UsageAction,
    /// For each patient or for the whole campaign.
    pub per: LimitKey,
    /// When the count resets.
    pub period: LimitPeriod,
    /// The most allowed, at least 1.
    pub max: u64,
}

/// Budget and usage limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// The campaign's lifetime budget.
    #[serde(default)]
    pub budget: Budget,
    /// Usage limits, at most [`MAX_LIMITS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<UsageLimit>,
}

/// The text a campaign's message shows, checked against the Advertising Law word list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageCopy {
    /// A title, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body, 1 to [`MAX_COPY_CHARS`] characters.
    pub body: String,
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

/// A valid campaign. Build it with [`Campaign::new`] or deserialise it; read it through
/// [`Campaign::spec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CampaignSpec", into = "CampaignSpec")]
pub struct Campaign {
    spec: CampaignSpec,
    care: bool,
    /// Per effect, the integer forms the engine computes with: (rate × 10⁴, cap in fen).
    pub(crate) rates: Vec<(u64, u64)>,
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

fn label(path: &str, s: &str) -> Result<(), CampaignError> {
    Label::parse(s)
        .map(|_| ())
        .map_err(|source| CampaignError::Text {
            path: path.into(),
            source,
        })
}

fn range<T: fmt::Display>(
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

fn combo(path: &str, reason: &str) -> CampaignError {
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
            check_effect(e, &spec.trigger, care)
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
        let rates = spec.effects.iter().map(integer_rates).collect();
        Ok(Campaign { spec, care, rates })
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
}

/// A decimal with at most 4 places, times 10⁴, as an integer (0 when negative or huge).
pub(crate) fn e4(d: Decimal) -> u64 {
    let n = d.normalize();
    let scale = n.scale();
    if scale > 4 {
        return 0;
    }
    let factor = 10i128.pow(4 - scale);
    u64::try_from(n.mantissa().saturating_mul(factor)).unwrap_or(0)
}

fn integer_rates(e: &Effect) -> (u64, u64) {
    match e {
        Effect::PointsPerYuan { points } => (e4(*points), 0),
        Effect::PointsMultiplier { factor } => (e4(*factor - Decimal::ONE), 0),
        Effect::Cashback { percent, cap } => (e4(*percent), super::book::yuan_to_fen(*cap)),
        _ => (0, 0),
    }
}

fn places(path: &str, d: Decimal) -> Result<(), CampaignError> {
    range(
        path,
        d,
        d.normalize().scale() <= 4,
        "numbers with at most 4 decimal places",
    )
}

fn check_window(w: &Window) -> Result<(), CampaignError> {
    if let Some(end) = w.end {
        if end <= w.start {
            return Err(CampaignError::EmptyWindow {
                path: "window.end".into(),
                start: w.start.to_rfc3339(),
                end: end.to_rfc3339(),
            });
        }
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

fn check_effect(e: &Effect, trigger: &Trigger, care: bool) -> Result<(), CampaignError> {
    if care && e.is_marketing() {
        return Err(combo(
            "type",
            &format!(
                "a care campaign (consent care_reminder) may not give {}: that is marketing",
                e.kind()
            ),
        ));
    }
    let needs_amount = || {
        if trigger.has_amount() {
            Ok(())
        } else {
            Err(combo(
                "type",
                &format!(
                    "{} needs an amount paid: the trigger must be visit, first_visit or purchase",
                    e.kind()
                ),
            ))
        }
    };
    match e {
        Effect::FixedPoints { points } => range(
            "points",
            points,
            (1..=MAX_FIXED_POINTS).contains(&points.get()),
            "1..=10000000",
        ),
        Effect::PointsPerYuan { points } => {
            needs_amount()?;
            places("points", *points)?;
            range(
                "points",
                points,
                *points > Decimal::ZERO && *points <= Decimal::ONE_THOUSAND,
                "above 0 and at most 1000",
            )
        }
        Effect::PointsMultiplier { factor } => {
            needs_amount()?;
            places("factor", *factor)?;
            range(
                "factor",
                factor,
                *factor > Decimal::ONE && *factor <= Decimal::ONE_HUNDRED,
                "above 1 and at most 100",
            )
        }
        Effect::Cashback { percent, cap } => {
            needs_amount()?;
            places("percent", *percent)?;
            range(
                "percent",
                percent,
                *percent > Decimal::ZERO && *percent <= Decimal::ONE_HUNDRED,
                "above 0 and at most 100",
            )?;
            range("cap", cap, !cap.is_zero(), "above 0")
        }
        Effect::Coupon { code, .. } => label("code", code),
        Effect::Gift { item } => label("item", item),
        Effect::StaffTask { due_in_days, .. } => {
            range("due_in_days", due_in_days, *due_in_days <= 365, "0..=365")
        }
        Effect::Message { template } => label("template", template),
    }
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
