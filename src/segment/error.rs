//! The one error type of the segment module.

use super::tag::TagError;
use crate::money::MoneyError;
use crate::text::TextError;

/// Errors from loading expressions and rules, the tag catalog and RFM summaries.
///
/// Expression errors carry the path of the offending node or field, written the way the JSON
/// nests: `any[2].not.visits_in.days`. The root node is named by its kind (`all`), so the path
/// of the third child of a root `any` is `any[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// Nested deeper than [`super::MAX_DEPTH`].
    #[error("{path}: expression nests {depth} levels, more than the limit of {max}")]
    TooDeep {
        /// Where the limit was crossed.
        path: String,
        /// The depth reached.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// An `all` or `any` with more than [`super::MAX_CHILDREN`] children.
    #[error("{path}: {count} children, more than the limit of {max}")]
    TooManyChildren {
        /// The node.
        path: String,
        /// How many children it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`super::MAX_NODES`] nodes in one expression.
    #[error("expression has more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// A number outside the range the field allows.
    #[error("{path}: {value} is outside {min}..={max}")]
    OutOfRange {
        /// The field.
        path: String,
        /// The value given.
        value: i64,
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
    },
    /// A probability bound that is not a number from 0 to 1.
    #[error("{path}: {value} is not a probability from 0 to 1")]
    BadProbability {
        /// The field (`all[1].p_alive.max`).
        path: String,
        /// The value given.
        value: String,
    },
    /// A tag name that does not parse.
    #[error("{path}: {source}")]
    BadTag {
        /// The field.
        path: String,
        /// Why.
        source: TagError,
    },
    /// A condition, channel or tier code that does not parse.
    #[error("{path}: {source}")]
    BadText {
        /// The field.
        path: String,
        /// Why.
        source: TextError,
    },
    /// An amount that does not parse.
    #[error("{path}: {source}")]
    BadAmount {
        /// The field.
        path: String,
        /// Why.
        source: MoneyError,
    },
    /// A code that is not one of the allowed values (a lifecycle stage, a consent purpose).
    #[error("{path}: {value:?} is not one of {expected}")]
    UnknownCode {
        /// The field.
        path: String,
        /// The value given.
        value: String,
        /// The allowed values.
        expected: &'static str,
    },
    /// A tag used in an expression or rule that is not in the catalog.
    #[error("{path}: tag {tag:?} is not in the catalog")]
    UnknownTag {
        /// Where it is used.
        path: String,
        /// The tag.
        tag: String,
    },
    /// A soft-deleted tag used in a new expression or rule.
    #[error("{path}: tag {tag:?} is deleted")]
    DeletedTag {
        /// Where it is used.
        path: String,
        /// The tag.
        tag: String,
    },
    /// A catalog operation on a tag that was never added.
    #[error("tag {tag:?} is not in the catalog")]
    NotInCatalog {
        /// The tag.
        tag: String,
    },
    /// The catalog already holds its limit of live tags.
    #[error("cannot add tag {tag:?}: the catalog holds its limit of {limit} live tags")]
    CatalogFull {
        /// The tag refused.
        tag: String,
        /// The limit.
        limit: usize,
    },
    /// Auto-tag rules whose conditions read each other's tags in a cycle, so no order of
    /// evaluation would be stable.
    #[error("auto-tag rules form a cycle through tag {tag:?}")]
    RuleCycle {
        /// A tag on the cycle.
        tag: String,
    },
    /// More rules than [`super::MAX_RULES`].
    #[error("{count} auto-tag rules, more than the limit of {max}")]
    TooManyRules {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An RFM sum beyond the decimal range.
    #[error("rfm spend of patient {patient} overflows")]
    Overflow {
        /// The patient, as the caller keys it.
        patient: String,
    },
    /// The `now` of a snapshot lies outside the crate's accepted range.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

impl SegmentError {
    /// The same error with `prefix` put before its path (`rules[3].when` + `.any[0].age.min`);
    /// errors without a path are returned as they are.
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        let path = match &mut self {
            SegmentError::TooDeep { path, .. }
            | SegmentError::TooManyChildren { path, .. }
            | SegmentError::OutOfRange { path, .. }
            | SegmentError::BadProbability { path, .. }
            | SegmentError::BadTag { path, .. }
            | SegmentError::BadText { path, .. }
            | SegmentError::BadAmount { path, .. }
            | SegmentError::UnknownCode { path, .. }
            | SegmentError::UnknownTag { path, .. }
            | SegmentError::DeletedTag { path, .. } => path,
            _ => return self,
        };
        *path = if path.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        self
    }
}
