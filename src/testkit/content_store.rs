//! Conformance scenarios for [`ContentStore`].

use super::{Factory, minutes, must};
use crate::campaign::AdLawWords;
use crate::content::{AccountKind, AccountOwner, ContentAccount, CostTerms, Post};
use crate::id::{AccountId, PostId};
use crate::money::Yuan;
use crate::patient::Platform;
use crate::rust_decimal::Decimal;
use crate::store::{ContentStore, PostWrite, StoreError, Version};
use crate::text::Label;

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: ContentStore + Send>(factory: &impl Factory<S>) {
    accounts_round_trip_under_versions(&mut factory.fresh());
    posts_append_once_with_unique_codes(&mut factory.fresh());
    posts_page_in_id_order(&mut factory.fresh());
}

/// A KOC account `n` on Douyin, paid ¥`fee` a post and 10% of revenue.
pub fn sample_account(n: u64, fee: u64) -> ContentAccount {
    must(
        ContentAccount::new(
            AccountId::new(n),
            AccountKind::Koc,
            Platform::Douyin,
            must(Label::parse(&format!("koc-{n}")), "name"),
            AccountOwner::External(must(Label::parse(&format!("达人{n}")), "owner")),
            must(
                CostTerms::new(
                    must(Yuan::from_whole(fee), "fee"),
                    Yuan::ZERO,
                    Decimal::from(10),
                ),
                "terms",
            ),
        ),
        "account",
    )
}

/// Post `n` of `account`, with channel code `code`.
pub fn sample_post(n: u64, account: u64, code: &str) -> Post {
    must(
        Post::new(
            PostId::new(n),
            AccountId::new(account),
            minutes(i64::try_from(n).unwrap_or(0)),
            must(Label::parse(code), "code"),
            vec![must(Label::parse("失眠"), "topic")],
            "秋冬失眠，中医怎么调？保证治愈",
            &AdLawWords::default(),
        ),
        "post",
    )
}

/// Accounts are stored under versions: a first commit expects none, a second the first
/// version, a stale one conflicts and writes nothing, and a page lists them in id order.
pub fn accounts_round_trip_under_versions<S: ContentStore>(store: &mut S) {
    let a = sample_account(2, 100);
    assert_eq!(must(store.account(a.id()), "get"), None);
    let v1 = must(store.commit_account(&a, None), "first commit");
    assert_eq!(v1, Version::FIRST);
    let loaded = must(store.account(a.id()), "get").expect("stored");
    assert_eq!((loaded.value, loaded.version), (a.clone(), v1));
    let dearer = sample_account(2, 300);
    let v2 = must(store.commit_account(&dearer, Some(v1)), "second commit");
    match store.commit_account(&a, Some(v1)) {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (Some(v1), Some(v2)));
        }
        other => panic!("a stale account commit must conflict, got {other:?}"),
    }
    match store.commit_account(&a, None) {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("creating an existing account must conflict, got {other:?}"),
    }
    must(store.commit_account(&sample_account(1, 5), None), "another");
    let page = must(store.accounts(None, 10), "page");
    let ids: Vec<_> = page.iter().map(|v| v.value.id().get()).collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(page.get(1).map(|v| v.value.clone()), Some(dearer));
    let rest = must(store.accounts(Some(AccountId::new(1)), 10), "page after");
    assert_eq!(rest.len(), 1);
}

/// A post is appended once (again: unchanged; other content: a record conflict), needs a
/// stored account, and its channel code cannot be taken by another post. Its Advertising
/// Law findings come back as stored.
pub fn posts_append_once_with_unique_codes<S: ContentStore>(store: &mut S) {
    let p = sample_post(1, 1, "xhs-01");
    match store.append_post(&p) {
        Err(StoreError::NotFound { what, .. }) => assert_eq!(what, "account"),
        other => panic!("a post of an unknown account must be refused, got {other:?}"),
    }
    must(
        store.commit_account(&sample_account(1, 100), None),
        "account",
    );
    assert_eq!(must(store.append_post(&p), "append"), PostWrite::Stored);
    assert_eq!(must(store.append_post(&p), "again"), PostWrite::Unchanged);
    let back = must(store.post(p.id()), "get").expect("stored");
    assert_eq!(back, p);
    assert!(!back.findings().is_empty(), "the copy's findings are kept");
    let changed = sample_post(1, 1, "xhs-other");
    match store.append_post(&changed) {
        Err(StoreError::RecordConflict { what, .. }) => assert_eq!(what, "post"),
        other => panic!("the same post id with other content must conflict, got {other:?}"),
    }
    let thief = sample_post(2, 1, "xhs-01");
    match store.append_post(&thief) {
        Err(StoreError::Duplicate { holder, .. }) => assert_eq!(holder, "PO1"),
        other => panic!("a code in use must be a duplicate, got {other:?}"),
    }
    assert_eq!(must(store.post(PostId::new(2)), "get"), None);
    let code = must(Label::parse("xhs-01"), "code");
    assert_eq!(must(store.post_by_code(&code), "by code"), Some(p));
    let none = must(Label::parse("xhs-02"), "code");
    assert_eq!(must(store.post_by_code(&none), "by code"), None);
}

/// Posts page in ascending id order, whatever order they were appended in.
pub fn posts_page_in_id_order<S: ContentStore>(store: &mut S) {
    must(store.commit_account(&sample_account(1, 0), None), "account");
    for n in [5u64, 1, 4, 2, 3] {
        let p = sample_post(n, 1, &format!("c{n}"));
        assert_eq!(must(store.append_post(&p), "append"), PostWrite::Stored);
    }
    let first = must(store.posts(None, 2), "page 1");
    let ids: Vec<_> = first.iter().map(|p| p.id().get()).collect();
    assert_eq!(ids, vec![1, 2]);
    let rest = must(store.posts(Some(PostId::new(2)), 10), "page 2");
    let ids: Vec<_> = rest.iter().map(|p| p.id().get()).collect();
    assert_eq!(ids, vec![3, 4, 5]);
}
