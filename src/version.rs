//! The optimistic-concurrency token of every aggregate: a vocabulary type, so a domain
//! module can name versions (a campaign's usage counters carry theirs) without standing on
//! the storage ports. [`crate::store`] re-exports both types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of an aggregate in a store: 1 after its first commit, one more after each
/// commit that wrote events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u64);

impl Version {
    /// The version after the first commit.
    pub const FIRST: Version = Version(1);

    /// Wraps a stored version number. Adapters use this when reading their own rows.
    pub const fn new(v: u64) -> Self {
        Version(v)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after this one, or `None` at `u64::MAX`.
    pub const fn next(self) -> Option<Version> {
        match self.0.checked_add(1) {
            Some(v) => Some(Version(v)),
            None => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A value with the version it was loaded at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version.
    pub version: Version,
}
