//! Static checks of a campaign book before it goes live, and the Advertising Law copy lint.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::book::CampaignBook;
use super::model::{Campaign, Effect};
use super::usage::UsageAction;
use crate::id::CampaignId;
use crate::patient::ConsentPurpose;
use crate::segment::TagCatalog;

/// Which medical-advertising rule a word breaks (《广告法》 art. 16, and the rules DOMAIN.md
/// lists for clinics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdLawRule {
    /// Claims of efficacy or cure rates (治愈率, 根治).
    EfficacyClaim,
    /// Guarantees (保证治愈, 无效退款).
    Guarantee,
    /// Comparison with other clinics or doctors.
    Comparison,
    /// Patient testimonials or endorsements.
    Testimonial,
}

impl fmt::Display for AdLawRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdLawRule::EfficacyClaim => "medical ads may not claim efficacy or cure rates",
            AdLawRule::Guarantee => "medical ads may not guarantee results",
            AdLawRule::Comparison => "medical ads may not compare with other clinics",
            AdLawRule::Testimonial => "medical ads may not use patient testimonials",
        })
    }
}

/// The word list copy is checked against: data, extendable by the host.
///
/// Matching is by plain substring, so list the shortest form that is always a breach
/// (`根治` also catches `根治高血压`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdLawWords {
    words: Vec<(String, AdLawRule)>,
}

impl Default for AdLawWords {
    /// The built-in list.
    fn default() -> Self {
        use AdLawRule::*;
        let list: &[(&str, AdLawRule)] = &[
            ("治愈率", EfficacyClaim),
            ("有效率", EfficacyClaim),
            ("根治", EfficacyClaim),
            ("药到病除", EfficacyClaim),
            ("包治", EfficacyClaim),
            ("一次见效", EfficacyClaim),
            ("保证治愈", Guarantee),
            ("无效退款", Guarantee),
            ("无效退费", Guarantee),
            ("包好", Guarantee),
            ("其他诊所", Comparison),
            ("其他医院", Comparison),
            ("别家", Comparison),
            ("同行", Comparison),
            ("最好的", Comparison),
            ("最佳", Comparison),
            ("排名第一", Comparison),
            ("全国第一", Comparison),
            ("患者证言", Testimonial),
            ("患者推荐", Testimonial),
            ("患者评价", Testimonial),
            ("康复案例", Testimonial),
            ("真实案例", Testimonial),
            ("亲身经历", Testimonial),
            ("感谢信", Testimonial),
        ];
        AdLawWords {
            words: list.iter().map(|(w, r)| ((*w).to_owned(), *r)).collect(),
        }
    }
}

impl AdLawWords {
    /// An empty list.
    pub fn empty() -> Self {
        AdLawWords { words: Vec::new() }
    }

    /// Adds a word (ignored when blank or already listed).
    pub fn add(&mut self, word: &str, rule: AdLawRule) {
        let w = word.trim();
        if !w.is_empty() && !self.words.iter().any(|(x, _)| x == w) {
            self.words.push((w.to_owned(), rule));
        }
    }

    /// The same list with a word added.
    pub fn with(mut self, word: &str, rule: AdLawRule) -> Self {
        self.add(word, rule);
        self
    }

    /// The words and their rules, in the order added.
    pub fn words(&self) -> &[(String, AdLawRule)] {
        &self.words
    }
}

/// The listed words found in `text`, in list order.
pub fn lint_copy<'w>(text: &str, words: &'w AdLawWords) -> Vec<(&'w str, AdLawRule)> {
    words
        .words
        .iter()
        .filter(|(w, _)| text.contains(w.as_str()))
        .map(|(w, r)| (w.as_str(), *r))
        .collect()
}

/// Phrases that show a message offers an opt-out (`回复TD退订`, `unsubscribe`).
pub const OPT_OUT_MARKERS: [&str; 4] = ["退订", "回复TD", "拒收", "unsubscribe"];

/// What a static check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The window ended at or before `now`: it can never fire again.
    WindowInPast,
    /// The audience can never be true.
    AudienceNeverTrue {
        /// Why, from the audience language.
        reason: String,
    },
    /// The audience names a tag the catalog does not hold or has deleted.
    UnknownTag {
        /// What the catalog check said.
        reason: String,
    },
    /// Exclusive campaigns of one group listen to the same events in overlapping windows:
    /// only the first in order can ever apply. One finding per campaign, listing the first
    /// [`MAX_LISTED_OVERLAPS`] others by id and counting them all, so that a book of many
    /// overlapping campaigns gives as many findings as campaigns, not their square.
    OverlappingExclusive {
        /// The other campaigns, lowest ids first, at most [`MAX_LISTED_OVERLAPS`].
        others: Vec<CampaignId>,
        /// How many other campaigns overlap it in all.
        count: usize,
    },
    /// A cashback effect without a ¥ budget: the spend is unbounded.
    CashWithoutBudget {
        /// The rule (effect position).
        rule: usize,
    },
    /// A marketing campaign whose audience reads sensitive data (conditions, sensitive tags)
    /// without requiring `health_data_segmentation` consent (PIPL art. 29).
    SensitiveWithoutConsent,
    /// A marketing message whose copy offers no way to opt out (PIPL art. 24: every
    /// personalised push needs one). Looks for [`OPT_OUT_MARKERS`].
    MissingOptOut,
    /// A care campaign (consent `care_reminder`) whose message copy promotes (holds one of
    /// [`super::PROMOTION_MARKERS`]): a promotional message is marketing, so the engine
    /// sends it only to patients who also gave `marketing` consent. Make it a marketing
    /// campaign, or take the offer out of the copy.
    PromotionalCareMessage,
    /// Copy uses a word the Advertising Law forbids in medical ads.
    AdLaw {
        /// The word found.
        word: String,
        /// The rule it breaks.
        rule: AdLawRule,
    },
}

/// One finding of [`check_book`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The campaign.
    pub campaign: CampaignId,
    /// What was found.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// A plain message for the manager.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.campaign, self.message)
    }
}

/// The most other campaigns one [`FindingKind::OverlappingExclusive`] lists by id; its
/// `count` says how many there are.
pub const MAX_LISTED_OVERLAPS: usize = 8;

fn overlaps(a: &Campaign, b: &Campaign) -> bool {
    let (wa, wb) = (&a.spec().window, &b.spec().window);
    let a_before_b_ends = wb.end.is_none_or(|e| wa.start < e);
    let b_before_a_ends = wa.end.is_none_or(|e| wb.start < e);
    a_before_b_ends && b_before_a_ends
}

/// For each exclusive campaign (by position), the ids of the other exclusive campaigns of its
/// group and event class whose windows overlap its own, ascending. Only campaigns sharing a
/// group and class are compared.
fn exclusive_overlaps(book: &CampaignBook) -> BTreeMap<usize, Vec<CampaignId>> {
    let mut buckets: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, c) in book.campaigns().iter().enumerate() {
        let s = c.spec();
        if let (true, Some(g)) = (s.exclusive, s.group.as_deref()) {
            buckets
                .entry((g, s.trigger.class().slot()))
                .or_default()
                .push(i);
        }
    }
    let mut out: BTreeMap<usize, Vec<CampaignId>> = BTreeMap::new();
    let campaigns = book.campaigns();
    for members in buckets.values() {
        for (n, &i) in members.iter().enumerate() {
            for &j in members.iter().skip(n + 1) {
                if let (Some(a), Some(b)) = (campaigns.get(i), campaigns.get(j))
                    && overlaps(a, b)
                {
                    out.entry(i).or_default().push(b.id());
                    out.entry(j).or_default().push(a.id());
                }
            }
        }
    }
    for ids in out.values_mut() {
        ids.sort_unstable();
    }
    out
}

/// Checks every campaign of a book. Findings are sorted by campaign id, then in the order
/// the checks are listed in [`FindingKind`].
///
/// The findings are bounded by the book: at most one of each kind per campaign, except
/// [`FindingKind::CashWithoutBudget`] (one per effect, at most
/// [`super::MAX_EFFECTS`]) and [`FindingKind::AdLaw`] (one per listed word found). Overlaps
/// of exclusive campaigns are compared pairwise within a group and event class, which a
/// book's [`super::MAX_CAMPAIGNS`] keeps small.
#[must_use = "the findings say what can never fire or should not go live"]
pub fn check_book(
    book: &CampaignBook,
    now: DateTime<Utc>,
    catalog: &TagCatalog,
    words: &AdLawWords,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut overlapping = exclusive_overlaps(book);
    for (i, c) in book.campaigns().iter().enumerate() {
        let mut found = Found {
            out: &mut out,
            id: c.id(),
        };
        window_in_past(&mut found, c, now);
        audience_never_true(&mut found, c);
        unknown_tag(&mut found, c, catalog);
        if let Some(others) = overlapping.remove(&i) {
            overlapping_exclusive(&mut found, c, others);
        }
        cash_without_budget(&mut found, c);
        sensitive_without_consent(&mut found, c, catalog);
        missing_opt_out(&mut found, c);
        promotional_care_message(&mut found, c);
        ad_law(&mut found, c, words);
    }
    out.sort_by_key(|f| f.campaign);
    out
}

/// The findings of one campaign, pushed in the order of the checks.
struct Found<'a> {
    out: &'a mut Vec<Finding>,
    id: CampaignId,
}

impl Found<'_> {
    fn push(&mut self, kind: FindingKind, message: String) {
        self.out.push(Finding {
            campaign: self.id,
            kind,
            message,
        });
    }
}

fn window_in_past(found: &mut Found<'_>, c: &Campaign, now: DateTime<Utc>) {
    if let Some(end) = c.spec().window.end.filter(|e| *e <= now) {
        found.push(
            FindingKind::WindowInPast,
            format!(
                "the window ended at {}: it can never fire",
                end.to_rfc3339()
            ),
        );
    }
}

fn audience_never_true(found: &mut Found<'_>, c: &Campaign) {
    if let Some(reason) = c.spec().audience.contradiction() {
        found.push(
            FindingKind::AudienceNeverTrue {
                reason: reason.clone(),
            },
            format!("the audience can never be true: {reason}"),
        );
    }
}

fn unknown_tag(found: &mut Found<'_>, c: &Campaign, catalog: &TagCatalog) {
    if let Err(e) = c.spec().audience.check_tags(catalog) {
        found.push(
            FindingKind::UnknownTag {
                reason: e.to_string(),
            },
            format!("the audience names a tag that is not live: {e}"),
        );
    }
}

fn overlapping_exclusive(found: &mut Found<'_>, c: &Campaign, mut others: Vec<CampaignId>) {
    let count = others.len();
    others.truncate(MAX_LISTED_OVERLAPS);
    let mut list = others
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if count > others.len() {
        list.push_str(&format!(" and {} more", count - others.len()));
    }
    found.push(
        FindingKind::OverlappingExclusive { others, count },
        format!(
            "exclusive in group {:?} with {list} over overlapping windows: only the first in priority order can apply",
            c.spec().group.as_deref().unwrap_or(""),
        ),
    );
}

fn cash_without_budget(found: &mut Found<'_>, c: &Campaign) {
    let s = c.spec();
    if s.caps.budget.yuan.is_none() {
        for (rule, e) in s.effects.iter().enumerate() {
            if e.draws_on() == Some(UsageAction::Cashback) {
                found.push(
                    FindingKind::CashWithoutBudget { rule },
                    format!("effects[{rule}] pays cashback but the campaign has no ¥ budget"),
                );
            }
        }
    }
}

fn sensitive_without_consent(found: &mut Found<'_>, c: &Campaign, catalog: &TagCatalog) {
    let s = c.spec();
    if !c.is_care()
        && !s.consent.contains(&ConsentPurpose::HealthDataSegmentation)
        && s.audience.uses_sensitive_data(catalog)
    {
        found.push(
            FindingKind::SensitiveWithoutConsent,
            "a marketing audience reads health data but health_data_segmentation consent is not required".into(),
        );
    }
}

fn missing_opt_out(found: &mut Found<'_>, c: &Campaign) {
    let s = c.spec();
    let sends_message = s.effects.iter().any(Effect::sends_message);
    if let Some(copy) = s.copy.as_ref().filter(|_| sends_message && !c.is_care()) {
        let lower = copy.body.to_lowercase();
        if !OPT_OUT_MARKERS
            .iter()
            .any(|m| lower.contains(&m.to_lowercase()))
        {
            found.push(
                FindingKind::MissingOptOut,
                "a marketing message without an opt-out (add 回复TD退订 or similar)".into(),
            );
        }
    }
}

fn promotional_care_message(found: &mut Found<'_>, c: &Campaign) {
    if c.is_care() && c.promotes() {
        found.push(
            FindingKind::PromotionalCareMessage,
            "a care campaign sends promotional copy: only patients with marketing consent will get it (make it a marketing campaign or take the offer out)".into(),
        );
    }
}

fn ad_law(found: &mut Found<'_>, c: &Campaign, words: &AdLawWords) {
    if let Some(copy) = &c.spec().copy {
        let mut text = copy.title.clone().unwrap_or_default();
        text.push('\n');
        text.push_str(&copy.body);
        for (word, rule) in lint_copy(&text, words) {
            found.push(
                FindingKind::AdLaw {
                    word: word.to_owned(),
                    rule,
                },
                format!("copy uses {word:?}: {rule}"),
            );
        }
    }
}
