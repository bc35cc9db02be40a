//! The outreach event storage port.

use super::{StoreError, Version, Versioned};
use crate::event::{Roster, RosterEvent};
use crate::id::OutreachEventId;

/// Where outreach events and their registrations are kept, one [`Roster`] per event.
///
/// Registering is a load–decide–commit loop like every other aggregate:
/// [`event::decide`](crate::event::decide) refuses a full event, and `commit` writes the
/// registration only if the roster is still at the version loaded, so two desks racing
/// for the last seat give it to one: the other's commit conflicts, and on reload its
/// decision refuses. A roster holds patient ids and times only, but who came to an event
/// named after a condition is health data: erasing a patient ([`super::erase_patient`])
/// commits [`Roster::anonymise`]'s event to every roster [`scan`](Self::scan) finds them in,
/// and an adapter must leave no copy of the old seat in its storage.
pub trait OutreachEventStore {
    /// Loads an event's roster and its version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn get(&self, event: OutreachEventId) -> Result<Option<Versioned<Roster>>, StoreError>;

    /// Applies `events` to the roster atomically if its version is still `expected`
    /// (`None`: no roster stored yet), and returns the new version. An empty `events`
    /// writes nothing and returns the current version after the same check.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] on a stale `expected`, [`StoreError::NotFound`] for an
    /// empty commit with `expected` `None`, or events that create no roster,
    /// [`StoreError::Backend`].
    fn commit(
        &mut self,
        event: OutreachEventId,
        expected: Option<Version>,
        events: &[RosterEvent],
    ) -> Result<Version, StoreError>;

    /// Up to `limit` rosters of events with ids greater than `after`, in ascending order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn scan(
        &self,
        after: Option<OutreachEventId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Roster>>, StoreError>;
}

/// Checks `expected` against the stored version and applies `events` with
/// [`event::apply`](crate::event::apply). `Ok(None)` means the commit is valid and writes
/// nothing (no events). Every adapter runs this inside its transaction.
///
/// # Errors
///
/// [`StoreError::Conflict`] on a stale version; [`StoreError::NotFound`] when the events
/// leave no roster (a first commit without `Created`).
pub fn stage_roster_commit(
    event: OutreachEventId,
    current: Option<Versioned<Roster>>,
    expected: Option<Version>,
    events: &[RosterEvent],
) -> Result<Option<Versioned<Roster>>, StoreError> {
    let actual = current.as_ref().map(|v| v.version);
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    if events.is_empty() {
        return Ok(None);
    }
    let mut roster = current.map(|v| v.value);
    for e in events {
        crate::event::apply(&mut roster, e);
    }
    let Some(value) = roster else {
        return Err(StoreError::NotFound {
            what: "outreach event",
            key: event.to_string(),
        });
    };
    Ok(Some(Versioned {
        value,
        version: Version::after(expected)?,
    }))
}
