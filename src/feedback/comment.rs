//! Free text a patient or staff writes about a visit or complaint: personal data.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::text::{TextError, clean_text};

/// A free-text comment (评价内容, 投诉描述): personal data, as a patient may name people,
/// conditions and places in it. Masked in `Debug` and `Display` (only its length shows);
/// read it with [`Comment::as_str`] where staff must see it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Comment(String);

impl Comment {
    /// The longest comment accepted, in characters.
    pub const MAX_LEN: usize = 2_000;

    /// Checks a comment: trimmed, not empty, at most [`Self::MAX_LEN`] characters, no control
    /// characters.
    ///
    /// # Errors
    ///
    /// [`TextError`] naming `comment`, with the value masked.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        clean_text("comment", s, Self::MAX_LEN, true).map(Comment)
    }

    /// The text, for staff who must read it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Comment(<{} chars>)", self.0.chars().count())
    }
}

impl fmt::Display for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<comment, {} chars>", self.0.chars().count())
    }
}

impl TryFrom<String> for Comment {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Comment> for String {
    fn from(c: Comment) -> String {
        c.0
    }
}
