//! Typed identifiers.
//!
//! Every id is a compact `Copy` newtype over `u64`, so a `PatientId` can never be passed where
//! a `DoctorId` is expected, and hot loops (funnels over millions of events) move 8 bytes, not
//! strings. Hosts keep their own keys (database ids, WeChat `external_userid`s) and map them to
//! these ids; the examples show the mapping with an interner.
//!
//! ```
//! use clinic_ops::id::PatientId;
//!
//! let p = PatientId::new(42);
//! assert_eq!(p.get(), 42);
//! assert_eq!(p.to_string(), "P42");
//! assert_eq!("P42".parse::<PatientId>()?, p);
//! # Ok::<(), clinic_ops::id::IdError>(())
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The hasher of every map the crate keys by ids: rustc-hash's `FxHasher`, one multiply per
/// word. Ids are host-assigned integers, not attacker-chosen text, so SipHash's flooding
/// resistance buys nothing and costs most of a lookup on the hot paths (the points ledger's
/// account index, the referral forest's sparse ids). It has no random seed: the core reads
/// no randomness, and a map behaves the same on every run. No output of the crate depends
/// on a map's iteration order (outputs are sorted or in input order).
pub(crate) type IdBuildHasher = rustc_hash::FxBuildHasher;

/// A `HashMap` keyed by ids, with [`IdBuildHasher`]. Build it with `IdMap::default()`.
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, IdBuildHasher>;

/// An id's text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text is not the id's prefix followed by a decimal number.
    #[error("{kind} id {value:?} is not {prefix} followed by a number")]
    Malformed {
        /// Which kind of id was expected.
        kind: &'static str,
        /// The expected prefix.
        prefix: &'static str,
        /// The text given.
        value: String,
    },
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Displayed with its prefix (`
        #[doc = $prefix]
        /// 42`); serialised as a bare number.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a host-assigned number.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The number inside.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Accepts the displayed form (`
            #[doc = $prefix]
            /// 42`) or a bare number.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let digits = s.strip_prefix($prefix).unwrap_or(s);
                digits.parse::<u64>().map(Self).map_err(|_| IdError::Malformed {
                    kind: $kind,
                    prefix: $prefix,
                    value: s.to_owned(),
                })
            }
        }
    };
}

define_id!(
    /// A patient (患者), the central aggregate.
    PatientId, "P", "patient"
);
define_id!(
    /// A clinic (诊所/馆) of a chain.
    ClinicId, "C", "clinic"
);
define_id!(
    /// A doctor (医生).
    DoctorId, "D", "doctor"
);
define_id!(
    /// A staff member: nurse, health manager, front desk. Owners of patients are staff.
    StaffId, "S", "staff"
);
define_id!(
    /// A campaign (活动) in a campaign book.
    CampaignId, "CP", "campaign"
);
define_id!(
    /// A purchase or order (订单) whose points and refunds the ledger tracks.
    PurchaseId, "O", "purchase"
);
define_id!(
    /// A visit (就诊) or appointment.
    VisitId, "V", "visit"
);
define_id!(
    /// A follow-up task (随访任务).
    TaskId, "T", "task"
);
define_id!(
    /// A membership points lot, created by one earning.
    LotId, "L", "lot"
);
define_id!(
    /// A content account (a doctor's IP account, the clinic's brand account, an employee's,
    /// a KOL's or KOC's, a partner's) on one platform.
    AccountId, "AC", "account"
);
define_id!(
    /// One post of a content account.
    PostId, "PO", "post"
);
define_id!(
    /// An outreach event: a health lecture, a free clinic (义诊) or a member day.
    OutreachEventId, "EV", "outreach event"
);
define_id!(
    /// An appointment (预约): a booked place in a doctor's slot, host-assigned.
    AppointmentId, "A", "appointment"
);
define_id!(
    /// A complaint (投诉) with its owner and service level.
    ComplaintId, "CM", "complaint"
);
define_id!(
    /// One piece of patient feedback (评价) after a visit.
    FeedbackId, "F", "feedback"
);
define_id!(
    /// A patient group (社群): a WeChat or WeCom customer group the clinic runs.
    GroupId, "G", "group"
);
define_id!(
    /// One piece of a content library: a lesson, a medicine note (每日一学/每日一药), an offer.
    ContentItemId, "CI", "content item"
);
define_id!(
    /// A content sequence: the steps of content a patient is sent over days.
    SequenceId, "SQ", "sequence"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let c = CampaignId::new(7);
        assert_eq!(c.to_string(), "CP7");
        assert_eq!("CP7".parse::<CampaignId>().unwrap(), c);
        assert_eq!("7".parse::<CampaignId>().unwrap(), c);
        let e = "X7".parse::<PatientId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "patient id \"X7\" is not P followed by a number"
        );
        assert_eq!(serde_json::to_string(&PatientId::new(3)).unwrap(), "3");
    }
}
