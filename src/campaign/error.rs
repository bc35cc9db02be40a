//! Errors from loading a campaign or a campaign book. Every error names the JSON path of the
//! offending value, relative to what was loaded (`campaigns[3].effects[1].percent`).

use crate::patient::TextError;
use crate::segment::SegmentError;

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
    /// An instant lies outside the crate's accepted range: a window's bound (the path names
    /// it) or the `now` of an evaluation (the path is then empty: it is an argument, not part
    /// of what was loaded).
    #[error("{}{error}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
    Calendar {
        /// Where (empty for an argument).
        path: String,
        /// The range error, naming the value.
        #[source]
        error: crate::calendar::CalendarError,
    },
    /// The audience breaks a limit or range of the expression language: the error loading
    /// gives for the same expression, whose own path is relative to the audience.
    #[error("{path}: {source}")]
    Audience {
        /// Where (`audience`, under the campaign's path in a book).
        path: String,
        /// What is wrong, as [`crate::segment::Expr::validate`] and loading say it.
        #[source]
        source: SegmentError,
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
            | CampaignError::Text { path, .. }
            | CampaignError::Calendar { path, .. }
            | CampaignError::Audience { path, .. } => path,
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
            | CampaignError::Text { path, .. }
            | CampaignError::Calendar { path, .. }
            | CampaignError::Audience { path, .. } => path,
        };
        *p = if p.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{p}")
        };
        self
    }
}

/// Deserialises a list, naming the index of an element that fails (`campaigns[3]: invalid
/// type: …`), so that malformed JSON points at the element even where serde's own error
/// only knows a line and column.
///
/// A list longer than `max` is refused as soon as element `max` arrives (`campaigns: more
/// than the limit of 2000`), so a huge list is not read, let alone kept, to be refused later.
pub(crate) fn indexed<'de, D, T>(d: D, field: &'static str, max: usize) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Seq<T> {
        field: &'static str,
        max: usize,
        marker: std::marker::PhantomData<T>,
    }
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of {}", self.field)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            loop {
                let i = out.len();
                if i == self.max {
                    if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                        return Ok(out);
                    }
                    return Err(serde::de::Error::custom(format_args!(
                        "{}: more than the limit of {}",
                        self.field, self.max
                    )));
                }
                match seq.next_element::<T>() {
                    Ok(Some(v)) => out.push(v),
                    Ok(None) => return Ok(out),
                    Err(e) => {
                        let inner = e.to_string();
                        // A nested list already named its element: join the paths.
                        let nested = inner.split_once(": ").is_some_and(|(p, _)| is_path(p));
                        let sep = if nested { "." } else { ": " };
                        return Err(serde::de::Error::custom(format_args!(
                            "{}[{i}]{sep}{inner}",
                            self.field
                        )));
                    }
                }
            }
        }
    }
    d.deserialize_seq(Seq {
        field,
        max,
        marker: std::marker::PhantomData,
    })
}

pub(crate) fn campaigns<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    indexed(d, "campaigns", super::book::MAX_CAMPAIGNS)
}

pub(crate) fn effects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    // Campaign::new refuses more than MAX_EFFECTS with the length given, which needs them all
    // read; an effect is a few fields, so the input's own size bounds this.
    indexed(d, "effects", usize::MAX)
}

pub(crate) fn limits<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    indexed(d, "caps.limits", usize::MAX)
}

/// Whether `s` looks like a path this module writes: `effects[1]`, `caps.limits[0]`.
fn is_path(s: &str) -> bool {
    let Some((name, rest)) = s.split_once('[') else {
        return false;
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
        && rest
            .strip_suffix(']')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl From<crate::calendar::CalendarError> for CampaignError {
    /// A range error about an argument (no path).
    fn from(error: crate::calendar::CalendarError) -> Self {
        CampaignError::Calendar {
            path: String::new(),
            error,
        }
    }
}
