//! Journey event keys and the keys derived from them.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::points::CommandKey;

/// The idempotency key of one clinic event: the host's own (an order number, a message id),
/// or [`EventKey::of_content`] of the event's content.
///
/// Every command the journey layer makes for an event has a key derived from this one
/// ([`EventKey::derive`]), so an event decided twice makes the same commands, which the
/// modules recognise as retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventKey(u64);

/// What a derived key is for, so that the keys one event derives never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUse {
    /// A purchase's base earning.
    Earn,
    /// A campaign bonus on a purchase.
    Bonus,
    /// Points paying for a purchase, or a plain redemption.
    Redeem,
    /// A refund's ledger command.
    Refund,
    /// A refund taking a campaign bonus back.
    BonusBack,
    /// An expiry run.
    Expire,
}

impl KeyUse {
    fn tag(self) -> u8 {
        match self {
            KeyUse::Earn => 1,
            KeyUse::Bonus => 2,
            KeyUse::Redeem => 3,
            KeyUse::Refund => 4,
            KeyUse::BonusBack => 5,
            KeyUse::Expire => 6,
        }
    }
}

impl EventKey {
    /// A key the host chose.
    pub const fn new(raw: u64) -> Self {
        EventKey(raw)
    }

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A key from the event's content (64-bit FNV-1a of the bytes): the same content always
    /// gives the same key.
    pub fn of_content(bytes: &[u8]) -> Self {
        let mut h = Fnv::new();
        h.write(bytes);
        EventKey(h.finish())
    }

    /// The ledger key of the `n`th command of kind `use_` this event makes: a hash of the
    /// event key, the use and `n`, so it is the same on every replay.
    pub fn derive(self, use_: KeyUse, n: u64) -> CommandKey {
        let mut h = Fnv::new();
        h.write(&self.0.to_le_bytes());
        h.write(&[use_.tag()]);
        h.write(&n.to_le_bytes());
        CommandKey::new(h.finish())
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:016x}", self.0)
    }
}

/// 64-bit FNV-1a: small, stable across platforms and releases (unlike `std`'s hasher), which
/// stored keys need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        let k = EventKey::of_content(b"line");
        assert_eq!(k, EventKey::of_content(b"line"));
        assert_ne!(k, EventKey::of_content(b"line2"));
        assert_eq!(k.derive(KeyUse::Earn, 0), k.derive(KeyUse::Earn, 0));
        assert_ne!(k.derive(KeyUse::Earn, 0), k.derive(KeyUse::Bonus, 0));
        assert_ne!(k.derive(KeyUse::Bonus, 0), k.derive(KeyUse::Bonus, 1));
        // Pinned: a stored key must never change with a release.
        assert_eq!(EventKey::of_content(b"").get(), 0xcbf2_9ce4_8422_2325);
    }
}
