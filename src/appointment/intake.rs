//! The pre-visit consult's intake answers: health data, masked in `Debug`.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::text::{TextError, clean_text};

/// The answers to a first visit's intake questionnaire (问诊单): the symptoms and the history
/// the patient reports before the slot. Health data (PIPL art. 28): recorded only under the
/// patient's care consent, masked in `Debug`, and erased with the patient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAnswers")]
pub struct IntakeAnswers {
    symptoms: String,
    history: Option<String>,
}

#[derive(Deserialize)]
struct RawAnswers {
    symptoms: String,
    #[serde(default)]
    history: Option<String>,
}

impl TryFrom<RawAnswers> for IntakeAnswers {
    type Error = TextError;
    fn try_from(r: RawAnswers) -> Result<Self, Self::Error> {
        IntakeAnswers::new(&r.symptoms, r.history.as_deref())
    }
}

impl IntakeAnswers {
    /// The longest answer accepted, in characters.
    pub const MAX_LEN: usize = 2_000;

    /// Checks the answers: trimmed, not empty, at most [`Self::MAX_LEN`] characters, no
    /// control characters.
    ///
    /// # Errors
    ///
    /// [`TextError`] naming `symptoms` or `history`, with the value masked.
    pub fn new(symptoms: &str, history: Option<&str>) -> Result<Self, TextError> {
        Ok(IntakeAnswers {
            symptoms: clean_text("symptoms", symptoms, Self::MAX_LEN, true)?,
            history: history
                .map(|h| clean_text("history", h, Self::MAX_LEN, true))
                .transpose()?,
        })
    }

    /// The symptoms reported.
    #[must_use]
    pub fn symptoms(&self) -> &str {
        &self.symptoms
    }

    /// The history reported, if any.
    #[must_use]
    pub fn history(&self) -> Option<&str> {
        self.history.as_deref()
    }
}

impl fmt::Debug for IntakeAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntakeAnswers")
            .field(
                "symptoms",
                &format_args!("<{} chars>", self.symptoms.chars().count()),
            )
            .field("history", &self.history.as_ref().map(|_| "<masked>"))
            .finish()
    }
}
