//! The referral forest (转介绍): binding rules, lawful rewards and referral analytics.
