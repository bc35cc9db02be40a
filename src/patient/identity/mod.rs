//! Personal identifiers: mobile numbers, resident id numbers, names and WeChat ids.
//!
//! Each is parsed once into a value that is valid by construction, and each masks itself in
//! `Debug` and `Display`. The full value is reached only through an explicit `expose()`, so a
//! log line or an error message can never leak it by accident.

mod mobile;
mod resident;
#[cfg(test)]
mod tests;
mod text;

pub use mobile::{MobileError, MobileNumber};
pub use resident::{ResidentId, ResidentIdError, Sex, age_on};
pub(crate) use text::clean_text;
pub use text::{ExternalId, PersonName, TextError};

/// Masks `s` keeping `head` leading and `tail` trailing characters, each other character
/// becoming `*`. Short values are masked whole, so that masking never reveals most of a value.
pub(crate) fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= head + tail {
        return "*".repeat(n.max(1));
    }
    let mut out = String::with_capacity(s.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}
