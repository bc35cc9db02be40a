//! `FromStr` for every value type with a `parse`, so `"…".parse::<T>()` and `clap`-style
//! parsers work. Written once here rather than beside each `parse`, so that each impl is
//! exactly `parse` and nothing else.

use std::str::FromStr;

macro_rules! from_str_via_parse {
    ($($ty:ty => $err:ty),* $(,)?) => {$(
        impl FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }
    )*};
}

from_str_via_parse! {
    crate::metrics::funnel::ConversionWindow => crate::metrics::funnel::FunnelError,
    crate::points::TierCode => crate::text::TextError,
    crate::followup::RuleKey => crate::followup::FollowUpError,
    crate::money::SignedYuan => crate::money::MoneyError,
    crate::patient::PersonName => crate::text::TextError,
    crate::patient::ExternalId => crate::text::TextError,
    crate::patient::ConditionCode => crate::text::TextError,
    crate::text::Label => crate::text::TextError,
    crate::journey::Category => crate::text::TextError,
    crate::referral::RuleId => crate::text::TextError,
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::str::FromStr;

    /// `str::parse` gives exactly what `parse` gives, for a good and a bad input.
    fn same<T, E>(parse: fn(&str) -> Result<T, E>, good: &str, bad: &str)
    where
        T: FromStr<Err = E> + PartialEq + Debug,
        E: PartialEq + Debug,
    {
        assert_eq!(good.parse::<T>(), parse(good));
        assert!(good.parse::<T>().is_ok(), "{good}");
        assert_eq!(bad.parse::<T>(), parse(bad));
        assert!(bad.parse::<T>().is_err(), "{bad}");
    }

    #[test]
    fn from_str_is_parse() {
        use crate::{followup, journey, metrics, money, patient, points, referral};
        same(metrics::funnel::ConversionWindow::parse, "30d", "30x");
        same(points::TierCode::parse, "gold", "");
        same(followup::RuleKey::parse, "refill", "");
        same(money::SignedYuan::parse, "-12.50", "1.234");
        same(patient::PersonName::parse, "李四", "");
        same(patient::ExternalId::parse, "wm_abc", "");
        same(patient::ConditionCode::parse, "E11", "");
        same(crate::text::Label::parse, "v1", "");
        same(journey::Category::parse, "herbal", "");
        same(referral::RuleId::parse, "first_visit", "");
    }
}
