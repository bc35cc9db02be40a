//! What each post and account brought in, and what it cost.

use serde::Serialize;

use super::account::FenTerms;
use super::{AccountKind, AcquisitionState, ContentAccount, ContentError, PostBook, TouchRule};
use crate::id::{AccountId, PostId};
use crate::metrics::economics::{ChannelEconomics, ChannelInput, economics};
use crate::metrics::event::ChannelCode;
use crate::metrics::funnel::{BreakdownKey, Tally};
use crate::money::{MAX_FEN, Yuan};
use crate::patient::Platform;
use crate::text::Label;

/// Patients at each acquisition step, and the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AcquisitionCounts {
    /// Patients who became leads.
    pub leads: u64,
    /// Leads who converted (added the clinic, opened a file).
    pub converted: u64,
    /// Those who then paid for a visit: the paying patients.
    pub paying: u64,
    /// Those who then came back.
    pub retained: u64,
    /// Revenue of the patients within the revenue days of their touch.
    pub revenue: Yuan,
    /// What the posts cost under the account's terms.
    pub cost: Yuan,
}

impl AcquisitionCounts {
    /// The decimal sum the report did before it summed in fen: the tests' model.
    #[cfg(test)]
    fn add(&mut self, o: &AcquisitionCounts) {
        self.leads = self.leads.saturating_add(o.leads);
        self.converted = self.converted.saturating_add(o.converted);
        self.paying = self.paying.saturating_add(o.paying);
        self.retained = self.retained.saturating_add(o.retained);
        self.revenue = self.revenue.checked_add(o.revenue).unwrap_or(Yuan::MAX);
        self.cost = self.cost.checked_add(o.cost).unwrap_or(Yuan::MAX);
    }

    /// Cost per lead, rounded to the fen (half to even); `None` without leads.
    #[must_use]
    pub fn cost_per_lead(&self) -> Option<Yuan> {
        economics(&ChannelInput {
            spend: self.cost,
            new_patients: self.leads,
            revenue: self.revenue,
        })
        .cac
    }

    /// CAC, ROI and LTV through [`metrics::economics`](crate::metrics::economics), with the
    /// paying patients as the new patients: `cac` is the cost per paying patient.
    pub fn economics(&self) -> ChannelEconomics {
        economics(&ChannelInput {
            spend: self.cost,
            new_patients: self.paying,
            revenue: self.revenue,
        })
    }
}

/// One post's acquisition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostAcquisition {
    /// The post.
    pub post: PostId,
    /// Its account.
    pub account: AccountId,
    /// Its channel code in the book.
    pub code: ChannelCode,
    /// Its label, as registrations carry it.
    pub label: Label,
    /// What it brought and cost.
    pub counts: AcquisitionCounts,
}

/// One account's acquisition: the sum of its posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountAcquisition {
    /// The account.
    pub account: AccountId,
    /// Its kind.
    pub kind: AccountKind,
    /// Its platform.
    pub platform: Platform,
    /// Its name.
    pub name: Label,
    /// How many posts it has in the book.
    pub posts: u64,
    /// What its posts brought and cost.
    pub counts: AcquisitionCounts,
    /// What the clinic owes the creator or partner under the terms (KOL, KOC, partner
    /// accounts), the same as `counts.cost`; `None` for the clinic's own accounts.
    pub payout: Option<Yuan>,
}

impl AccountAcquisition {
    /// Whether the account paid for itself: revenue at least its cost.
    #[must_use]
    pub fn paid_for_itself(&self) -> bool {
        self.counts.revenue >= self.counts.cost
    }
}

/// Acquisition by post and by account, under one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use]
pub struct AcquisitionReport {
    /// The rule the patients were attributed by.
    pub rule: TouchRule,
    /// Every post of the book, in post id order (posts that brought nobody included).
    pub by_post: Vec<PostAcquisition>,
    /// Every account of the book, in account id order.
    pub by_account: Vec<AccountAcquisition>,
    /// The sum over all accounts.
    pub total: AcquisitionCounts,
    /// Leads no post is credited with.
    pub unattributed_leads: u64,
    /// Revenue of every purchase in the input, attributed or not.
    pub all_revenue: Yuan,
}

/// A revenue in whole fen, refused beyond [`MAX_FEN`] as [`Yuan::try_from_fen`] refuses it.
fn fen_of(fen: u128) -> Result<u64, ContentError> {
    u64::try_from(fen)
        .ok()
        .filter(|&f| f <= MAX_FEN)
        .ok_or(ContentError::RevenueTooLarge { fen })
}

/// A revenue in whole fen as a [`Yuan`], checked by [`fen_of`].
fn yuan_of(fen: u128) -> Result<Yuan, ContentError> {
    fen_of(fen).map(yuan)
}

/// An amount of at most [`MAX_FEN`] fen as a [`Yuan`]: the same scale-2 decimal the sums
/// of [`Yuan::checked_add`] give.
fn yuan(fen: u64) -> Yuan {
    Yuan::saturating_from_fen(fen)
}

/// [`AcquisitionCounts`] with the money in whole fen, as the report sums it.
#[derive(Debug, Clone, Copy, Default)]
struct FenCounts {
    leads: u64,
    converted: u64,
    paying: u64,
    retained: u64,
    revenue: u64,
    cost: u64,
}

impl FenCounts {
    /// [`AcquisitionCounts::add`] in fen: a sum of amounts saturates at [`MAX_FEN`]
    /// exactly where [`Yuan::checked_add`] fails and the decimal sum takes [`Yuan::MAX`].
    fn add(&mut self, o: &FenCounts) {
        self.leads = self.leads.saturating_add(o.leads);
        self.converted = self.converted.saturating_add(o.converted);
        self.paying = self.paying.saturating_add(o.paying);
        self.retained = self.retained.saturating_add(o.retained);
        self.revenue = self.revenue.saturating_add(o.revenue).min(MAX_FEN);
        self.cost = self.cost.saturating_add(o.cost).min(MAX_FEN);
    }

    fn counts(&self) -> AcquisitionCounts {
        AcquisitionCounts {
            leads: self.leads,
            converted: self.converted,
            paying: self.paying,
            retained: self.retained,
            revenue: yuan(self.revenue),
            cost: yuan(self.cost),
        }
    }
}

/// Patients at each acquisition step of a tally: [`Tally::step_patients`] with no optional
/// step (patients at level ≥ k), the first four steps, without its two allocations.
fn step_counts(t: &Tally) -> [u64; 4] {
    let levels = t.by_level();
    let n = t.optional_hits().len();
    let mut out = [0u64; 4];
    let mut acc = 0u64;
    for k in (1..=n).rev() {
        acc = acc.saturating_add(levels.get(k).copied().unwrap_or(0));
        if let Some(o) = out.get_mut(k - 1) {
            *o = acc;
        }
    }
    out
}

/// Turns an attribution state into what each post and account brought and cost.
///
/// Each post's cost is its account's [`CostTerms::cost_of_post`](super::CostTerms::cost_of_post)
/// of its leads and revenue; an account's cost is the sum of its posts' (so they add up
/// exactly), and the total the sum of the accounts'.
///
/// # Errors
///
/// [`ContentError::RevenueTooLarge`] for a revenue beyond [`Yuan::MAX`].
pub fn acquisition_report(
    book: &PostBook,
    rule: TouchRule,
    state: &AcquisitionState,
) -> Result<AcquisitionReport, ContentError> {
    // Posts are in code order and both maps in key order, so one walk of each lines them
    // up (a tree lookup per post was a fifth of the report). The money is summed in whole
    // fen and each amount made a `Yuan` once: the decimal products, quotients and
    // rescales of the same sums were most of the rest. `tests::same_as_decimal_report`
    // holds the two equal.
    let mut tallies = state.funnel.by_value().iter().peekable();
    let mut revenues = state.revenue_fen.iter().peekable();
    let accounts: Vec<&ContentAccount> = book.accounts().values().collect();
    // The accounts' ids in order, for a binary search: the map's keys as a flat array.
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.id()).collect();
    let terms: Vec<Option<FenTerms>> = accounts.iter().map(|a| a.terms().fen_terms()).collect();
    let mut sums = vec![(0u64, FenCounts::default()); accounts.len()];
    let mut by_post = Vec::with_capacity(book.posts().len());
    for (i, post) in book.posts().iter().enumerate() {
        let code = u32::try_from(i + 1).map_err(|_| ContentError::TooManyPosts {
            count: book.posts().len(),
            max: PostBook::MAX_POSTS,
        })?;
        let key = BreakdownKey::Value(u64::from(code));
        while tallies.next_if(|(k, _)| **k < key).is_some() {}
        let steps = tallies
            .next_if(|(k, _)| **k == key)
            .map_or([0; 4], |(_, t)| step_counts(t));
        while revenues.next_if(|(c, _)| **c < code).is_some() {}
        let revenue = revenues
            .next_if(|(c, _)| **c == code)
            .map_or(Ok(0), |(_, &r)| fen_of(r))?;
        let slot = ids.binary_search(&post.account()).ok();
        let cost = match slot.and_then(|s| Some((s, *terms.get(s)?))) {
            Some((_, Some(t))) => t.cost_fen(steps[0], revenue),
            Some((s, None)) => accounts.get(s).map_or(0, |a| {
                a.terms().cost_of_post(steps[0], yuan(revenue)).to_fen()
            }),
            None => 0,
        };
        let counts = FenCounts {
            leads: steps[0],
            converted: steps[1],
            paying: steps[2],
            retained: steps[3],
            revenue,
            cost,
        };
        if let Some((posts, sum)) = slot.and_then(|s| sums.get_mut(s)) {
            *posts += 1;
            sum.add(&counts);
        }
        by_post.push(PostAcquisition {
            post: post.id(),
            account: post.account(),
            code: ChannelCode::new(code),
            label: post.code().clone(),
            counts: counts.counts(),
        });
    }
    let mut total = FenCounts::default();
    let by_account = accounts
        .iter()
        .zip(&sums)
        .map(|(a, (posts, sum))| {
            total.add(sum);
            let counts = sum.counts();
            AccountAcquisition {
                account: a.id(),
                kind: a.kind(),
                platform: a.platform(),
                name: a.name().clone(),
                posts: *posts,
                counts,
                payout: a.kind().is_external().then_some(counts.cost),
            }
        })
        .collect();
    let all_leads = state.funnel.step_patients().first().copied().unwrap_or(0);
    Ok(AcquisitionReport {
        rule,
        by_post,
        by_account,
        total: total.counts(),
        unattributed_leads: all_leads.saturating_sub(total.leads),
        all_revenue: yuan_of(state.total_revenue_fen)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{AccountOwner, ContentAccount, CostTerms, Post};
    use crate::content::{AcquisitionColumns, AcquisitionSpec};
    use crate::metrics::event::{JourneyEventKind, JourneyStage};
    use crate::metrics::funnel::ConversionWindow;
    use crate::money::MAX_YUAN;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    /// The report as it was before the sums moved to fen: the model of
    /// [`acquisition_report`].
    fn decimal_report(
        book: &PostBook,
        rule: TouchRule,
        state: &AcquisitionState,
    ) -> Result<AcquisitionReport, ContentError> {
        let by_value = state.funnel.by_value();
        let mut by_post = Vec::with_capacity(book.posts().len());
        let mut by_account: Vec<AccountAcquisition> = book
            .accounts()
            .values()
            .map(|a| AccountAcquisition {
                account: a.id(),
                kind: a.kind(),
                platform: a.platform(),
                name: a.name().clone(),
                posts: 0,
                counts: AcquisitionCounts::default(),
                payout: a.kind().is_external().then_some(Yuan::ZERO),
            })
            .collect();
        let index: std::collections::BTreeMap<AccountId, usize> = by_account
            .iter()
            .enumerate()
            .map(|(i, a)| (a.account, i))
            .collect();
        for (i, post) in book.posts().iter().enumerate() {
            let code = u32::try_from(i + 1).map_err(|_| ContentError::TooManyPosts {
                count: book.posts().len(),
                max: PostBook::MAX_POSTS,
            })?;
            let steps = by_value
                .get(&BreakdownKey::Value(u64::from(code)))
                .map(|t| t.step_patients(0))
                .unwrap_or_default();
            let at = |k: usize| steps.get(k).copied().unwrap_or(0);
            let revenue = yuan_of(state.revenue_fen.get(&code).copied().unwrap_or(0))?;
            let account = book.accounts().get(&post.account());
            let cost = account.map_or(Yuan::ZERO, |a| a.terms().cost_of_post(at(0), revenue));
            let counts = AcquisitionCounts {
                leads: at(0),
                converted: at(1),
                paying: at(2),
                retained: at(3),
                revenue,
                cost,
            };
            if let Some(a) = index
                .get(&post.account())
                .and_then(|&i| by_account.get_mut(i))
            {
                a.posts += 1;
                a.counts.add(&counts);
            }
            by_post.push(PostAcquisition {
                post: post.id(),
                account: post.account(),
                code: ChannelCode::new(code),
                label: post.code().clone(),
                counts,
            });
        }
        let mut total = AcquisitionCounts::default();
        for a in &mut by_account {
            if a.payout.is_some() {
                a.payout = Some(a.counts.cost);
            }
            total.add(&a.counts);
        }
        let all_leads = state.funnel.step_patients().first().copied().unwrap_or(0);
        Ok(AcquisitionReport {
            rule,
            by_post,
            by_account,
            total,
            unattributed_leads: all_leads.saturating_sub(total.leads),
            all_revenue: yuan_of(state.total_revenue_fen)?,
        })
    }

    /// Fen amounts from small to past [`MAX_FEN`], with the edges.
    fn fen() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..100_000,
            0u64..=MAX_FEN,
            Just(MAX_FEN),
            MAX_FEN - 1_000..=MAX_FEN,
        ]
    }

    /// Shares of 0 to 100 percent at scales 0 to 14 (the integer path takes up to 10).
    fn share() -> impl Strategy<Value = Decimal> {
        (0u32..=14, any::<u64>(), any::<bool>()).prop_map(|(scale, m, whole)| {
            if whole {
                return Decimal::from(m % 101);
            }
            let top = 100u128 * 10u128.pow(scale);
            let m = u128::from(m) % (top + 1);
            Decimal::from_i128_with_scale(i128::try_from(m).unwrap_or(0), scale)
        })
    }

    fn terms() -> impl Strategy<Value = CostTerms> {
        (fen(), fen(), share()).prop_map(|(post, lead, share)| {
            CostTerms::new(
                Yuan::saturating_from_fen(post),
                Yuan::saturating_from_fen(lead),
                share,
            )
            .unwrap_or(CostTerms::FREE)
        })
    }

    fn leads() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..1_000, any::<u64>()]
    }

    proptest! {
        /// The integer cost of a post is the decimal one, to the fen, wherever the terms
        /// take the integer path; and the path is taken for every share of up to
        /// `MAX_SHARE_SCALE` places.
        #[test]
        fn fen_cost_is_the_decimal_cost(t in terms(), leads in leads(), revenue in fen()) {
            let want = t.cost_of_post(leads, Yuan::saturating_from_fen(revenue));
            let fast = t.fen_terms();
            if t.revenue_share().scale() <= FenTerms::MAX_SHARE_SCALE {
                prop_assert!(fast.is_some());
            }
            if let Some(f) = fast {
                let got = f.cost_fen(leads, revenue);
                prop_assert_eq!(got, want.to_fen());
                // The same decimal, scale included.
                prop_assert_eq!(yuan(got).amount().serialize(), want.amount().serialize());
            }
        }

        /// The report summed in fen is the decimal report, field for field and in its
        /// serialised form, with the accounts' terms, the posts' accounts and the revenues
        /// (up to and past the largest amount) drawn at random.
        #[test]
        fn same_as_decimal_report(
            accounts in prop::collection::vec((terms(), 0u8..6), 1..5),
            post_accounts in prop::collection::vec(0u64..6, 0..12),
            rows in prop::collection::vec((0u32..10, 0u8..4, 0i64..60, 0u32..14), 0..60),
            revenue in prop::collection::btree_map(0u32..16, prop_oneof![
                0u128..1_000_000,
                0u128..=u128::from(MAX_FEN),
                u128::from(MAX_FEN) - 10..=u128::from(MAX_FEN) + 10,
            ], 0..14),
            total in prop_oneof![0u128..=u128::from(MAX_FEN), Just(u128::from(MAX_FEN) + 1)],
            rule in prop_oneof![Just(TouchRule::FirstTouch), Just(TouchRule::LastTouch)],
        ) {
            let book = book(&accounts, &post_accounts);
            let state = state(rule, &rows, revenue, total);
            let want = decimal_report(&book, rule, &state);
            let got = acquisition_report(&book, rule, &state);
            prop_assert_eq!(&got, &want);
            if let (Ok(g), Ok(w)) = (got, want) {
                prop_assert_eq!(
                    serde_json::to_string(&g).unwrap_or_default(),
                    serde_json::to_string(&w).unwrap_or_default()
                );
            }
        }
    }

    /// Accounts 1..=n with the given terms and kinds, and posts on the given accounts (an
    /// account past n is not in the book, so the book refuses it: such posts are left out).
    fn book(accounts: &[(CostTerms, u8)], post_accounts: &[u64]) -> PostBook {
        let kinds = [
            AccountKind::DoctorIp,
            AccountKind::ClinicBrand,
            AccountKind::Employee,
            AccountKind::Kol,
            AccountKind::Koc,
            AccountKind::Partner,
        ];
        let accs: Vec<ContentAccount> = accounts
            .iter()
            .enumerate()
            .filter_map(|(i, (terms, kind))| {
                let kind = *kinds.get(usize::from(*kind))?;
                let owner = match kind {
                    AccountKind::DoctorIp => AccountOwner::Doctor(crate::id::DoctorId::new(1)),
                    AccountKind::ClinicBrand => AccountOwner::Clinic(crate::id::ClinicId::new(1)),
                    AccountKind::Employee => AccountOwner::Staff(crate::id::StaffId::new(1)),
                    _ => AccountOwner::External(Label::parse("k").ok()?),
                };
                ContentAccount::new(
                    AccountId::new(10 * (i as u64 + 1)),
                    kind,
                    Platform::Douyin,
                    Label::parse(&format!("a{i}")).ok()?,
                    owner,
                    *terms,
                )
                .ok()
            })
            .collect();
        let words = crate::campaign::AdLawWords::default();
        let at = chrono::DateTime::from_timestamp(1_767_196_800, 0).unwrap_or_default();
        let posts = post_accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| (**a as usize) < accs.len())
            .filter_map(|(i, a)| {
                Post::new(
                    PostId::new(i as u64 + 1),
                    AccountId::new(10 * (a + 1)),
                    at,
                    Label::parse(&format!("p{i}")).ok()?,
                    vec![],
                    "",
                    &words,
                )
                .ok()
            })
            .collect();
        PostBook::new(accs, posts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A state from a compute over the rows (patient, stage, half-day, post), with the
    /// revenues and total replaced by the given ones.
    fn state(
        rule: TouchRule,
        rows: &[(u32, u8, i64, u32)],
        revenue: std::collections::BTreeMap<u32, u128>,
        total: u128,
    ) -> AcquisitionState {
        let stages = [
            JourneyStage::Lead,
            JourneyStage::Converted,
            JourneyStage::Purchased,
            JourneyStage::Revisited,
        ];
        let kind: Vec<u32> = rows
            .iter()
            .map(|r| JourneyEventKind::stage(stages[usize::from(r.1 % 4)]).code())
            .collect();
        let patient: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let at: Vec<i64> = rows.iter().map(|r| 1_767_196_800 + r.2 * 43_200).collect();
        let post: Vec<u32> = rows
            .iter()
            .map(|r| if r.1 % 4 == 0 { r.3 } else { 0 })
            .collect();
        let fen = vec![100u64; rows.len()];
        let cols = AcquisitionColumns {
            patient_count: 10,
            patient: &patient,
            kind: &kind,
            at: &at,
            post: &post,
            amount_fen: &fen,
        };
        let spec = AcquisitionSpec::new(
            rule,
            ConversionWindow::days(90).unwrap_or_else(|_| unreachable!()),
            90,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = spec.compute(&cols, 14, 2).unwrap_or_else(|e| panic!("{e}"));
        s.revenue_fen = revenue;
        s.total_revenue_fen = total;
        s
    }

    #[test]
    fn saturated_sums_are_the_largest_amount() {
        let mut a = FenCounts {
            revenue: MAX_FEN - 1,
            cost: 5,
            ..FenCounts::default()
        };
        a.add(&FenCounts {
            revenue: 2,
            cost: MAX_FEN,
            ..FenCounts::default()
        });
        let c = a.counts();
        assert_eq!(c.revenue, Yuan::MAX);
        assert_eq!(c.cost.amount(), MAX_YUAN);
        assert_eq!(c.cost.to_string(), Yuan::MAX.to_string());
    }
}
