//! Posts, their copy's Advertising Law findings, and the book that numbers their codes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{ContentAccount, ContentError};
use crate::campaign::{AdLawRule, AdLawWords, lint_copy};
use crate::id::{AccountId, PostId};
use crate::metrics::event::ChannelCode;
use crate::text::Label;

/// The most topic tags on one post.
pub const MAX_TOPICS: usize = 16;
/// The longest post copy accepted, in characters.
pub const MAX_COPY_CHARS: usize = 4000;

/// One word of a copy that breaks a medical-advertising rule, found by
/// [`lint_copy`](crate::campaign::lint_copy), the same lint campaigns go through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CopyFinding {
    /// The listed word found.
    pub word: String,
    /// The rule it breaks.
    pub rule: AdLawRule,
}

/// The Advertising Law findings of a copy, in word-list order.
#[must_use]
pub fn lint_findings(copy: &str, words: &AdLawWords) -> Vec<CopyFinding> {
    lint_copy(copy, words)
        .into_iter()
        .map(|(word, rule)| CopyFinding {
            word: word.to_owned(),
            rule,
        })
        .collect()
}

/// A post of an account: when, about what, the copy with its Advertising Law findings, and
/// the channel code leads arriving from it carry (like WeCom's "contact me" `state`, and
/// [`Registration::channel_code`](crate::patient::Registration::channel_code)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPost")]
pub struct Post {
    id: PostId,
    account: AccountId,
    #[serde(with = "crate::calendar::in_range::instant")]
    at: DateTime<Utc>,
    code: Label,
    topics: Vec<Label>,
    copy: String,
    findings: Vec<CopyFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPost {
    id: PostId,
    account: AccountId,
    #[serde(with = "crate::calendar::in_range::instant")]
    at: DateTime<Utc>,
    code: Label,
    topics: Vec<Label>,
    copy: String,
    findings: Vec<CopyFinding>,
}

impl TryFrom<RawPost> for Post {
    type Error = ContentError;
    fn try_from(r: RawPost) -> Result<Self, Self::Error> {
        // The findings are kept as stored: they record the word list the post was checked
        // against when it was written, which a later list must not rewrite.
        let mut p = Post::build(r.id, r.account, r.at, r.code, r.topics, r.copy)?;
        p.findings = r.findings;
        Ok(p)
    }
}

impl Post {
    /// A post, with its copy checked against `words`.
    ///
    /// # Errors
    ///
    /// [`ContentError::TooManyTopics`] above [`MAX_TOPICS`], [`ContentError::CopyTooLong`]
    /// above [`MAX_COPY_CHARS`].
    pub fn new(
        id: PostId,
        account: AccountId,
        at: DateTime<Utc>,
        code: Label,
        topics: Vec<Label>,
        copy: &str,
        words: &AdLawWords,
    ) -> Result<Self, ContentError> {
        let mut p = Post::build(id, account, at, code, topics, copy.to_owned())?;
        p.findings = lint_findings(&p.copy, words);
        Ok(p)
    }

    fn build(
        id: PostId,
        account: AccountId,
        at: DateTime<Utc>,
        code: Label,
        mut topics: Vec<Label>,
        copy: String,
    ) -> Result<Self, ContentError> {
        if topics.len() > MAX_TOPICS {
            return Err(ContentError::TooManyTopics {
                post: id,
                count: topics.len(),
                max: MAX_TOPICS,
            });
        }
        let chars = copy.chars().count();
        if chars > MAX_COPY_CHARS {
            return Err(ContentError::CopyTooLong {
                post: id,
                chars,
                max: MAX_COPY_CHARS,
            });
        }
        topics.sort();
        topics.dedup();
        Ok(Post {
            id,
            account,
            at,
            code,
            topics,
            copy,
            findings: Vec::new(),
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> PostId {
        self.id
    }

    /// The account that posted it.
    #[must_use]
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// When it was posted.
    #[must_use]
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The channel code its leads carry.
    #[must_use]
    pub fn code(&self) -> &Label {
        &self.code
    }

    /// Its topic tags, sorted, without repeats.
    #[must_use]
    pub fn topics(&self) -> &[Label] {
        &self.topics
    }

    /// The copy.
    #[must_use]
    pub fn copy(&self) -> &str {
        &self.copy
    }

    /// The Advertising Law findings of the copy; empty when it is clean.
    #[must_use]
    pub fn findings(&self) -> &[CopyFinding] {
        &self.findings
    }
}

/// Accounts and posts checked together, with a dense [`ChannelCode`] (1, 2, …, in post id
/// order) for each post, the dictionary the attribution columns use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBook {
    accounts: BTreeMap<AccountId, ContentAccount>,
    posts: Vec<Post>,
    by_label: BTreeMap<Label, usize>,
}

impl PostBook {
    /// The most posts in one book.
    pub const MAX_POSTS: usize = 10_000_000;

    /// Checks that every post names a known account and no two posts share a code.
    ///
    /// # Errors
    ///
    /// - [`ContentError::DuplicateAccount`] for an account id given twice;
    /// - [`ContentError::UnknownAccount`] for a post of an account not given;
    /// - [`ContentError::DuplicatePost`] for a post id given twice;
    /// - [`ContentError::CodeInUse`] for a channel code already used by another post;
    /// - [`ContentError::TooManyPosts`] above [`PostBook::MAX_POSTS`].
    pub fn new(accounts: Vec<ContentAccount>, mut posts: Vec<Post>) -> Result<Self, ContentError> {
        if posts.len() > Self::MAX_POSTS {
            return Err(ContentError::TooManyPosts {
                count: posts.len(),
                max: Self::MAX_POSTS,
            });
        }
        let mut by_id = BTreeMap::new();
        for a in accounts {
            let id = a.id();
            if by_id.insert(id, a).is_some() {
                return Err(ContentError::DuplicateAccount { account: id });
            }
        }
        posts.sort_by_key(Post::id);
        let mut by_label = BTreeMap::new();
        for (i, p) in posts.iter().enumerate() {
            if i > 0 && posts.get(i - 1).map(Post::id) == Some(p.id()) {
                return Err(ContentError::DuplicatePost { post: p.id() });
            }
            if !by_id.contains_key(&p.account()) {
                return Err(ContentError::UnknownAccount {
                    post: p.id(),
                    account: p.account(),
                });
            }
            if let Some(&j) = by_label.get(p.code()) {
                let holder = posts.get(j).map_or(p.id(), Post::id);
                return Err(ContentError::CodeInUse {
                    code: p.code().clone(),
                    post: p.id(),
                    holder,
                });
            }
            by_label.insert(p.code().clone(), i);
        }
        Ok(PostBook {
            accounts: by_id,
            posts,
            by_label,
        })
    }

    /// The accounts, by id.
    #[must_use]
    pub fn accounts(&self) -> &BTreeMap<AccountId, ContentAccount> {
        &self.accounts
    }

    /// The posts, in id order: post `i` has code `i + 1`.
    #[must_use]
    pub fn posts(&self) -> &[Post] {
        &self.posts
    }

    /// The code of the post with this channel label (what a registration carries).
    #[must_use]
    pub fn code_of(&self, label: &Label) -> Option<ChannelCode> {
        let i = *self.by_label.get(label)?;
        u32::try_from(i + 1).ok().map(ChannelCode::new)
    }

    /// The post with this code.
    #[must_use]
    pub fn post(&self, code: ChannelCode) -> Option<&Post> {
        let i = usize::try_from(code.get()).ok()?.checked_sub(1)?;
        self.posts.get(i)
    }

    /// The highest code in the book (the number of posts).
    #[must_use]
    pub fn max_code(&self) -> u32 {
        u32::try_from(self.posts.len()).unwrap_or(u32::MAX)
    }
}
