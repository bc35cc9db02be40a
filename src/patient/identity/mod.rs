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

pub(crate) use crate::text::mask_middle;
pub use mobile::{MobileError, MobileNumber};
pub use resident::{ResidentId, ResidentIdError, Sex, age_on};
pub use text::{ExternalId, PersonName};
