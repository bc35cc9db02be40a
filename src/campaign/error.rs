//! Errors from loading a campaign or a campaign book. Every error names the JSON path of the
//! offending value, relative to what was loaded (`campaigns[3].effects[1].percent`).

use crate::patient::TextError;

/// A campaign or book that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignError {
    /// A required text or list is empty.
    #[error("{path}: must not be empty")]
    Empty {
        /// Where.
        path: String,
    },
    /// A text or list is too long.
    #[error("{path}: length {len} is over the limit of {max}")]
    TooLong {
        /// Where.
        path: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A number is outside its range.
    #[error("{path}: {value} is outside {range}")]
    OutOfRange {
        /// Where.
        path: String,
        /// The value given.
        value: String,
        /// The accepted range.
        range: &'static str,
    },
    /// The window ends at or before it starts.
    #[error("{path}: window end {end} is not after its start {start}")]
    EmptyWindow {
        /// Where.
        path: String,
        /// Its start.
        start: String,
        /// Its end.
        end: String,
    },
    /// Fields that are each valid do not go together.
    #[error("{path}: {reason}")]
    InvalidCombination {
        /// Where.
        path: String,
        /// Why, in plain words.
        reason: String,
    },
    /// Two campaigns share an id.
    #[error("{path}: campaign id {id} is used twice")]
    DuplicateId {
        /// Where the second one is.
        path: String,
        /// The id.
        id: String,
    },
    /// A campaign names an evaluation group the book does not declare.
    #[error("{path}: evaluation group {group:?} is not declared in the book's groups")]
    UnknownGroup {
        /// Where.
        path: String,
        /// The group named.
        group: String,
    },
    /// A text field is malformed.
    #[error("{path}: {source}")]
    Text {
        /// Where.
        path: String,
        /// What is wrong with it.
        #[source]
        source: TextError,
    },
}

impl CampaignError {
    /// The JSON path of the offending value.
    pub fn path(&self) -> &str {
        match self {
            CampaignError::Empty { path }
            | CampaignError::TooLong { path, .. }
            | CampaignError::OutOfRange { path, .. }
            | CampaignError::EmptyWindow { path, .. }
            | CampaignError::InvalidCombination { path, .. }
            | CampaignError::DuplicateId { path, .. }
            | CampaignError::UnknownGroup { path, .. }
            | CampaignError::Text { path, .. } => path,
        }
    }

    /// The same error with `prefix` put before its path (`campaigns[3]` + `.name`).
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        let p = match &mut self {
            CampaignError::Empty { path }
            | CampaignError::TooLong { path, .. }
            | CampaignError::OutOfRange { path, .. }
            | CampaignError::EmptyWindow { path, .. }
            | CampaignError::InvalidCombination { path, .. }
            | CampaignError::DuplicateId { path, .. }
            | CampaignError::UnknownGroup { path, .. }
            | CampaignError::Text { path, .. } => path,
        };
        *p = if p.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{p}")
        };
        self
    }
}
