//! Grouped tag names, the organisation's tag catalog and a patient's tag set.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use super::SegmentError;

/// WeCom's limit on a tag name, in characters, which this crate adopts.
pub const MAX_TAG_CHARS: usize = 30;

/// WeCom's limit on live tags per organisation, the default for a [`TagCatalog`].
pub const DEFAULT_TAG_LIMIT: usize = 3_000;

/// A tag name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// Empty after trimming.
    #[error("tag name is empty")]
    Empty,
    /// Longer than [`MAX_TAG_CHARS`].
    #[error("tag name {value:?} has {len} characters, more than the limit of {max}")]
    TooLong {
        /// The name given.
        value: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Holds a control character.
    #[error("tag name {value:?} contains a control character")]
    Control {
        /// The name given.
        value: String,
    },
    /// Not of the form `group/name` with exactly one `/` and both parts non-empty.
    #[error("tag name {value:?} is not of the form group/name")]
    NotGrouped {
        /// The name given.
        value: String,
    },
}

/// A grouped tag name such as `condition/高血压` or `channel/小红书`.
///
/// Valid names are trimmed, at most [`MAX_TAG_CHARS`] characters in all, hold no control
/// characters, and have exactly one `/` with a non-empty, untrimmed-space-free group before it
/// and name after it. The group decides sensitivity in a [`TagCatalog`]: `condition/…` tags are
/// health data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagName {
    text: String,
    slash: usize,
    /// A hash of `text`, so membership tests compare 8 inline bytes before touching the
    /// string on the heap.
    hash: u64,
}

/// FNV-1a over the text: deterministic across runs and machines, and cheap on short names.
pub(crate) fn text_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl TagName {
    /// Checks a tag name.
    ///
    /// # Errors
    ///
    /// A [`TagError`] naming the value and the broken rule.
    pub fn parse(s: &str) -> Result<Self, TagError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(TagError::Empty);
        }
        let len = t.chars().count();
        if len > MAX_TAG_CHARS {
            return Err(TagError::TooLong {
                value: t.to_owned(),
                len,
                max: MAX_TAG_CHARS,
            });
        }
        if t.chars().any(char::is_control) {
            return Err(TagError::Control {
                value: t.to_owned(),
            });
        }
        let not_grouped = || TagError::NotGrouped {
            value: t.to_owned(),
        };
        let slash = t.find('/').ok_or_else(not_grouped)?;
        let (group, rest) = (&t[..slash], &t[slash + 1..]);
        let padded = |p: &str| p.is_empty() || p.trim() != p;
        if padded(group) || padded(rest) || rest.contains('/') {
            return Err(not_grouped());
        }
        Ok(TagName {
            text: t.to_owned(),
            slash,
            hash: text_hash(t),
        })
    }

    /// The whole name, `group/name`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The group, before the `/`.
    #[must_use]
    pub fn group(&self) -> &str {
        self.text.get(..self.slash).unwrap_or("")
    }

    /// The name within the group, after the `/`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.text.get(self.slash + 1..).unwrap_or("")
    }
}

impl fmt::Debug for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagName({:?})", self.text)
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for TagName {
    type Err = TagError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TagName {
    type Error = TagError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TagName> for String {
    fn from(t: TagName) -> String {
        t.text
    }
}

/// Whether a tag is in the catalog, and whether it is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    /// In the catalog and usable.
    Live,
    /// Soft-deleted: kept for history, refused in new rules and audiences.
    Deleted,
    /// Never added.
    Unknown,
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagEntry {
    /// When the tag was (last) added.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub created_at: DateTime<Utc>,
    /// When it was soft-deleted, if it is.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The organisation's tag catalog: which tags exist, which are deleted, and which groups are
/// sensitive.
///
/// Deleting is a soft delete: the entry stays, so history and old audit traces still resolve,
/// but [`crate::segment::Expr::check_tags`] refuses it in new rules. Only live tags count
/// towards the limit ([`DEFAULT_TAG_LIMIT`] by default, WeCom's). Groups marked sensitive hold
/// health data (PIPL art. 28); `condition` is sensitive by default.
///
/// Serde goes through the same check as [`TagCatalog::add`]: a stored catalog with more live
/// tags than its limit is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogData", into = "CatalogData")]
pub struct TagCatalog {
    limit: usize,
    live: usize,
    tags: BTreeMap<TagName, TagEntry>,
    sensitive_groups: BTreeSet<String>,
}

/// The stored form of a catalog.
#[derive(Serialize, Deserialize)]
struct CatalogData {
    limit: usize,
    tags: BTreeMap<TagName, TagEntry>,
    sensitive_groups: BTreeSet<String>,
}

impl TryFrom<CatalogData> for TagCatalog {
    type Error = SegmentError;
    fn try_from(d: CatalogData) -> Result<Self, Self::Error> {
        let live = d.tags.values().filter(|e| e.deleted_at.is_none()).count();
        if live > d.limit {
            let last = d.tags.keys().last().map(|t| t.to_string());
            return Err(SegmentError::CatalogFull {
                tag: last.unwrap_or_default(),
                limit: d.limit,
            });
        }
        Ok(TagCatalog {
            limit: d.limit,
            live,
            tags: d.tags,
            sensitive_groups: d.sensitive_groups,
        })
    }
}

impl From<TagCatalog> for CatalogData {
    fn from(c: TagCatalog) -> Self {
        CatalogData {
            limit: c.limit,
            tags: c.tags,
            sensitive_groups: c.sensitive_groups,
        }
    }
}

impl Default for TagCatalog {
    fn default() -> Self {
        Self::new()
    }
}

impl TagCatalog {
    /// The groups sensitive by default: health conditions.
    pub const DEFAULT_SENSITIVE_GROUPS: [&'static str; 1] = ["condition"];

    /// An empty catalog with the default limit and sensitive groups.
    #[must_use]
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_TAG_LIMIT)
    }

    /// An empty catalog holding at most `limit` live tags.
    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        TagCatalog {
            limit,
            live: 0,
            tags: BTreeMap::new(),
            sensitive_groups: Self::DEFAULT_SENSITIVE_GROUPS
                .iter()
                .map(|g| (*g).to_owned())
                .collect(),
        }
    }

    /// Marks a group (`diagnosis`, `medication`) as holding sensitive health data.
    pub fn mark_sensitive(&mut self, group: &str) {
        self.sensitive_groups.insert(group.trim().to_owned());
    }

    /// Whether the tag's group is sensitive. Works for tags not in the catalog too, so an
    /// unknown `condition/…` tag is still treated as health data.
    #[must_use]
    pub fn is_sensitive(&self, tag: &TagName) -> bool {
        self.sensitive_groups.contains(tag.group())
    }

    /// The live-tag limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many tags are live.
    #[must_use]
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Adds a tag, or revives a soft-deleted one. Adding a live tag again changes nothing.
    ///
    /// # Errors
    ///
    /// [`SegmentError::CatalogFull`] when the limit of live tags is reached.
    pub fn add(&mut self, tag: TagName, now: DateTime<Utc>) -> Result<(), SegmentError> {
        let status = self.status(&tag);
        if status == TagStatus::Live {
            return Ok(());
        }
        if self.live >= self.limit {
            return Err(SegmentError::CatalogFull {
                tag: tag.to_string(),
                limit: self.limit,
            });
        }
        self.tags.insert(
            tag,
            TagEntry {
                created_at: now,
                deleted_at: None,
            },
        );
        self.live += 1;
        Ok(())
    }

    /// Soft-deletes a live tag. Deleting a deleted tag changes nothing.
    ///
    /// # Errors
    ///
    /// [`SegmentError::NotInCatalog`] when the tag was never added.
    pub fn delete(&mut self, tag: &TagName, now: DateTime<Utc>) -> Result<(), SegmentError> {
        match self.tags.get_mut(tag) {
            None => Err(SegmentError::NotInCatalog {
                tag: tag.to_string(),
            }),
            Some(e) if e.deleted_at.is_some() => Ok(()),
            Some(e) => {
                e.deleted_at = Some(now);
                self.live = self.live.saturating_sub(1);
                Ok(())
            }
        }
    }

    /// The entry for a tag, deleted or not.
    #[must_use]
    pub fn get(&self, tag: &TagName) -> Option<&TagEntry> {
        self.tags.get(tag)
    }

    /// Whether the tag is live, deleted or unknown.
    #[must_use]
    pub fn status(&self, tag: &TagName) -> TagStatus {
        match self.tags.get(tag) {
            None => TagStatus::Unknown,
            Some(e) if e.deleted_at.is_some() => TagStatus::Deleted,
            Some(_) => TagStatus::Live,
        }
    }

    /// The live tags, in name order.
    pub fn live(&self) -> impl Iterator<Item = &TagName> {
        self.tags
            .iter()
            .filter(|(_, e)| e.deleted_at.is_none())
            .map(|(t, _)| t)
    }
}

/// The tags one patient carries: a sorted set without duplicates.
///
/// Kept as a sorted vector with a parallel vector of name hashes, because patients carry a
/// handful of tags and rules test membership millions of times: scanning a few inline hashes
/// costs one cache line, where comparing names would chase a pointer per tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "Vec<TagName>", into = "Vec<TagName>")]
pub struct TagSet {
    tags: Vec<TagName>,
    hashes: Vec<u64>,
}

impl TagSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds the tag.
    #[must_use]
    pub fn contains(&self, tag: &TagName) -> bool {
        if self.tags.len() > 16 {
            return self.tags.binary_search(tag).is_ok();
        }
        self.hashes
            .iter()
            .zip(&self.tags)
            .any(|(h, t)| *h == tag.hash && t == tag)
    }

    /// Adds a tag; `true` when it was not there.
    pub fn insert(&mut self, tag: TagName) -> bool {
        match self.tags.binary_search(&tag) {
            Ok(_) => false,
            Err(at) => {
                self.hashes.insert(at, tag.hash);
                self.tags.insert(at, tag);
                true
            }
        }
    }

    /// Removes a tag; `true` when it was there.
    pub fn remove(&mut self, tag: &TagName) -> bool {
        match self.tags.binary_search(tag) {
            Ok(at) => {
                self.tags.remove(at);
                self.hashes.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The tags in name order.
    pub fn iter(&self) -> impl Iterator<Item = &TagName> {
        self.tags.iter()
    }

    /// How many tags.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

impl From<Vec<TagName>> for TagSet {
    fn from(mut tags: Vec<TagName>) -> Self {
        tags.sort();
        tags.dedup();
        let hashes = tags.iter().map(|t| t.hash).collect();
        TagSet { tags, hashes }
    }
}

impl From<TagSet> for Vec<TagName> {
    fn from(s: TagSet) -> Self {
        s.tags
    }
}

impl FromIterator<TagName> for TagSet {
    fn from_iter<I: IntoIterator<Item = TagName>>(iter: I) -> Self {
        TagSet::from(iter.into_iter().collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    #[test]
    fn names_are_grouped_and_bounded() {
        let tag = t("  condition/高血压 ");
        assert_eq!(tag.as_str(), "condition/高血压");
        assert_eq!(tag.group(), "condition");
        assert_eq!(tag.name(), "高血压");
        assert_eq!(TagName::parse(" "), Err(TagError::Empty));
        for bad in ["高血压", "/x", "x/", "a/b/c", "a /b", "a/\u{7}"] {
            assert!(TagName::parse(bad).is_err(), "{bad}");
        }
        let thirty = format!("g/{}", "字".repeat(28));
        assert!(TagName::parse(&thirty).is_ok());
        let e = TagName::parse(&format!("{thirty}字")).unwrap_err();
        assert!(e.to_string().contains("31 characters"), "{e}");
        assert!(serde_json::from_str::<TagName>("\"nogroup\"").is_err());
    }

    #[test]
    fn catalog_limit_soft_delete_and_sensitivity() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut c = TagCatalog::with_limit(2);
        c.add(t("condition/高血压"), now).unwrap();
        c.add(t("channel/小红书"), now).unwrap();
        c.add(t("channel/小红书"), now).unwrap();
        assert!(matches!(
            c.add(t("value/vip"), now),
            Err(SegmentError::CatalogFull { limit: 2, .. })
        ));
        c.delete(&t("channel/小红书"), now).unwrap();
        assert_eq!(c.status(&t("channel/小红书")), TagStatus::Deleted);
        assert_eq!(c.live_count(), 1);
        c.add(t("value/vip"), now).unwrap();
        assert_eq!(c.live().count(), 2);
        assert!(c.is_sensitive(&t("condition/高血压")));
        assert!(c.is_sensitive(&t("condition/unknown")));
        assert!(!c.is_sensitive(&t("value/vip")));
        assert!(c.delete(&t("x/y"), now).is_err());
        let json = serde_json::to_string(&c).unwrap();
        let back: TagCatalog = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let over = json.replace("\"limit\":2", "\"limit\":1");
        assert!(serde_json::from_str::<TagCatalog>(&over).is_err());
    }

    #[test]
    fn tag_sets_stay_sorted_and_unique() {
        let mut s: TagSet = vec![t("b/1"), t("a/1"), t("b/1")].into();
        assert_eq!(s.len(), 2);
        assert!(s.insert(t("a/0")));
        assert!(!s.insert(t("a/0")));
        assert!(s.contains(&t("b/1")));
        assert!(s.remove(&t("b/1")));
        let v: Vec<&str> = s.iter().map(TagName::as_str).collect();
        assert_eq!(v, ["a/0", "a/1"]);
    }
}
