//! What each post and account brought in, and what it cost.

use serde::Serialize;

use super::{AccountKind, AcquisitionState, ContentError, PostBook, TouchRule};
use crate::id::{AccountId, PostId};
use crate::metrics::economics::{ChannelEconomics, ChannelInput, economics};
use crate::metrics::event::ChannelCode;
use crate::metrics::funnel::BreakdownKey;
use crate::money::Yuan;
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

fn yuan_of(fen: u128) -> Result<Yuan, ContentError> {
    u64::try_from(fen)
        .ok()
        .and_then(|f| Yuan::try_from_fen(f).ok())
        .ok_or(ContentError::RevenueTooLarge { fen })
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
