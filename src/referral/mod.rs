//! The referral forest (转介绍): binding rules, lawful rewards and referral analytics.

mod binding;
mod forest;

pub use binding::{
    Bind, BindError, Binding, BindingPolicy, IdentityKey, Member, Protection, ReferralEvent,
};
pub use forest::{Ancestors, BindOutcome, ReferralForest, apply, bind_all, decide};
