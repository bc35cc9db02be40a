//! The content library: lessons, medicine notes and offers, tagged by condition, with the
//! Advertising Law findings of their copy.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::ContentError;
use super::post::{CopyFinding, MAX_COPY_CHARS, lint_findings};
use crate::campaign::AdLawWords;
use crate::id::ContentItemId;
use crate::patient::{ConditionCode, ConsentPurpose, Patient};
use crate::text::Label;

/// What a piece of content is for, which decides the consent sending it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentNature {
    /// Health education (每日一学) or a medicine note (每日一药): care when it is about a
    /// condition the patient has an open chronic file for, marketing otherwise.
    Education,
    /// Anything that promotes a service, a product or an event: always marketing.
    Promotional,
}

/// The most condition tags on one item.
pub const MAX_CONDITIONS: usize = 16;

/// One piece of a content library.
///
/// Its copy goes through the Advertising Law lint campaigns and posts use; the findings are
/// kept with the item, and a sequence that would send an item with findings is refused by
/// [`check_sequence`](super::check_sequence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawContentItem")]
pub struct ContentItem {
    id: ContentItemId,
    title: Label,
    nature: ContentNature,
    conditions: BTreeSet<ConditionCode>,
    copy: String,
    findings: Vec<CopyFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContentItem {
    id: ContentItemId,
    title: Label,
    nature: ContentNature,
    #[serde(default)]
    conditions: Vec<ConditionCode>,
    copy: String,
    #[serde(default)]
    findings: Vec<CopyFinding>,
}

impl TryFrom<RawContentItem> for ContentItem {
    type Error = ContentError;
    fn try_from(r: RawContentItem) -> Result<Self, Self::Error> {
        let mut item = ContentItem::build(r.id, r.title, r.nature, r.conditions, r.copy)?;
        // Stored findings record the word list of the day the copy was written.
        item.findings = r.findings;
        Ok(item)
    }
}

impl ContentItem {
    /// An item, its copy checked against `words`.
    ///
    /// # Errors
    ///
    /// [`ContentError::ItemCopyTooLong`] for copy over [`MAX_COPY_CHARS`],
    /// [`ContentError::TooManyConditions`] for more than [`MAX_CONDITIONS`] tags.
    pub fn new(
        id: ContentItemId,
        title: Label,
        nature: ContentNature,
        conditions: Vec<ConditionCode>,
        copy: &str,
        words: &AdLawWords,
    ) -> Result<Self, ContentError> {
        let mut item = Self::build(id, title, nature, conditions, copy.to_owned())?;
        item.findings = lint_findings(&item.copy, words);
        Ok(item)
    }

    fn build(
        id: ContentItemId,
        title: Label,
        nature: ContentNature,
        conditions: Vec<ConditionCode>,
        copy: String,
    ) -> Result<Self, ContentError> {
        if conditions.len() > MAX_CONDITIONS {
            return Err(ContentError::TooManyConditions {
                item: id,
                count: conditions.len(),
                max: MAX_CONDITIONS,
            });
        }
        let chars = copy.chars().count();
        if chars > MAX_COPY_CHARS {
            return Err(ContentError::ItemCopyTooLong {
                item: id,
                chars,
                max: MAX_COPY_CHARS,
            });
        }
        Ok(ContentItem {
            id,
            title,
            nature,
            conditions: conditions.into_iter().collect(),
            copy,
            findings: Vec::new(),
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> ContentItemId {
        self.id
    }

    /// The title staff and patients see.
    #[must_use]
    pub fn title(&self) -> &Label {
        &self.title
    }

    /// Education or promotion.
    #[must_use]
    pub fn nature(&self) -> ContentNature {
        self.nature
    }

    /// The conditions it is about (none: general).
    #[must_use]
    pub fn conditions(&self) -> &BTreeSet<ConditionCode> {
        &self.conditions
    }

    /// The copy.
    #[must_use]
    pub fn copy(&self) -> &str {
        &self.copy
    }

    /// The Advertising Law findings of the copy.
    #[must_use]
    pub fn findings(&self) -> &[CopyFinding] {
        &self.findings
    }

    /// The consent sending this item to `patient` rests on: health education about a
    /// condition the patient has an open chronic file for is care
    /// ([`ConsentPurpose::CareReminder`]); anything promotional, and education about
    /// anything else, is [`ConsentPurpose::Marketing`].
    #[must_use]
    pub fn purpose_for(&self, patient: &Patient) -> ConsentPurpose {
        let own_condition = self
            .conditions
            .iter()
            .any(|c| patient.open_chronic_file(c).is_some());
        match self.nature {
            ContentNature::Education if own_condition => ConsentPurpose::CareReminder,
            _ => ConsentPurpose::Marketing,
        }
    }
}

/// A clinic's content items, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<ContentItem>", into = "Vec<ContentItem>")]
pub struct ContentLibrary {
    items: BTreeMap<ContentItemId, ContentItem>,
}

impl TryFrom<Vec<ContentItem>> for ContentLibrary {
    type Error = ContentError;
    fn try_from(items: Vec<ContentItem>) -> Result<Self, Self::Error> {
        ContentLibrary::new(items)
    }
}

impl From<ContentLibrary> for Vec<ContentItem> {
    fn from(l: ContentLibrary) -> Self {
        l.items.into_values().collect()
    }
}

impl ContentLibrary {
    /// The most items of one library.
    pub const MAX_ITEMS: usize = 100_000;

    /// A library.
    ///
    /// # Errors
    ///
    /// [`ContentError::DuplicateItem`] for an id given twice,
    /// [`ContentError::TooManyItems`] past [`ContentLibrary::MAX_ITEMS`].
    pub fn new(items: Vec<ContentItem>) -> Result<Self, ContentError> {
        if items.len() > Self::MAX_ITEMS {
            return Err(ContentError::TooManyItems {
                count: items.len(),
                max: Self::MAX_ITEMS,
            });
        }
        let mut out = BTreeMap::new();
        for item in items {
            let id = item.id;
            if out.insert(id, item).is_some() {
                return Err(ContentError::DuplicateItem { item: id });
            }
        }
        Ok(ContentLibrary { items: out })
    }

    /// An item.
    #[must_use]
    pub fn get(&self, id: ContentItemId) -> Option<&ContentItem> {
        self.items.get(&id)
    }

    /// Every item, by id.
    pub fn items(&self) -> impl Iterator<Item = &ContentItem> {
        self.items.values()
    }

    /// The items tagged with `condition`, by id.
    pub fn about<'a>(
        &'a self,
        condition: &'a ConditionCode,
    ) -> impl Iterator<Item = &'a ContentItem> + 'a {
        self.items
            .values()
            .filter(move |i| i.conditions.contains(condition))
    }
}
